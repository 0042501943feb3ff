/**
 * The semantic cache through the whole service: looked up after the agent's limit and before
 * routing, stored after a complete answer, reported in `x-l04-cache`, isolated per tenant, shared
 * by every instance on one Redis.
 */
import { randomBytes } from 'node:crypto';
import { internalRuntime } from '../src/gateway/model-gateway.js';
import OpenAI from 'openai';
import { describe, expect, it, vi } from 'vitest';
import type { GatewayConfigInput } from '../src/config/config-schema.js';
import { MockAdapter } from '../src/providers/mock-adapter.js';
import { onCleanup } from './helpers/cleanup.js';
import { mockConfig, startTestServer } from './helpers/gateway.js';
import { REDIS_URL, deleteKeys, testRedis } from './helpers/redis.js';
import { flushMicrotasks } from './helpers/fake-clock.js';

function cacheConfig(overrides: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return mockConfig({ cache: { enabled: true, embedder: { provider: 'local' } }, ...overrides });
}

async function chat(url: string, content: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'mock-1', messages: [{ role: 'user', content }], ...extra }),
  });
  const body = (await response.json()) as { choices: Array<{ message: { content: string } }>; l04: { cached: boolean; cost_cents: number } };
  return {
    status: response.status,
    cache: response.headers.get('x-l04-cache'),
    similarity: response.headers.get('x-l04-similarity'),
    content: body.choices[0]?.message.content,
    body,
  };
}

/** Cache stores happen off the response path; let them land. */
async function settle(): Promise<void> {
  await flushMicrotasks(20);
}

function mockAdapter(): MockAdapter {
  return new MockAdapter({ id: 'mock', latency_ms: 0, stream_chunks: 3 });
}

/** A mock provider that serves the cache's embeddings (`embed`/`vectors`). */
function embedderMock(): MockAdapter {
  return new MockAdapter({ id: 'embed', latency_ms: 0, stream_chunks: 1 });
}

/** A server whose semantic cache embeds through `embedder`, the chat model being a plain mock. */
async function startWithEmbedder(embedder: MockAdapter) {
  const config = cacheConfig({
    providers: { mock: { type: 'mock' }, embed: { type: 'mock' } },
    cache: { enabled: true, embedder: { provider: 'embed', model: 'vectors' } },
  });
  return startTestServer(config, {
    adapters: new Map([
      ['mock', mockAdapter()],
      ['embed', embedder],
    ]),
  });
}

describe('semantic cache through the service', () => {
  it('answers a repeat exactly and a paraphrase by meaning, without calling the provider', async () => {
    const adapter = mockAdapter();
    const { url } = await startTestServer(cacheConfig(), { adapters: new Map([['mock', adapter]]) });
    const first = await chat(url, 'How do I reset my password?');
    await settle();
    const repeat = await chat(url, 'How do I reset my password?');
    const paraphrase = await chat(url, 'How can I reset my password?');
    expect([first.cache, repeat.cache, paraphrase.cache]).toEqual(['miss', 'exact', 'semantic']);
    expect(repeat.content).toBe(first.content);
    expect(paraphrase.content).toBe(first.content);
    expect(Number(paraphrase.similarity)).toBeGreaterThanOrEqual(0.85);
    expect(repeat.body.l04.cached).toBe(true);
    expect(adapter.calls).toBe(1);
  });

  it('misses when an output-changing parameter differs', async () => {
    const { url } = await startTestServer(cacheConfig());
    await chat(url, 'Tell me a joke about cats.');
    await settle();
    const variants = [{ temperature: 0.3 }, { seed: 7 }, { max_tokens: 50 }, { stop: ['END'] }, { top_p: 0.5 }, { response_format: { type: 'json_object' } }];
    for (const extra of variants) expect((await chat(url, 'Tell me a joke about cats.', {}, extra)).cache).toBe('miss');
  });

  it('never answers one tenant from another tenant’s entries', async () => {
    const { url } = await startTestServer(cacheConfig());
    await chat(url, 'What is our refund policy?', { 'x-l04-tenant': 'acme' });
    await settle();
    expect((await chat(url, 'What is our refund policy?', { 'x-l04-tenant': 'globex' })).cache).toBe('miss');
    expect((await chat(url, 'What is our refund policy?', { 'x-l04-tenant': 'acme' })).cache).toBe('exact');
  });

  it('does not hit on near-misses that differ in a number or a negation', async () => {
    const { url } = await startTestServer(cacheConfig());
    await chat(url, 'Refund order 1234 please');
    await chat(url, 'Is ibuprofen safe during pregnancy?');
    await settle();
    expect((await chat(url, 'Refund order 1235 please')).cache).toBe('miss');
    expect((await chat(url, 'Is ibuprofen not safe during pregnancy?')).cache).toBe('miss');
  });

  it('honours Cache-Control no-cache and no-store', async () => {
    const adapter = mockAdapter();
    const { url } = await startTestServer(cacheConfig(), { adapters: new Map([['mock', adapter]]) });
    await chat(url, 'never stored', { 'cache-control': 'no-store' });
    await settle();
    expect((await chat(url, 'never stored')).cache).toBe('miss');
    await settle();
    expect((await chat(url, 'never stored', { 'cache-control': 'no-cache' })).cache).toBe('bypass');
    expect((await chat(url, 'never stored', {}, { l04: { cache: { no_cache: true } } })).cache).toBe('bypass');
    expect((await chat(url, 'never stored')).cache).toBe('exact');
  });

  it('replays a hit as a stream, and stores a streamed miss once complete', async () => {
    const adapter = mockAdapter();
    const { client } = await startTestServer(cacheConfig(), { adapters: new Map([['mock', adapter]]) });
    const streamOnce = async () => {
      const { data, response } = await client.chat.completions
        .create({
          model: 'mock-1',
          messages: [{ role: 'user', content: 'stream and cache this answer' }],
          stream: true,
          stream_options: { include_usage: true },
        })
        .withResponse();
      let text = '';
      let finish: string | null | undefined;
      for await (const chunk of data) {
        text += chunk.choices[0]?.delta.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      return { text, finish, cache: response.headers.get('x-l04-cache') };
    };
    const miss = await streamOnce();
    await settle();
    const hit = await streamOnce();
    expect(miss).toEqual({ text: 'Mock answer: stream and cache this answer', finish: 'stop', cache: 'miss' });
    expect(hit).toEqual({ text: miss.text, finish: 'stop', cache: 'exact' });
    expect(adapter.calls).toBe(1);
  });

  it('never stores a stream that was cut short', async () => {
    const { client, url } = await startTestServer(cacheConfig());
    const stream = await client.chat.completions.create({ model: 'mock-1', messages: [{ role: 'user', content: 'cut [[mock:cut:1]]' }], stream: true });
    await expect(
      (async () => {
        for await (const _chunk of stream) {
          // read until the error event
        }
      })(),
    ).rejects.toBeInstanceOf(OpenAI.APIError);
    await settle();
    const again = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-1', stream: true, messages: [{ role: 'user', content: 'cut [[mock:cut:1]]' }] }),
    });
    expect(again.headers.get('x-l04-cache')).toBe('miss');
    await again.text();
  });

  it('purges a tenant’s entries through the admin route', async () => {
    const { url } = await startTestServer(cacheConfig());
    await chat(url, 'purge me', { 'x-l04-tenant': 'acme' });
    await chat(url, 'keep me', { 'x-l04-tenant': 'globex' });
    await settle();
    const purge = await fetch(`${url}/v1/admin/cache/purge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'acme' }),
    });
    expect(purge.status).toBe(200);
    expect(((await purge.json()) as { purged: number }).purged).toBeGreaterThanOrEqual(1);
    expect((await chat(url, 'purge me', { 'x-l04-tenant': 'acme' })).cache).toBe('miss');
    expect((await chat(url, 'keep me', { 'x-l04-tenant': 'globex' })).cache).toBe('exact');
  });

  it('bypasses the cache, without failing the request, when the embedder fails after start', async () => {
    const embedderAdapter = embedderMock();
    const { gateway, url, logs } = await startWithEmbedder(embedderAdapter);
    expect(await (await internalRuntime(gateway)).cache?.semanticReady()).toBe(true);
    embedderAdapter.injectFailure({ kind: 'status', status: 500 });
    const first = await chat(url, 'embedding will fail');
    expect(first.status).toBe(200);
    expect(first.cache).toBe('bypass');
    expect(logs.records().some((record) => record.code === 'E4301')).toBe(true);
  });

  it('turns the semantic layer off with one warning when the embedder fails its start-up check', async () => {
    const embedderAdapter = embedderMock();
    embedderAdapter.injectFailure({ kind: 'status', status: 500 });
    const { gateway, url, logs } = await startWithEmbedder(embedderAdapter);
    expect(await (await internalRuntime(gateway)).cache?.semanticReady()).toBe(false);
    embedderAdapter.clearFailures();
    const calls = embedderAdapter.embedCalls.length;
    expect((await chat(url, 'How do I reset my password?')).cache).toBe('miss');
    await settle();
    expect((await chat(url, 'how do I reset my password')).cache).toBe('exact');
    expect((await chat(url, 'How can I reset my password?')).cache).toBe('miss');
    expect(embedderAdapter.embedCalls.length).toBe(calls);
    const warnings = logs.records().filter((record) => String(record.msg).includes('failed its start-up check'));
    expect(warnings).toHaveLength(1);
    expect(logs.records().some((record) => record.code === 'E4301')).toBe(false);
  });

  it('answers case and punctuation variants exactly, and never a word swap or another question', async () => {
    const adapter = mockAdapter();
    const { url } = await startTestServer(cacheConfig(), { adapters: new Map([['mock', adapter]]) });
    await chat(url, 'Why do dogs chase cats?');
    await chat(url, 'When was Albert Einstein born?');
    await settle();
    expect((await chat(url, 'why do dogs chase cats')).cache).toBe('exact');
    expect((await chat(url, 'WHY DO DOGS CHASE CATS ?')).cache).toBe('exact');
    expect((await chat(url, 'Why do cats chase dogs?')).cache).toBe('miss');
    expect((await chat(url, 'Where was Albert Einstein born?')).cache).toBe('miss');
    expect(adapter.calls).toBe(4);
  });
});

describe('cache keys carry what limits who may answer', () => {
  const twoProviders = cacheConfig({
    providers: { alpha: { type: 'mock' }, beta: { type: 'mock' } },
    models: {
      'alpha-1': { provider: 'alpha', auto: true, capabilities: ['text'], context_length: 32768, input_cost_per_1k_cents: 0.1 },
      'beta-1': { provider: 'beta', auto: true, capabilities: ['text'], context_length: 32768, input_cost_per_1k_cents: 0.2 },
    },
  });

  it('misses when the preferred provider changes, and hits when it does not', async () => {
    const { client } = await startTestServer(twoProviders);
    const ask = async (l04: Record<string, unknown>) => {
      const body = { model: 'auto', messages: [{ role: 'user' as const, content: 'Summarise the quarterly report.' }], l04 };
      const { response } = await client.chat.completions.create(body as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming).withResponse();
      return { cache: response.headers.get('x-l04-cache'), provider: response.headers.get('x-l04-provider') };
    };
    expect(await ask({ preferred_providers: ['alpha'] })).toEqual({ cache: 'miss', provider: 'alpha' });
    await settle();
    expect(await ask({ preferred_providers: ['alpha'] })).toEqual({ cache: 'exact', provider: 'alpha' });
    expect(await ask({ preferred_providers: ['beta'] })).toEqual({ cache: 'miss', provider: 'beta' });
    expect((await ask({ preferred_providers: ['alpha'], max_cost_cents: 5 })).cache).toBe('miss');
    expect((await ask({ preferred_providers: ['alpha'], max_latency_ms: 5000 })).cache).toBe('miss');
  });
});

describe('semantic cache shared through Redis', () => {
  it('answers on one instance from an entry written by another', async () => {
    const prefix = `l04:test:${randomBytes(6).toString('hex')}:`;
    const cleaner = await testRedis();
    onCleanup(() => deleteKeys(cleaner, `${prefix}*`));
    const config = cacheConfig({ state: { backend: 'redis', redis_url: REDIS_URL, key_prefix: prefix } });
    const one = await startTestServer(config);
    const two = await startTestServer(config);
    expect((await chat(one.url, 'What is the capital of France?')).cache).toBe('miss');
    // The store happens off the response path and crosses a real socket: wait until Redis has it.
    await vi.waitFor(async () => {
      let keys = 0;
      for await (const batch of cleaner.scan(`${prefix}*`)) keys += batch.length;
      expect(keys).toBeGreaterThan(0);
    });
    expect((await chat(two.url, 'What is the capital of France?')).cache).toBe('exact');
    expect((await chat(two.url, "What's the capital of France?")).cache).toBe('semantic');
  });
});
