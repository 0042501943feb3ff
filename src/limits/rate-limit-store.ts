/**
 * The rate-limit port: token buckets behind one atomic decision per call. A memory store (one
 * process) and a Redis store (many gateway instances) implement it and pass one shared test suite.
 *
 * Bucket semantics, identical in both stores:
 * - a bucket starts full (`capacity`) and refills continuously at `refillPerMs`, never above capacity;
 * - `take` is all-or-nothing: every bucket must hold its amount, or nothing is consumed;
 * - `give` refunds (capped at capacity) or, with a negative amount, charges more. A charge may push a
 *   bucket into debt, down to `-capacity` at most (one full window): over-use is paid back by waiting,
 *   and the reported `remaining` is clamped at 0.
 */

/** One token bucket. */
export interface BucketSpec {
  /** Bucket id without the store's key prefix, e.g. `{agent:did:key:z6M}:rpm`. */
  key: string;
  /** Most units the bucket holds (rpm or tpm). */
  capacity: number;
  /** Units refilled per millisecond: `capacity / 60_000` for a per-minute limit. Positive. */
  refillPerMs: number;
}

/** The outcome of one `take`. */
export interface TakeResult {
  allowed: boolean;
  /** Whole units left in each bucket after the decision, clamped at 0. */
  remaining: number[];
  /**
   * 0 when allowed; else milliseconds until every bucket can serve its amount.
   * `Infinity` when an amount exceeds its bucket's capacity (it can never be served).
   */
  retryAfterMs: number;
  /** Index of the first bucket that could not serve its amount (denials only). */
  failedBucket?: number;
  /** Milliseconds until each bucket is full again. */
  resetMs: number[];
}

/** A store of token buckets. Each call is one atomic decision. */
export interface RateLimitStore {
  /** Takes `amounts[i]` from `buckets[i]` for every i, or nothing at all. Zero amounts peek. */
  take(buckets: BucketSpec[], amounts: number[]): Promise<TakeResult>;
  /** Refunds `amounts[i]` to `buckets[i]` (capped at capacity); negative amounts charge more (floor: -capacity). */
  give(buckets: BucketSpec[], amounts: number[]): Promise<void>;
}

/** Escapes `{`, `}` and `%` in an id so that ids never break a Redis Cluster hash tag and stay distinct. */
export function escapeBucketId(id: string): string {
  return id.replace(/[%{}]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Throws when the arrays do not line up or a spec is invalid; both stores share this check. */
export function assertBucketArguments(buckets: BucketSpec[], amounts: number[]): void {
  if (buckets.length !== amounts.length) {
    throw new RangeError(`buckets and amounts must have the same length, got ${buckets.length} and ${amounts.length}`);
  }
  for (const bucket of buckets) {
    if (!(bucket.capacity > 0) || !Number.isFinite(bucket.capacity)) {
      throw new RangeError(`capacity of ${bucket.key} should be a positive number, got ${bucket.capacity}`);
    }
    if (!(bucket.refillPerMs > 0) || !Number.isFinite(bucket.refillPerMs)) {
      throw new RangeError(`refillPerMs of ${bucket.key} should be a positive number, got ${bucket.refillPerMs}`);
    }
  }
  for (const amount of amounts) {
    if (!Number.isFinite(amount)) throw new RangeError(`amounts should be finite numbers, got ${amount}`);
  }
}
