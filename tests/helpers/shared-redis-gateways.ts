/**
 * Several gateway instances for one test, each with its own HTTP server and its own Redis
 * connection (built from `state.redis_url`), all sharing one fresh key prefix — the shape of a
 * fleet behind a load balancer. On the shared Redis, the prefix's keys are deleted after the test.
 */
import { randomBytes } from 'node:crypto';
import type { GatewayConfigInput } from '../../src/config/config-schema.js';
import type { GatewayDependencies } from '../../src/gateway/build-runtime.js';
import { startTestServer } from './gateway.js';
import { REDIS_URL, testRedis } from './redis.js';

/** One started gateway with its server and OpenAI client. */
export type TestGateway = Awaited<ReturnType<typeof startTestServer>>;

/** Options of `startSharedRedisGateways`. */
export interface SharedRedisGatewaysOptions {
  /** How many instances; default 2. */
  count?: number;
  /**
   * A Redis the test owns (a private redis-server, killed in cleanup: nothing to delete there).
   * Default: the local test Redis, with the prefix's keys deleted after the test.
   */
  redisUrl?: string;
  /** The OpenAI client's API key. */
  apiKey?: string;
  /**
   * The masters of a Redis Cluster (`sharedClusterNodes()`): instance 0 is given one node's URL
   * (`state.redis_url`, cluster detected at start), the others every node as seeds
   * (`state.redis_nodes`). The prefix's keys are deleted on every master after the test.
   */
  clusterNodes?: string[];
  /** `state.command_timeout_ms`; default the config's. */
  commandTimeoutMs?: number;
  /** Dependencies of instance `index` (clock, adapters…). */
  dependencies?: (index: number) => GatewayDependencies;
}

/** Starts the instances on one fresh `l04:test:<random>:` prefix; returns them and the prefix. */
export async function startSharedRedisGateways(
  config: GatewayConfigInput,
  options: SharedRedisGatewaysOptions = {},
): Promise<{ keyPrefix: string; gateways: TestGateway[] }> {
  const redisUrl = options.redisUrl ?? REDIS_URL;
  const cluster = options.clusterNodes;
  // On a shared Redis (or cluster), this connection only owns the prefix and its cleanup; every
  // gateway connects by itself. A private server needs neither (and may be down at teardown).
  const keyPrefix =
    options.redisUrl === undefined
      ? (await testRedis(cluster === undefined ? {} : { nodes: cluster })).keyPrefix
      : `l04:test:${randomBytes(6).toString('hex')}:`;
  const stateOf = (index: number) => ({
    backend: 'redis' as const,
    ...(cluster === undefined ? { redis_url: redisUrl } : index === 0 ? { redis_url: cluster[0] } : { redis_nodes: cluster }),
    key_prefix: keyPrefix,
    ...(options.commandTimeoutMs === undefined ? {} : { command_timeout_ms: options.commandTimeoutMs }),
  });
  const gateways = await Promise.all(
    Array.from({ length: options.count ?? 2 }, (_, index) =>
      startTestServer({ ...config, state: stateOf(index) }, options.dependencies?.(index) ?? {}, options.apiKey),
    ),
  );
  return { keyPrefix, gateways };
}
