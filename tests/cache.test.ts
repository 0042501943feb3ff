/** SemanticCache against the memory store and the real Redis (the brief's cache tests). */
import { describe, expect, it } from 'vitest';
import { CacheConfigSchema } from '../src/config/config-schema.js';
import type { CacheConfig } from '../src/config/config-schema.js';
import type { Embedder } from '../src/cache/embedders/embedder.js';
import { LocalEmbedder } from '../src/cache/embedders/local-embedder.js';
import type { CacheError } from '../src/models/error-codes.js';
import { parseInferenceRequest } from '../src/models/inference-request.js';
import type { InferenceRequest, InferenceRequestInput } from '../src/models/inference-request.js';
import type { InferenceResponse } from '../src/models/inference-response.js';
import { SemanticCache } from '../src/cache/semantic-cache.js';
import type { CacheLookup, CacheMiss } from '../src/cache/semantic-cache.js';
import type { CacheStore } from '../src/cache/cache-store.js';
import { MemoryCacheStore } from '../src/cache/memory-cache-store.js';
import { RedisCacheStore } from '../src/cache/redis-cache-store.js';
import { RedisConnection } from '../src/state/redis-connection.js';
import { onCleanup } from './helpers/cleanup.js';
import { FakeClock } from './helpers/fake-clock.js';
import { REDIS_URL, testRedis } from './helpers/redis.js';

const TENANT_A = { tenant: 'tenant-a', agent: 'did:example:agent-1' };
const TENANT_B = { tenant: 'tenant-b', agent: 'did:example:agent-1' };

function config(overrides: Partial<CacheConfig> = {}): CacheConfig {
  return { ...CacheConfigSchema.parse({ embedder: { provider: 'local' } }), ...overrides };
}

function request(text: string, overrides: Partial<InferenceRequestInput> = {}, prompt: Record<string, unknown> = {}): InferenceRequest {
  return parseInferenceRequest({
    request_id: 'req-1',
    agent_did: TENANT_A.agent,
    model_id: 'llama3.2',
    logical_prompt: { messages: [{ role: 'user', content: text }], ...prompt },
    ...overrides,
  });
}

function answer(content: string, overrides: Partial<InferenceResponse> = {}): InferenceResponse {
  return {
    request_id: 'req-0',
    model_id: 'llama3.2',
    provider: 'ollama',
    content,
    finish_reason: 'stop',
    token_usage: { input_tokens: 12, output_tokens: 7, total_tokens: 19 },
    latency_ms: 850,
    cached: false,
    metadata: { cost_cents: 0.4, attempts: [] },
    ...overrides,
  };
}

function expectMiss(lookup: CacheLookup): CacheMiss {
  if (lookup.hit !== false) throw new Error(`expected a miss, got a ${lookup.hit} hit: ${lookup.response.content}`);
  return lookup.miss;
}

/** Looks `text` up and stores `content` as its answer. */
async function remember(cache: SemanticCache, input: InferenceRequest, content: string, scope = TENANT_A): Promise<void> {
  const miss = expectMiss(await cache.lookup(input, scope));
  await cache.store(miss, answer(content));
}

interface Harness {
  cache: SemanticCache;
  clock: FakeClock;
  errors: CacheError[];
  store: CacheStore;
}

type StoreFactory = () => Promise<CacheStore>;

function harness(store: CacheStore, options: { config?: Partial<CacheConfig>; embedder?: Embedder } = {}): Harness {
  const clock = new FakeClock();
  const errors: CacheError[] = [];
  const cache = new SemanticCache({
    store,
    embedder: options.embedder ?? new LocalEmbedder(),
    config: config(options.config),
    clock,
    onError: (error) => errors.push(error),
  });
  return { cache, clock, errors, store };
}

/** Vectors chosen by the test: similarity between texts is whatever the table says. */
class TableEmbedder implements Embedder {
  readonly id = 'table-v1';
  constructor(
    private readonly table: Record<string, number[]>,
    readonly name?: string,
  ) {}
  embed(texts: string[]): Promise<number[][]> {
    return Promise.resolve(texts.map((text) => this.table[text] ?? [0, 0, 1]));
  }
}

const backends: Array<[string, StoreFactory]> = [
  ['memory', () => Promise.resolve(new MemoryCacheStore())],
  ['redis', async () => new RedisCacheStore({ connection: await testRedis() })],
];

describe.each(backends)('SemanticCache on the %s store', (_name, createStore) => {
  it('answers a repeated request from the exact layer', async () => {
    const { cache } = harness(await createStore());
    await remember(cache, request('How do I reset my password?'), 'Open settings.');
    const lookup = await cache.lookup(request('How do I reset my password?', { request_id: 'req-2' }), TENANT_A);
    expect(lookup).toMatchObject({ hit: 'exact', similarity: 1 });
    if (lookup.hit === false) return;
    expect(lookup.response).toMatchObject({
      request_id: 'req-2',
      content: 'Open settings.',
      cached: true,
      model_id: 'llama3.2',
      provider: 'ollama',
      finish_reason: 'stop',
    });
    expect(lookup.response.metadata).toMatchObject({ cost_cents: 0, attempts: [], cache: { result: 'exact', similarity: 1 }, original_cost_cents: 0.4 });
    expect(lookup.response.token_usage).toEqual({ input_tokens: 12, output_tokens: 7, total_tokens: 19 });
  });

  it('answers a reworded question from the semantic layer with its similarity', async () => {
    const { cache } = harness(await createStore());
    await remember(cache, request('How do I reset my password?'), 'Open settings.');
    const lookup = await cache.lookup(request('How can I reset my password?'), TENANT_A);
    expect(lookup.hit).toBe('semantic');
    if (lookup.hit === false) return;
    // The local embedder sees the structure the verifier demands, so its semantic hits score 1.
    expect(lookup.similarity).toBeGreaterThanOrEqual(0.85);
    expect(lookup.response.content).toBe('Open settings.');
    expect(lookup.response.metadata.cache).toEqual({ result: 'semantic', similarity: lookup.similarity });
  });

  it('misses near-misses that differ in a number, a negation or a name', async () => {
    const { cache } = harness(await createStore());
    await remember(cache, request('Refund order 1234 for the customer please.'), 'Refunded 1234.');
    await remember(cache, request('Is ibuprofen safe to take with alcohol?'), 'Careful.');
    await remember(cache, request('Is Paris safe for tourists at night?'), 'Mostly.');
    expectMiss(await cache.lookup(request('Refund order 1235 for the customer please.'), TENANT_A));
    expectMiss(await cache.lookup(request('Is ibuprofen not safe to take with alcohol?'), TENANT_A));
    expectMiss(await cache.lookup(request('Is London safe for tourists at night?'), TENANT_A));
  });

  it('answers trivial variants from the exact layer and refuses word swaps', async () => {
    const { cache } = harness(await createStore());
    await remember(cache, request('What is the capital of India?'), 'New Delhi.');
    await remember(cache, request('Why do dogs chase cats?'), 'Instinct.');
    for (const variant of [
      'what is the capital of india',
      'WHAT IS THE CAPITAL OF INDIA',
      '  What is the capital of India ? ',
      'What is the capital of India？',
    ]) {
      expect((await cache.lookup(request(variant), TENANT_A)).hit).toBe('exact');
    }
    expectMiss(await cache.lookup(request('Why do cats chase dogs?'), TENANT_A));
    expectMiss(await cache.lookup(request('Where is the capital of India?'), TENANT_A));
  });

  it('misses when any output-changing parameter differs', async () => {
    const { cache } = harness(await createStore());
    const text = 'How do I reset my password?';
    await remember(cache, request(text), 'Open settings.');
    const variants: InferenceRequest[] = [
      request(text, { model_id: 'gpt-4o' }),
      request(text, { model_id: undefined }),
      request(text, { requirements: { max_output_tokens: 100 } }),
      request(text, {}, { temperature: 0.2 }),
      request(text, {}, { top_p: 0.5 }),
      request(text, {}, { seed: 7 }),
      request(text, {}, { stop: ['END'] }),
      request(text, {}, { tools: [{ name: 'lookup_user', parameters: { type: 'object' } }] }),
      request(text, {}, { tool_choice: 'none' }),
      request(text, {}, { response_format: { type: 'json_object' } }),
      request(text, {}, { system: 'Answer in French.' }),
    ];
    for (const variant of variants) expectMiss(await cache.lookup(variant, TENANT_A));
    // With `auto`, the requirements that route the request are part of the key too.
    await remember(cache, request(text, { model_id: undefined }), 'Auto answer.');
    expectMiss(await cache.lookup(request(text, { model_id: undefined, requirements: { capabilities: ['vision'] } }), TENANT_A));
    expectMiss(await cache.lookup(request(text, { model_id: undefined, requirements: { min_context_length: 32_000 } }), TENANT_A));
    expect((await cache.lookup(request(text, { model_id: undefined }), TENANT_A)).hit).toBe('exact');
  });

  it('ignores key order in the canonical request', async () => {
    const { cache } = harness(await createStore());
    const tools = [{ name: 'get_order', parameters: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } }];
    const reordered = [{ parameters: { required: ['id'], properties: { id: { type: 'string' } }, type: 'object' }, name: 'get_order' }];
    await remember(cache, request('Where is my order?', {}, { tools, stop: ['A', 'B'] }), 'Looking.');
    expect((await cache.lookup(request('Where is my order?', {}, { stop: ['B', 'A'], tools: reordered }), TENANT_A)).hit).toBe('exact');
  });

  it('never answers one tenant from another tenant’s entries', async () => {
    const { cache } = harness(await createStore());
    await remember(cache, request('How do I reset my password?'), 'Tenant A secret.');
    expectMiss(await cache.lookup(request('How do I reset my password?'), TENANT_B));
    expectMiss(await cache.lookup(request('How can I reset my password?'), TENANT_B));
  });

  it('shares entries between the agents of a tenant, or not, or globally, as configured', async () => {
    const store = await createStore();
    const otherAgent = { tenant: 'tenant-a', agent: 'did:example:agent-2' };
    const byTenant = harness(store).cache;
    await remember(byTenant, request('What is a closure?'), 'A function with its scope.');
    expect((await byTenant.lookup(request('What is a closure?'), otherAgent)).hit).toBe('exact');
    const byAgent = harness(store, { config: { scope: 'agent' } }).cache;
    await remember(byAgent, request('What is a monad?'), 'A monoid in the category of endofunctors.');
    expectMiss(await byAgent.lookup(request('What is a monad?'), otherAgent));
    const global = harness(store, { config: { scope: 'global' } }).cache;
    await remember(global, request('What is a functor?'), 'A mappable.');
    expect((await global.lookup(request('What is a functor?'), TENANT_B)).hit).toBe('exact');
  });

  it('expires entries after ttl_s on the injected clock', async () => {
    const { cache, clock } = harness(await createStore(), { config: { ttl_s: 60 } });
    await remember(cache, request('How do I reset my password?'), 'Open settings.');
    await clock.advance(59_999);
    expect((await cache.lookup(request('How do I reset my password?'), TENANT_A)).hit).toBe('exact');
    expect((await cache.lookup(request('How can I reset my password?'), TENANT_A)).hit).toBe('semantic');
    await clock.advance(1);
    expectMiss(await cache.lookup(request('How do I reset my password?'), TENANT_A));
    expectMiss(await cache.lookup(request('How can I reset my password?'), TENANT_A));
  });

  it('purges a tenant’s entries and keeps other tenants’', async () => {
    const { cache } = harness(await createStore());
    await remember(cache, request('How do I reset my password?'), 'A1');
    await remember(cache, request('What is the capital of France?', { model_id: 'gpt-4o' }), 'A2');
    await remember(cache, request('How do I reset my password?'), 'B1', TENANT_B);
    expect(await cache.purge('tenant-a')).toBe(2);
    expectMiss(await cache.lookup(request('How do I reset my password?'), TENANT_A));
    expectMiss(await cache.lookup(request('How can I reset my password?'), TENANT_A));
    expect((await cache.lookup(request('How do I reset my password?'), TENANT_B)).hit).toBe('exact');
  });

  it('skips reading on read: false but still stores, and skips storing on write: false', async () => {
    const { cache } = harness(await createStore());
    const noCache = await cache.lookup(request('How do I reset my password?', { cache: { read: false } }), TENANT_A);
    expect(noCache).toMatchObject({ hit: false, reason: 'bypass' });
    await cache.store(expectMiss(noCache), answer('Stored without reading.'));
    expect((await cache.lookup(request('How can I reset my password?'), TENANT_A)).hit).toBe('semantic');
    const noStore = expectMiss(await cache.lookup(request('What is the capital of Peru?', { cache: { write: false } }), TENANT_A));
    await cache.store(noStore, answer('Lima.'));
    expectMiss(await cache.lookup(request('What is the capital of Peru?'), TENANT_A));
  });

  it('matches exactly only with semantic: false, and neither reads nor writes with enabled: false', async () => {
    const store = await createStore();
    const exactOnly = harness(store, { config: { semantic: false } }).cache;
    await remember(exactOnly, request('How do I reset my password?'), 'Open settings.');
    expect((await exactOnly.lookup(request('How do I reset my password?'), TENANT_A)).hit).toBe('exact');
    expectMiss(await exactOnly.lookup(request('How can I reset my password?'), TENANT_A));
    const disabled = harness(store, { config: { enabled: false } }).cache;
    const lookup = await disabled.lookup(request('How do I reset my password?'), TENANT_A);
    expect(lookup).toMatchObject({ hit: false, reason: 'bypass' });
    await disabled.store(expectMiss(lookup), answer('ignored'));
    await disabled.store(expectMiss(await disabled.lookup(request('What is a closure?'), TENANT_A)), answer('ignored'));
    expectMiss(await exactOnly.lookup(request('What is a closure?'), TENANT_A));
  });

  it('refuses errors, truncated and cached answers', async () => {
    const { cache } = harness(await createStore());
    const refused: InferenceResponse[] = [
      answer('cut', { finish_reason: 'other' }),
      answer('filtered', { finish_reason: 'content_filter' }),
      answer(''),
      answer('from cache', { cached: true }),
      answer('partial', { metadata: { cost_cents: 0, attempts: [], partial: true } }),
    ];
    for (const [index, response] of refused.entries()) {
      const text = `Question number ${index}?`;
      await cache.store(expectMiss(await cache.lookup(request(text), TENANT_A)), response);
      expectMiss(await cache.lookup(request(text), TENANT_A));
    }
  });

  it('never stores an answer larger than max_entry_bytes', async () => {
    const { cache } = harness(await createStore(), { config: { max_entry_bytes: 4_096 } });
    await cache.store(expectMiss(await cache.lookup(request('Tell me everything.'), TENANT_A)), answer('x'.repeat(4_096)));
    expectMiss(await cache.lookup(request('Tell me everything.'), TENANT_A));
    await remember(cache, request('Tell me briefly.'), 'x'.repeat(2_048));
    expect((await cache.lookup(request('Tell me briefly.'), TENANT_A)).hit).toBe('exact');
  });

  it('matches answers with tool calls, and requests with tools, exactly only', async () => {
    const { cache } = harness(await createStore());
    const withCall = answer('', { finish_reason: 'tool_calls', tool_calls: [{ id: 'call_1', name: 'reset_password', arguments: '{}' }] });
    await cache.store(expectMiss(await cache.lookup(request('How do I reset my password?'), TENANT_A)), withCall);
    const exact = await cache.lookup(request('How do I reset my password?'), TENANT_A);
    expect(exact.hit).toBe('exact');
    if (exact.hit !== false) expect(exact.response.tool_calls).toEqual(withCall.tool_calls);
    expectMiss(await cache.lookup(request('How can I reset my password?'), TENANT_A));
    const tools = { tools: [{ name: 'search', parameters: { type: 'object' } }] };
    await remember(cache, request('What is the capital of France?', {}, tools), 'Paris.');
    expect((await cache.lookup(request('What is the capital of France?', {}, tools), TENANT_A)).hit).toBe('exact');
    expectMiss(await cache.lookup(request("What's the capital of France?", {}, tools), TENANT_A));
  });

  it('evicts the oldest entries beyond max_entries_per_partition', async () => {
    const { cache } = harness(await createStore(), { config: { max_entries_per_partition: 2 } });
    for (const city of ['Lima', 'Quito', 'Bogota']) await remember(cache, request(`Describe ${city}.`), city);
    expectMiss(await cache.lookup(request('Describe Lima.'), TENANT_A));
    expect((await cache.lookup(request('Describe Quito.'), TENANT_A)).hit).toBe('exact');
    expect((await cache.lookup(request('Describe Bogota.'), TENANT_A)).hit).toBe('exact');
  });

  it('applies the configured threshold and lets a request raise it but never lower it', async () => {
    const store = await createStore();
    const embedder = new TableEmbedder({ stored: [1, 0, 0], close: [0.9, Math.sqrt(1 - 0.81), 0], far: [0.8, 0.6, 0] });
    const { cache } = harness(store, { embedder });
    await remember(cache, request('stored'), 'the answer');
    const close = await cache.lookup(request('close'), TENANT_A);
    expect(close).toMatchObject({ hit: 'semantic' });
    if (close.hit !== false) expect(close.similarity).toBeCloseTo(0.9, 2);
    expectMiss(await cache.lookup(request('close', { cache: { min_similarity: 0.95 } }), TENANT_A));
    expectMiss(await cache.lookup(request('far'), TENANT_A));
    expectMiss(await cache.lookup(request('far', { cache: { min_similarity: 0.5 } }), TENANT_A));
  });

  it('takes the threshold configured for its embedder, by id or by name', async () => {
    const table = { stored: [1, 0, 0], close: [0.9, Math.sqrt(1 - 0.81), 0] };
    const named = new TableEmbedder(table, 'table');
    const strict = harness(await createStore(), { embedder: named, config: { similarity_thresholds: { table: 0.95 } } });
    expect(strict.cache.threshold).toBe(0.95);
    await remember(strict.cache, request('stored'), 'the answer');
    expectMiss(await strict.cache.lookup(request('close'), TENANT_A));
    const byId = harness(await createStore(), { embedder: named, config: { similarity_thresholds: { 'table-v1': 0.88, table: 0.95 } } });
    expect(byId.cache.threshold).toBe(0.88);
    await remember(byId.cache, request('stored'), 'the answer');
    expect((await byId.cache.lookup(request('close'), TENANT_A)).hit).toBe('semantic');
    expect(harness(await createStore(), { config: { similarity_thresholds: { table: 0.95 } } }).cache.threshold).toBe(0.85);
  });

  it('matches exactly only while its embedder is not usable (start-up check pending or failed)', async () => {
    const local = new LocalEmbedder();
    let usable = false;
    const embedder: Embedder = {
      id: local.id,
      lexical: true,
      get usable() {
        return usable;
      },
      embed: (texts) => local.embed(texts),
    };
    const { cache, errors } = harness(await createStore(), { embedder });
    await remember(cache, request('How do I reset my password?'), 'Open settings.');
    expectMiss(await cache.lookup(request('How can I reset my password?'), TENANT_A));
    expect((await cache.lookup(request('How do I reset my password?'), TENANT_A)).hit).toBe('exact');
    usable = true;
    await remember(cache, request('How do I renew my passport?'), 'Online.');
    expect((await cache.lookup(request('How can I renew my passport?'), TENANT_A)).hit).toBe('semantic');
    expect(errors).toEqual([]);
  });

  it.each([true, false])('bypasses with E4301 when the embedder fails, still serving exact hits (in process: %s)', async (inProcess) => {
    const store = await createStore();
    let failing = false;
    const local = new LocalEmbedder();
    const embedder: Embedder = {
      id: local.id,
      lexical: true,
      inProcess,
      embed: (texts) => (failing ? Promise.reject(new Error('ollama down')) : local.embed(texts)),
    };
    const { cache, errors } = harness(store, { embedder });
    await remember(cache, request('How do I reset my password?'), 'Open settings.');
    failing = true;
    const lookup = await cache.lookup(request('How can I reset my password?'), TENANT_A);
    expect(lookup).toMatchObject({ hit: false, reason: 'error' });
    expect(errors.map((error) => error.code)).toEqual(['E4301']);
    await cache.store(expectMiss(lookup), answer('not stored'));
    failing = false;
    expectMiss(await cache.lookup(request('How can I reset my password?', { model_id: 'other' }), TENANT_A));
    failing = true;
    expect((await cache.lookup(request('How do I reset my password?'), TENANT_A)).hit).toBe('exact');
  });

  it('serves both layers with one remote store call for an in-process embedder, two for a provider one', async () => {
    const inner = await createStore();
    let searches = 0;
    const counting: CacheStore = {
      kind: inner.kind,
      search: (partition, search) => {
        searches += 1;
        return inner.search(partition, search);
      },
      getPayload: (...args) => inner.getPayload(...args),
      put: (...args) => inner.put(...args),
      purgeTenant: (tenant) => inner.purgeTenant(tenant),
    };
    const local = new LocalEmbedder();
    await harness(counting).cache.lookup(request('What is a closure?'), TENANT_A);
    // In process the exact check is free, so an exact hit never pays for an embedding; remotely
    // one round trip serves both layers.
    const localSearches = inner.kind === 'memory' ? 2 : 1;
    expect(searches).toBe(localSearches);
    const provider: Embedder = { id: 'provider/x', embed: (texts) => local.embed(texts) };
    await harness(counting, { embedder: provider }).cache.lookup(request('What is a closure?'), TENANT_A);
    expect(searches).toBe(localSearches + 2);
  });

  it('reports a corrupt entry with E4302 and treats it as a miss', async () => {
    const store = await createStore();
    const { cache, errors, clock } = harness(store);
    const miss = expectMiss(await cache.lookup(request('How do I reset my password?'), TENANT_A));
    await store.put(
      {
        partition: miss.partition,
        exactKey: miss.exactKey,
        tenant: 'tenant-a',
        payload: '{"v":1,"content":',
        createdAt: clock.now(),
        expiresAt: clock.now() + 1_000,
      },
      { maxEntriesPerPartition: 10, now: clock.now() },
    );
    expect(await cache.lookup(request('How do I reset my password?'), TENANT_A)).toMatchObject({ hit: false, reason: 'miss' });
    expect(errors.map((error) => error.code)).toEqual(['E4302']);
  });
});

describe('SemanticCache on Redis across instances and failures', () => {
  it('answers on one instance what another instance stored', async () => {
    const first = await testRedis();
    const second = new RedisConnection({ url: REDIS_URL, keyPrefix: first.keyPrefix, commandTimeoutMs: 1_000 });
    onCleanup(() => second.close());
    expect(await second.connect()).toBe(true);
    const writer = harness(new RedisCacheStore({ connection: first })).cache;
    const reader = harness(new RedisCacheStore({ connection: second })).cache;
    await remember(writer, request('How do I reset my password?'), 'Open settings.');
    expect((await reader.lookup(request('How do I reset my password?'), TENANT_A)).hit).toBe('exact');
    expect((await reader.lookup(request('How can I reset my password?'), TENANT_A)).hit).toBe('semantic');
  });

  it('keeps entries in Redis for ttl_s plus the sweep grace (min(ttl_s, 5 minutes))', async () => {
    const connection = await testRedis();
    const store = new RedisCacheStore({ connection });
    const { cache } = harness(store, { config: { ttl_s: 90 } });
    const miss = expectMiss(await cache.lookup(request('How do I reset my password?'), TENANT_A));
    await cache.store(miss, answer('Open settings.'));
    for (const key of store.partitionKeys(miss.partition).filter((name) => !name.endsWith(':n'))) {
      const ttl = Number(await connection.call(key, ['PTTL', key]));
      expect(ttl).toBeGreaterThan(175_000);
      expect(ttl).toBeLessThanOrEqual(180_000);
    }
  });

  it('bypasses with E4300 when Redis is down and never throws', async () => {
    const connection = new RedisConnection({ url: 'redis://127.0.0.1:1', keyPrefix: 'l04:test:down:', commandTimeoutMs: 50, connectTimeoutMs: 50 });
    onCleanup(() => connection.close());
    const { cache, errors } = harness(new RedisCacheStore({ connection }));
    const lookup = await cache.lookup(request('How do I reset my password?'), TENANT_A);
    expect(lookup).toMatchObject({ hit: false, reason: 'error' });
    await cache.store(expectMiss(lookup), answer('Open settings.'));
    expect(errors.map((error) => error.code)).toEqual(['E4300']);
    await expect(cache.purge('tenant-a')).rejects.toMatchObject({ code: 'E4300' });
  });

  it('reports E4303 when the store fails after a successful lookup', async () => {
    const connection = await testRedis();
    const { cache, errors } = harness(new RedisCacheStore({ connection }));
    const miss = expectMiss(await cache.lookup(request('How do I reset my password?'), TENANT_A));
    await connection.close();
    await expect(cache.store(miss, answer('Open settings.'))).resolves.toBeUndefined();
    expect(errors.map((error) => error.code)).toEqual(['E4303']);
  });
});
