/** The CacheStore contract, run against the memory store and the real Redis. */
import { describe, expect, it } from 'vitest';
import type { CacheEntryInput, CacheStore } from '../src/cache/cache-store.js';
import { MemoryCacheStore } from '../src/cache/memory-cache-store.js';
import { INDEX_REFRESH_MS, RedisCacheStore } from '../src/cache/redis-cache-store.js';
import { testRedis } from './helpers/redis.js';
import { sharedClusterNodes } from './helpers/redis-cluster.js';

const NOW = 1_700_000_000_000;
const TTL_MS = 60_000;

function entry(overrides: Partial<CacheEntryInput> & { exactKey: string }): CacheEntryInput {
  return { partition: 'p1', tenant: 'tenant-a', payload: `payload ${overrides.exactKey}`, createdAt: NOW, expiresAt: NOW + TTL_MS, ...overrides };
}

function vector(buckets: string[], values: number[] = [127, 0, -5]) {
  return { embedderId: 'e1', vector: Int8Array.from(values), guard: '[[],0,[]]', buckets };
}

async function exact(store: CacheStore, partition: string, exactKey: string, now: number): Promise<string | undefined> {
  return (await store.search(partition, { exactKey, buckets: [], limit: 0, now })).exact;
}

async function candidates(store: CacheStore, partition: string, buckets: string[], options: { limit: number; now: number }) {
  return (await store.search(partition, { buckets, ...options })).candidates;
}

const backends: Array<[string, () => Promise<CacheStore>]> = [
  ['MemoryCacheStore', () => Promise.resolve(new MemoryCacheStore())],
  ['RedisCacheStore', async () => new RedisCacheStore({ connection: await testRedis() })],
  ['RedisCacheStore on a Redis Cluster', async () => new RedisCacheStore({ connection: await testRedis({ nodes: await sharedClusterNodes() }) })],
];

describe.each(backends)('%s', (_name, createStore) => {
  it('returns a stored payload by exact key within its partition only', async () => {
    const store = await createStore();
    await store.put(entry({ exactKey: 'k1' }), { maxEntriesPerPartition: 10, now: NOW });
    expect(await exact(store, 'p1', 'k1', NOW)).toBe('payload k1');
    expect(await exact(store, 'p2', 'k1', NOW)).toBeUndefined();
    expect(await exact(store, 'p1', 'k2', NOW)).toBeUndefined();
  });

  it('treats an entry as gone once its expiry passes', async () => {
    const store = await createStore();
    await store.put(entry({ exactKey: 'k1', vector: vector(['b1']) }), { maxEntriesPerPartition: 10, now: NOW });
    expect(await exact(store, 'p1', 'k1', NOW + TTL_MS - 1)).toBe('payload k1');
    expect(await exact(store, 'p1', 'k1', NOW + TTL_MS)).toBeUndefined();
    expect(await candidates(store, 'p1', ['b1'], { limit: 10, now: NOW + TTL_MS })).toEqual([]);
  });

  it('replaces the entry of an exact key that is stored again', async () => {
    const store = await createStore();
    await store.put(entry({ exactKey: 'k1', payload: 'old', vector: vector(['b1']) }), { maxEntriesPerPartition: 10, now: NOW });
    await store.put(entry({ exactKey: 'k1', payload: 'new', vector: vector(['b1']) }), { maxEntriesPerPartition: 10, now: NOW });
    expect(await exact(store, 'p1', 'k1', NOW)).toBe('new');
    const found = await candidates(store, 'p1', ['b1'], { limit: 10, now: NOW });
    expect(found).toHaveLength(1);
    expect(await store.getPayload('p1', found[0]!.id, NOW)).toBe('new');
  });

  it('ranks candidates by shared buckets and stops at the limit', async () => {
    const store = await createStore();
    await store.put(entry({ exactKey: 'one', vector: vector(['b1']) }), { maxEntriesPerPartition: 10, now: NOW });
    await store.put(entry({ exactKey: 'three', vector: vector(['b1', 'b2', 'b3'], [1, 2, 3]) }), { maxEntriesPerPartition: 10, now: NOW });
    await store.put(entry({ exactKey: 'two', vector: vector(['b1', 'b2']) }), { maxEntriesPerPartition: 10, now: NOW });
    await store.put(entry({ exactKey: 'exact-only' }), { maxEntriesPerPartition: 10, now: NOW });
    const found = await candidates(store, 'p1', ['b1', 'b2', 'b3'], { limit: 2, now: NOW });
    expect(found).toHaveLength(2);
    const payloads = await Promise.all(found.map(async (candidate) => store.getPayload('p1', candidate.id, NOW)));
    expect(payloads).toEqual(['payload three', 'payload two']);
    expect(Array.from(found[0]!.vector)).toEqual([1, 2, 3]);
    expect(found[0]).toMatchObject({ embedderId: 'e1', guard: '[[],0,[]]', payload: 'payload three' });
    expect(found[1]!.payload).toBeUndefined();
  });

  it('answers the exact key in the same call without gathering candidates, and gathers them on an exact miss', async () => {
    const store = await createStore();
    await store.put(entry({ exactKey: 'k1', vector: vector(['b1']) }), { maxEntriesPerPartition: 10, now: NOW });
    expect(await store.search('p1', { exactKey: 'k1', buckets: ['b1'], limit: 5, now: NOW })).toEqual({ exact: 'payload k1', candidates: [] });
    const onMiss = await store.search('p1', { exactKey: 'k2', buckets: ['b1'], limit: 5, now: NOW });
    expect(onMiss.exact).toBeUndefined();
    expect(onMiss.candidates).toHaveLength(1);
  });

  it('evicts the oldest entries beyond the partition bound, buckets included', async () => {
    const store = await createStore();
    for (const key of ['k1', 'k2', 'k3', 'k4']) {
      await store.put(entry({ exactKey: key, vector: vector(['b1']) }), { maxEntriesPerPartition: 3, now: NOW });
    }
    expect(await exact(store, 'p1', 'k1', NOW)).toBeUndefined();
    expect(await exact(store, 'p1', 'k4', NOW)).toBe('payload k4');
    expect(await candidates(store, 'p1', ['b1'], { limit: 10, now: NOW })).toHaveLength(3);
  });

  it('purges the entries of one tenant and keeps the others', async () => {
    const store = await createStore();
    await store.put(entry({ exactKey: 'a1', vector: vector(['b1']) }), { maxEntriesPerPartition: 10, now: NOW });
    await store.put(entry({ exactKey: 'a2', partition: 'p2' }), { maxEntriesPerPartition: 10, now: NOW });
    await store.put(entry({ exactKey: 'b1', tenant: 'tenant-b', vector: vector(['b1']) }), { maxEntriesPerPartition: 10, now: NOW });
    expect(await store.purgeTenant('tenant-a')).toBe(2);
    expect(await exact(store, 'p1', 'a1', NOW)).toBeUndefined();
    expect(await exact(store, 'p2', 'a2', NOW)).toBeUndefined();
    expect(await exact(store, 'p1', 'b1', NOW)).toBe('payload b1');
    expect(await candidates(store, 'p1', ['b1'], { limit: 10, now: NOW })).toHaveLength(1);
    expect(await store.purgeTenant('tenant-a')).toBe(0);
  });
});

describe('RedisCacheStore', () => {
  it('keeps a partition in seven keys under one hash tag, kept by Redis past the entry lifetime', async () => {
    const connection = await testRedis();
    const store = new RedisCacheStore({ connection });
    await store.put(entry({ exactKey: 'k1', vector: vector(['b1']) }), { maxEntriesPerPartition: 10, now: NOW });
    const keys: string[] = [];
    for await (const batch of connection.scan(`${connection.keyPrefix}cache:*`)) keys.push(...batch);
    const partitionKeys = store.partitionKeys('p1');
    expect(partitionKeys.every((key) => key.startsWith(`${connection.keyPrefix}cache:{p1}:`))).toBe(true);
    expect(keys.filter((key) => key.includes('{p1}')).sort()).toEqual([...partitionKeys].sort());
    for (const key of partitionKeys) {
      // TTL 60 s plus a sweep grace of min(TTL, 5 minutes).
      const ttl = Number(await connection.call(key, ['PTTL', key]));
      expect(ttl).toBeGreaterThan(115_000);
      expect(ttl).toBeLessThanOrEqual(120_000);
    }
  });

  it('stores vectors as one byte per dimension', async () => {
    const connection = await testRedis();
    const store = new RedisCacheStore({ connection });
    await store.put(
      entry({
        exactKey: 'k1',
        vector: vector(
          ['b1'],
          Array.from({ length: 512 }, (_, index) => (index % 255) - 127),
        ),
      }),
      { maxEntriesPerPartition: 10, now: NOW },
    );
    const vectors = store.partitionKeys('p1')[4]!;
    expect(await connection.call(vectors, ['HSTRLEN', vectors, '1'])).toBe(512);
    const [candidate] = await candidates(store, 'p1', ['b1'], { limit: 1, now: NOW });
    expect(candidate!.vector[0]).toBe(-127);
    expect(candidate!.vector[300]).toBe((300 % 255) - 127);
  });

  it('drops bucket pointers to entries whose record Redis has lost', async () => {
    const connection = await testRedis();
    const store = new RedisCacheStore({ connection });
    await store.put(entry({ exactKey: 'k1', vector: vector(['b1']) }), { maxEntriesPerPartition: 10, now: NOW });
    const [, , , , , meta, buckets] = store.partitionKeys('p1');
    await connection.call(meta!, ['DEL', meta!]);
    expect(await candidates(store, 'p1', ['b1'], { limit: 10, now: NOW })).toEqual([]);
    expect(await connection.call(buckets!, ['ZCARD', buckets!])).toBe(0);
  });

  it('files a busy partition in its tenant index once a second, never behind its newest entry, and again after a purge', async () => {
    const connection = await testRedis();
    const store = new RedisCacheStore({ connection });
    const filed = async (partition: string): Promise<number | undefined> => {
      const indexes: string[] = [];
      for await (const batch of connection.scan(`${connection.keyPrefix}cache:tenant:*`)) indexes.push(...batch);
      if (indexes.length === 0) return undefined;
      expect(indexes).toHaveLength(1);
      const score = await connection.call(indexes[0], ['ZSCORE', indexes[0]!, partition]);
      return score === null ? undefined : Number(score);
    };
    // TTL 60 s and a sweep grace of 60 s: Redis keeps a partition 120 s past its newest put.
    const put = (exactKey: string, at: number, partition = 'p1') =>
      store.put(entry({ exactKey, partition, createdAt: at, expiresAt: at + TTL_MS }), { maxEntriesPerPartition: 10, now: at });
    await put('k1', NOW);
    expect(await filed('p1')).toBe(NOW + 120_000);
    await put('k2', NOW + INDEX_REFRESH_MS - 1);
    expect(await filed('p1')).toBe(NOW + 120_000); // not sent: filed recently enough
    await put('k1', NOW + INDEX_REFRESH_MS - 1, 'p2');
    expect(await filed('p2')).toBe(NOW + INDEX_REFRESH_MS - 1 + 120_000); // another partition is filed on its own
    await put('k3', NOW + INDEX_REFRESH_MS);
    expect(await filed('p1')).toBe(NOW + INDEX_REFRESH_MS + 120_000);
    expect(await store.purgeTenant('tenant-a')).toBe(4);
    expect(await filed('p1')).toBeUndefined();
    await put('k4', NOW + INDEX_REFRESH_MS + 2);
    expect(await filed('p1')).toBe(NOW + INDEX_REFRESH_MS + 2 + 120_000);
    expect(await store.purgeTenant('tenant-a')).toBe(1);
  });

  it('keeps a short-lived partition filed past its newest entry when the sweep grace is below the refresh interval', async () => {
    const connection = await testRedis();
    const store = new RedisCacheStore({ connection, sweepGraceMs: 400 });
    const put = (exactKey: string, at: number) => store.put(entry({ exactKey, createdAt: at, expiresAt: at + 1_000 }), { maxEntriesPerPartition: 10, now: at });
    const index = async (): Promise<number> => {
      const indexes: string[] = [];
      for await (const batch of connection.scan(`${connection.keyPrefix}cache:tenant:*`)) indexes.push(...batch);
      return Number(await connection.call(indexes[0], ['ZSCORE', indexes[0]!, 'p1']));
    };
    await put('k1', NOW);
    await put('k2', NOW + 150);
    expect(await index()).toBe(NOW + 1_400); // skipped: 150 ms is within half the grace
    await put('k3', NOW + 250);
    expect(await index()).toBe(NOW + 250 + 1_400); // refreshed: the filed time would fall below k3's expiry + half the grace
    expect(await index()).toBeGreaterThanOrEqual(NOW + 250 + 1_000 + 200);
  });

  it('rejects at once when Redis is not connected', async () => {
    const connection = await testRedis();
    await connection.close();
    const store = new RedisCacheStore({ connection });
    await expect(exact(store, 'p1', 'k1', NOW)).rejects.toThrow(/not connected/);
  });
});

describe('MemoryCacheStore', () => {
  it('evicts the least recently used entry across partitions at its total bound', async () => {
    const store = new MemoryCacheStore({ maxEntries: 2 });
    await store.put(entry({ exactKey: 'k1', partition: 'p1' }), { maxEntriesPerPartition: 10, now: NOW });
    await store.put(entry({ exactKey: 'k2', partition: 'p2' }), { maxEntriesPerPartition: 10, now: NOW });
    expect(await exact(store, 'p1', 'k1', NOW)).toBe('payload k1'); // k1 is now the most recent
    await store.put(entry({ exactKey: 'k3', partition: 'p3' }), { maxEntriesPerPartition: 10, now: NOW });
    expect(store.size).toBe(2);
    expect(await exact(store, 'p2', 'k2', NOW)).toBeUndefined();
    expect(await exact(store, 'p1', 'k1', NOW)).toBe('payload k1');
  });

  it('keeps write order, recency and purge right through churn: replacements, evictions at both bounds, expiry', async () => {
    const store = new MemoryCacheStore({ maxEntries: 50 });
    const queued = (partition: string) => (store as unknown as { partitions: Map<string, { order: unknown[] }> }).partitions.get(partition)?.order.length ?? 0;
    // An entry that stays at the front of the write order, then 5,000 replacements of ten keys behind it:
    // eleven live entries, and the write-order queue does not keep the 4,990 replaced ones.
    await store.put(entry({ exactKey: 'anchor' }), { maxEntriesPerPartition: 20, now: NOW });
    for (let round = 0; round < 5_000; round++)
      await store.put(entry({ exactKey: `k${round % 10}`, payload: `v${round}` }), { maxEntriesPerPartition: 20, now: NOW });
    expect(store.size).toBe(11);
    expect(queued('p1')).toBeLessThanOrEqual(2 * 1_024 + 10);
    expect(await exact(store, 'p1', 'k3', NOW)).toBe('v4993');
    // The partition bound evicts the oldest write; touching does not protect within a partition.
    for (let index = 0; index < 15; index++) await store.put(entry({ exactKey: `n${index}` }), { maxEntriesPerPartition: 20, now: NOW });
    expect(store.size).toBe(20);
    expect(await exact(store, 'p1', 'anchor', NOW)).toBeUndefined();
    expect(await exact(store, 'p1', 'k0', NOW)).toBeUndefined();
    expect(await exact(store, 'p1', 'n14', NOW)).toBe('payload n14');
    // The total bound evicts the least recently used across partitions: p1's untouched entries go first.
    for (let index = 0; index < 40; index++)
      await store.put(entry({ exactKey: `q${index}`, partition: 'p2', tenant: 'tenant-b' }), { maxEntriesPerPartition: 100, now: NOW });
    expect(store.size).toBe(50);
    expect(await exact(store, 'p1', 'n14', NOW)).toBe('payload n14');
    // Least recent first: k5…k9 (written last in the churn), then n0…n4; n5 stays.
    expect(await exact(store, 'p1', 'n4', NOW)).toBeUndefined();
    expect(await exact(store, 'p1', 'n5', NOW)).toBe('payload n5');
    expect(await exact(store, 'p2', 'q0', NOW)).toBe('payload q0');
    // Expired entries are swept from the front on the next write to their partition.
    await store.put(entry({ exactKey: 'late', partition: 'p2', tenant: 'tenant-b', expiresAt: NOW + 2 * TTL_MS }), {
      maxEntriesPerPartition: 100,
      now: NOW + TTL_MS,
    });
    expect(await exact(store, 'p2', 'q1', NOW + TTL_MS)).toBeUndefined();
    expect(await store.purgeTenant('tenant-b')).toBe(1);
    expect(await exact(store, 'p2', 'late', NOW + TTL_MS)).toBeUndefined();
    expect(await store.purgeTenant('tenant-a')).toBe(10);
    expect(store.size).toBe(0);
  });

  it('keeps each bucket right as it grows from one entry to several and back to none', async () => {
    const store = new MemoryCacheStore();
    const bucketKeys = () => [
      ...((store as unknown as { partitions: Map<string, { buckets: Map<string, unknown> }> }).partitions.get('p1')?.buckets.keys() ?? []),
    ];
    const put = (exactKey: string, buckets?: string[]) =>
      store.put(entry({ exactKey, payload: `payload ${exactKey}`, ...(buckets === undefined ? {} : { vector: vector(buckets) }) }), {
        maxEntriesPerPartition: 10,
        now: NOW,
      });
    const payloadsIn = async (bucket: string) => {
      const found = await candidates(store, 'p1', [bucket], { limit: 10, now: NOW });
      return (await Promise.all(found.map(async (candidate) => store.getPayload('p1', candidate.id, NOW)))).sort();
    };
    await put('k1', ['b1', 'b2']);
    expect(await payloadsIn('b1')).toEqual(['payload k1']);
    await put('k2', ['b1']);
    await put('k3', ['b1']);
    expect(await payloadsIn('b1')).toEqual(['payload k1', 'payload k2', 'payload k3']);
    expect(await payloadsIn('b2')).toEqual(['payload k1']);
    await put('k2', ['b3']); // replaced: leaves b1 for b3
    expect(await payloadsIn('b1')).toEqual(['payload k1', 'payload k3']);
    await put('k3'); // replaced by an exact-only entry: b1 is down to one member
    expect(await payloadsIn('b1')).toEqual(['payload k1']);
    await put('k1'); // and to none: b1 and b2 are gone from the index
    expect(await payloadsIn('b1')).toEqual([]);
    expect(bucketKeys()).toEqual(['b3']);
    await put('k4', ['b1']);
    expect(await payloadsIn('b1')).toEqual(['payload k4']);
    expect(await payloadsIn('b3')).toEqual(['payload k2']);
  });

  it('rejects a non-positive bound with what it received', () => {
    expect(() => new MemoryCacheStore({ maxEntries: 0 })).toThrow('maxEntries should be a positive integer, got 0');
  });
});
