/**
 * Precision, recall and hit rate of the semantic cache on the labelled pairs in
 * tests/fixtures/cache-pairs.json, for each embedder at the configured default threshold, with and
 * without the guard, and end to end through `SemanticCache` (LSH included).
 *
 *   npx tsx scripts/cache-precision.ts            # local embedder; Ollama when reachable
 *   OLLAMA_HOST=http://127.0.0.1:11434 npx tsx scripts/cache-precision.ts
 */
import { readFileSync } from 'node:fs';
import { CacheConfigSchema } from '../src/config/config-schema.js';
import type { Embedder } from '../src/cache/embedders/embedder.js';
import { LocalEmbedder } from '../src/cache/embedders/local-embedder.js';
import { ProviderEmbedder } from '../src/cache/embedders/provider-embedder.js';
import { guardAllows, guardSignature } from '../src/cache/similarity/semantic-guard.js';
import { cosineSimilarity } from '../src/cache/similarity/vector-codec.js';
import { SemanticCache } from '../src/cache/semantic-cache.js';
import { MemoryCacheStore } from '../src/cache/memory-cache-store.js';
import { parseInferenceRequest } from '../src/models/inference-request.js';
import type { InferenceResponse } from '../src/models/inference-response.js';
import { systemClock } from '../src/util/clock.js';

interface Pair {
  a: string;
  b: string;
  label: 'same' | 'different';
  kind: string;
}

interface Decision {
  pair: Pair;
  similarity: number;
  /** Numbers, negations and entities only. */
  signaturePasses: boolean;
  /** The shipped guard (signature, plus content words for lexical embedders). */
  guardPasses: boolean;
  endToEndHit: boolean;
}

const { pairs } = JSON.parse(readFileSync(new URL('../tests/fixtures/cache-pairs.json', import.meta.url), 'utf8')) as { pairs: Pair[] };
const config = CacheConfigSchema.parse({ embedder: { provider: 'local' } });
const threshold = config.similarity_threshold;

async function ollamaEmbedder(): Promise<Embedder | string> {
  const host = process.env.OLLAMA_HOST ?? 'http://127.0.0.1:11434';
  const model = process.env.L04_OLLAMA_EMBED_MODEL ?? 'nomic-embed-text';
  try {
    const tags = await fetch(`${host}/api/tags`, { signal: AbortSignal.timeout(1_000) });
    if (!tags.ok) return `Ollama at ${host} answered ${tags.status}`;
  } catch (error) {
    return `no Ollama reachable at ${host} (${error instanceof Error ? error.message : String(error)})`;
  }
  return new ProviderEmbedder({
    id: `ollama/${model}`,
    embed: async (texts) => {
      const response = await fetch(`${host}/api/embed`, { method: 'POST', body: JSON.stringify({ model, input: texts }), signal: AbortSignal.timeout(60_000) });
      if (!response.ok) throw new Error(`Ollama /api/embed answered ${response.status}`);
      return ((await response.json()) as { embeddings: number[][] }).embeddings;
    },
  });
}

function request(text: string) {
  return parseInferenceRequest({ agent_did: 'did:example:precision', logical_prompt: { messages: [{ role: 'user', content: text }] } });
}

function answer(text: string): InferenceResponse {
  return {
    request_id: 'r',
    model_id: 'm',
    provider: 'p',
    content: `answer to ${text}`,
    finish_reason: 'stop',
    token_usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 },
    latency_ms: 1,
    cached: false,
    metadata: { cost_cents: 0, attempts: [] },
  };
}

async function measure(embedder: Embedder): Promise<Decision[]> {
  const decisions: Decision[] = [];
  for (const [index, pair] of pairs.entries()) {
    const [a, b] = await embedder.embed([pair.a, pair.b]);
    const cache = new SemanticCache({ store: new MemoryCacheStore(), embedder, config, clock: systemClock });
    const scope = { tenant: `t${index}`, agent: 'a' };
    const first = await cache.lookup(request(pair.a), scope);
    if (first.hit !== false) throw new Error('a fresh cache hit');
    await cache.store(first.miss, answer(pair.a));
    const second = await cache.lookup(request(pair.b), scope);
    decisions.push({
      pair,
      similarity: cosineSimilarity(a!, b!),
      signaturePasses: guardSignature(pair.a) === guardSignature(pair.b),
      guardPasses: guardAllows(pair.a, pair.b, embedder.lexical === true),
      endToEndHit: second.hit === 'semantic' || second.hit === 'exact',
    });
  }
  return decisions;
}

function summarize(name: string, decisions: Decision[], predicate: (decision: Decision) => boolean): void {
  const hits = decisions.filter(predicate);
  const truePositives = hits.filter((decision) => decision.pair.label === 'same').length;
  const same = decisions.filter((decision) => decision.pair.label === 'same').length;
  const precision = hits.length === 0 ? 1 : truePositives / hits.length;
  const recall = truePositives / same;
  const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
  console.log(
    `  ${name.padEnd(34)} precision ${percent(precision).padStart(6)}  recall ${percent(recall).padStart(6)}  hit rate ${percent(hits.length / decisions.length).padStart(6)}  (${hits.length} hits, ${hits.length - truePositives} wrong)`,
  );
  const kinds = [...new Set(decisions.map((decision) => decision.pair.kind))];
  const wrongByKind = kinds.map(
    (kind) =>
      `${kind} ${hits.filter((decision) => decision.pair.kind === kind && decision.pair.label === 'different').length}/${decisions.filter((decision) => decision.pair.kind === kind && decision.pair.label === 'different').length}`,
  );
  console.log(`  ${''.padEnd(34)} wrong hits by kind: ${wrongByKind.filter((text) => !text.endsWith('/0')).join(', ')}`);
}

function report(embedder: Embedder, decisions: Decision[]): void {
  console.log(`\n${embedder.id} — ${pairs.length} pairs (${pairs.filter((pair) => pair.label === 'same').length} paraphrases), threshold ${threshold}`);
  summarize('cosine only', decisions, (decision) => decision.similarity >= threshold);
  summarize('cosine + numbers/negations/entities', decisions, (decision) => decision.similarity >= threshold && decision.signaturePasses);
  summarize('cosine + full guard (shipped rule)', decisions, (decision) => decision.similarity >= threshold && decision.guardPasses);
  summarize('end to end (SemanticCache + LSH)', decisions, (decision) => decision.endToEndHit);
  if (process.argv.includes('--verbose')) {
    for (const decision of decisions) {
      const hit = decision.similarity >= threshold && decision.guardPasses;
      const wrong = hit !== (decision.pair.label === 'same');
      if (wrong)
        console.log(
          `    ${hit ? 'FALSE HIT ' : 'missed    '} ${decision.similarity.toFixed(3)} guard=${decision.guardPasses} [${decision.pair.kind}] ${decision.pair.a} | ${decision.pair.b}`,
        );
    }
  }
}

const local = new LocalEmbedder();
report(local, await measure(local));
const ollama = await ollamaEmbedder();
if (typeof ollama === 'string') console.log(`\nollama/nomic-embed-text — skipped: ${ollama}`);
else report(ollama, await measure(ollama));
if (process.env.OPENAI_API_KEY === undefined) console.log('openai/text-embedding-3-small — skipped: OPENAI_API_KEY is not set');
else console.log('openai embeddings — not measured by this script: embed through the gateway (`/v1/embeddings`) and add an embedder here');
