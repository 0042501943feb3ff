/**
 * A provider that runs in-process, for tests, benchmarks and a gateway with nothing installed.
 * Answers are deterministic functions of the prompt; usage is counted from the text; latency is
 * simulated on the injected clock; faults are injected on command (`injectFailure`) or by a marker
 * in the prompt (`[[mock:fail:503]]`, `[[mock:timeout]]`, `[[mock:cut:2]]`) so that HTTP tests can
 * drive them too.
 */
import { createHash } from 'node:crypto';
import { DeadlineError, ProviderError } from '../models/error-codes.js';
import type { Capability, LogicalPrompt, ToolCall } from '../models/inference-request.js';
import { tokenUsage } from '../models/inference-response.js';
import type { MockProviderConfig, ProviderHealth } from '../models/provider-config.js';
import { systemClock } from '../util/clock.js';
import type { Clock } from '../util/clock.js';
import { estimatePromptTokens, estimateTextTokens, lastUserText } from '../util/token-estimate.js';
import { abortReason } from './http/upstream-client.js';
import { exampleFromSchema } from './mock/example-from-schema.js';
import type { EmbedCall, EmbedResult, ProviderAdapter, ProviderCall, ProviderResult, StreamPart } from './base.js';

/** A fault the mock produces on its next calls. */
export type MockFailure =
  /** Answer with this HTTP status (mapped as a real adapter would: 5xx → E4202, 429 → E4204 …). */
  | { kind: 'status'; status: number; retryAfterMs?: number }
  /**
   * Never answer (a hang before the first byte): the call ends when its signal aborts, at the
   * caller's deadline (E4510) or at the provider's `timeout_ms` (E4201), whichever comes first.
   */
  | { kind: 'hang' }
  /** Fail as a connect refusal would (E4200). */
  | { kind: 'unreachable' }
  /** Stream this many chunks, then cut the stream (E4208 as an `error` part). */
  | { kind: 'cut'; afterChunks: number };

/** Options of a `MockAdapter`. */
export interface MockAdapterOptions {
  clock?: Clock;
}

/** The mock provider. */
export class MockAdapter implements ProviderAdapter {
  readonly id: string;
  readonly type = 'mock' as const;
  /** Calls made to `complete` and `stream` (tests assert on traffic). */
  calls = 0;
  /** Calls made to `embed`, and the inputs of each. */
  embedCalls: string[][] = [];
  private latencyMs: number;
  private readonly chunks: number;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private failures: { failure: MockFailure; remaining: number }[] = [];

  constructor(config: Pick<MockProviderConfig, 'id' | 'latency_ms' | 'stream_chunks'> & { timeout_ms?: number }, options: MockAdapterOptions = {}) {
    this.id = config.id;
    this.latencyMs = config.latency_ms;
    this.chunks = config.stream_chunks;
    this.timeoutMs = config.timeout_ms ?? Infinity;
    this.clock = options.clock ?? systemClock;
  }

  /** Makes the next `times` calls (default: every call until cleared) fail as described. */
  injectFailure(failure: MockFailure, times = Infinity): void {
    this.failures.push({ failure, remaining: times });
  }

  /** Removes injected failures. */
  clearFailures(): void {
    this.failures = [];
  }

  /** Changes the simulated latency, in milliseconds. */
  setLatency(latencyMs: number): void {
    this.latencyMs = latencyMs;
  }

  async complete(call: ProviderCall): Promise<ProviderResult> {
    this.calls++;
    const failure = this.nextFailure(call.prompt);
    await this.simulate(failure, call, this.latencyMs);
    return answer(call);
  }

  async *stream(call: ProviderCall): AsyncGenerator<StreamPart> {
    this.calls++;
    const failure = this.nextFailure(call.prompt);
    const result = answer(call);
    const pieces = splitInto(result.content, this.chunks);
    await this.simulate(failure?.kind === 'cut' ? undefined : failure, call, this.latencyMs / Math.max(1, pieces.length));
    for (const [index, piece] of pieces.entries()) {
      if (index > 0) await this.simulate(undefined, call, this.latencyMs / pieces.length);
      if (failure?.kind === 'cut' && index >= failure.afterChunks) {
        yield { type: 'error', error: new ProviderError('E4208', `${this.id}: stream cut after ${index} chunks`, { details: { provider: this.id } }) };
        return;
      }
      yield { type: 'text-delta', text: piece };
    }
    for (const [index, toolCall] of result.toolCalls.entries()) {
      yield { type: 'tool-call-delta', index, id: toolCall.id, name: toolCall.name, argumentsDelta: toolCall.arguments };
    }
    yield { type: 'finish', finishReason: result.finishReason, rawFinishReason: result.rawFinishReason, usage: result.usage };
  }

  async embed(call: EmbedCall): Promise<EmbedResult> {
    this.embedCalls.push(call.inputs);
    const failure = this.nextFailure(undefined);
    await this.simulate(failure, call, this.latencyMs);
    return {
      embeddings: call.inputs.map((input) => mockEmbedding(input)),
      usage: { input_tokens: call.inputs.reduce((sum, input) => sum + estimateTextTokens(input), 0) },
    };
  }

  async healthCheck(): Promise<ProviderHealth> {
    const failure = this.failures[0]?.failure;
    const down = failure !== undefined && failure.kind !== 'cut';
    return {
      provider: this.id,
      status: down ? 'unhealthy' : 'healthy',
      checked_at: this.clock.now(),
      latency_ms: 0,
      ...(down ? { message: `injected failure: ${failure.kind}` } : {}),
    };
  }

  supportsCapability(_capability: Capability): boolean {
    return true;
  }

  async close(): Promise<void> {
    this.failures = [];
  }

  private nextFailure(prompt: LogicalPrompt | undefined): MockFailure | undefined {
    const marked = prompt === undefined ? undefined : failureFromMarker(lastUserText(prompt));
    if (marked !== undefined) return marked;
    const head = this.failures[0];
    if (head === undefined) return undefined;
    head.remaining--;
    if (head.remaining <= 0) this.failures.shift();
    return head.failure;
  }

  /** Waits `delayMs` on the clock (abortable), then throws the failure if any. */
  private async simulate(failure: MockFailure | undefined, call: { signal: AbortSignal; deadlineAt?: number }, delayMs: number): Promise<void> {
    const { signal } = call;
    if (failure?.kind === 'hang') {
      // Bounded as a real upstream call is: by the caller's deadline, else by the provider's timeout.
      const untilDeadlineMs = call.deadlineAt === undefined ? Infinity : call.deadlineAt - this.clock.now();
      await this.wait(signal, Math.min(untilDeadlineMs, this.timeoutMs));
      if (untilDeadlineMs <= this.timeoutMs)
        throw new DeadlineError('E4510', `The request deadline passed while ${this.id} was answering`, { details: { provider: this.id } });
      throw new ProviderError('E4201', `${this.id}: no complete answer within ${this.timeoutMs} ms`, { details: { provider: this.id } });
    }
    if (delayMs > 0) await this.wait(signal, delayMs);
    if (signal.aborted) throw abortReason(signal);
    if (failure?.kind === 'unreachable') throw new ProviderError('E4200', `${this.id}: connection refused`, { details: { provider: this.id } });
    if (failure?.kind === 'status') throw statusError(this.id, failure.status, failure.retryAfterMs);
  }

  private wait(signal: AbortSignal, delayMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(abortReason(signal));
        return;
      }
      const timer = Number.isFinite(delayMs) ? this.clock.setTimer(done, delayMs) : undefined;
      function done(): void {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }
      function onAbort(): void {
        timer?.cancel();
        reject(abortReason(signal));
      }
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** The mock's answer: an echo of the last user message, or a tool call / JSON (valid against a requested schema) when asked for. */
function answer(call: ProviderCall): ProviderResult {
  const question = lastUserText(call.prompt)
    .replace(/\[\[mock:[^\]]*\]\]/g, '')
    .trim();
  const inputTokens = estimatePromptTokens(call.prompt);
  const wantsTool = call.prompt.tools !== undefined && call.prompt.tools.length > 0 && call.prompt.tool_choice !== 'none';
  if (wantsTool && call.prompt.tools !== undefined) {
    const choice = call.prompt.tool_choice;
    const tool = typeof choice === 'object' ? (call.prompt.tools.find((item) => item.name === choice.name) ?? call.prompt.tools[0]) : call.prompt.tools[0];
    if (tool !== undefined) {
      const toolCall: ToolCall = { id: `call_${digest(question).slice(0, 12)}`, name: tool.name, arguments: JSON.stringify({ input: question }) };
      return {
        content: '',
        toolCalls: [toolCall],
        finishReason: 'tool_calls',
        rawFinishReason: 'tool_calls',
        usage: tokenUsage(inputTokens, estimateTextTokens(toolCall.arguments)),
      };
    }
  }
  const format = call.prompt.response_format;
  // A requested JSON schema is honoured: the answer is a value valid against it.
  let content =
    format?.type === 'json_schema'
      ? JSON.stringify(exampleFromSchema(format.json_schema.schema, question))
      : format?.type === 'json_object'
        ? JSON.stringify({ answer: question })
        : `Mock answer: ${question}`;
  let finishReason: ProviderResult['finishReason'] = 'stop';
  const maxChars = call.maxOutputTokens * 4;
  if (content.length > maxChars) {
    content = content.slice(0, maxChars);
    finishReason = 'length';
  }
  return { content, toolCalls: [], finishReason, rawFinishReason: finishReason, usage: tokenUsage(inputTokens, estimateTextTokens(content)) };
}

function failureFromMarker(text: string): MockFailure | undefined {
  const match = /\[\[mock:(fail:(\d{3})|timeout|hang|unreachable|cut:(\d+))\]\]/.exec(text);
  if (match === null) return undefined;
  if (match[2] !== undefined) return { kind: 'status', status: Number(match[2]) };
  if (match[3] !== undefined) return { kind: 'cut', afterChunks: Number(match[3]) };
  if (match[1] === 'unreachable') return { kind: 'unreachable' };
  return { kind: 'hang' };
}

function statusError(provider: string, status: number, retryAfterMs?: number): ProviderError {
  const code = status === 429 ? 'E4204' : status === 401 || status === 403 ? 'E4203' : status === 529 ? 'E4205' : status >= 500 ? 'E4202' : 'E4206';
  return new ProviderError(code, `${provider} answered ${status}`, { details: { provider, upstream_status: status }, retryAfterMs });
}

function splitInto(text: string, parts: number): string[] {
  if (text === '') return [''];
  const size = Math.ceil(text.length / parts);
  const pieces: string[] = [];
  for (let offset = 0; offset < text.length; offset += size) pieces.push(text.slice(offset, offset + size));
  return pieces;
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A deterministic 64-dimension unit vector from the words of a text (bag of hashed words). */
export function mockEmbedding(text: string, dimensions = 64): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  for (const word of text.toLowerCase().split(/\W+/).filter(Boolean)) {
    const hash = createHash('sha256').update(word).digest();
    vector[hash.readUInt32BE(0) % dimensions]! += hash[4]! & 1 ? 1 : -1;
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((value) => value / norm);
}
