/**
 * The Redis `SpendStore`: one float counter per key and day, `<prefix>{spend:<key_id>}:<yyyy-mm-dd>`,
 * incremented with INCRBYFLOAT and expiring 48 hours after its last write, so every gateway instance
 * shares one total. One round trip per call, one key per command (so one Cluster slot); the hash
 * tag keeps a key's days on one node.
 */
import type { RedisConnection } from '../state/redis-connection.js';
import { defineRedisScript } from '../state/redis-script.js';
import type { SpendStore } from './spend-store.js';

/** Seconds a day's counter lives after its last write (48 h: yesterday stays readable past midnight). */
export const SPEND_KEY_TTL_S = 48 * 60 * 60;

/** KEYS: the day's counter. ARGV: cents, ttl seconds. Returns the new total (a string: Lua numbers reply as integers). */
const ADD_SCRIPT = defineRedisScript(
  'spend add',
  `local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return total`,
);

/** Options of a `RedisSpendStore`. */
export interface RedisSpendStoreOptions {
  connection: RedisConnection;
}

/** Spend totals in Redis. Rejects at once when Redis is not ready, so that callers fall back fast. */
export class RedisSpendStore implements SpendStore {
  private readonly connection: RedisConnection;

  constructor(options: RedisSpendStoreOptions) {
    this.connection = options.connection;
    options.connection.registerScripts(ADD_SCRIPT);
  }

  /** The Redis key of a key id and day. */
  key(keyId: string, day: string): string {
    return `${this.connection.keyPrefix}{spend:${keyId}}:${day}`;
  }

  /** INCRBYFLOAT + EXPIRE in one script; resolves to the new total. */
  async add(keyId: string, day: string, cents: number): Promise<number> {
    return toNumber(await this.connection.eval(ADD_SCRIPT, [this.key(keyId, day)], [String(cents), String(SPEND_KEY_TTL_S)]));
  }

  /** The key's total for `day`; 0 when the counter does not exist. */
  async get(keyId: string, day: string): Promise<number> {
    const key = this.key(keyId, day);
    return toNumber(await this.connection.call(key, ['GET', key]));
  }
}

function toNumber(reply: unknown): number {
  const value = typeof reply === 'number' ? reply : Number.parseFloat(String(reply ?? '0'));
  return Number.isFinite(value) ? value : 0;
}
