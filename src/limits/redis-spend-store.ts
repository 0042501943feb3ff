/**
 * The Redis `SpendStore`: one float counter per key and day, `<prefix>{spend:<key_id>}:<yyyy-mm-dd>`,
 * incremented with INCRBYFLOAT and expiring 48 hours after its last write, so every gateway instance
 * shares one total. One round trip per call; the hash tag keeps a key's days on one Cluster slot.
 */
import type { RedisConnection } from '../state/redis-connection.js';
import type { SpendStore } from './spend-store.js';

/** Seconds a day's counter lives after its last write (48 h: yesterday stays readable past midnight). */
export const SPEND_KEY_TTL_S = 48 * 60 * 60;

/** Options of a `RedisSpendStore`. */
export interface RedisSpendStoreOptions {
  connection: RedisConnection;
}

/** Spend totals in Redis. Rejects at once when Redis is not ready, so that callers fall back fast. */
export class RedisSpendStore implements SpendStore {
  private readonly connection: RedisConnection;

  constructor(options: RedisSpendStoreOptions) {
    this.connection = options.connection;
  }

  /** The Redis key of a key id and day. */
  key(keyId: string, day: string): string {
    return `${this.connection.keyPrefix}{spend:${keyId}}:${day}`;
  }

  /** INCRBYFLOAT + EXPIRE in one MULTI; resolves to the new total. */
  async add(keyId: string, day: string, cents: number): Promise<number> {
    this.assertReady();
    const key = this.key(keyId, day);
    const [total] = await this.connection.client.multi().incrByFloat(key, cents).expire(key, SPEND_KEY_TTL_S).exec();
    return toNumber(total);
  }

  /** The key's total for `day`; 0 when the counter does not exist. */
  async get(keyId: string, day: string): Promise<number> {
    this.assertReady();
    return toNumber(await this.connection.client.get(this.key(keyId, day)));
  }

  private assertReady(): void {
    if (!this.connection.isReady()) throw new Error('Redis is not ready');
  }
}

function toNumber(reply: unknown): number {
  const value = typeof reply === 'number' ? reply : Number.parseFloat(String(reply ?? '0'));
  return Number.isFinite(value) ? value : 0;
}
