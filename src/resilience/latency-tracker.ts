/**
 * Observed latency as an exponential moving average per key (model id or provider id). The router
 * uses it in place of a model's configured `expected_latency_ms` once traffic has been seen.
 */

/** Weight of the newest sample: 0.2 follows a change within about ten calls without jumping on one outlier. */
export const DEFAULT_LATENCY_ALPHA = 0.2;

/** Exponential moving averages of latencies, in milliseconds. */
export class LatencyTracker {
  private readonly averages = new Map<string, number>();
  private readonly alpha: number;

  /** `alpha`: weight of the newest sample, in (0, 1]; default 0.2. */
  constructor(alpha = DEFAULT_LATENCY_ALPHA) {
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`alpha should be in (0, 1], got ${String(alpha)}`);
    this.alpha = alpha;
  }

  /** Adds one sample; the first sample of a key is its average. Negative or non-finite samples are ignored. */
  record(key: string, latencyMs: number): void {
    if (!(Number.isFinite(latencyMs) && latencyMs >= 0)) return;
    const previous = this.averages.get(key);
    this.averages.set(key, previous === undefined ? latencyMs : previous + this.alpha * (latencyMs - previous));
  }

  /** The moving average for `key`, or `undefined` before its first sample. */
  get(key: string): number | undefined {
    return this.averages.get(key);
  }
}
