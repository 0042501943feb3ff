/**
 * The streaming terminal: relays a committed provider stream as `GatewayStreamEvent`s, assembles
 * the complete answer, and settles the exchange exactly once when the stream ends — finished, cut
 * by the provider or the deadline (an `error` event, never `finish`), or abandoned by the caller.
 * A cut or abandoned stream is billed for what was delivered: the input (the provider's count when
 * it sent one, else the estimate) and the output tokens actually relayed.
 */
import { abortedBy, CancelledError, GatewayError, toGatewayError } from '../models/error-codes.js';
import type { GatewayStreamEvent } from '../models/gateway-events.js';
import type { TokenUsage } from '../models/inference-response.js';
import { tokenUsage } from '../models/inference-response.js';
import { usageCostCents } from '../models/model-config.js';
import type { StreamPart } from '../providers/base.js';
import type { Exchange, Outcome } from '../pipeline/exchange.js';
import { buildResponse } from '../pipeline/responses.js';
import type { Clock } from '../util/clock.js';
import { estimateTextTokens } from '../util/token-estimate.js';
import type { CommittedStream } from './fallback-executor.js';
import { ReasoningAssembler } from './reasoning-assembler.js';
import { ToolCallAssembler } from './tool-call-assembler.js';
import { merged } from '../util/merged.js';

/** Relays `stream` for `exchange`; see the file comment. */
export async function* relayStream(exchange: Exchange, stream: CommittedStream, clock: Clock): AsyncGenerator<GatewayStreamEvent> {
  const relay = new StreamRelay(exchange, stream, clock);
  try {
    yield { type: 'start', request_id: exchange.request.request_id, model_id: stream.model.id, provider: stream.model.provider, cache: exchange.cache };
    for await (const part of partsOf(stream)) {
      const event = relay.accept(part);
      if (event !== undefined) yield event;
      if (event?.type === 'finish') return;
    }
    throw new GatewayError('E4208', `${stream.model.provider} ended the stream without finishing`);
  } catch (error) {
    // An error part leaves its source suspended with the upstream body open: close it now, not at the chunk-gap timeout.
    void stream.rest.return?.();
    yield relay.cut(exchange.signal.aborted ? abortedBy(exchange.signal) : error);
  } finally {
    // The consumer stopped reading (client gone): stop the upstream call and account a cancellation.
    if (!exchange.settled) {
      relay.abandon();
      void stream.rest.return?.();
    }
  }
}

/** What has been relayed so far, and how to settle from it. */
class StreamRelay {
  private text = '';
  private readonly toolCalls = new ToolCallAssembler();
  private readonly reasoning = new ReasoningAssembler();
  /** The provider's counts before its end, when it sent any. */
  private reported: TokenUsage | undefined;

  constructor(
    private readonly exchange: Exchange,
    private readonly stream: CommittedStream,
    private readonly clock: Clock,
  ) {}

  /** The event for one provider part; throws the error a part carries. */
  accept(part: StreamPart): GatewayStreamEvent | undefined {
    switch (part.type) {
      case 'text-delta':
        this.text += part.text;
        return part.text === '' ? undefined : { type: 'text-delta', text: part.text };
      case 'tool-call-delta':
        this.toolCalls.add(part.index, part.id, part.name, part.argumentsDelta);
        return {
          type: 'tool-call-delta',
          index: part.index,
          ...(part.id === undefined ? {} : { id: part.id }),
          ...(part.name === undefined ? {} : { name: part.name }),
          arguments_delta: part.argumentsDelta,
        };
      case 'finish': {
        const now = this.clock.now();
        this.stream.settle(undefined, part.usage.total_tokens);
        const result = {
          content: this.text,
          toolCalls: this.toolCalls.result(),
          finishReason: part.finishReason,
          rawFinishReason: part.rawFinishReason,
          usage: part.usage,
        };
        this.exchange.providerMs += this.stream.providerMs + (now - this.stream.committedAt);
        const response = buildResponse(this.exchange, this.stream.model, result, now);
        this.settle({ status: 'ok', response, usage: response.token_usage, costCents: response.metadata.cost_cents });
        return { type: 'finish', response };
      }
      case 'reasoning-delta':
        this.reasoning.add(part.text, part.signature, part.redacted);
        return part;
      case 'usage':
        this.reported = part.usage;
        return undefined;
      case 'error':
        throw part.error;
      default: {
        const exhaustive: never = part;
        throw new GatewayError('E4600', `Unknown stream part ${String(exhaustive)}`);
      }
    }
  }

  /** Settles a stream cut by an error and returns its `error` event. */
  cut(reason: unknown): GatewayStreamEvent {
    const error = toGatewayError(reason);
    this.end(error.code === 'E4507' ? 'cancelled' : 'truncated', error);
    return { type: 'error', error };
  }

  /** Settles a stream whose consumer stopped reading. */
  abandon(): void {
    this.end('cancelled', new CancelledError('E4507', 'The caller stopped reading the stream'));
  }

  private end(status: 'truncated' | 'cancelled', error: GatewayError): void {
    const usage = this.delivered();
    this.stream.settle(status === 'cancelled' ? 'cancelled' : error, usage.total_tokens);
    this.exchange.providerMs += this.stream.providerMs + (this.clock.now() - this.stream.committedAt);
    this.settle({ status, error, usage, costCents: usageCostCents(this.stream.model, usage) });
  }

  /**
   * The tokens a cut stream spent: the input as the provider counted it (else the prompt estimate),
   * and the output relayed so far (the provider's count when it is higher).
   */
  private delivered(): TokenUsage {
    const toolArguments = this.toolCalls
      .result()
      .map((call) => call.name + call.arguments)
      .join('');
    const input = this.reported !== undefined && this.reported.input_tokens > 0 ? this.reported.input_tokens : this.exchange.promptTokens;
    return tokenUsage(input, Math.max(this.reported?.output_tokens ?? 0, estimateTextTokens(this.text + toolArguments)));
  }

  private settle(outcome: Omit<Outcome, 'model' | 'timeToFirstTokenMs'>): void {
    const { model } = this.stream;
    this.exchange.settle(
      merged(outcome, {
        model: { id: model.id, provider: model.provider },
        timeToFirstTokenMs: this.stream.committedAt - this.exchange.arrivalAt,
      }),
    );
  }
}

async function* partsOf(stream: CommittedStream): AsyncGenerator<StreamPart> {
  yield* stream.head;
  for (;;) {
    const next = await stream.rest.next();
    if (next.done === true) return;
    yield next.value;
  }
}
