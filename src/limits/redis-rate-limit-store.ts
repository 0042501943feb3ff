/**
 * The Redis token-bucket store: one truth for many gateway instances. Each `take`/`give` is one Lua
 * script run with EVALSHA (the connection loads it on every node as it connects, and again after a
 * NOSCRIPT reply — which proves the script did not run), timed by the Redis server's clock. Keys
 * are `<keyPrefix><bucket key>`; bucket keys carry the hash tag (`{agent:<did>}`), so one decision
 * touches one Cluster slot.
 *
 * Failures are never retried here: a command that timed out or lost its connection may or may not
 * have run, so re-sending it could charge twice (at-most-once). The error goes to the caller
 * (the rate limiter), which decides that call with its per-process fallback.
 */
import { RateLimitError } from '../models/error-codes.js';
import type { RedisConnection } from '../state/redis-connection.js';
import { assertBucketArguments } from './rate-limit-store.js';
import type { BucketSpec, RateLimitStore, TakeResult } from './rate-limit-store.js';
import { GIVE_SCRIPT, TAKE_SCRIPT } from './rate-limit-scripts.js';
import type { RedisScript } from '../state/redis-script.js';
import { BoundedMemo } from '../util/bounded-memo.js';

/** Options of a `RedisRateLimitStore`. */
export interface RedisRateLimitStoreOptions {
  connection: RedisConnection;
  /** Prefix of every key; default the connection's `keyPrefix` (`l04:`). */
  keyPrefix?: string;
  /** Longest silence of Redis during one decision, in milliseconds; default the connection's (`state.command_timeout_ms`). */
  commandTimeoutMs?: number;
}

/** Token buckets in Redis hashes, decided by Lua scripts. */
export class RedisRateLimitStore implements RateLimitStore {
  private readonly connection: RedisConnection;
  private readonly keyPrefix: string;
  private readonly commandTimeoutMs: number;

  constructor(options: RedisRateLimitStoreOptions) {
    const commandTimeoutMs = options.commandTimeoutMs ?? options.connection.commandTimeoutMs;
    if (!(commandTimeoutMs > 0)) throw new RangeError(`commandTimeoutMs should be a positive number, got ${commandTimeoutMs}`);
    this.connection = options.connection;
    this.keyPrefix = options.keyPrefix ?? options.connection.keyPrefix;
    this.commandTimeoutMs = commandTimeoutMs;
    options.connection.registerScripts(TAKE_SCRIPT, GIVE_SCRIPT);
  }

  /** The full Redis key of a bucket. */
  redisKey(bucket: BucketSpec): string {
    return `${this.keyPrefix}${bucket.key}`;
  }

  /**
   * Rejects with E4405: at once when the connection is not ready, when Redis stays silent for
   * `commandTimeoutMs` (the script may have run; it is never re-sent, and an unsent one is
   * dropped), or on any other failure.
   */
  async take(buckets: BucketSpec[], amounts: number[]): Promise<TakeResult> {
    assertBucketArguments(buckets, amounts);
    if (amounts.some((amount) => amount < 0)) throw new RangeError('take amounts should not be negative');
    const reply = await this.run(TAKE_SCRIPT, buckets, amounts);
    return parseTakeReply(reply, buckets.length);
  }

  /** Fails like `take`. */
  async give(buckets: BucketSpec[], amounts: number[]): Promise<void> {
    assertBucketArguments(buckets, amounts);
    if (amounts.every((amount) => amount === 0)) return;
    await this.run(GIVE_SCRIPT, buckets, amounts);
  }

  private async run(script: RedisScript, buckets: BucketSpec[], amounts: number[]): Promise<unknown> {
    if (!this.connection.isReady()) throw new RateLimitError('E4405', 'Redis is not connected');
    const keys = buckets.map((bucket) => this.redisKey(bucket));
    const args: string[] = [];
    for (let index = 0; index < buckets.length; index++) {
      const bucket = buckets[index]!;
      args.push(String(bucket.capacity), RATE_TEXTS.get(bucket.refillPerMs), String(amounts[index] ?? 0));
    }
    try {
      return await this.connection.eval(script, keys, args, { timeoutMs: this.commandTimeoutMs });
    } catch (error) {
      throw new RateLimitError('E4405', `Redis decision failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
}

/** Refill rates as text, remembered: a gateway has a handful (one per limit), and each is a fraction that costs a float-to-text conversion. */
const RATE_TEXTS = new BoundedMemo(256, (rate: number) => String(rate));

function parseTakeReply(reply: unknown, count: number): TakeResult {
  if (!Array.isArray(reply) || reply.length !== 3 + 2 * count || !reply.every((value) => typeof value === 'number')) {
    throw new RateLimitError('E4405', 'Unexpected reply from the rate-limit script', { details: { reply: String(reply) } });
  }
  const values = reply as number[];
  const allowed = values[0] === 1;
  const wait = values[2] ?? 0;
  const result: TakeResult = {
    allowed,
    remaining: values.slice(3, 3 + count),
    retryAfterMs: allowed ? 0 : wait < 0 ? Infinity : wait,
    resetMs: values.slice(3 + count),
  };
  if (!allowed) result.failedBucket = values[1] ?? 0;
  return result;
}
