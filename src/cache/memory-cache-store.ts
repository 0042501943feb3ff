/**
 * The in-process `CacheStore` of the embedded default. Bounded twice: `maxEntriesPerPartition`
 * per partition (oldest evicted) and `maxEntries` in total (least recently used evicted).
 */
import type { CacheCandidate, CacheEntryInput, CacheSearch, CacheSearchResult, CacheStore, PutOptions } from './cache-store.js';

/** Options of a `MemoryCacheStore`. */
export interface MemoryCacheStoreOptions {
  /** Entries kept across all partitions before the least recently used go; default 100,000. */
  maxEntries?: number;
}

interface MemoryEntry extends CacheEntryInput {
  id: string;
}

interface Partition {
  /** Entries by id, in write order (oldest first). */
  entries: Map<string, MemoryEntry>;
  exact: Map<string, string>;
  buckets: Map<string, Set<string>>;
}

/** Cache entries in process memory. */
export class MemoryCacheStore implements CacheStore {
  readonly kind = 'memory';
  private readonly maxEntries: number;
  private readonly partitions = new Map<string, Partition>();
  /** Every entry by `partition id`, least recently used first. */
  private readonly recency = new Map<string, MemoryEntry>();
  private sequence = 0;

  constructor(options: MemoryCacheStoreOptions = {}) {
    const maxEntries = options.maxEntries ?? 100_000;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new Error(`MemoryCacheStore maxEntries should be a positive integer, got ${maxEntries}`);
    this.maxEntries = maxEntries;
  }

  /** Live entries held, across partitions (expired ones not yet swept included). */
  get size(): number {
    return this.recency.size;
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
      for (const id of state.buckets.get(bucket) ?? []) counts.set(id, (counts.get(id) ?? 0) + 1);
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
      state = { entries: new Map(), exact: new Map(), buckets: new Map() };
      this.partitions.set(input.partition, state);
    }
    const previous = state.exact.get(input.exactKey);
    if (previous !== undefined) this.removeById(state, previous);
    for (const entry of state.entries.values()) {
      if (entry.expiresAt > options.now) break; // write order is expiry order: one TTL per cache
      this.remove(state, entry);
    }
    for (const entry of state.entries.values()) {
      if (state.entries.size < options.maxEntriesPerPartition) break;
      this.remove(state, entry);
    }
    // Sweeping may have emptied and dropped the partition; it is in use again.
    this.partitions.set(input.partition, state);
    const entry: MemoryEntry = { ...input, id: String(++this.sequence) };
    state.entries.set(entry.id, entry);
    state.exact.set(entry.exactKey, entry.id);
    for (const bucket of entry.vector?.buckets ?? []) {
      let members = state.buckets.get(bucket);
      if (members === undefined) state.buckets.set(bucket, (members = new Set()));
      members.add(entry.id);
    }
    this.recency.set(recencyKey(entry), entry);
    for (const oldest of this.recency.values()) {
      if (this.recency.size <= this.maxEntries) break;
      const oldestState = this.partitions.get(oldest.partition);
      if (oldestState !== undefined) this.remove(oldestState, oldest);
    }
    return Promise.resolve();
  }

  purgeTenant(tenant: string): Promise<number> {
    let deleted = 0;
    for (const entry of [...this.recency.values()]) {
      if (entry.tenant !== tenant) continue;
      const state = this.partitions.get(entry.partition);
      if (state !== undefined) this.remove(state, entry);
      deleted += 1;
    }
    return Promise.resolve(deleted);
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
    const key = recencyKey(entry);
    this.recency.delete(key);
    this.recency.set(key, entry);
    return entry;
  }

  private removeById(state: Partition, id: string): void {
    const entry = state.entries.get(id);
    if (entry !== undefined) this.remove(state, entry);
  }

  private remove(state: Partition, entry: MemoryEntry): void {
    state.entries.delete(entry.id);
    if (state.exact.get(entry.exactKey) === entry.id) state.exact.delete(entry.exactKey);
    for (const bucket of entry.vector?.buckets ?? []) {
      const members = state.buckets.get(bucket);
      members?.delete(entry.id);
      if (members?.size === 0) state.buckets.delete(bucket);
    }
    this.recency.delete(recencyKey(entry));
    if (state.entries.size === 0) this.partitions.delete(entry.partition);
  }
}

function recencyKey(entry: MemoryEntry): string {
  return `${entry.partition} ${entry.id}`;
}
