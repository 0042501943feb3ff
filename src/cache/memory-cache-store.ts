/**
 * The in-process `CacheStore` of the embedded default. Bounded twice: `maxEntriesPerPartition`
 * per partition (oldest evicted) and `maxEntries` in total (least recently used evicted). A put
 * and its evictions take constant time whatever the number of entries held (a lookup counts its
 * buckets' members; a tenant purge walks every entry): the write order of a partition is a queue
 * and recency a linked list, so an eviction never walks past entries already gone.
 */
import type { CacheCandidate, CacheEntryInput, CacheSearch, CacheSearchResult, CacheStore, PutOptions } from './cache-store.js';

/** Options of a `MemoryCacheStore`. */
export interface MemoryCacheStoreOptions {
  /** Entries kept across all partitions before the least recently used go; default 100,000. */
  maxEntries?: number;
}

interface MemoryEntry extends CacheEntryInput {
  id: string;
  /** False once removed: the partition's write-order queue drops such entries when it reaches them. */
  live: boolean;
  /** Neighbours in the recency list (`older` toward the least recently used). */
  older: MemoryEntry | undefined;
  newer: MemoryEntry | undefined;
}

interface Partition {
  /** Live entries by id. */
  entries: Map<string, MemoryEntry>;
  exact: Map<string, string>;
  /**
   * LSH bucket → its entry ids: one id as a plain string (most buckets: the bucket key carries the
   * prompt's structure signature), a set from the second member on. A set per bucket would be
   * twelve allocations per stored entry.
   */
  buckets: Map<string, string | Set<string>>;
  /** Entries in write order from `head` on (oldest first); removed ones are skipped when reached. */
  order: MemoryEntry[];
  head: number;
  /** Removed entries still in `order` past `head`: compacted away once they outnumber the live ones. */
  dead: number;
}

/** Queue slots consumed before the write-order array is compacted. */
const COMPACT_AFTER = 1_024;

/** Cache entries in process memory. */
export class MemoryCacheStore implements CacheStore {
  readonly kind = 'memory';
  private readonly maxEntries: number;
  private readonly partitions = new Map<string, Partition>();
  /** Ends of the recency list across partitions. */
  private leastRecent: MemoryEntry | undefined;
  private mostRecent: MemoryEntry | undefined;
  private count = 0;
  private sequence = 0;

  constructor(options: MemoryCacheStoreOptions = {}) {
    const maxEntries = options.maxEntries ?? 100_000;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new Error(`MemoryCacheStore maxEntries should be a positive integer, got ${maxEntries}`);
    this.maxEntries = maxEntries;
  }

  /** Live entries held, across partitions (expired ones not yet swept included). */
  get size(): number {
    return this.count;
  }

  search(partition: string, search: CacheSearch): Promise<CacheSearchResult> {
    const id = search.exactKey === undefined ? undefined : this.partitions.get(partition)?.exact.get(search.exactKey);
    const exact = id === undefined ? undefined : this.touch(partition, id, search.now)?.payload;
    const candidates = exact === undefined ? this.findCandidates(partition, search) : [];
    return Promise.resolve({ exact, candidates });
  }

  private findCandidates(partition: string, options: CacheSearch): CacheCandidate[] {
    const state = this.partitions.get(partition);
    if (state === undefined) return [];
    const counts = new Map<string, number>();
    for (const bucket of options.buckets) {
      const members = state.buckets.get(bucket);
      if (typeof members === 'string') counts.set(members, (counts.get(members) ?? 0) + 1);
      else if (members !== undefined) for (const id of members) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1]);
    const candidates: CacheCandidate[] = [];
    for (const [id] of ranked) {
      if (candidates.length >= options.limit) break;
      const entry = state.entries.get(id);
      if (entry?.vector === undefined) continue;
      if (entry.expiresAt <= options.now) {
        this.remove(state, entry);
        continue;
      }
      candidates.push({
        id,
        embedderId: entry.vector.embedderId,
        vector: entry.vector.vector,
        guard: entry.vector.guard,
        ...(candidates.length === 0 ? { payload: entry.payload } : {}),
      });
    }
    return candidates;
  }

  getPayload(partition: string, id: string, now: number): Promise<string | undefined> {
    return Promise.resolve(this.touch(partition, id, now)?.payload);
  }

  put(input: CacheEntryInput, options: PutOptions): Promise<void> {
    let state = this.partitions.get(input.partition);
    if (state === undefined) {
      state = { entries: new Map(), exact: new Map(), buckets: new Map(), order: [], head: 0, dead: 0 };
      this.partitions.set(input.partition, state);
    }
    const previous = state.exact.get(input.exactKey);
    if (previous !== undefined) this.removeById(state, previous);
    // Write order is expiry order (one TTL per cache): the expired entries are the oldest.
    for (let oldest = oldestOf(state); oldest !== undefined && oldest.expiresAt <= options.now; oldest = oldestOf(state)) this.remove(state, oldest);
    for (let oldest = oldestOf(state); oldest !== undefined && state.entries.size >= options.maxEntriesPerPartition; oldest = oldestOf(state)) {
      this.remove(state, oldest);
    }
    // Sweeping may have emptied and dropped the partition; it is in use again.
    this.partitions.set(input.partition, state);
    // Every field written out: an object spread with fields added after it builds each entry in a
    // slow shape (measured: about half the cost of a put), and every later read of it pays too.
    const entry: MemoryEntry = {
      partition: input.partition,
      exactKey: input.exactKey,
      tenant: input.tenant,
      payload: input.payload,
      createdAt: input.createdAt,
      expiresAt: input.expiresAt,
      vector: input.vector,
      id: String(++this.sequence),
      live: true,
      older: undefined,
      newer: undefined,
    };
    state.entries.set(entry.id, entry);
    state.exact.set(entry.exactKey, entry.id);
    state.order.push(entry);
    for (const bucket of entry.vector?.buckets ?? []) {
      const members = state.buckets.get(bucket);
      if (members === undefined) state.buckets.set(bucket, entry.id);
      else if (typeof members === 'string') state.buckets.set(bucket, new Set([members, entry.id]));
      else members.add(entry.id);
    }
    this.append(entry);
    this.count += 1;
    while (this.count > this.maxEntries && this.leastRecent !== undefined) {
      const oldest = this.leastRecent;
      const oldestState = this.partitions.get(oldest.partition);
      if (oldestState === undefined) this.unlink(oldest);
      else this.remove(oldestState, oldest);
    }
    return Promise.resolve();
  }

  purgeTenant(tenant: string): Promise<number> {
    const doomed: MemoryEntry[] = [];
    for (let entry = this.leastRecent; entry !== undefined; entry = entry.newer) if (entry.tenant === tenant) doomed.push(entry);
    for (const entry of doomed) {
      const state = this.partitions.get(entry.partition);
      if (state !== undefined) this.remove(state, entry);
    }
    return Promise.resolve(doomed.length);
  }

  /** The live entry `id`, marked most recently used; expired entries are removed on sight. */
  private touch(partition: string, id: string, now: number): MemoryEntry | undefined {
    const state = this.partitions.get(partition);
    const entry = state?.entries.get(id);
    if (state === undefined || entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.remove(state, entry);
      return undefined;
    }
    this.unlink(entry);
    this.append(entry);
    return entry;
  }

  private removeById(state: Partition, id: string): void {
    const entry = state.entries.get(id);
    if (entry !== undefined) this.remove(state, entry);
  }

  private remove(state: Partition, entry: MemoryEntry): void {
    if (!entry.live) return;
    entry.live = false;
    state.entries.delete(entry.id);
    if (state.exact.get(entry.exactKey) === entry.id) state.exact.delete(entry.exactKey);
    for (const bucket of entry.vector?.buckets ?? []) {
      const members = state.buckets.get(bucket);
      if (members === entry.id) state.buckets.delete(bucket);
      else if (typeof members === 'object') {
        members.delete(entry.id);
        if (members.size === 1) state.buckets.set(bucket, members.values().next().value!);
        else if (members.size === 0) state.buckets.delete(bucket);
      }
    }
    this.unlink(entry);
    this.count -= 1;
    if (state.entries.size === 0) this.partitions.delete(entry.partition);
    // Entries removed out of write order (replaced, least recently used) would otherwise wait in the queue until its front reaches them.
    state.dead += 1;
    if (state.dead >= COMPACT_AFTER && state.dead > state.entries.size) {
      state.order = state.order.slice(state.head).filter((queued) => queued.live);
      state.head = 0;
      state.dead = 0;
    }
  }

  /** Adds `entry` as the most recently used. */
  private append(entry: MemoryEntry): void {
    entry.older = this.mostRecent;
    entry.newer = undefined;
    if (this.mostRecent === undefined) this.leastRecent = entry;
    else this.mostRecent.newer = entry;
    this.mostRecent = entry;
  }

  /** Takes `entry` out of the recency list. */
  private unlink(entry: MemoryEntry): void {
    if (entry.older === undefined) {
      if (this.leastRecent === entry) this.leastRecent = entry.newer;
    } else entry.older.newer = entry.newer;
    if (entry.newer === undefined) {
      if (this.mostRecent === entry) this.mostRecent = entry.older;
    } else entry.newer.older = entry.older;
    entry.older = undefined;
    entry.newer = undefined;
  }
}

/** The oldest live entry of `state`'s write order, dropping removed ones from the queue's front. */
function oldestOf(state: Partition): MemoryEntry | undefined {
  while (state.head < state.order.length && !state.order[state.head]!.live) {
    state.head += 1;
    state.dead -= 1;
  }
  if (state.head >= COMPACT_AFTER && state.head * 2 >= state.order.length) {
    state.order = state.order.slice(state.head);
    state.head = 0;
  }
  return state.order[state.head];
}
