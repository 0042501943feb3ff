/**
 * Chaos on the Redis layer, through real gateways and their HTTP services on a private
 * redis-server (a free port; never the shared 6379): a burst of 400 concurrent requests on a fresh
 * gateway, Redis killed and restarted under load, and `failure_mode: closed` at c=100 with a
 * healthy Redis. The load runs in the test process, on the gateways' own event loop — the harshest
 * case for timeouts that must measure Redis and not the event loop. Each test prints its figures.
 */
import { internalRuntime } from '../../src/gateway/model-gateway.js';
import { describe, expect, it } from 'vitest';
import { Pool } from 'undici';
import type { GatewayConfigInput } from '../../src/config/config-schema.js';
import { onCleanup } from '../helpers/cleanup.js';
import { mockConfig } from '../helpers/gateway.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { startSharedRedisGateways } from '../helpers/shared-redis-gateways.js';
import type { TestGateway } from '../helpers/shared-redis-gateways.js';

/** Most a recovery may take: "within seconds". */
const RECOVERY_BOUND_MS = 5_000;

interface Reply {
  status: number;
  code: string | undefined;
  cache: string | undefined;
  remaining: string | undefined;
}

/** An HTTP client with `connections` sockets to one gateway; closed after the test. */
function clientOf(gateway: TestGateway, connections: number) {
  const pool = new Pool(gateway.url, { connections, pipelining: 1 });
  onCleanup(() => pool.destroy());
  return async (agent: string, content: string): Promise<Reply> => {
    const response = await pool.request({
      path: '/v1/chat/completions',
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-agent-did': agent },
      body: JSON.stringify({ model: 'mock-1', messages: [{ role: 'user', content }], max_tokens: 8 }),
    });
    const body = (await response.body.json()) as { error?: { code?: string } };
    const header = (name: string) => {
      const value = response.headers[name];
      return typeof value === 'string' ? value : undefined;
    };
    return { status: response.statusCode, code: body.error?.code, cache: header('x-l04-cache'), remaining: header('x-ratelimit-remaining-requests') };
  };
}

/** `concurrency` closed loops of `send` for `ms`; the tally of statuses and error codes. */
async function load(ms: number, concurrency: number, send: (worker: number, index: number) => Promise<Reply>): Promise<Record<string, number>> {
  const end = performance.now() + ms;
  const tally: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let index = 0; performance.now() < end; index++) {
        const reply = await send(worker, index);
        const key = reply.code === undefined ? String(reply.status) : `${reply.status} ${reply.code}`;
        tally[key] = (tally[key] ?? 0) + 1;
      }
    }),
  );
  return tally;
}

/** Polls `check` until it holds; resolves with the milliseconds it took (rejects past the bound). */
async function msUntil(check: () => Promise<boolean>, boundMs = RECOVERY_BOUND_MS): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < boundMs) {
    if (await check()) return Math.round(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`not recovered within ${boundMs} ms`);
}

function config(overrides: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return mockConfig({
    providers: { mock: { type: 'mock', max_concurrency: 4_096 } },
    queue: { max_size: 10_000 },
    cache: { enabled: true, semantic: false },
    rate_limits: { agent_default: { rpm: 1_000_000_000, tpm: 1_000_000_000_000 }, agents: { 'did:l04:limited': { rpm: 5, tpm: 1_000_000 } } },
    ...overrides,
  });
}

/**
 * Shared state works on both instances: a fresh answer stored through one is an exact hit on the
 * other, and one agent's request limit counts down across both.
 */
async function sharedStateWorks(gateways: TestGateway[], tag: string): Promise<boolean> {
  const [first, second] = gateways.map((gateway) => clientOf(gateway, 2)) as [ReturnType<typeof clientOf>, ReturnType<typeof clientOf>];
  for (const gateway of gateways) {
    const runtime = await internalRuntime(gateway.gateway);
    if (runtime.redis?.isReady() !== true || runtime.limiter.currentMode() !== 'primary') return false;
  }
  if ((await first('did:l04:probe', `probe ${tag}`)).cache !== 'miss') return false;
  // The store runs after the answer; give it a few tries.
  let hit = false;
  for (let attempt = 0; attempt < 10 && !hit; attempt++) hit = (await second('did:l04:probe', `probe ${tag}`)).cache === 'exact';
  if (!hit) return false;
  const one = await first('did:l04:limited', `limited ${tag} one`);
  const two = await second('did:l04:limited', `limited ${tag} two`);
  return one.status === 200 && two.status === 200 && Number(two.remaining) === Number(one.remaining) - 1;
}

describe('Redis chaos', () => {
  it('serves a burst of 400 concurrent requests on a fresh gateway, and shares state again within seconds', async () => {
    const server = await startRedisServer();
    const figures: Array<{ burst: Record<string, number>; recovery_ms: number; forced_reconnects: number }> = [];
    for (let round = 0; round < 3; round++) {
      // A fresh pair each round: the first requests of a gateway meet an empty connection and cold scripts.
      const { gateways } = await startSharedRedisGateways(config(), { redisUrl: server.url });
      const send = clientOf(gateways[0]!, 400);
      const burst = await Promise.all(Array.from({ length: 400 }, (_, index) => send(`did:l04:burst-${index % 40}`, `burst ${round} ${index}`)));
      const tally: Record<string, number> = {};
      for (const reply of burst) tally[String(reply.status)] = (tally[String(reply.status)] ?? 0) + 1;
      expect(tally).toEqual({ 200: 400 });
      let attempt = 0;
      const recovery = await msUntil(() => sharedStateWorks(gateways, `${round}-${attempt++}`));
      const runtime = await internalRuntime(gateways[0]!.gateway);
      figures.push({ burst: tally, recovery_ms: recovery, forced_reconnects: runtime.redis?.health().forced_reconnects ?? -1 });
      expect((await gateways[0]!.gateway.readiness()).dependencies.redis).toMatchObject({ status: 'up', degraded: false });
    }
    console.log(`burst of 400: ${JSON.stringify(figures)}`);
  });

  it('shares the cache and the limits again within seconds after Redis is killed and restarted under load', async () => {
    const server = await startRedisServer();
    const { gateways } = await startSharedRedisGateways(config(), { redisUrl: server.url });
    expect(await sharedStateWorks(gateways, 'before')).toBe(true);
    const senders = gateways.map((gateway) => clientOf(gateway, 25));
    const background = load(9_000, 50, (worker, index) => senders[worker % 2]!(`did:l04:load-${worker}`, `load ${worker} ${index % 20}`));
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await server.stop(); // SIGKILL, like a crash: nothing persisted
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await server.start();
    let attempt = 0;
    const recovery = await msUntil(() => sharedStateWorks(gateways, `after-${attempt++}`));
    const tally = await background;
    console.log(`Redis restart under load (c=50): shared state back ${recovery} ms after the restart; requests during the run: ${JSON.stringify(tally)}`);
    // failure_mode: open — every request was served, per process while Redis was away.
    expect(Object.keys(tally)).toEqual(['200']);
    for (const gateway of gateways) expect((await gateway.gateway.readiness()).dependencies.redis).toMatchObject({ status: 'up', degraded: false });
  });

  it('refuses nothing with failure_mode closed at c=100 while Redis is healthy', async () => {
    const server = await startRedisServer();
    const { gateways } = await startSharedRedisGateways(
      config({ rate_limits: { agent_default: { rpm: 1_000_000_000, tpm: 1_000_000_000_000 }, failure_mode: 'closed' } }),
      {
        redisUrl: server.url,
        count: 1,
      },
    );
    const send = clientOf(gateways[0]!, 100);
    await load(1_000, 100, (worker, index) => send(`did:l04:warm-${worker}`, `warm ${worker} ${index}`));
    const started = performance.now();
    const tally = await load(8_000, 100, (worker, index) => send(`did:l04:c100-${worker % 20}`, `c100 ${worker} ${index}`));
    const total = Object.values(tally).reduce((sum, count) => sum + count, 0);
    console.log(
      `failure_mode closed, c=100, 8 s: ${total} requests (${Math.round(total / ((performance.now() - started) / 1000))}/s), ${tally['503 E4405'] ?? 0} refused with E4405: ${JSON.stringify(tally)}`,
    );
    expect(tally).toEqual({ 200: total });
  });
});
