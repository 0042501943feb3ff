/**
 * The per-process token-bucket store: the embedded backend, and the fallback the rate limiter
 * decides with while Redis is down. Same semantics as the Redis store, timed by the injected clock.
 * Bounded: past `maxBuckets`, buckets that have refilled to full are dropped first (they carry no
 * state), then the least recently used ones.
 */
import type { Clock } from '../util/clock.js';
import { assertBucketArguments } from './rate-limit-store.js';
import type { BucketSpec, RateLimitStore, TakeResult } from './rate-limit-store.js';

/** Options of a `MemoryRateLimitStore`. */
export interface MemoryRateLimitStoreOptions {
  clock: Clock;
  /** Most buckets kept; default 100,000. */
  maxBuckets?: number;
}

interface BucketState {
  level: number;
  updatedAt: number;
  /** When the bucket is full again (epoch ms); after this the entry carries no information. */
  fullAt: number;
}

/** Token buckets in a `Map`, timed by the injected clock. */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly clock: Clock;
  private readonly maxBuckets: number;
  private readonly buckets = new Map<string, BucketState>();

  constructor(options: MemoryRateLimitStoreOptions) {
    const maxBuckets = options.maxBuckets ?? 100_000;
    if (!Number.isInteger(maxBuckets) || maxBuckets < 1) {
      throw new RangeError(`maxBuckets should be a positive integer, got ${maxBuckets}`);
    }
    this.clock = options.clock;
    this.maxBuckets = maxBuckets;
  }

  /** Buckets currently held (for tests and metrics). */
  size(): number {
    return this.buckets.size;
  }

  async take(buckets: BucketSpec[], amounts: number[]): Promise<TakeResult> {
    assertBucketArguments(buckets, amounts);
    if (amounts.some((amount) => amount < 0)) throw new RangeError('take amounts should not be negative');
    const now = this.clock.now();
    const levels = buckets.map((bucket) => this.levelOf(bucket, now));
    let failedBucket = -1;
    let retryAfterMs = 0;
    buckets.forEach((bucket, index) => {
      const amount = amounts[index] ?? 0;
      const level = levels[index] ?? bucket.capacity;
      if (amount <= level) return;
      if (failedBucket < 0) failedBucket = index;
      retryAfterMs = amount > bucket.capacity ? Infinity : Math.max(retryAfterMs, Math.ceil((amount - level) / bucket.refillPerMs));
    });
    const allowed = failedBucket < 0;
    if (allowed) {
      buckets.forEach((bucket, index) => {
        const amount = amounts[index] ?? 0;
        if (amount === 0) return;
        levels[index] = (levels[index] ?? bucket.capacity) - amount;
        this.write(bucket, levels[index], now);
      });
    }
    const result: TakeResult = {
      allowed,
      remaining: levels.map((level) => Math.max(0, Math.floor(level))),
      retryAfterMs: allowed ? 0 : retryAfterMs,
      resetMs: buckets.map((bucket, index) => Math.ceil((bucket.capacity - (levels[index] ?? bucket.capacity)) / bucket.refillPerMs)),
    };
    if (!allowed) result.failedBucket = failedBucket;
    return result;
  }

  async give(buckets: BucketSpec[], amounts: number[]): Promise<void> {
    assertBucketArguments(buckets, amounts);
    const now = this.clock.now();
    buckets.forEach((bucket, index) => {
      const amount = amounts[index] ?? 0;
      if (amount === 0) return;
      const level = Math.min(bucket.capacity, Math.max(-bucket.capacity, this.levelOf(bucket, now) + amount));
      this.write(bucket, level, now);
    });
  }

  private levelOf(bucket: BucketSpec, now: number): number {
    const state = this.buckets.get(bucket.key);
    if (state === undefined) return bucket.capacity;
    const elapsed = Math.max(0, now - state.updatedAt);
    return Math.min(bucket.capacity, state.level + elapsed * bucket.refillPerMs);
  }

  private write(bucket: BucketSpec, level: number, now: number): void {
    // Delete then set: Map order doubles as least-recently-used order for eviction.
    this.buckets.delete(bucket.key);
    if (level >= bucket.capacity) return;
    this.buckets.set(bucket.key, { level, updatedAt: now, fullAt: now + (bucket.capacity - level) / bucket.refillPerMs });
    if (this.buckets.size > this.maxBuckets) this.evict(now);
  }

  private evict(now: number): void {
    for (const [key, state] of this.buckets) {
      if (state.fullAt <= now) this.buckets.delete(key);
    }
    if (this.buckets.size <= this.maxBuckets) return;
    // Still over: drop the least recently used down to 90 % so eviction is amortised.
    const target = Math.floor(this.maxBuckets * 0.9);
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= target) break;
      this.buckets.delete(key);
    }
  }
}
