/**
 * The storage port of the semantic cache, implemented in memory (`MemoryCacheStore`) and in Redis
 * (`RedisCacheStore`); both pass the same shared test suite. The store keeps opaque answer
 * payloads, exact-key pointers and quantised vectors filed under LSH buckets; ranking by cosine,
 * thresholds and the guard live in `SemanticCache`. Times are epoch milliseconds from the
 * injected clock: an entry is live while `now < expiresAt`.
 */

/** The vector side of an entry; absent for entries matched exactly only (tools, tool calls). */
export interface CacheVectorRecord {
  /** Embedder id: vectors are only compared within one vector space. */
  embedderId: string;
  /** Unit vector quantised to int8. */
  vector: Int8Array;
  /** Guard signature of the embedded text (`guardSignature`). */
  guard: string;
  /** LSH bucket labels the entry is filed under (no commas). */
  buckets: string[];
}

/** One answer to store. */
export interface CacheEntryInput {
  /** Partition key (`partitionKey`): every lookup and write stays inside one partition. */
  partition: string;
  /** Exact-layer key (`canonicalRequestKey`). */
  exactKey: string;
  /** The tenant that wrote it, for `purgeTenant`. */
  tenant: string;
  /** The serialised answer; the store never parses it. */
  payload: string;
  createdAt: number;
  expiresAt: number;
  vector?: CacheVectorRecord;
}

/** A semantic candidate, before the cosine re-rank. */
export interface CacheCandidate {
  id: string;
  embedderId: string;
  vector: Int8Array;
  guard: string;
  /**
   * The payload, prefetched for the first candidate (the likeliest winner) so that a semantic hit
   * usually needs no second round trip; otherwise fetched with `getPayload`.
   */
  payload?: string;
}

/** One lookup: the exact key, the semantic buckets, or both in one round trip. */
export interface CacheSearch {
  /** Exact-layer key; when its entry is live, no candidates are gathered. */
  exactKey?: string;
  /** LSH bucket labels of the query; none for an exact-only lookup. */
  buckets: string[];
  /** Most candidates returned; those sharing the most buckets with the query come first. */
  limit: number;
  now: number;
}

/** What a search found. */
export interface CacheSearchResult {
  /** The live payload under `exactKey`. */
  exact: string | undefined;
  /** Semantic candidates (empty on an exact hit). */
  candidates: CacheCandidate[];
}

/** Options of `put`. */
export interface PutOptions {
  /** Entries kept in the partition; the oldest are evicted first. */
  maxEntriesPerPartition: number;
  now: number;
}

/** Where cache entries live. Methods reject on backend failure; `SemanticCache` turns that into a bypass. */
export interface CacheStore {
  /** `memory` or `redis`, for logs and metrics. */
  readonly kind: string;
  /**
   * The live payload under `search.exactKey`, or else the live entries filed under any of
   * `search.buckets` (most shared buckets first, at most `search.limit`) — one round trip.
   */
  search(partition: string, search: CacheSearch): Promise<CacheSearchResult>;
  /** The payload of entry `id`, if live. */
  getPayload(partition: string, id: string, now: number): Promise<string | undefined>;
  /** Stores an entry, replacing one with the same exact key, then evicts expired and excess entries. */
  put(entry: CacheEntryInput, options: PutOptions): Promise<void>;
  /** Deletes every entry `tenant` wrote; resolves with how many were deleted. */
  purgeTenant(tenant: string): Promise<number>;
}
