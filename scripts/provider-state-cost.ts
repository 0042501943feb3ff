/**
 * What sharing provider state through Redis costs a request: `npx tsx scripts/provider-state-cost.ts`.
 *
 * 1. One breaker decision and its report in the closed state (`tryAcquire` + `success`), per process
 *    and shared through Redis, and how many Redis commands the shared one sent.
 * 2. A gateway on Redis state (cache off, mock provider) answering requests at concurrency 16, and
 *    the Redis commands its breakers sent per request (counted with MONITOR on a private Redis:
 *    top-level commands on a `{breaker:…}` key).
 *
 * It starts its own `redis-server` on a free port and stops it at the end.
 */
import { createClient } from '@redis/client';
import type { RedisClientType } from '@redis/client';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ModelGateway } from '../src/gateway/model-gateway.js';
import { CircuitBreakerRegistry } from '../src/resilience/circuit-breaker.js';
import { RedisProviderStateStore } from '../src/resilience/redis-provider-state-store.js';
import { RedisConnection } from '../src/state/redis-connection.js';
import { systemClock } from '../src/util/clock.js';

const DECISIONS = 200_000;
const REQUESTS = 4_000;
const CONCURRENCY = 16;
const POLICY = { failureThreshold: 5, cooldownMs: 60_000, probeTimeoutMs: 30_000 };

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

async function decisions(registry: CircuitBreakerRegistry): Promise<number> {
  const breaker = registry.get('provider');
  const first = await breaker.tryAcquire(); // an instance's first decision reads the fleet's record
  if (first.allowed) first.success();
  const started = performance.now();
  for (let index = 0; index < DECISIONS; index++) {
    const answer = breaker.tryAcquire();
    const permit = answer instanceof Promise ? await answer : answer;
    if (permit.allowed) permit.success();
    // Let background reads complete, as they would between requests.
    if (index % 1_000 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return ((performance.now() - started) * 1e6) / DECISIONS;
}

async function commandStats(admin: RedisClientType): Promise<Map<string, number>> {
  const text = await admin.info('commandstats');
  const stats = new Map<string, number>();
  for (const match of text.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) stats.set(match[1]!, Number(match[2]));
  return stats;
}

async function main(): Promise<void> {
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const url = `redis://127.0.0.1:${port}`;
    const connection = new RedisConnection({ url, keyPrefix: 'cost:', commandTimeoutMs: 50 });
    if (!(await connection.connect())) throw new Error('redis-server did not start');
    // A plain client of its own for INFO and MONITOR: the gateway's connection sends only what stores send.
    const admin: RedisClientType = createClient({ url });
    await admin.connect();

    const local = await decisions(new CircuitBreakerRegistry({ ...POLICY, clock: systemClock }));
    await admin.configResetStat();
    const store = new RedisProviderStateStore({ connection, policy: POLICY });
    const sharedStarted = performance.now();
    const shared = await decisions(
      new CircuitBreakerRegistry({ ...POLICY, clock: systemClock, syncIntervalMs: 250, shared: { store, isReady: () => connection.isReady() } }),
    );
    const sharedSeconds = (performance.now() - sharedStarted) / 1000;
    const breakerCommands = [...(await commandStats(admin)).entries()].filter(([name]) => name !== 'info' && name !== 'config');
    console.log(`breaker decision + report, closed state, ${DECISIONS} in a row:`);
    console.log(`  per process      ${local.toFixed(0)} ns`);
    console.log(
      `  shared on Redis  ${shared.toFixed(0)} ns; Redis commands in ${sharedSeconds.toFixed(2)} s: ${JSON.stringify(Object.fromEntries(breakerCommands))}`,
    );

    const gateway = new ModelGateway({
      state: { backend: 'redis', redis_url: url, key_prefix: 'cost:gw:' },
      providers: { mock: { type: 'mock' } },
      models: { 'mock-1': { provider: 'mock', auto: true, capabilities: ['text'] } },
      rate_limits: { agent_default: { rpm: 10_000_000, tpm: 10_000_000_000 } },
      cache: { enabled: false },
      health: { enabled: false },
      logging: { level: 'silent' },
    });
    await gateway.start();
    const request = (index: number) => ({
      agent_did: `did:cost:${index % 50}`,
      logical_prompt: { messages: [{ role: 'user' as const, content: `q${index}` }] },
    });
    for (let index = 0; index < 200; index++) await gateway.complete(request(index));
    const monitor = admin.duplicate();
    await monitor.connect();
    const breakerCalls = new Map<string, number>();
    await monitor.monitor((line: string) => {
      if (!line.includes('{breaker:') || line.includes(' lua]')) return;
      const command = /\] "(\w+)"/.exec(line)?.[1]?.toLowerCase() ?? '?';
      breakerCalls.set(command, (breakerCalls.get(command) ?? 0) + 1);
    });
    let next = 0;
    const latencies: number[] = [];
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) {
          const index = next++;
          const at = performance.now();
          await gateway.complete(request(index));
          latencies.push(performance.now() - at);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 100));
    latencies.sort((a, b) => a - b);
    console.log(
      `gateway on Redis state, ${REQUESTS} requests at concurrency ${CONCURRENCY} in ${seconds.toFixed(2)} s: ${(REQUESTS / seconds).toFixed(0)} req/s, p50 ${latencies[Math.floor(REQUESTS / 2)]!.toFixed(2)} ms`,
    );
    const total = [...breakerCalls.values()].reduce((sum, calls) => sum + calls, 0);
    console.log(`  breaker commands: ${total} (${(total / REQUESTS).toFixed(4)} per request) ${JSON.stringify(Object.fromEntries(breakerCalls))}`);
    monitor.destroy();
    await gateway.close();
    await connection.close();
    admin.destroy();
  } finally {
    server.kill('SIGKILL');
  }
}

await main();
