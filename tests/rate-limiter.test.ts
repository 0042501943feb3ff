/**
 * Rate limits end to end, in one file by design (past 400 lines): the shared store suite run on the
 * memory and the real Redis store, the RateLimiter's rules on memory, two gateways sharing the real
 * Redis under concurrency, and fault tests against a private redis-server stopped, paused and cut.
 */
import { describe, expect, it, vi } from 'vitest';
import { RateLimitsConfigSchema } from '../src/config/config-schema.js';
import type { RateLimitsConfig } from '../src/config/config-schema.js';
import { RateLimiter, formatRateLimitDuration, rateLimitHeaders } from '../src/limits/rate-limiter.js';
import type { AgentAdmission } from '../src/limits/rate-limiter.js';
import { MemoryRateLimitStore } from '../src/limits/memory-rate-limit-store.js';
import { RedisConnection } from '../src/state/redis-connection.js';
import { RedisRateLimitStore } from '../src/limits/redis-rate-limit-store.js';
import { escapeBucketId } from '../src/limits/rate-limit-store.js';
import type { BucketSpec, RateLimitStore, TakeResult } from '../src/limits/rate-limit-store.js';
import { onCleanup } from './helpers/cleanup.js';
import { FakeClock } from './helpers/fake-clock.js';
import { testRedis } from './helpers/redis.js';
import { sharedClusterNodes } from './helpers/redis-cluster.js';
import { startRedisProxy, startRedisServer } from './helpers/redis-server.js';

/** 10 per minute: one unit per 6 s, so the real time a Redis test takes never refills a whole unit. */
const perMinute = (key: string, capacity = 10): BucketSpec => ({ key, capacity, refillPerMs: capacity / 60_000 });

interface StoreHarness {
  store: RateLimitStore;
  /** Moves the store's time forward (memory: the fake clock; Redis: shifts the stored timestamps back). */
  advance(ms: number): Promise<void>;
}

const harnesses: Array<[string, () => Promise<StoreHarness>]> = [
  [
    'MemoryRateLimitStore',
    () => {
      const clock = new FakeClock();
      return Promise.resolve({ store: new MemoryRateLimitStore({ clock }), advance: (ms) => clock.advance(ms) });
    },
  ],
  ['RedisRateLimitStore', async () => redisHarness(await testRedis())],
  ['RedisRateLimitStore on a Redis Cluster', async () => redisHarness(await testRedis({ nodes: await sharedClusterNodes() }))],
];

function redisHarness(connection: RedisConnection): StoreHarness {
  return {
    store: new RedisRateLimitStore({ connection, commandTimeoutMs: 2_000 }),
    async advance(ms) {
      for await (const keys of connection.scan(`${connection.keyPrefix}*`)) {
        for (const key of keys) {
          const stamp = await connection.call(key, ['HGET', key, 't']);
          if (stamp !== null) await connection.call(key, ['HSET', key, 't', String(Number(stamp) - ms)]);
        }
      }
    },
  };
}

describe.each(harnesses)('%s (shared store suite)', (_name, makeHarness) => {
  it('takes from a full bucket and reports remaining and reset', async () => {
    const { store } = await makeHarness();
    const result = await store.take([perMinute('{a}:rpm')], [3]);
    expect(result).toMatchObject({ allowed: true, remaining: [7], retryAfterMs: 0 });
    expect(result.failedBucket).toBeUndefined();
    expect(result.resetMs[0]).toBeGreaterThan(17_900);
    expect(result.resetMs[0]).toBeLessThanOrEqual(18_000);
  });

  it('denies all-or-nothing: a denial consumes nothing from any bucket', async () => {
    const { store } = await makeHarness();
    const buckets = [perMinute('{a}:rpm'), perMinute('{a}:tpm', 100)];
    await store.take(buckets, [1, 95]);
    const denied = await store.take(buckets, [1, 10]);
    expect(denied).toMatchObject({ allowed: false, failedBucket: 1, remaining: [9, 5] });
    const peek = await store.take(buckets, [0, 0]);
    expect(peek).toMatchObject({ allowed: true, remaining: [9, 5] });
  });

  it('reports the first failing bucket and the wait until every bucket can serve', async () => {
    const { store } = await makeHarness();
    const buckets = [perMinute('{a}:rpm', 1), perMinute('{a}:tpm', 100)];
    await store.take(buckets, [1, 100]);
    const denied = await store.take(buckets, [1, 50]);
    expect(denied.failedBucket).toBe(0);
    // tokens: 50 at 100/min = 30 s; requests: 1 at 1/min = 60 s — the longer wait wins.
    expect(denied.retryAfterMs).toBeGreaterThan(59_900);
    expect(denied.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('refills over time and never above capacity', async () => {
    const harness = await makeHarness();
    const bucket = perMinute('{a}:rpm');
    await harness.store.take([bucket], [10]);
    expect((await harness.store.take([bucket], [1])).allowed).toBe(false);
    await harness.advance(12_000);
    expect(await harness.store.take([bucket], [2])).toMatchObject({ allowed: true, remaining: [0] });
    await harness.advance(10 * 60_000);
    expect(await harness.store.take([bucket], [0])).toMatchObject({ remaining: [10], resetMs: [0] });
  });

  it('denies with an infinite wait when the amount exceeds the capacity', async () => {
    const { store } = await makeHarness();
    const result = await store.take([perMinute('{a}:tpm', 100)], [101]);
    expect(result).toMatchObject({ allowed: false, failedBucket: 0, retryAfterMs: Infinity, remaining: [100] });
  });

  it('refunds up to capacity and charges into debt down to -capacity', async () => {
    const harness = await makeHarness();
    const bucket = perMinute('{a}:tpm', 100);
    await harness.store.take([bucket], [60]);
    await harness.store.give([bucket], [25]);
    expect((await harness.store.take([bucket], [0])).remaining).toEqual([65]);
    await harness.store.give([bucket], [1_000]);
    expect((await harness.store.take([bucket], [0])).remaining).toEqual([100]);
    await harness.store.give([bucket], [-150]);
    const inDebt = await harness.store.take([bucket], [1]);
    expect(inDebt).toMatchObject({ allowed: false, remaining: [0] });
    // -50 needs 51 tokens (30.6 s at 100/min) before 1 fits.
    expect(inDebt.retryAfterMs).toBeGreaterThan(30_500);
    expect(inDebt.retryAfterMs).toBeLessThanOrEqual(30_600);
    await harness.store.give([bucket], [-1_000]);
    expect((await harness.store.take([bucket], [0])).resetMs[0]).toBeLessThanOrEqual(120_000);
  });

  it('keeps buckets with different keys independent', async () => {
    const { store } = await makeHarness();
    await store.take([perMinute('{a}:rpm')], [10]);
    expect((await store.take([perMinute('{b}:rpm')], [10])).allowed).toBe(true);
  });

  it('rejects mismatched arguments and invalid specs', async () => {
    const { store } = await makeHarness();
    await expect(store.take([perMinute('{a}:rpm')], [1, 2])).rejects.toThrow(RangeError);
    await expect(store.take([{ key: '{a}:x', capacity: 0, refillPerMs: 1 }], [1])).rejects.toThrow('capacity of {a}:x should be a positive number, got 0');
    await expect(store.take([perMinute('{a}:rpm')], [-1])).rejects.toThrow(RangeError);
  });
});

describe('MemoryRateLimitStore', () => {
  it('stays bounded by evicting full buckets first, then the least recently used', async () => {
    const clock = new FakeClock();
    const store = new MemoryRateLimitStore({ clock, maxBuckets: 10 });
    for (let i = 0; i < 10; i++) await store.take([perMinute(`{old${i}}:rpm`)], [1]);
    await clock.advance(60_000);
    for (let i = 0; i < 25; i++) await store.take([perMinute(`{new${i}}:rpm`)], [1]);
    expect(store.size()).toBeLessThanOrEqual(10);
    expect((await store.take([perMinute('{new24}:rpm')], [0])).remaining).toEqual([9]);
  });
});

describe('RedisRateLimitStore', () => {
  it('writes keys under one hash tag that expire when the bucket is full again', async () => {
    const connection = await testRedis();
    const store = new RedisRateLimitStore({ connection, commandTimeoutMs: 2_000 });
    await store.take([perMinute('{agent:x}:rpm'), perMinute('{agent:x}:tpm', 1_000)], [1, 500]);
    const rpmKey = `${connection.keyPrefix}{agent:x}:rpm`;
    const tpmKey = `${connection.keyPrefix}{agent:x}:tpm`;
    const rpmTtl = Number(await connection.call(rpmKey, ['PTTL', rpmKey]));
    const tpmTtl = Number(await connection.call(tpmKey, ['PTTL', tpmKey]));
    expect(rpmTtl).toBeGreaterThan(5_000);
    expect(rpmTtl).toBeLessThanOrEqual(6_001);
    expect(tpmTtl).toBeGreaterThan(29_000);
    expect(tpmTtl).toBeLessThanOrEqual(30_001);
  });

  it('reloads its script after SCRIPT FLUSH (a NOSCRIPT reply proves it did not run)', async () => {
    const server = await startRedisServer();
    const connection = await connect(server.url, 'l04:');
    const store = new RedisRateLimitStore({ connection });
    await store.take([perMinute('{a}:rpm')], [1]);
    await connection.call(undefined, ['SCRIPT', 'FLUSH']);
    expect(await store.take([perMinute('{a}:rpm')], [1])).toMatchObject({ allowed: true, remaining: [8] });
  });

  it('rejects with E4405 at once while the connection is not ready', async () => {
    const server = await startRedisServer();
    const connection = await connect(server.url, 'l04:');
    await server.stop();
    await vi.waitFor(() => expect(connection.isReady()).toBe(false));
    await expect(new RedisRateLimitStore({ connection }).take([perMinute('{a}:rpm')], [1])).rejects.toMatchObject({ code: 'E4405' });
  });
});

function config(overrides: Partial<RateLimitsConfig> = {}): RateLimitsConfig {
  return { ...RateLimitsConfigSchema.parse({}), ...overrides };
}

function memoryLimiter(overrides: Partial<RateLimitsConfig> = {}): { limiter: RateLimiter; clock: FakeClock; store: MemoryRateLimitStore } {
  const clock = new FakeClock();
  const store = new MemoryRateLimitStore({ clock });
  return { limiter: new RateLimiter({ store, fallback: store, config: config(overrides), clock }), clock, store };
}

function denied(admission: AgentAdmission): Extract<AgentAdmission, { allowed: false }> {
  if (admission.allowed) throw new Error('expected a denial');
  return admission;
}

function admitted(admission: AgentAdmission): Extract<AgentAdmission, { allowed: true }> {
  if (!admission.allowed) throw new Error(`expected an admission, got ${admission.error.code}`);
  return admission;
}

describe('RateLimiter', () => {
  it('admits up to the agent rpm, then denies with E4400, Retry-After and rate-limit headers', async () => {
    const { limiter } = memoryLimiter({ agent_default: { rpm: 3, tpm: 1_000 } });
    for (let i = 0; i < 3; i++) admitted(await limiter.admitAgent('did:a', 10));
    const { error, info } = denied(await limiter.admitAgent('did:a', 10));
    expect(error.code).toBe('E4400');
    expect(error.httpStatus).toBe(429);
    expect(error.retryAfterMs).toBe(20_000);
    expect(info).toEqual({ limitRequests: 3, remainingRequests: 0, resetRequestsMs: 60_000, limitTokens: 1_000, remainingTokens: 970, resetTokensMs: 1_800 });
    expect(error.headers).toEqual({
      'x-ratelimit-limit-requests': '3',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '1m0s',
      'x-ratelimit-limit-tokens': '1000',
      'x-ratelimit-remaining-tokens': '970',
      'x-ratelimit-reset-tokens': '1.8s',
    });
  });

  it('denies with E4401 when the token estimate does not fit, consuming nothing', async () => {
    const { limiter } = memoryLimiter({ agent_default: { rpm: 10, tpm: 1_000 } });
    admitted(await limiter.admitAgent('did:a', 800));
    const { error, info } = denied(await limiter.admitAgent('did:a', 300));
    expect(error.code).toBe('E4401');
    expect(error.retryAfterMs).toBe(6_000);
    expect(info.remainingRequests).toBe(9);
    expect(admitted(await limiter.admitAgent('did:a', 200)).info.remainingTokens).toBe(0);
  });

  it('denies at once with E4401 and says so when one estimate exceeds the tpm limit', async () => {
    const { limiter } = memoryLimiter({ agent_default: { rpm: 10, tpm: 1_000 } });
    const { error, info } = denied(await limiter.admitAgent('did:a', 1_001));
    expect(error.code).toBe('E4401');
    expect(error.message).toContain('can never be admitted');
    expect(error.retryAfterMs).toBeUndefined();
    expect(info.remainingRequests).toBe(10);
  });

  it('settles to actual usage: refunds the difference or charges the excess, once', async () => {
    const { limiter } = memoryLimiter({ agent_default: { rpm: 10, tpm: 1_000 } });
    const first = admitted(await limiter.admitAgent('did:a', 400));
    await first.reservation.settle(150);
    await first.reservation.settle(0);
    await first.reservation.release();
    const second = admitted(await limiter.admitAgent('did:a', 100));
    expect(second.info.remainingTokens).toBe(750);
    await second.reservation.settle(300);
    expect(admitted(await limiter.admitAgent('did:a', 0)).info.remainingTokens).toBe(550);
  });

  it('gives the token reservation back on release, keeping the request counted', async () => {
    const { limiter } = memoryLimiter({ agent_default: { rpm: 10, tpm: 1_000 } });
    const admission = admitted(await limiter.admitAgent('did:a', 400));
    await admission.reservation.release();
    expect(admitted(await limiter.admitAgent('did:a', 0)).info).toMatchObject({ remainingTokens: 1_000, remainingRequests: 8 });
  });

  it('applies per-agent overrides from config and per call', async () => {
    const { limiter } = memoryLimiter({ agents: { 'did:vip': { rpm: 2, tpm: 50 } } });
    expect(admitted(await limiter.admitAgent('did:vip', 5)).info).toMatchObject({ limitRequests: 2, limitTokens: 50 });
    expect(admitted(await limiter.admitAgent('did:other', 5)).info).toMatchObject({ limitRequests: 60, limitTokens: 100_000 });
    expect(admitted(await limiter.admitAgent('did:key', 5, { rpm: 7 })).info).toMatchObject({ limitRequests: 7, limitTokens: 100_000 });
  });

  it('keeps agents with hash-tag characters in their DID apart', async () => {
    expect(escapeBucketId('a}b{%')).toBe('a%7Db%7B%25');
    const { limiter } = memoryLimiter({ agent_default: { rpm: 1, tpm: 100 } });
    admitted(await limiter.admitAgent('did:{x}', 1));
    admitted(await limiter.admitAgent('did:%7Bx%7D', 1));
  });

  it('enforces provider rpm and tpm with settle-to-actual', async () => {
    const { limiter, clock } = memoryLimiter();
    expect((await limiter.takeProvider('p', {}, 1e9)).allowed).toBe(true);
    const first = await limiter.takeProvider('p', { rpm: 2, tpm: 100 }, 80);
    if (!first.allowed) throw new Error('expected allowed');
    expect(await limiter.takeProvider('p', { rpm: 2, tpm: 100 }, 30)).toEqual({ allowed: false, retryAfterMs: 6_000 });
    await first.reservation.settle(50);
    expect((await limiter.takeProvider('p', { rpm: 2, tpm: 100 }, 30)).allowed).toBe(true);
    expect(await limiter.takeProvider('p', { rpm: 2, tpm: 100 }, 0)).toEqual({ allowed: false, retryAfterMs: 30_000 });
    expect(await limiter.takeProvider('p', { tpm: 100 }, 101)).toEqual({ allowed: false, retryAfterMs: Infinity });
    await clock.advance(30_000);
    expect((await limiter.takeProvider('p', { rpm: 2, tpm: 100 }, 0)).allowed).toBe(true);
  });

  it('formats resets like OpenAI', () => {
    expect([0, 250, 1_000, 1_500, 60_000, 90_500, 360_000, 3_600_000].map(formatRateLimitDuration)).toEqual([
      '0s',
      '250ms',
      '1s',
      '1.5s',
      '1m0s',
      '1m30.5s',
      '6m0s',
      '1h0m0s',
    ]);
    expect(
      rateLimitHeaders({ limitRequests: 1, remainingRequests: -3, resetRequestsMs: 1, limitTokens: 2, remainingTokens: 2, resetTokensMs: 0 }),
    ).toMatchObject({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1ms' });
  });
});

/** A primary store that can fail on demand, optionally after charging (a reply lost mid-command). */
class FlakyStore implements RateLimitStore {
  calls = 0;
  mode: 'ok' | 'fail' | 'charge-then-fail' = 'ok';
  constructor(readonly inner: RateLimitStore) {}
  async take(buckets: BucketSpec[], amounts: number[]): Promise<TakeResult> {
    this.calls++;
    if (this.mode === 'fail') throw new Error('connection lost');
    const result = await this.inner.take(buckets, amounts);
    if (this.mode === 'charge-then-fail') throw new Error('socket closed before the reply');
    return result;
  }
  async give(buckets: BucketSpec[], amounts: number[]): Promise<void> {
    if (this.mode !== 'ok') throw new Error('connection lost');
    await this.inner.give(buckets, amounts);
  }
}

describe('RateLimiter with an unavailable primary', () => {
  function setup(failureMode: 'open' | 'closed' = 'open', ready = { value: true }) {
    const clock = new FakeClock();
    const primary = new FlakyStore(new MemoryRateLimitStore({ clock }));
    const fallback = new MemoryRateLimitStore({ clock });
    const modes: string[] = [];
    const limiter = new RateLimiter({
      store: primary,
      fallback,
      clock,
      isPrimaryReady: () => ready.value,
      onModeChange: (mode) => modes.push(mode),
      config: config({ agent_default: { rpm: 5, tpm: 1_000 }, failure_mode: failureMode }),
    });
    return { clock, primary, fallback, modes, limiter, ready };
  }

  it('decides with the fallback while the primary is not ready, without calling it', async () => {
    const { limiter, primary, modes, ready } = setup('open', { value: false });
    const admission = admitted(await limiter.admitAgent('did:a', 10));
    expect(admission.degraded).toBe(true);
    expect(primary.calls).toBe(0);
    ready.value = true;
    expect(admitted(await limiter.admitAgent('did:a', 10)).degraded).toBe(false);
    expect(modes).toEqual(['fallback', 'primary']);
  });

  it('does not re-send a command that may have run, and skips the primary until the retry time', async () => {
    const { limiter, primary, modes, clock } = setup();
    primary.mode = 'charge-then-fail';
    expect(admitted(await limiter.admitAgent('did:a', 10)).degraded).toBe(true);
    expect(primary.calls).toBe(1);
    for (let i = 0; i < 3; i++) await limiter.admitAgent('did:a', 10);
    expect(primary.calls).toBe(1);
    primary.mode = 'ok';
    await clock.advance(1_000);
    const resumed = admitted(await limiter.admitAgent('did:a', 10));
    expect(resumed).toMatchObject({ degraded: false, info: { remainingRequests: 3 } });
    expect(modes).toEqual(['fallback', 'primary']);
  });

  it('refuses with E4405 when failure_mode is closed', async () => {
    const { limiter, primary } = setup('closed');
    primary.mode = 'fail';
    const { error } = denied(await limiter.admitAgent('did:a', 10));
    expect(error).toMatchObject({ code: 'E4405', httpStatus: 503, retryAfterMs: 1_000 });
    expect(await limiter.takeProvider('p', { rpm: 1 }, 1)).toEqual({ allowed: false, retryAfterMs: 1_000 });
  });

  it('drops a settlement the primary cannot take, without throwing and without leaving the primary', async () => {
    const { limiter, primary, modes } = setup();
    const admission = admitted(await limiter.admitAgent('did:a', 500));
    primary.mode = 'fail';
    await expect(admission.reservation.settle(10)).resolves.toBeUndefined();
    primary.mode = 'ok';
    // A lost refund decides no request: the next decision still goes to the primary.
    expect(admitted(await limiter.admitAgent('did:a', 10)).degraded).toBe(false);
    expect(primary.calls).toBe(2);
    expect(modes).toEqual([]);
  });

  it('with failure_mode closed, refuses only the request whose decision failed and asks the primary again for the next', async () => {
    const { limiter, primary, ready } = setup('closed');
    primary.mode = 'charge-then-fail';
    expect(denied(await limiter.admitAgent('did:a', 10)).error.code).toBe('E4405');
    primary.mode = 'ok';
    // No clock advance: the next request is decided by the primary at once (the lost reply had charged 1).
    expect(admitted(await limiter.admitAgent('did:a', 10))).toMatchObject({ degraded: false, info: { remainingRequests: 3 } });
    expect(primary.calls).toBe(2);
    // While the connection is down, every request is refused without asking.
    ready.value = false;
    expect(denied(await limiter.admitAgent('did:a', 10)).error.code).toBe('E4405');
    expect(primary.calls).toBe(2);
  });
});

async function connect(url: string, keyPrefix: string, commandTimeoutMs = 50): Promise<RedisConnection> {
  const connection = new RedisConnection({ url, keyPrefix, commandTimeoutMs });
  onCleanup(() => connection.close());
  if (!(await connection.connect())) throw new Error(`no Redis at ${url}`);
  return connection;
}

/** Two gateways: two limiters over two separate connections to the shared Redis, one key prefix. */
async function twoLimiters(rate: { rpm: number; tpm: number }, windowMs?: number): Promise<RateLimiter[]> {
  const first = await testRedis();
  const second = await connect(process.env.L04_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', first.keyPrefix, 1_000);
  return [first, second].map((connection) => {
    const clock = new FakeClock();
    return new RateLimiter({
      store: new RedisRateLimitStore({ connection, commandTimeoutMs: 2_000 }),
      fallback: new MemoryRateLimitStore({ clock }),
      isPrimaryReady: () => connection.isReady(),
      config: config({ agent_default: rate }),
      clock,
      ...(windowMs ? { windowMs } : {}),
    });
  });
}

describe('RateLimiter on the shared Redis (two gateways)', () => {
  it('admits exactly N of 4N concurrent requests across both gateways, in repeated runs', async () => {
    const N = 25;
    const limiters = await twoLimiters({ rpm: N, tpm: 1_000_000 });
    for (let run = 0; run < 5; run++) {
      const results = await Promise.all(Array.from({ length: 4 * N }, (_, i) => limiters[i % 2]!.admitAgent(`did:run${run}`, 10)));
      expect(results.filter((result) => result.allowed && !result.degraded)).toHaveLength(N);
      expect(results.filter((result) => !result.allowed).map((result) => !result.allowed && result.error.code)).toEqual(Array(3 * N).fill('E4400'));
    }
  });

  it('admits exactly the token budget and settles to actual usage to the token', async () => {
    // A 1,000-hour window: refill during the test stays far below one token, so counts are exact.
    const limiters = await twoLimiters({ rpm: 1_000, tpm: 1_000 }, 3_600_000_000);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => limiters[i % 2]!.admitAgent('did:tok', 100)));
    const allowed = results.filter((result) => result.allowed);
    expect(allowed).toHaveLength(10);
    expect(results.filter((result) => !result.allowed && result.error.code === 'E4401')).toHaveLength(30);
    await Promise.all(allowed.map((result, i) => result.allowed && result.reservation.settle(30 + i)));
    // Used 30 + 31 + … + 39 = 345 tokens.
    expect(admitted(await limiters[1]!.admitAgent('did:tok', 0)).info.remainingTokens).toBe(655);
    expect(admitted(await limiters[0]!.admitAgent('did:tok', 655)).info.remainingTokens).toBe(0);
    expect(denied(await limiters[1]!.admitAgent('did:tok', 1)).error.code).toBe('E4401');
  });
});

describe('RateLimiter when its Redis fails (private redis-server)', () => {
  async function setup(url: string, commandTimeoutMs = 50) {
    const connection = await connect(url, 'l04:', commandTimeoutMs);
    const clock = new FakeClock();
    const modes: string[] = [];
    const limiter = new RateLimiter({
      store: new RedisRateLimitStore({ connection, commandTimeoutMs }),
      fallback: new MemoryRateLimitStore({ clock }),
      isPrimaryReady: () => connection.isReady(),
      onModeChange: (mode) => modes.push(mode),
      config: config({ agent_default: { rpm: 5, tpm: 10_000 } }),
      clock,
    });
    return { connection, clock, modes, limiter };
  }

  async function timed(limiter: RateLimiter): Promise<{ admission: AgentAdmission; ms: number }> {
    const started = performance.now();
    const admission = await limiter.admitAgent('did:a', 10);
    return { admission, ms: performance.now() - started };
  }

  it('falls back within milliseconds when Redis stops, and resumes Redis decisions after restart', async () => {
    const server = await startRedisServer();
    const { connection, modes, limiter } = await setup(server.url);
    expect(admitted((await timed(limiter)).admission).degraded).toBe(false);
    await server.stop();
    const during = await Promise.all(Array.from({ length: 6 }, () => timed(limiter)));
    // Nothing hangs: each decision is bounded by the 50 ms command timeout plus scheduling slack.
    expect(Math.max(...during.map((result) => result.ms))).toBeLessThan(1_000);
    expect(during.filter((result) => result.admission.allowed && result.admission.degraded)).toHaveLength(5);
    expect(denied(during[5]!.admission).error.code).toBe('E4400');
    await server.start();
    await vi.waitFor(() => expect(connection.isReady()).toBe(true), { timeout: 5_000, interval: 10 });
    const resumed = admitted((await timed(limiter)).admission);
    // The restarted Redis is empty: its buckets are full again.
    expect(resumed).toMatchObject({ degraded: false, info: { remainingRequests: 4 } });
    expect(modes).toEqual(['fallback', 'primary']);
  });

  it('falls back on a slow Redis (command timeout) and returns to it after the retry time', async () => {
    const server = await startRedisServer();
    const { connection, clock, modes, limiter } = await setup(server.url);
    const blocker = await connect(server.url, 'l04:', 2_000);
    // Writes (scripts included) from every client stall until UNPAUSE: a slow Redis, still connected.
    await blocker.call(undefined, ['CLIENT', 'PAUSE', '5000', 'WRITE']);
    const slow = await timed(limiter);
    expect(admitted(slow.admission).degraded).toBe(true);
    expect(slow.ms).toBeLessThan(1_000);
    await blocker.call(undefined, ['CLIENT', 'UNPAUSE']);
    expect(connection.isReady()).toBe(true);
    expect(admitted(await limiter.admitAgent('did:a', 10)).degraded).toBe(true);
    await clock.advance(1_000);
    expect(admitted(await limiter.admitAgent('did:a', 10)).degraded).toBe(false);
    expect(modes).toEqual(['fallback', 'primary']);
  });

  it('never re-sends a decision whose reply was lost mid-command (no double charge)', async () => {
    const server = await startRedisServer();
    const proxy = await startRedisProxy(server.port);
    const { connection, limiter } = await setup(proxy.url, 1_000);
    const direct = await connect(server.url, 'l04:', 1_000);
    const rpmKey = `l04:{agent:did:a}:rpm`;
    await limiter.admitAgent('did:warm-up', 0); // loads the script: the cut must hit the decision itself
    proxy.cutNextReply();
    expect(admitted((await timed(limiter)).admission).degraded).toBe(true);
    // The script ran exactly once on Redis even though its reply never arrived.
    expect(Math.round(Number(await direct.call(rpmKey, ['HGET', rpmKey, 'l'])))).toBe(4);
    await vi.waitFor(() => expect(connection.isReady()).toBe(true), { timeout: 5_000, interval: 10 });
    expect(admitted(await limiter.admitAgent('did:a', 10)).info.remainingRequests).toBe(3);
  });
});
