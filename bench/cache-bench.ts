/**
 * Semantic-cache lookup latency at 1k and 10k entries in one partition, on the memory and the
 * Redis store: p50/p99 of `SemanticCache.lookup`, embedding time excluded (vectors are computed
 * before timing; LSH hashing, the store round trips and the cosine re-rank are included).
 *
 *   npx tsx bench/cache-bench.ts            # L04_BENCH_REDIS_URL overrides redis://127.0.0.1:6379
 *   npx tsx bench/cache-bench.ts --quick    # 1k only
 *
 * Prompts are all-lowercase template questions with no numbers or names, so every entry shares
 * one guard signature: the worst case for LSH bucket sizes.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { CacheConfigSchema } from '../src/config/config-schema.js';
import type { Embedder } from '../src/cache/embedders/embedder.js';
import { LocalEmbedder } from '../src/cache/embedders/local-embedder.js';
import { parseInferenceRequest } from '../src/models/inference-request.js';
import type { InferenceRequest } from '../src/models/inference-request.js';
import type { InferenceResponse } from '../src/models/inference-response.js';
import { SemanticCache } from '../src/cache/semantic-cache.js';
import type { CacheStore } from '../src/cache/cache-store.js';
import { MemoryCacheStore } from '../src/cache/memory-cache-store.js';
import { RedisCacheStore } from '../src/cache/redis-cache-store.js';
import { RedisConnection } from '../src/state/redis-connection.js';
import { systemClock } from '../src/util/clock.js';

const VERBS =
  'cook bake fix build install clean paint repair train store sell buy grow plant write read learn teach measure test deploy debug configure migrate replace upgrade wash dry cut sharpen sort filter compress encrypt backup restore monitor schedule print scan ship pack unpack rent borrow'.split(
    ' ',
  );
const NOUNS =
  'bread garden fence roof laptop printer bike car kitchen sink window door table chair lamp camera phone router server database cluster website invoice report budget resume letter poem song story recipe salad soup cake coffee tea wine cheese rice pasta dog cat horse fish bird tree flower lawn pool garage shed carpet floor wall ceiling battery engine tire brake mirror keyboard monitor mouse cable charger backpack tent boat kayak guitar piano violin drum'.split(
    ' ',
  );
const ADJECTIVES = 'old new small large cheap quiet wooden metal electric wireless red blue green heavy light fast slow simple modern broken dirty'.split(' ');
const TEMPLATES = [
  (w: () => string, v: () => string, a: () => string) => `how do i ${v()} an ${a()} ${w()} without a ${w()}`,
  (w: () => string, v: () => string, a: () => string) => `what is the best way to ${v()} a ${a()} ${w()} for my ${w()}`,
  (w: () => string, v: () => string, a: () => string) => `can you explain how to ${v()} the ${w()} and ${v()} the ${a()} ${w()}`,
  (w: () => string, v: () => string, a: () => string) => `why does my ${a()} ${w()} ${v()} the ${w()} so badly`,
];

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    state ^= state >>> 12;
    return (state >>> 0) / 4_294_967_296;
  };
}

function prompts(count: number, seed: number): string[] {
  const random = seeded(seed);
  const pick = (list: string[]) => () => list[Math.floor(random() * list.length)]!;
  const seen = new Set<string>();
  while (seen.size < count) seen.add(TEMPLATES[Math.floor(random() * TEMPLATES.length)]!(pick(NOUNS), pick(VERBS), pick(ADJECTIVES)));
  return [...seen];
}

/** Serves precomputed vectors so that timing excludes embedding. */
class PrecomputedEmbedder implements Embedder {
  readonly id: string;
  readonly lexical = true;
  readonly inProcess = true;
  private readonly vectors = new Map<string, number[]>();
  constructor(private readonly inner: LocalEmbedder) {
    this.id = inner.id;
  }
  async warm(texts: string[]): Promise<void> {
    const vectors = await this.inner.embed(texts);
    texts.forEach((text, index) => this.vectors.set(text, vectors[index]!));
  }
  embed(texts: string[]): Promise<number[][]> {
    return Promise.resolve(texts.map((text) => this.vectors.get(text) ?? this.inner.embedOne(text)));
  }
}

function request(text: string): InferenceRequest {
  return parseInferenceRequest({
    request_id: 'bench',
    agent_did: 'did:example:bench',
    model_id: 'm',
    logical_prompt: { messages: [{ role: 'user', content: text }] },
  });
}

function answer(text: string): InferenceResponse {
  return {
    request_id: 'bench',
    model_id: 'm',
    provider: 'p',
    content: `answer: ${text}`,
    finish_reason: 'stop',
    token_usage: { input_tokens: 10, output_tokens: 20, total_tokens: 30 },
    latency_ms: 100,
    cached: false,
    metadata: { cost_cents: 0, attempts: [] },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function run(backend: string, store: CacheStore, size: number, seed: number): Promise<void> {
  const config = CacheConfigSchema.parse({ embedder: { provider: 'local' }, max_entries_per_partition: size });
  const embedder = new PrecomputedEmbedder(new LocalEmbedder());
  const cache = new SemanticCache({ store, embedder, config, clock: systemClock, ...TUNING });
  const stored = prompts(size, seed);
  const queriesPerKind = Number(process.env.L04_BENCH_QUERIES ?? 1_000);
  // Rewordings of stored prompts (should hit) and unseen prompts (should miss).
  const reworded = stored.slice(0, queriesPerKind).map((text) => `please ${text.replace(/^how do i /, 'how can i ')}`);
  const unseen = prompts(size + queriesPerKind, seed + 1)
    .filter((text) => !stored.includes(text))
    .slice(0, queriesPerKind);
  await embedder.warm([...stored, ...reworded, ...unseen]);
  const scope = { tenant: `bench-${seed}`, agent: 'a' };
  for (let index = 0; index < stored.length; index += 200) {
    await Promise.all(
      stored.slice(index, index + 200).map(async (text) => {
        const lookup = await cache.lookup(request(text), scope);
        if (lookup.hit === false) await cache.store(lookup.miss, answer(text));
      }),
    );
  }
  const queries = reworded.flatMap((text, index) => [text, unseen[index] ?? text]);
  for (const text of queries.slice(0, 200)) await cache.lookup(request(text), scope); // warm-up
  const timings: number[] = [];
  let semanticHits = 0;
  let wrong = 0;
  for (const [index, text] of queries.entries()) {
    const started = performance.now();
    const lookup = await cache.lookup(request(text), scope);
    timings.push(performance.now() - started);
    if (lookup.hit === 'semantic') {
      if (index % 2 === 0) semanticHits += 1;
      else {
        wrong += 1;
        if (process.env.L04_BENCH_VERBOSE !== undefined) console.log(`  unseen hit ${lookup.similarity}: "${text}" -> "${lookup.response.content}"`);
      }
    }
  }
  timings.sort((a, b) => a - b);
  console.log(
    `${backend.padEnd(6)} ${String(size).padStart(6)} entries  lookup p50 ${percentile(timings, 50).toFixed(3)} ms  p99 ${percentile(timings, 99).toFixed(3)} ms` +
      `  (${timings.length} lookups; rewordings found ${((semanticHits / reworded.length) * 100).toFixed(1)}%, hits on unseen prompts ${wrong})`,
  );
}

const sizes = process.argv.includes('--quick') ? [1_000] : [1_000, 10_000];
const shape = /^(\d+)x(\d+)(?:\/(\d+))?$/.exec(process.env.L04_BENCH_LSH ?? '');
/** `L04_BENCH_LSH=16x12/32` tries another LSH shape (tables x bits / candidate limit); default: SemanticCache's. */
const TUNING =
  shape === null ? {} : { lsh: { tables: Number(shape[1]), bits: Number(shape[2]) }, ...(shape[3] === undefined ? {} : { candidateLimit: Number(shape[3]) }) };
console.log(`semantic cache lookup latency (embedding excluded; local-v2 vectors, 512 dims, LSH ${process.env.L04_BENCH_LSH ?? 'default'})`);
for (const [index, size] of sizes.entries()) await run('memory', new MemoryCacheStore(), size, 100 + index);
const connection = new RedisConnection({
  url: process.env.L04_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  keyPrefix: `l04:bench:${randomBytes(4).toString('hex')}:`,
  commandTimeoutMs: 2_000,
});
if (await connection.connect()) {
  try {
    const before = Number(/used_memory:(\d+)/.exec(String(await connection.call(undefined, ['INFO', 'memory'])))?.[1]);
    for (const [index, size] of sizes.entries()) await run('redis', new RedisCacheStore({ connection }), size, 200 + index);
    const after = Number(/used_memory:(\d+)/.exec(String(await connection.call(undefined, ['INFO', 'memory'])))?.[1]);
    console.log(
      `redis memory used by the benchmark partitions: ${((after - before) / 1024 / 1024).toFixed(1)} MiB for ${sizes.reduce((a, b) => a + b, 0)} entries`,
    );
  } finally {
    for await (const keys of connection.scan(`${connection.keyPrefix}*`, 1000)) await Promise.all(keys.map((key) => connection.call(key, ['DEL', key])));
    await connection.close();
  }
} else {
  console.log('redis  skipped: Redis is not answering');
  await connection.close();
}
