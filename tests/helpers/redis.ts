/**
 * Real-Redis helpers for integration tests: a private key prefix per test, deleted afterwards (on
 * every master of a cluster: SCAN runs node by node).
 */
import { randomBytes } from 'node:crypto';
import { RedisConnection } from '../../src/state/redis-connection.js';
import { onCleanup } from './cleanup.js';

export const REDIS_URL = process.env.L04_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Options of `testRedis`. */
export interface TestRedisOptions {
  commandTimeoutMs?: number;
  url?: string;
  /** Seed nodes of a cluster (see `testCluster` in redis-cluster.ts). */
  nodes?: readonly string[];
  keyPrefix?: string;
}

/** A connected `RedisConnection` with a fresh `l04:test:<random>:` prefix; keys and client cleaned up. */
export async function testRedis(options: TestRedisOptions = {}): Promise<RedisConnection> {
  const connection = new RedisConnection({
    url: options.url ?? REDIS_URL,
    ...(options.nodes === undefined ? {} : { nodes: options.nodes }),
    keyPrefix: options.keyPrefix ?? testKeyPrefix(),
    commandTimeoutMs: options.commandTimeoutMs ?? 1_000,
  });
  onCleanup(async () => {
    if (connection.isReady()) await deleteKeys(connection, `${connection.keyPrefix}*`);
    await connection.close();
  });
  if (!(await connection.connect())) throw new Error(`Redis is not answering at ${options.nodes?.join(', ') ?? options.url ?? REDIS_URL}`);
  return connection;
}

/** A fresh key prefix for one test. */
export function testKeyPrefix(): string {
  return `l04:test:${randomBytes(6).toString('hex')}:`;
}

/** Deletes every key matching `match` on every master (one DEL per key, routed by key). */
export async function deleteKeys(connection: RedisConnection, match: string): Promise<void> {
  for await (const keys of connection.scan(match)) {
    await Promise.all(keys.map((key) => connection.call(key, ['DEL', key])));
  }
}
