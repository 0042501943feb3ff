import { describe, expect, it } from 'vitest';
import { GatewayError, toOpenAIError } from '../src/models/error-codes.js';
import type { Principal } from '../src/server/auth.js';
import { SpendTracker, msUntilUtcMidnight, utcDay } from '../src/limits/spend-tracker.js';
import { MemorySpendStore } from '../src/limits/memory-spend-store.js';
import { SPEND_KEY_TTL_S, RedisSpendStore } from '../src/limits/redis-spend-store.js';
import type { SpendStore } from '../src/limits/spend-store.js';
import { FakeClock, flushMicrotasks } from './helpers/fake-clock.js';
import { testRedis } from './helpers/redis.js';
import { sharedClusterNodes } from './helpers/redis-cluster.js';

// 2026-01-15 18:00:00 UTC: six hours before the day rolls over.
const START = Date.UTC(2026, 0, 15, 18, 0, 0);
const SIX_HOURS_MS = 6 * 60 * 60 * 1000;

const budgeted: Principal = { agent_did: 'did:l04:a', tenant: 'acme', key_id: '0123456789ab', daily_budget_cents: 100, admin: false };
const unlimited: Principal = { agent_did: 'did:l04:b', tenant: 'acme', key_id: 'ba9876543210', admin: false };

async function rejection(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected a GatewayError');
}

/** A store that counts calls and fails or hangs on command. */
class ScriptedStore implements SpendStore {
  calls = 0;
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  readonly inner = new MemorySpendStore();

  async add(keyId: string, day: string, cents: number): Promise<number> {
    return this.run(() => this.inner.add(keyId, day, cents));
  }

  async get(keyId: string, day: string): Promise<number> {
    return this.run(() => this.inner.get(keyId, day));
  }

  private async run<T>(operation: () => Promise<T>): Promise<T> {
    this.calls++;
    if (this.mode === 'fail') throw new Error('ECONNREFUSED 127.0.0.1:6379');
    if (this.mode === 'hang') return new Promise<T>(() => undefined);
    return operation();
  }
}

const stores: Array<[string, () => Promise<SpendStore>]> = [
  ['MemorySpendStore', async () => new MemorySpendStore()],
  ['RedisSpendStore', async () => new RedisSpendStore({ connection: await testRedis() })],
  ['RedisSpendStore on a Redis Cluster', async () => new RedisSpendStore({ connection: await testRedis({ nodes: await sharedClusterNodes() }) })],
];

describe.each(stores)('%s', (_name, makeStore) => {
  it('adds cents and answers the running total', async () => {
    const store = await makeStore();
    expect(await store.get('k1', '2026-01-15')).toBe(0);
    expect(await store.add('k1', '2026-01-15', 12.5)).toBeCloseTo(12.5);
    expect(await store.add('k1', '2026-01-15', 0.1)).toBeCloseTo(12.6);
    expect(await store.get('k1', '2026-01-15')).toBeCloseTo(12.6);
  });

  it('keeps keys and days apart', async () => {
    const store = await makeStore();
    await store.add('k1', '2026-01-15', 5);
    await store.add('k2', '2026-01-15', 7);
    await store.add('k1', '2026-01-16', 1);
    expect(await store.get('k1', '2026-01-15')).toBe(5);
    expect(await store.get('k2', '2026-01-15')).toBe(7);
    expect(await store.get('k1', '2026-01-16')).toBe(1);
  });
});

describe('MemorySpendStore', () => {
  it('keeps only the newest two days', async () => {
    const store = new MemorySpendStore();
    await store.add('k', '2026-01-14', 1);
    await store.add('k', '2026-01-15', 2);
    await store.add('k', '2026-01-16', 3);
    expect(await store.get('k', '2026-01-14')).toBe(0);
    expect(await store.get('k', '2026-01-15')).toBe(2);
    expect(await store.get('k', '2026-01-16')).toBe(3);
  });

  it('drops days before yesterday by its clock when a new day starts', async () => {
    const clock = new FakeClock(START);
    const store = new MemorySpendStore({ clock });
    await store.add('k', '2026-01-10', 1);
    await store.add('k', '2026-01-15', 2);
    expect(await store.get('k', '2026-01-10')).toBe(0);
    expect(await store.get('k', '2026-01-15')).toBe(2);
  });
});

describe('RedisSpendStore', () => {
  it('writes l04:{spend:<key_id>}:<day> under the connection prefix with a 48 h expiry', async () => {
    const connection = await testRedis();
    const store = new RedisSpendStore({ connection });
    await store.add('0123456789ab', '2026-01-15', 3);
    const key = `${connection.keyPrefix}{spend:0123456789ab}:2026-01-15`;
    expect(store.key('0123456789ab', '2026-01-15')).toBe(key);
    expect(await connection.call(key, ['GET', key])).toBe('3');
    const ttl = Number(await connection.call(key, ['TTL', key]));
    expect(ttl).toBeGreaterThan(SPEND_KEY_TTL_S - 10);
    expect(ttl).toBeLessThanOrEqual(SPEND_KEY_TTL_S);
  });

  it('rejects at once when Redis is not ready', async () => {
    const connection = await testRedis();
    const store = new RedisSpendStore({ connection });
    await connection.close();
    await expect(store.get('k', '2026-01-15')).rejects.toThrow('Redis is not connected');
    await expect(store.add('k', '2026-01-15', 1)).rejects.toThrow('Redis is not connected');
  });
});

describe('SpendTracker', () => {
  it('lets a key spend until its budget is reached, then refuses with E4403 until UTC midnight', async () => {
    const clock = new FakeClock(START);
    const tracker = new SpendTracker({ store: new MemorySpendStore(), clock });
    await tracker.check(budgeted);
    await tracker.add(budgeted, 60);
    await tracker.check(budgeted);
    await tracker.add(budgeted, 40);
    const error = await rejection(tracker.check(budgeted));
    expect(error).toMatchObject({
      code: 'E4403',
      httpStatus: 429,
      retryAfterMs: SIX_HOURS_MS,
      details: { key_id: '0123456789ab', daily_budget_cents: 100, spent_cents: 100 },
    });
    // Retrying cannot help before midnight: clients are told not to retry, and no hours-long Retry-After holds them.
    const rendered = toOpenAIError(error);
    expect(rendered).toMatchObject({ status: 429, headers: { 'x-should-retry': 'false' }, body: { error: { code: 'E4403' } } });
    expect(rendered.headers['retry-after']).toBeUndefined();
  });

  it('starts every UTC day from zero', async () => {
    const clock = new FakeClock(START);
    const tracker = new SpendTracker({ store: new MemorySpendStore(), clock });
    await tracker.add(budgeted, 150);
    await expect(tracker.check(budgeted)).rejects.toThrow(GatewayError);
    await clock.advance(SIX_HOURS_MS);
    await tracker.check(budgeted);
    expect(await tracker.spentToday(budgeted.key_id)).toBe(0);
  });

  it('refuses every request of a zero budget', async () => {
    const tracker = new SpendTracker({ store: new MemorySpendStore(), clock: new FakeClock(START) });
    expect((await rejection(tracker.check({ ...budgeted, daily_budget_cents: 0 }))).code).toBe('E4403');
  });

  it('costs no store traffic for keys without a budget', async () => {
    const store = new ScriptedStore();
    const tracker = new SpendTracker({ store, clock: new FakeClock(START) });
    await tracker.check(unlimited);
    await tracker.add(unlimited, 10_000);
    expect(store.calls).toBe(0);
  });

  it('ignores zero, negative and non-finite charges', async () => {
    const tracker = new SpendTracker({ store: new MemorySpendStore(), clock: new FakeClock(START) });
    for (const cents of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) await tracker.add(budgeted, cents);
    expect(await tracker.spentToday(budgeted.key_id)).toBe(0);
  });

  it('falls back to memory when the store fails and still enforces the budget', async () => {
    const store = new ScriptedStore();
    const errors: unknown[] = [];
    const tracker = new SpendTracker({ store, clock: new FakeClock(START), onStoreError: (error) => errors.push(error) });
    store.mode = 'fail';
    await tracker.add(budgeted, 100);
    expect((await rejection(tracker.check(budgeted))).code).toBe('E4403');
    expect(errors.length).toBe(2);
  });

  it('counts spend charged during an outage after the store recovers', async () => {
    const store = new ScriptedStore();
    const tracker = new SpendTracker({ store, clock: new FakeClock(START) });
    await tracker.add(budgeted, 30);
    store.mode = 'fail';
    await tracker.add(budgeted, 50);
    store.mode = 'ok';
    await tracker.add(budgeted, 20);
    expect(await tracker.spentToday(budgeted.key_id)).toBe(100);
    expect((await rejection(tracker.check(budgeted))).code).toBe('E4403');
  });

  it('answers from the fallback when the store hangs past timeoutMs', async () => {
    const clock = new FakeClock(START);
    const store = new ScriptedStore();
    const tracker = new SpendTracker({ store, clock, timeoutMs: 100 });
    store.mode = 'hang';
    const charged = tracker.add(budgeted, 100);
    await flushMicrotasks();
    await clock.advance(100);
    await charged;
    const checked = rejection(tracker.check(budgeted));
    await flushMicrotasks();
    await clock.advance(100);
    expect((await checked).code).toBe('E4403');
    expect(clock.pending()).toBe(0);
  });

  it('skips the store without trying while isPrimaryReady says no', async () => {
    const store = new ScriptedStore();
    let ready = false;
    const tracker = new SpendTracker({ store, clock: new FakeClock(START), isPrimaryReady: () => ready });
    await tracker.add(budgeted, 40);
    await tracker.check(budgeted);
    expect(store.calls).toBe(0);
    ready = true;
    await tracker.check(budgeted);
    expect(store.calls).toBe(1);
    expect(await tracker.spentToday(budgeted.key_id)).toBe(40);
  });

  it('never throws from add, even when both stores fail', async () => {
    const store = new ScriptedStore();
    const fallback = new ScriptedStore();
    store.mode = 'fail';
    fallback.mode = 'fail';
    const tracker = new SpendTracker({ store, fallback, clock: new FakeClock(START) });
    await expect(tracker.add(budgeted, 5)).resolves.toBeUndefined();
    await expect(tracker.spentToday(budgeted.key_id)).resolves.toBe(0);
  });

  it('shares one total across gateway instances through Redis', async () => {
    const connection = await testRedis();
    const clock = new FakeClock(START);
    const first = new SpendTracker({ store: new RedisSpendStore({ connection }), clock, isPrimaryReady: () => connection.isReady() });
    const second = new SpendTracker({ store: new RedisSpendStore({ connection }), clock, isPrimaryReady: () => connection.isReady() });
    await first.add(budgeted, 70);
    await second.check(budgeted);
    await second.add(budgeted, 30);
    expect((await rejection(first.check(budgeted))).code).toBe('E4403');
    const key = `${connection.keyPrefix}{spend:${budgeted.key_id}}:2026-01-15`;
    expect(await connection.call(key, ['GET', key])).toBe('100');
  });

  it('keeps enforcing in memory when the Redis connection goes away', async () => {
    const connection = await testRedis();
    const tracker = new SpendTracker({ store: new RedisSpendStore({ connection }), clock: new FakeClock(START), isPrimaryReady: () => connection.isReady() });
    await connection.close();
    await tracker.add(budgeted, 100);
    expect((await rejection(tracker.check(budgeted))).code).toBe('E4403');
  });

  it('rejects a non-positive timeout with a message naming what it got', () => {
    expect(() => new SpendTracker({ store: new MemorySpendStore(), clock: new FakeClock(START), timeoutMs: 0 })).toThrow(
      'timeoutMs should be a positive number, got 0',
    );
  });
});

describe('utcDay and msUntilUtcMidnight', () => {
  it('name the UTC day and the time left in it', () => {
    expect(utcDay(START)).toBe('2026-01-15');
    expect(utcDay(Date.UTC(2026, 0, 15, 23, 59, 59, 999))).toBe('2026-01-15');
    expect(msUntilUtcMidnight(START)).toBe(SIX_HOURS_MS);
    expect(msUntilUtcMidnight(Date.UTC(2026, 0, 16))).toBe(86_400_000);
  });
});
