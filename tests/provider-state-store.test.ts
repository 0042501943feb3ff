/**
 * One suite for every `ProviderStateStore`: the memory store and the Redis store (on the real Redis,
 * in a fresh key prefix) must implement the same transitions. Times are passed in, as the stores
 * take them from their callers' clocks.
 */
import { describe, expect, it } from 'vitest';
import type { ProviderHealth } from '../src/models/provider-config.js';
import { MemoryProviderStateStore } from '../src/resilience/memory-provider-state-store.js';
import { RedisProviderStateStore } from '../src/resilience/redis-provider-state-store.js';
import type { BreakerPolicy, CircuitRecord, ProviderStateStore } from '../src/resilience/provider-state-store.js';
import { testRedis } from './helpers/redis.js';

const POLICY: BreakerPolicy = { failureThreshold: 3, cooldownMs: 10_000, probeTimeoutMs: 2_000 };
const T0 = 1_700_000_000_000;

const stores: Array<[string, () => Promise<ProviderStateStore>]> = [
  ['MemoryProviderStateStore', () => Promise.resolve(new MemoryProviderStateStore(POLICY))],
  ['RedisProviderStateStore', async () => new RedisProviderStateStore({ connection: await testRedis(), policy: POLICY })],
];

async function openCircuit(store: ProviderStateStore, provider = 'p', now = T0): Promise<CircuitRecord> {
  let record = await store.read(provider);
  for (let index = 0; index < POLICY.failureThreshold; index++) record = await store.recordFailure(provider, record.generation, now);
  return record;
}

function health(status: ProviderHealth['status'], checkedAt: number): ProviderHealth {
  return { provider: 'p', status, checked_at: checkedAt, latency_ms: 12, message: status === 'healthy' ? undefined : 'connection refused' } as ProviderHealth;
}

describe.each(stores)('%s', (_name, create) => {
  it('reads a provider it has never seen as closed, without failures or cool-down', async () => {
    const store = await create();
    expect(await store.read('never')).toEqual({ state: 'closed', generation: 0, failures: 0, coolUntil: 0 });
  });

  it('counts consecutive failures and opens at the threshold for one cooldown', async () => {
    const store = await create();
    expect(await store.recordFailure('p', 0, T0)).toEqual({ state: 'closed', generation: 0, failures: 1, coolUntil: 0 });
    await store.recordFailure('p', 0, T0 + 1);
    expect(await store.recordFailure('p', 0, T0 + 2)).toEqual({
      state: 'open',
      generation: 1,
      openedAt: T0 + 2,
      halfOpenAt: T0 + 2 + POLICY.cooldownMs,
      probe: undefined,
      coolUntil: 0,
    });
    expect(await store.read('p')).toMatchObject({ state: 'open', generation: 1 });
    expect(await store.read('other')).toMatchObject({ state: 'closed', failures: 0 });
  });

  it('ignores failures and successes reported under an earlier generation', async () => {
    const store = await create();
    const opened = await openCircuit(store);
    expect(await store.recordFailure('p', 0, T0 + 5)).toEqual(opened);
    expect(await store.recordSuccess('p', 0)).toEqual(opened);
  });

  it('starts the count again after a success', async () => {
    const store = await create();
    await store.recordFailure('p', 0, T0);
    await store.recordFailure('p', 0, T0);
    expect(await store.recordSuccess('p', 0)).toMatchObject({ state: 'closed', failures: 0 });
    expect(await store.recordFailure('p', 0, T0)).toMatchObject({ state: 'closed', failures: 1 });
  });

  it('elects one probe once half-open, and another only after the first expires', async () => {
    const store = await create();
    const opened = await openCircuit(store);
    if (opened.state !== 'open') throw new Error('expected an open circuit');
    expect((await store.claimProbe('p', 'a:1', opened.halfOpenAt - 1)).granted).toBe(false);
    const claims = await Promise.all(['a:1', 'b:1', 'c:1', 'd:1'].map((owner) => Promise.resolve(store.claimProbe('p', owner, opened.halfOpenAt))));
    expect(claims.filter((claim) => claim.granted)).toHaveLength(1);
    expect(claims[0]).toMatchObject({ granted: true, record: { probe: { owner: 'a:1', until: opened.halfOpenAt + POLICY.probeTimeoutMs } } });
    expect((await store.claimProbe('p', 'b:2', opened.halfOpenAt + POLICY.probeTimeoutMs - 1)).granted).toBe(false);
    expect((await store.claimProbe('p', 'b:2', opened.halfOpenAt + POLICY.probeTimeoutMs)).granted).toBe(true);
  });

  it('closes on the probe success and reopens for a full cooldown on its failure', async () => {
    const store = await create();
    const opened = await openCircuit(store);
    if (opened.state !== 'open') throw new Error('expected an open circuit');
    const at = opened.halfOpenAt;
    await store.claimProbe('p', 'a:1', at);
    expect(await store.settleProbe('p', 'intruder', 'success', at + 1)).toMatchObject({ state: 'open', probe: { owner: 'a:1' } });
    expect(await store.settleProbe('p', 'a:1', 'failure', at + 5)).toEqual({
      state: 'open',
      generation: opened.generation + 1,
      openedAt: at + 5,
      halfOpenAt: at + 5 + POLICY.cooldownMs,
      probe: undefined,
      coolUntil: 0,
    });
    await store.claimProbe('p', 'a:2', at + 5 + POLICY.cooldownMs);
    expect(await store.settleProbe('p', 'a:2', 'success', at + 6 + POLICY.cooldownMs)).toEqual({
      state: 'closed',
      generation: opened.generation + 2,
      failures: 0,
      coolUntil: 0,
    });
  });

  it('lets another caller probe after a probe is released', async () => {
    const store = await create();
    const opened = await openCircuit(store);
    if (opened.state !== 'open') throw new Error('expected an open circuit');
    await store.claimProbe('p', 'a:1', opened.halfOpenAt);
    expect(await store.settleProbe('p', 'a:1', 'release', opened.halfOpenAt)).toMatchObject({ state: 'open', probe: undefined, generation: opened.generation });
    expect((await store.claimProbe('p', 'b:1', opened.halfOpenAt)).granted).toBe(true);
  });

  it('brings the half-open moment of an open circuit forward, never back, and only for its generation', async () => {
    const store = await create();
    const opened = await openCircuit(store);
    if (opened.state !== 'open') throw new Error('expected an open circuit');
    expect(await store.halfOpenBy('p', opened.generation - 1, T0 + 1)).toMatchObject({ halfOpenAt: opened.halfOpenAt });
    expect(await store.halfOpenBy('p', opened.generation, opened.halfOpenAt + 1)).toMatchObject({ halfOpenAt: opened.halfOpenAt });
    expect(await store.halfOpenBy('p', opened.generation, T0 + 1_000)).toMatchObject({ halfOpenAt: T0 + 1_000 });
    expect((await store.claimProbe('p', 'a:1', T0 + 1_000)).granted).toBe(true);
  });

  it('extends a cool-down but never shortens it, whatever the circuit does', async () => {
    const store = await create();
    expect(await store.coolDown('p', T0 + 5_000)).toMatchObject({ state: 'closed', coolUntil: T0 + 5_000 });
    expect(await store.coolDown('p', T0 + 1_000)).toMatchObject({ coolUntil: T0 + 5_000 });
    expect(await openCircuit(store)).toMatchObject({ state: 'open', coolUntil: T0 + 5_000 });
    expect(await store.coolDown('p', T0 + 8_000)).toMatchObject({ state: 'open', coolUntil: T0 + 8_000 });
  });

  it('leases a check to one owner at a time, who renews it, and shares the last result with everyone', async () => {
    const store = await create();
    expect(await store.claimCheck('p', 'periodic', 'a', T0, 1_000)).toEqual({ claimed: true, last: undefined });
    await store.saveCheck('p', health('unhealthy', T0), 60_000);
    expect(await store.claimCheck('p', 'periodic', 'b', T0 + 500, 1_000)).toEqual({ claimed: false, last: health('unhealthy', T0) });
    expect((await store.claimCheck('p', 'recovery', 'b', T0 + 500, 1_000)).claimed).toBe(true);
    expect((await store.claimCheck('p', 'periodic', 'a', T0 + 900, 1_000)).claimed).toBe(true);
    expect((await store.claimCheck('p', 'periodic', 'b', T0 + 1_500, 1_000)).claimed).toBe(false);
    expect((await store.claimCheck('p', 'periodic', 'b', T0 + 1_900, 1_000)).claimed).toBe(true);
    expect((await store.claimCheck('other', 'periodic', 'b', T0, 1_000)).claimed).toBe(true);
  });
});

describe('RedisProviderStateStore', () => {
  it("keeps a provider's keys under one hash tag, and rejects at once while Redis is not connected", async () => {
    const connection = await testRedis();
    const store = new RedisProviderStateStore({ connection, policy: POLICY });
    expect(store.circuitKey('openai-eu')).toBe(`${connection.keyPrefix}{breaker:openai-eu}`);
    await store.claimCheck('openai-eu', 'periodic', 'a', T0, 1_000);
    const keys: string[] = [];
    for await (const batch of connection.scan(`${connection.keyPrefix}*`)) keys.push(...batch);
    expect(keys.sort()).toEqual([`${connection.keyPrefix}{health:openai-eu}:lease:periodic`]);
    await connection.close();
    await expect(Promise.resolve().then(() => store.read('p'))).rejects.toThrow(/not connected/);
  });

  it('ignores a check result another instance wrote that does not parse', async () => {
    const connection = await testRedis();
    const store = new RedisProviderStateStore({ connection, policy: POLICY });
    const key = `${connection.keyPrefix}{health:p}:check`;
    await connection.call(key, ['SET', key, '{"provider":"p","status":"splendid"}']);
    expect(await store.claimCheck('p', 'periodic', 'a', T0, 1_000)).toEqual({ claimed: true, last: undefined });
  });
});
