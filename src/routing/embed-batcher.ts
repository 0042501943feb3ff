/**
 * Micro-batching of embedding calls. Concurrent calls for the same provider and model that arrive
 * within `windowMs` of the first go upstream as one call (Ollama `/api/embed` and OpenAI embeddings
 * take arrays): inputs concatenated in arrival order, embeddings split back in order, usage
 * apportioned by each caller's estimated tokens (largest remainder, so the parts sum to the total).
 *
 * A batch leaves when its window ends or it reaches `maxBatch` inputs; a call that would overflow
 * the open batch starts a new one, and a call with `maxBatch` inputs or more goes alone (it is never
 * split). An upstream failure fails every caller of that batch with the same error. One caller's
 * abort rejects that caller with E4507 and leaves the others' batch alone; the upstream call is
 * aborted only when every caller of the batch has aborted.
 */
import { CancelledError, ResponseError } from '../models/error-codes.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { estimateTextTokens } from '../util/token-estimate.js';
import { LightAbort, asAbortSignal } from '../util/light-abort.js';

/** Embeddings and the usage they cost. */
export interface EmbedResult {
  embeddings: number[][];
  usage: { input_tokens: number };
}

/** The upstream call one batch makes (the provider adapter's embed). */
export type EmbedFunction = (provider: string, model: string, inputs: string[], signal: AbortSignal) => Promise<EmbedResult>;

/** Options of an `EmbedBatcher`. */
export interface EmbedBatcherOptions {
  /** How long the first call of a batch waits for company, in milliseconds; default 2. */
  windowMs?: number;
  /** Most inputs per upstream call; default 64. */
  maxBatch?: number;
  clock: Clock;
  embed: EmbedFunction;
}

interface Caller {
  readonly inputs: string[];
  readonly resolve: (result: EmbedResult) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  done: boolean;
}

interface Batch {
  readonly provider: string;
  readonly model: string;
  readonly callers: Caller[];
  readonly controller: LightAbort;
  size: number;
  timer: TimerHandle | undefined;
  sent: boolean;
}

/** Merges concurrent embedding calls per provider and model. */
export class EmbedBatcher {
  private readonly windowMs: number;
  private readonly maxBatch: number;
  private readonly clock: Clock;
  private readonly upstream: EmbedFunction;
  private readonly open = new Map<string, Batch>();

  constructor(options: EmbedBatcherOptions) {
    this.windowMs = options.windowMs ?? 2;
    this.maxBatch = options.maxBatch ?? 64;
    if (!(this.windowMs >= 0)) throw new RangeError(`windowMs should be a non-negative number, got ${this.windowMs}`);
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) throw new RangeError(`maxBatch should be a positive integer, got ${this.maxBatch}`);
    this.clock = options.clock;
    this.upstream = options.embed;
  }

  /**
   * Embeds `inputs`, possibly together with other callers'. Rejects with the upstream's error, with
   * E4600 when the upstream returns the wrong number of embeddings, or E4507 when `signal` aborts.
   */
  embed(provider: string, model: string, inputs: string[], signal?: AbortSignal): Promise<EmbedResult> {
    if (signal?.aborted) return Promise.reject(cancelled(provider, model));
    if (inputs.length === 0) return Promise.resolve({ embeddings: [], usage: { input_tokens: 0 } });
    return new Promise<EmbedResult>((resolve, reject) => {
      const caller: Caller = { inputs, resolve, reject, signal, onAbort: undefined, done: false };
      const batch = this.batchFor(provider, model, inputs.length);
      batch.callers.push(caller);
      batch.size += inputs.length;
      if (signal !== undefined) {
        caller.onAbort = () => this.abortCaller(batch, caller);
        signal.addEventListener('abort', caller.onAbort, { once: true });
      }
      if (batch.size >= this.maxBatch) this.send(batch);
    });
  }

  private batchFor(provider: string, model: string, count: number): Batch {
    const key = `${provider}\u0000${model}`;
    const current = this.open.get(key);
    if (current !== undefined && current.size + count <= this.maxBatch) return current;
    if (current !== undefined) this.send(current);
    const batch: Batch = { provider, model, callers: [], controller: new LightAbort(), size: 0, timer: undefined, sent: false };
    this.open.set(key, batch);
    batch.timer = this.clock.setTimer(() => this.send(batch), this.windowMs);
    return batch;
  }

  private send(batch: Batch): void {
    if (batch.sent) return;
    batch.sent = true;
    batch.timer?.cancel();
    const key = `${batch.provider}\u0000${batch.model}`;
    if (this.open.get(key) === batch) this.open.delete(key);
    const live = batch.callers.filter((caller) => !caller.done);
    if (live.length === 0) return;
    const inputs = live.flatMap((caller) => caller.inputs);
    this.upstream(batch.provider, batch.model, inputs, asAbortSignal(batch.controller)).then(
      (result) => this.deliver(batch, live, inputs.length, result),
      (error: unknown) => {
        for (const caller of live) this.settle(caller, () => caller.reject(error));
      },
    );
  }

  private deliver(batch: Batch, callers: Caller[], count: number, result: EmbedResult): void {
    if (result.embeddings.length !== count) {
      const error = new ResponseError('E4600', `The provider returned ${result.embeddings.length} embeddings for ${count} inputs`, {
        details: { provider: batch.provider, model: batch.model },
      });
      for (const caller of callers) this.settle(caller, () => caller.reject(error));
      return;
    }
    const shares = apportion(
      result.usage.input_tokens,
      callers.map((caller) => caller.inputs.reduce((sum, input) => sum + estimateTextTokens(input), 0)),
    );
    let offset = 0;
    callers.forEach((caller, index) => {
      const embeddings = result.embeddings.slice(offset, offset + caller.inputs.length);
      offset += caller.inputs.length;
      this.settle(caller, () => caller.resolve({ embeddings, usage: { input_tokens: shares[index] ?? 0 } }));
    });
  }

  private abortCaller(batch: Batch, caller: Caller): void {
    this.settle(caller, () => caller.reject(cancelled(batch.provider, batch.model)));
    if (!batch.sent) batch.size -= caller.inputs.length;
    else if (batch.callers.every((other) => other.done)) batch.controller.abort();
  }

  private settle(caller: Caller, action: () => void): void {
    if (caller.done) return;
    caller.done = true;
    if (caller.onAbort !== undefined) caller.signal?.removeEventListener('abort', caller.onAbort);
    action();
  }
}

/** Splits `total` in proportion to `weights` (equal shares when all are 0); the parts sum to `total`. */
export function apportion(total: number, weights: number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const normalized = sum > 0 ? weights : weights.map(() => 1);
  const denominator = sum > 0 ? sum : weights.length;
  const exact = normalized.map((weight) => (total * weight) / denominator);
  const parts = exact.map(Math.floor);
  let left = total - parts.reduce((a, b) => a + b, 0);
  const order = exact.map((value, index) => ({ index, remainder: value - Math.floor(value) })).sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  for (const { index } of order) {
    if (left <= 0) break;
    parts[index] = (parts[index] ?? 0) + 1;
    left--;
  }
  return parts;
}

function cancelled(provider: string, model: string): CancelledError {
  return new CancelledError('E4507', undefined, { details: { provider, model } });
}
