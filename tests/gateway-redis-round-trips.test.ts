/**
 * Redis round trips of one request, seen on the wire: a gateway on a private redis-server behind a
 * proxy that records every write the gateway makes. The agent limit and the cache lookup — all a
 * request waits on — travel in one write (one round trip); the rate-limit settlement and the cache
 * store go after the answer, together in one write, with the partition's tenant-index filing at most
 * once per INDEX_REFRESH_MS.
 */
import { describe, expect, it, vi } from 'vitest';
import { mockConfig, startTestServer } from './helpers/gateway.js';
import { postJson } from './helpers/post-json.js';
import { respCommands, startRedisProxy, startRedisServer } from './helpers/redis-server.js';
import { FakeClock } from './helpers/fake-clock.js';
import { INDEX_REFRESH_MS } from '../src/cache/redis-cache-store.js';

/**
 * What each EVALSHA of a write was for, named by its first key. The breaker's reads of the fleet's
 * provider state (`HMGET …{breaker:…}`, at most one per provider per sync interval, or once after
 * the gateway was idle) are left out: they are paced by time, not by requests, and their own tests
 * bound them.
 */
function scriptsIn(write: Buffer): string[] {
  return respCommands(write)
    .filter(([name, key = '']) => !(name === 'HMGET' && key.includes('{breaker:')))
    .map((command) => {
      const [name, , , firstKey = ''] = command;
      if (name !== 'EVALSHA') return name ?? '';
      if (firstKey.includes('{agent:')) return 'agent limit';
      if (firstKey.includes('cache:tenant:')) return 'cache tenant index';
      if (/cache:\{[^}]+\}:z$/.test(firstKey)) return 'cache partition';
      return firstKey;
    });
}

function scriptLoads(writes: Buffer[]): number {
  return respCommands(Buffer.concat(writes)).filter(([name, sub]) => name === 'SCRIPT' && sub === 'LOAD').length;
}

describe('Redis round trips per request', () => {
  it('sends the agent limit and the cache lookup in one write, and the stores after the answer', async () => {
    const server = await startRedisServer();
    const proxy = await startRedisProxy(server.port);
    const config = mockConfig({ state: { backend: 'redis', redis_url: proxy.url, watchdog_interval_ms: 0 }, cache: { enabled: true, semantic: false } });
    // The gateway's clock stands still unless the test moves it: the tenant index is refreshed by time.
    const clock = new FakeClock(Date.now());
    const { url, gateway } = await startTestServer(config, { clock });
    await gateway.start(); // connected
    await vi.waitFor(() => expect(scriptLoads(proxy.sent)).toBe(15)); // the scripts of limits, spend, cache and provider state, loaded as they register
    const ask = (content: string) =>
      postJson(`${url}/v1/chat/completions`, { model: 'mock-1', messages: [{ role: 'user', content }] }, { 'x-agent-did': 'did:l04:rt' });

    const steps: Array<{ content: string; cache: string; after: string[]; advanceMs?: number }> = [
      // After the answer: the settlement of the token reservation (the estimate counted 4,096 output
      // tokens), and on a miss the cache store — issued together, so written together. The first
      // store of a partition also files it in its tenant index (for purges); the next ones within
      // INDEX_REFRESH_MS do not, and the first one after it files it again.
      { content: 'first question', cache: 'miss', after: ['agent limit', 'cache partition', 'cache tenant index'] },
      { content: 'second question', cache: 'miss', after: ['agent limit', 'cache partition'] },
      { content: 'first question', cache: 'exact', after: ['agent limit'] },
      { content: 'third question', cache: 'miss', after: ['agent limit', 'cache partition', 'cache tenant index'], advanceMs: INDEX_REFRESH_MS },
    ];
    for (const { content, cache, after: expectedAfter, advanceMs } of steps) {
      if (advanceMs !== undefined) await clock.advance(advanceMs);
      const start = proxy.sent.length;
      const reply = await ask(content);
      expect(reply.status).toBe(200);
      expect(reply.headers.get('x-l04-cache')).toBe(cache);
      await vi.waitFor(() => expect(proxy.sent.slice(start).flatMap(scriptsIn), content).toHaveLength(2 + expectedAfter.length));
      const writes = proxy.sent
        .slice(start)
        .map(scriptsIn)
        .filter((write) => write.length > 0);
      // The request waited on one write: both checks together, before anything else.
      expect(writes[0]?.sort()).toEqual(['agent limit', 'cache partition']);
      expect(writes.slice(1).map((write) => write.sort())).toEqual([expectedAfter]);
    }
  });
});
