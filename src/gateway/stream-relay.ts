/**
 * The committed half of a streamed request: relays a provider stream (or replays a cache hit) as
 * `GatewayStreamEvent`s, assembles the complete answer, and settles everything exactly once —
 * breaker and queue slot, token reservation, cache store (complete answers only), accounting.
 * A stream cut short ends with an `error` event, never with `finish`.
 */
import { GatewayError, ValidationError, toGatewayError } from '../models/error-codes.js';
import type { FinishReason, InferenceResponse, TokenUsage } from '../models/inference-response.js';
import type { RoutingDecision } from '../models/routing-config.js';
import type { StreamPart } from '../providers/base.js';
import type { CommittedStream } from '../routing/fallback-executor.js';
import type { CacheResult, GatewayStreamEvent } from '../models/gateway-events.js';
import { buildResponse, cachedResponse } from './gateway-helpers.js';
import type { PreparedCall } from './gateway-helpers.js';
import type { GatewayRuntime } from './build-runtime.js';
import type { AgentAdmission } from '../limits/rate-limiter.js';
import type { CacheLookup } from '../cache/semantic-cache.js';
import { ToolCallAssembler } from './tool-call-assembler.js';
import { ReasoningAssembler } from './reasoning-assembler.js';

/** How a streamed request ended, for accounting. */
export interface StreamOutcome {
  response?: InferenceResponse;
  error?: GatewayError;
  cache: CacheResult;
  attempts: InferenceResponse['metadata']['attempts'];
  providerMs: number;
  timeToFirstTokenMs?: number;
}

interface RelayBase {
  runtime: GatewayRuntime;
  call: PreparedCall;
  admission: Extract<AgentAdmission, { allowed: true }>;
  finish: (outcome: StreamOutcome) => void;
}

/** Characters per replayed chunk of a cached answer. */
const REPLAY_CHUNK_CHARS = 64;

/** Replays a cache hit as a stream: start, the content in chunks, tool calls, finish. */
export async function* replayCached(options: RelayBase & { hit: Extract<CacheLookup, { hit: 'exact' | 'semantic' }> }): AsyncGenerator<GatewayStreamEvent> {
  const { runtime, call, admission, hit } = options;
  const response = cachedResponse(hit.response, call, runtime.clock.now(), admission.info);
  void admission.reservation.settle(0);
  options.finish({ response, cache: hit.hit, attempts: [], providerMs: 0, timeToFirstTokenMs: response.latency_ms });
  yield {
    type: 'start',
    request_id: call.request.request_id,
    model_id: response.model_id,
    provider: response.provider,
    cache: hit.hit,
    similarity: hit.similarity,
  };
  for (const part of response.reasoning ?? []) {
    yield part.type === 'reasoning'
      ? { type: 'reasoning-delta', text: part.text, ...(part.signature === undefined ? {} : { signature: part.signature }) }
      : { type: 'reasoning-delta', text: '', redacted: part.data };
  }
  for (let offset = 0; offset < response.content.length; offset += REPLAY_CHUNK_CHARS) {
    yield { type: 'text-delta', text: response.content.slice(offset, offset + REPLAY_CHUNK_CHARS) };
  }
  for (const [index, toolCall] of (response.tool_calls ?? []).entries()) {
    yield { type: 'tool-call-delta', index, id: toolCall.id, name: toolCall.name, arguments_delta: toolCall.arguments };
  }
  yield { type: 'finish', response };
}

/** Relays a committed provider stream. */
export async function* relayCommitted(
  options: RelayBase & {
    stream: CommittedStream;
    decision: RoutingDecision;
    cache: CacheResult;
    miss: Extract<CacheLookup, { hit: false }>['miss'] | undefined;
  },
): AsyncGenerator<GatewayStreamEvent> {
  const { runtime, call, admission, stream } = options;
  const firstAt = runtime.clock.now();
  let text = '';
  const toolCalls = new ToolCallAssembler();
  const reasoning = new ReasoningAssembler();
  let ended = false;
  const end = (outcome: Omit<StreamOutcome, 'cache' | 'attempts' | 'providerMs' | 'timeToFirstTokenMs'>): void => {
    ended = true;
    options.finish({
      ...outcome,
      cache: options.cache,
      attempts: stream.attempts,
      providerMs: stream.providerMs + (runtime.clock.now() - firstAt),
      timeToFirstTokenMs: firstAt - call.arrivalAt,
    });
  };
  try {
    yield { type: 'start', request_id: call.request.request_id, model_id: stream.model.id, provider: stream.model.provider, cache: options.cache };
    for await (const part of partsOf(stream)) {
      switch (part.type) {
        case 'text-delta':
          text += part.text;
          if (part.text !== '') yield { type: 'text-delta', text: part.text };
          break;
        case 'tool-call-delta':
          toolCalls.add(part.index, part.id, part.name, part.argumentsDelta);
          yield {
            type: 'tool-call-delta',
            index: part.index,
            ...(part.id === undefined ? {} : { id: part.id }),
            ...(part.name === undefined ? {} : { name: part.name }),
            arguments_delta: part.argumentsDelta,
          };
          break;
        case 'reasoning-delta':
          reasoning.add(part.text, part.signature, part.redacted);
          yield part;
          break;
        case 'finish': {
          stream.settle(undefined, part.usage.total_tokens);
          const response = complete(options, text, toolCalls, part.finishReason, part.rawFinishReason, part.usage, reasoning);
          void admission.reservation.settle(response.token_usage.total_tokens);
          if (options.miss !== undefined) void runtime.cache?.store(options.miss, response);
          end({ response });
          yield { type: 'finish', response };
          return;
        }
        case 'error':
          throw part.error;
        default: {
          const exhaustive: never = part;
          throw new GatewayError('E4600', `Unknown stream part ${String(exhaustive)}`);
        }
      }
    }
    throw new GatewayError('E4208', `${stream.model.provider} ended the stream without finishing`);
  } catch (error) {
    const gatewayError = call.signal.aborted ? toGatewayError(call.signal.reason) : toGatewayError(error);
    stream.settle(gatewayError.code === 'E4507' ? 'cancelled' : gatewayError);
    // Tokens were spent upstream but not reported: the reservation (the estimate) stands.
    end({ error: gatewayError });
    yield { type: 'error', error: gatewayError };
  } finally {
    if (!ended) {
      // The consumer stopped reading (client gone): stop the upstream call and account a cancellation.
      stream.settle('cancelled');
      void stream.rest.return?.();
      end({ error: new ValidationError('E4507', 'The caller stopped reading the stream') });
    }
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

function complete(
  options: {
    call: PreparedCall;
    stream: CommittedStream;
    decision: RoutingDecision;
    cache: CacheResult;
    runtime: GatewayRuntime;
    admission: Extract<AgentAdmission, { allowed: true }>;
  },
  text: string,
  toolCalls: ToolCallAssembler,
  finishReason: FinishReason,
  rawFinishReason: string | undefined,
  usage: TokenUsage,
  reasoning: ReasoningAssembler,
): InferenceResponse {
  const blocks = reasoning.result();
  return buildResponse(
    options.call,
    options.stream.model,
    { content: text, toolCalls: toolCalls.result(), ...(blocks === undefined ? {} : { reasoning: blocks }), finishReason, rawFinishReason, usage },
    {
      attempts: options.stream.attempts,
      decision: options.decision,
      cache: options.cache,
      now: options.runtime.clock.now(),
      rateLimit: options.admission.info,
    },
  );
}
