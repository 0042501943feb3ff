/** Real-Redis helpers for integration tests: a private key prefix per test, deleted afterwards. */
import { randomBytes } from 'node:crypto';
import { RedisConnection } from '../../src/state/redis-connection.js';
import { onCleanup } from './cleanup.js';

export const REDIS_URL = process.env.L04_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A connected `RedisConnection` with a fresh `l04:test:<random>:` prefix; keys and client cleaned up. */
export async function testRedis(options: { commandTimeoutMs?: number; url?: string } = {}): Promise<RedisConnection> {
  const connection = new RedisConnection({
    url: options.url ?? REDIS_URL,
    keyPrefix: `l04:test:${randomBytes(6).toString('hex')}:`,
    commandTimeoutMs: options.commandTimeoutMs ?? 1_000,
  });
  if (!(await connection.connect())) throw new Error(`Redis is not answering at ${options.url ?? REDIS_URL}`);
  onCleanup(async () => {
    if (connection.isReady()) {
      for await (const keys of connection.client.scanIterator({ MATCH: `*${connection.keyPrefix}*`, COUNT: 500 })) {
        if (keys.length > 0) await connection.client.del(keys);
      }
    }
    await connection.close();
  });
  return connection;
}
