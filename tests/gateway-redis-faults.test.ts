/**
 * Issue 5 "Done when", fault half, through the real gateway and its HTTP service: a redis-server the
 * test owns (free port) is stopped mid-run, made slow, and restarted. Requests keep being served
 * within their deadlines, the per-process fallback limiter engages and still holds its limit, nothing
 * hangs, and Redis-backed limits resume by themselves. With `failure_mode: closed`, refusals instead.
 */
import { describe, expect, it, vi } from 'vitest';
import { internalRuntime } from '../src/gateway/model-gateway.js';
import { mockConfig } from './helpers/gateway.js';
import { postJson } from './helpers/post-json.js';
import { startRedisServer } from './helpers/redis-server.js';
import type { PrivateRedisServer } from './helpers/redis-server.js';
import { startSharedRedisGateways } from './helpers/shared-redis-gateways.js';
import type { TestGateway } from './helpers/shared-redis-gateways.js';
import { RedisConnection } from '../src/state/redis-connection.js';
import { onCleanup } from './helpers/cleanup.js';

const CHURN = 'did:l04:churn';
const DURING = 'did:l04:during-outage';
const AFTER = 'did:l04:after-restart';

/** A chat request of `agent` (development mode: `x-agent-did`) with a 2 s deadline. */
function chat(gateway: TestGateway, agent: string, content: string) {
  return postJson(
    `${gateway.url}/v1/chat/completions`,
    { model: 'mock-1', messages: [{ role: 'user', content }], max_tokens: 16, l04: { max_latency_ms: 2_000 } },
    { 'x-agent-did': agent },
  );
}

async function runtimeOf(gateway: TestGateway) {
  return internalRuntime(gateway.gateway);
}

async function twoGatewaysOn(server: PrivateRedisServer, failureMode: 'open' | 'closed' = 'open') {
  const config = mockConfig({
    rate_limits: {
      agents: { [CHURN]: { rpm: 10_000, tpm: 10_000_000 }, [DURING]: { rpm: 5, tpm: 100_000 }, [AFTER]: { rpm: 5, tpm: 100_000 } },
      failure_mode: failureMode,
    },
  });
  const { gateways } = await startSharedRedisGateways(config, { redisUrl: server.url });
  return gateways as [TestGateway, TestGateway];
}

describe('ModelGateway when its Redis fails', () => {
  it('keeps serving within deadlines when Redis stops mid-run, limits per process, and shares limits again after a restart', async () => {
    const server = await startRedisServer();
    const [first, second] = await twoGatewaysOn(server);
    const both = [first, second];
    expect((await chat(first, CHURN, 'warm-up')).status).toBe(200);
    for (const gateway of both) expect((await runtimeOf(gateway)).limiter.currentMode()).toBe('primary');

    // Requests in flight while the server dies, and more while it is down.
    const inFlight = Array.from({ length: 20 }, (_, index) => chat(both[index % 2]!, CHURN, `in flight ${index}`));
    await server.stop();
    const whileDown = Array.from({ length: 20 }, (_, index) => chat(both[index % 2]!, CHURN, `while down ${index}`));
    const served = await Promise.all([...inFlight, ...whileDown]);
    // Every one answered before its 2 s deadline (no E4510, no 5xx): none waited on Redis.
    expect(served.map((reply) => reply.status)).toEqual(Array(40).fill(200));

    for (const gateway of both) {
      const runtime = await runtimeOf(gateway);
      expect(runtime.redis?.isReady()).toBe(false);
      expect(runtime.limiter.currentMode()).toBe('fallback');
      expect((await gateway.gateway.readiness()).dependencies.redis).toMatchObject({ status: 'down', degraded: true });
      expect(gateway.logs.records().some((record) => record.msg === 'rate limits decided per process: Redis unavailable')).toBe(true);
    }

    // The fallback limiter still holds the limit, per process (documented): 5 of 8 on each instance.
    for (const gateway of both) {
      const replies = await Promise.all(Array.from({ length: 8 }, (_, index) => chat(gateway, DURING, `limited ${index}`)));
      expect(replies.filter((reply) => reply.status === 200)).toHaveLength(5);
      expect(replies.filter((reply) => reply.status === 429).map((reply) => reply.body.error?.code)).toEqual(Array(3).fill('E4400'));
    }

    await server.start();
    // Only the reconnect itself is waited for (real time: the client's capped backoff).
    await vi.waitFor(
      async () => {
        for (const gateway of both) expect((await runtimeOf(gateway)).redis?.isReady()).toBe(true);
      },
      { timeout: 5_000, interval: 20 },
    );

    // Redis-backed again, by itself: a request consumed on one instance is visible from the other.
    const one = await chat(first, AFTER, 'after one');
    expect([one.status, one.headers.get('x-ratelimit-remaining-requests')]).toEqual([200, '4']);
    const two = await chat(second, AFTER, 'after two');
    expect([two.status, two.headers.get('x-ratelimit-remaining-requests')]).toEqual([200, '3']);
    for (const gateway of both) {
      expect((await runtimeOf(gateway)).limiter.currentMode()).toBe('primary');
      expect((await gateway.gateway.readiness()).dependencies.redis).toMatchObject({ status: 'up', degraded: false });
      expect(gateway.logs.records().some((record) => record.msg === 'rate limits shared through Redis again')).toBe(true);
    }
  });

  it('falls back within the command timeout when Redis is slow, and goes back to it afterwards', async () => {
    const server = await startRedisServer();
    const [first, second] = await twoGatewaysOn(server);
    const blocker = new RedisConnection({ url: server.url, keyPrefix: 'blocker:', commandTimeoutMs: 2_000 });
    onCleanup(() => blocker.close());
    expect(await blocker.connect()).toBe(true);
    // Every write (scripts included) from every client stalls until UNPAUSE: slow, still connected.
    await blocker.call(undefined, ['CLIENT', 'PAUSE', '3000', 'WRITE']);
    const replies = await Promise.all(Array.from({ length: 6 }, (_, index) => chat(index % 2 === 0 ? first : second, DURING, `slow ${index}`)));
    await blocker.call(undefined, ['CLIENT', 'UNPAUSE']);
    // Decided per process (5 rpm on each instance), each within the 2 s deadline.
    expect(replies.map((reply) => reply.status)).toEqual(Array(6).fill(200));
    for (const gateway of [first, second]) {
      const runtime = await runtimeOf(gateway);
      expect(runtime.redis?.isReady()).toBe(true);
      expect(runtime.limiter.currentMode()).toBe('fallback');
    }
    // After the 1 s retry window the primary decides again, by itself.
    await vi.waitFor(
      async () => {
        expect((await chat(first, CHURN, 'back')).status).toBe(200);
        expect((await runtimeOf(first)).limiter.currentMode()).toBe('primary');
      },
      { timeout: 3_000, interval: 100 },
    );
  });

  it('decides on Redis when a busy event loop delays reading a reply that arrived in time', async () => {
    const server = await startRedisServer();
    const [first] = await twoGatewaysOn(server);
    expect((await chat(first, CHURN, 'warm-up')).status).toBe(200); // loads the script
    const runtime = await runtimeOf(first);
    // The decision's script is queued and its 50 ms bound started; node-redis writes it on the next
    // check phase, and this callback runs right after that write: the process then stays busy
    // for 120 ms (a CPU-bound gateway), while the local Redis answers within a millisecond.
    const pending = first.gateway.complete({ agent_did: CHURN, logical_prompt: { messages: [{ role: 'user', content: 'busy' }] } });
    setImmediate(() => {
      const until = performance.now() + 120;
      while (performance.now() < until) {
        // busy: the reply waits in the socket buffer, the bound's timer becomes due
      }
    });
    await pending;
    // Redis answered in time: the busy process is not a slow Redis, and nothing fell back.
    expect(runtime.limiter.currentMode()).toBe('primary');
    expect(first.logs.records().filter((record) => record.msg === 'rate limits decided per process: Redis unavailable')).toEqual([]);
  });

  it('refuses with 503 E4405 and Retry-After while Redis is down when failure_mode is closed', async () => {
    const server = await startRedisServer();
    const [first] = await twoGatewaysOn(server, 'closed');
    expect((await chat(first, CHURN, 'before')).status).toBe(200);
    await server.stop();
    const refused = await chat(first, CHURN, 'while down');
    expect([refused.status, refused.body.error?.code, refused.headers.get('retry-after')]).toEqual([503, 'E4405', '1']);
    // Every request would be refused: the gateway is not ready, and says why.
    await vi.waitFor(async () => expect((await first.gateway.readiness()).ready).toBe(false));
    const ready = await fetch(`${first.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { dependencies: { redis: unknown } }).dependencies.redis).toMatchObject({
      status: 'down',
      degraded: true,
      effect: 'requests are refused with E4405 until Redis returns (rate_limits.failure_mode: closed)',
    });
  });
});
