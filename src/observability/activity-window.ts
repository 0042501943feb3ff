/**
 * The live figures of the last minutes, kept in memory for the operator dashboard: per time
 * bucket the requests, errors, latency percentiles, cache results and refusals per E-code, and a
 * ring of the latest errors. Memory is fixed whatever the traffic: a ring of `windowMs /
 * bucketMs` buckets, each with a latency histogram of fixed size, error counts keyed by E-code
 * (at most `MAX_CODES` per bucket), and at most `maxRecentErrors` errors.
 *
 * Latency percentiles come from a log-scale histogram (bins 10 % wide from 1 ms to about 22 minutes),
 * so a percentile is exact to within 5 %; one bin holds everything under 1 ms and one everything
 * above the last edge.
 */
import type { Clock } from '../util/clock.js';
import { redactText } from './logger.js';

/** Cache result of a request, as the gateway reports it. */
export type ActivityCacheResult = 'miss' | 'exact' | 'semantic' | 'bypass';

/** One finished request, as the request accounting holds it (only these fields are read). */
export interface ActivityOutcome {
  /** When the request ended, epoch milliseconds. */
  endedAt: number;
  cache: ActivityCacheResult;
  /** The failure, when the request failed. */
  error?: { code: string; message: string; httpStatus: number };
  request: { request_id: string };
  caller: { agent_did: string; tenant: string };
}

/** What the accounting worked out about a finished request. */
export interface ActivityFacts {
  latencyMs: number;
  /** The model that served or was last tried; `none` when no model was chosen. */
  model: string;
  provider: string;
}

/** One recent error, newest first in a snapshot. */
export interface RecentError {
  /** ISO 8601 time the request ended. */
  at: string;
  request_id: string;
  code: string;
  http_status: number;
  /** The error's message, secrets removed, at most 300 characters. */
  message: string;
  model: string;
  provider: string;
  agent_did: string;
  tenant: string;
}

/** Latency percentiles in milliseconds (`null` without requests). */
export interface LatencyPercentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** One time bucket of a snapshot. */
export interface ActivityBucket extends LatencyPercentiles {
  /** Start of the bucket, epoch milliseconds. */
  start: number;
  /** Milliseconds the bucket covers so far (the current bucket is partly elapsed). */
  duration_ms: number;
  requests: number;
  errors: number;
}

/** The figures of the whole window. */
export interface ActivitySnapshot {
  /** Width of the window and of one bucket, in milliseconds. */
  window_ms: number;
  bucket_ms: number;
  /** Oldest first; the last bucket is the current one. */
  buckets: ActivityBucket[];
  totals: {
    requests: number;
    errors: number;
    /** errors / requests, 0 to 1 (0 without requests). */
    error_rate: number;
    /** Requests per second over the last minute. */
    requests_per_s: number;
    latency_ms: LatencyPercentiles;
  };
  /** Cache results; `hit_rate` is (exact + semantic) / (exact + semantic + miss), `null` without lookups. */
  cache: { exact: number; semantic: number; miss: number; bypass: number; hit_rate: number | null };
  /** Every failed request per E-code. */
  errors_by_code: Record<string, number>;
  /** Rate-limit, budget and queue refusals (E44xx) per E-code. */
  refusals: { total: number; by_code: Record<string, number> };
  /** The latest errors other than refusals (those are counted in `refusals`), newest first. */
  recent_errors: RecentError[];
}

/** Options of an `ActivityWindow`. */
export interface ActivityWindowOptions {
  clock: Clock;
  /** Length of the window in milliseconds; default 15 minutes. */
  windowMs?: number;
  /** Width of one bucket in milliseconds; default 15 seconds. Must divide `windowMs`. */
  bucketMs?: number;
  /** Errors kept for `recent_errors`; default 50. */
  maxRecentErrors?: number;
}

/** Distinct error codes counted per bucket; more are counted under `other`. */
const MAX_CODES = 32;
const MAX_MESSAGE_LENGTH = 300;
/** Bin `i` (1 ≤ i < BIN_COUNT - 1) holds latencies in [GROWTH^(i-1), GROWTH^i) ms. */
const GROWTH = 1.1;
const BIN_COUNT = 150;
const LOG_GROWTH = Math.log(GROWTH);
const RATE_SPAN_MS = 60_000;

interface Bucket {
  /** `floor(start / bucketMs)`; -1 for a slot never used. */
  index: number;
  requests: number;
  errors: number;
  latency: Uint32Array;
  cache: Record<ActivityCacheResult, number>;
  codes: Map<string, number>;
}

/** In-memory figures of recent requests: fixed memory, time from the injected clock. */
export class ActivityWindow {
  private readonly clock: Clock;
  private readonly windowMs: number;
  private readonly bucketMs: number;
  private readonly buckets: Bucket[];
  private readonly recent: Array<RecentError | undefined>;
  private nextRecent = 0;

  constructor(options: ActivityWindowOptions) {
    this.clock = options.clock;
    this.windowMs = options.windowMs ?? 15 * 60_000;
    this.bucketMs = options.bucketMs ?? 15_000;
    const maxRecentErrors = options.maxRecentErrors ?? 50;
    for (const [name, value] of [
      ['windowMs', this.windowMs],
      ['bucketMs', this.bucketMs],
      ['maxRecentErrors', maxRecentErrors],
    ] as const) {
      if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${name} should be a positive integer, got ${value}`);
    }
    if (this.windowMs % this.bucketMs !== 0) throw new RangeError(`bucketMs should divide windowMs, got ${this.bucketMs} and ${this.windowMs}`);
    this.buckets = Array.from({ length: this.windowMs / this.bucketMs }, () => emptyBucket());
    this.recent = new Array<RecentError | undefined>(maxRecentErrors);
  }

  /** Counts one finished request. Requests that ended before the window are ignored. Never throws. */
  record(outcome: ActivityOutcome, facts: ActivityFacts): void {
    const bucket = this.bucketFor(Math.floor(outcome.endedAt / this.bucketMs));
    if (bucket === undefined) return;
    bucket.requests += 1;
    bucket.latency[binOf(facts.latencyMs)]! += 1;
    bucket.cache[outcome.cache] += 1;
    const error = outcome.error;
    if (error === undefined) return;
    bucket.errors += 1;
    const code = bucket.codes.has(error.code) || bucket.codes.size < MAX_CODES ? error.code : 'other';
    bucket.codes.set(code, (bucket.codes.get(code) ?? 0) + 1);
    // Refusals are expected and counted apart; the ring keeps the failures an operator looks into.
    if (isRefusal(error.code)) return;
    this.recent[this.nextRecent] = {
      at: new Date(outcome.endedAt).toISOString(),
      request_id: outcome.request.request_id,
      code: error.code,
      http_status: error.httpStatus,
      message: redactText(error.message.slice(0, MAX_MESSAGE_LENGTH * 2)).slice(0, MAX_MESSAGE_LENGTH),
      model: facts.model,
      provider: facts.provider,
      agent_did: outcome.caller.agent_did,
      tenant: outcome.caller.tenant,
    };
    this.nextRecent = (this.nextRecent + 1) % this.recent.length;
  }

  /** The figures of the window ending now. */
  snapshot(): ActivitySnapshot {
    const now = this.clock.now();
    const current = Math.floor(now / this.bucketMs);
    const count = this.buckets.length;
    const buckets: ActivityBucket[] = [];
    const latency = new Uint32Array(BIN_COUNT);
    const cache = { exact: 0, semantic: 0, miss: 0, bypass: 0 };
    const codes: Record<string, number> = {};
    const refusals: Record<string, number> = {};
    let requests = 0;
    let errors = 0;
    let recentRequests = 0;
    let refusalTotal = 0;
    // The rate spans the buckets that overlap the last minute, the current one partly elapsed.
    const rateBuckets = Math.min(count, Math.ceil(RATE_SPAN_MS / this.bucketMs));
    const rateSpanMs = (rateBuckets - 1) * this.bucketMs + Math.max(1, now - current * this.bucketMs);
    for (let index = current - count + 1; index <= current; index++) {
      const start = index * this.bucketMs;
      const bucket = this.buckets[modulo(index, count)]!;
      const live = bucket.index === index;
      buckets.push({
        start,
        duration_ms: Math.max(1, Math.min(this.bucketMs, now - start)),
        requests: live ? bucket.requests : 0,
        errors: live ? bucket.errors : 0,
        ...(live ? percentiles(bucket.latency, bucket.requests) : NO_PERCENTILES),
      });
      if (!live) continue;
      requests += bucket.requests;
      errors += bucket.errors;
      if (index > current - rateBuckets) recentRequests += bucket.requests;
      for (let bin = 0; bin < BIN_COUNT; bin++) latency[bin]! += bucket.latency[bin]!;
      for (const result of CACHE_RESULTS) cache[result] += bucket.cache[result];
      for (const [code, value] of bucket.codes) {
        codes[code] = (codes[code] ?? 0) + value;
        if (!isRefusal(code)) continue;
        refusals[code] = (refusals[code] ?? 0) + value;
        refusalTotal += value;
      }
    }
    const lookups = cache.exact + cache.semantic + cache.miss;
    return {
      window_ms: this.windowMs,
      bucket_ms: this.bucketMs,
      buckets,
      totals: {
        requests,
        errors,
        error_rate: requests === 0 ? 0 : errors / requests,
        requests_per_s: recentRequests / (rateSpanMs / 1000),
        latency_ms: percentiles(latency, requests),
      },
      cache: { ...cache, hit_rate: lookups === 0 ? null : (cache.exact + cache.semantic) / lookups },
      errors_by_code: codes,
      refusals: { total: refusalTotal, by_code: refusals },
      recent_errors: this.recentErrors((current - count + 1) * this.bucketMs),
    };
  }

  /** The bucket of `index`, reset if it held an older one; `undefined` when `index` is outside the window. */
  private bucketFor(index: number): Bucket | undefined {
    const current = Math.floor(this.clock.now() / this.bucketMs);
    if (index <= current - this.buckets.length || index > current) return undefined;
    const bucket = this.buckets[modulo(index, this.buckets.length)]!;
    if (bucket.index !== index) resetBucket(bucket, index);
    return bucket;
  }

  /** The ring's errors that ended at or after `since` (the start of the oldest bucket), newest first. */
  private recentErrors(since: number): RecentError[] {
    const out: RecentError[] = [];
    const oldest = new Date(since).toISOString();
    for (let step = 1; step <= this.recent.length; step++) {
      const item = this.recent[modulo(this.nextRecent - step, this.recent.length)];
      if (item === undefined) break;
      if (item.at >= oldest) out.push(item);
    }
    return out;
  }
}

const CACHE_RESULTS: readonly ActivityCacheResult[] = ['exact', 'semantic', 'miss', 'bypass'];
const NO_PERCENTILES: LatencyPercentiles = { p50: null, p95: null, p99: null };

function emptyBucket(): Bucket {
  return { index: -1, requests: 0, errors: 0, latency: new Uint32Array(BIN_COUNT), cache: { exact: 0, semantic: 0, miss: 0, bypass: 0 }, codes: new Map() };
}

function resetBucket(bucket: Bucket, index: number): void {
  bucket.index = index;
  bucket.requests = 0;
  bucket.errors = 0;
  bucket.latency.fill(0);
  bucket.cache = { exact: 0, semantic: 0, miss: 0, bypass: 0 };
  bucket.codes.clear();
}

/** The histogram bin of a latency in milliseconds. */
function binOf(latencyMs: number): number {
  if (!(latencyMs >= 1)) return 0; // under 1 ms, and NaN
  return Math.min(BIN_COUNT - 1, 1 + Math.floor(Math.log(latencyMs) / LOG_GROWTH));
}

/** A representative latency of a bin: the geometric middle of its edges (0.5 ms for the first bin). */
function binValue(bin: number): number {
  if (bin === 0) return 0.5;
  if (bin === BIN_COUNT - 1) return Math.round(GROWTH ** (bin - 1)); // the overflow bin: its lower edge
  return Math.round(GROWTH ** (bin - 0.5) * 10) / 10;
}

function percentiles(histogram: Uint32Array, total: number): LatencyPercentiles {
  if (total === 0) return NO_PERCENTILES;
  return { p50: quantile(histogram, total, 0.5), p95: quantile(histogram, total, 0.95), p99: quantile(histogram, total, 0.99) };
}

/** The value below which a fraction `q` of the observations fall (nearest rank). */
function quantile(histogram: Uint32Array, total: number, q: number): number {
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let bin = 0; bin < histogram.length; bin++) {
    seen += histogram[bin]!;
    if (seen >= rank) return binValue(bin);
  }
  return binValue(histogram.length - 1);
}

/** Rate-limit, budget and queue refusals: the E44xx range. */
function isRefusal(code: string): boolean {
  return code.startsWith('E44');
}

function modulo(value: number, divisor: number): number {
  return ((value % divisor) + divisor) % divisor;
}
