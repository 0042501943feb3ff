/**
 * The semantic cache: an exact layer keyed by the canonical request (trivial variants share a key)
 * and a semantic layer that matches a reworded last question by embedding cosine and a structure
 * verifier that refuses near-misses (`structure-verifier.ts`). Lookups
 * and stores never throw: a failing embedder or store bypasses the cache for that request and is
 * reported through `onError` (E4300–E4303).
 */
import type { CacheConfig } from '../config/config-schema.js';
import type { InferenceRequest } from '../models/inference-request.js';
import type { InferenceResponse } from '../models/inference-response.js';
import { CacheError } from '../models/error-codes.js';
import type { ErrorCode } from '../models/error-codes.js';
import type { Clock } from '../util/clock.js';
import type { CacheCandidate, CacheSearchResult, CacheStore } from './cache-store.js';
import type { Embedder } from './embedders/embedder.js';
import type { CacheScope } from './keys/cache-scope.js';
import { scopeKey } from './keys/cache-scope.js';
import { requestKeys } from './keys/canonical-request-key.js';
import { semanticText } from './similarity/semantic-text.js';
import { verifierKeyAndSignature, verifierKeysMatch } from './similarity/structure-verifier.js';
import { LshHasher } from './similarity/lsh-hasher.js';
import { canonicalDigest } from './keys/canonical-json.js';
import { cosineToQuantized, normalizeVector, quantizeVector } from './similarity/vector-codec.js';
import { decodeCachedAnswer, encodeCachedAnswer, refusalReason, responseFromCache } from './cached-answer.js';
import type { CachedAnswer } from './cached-answer.js';
import { BoundedMemo } from '../util/bounded-memo.js';

/** The query side of an embedded prompt. */
interface PromptEmbedding {
  embedderId: string;
  vector: Float32Array;
  /** `verifierKey` of the text. */
  guard: string;
  buckets: string[];
}

/**
 * What `store()` needs from a miss, computed once during the lookup. Opaque to callers: pass it
 * back unchanged.
 */
export interface CacheMiss {
  readonly partition: string;
  readonly exactKey: string;
  readonly tenant: string;
  /** False when the request said `no-store`, the cache is off, or the lookup failed. */
  readonly writable: boolean;
  /** The text the semantic layer embeds; undefined when the request is matched exactly only. */
  readonly text: string | undefined;
  /** The embedding from the lookup, reused by `store()`. */
  embedding: PromptEmbedding | undefined;
}

/** The outcome of a lookup. */
export type CacheLookup =
  { hit: 'exact' | 'semantic'; response: InferenceResponse; similarity: number } | { hit: false; miss: CacheMiss; reason: 'miss' | 'bypass' | 'error' };

/** LSH shape; the defaults are measured in `bench/cache-bench.ts` (README "Semantic cache"). */
export interface LshOptions {
  /** Hash tables; default 12. */
  tables?: number;
  /** Hyperplanes per table; default 10. */
  bits?: number;
}

/** Options of a `SemanticCache`. */
export interface SemanticCacheOptions {
  store: CacheStore;
  /** Without one the cache is exact-only. */
  embedder?: Embedder;
  config: CacheConfig;
  clock: Clock;
  /** Called with every E43xx the cache swallows; the gateway logs and counts them. */
  onError?: (error: CacheError) => void;
  lsh?: LshOptions;
  /** Most candidates re-ranked by cosine per lookup; default 32. */
  candidateLimit?: number;
}

/** The two-layer response cache in front of routing. */
export class SemanticCache {
  private readonly cacheStore: CacheStore;
  private readonly embedder: Embedder | undefined;
  private readonly config: CacheConfig;
  private readonly clock: Clock;
  private readonly onError: (error: CacheError) => void;
  private readonly tables: number;
  private readonly bits: number;
  private readonly candidateLimit: number;
  private readonly hashers = new Map<number, LshHasher>();
  /** The first part of every bucket label: a digest of the embedder id, computed once per id. */
  private readonly embedderTags = new BoundedMemo(16, (id: string) => canonicalDigest(id).slice(0, 8));
  /** The cosine a semantic hit needs with this embedder (`thresholdFor`). */
  readonly threshold: number;

  constructor(options: SemanticCacheOptions) {
    this.cacheStore = options.store;
    this.embedder = options.embedder;
    this.config = options.config;
    this.clock = options.clock;
    this.onError = options.onError ?? (() => undefined);
    this.tables = options.lsh?.tables ?? 12;
    this.bits = options.lsh?.bits ?? 10;
    this.candidateLimit = options.candidateLimit ?? 32;
    this.threshold = thresholdFor(options.config, options.embedder);
    if (!Number.isInteger(this.candidateLimit) || this.candidateLimit < 1) {
      throw new Error(`SemanticCache candidateLimit should be a positive integer, got ${this.candidateLimit}`);
    }
    if (!Number.isInteger(this.tables) || this.tables < 1) throw new Error(`SemanticCache lsh.tables should be a positive integer, got ${this.tables}`);
    if (!Number.isInteger(this.bits) || this.bits < 1 || this.bits > 30)
      throw new Error(`SemanticCache lsh.bits should be an integer from 1 to 30, got ${this.bits}`);
  }

  /** Resolves once the embedder's start-up check is over: true when the semantic layer is on. */
  async semanticReady(): Promise<boolean> {
    if (!this.config.semantic || this.embedder === undefined) return false;
    return (await this.embedder.ready) ?? this.embedder.usable !== false;
  }

  /**
   * Looks `request` up for `scope`: exact layer first, then the semantic layer. Never throws; a
   * backend or embedder failure is reported to `onError` and returns `reason: 'error'`.
   */
  async lookup(request: InferenceRequest, scope: CacheScope, options: { signal?: AbortSignal } = {}): Promise<CacheLookup> {
    const miss = this.missFor(request, scope);
    try {
      return await this.lookupMiss(request, miss, options.signal);
    } catch (error) {
      // Unreachable by design (every step catches its own failures); a bug must still not fail a request.
      return this.fail('E4300', error, miss);
    }
  }

  private async lookupMiss(request: InferenceRequest, miss: CacheMiss, signal: AbortSignal | undefined): Promise<CacheLookup> {
    const started = this.clock.now();
    if (!this.config.enabled || request.cache?.read === false) return { hit: false, miss, reason: 'bypass' };
    const text = miss.text;
    // With a remote store, an in-process embedder runs first so that one round trip serves both
    // layers. With the in-process store the exact check is free, so exact hits skip the embedding;
    // a provider embedder always runs only after an exact miss.
    const embedFirst = text !== undefined && this.embedder?.inProcess === true && this.cacheStore.kind !== 'memory';
    const early = embedFirst ? await this.tryEmbed(text, signal) : undefined;
    if (early?.ok === true) miss.embedding = early.embedding;
    let found: CacheSearchResult;
    try {
      found = await this.cacheStore.search(miss.partition, {
        exactKey: miss.exactKey,
        buckets: miss.embedding?.buckets ?? [],
        limit: this.candidateLimit,
        now: started,
      });
    } catch (error) {
      return this.fail('E4300', error, miss);
    }
    const exact = found.exact === undefined ? undefined : this.decode(found.exact, miss.partition);
    if (exact !== undefined) return this.hit(request, exact, 'exact', 1, started);
    if (early?.ok === false) return this.fail('E4301', early.error, miss);
    if (text === undefined) return { hit: false, miss, reason: 'miss' };
    if (!embedFirst) {
      const late = await this.tryEmbed(text, signal);
      if (!late.ok) return this.fail('E4301', late.error, miss);
      miss.embedding = late.embedding;
      if (miss.embedding === undefined) return { hit: false, miss, reason: 'miss' };
      try {
        found = await this.cacheStore.search(miss.partition, { buckets: miss.embedding.buckets, limit: this.candidateLimit, now: started });
      } catch (error) {
        return this.fail('E4300', error, miss);
      }
    }
    if (miss.embedding === undefined) return { hit: false, miss, reason: 'miss' };
    const threshold = Math.max(this.threshold, request.cache?.min_similarity ?? 0);
    try {
      const nearest = await this.nearest(miss, miss.embedding, found.candidates, threshold, started);
      return nearest === undefined ? { hit: false, miss, reason: 'miss' } : this.hit(request, nearest.answer, 'semantic', nearest.similarity, started);
    } catch (error) {
      return this.fail('E4300', error, miss);
    }
  }

  /**
   * Stores a complete answer for a miss. A no-op for `no-store`, failed lookups, errors and
   * partial answers; answers with tool calls are stored for exact matching only. Never throws.
   */
  async store(miss: CacheMiss, response: InferenceResponse): Promise<void> {
    try {
      await this.storeAnswer(miss, response);
    } catch (error) {
      this.report('E4303', error);
    }
  }

  /** Deletes every entry `tenant` wrote (admin route); resolves with the count. Rejects with E4300. */
  async purge(tenant: string): Promise<number> {
    try {
      return await this.cacheStore.purgeTenant(tenant);
    } catch (error) {
      const cacheError = new CacheError('E4300', undefined, { cause: error, details: { operation: 'purge', backend: this.cacheStore.kind } });
      this.report('E4300', error, { operation: 'purge' });
      throw cacheError;
    }
  }

  private async storeAnswer(miss: CacheMiss, response: InferenceResponse): Promise<void> {
    if (!miss.writable || !this.config.enabled || refusalReason(response) !== undefined) return;
    const now = this.clock.now();
    const payload = encodeCachedAnswer(response, now);
    // A size bound on every entry: one huge answer must not fill the shared store.
    if (Buffer.byteLength(payload) > this.config.max_entry_bytes) return;
    let embedding: PromptEmbedding | undefined;
    if (miss.text !== undefined && (response.tool_calls ?? []).length === 0) {
      try {
        embedding = miss.embedding ?? (await this.embed(miss.text));
      } catch (error) {
        // Still worth an exact entry: the answer is good, only its vector is missing.
        this.report('E4301', error);
      }
    }
    const vector =
      embedding === undefined
        ? undefined
        : { embedderId: embedding.embedderId, vector: quantizeVector(embedding.vector), guard: embedding.guard, buckets: embedding.buckets };
    const entry = {
      partition: miss.partition,
      exactKey: miss.exactKey,
      tenant: miss.tenant,
      payload,
      createdAt: now,
      expiresAt: now + this.config.ttl_s * 1000,
      vector,
    };
    await this.cacheStore.put(entry, { maxEntriesPerPartition: this.config.max_entries_per_partition, now });
  }

  private missFor(request: InferenceRequest, scope: CacheScope): CacheMiss {
    const key = scopeKey(scope, this.config.scope);
    const prompt = request.logical_prompt;
    // Requests with tools are matched exactly only: a tool call answers one precise input.
    const semantic = this.config.semantic && this.embedder !== undefined && this.embedder.usable !== false && (prompt.tools ?? []).length === 0;
    const keys = requestKeys(request, key);
    return {
      partition: keys.partition,
      exactKey: keys.exact,
      tenant: scope.tenant,
      writable: this.config.enabled && request.cache?.write !== false,
      text: semantic ? semanticText(prompt) : undefined,
      embedding: undefined,
    };
  }

  private async nearest(miss: CacheMiss, embedding: PromptEmbedding, candidates: CacheCandidate[], threshold: number, now: number) {
    const ranked = candidates
      .filter((candidate) => candidate.embedderId === embedding.embedderId && verifierKeysMatch(embedding.guard, candidate.guard))
      .map((candidate) => ({ candidate, similarity: Math.min(1, cosineToQuantized(embedding.vector, candidate.vector)) }))
      .filter((scored) => scored.similarity >= threshold)
      .sort((a, b) => b.similarity - a.similarity);
    // The best candidate may have been evicted or be corrupt since the search; try the next few.
    for (const { candidate, similarity } of ranked.slice(0, 3)) {
      const payload = candidate.payload ?? (await this.cacheStore.getPayload(miss.partition, candidate.id, now));
      const answer = payload === undefined ? undefined : this.decode(payload, miss.partition);
      if (answer !== undefined) return { answer, similarity: Math.round(similarity * 10_000) / 10_000 };
    }
    return undefined;
  }

  private async embed(text: string, signal?: AbortSignal): Promise<PromptEmbedding | undefined> {
    const embedder = this.embedder;
    if (embedder === undefined) return undefined;
    const vectors = await embedder.embed([text], signal);
    const raw = vectors[0];
    if (vectors.length !== 1 || raw === undefined || raw.length === 0) throw new Error(`embedder ${embedder.id} returned ${vectors.length} vectors for 1 text`);
    const vector = normalizeVector(raw);
    if (vector === undefined) return undefined; // no words to compare: exact matching only
    const { key: guard, signature } = verifierKeyAndSignature(text, embedder.lexical === true);
    const prefix = `${this.embedderTags.get(embedder.id)}.${canonicalDigest(signature).slice(0, 12)}`;
    const buckets = this.hasher(vector.length)
      .buckets(vector)
      .map((label) => `${prefix}.${label}`);
    return { embedderId: embedder.id, vector, guard, buckets };
  }

  private async tryEmbed(text: string, signal?: AbortSignal): Promise<{ ok: true; embedding: PromptEmbedding | undefined } | { ok: false; error: unknown }> {
    try {
      return { ok: true, embedding: await this.embed(text, signal) };
    } catch (error) {
      return { ok: false, error };
    }
  }

  private hit(request: InferenceRequest, answer: CachedAnswer, result: 'exact' | 'semantic', similarity: number, started: number): CacheLookup {
    const response = responseFromCache(answer, { requestId: request.request_id ?? '', result, similarity, latencyMs: this.clock.now() - started });
    return { hit: result, similarity, response };
  }

  private hasher(dimensions: number): LshHasher {
    let hasher = this.hashers.get(dimensions);
    if (hasher === undefined) {
      hasher = new LshHasher({ dimensions, tables: this.tables, bits: this.bits, seed: this.embedder?.id ?? '' });
      this.hashers.set(dimensions, hasher);
    }
    return hasher;
  }

  private decode(payload: string, partition: string) {
    const answer = decodeCachedAnswer(payload);
    if (answer === undefined) this.report('E4302', undefined, { partition });
    return answer;
  }

  private fail(code: ErrorCode, error: unknown, miss: CacheMiss): CacheLookup {
    this.report(code, error);
    return { hit: false, miss: { ...miss, writable: false }, reason: 'error' };
  }

  private report(code: ErrorCode, cause: unknown, details: Record<string, unknown> = {}): void {
    try {
      this.onError(new CacheError(code, undefined, { cause, details: { ...details, backend: this.cacheStore.kind } }));
    } catch (_error) {
      // A failing error hook must not turn a bypass into a failure.
    }
  }
}

/**
 * The similarity threshold for `embedder`: `cache.similarity_thresholds` under its id
 * (`ollama/nomic-embed-text`), else its name (`nomic-embed-text`, `local`), else
 * `cache.similarity_threshold`.
 */
export function thresholdFor(config: Pick<CacheConfig, 'similarity_threshold' | 'similarity_thresholds'>, embedder: Embedder | undefined): number {
  const thresholds = config.similarity_thresholds;
  if (embedder === undefined) return config.similarity_threshold;
  return thresholds[embedder.id] ?? (embedder.name === undefined ? undefined : thresholds[embedder.name]) ?? config.similarity_threshold;
}
