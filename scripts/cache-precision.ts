/**
 * Precision, recall and hit rate of the semantic cache, end to end through `SemanticCache` (exact
 * layer, LSH, threshold and verifier), on two labelled sets reported apart:
 *
 * - in-sample: tests/fixtures/cache-pairs.json, the regression set the earlier guard was tuned on;
 * - held-out: tests/fixtures/cache-heldout.json, written by category before the verifier changed.
 *
 * Each pair runs in a fresh tenant: ask the first prompt, store its answer, ask the second. A hit
 * on a "different" pair is a wrong answer. "cosine only" shows what the threshold alone would do.
 *
 *   npx tsx scripts/cache-precision.ts            # local embedder; Ollama when reachable
 *   npx tsx scripts/cache-precision.ts --verbose  # also list every wrong hit and missed paraphrase
 *   OLLAMA_HOST=http://127.0.0.1:11434 npx tsx scripts/cache-precision.ts
 */
import { readFileSync } from 'node:fs';
import { CacheConfigSchema } from '../src/config/config-schema.js';
import type { Embedder } from '../src/cache/embedders/embedder.js';
import { LocalEmbedder } from '../src/cache/embedders/local-embedder.js';
import { ProviderEmbedder } from '../src/cache/embedders/provider-embedder.js';
import { cosineSimilarity } from '../src/cache/similarity/vector-codec.js';
import { SemanticCache, thresholdFor } from '../src/cache/semantic-cache.js';
import { MemoryCacheStore } from '../src/cache/memory-cache-store.js';
import { parseInferenceRequest } from '../src/models/inference-request.js';
import type { InferenceResponse } from '../src/models/inference-response.js';
import { systemClock } from '../src/util/clock.js';

interface Pair {
  a: string;
  b: string;
  label: 'same' | 'different';
  category: string;
}

interface Decision {
  pair: Pair;
  similarity: number;
  hit: 'exact' | 'semantic' | false;
}

function load(file: string, categoryOf: (raw: Record<string, string>) => string): Pair[] {
  const { pairs } = JSON.parse(readFileSync(new URL(`../tests/fixtures/${file}`, import.meta.url), 'utf8')) as { pairs: Array<Record<string, string>> };
  return pairs.map((raw) => ({ a: raw.a!, b: raw.b!, label: raw.label === 'same' ? 'same' : 'different', category: categoryOf(raw) }));
}

const sets: Array<{ name: string; pairs: Pair[] }> = [
  { name: 'in-sample', pairs: load('cache-pairs.json', (raw) => raw.kind!) },
  { name: 'held-out', pairs: load('cache-heldout.json', (raw) => raw.category!) },
];
const config = CacheConfigSchema.parse({ embedder: { provider: 'local' } });
/**
 * Held-out paraphrase recall of the guard this verifier replaced (numbers, negation count and
 * entities equal, content words compared as a bag), measured with this script before the change.
 */
const EARLIER_PARAPHRASE_RECALL = 58 / 130;

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
    model,
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

async function measure(embedder: Embedder, pairs: Pair[]): Promise<Decision[]> {
  const decisions: Decision[] = [];
  for (const [index, pair] of pairs.entries()) {
    const [a, b] = await embedder.embed([pair.a, pair.b]);
    const cache = new SemanticCache({ store: new MemoryCacheStore(), embedder, config, clock: systemClock });
    const scope = { tenant: `t${index}`, agent: 'a' };
    const first = await cache.lookup(request(pair.a), scope);
    if (first.hit !== false) throw new Error('a fresh cache hit');
    await cache.store(first.miss, answer(pair.a));
    const second = await cache.lookup(request(pair.b), scope);
    decisions.push({ pair, similarity: cosineSimilarity(a!, b!), hit: second.hit });
  }
  return decisions;
}

interface Tally {
  pairs: number;
  same: number;
  hits: number;
  wrong: number;
  truePositives: number;
}

function tally(decisions: Decision[], isHit: (decision: Decision) => boolean): Tally {
  const hits = decisions.filter(isHit);
  const truePositives = hits.filter((decision) => decision.pair.label === 'same').length;
  return {
    pairs: decisions.length,
    same: decisions.filter((decision) => decision.pair.label === 'same').length,
    hits: hits.length,
    wrong: hits.length - truePositives,
    truePositives,
  };
}

const percent = (value: number | undefined) => (value === undefined ? '—' : `${(value * 100).toFixed(1)} %`);
const precisionOf = (t: Tally) => (t.hits === 0 ? undefined : t.truePositives / t.hits);
const recallOf = (t: Tally) => (t.same === 0 ? undefined : t.truePositives / t.same);

function row(name: string, t: Tally, cosine: Tally): string {
  return [
    name.padEnd(24),
    String(t.pairs).padStart(5),
    String(t.same).padStart(5),
    String(t.hits).padStart(5),
    String(t.wrong).padStart(6),
    percent(precisionOf(t)).padStart(10),
    percent(recallOf(t)).padStart(8),
    percent(t.hits / t.pairs).padStart(9),
    `${String(cosine.hits).padStart(5)} / ${String(cosine.wrong).padEnd(4)}`.padStart(14),
  ].join(' ');
}

const endToEnd = (decision: Decision) => decision.hit !== false;
const cosineOnly = (threshold: number) => (decision: Decision) => decision.similarity >= threshold;

function report(embedder: Embedder, set: { name: string; pairs: Pair[] }, decisions: Decision[]): Map<string, Tally> {
  const threshold = thresholdFor(config, embedder);
  console.log(`\n${set.name}: ${set.pairs.length} pairs, ${embedder.id} at threshold ${threshold}, end to end through SemanticCache`);
  console.log(`${'category'.padEnd(24)} pairs  same  hits  wrong  precision   recall  hit rate  cosine-only hits / wrong`);
  const categories = [...new Set(set.pairs.map((pair) => pair.category))];
  const tallies = new Map<string, Tally>();
  for (const category of [...categories, 'overall']) {
    const subset = category === 'overall' ? decisions : decisions.filter((decision) => decision.pair.category === category);
    const t = tally(subset, endToEnd);
    tallies.set(category, t);
    console.log(row(category, t, tally(subset, cosineOnly(threshold))));
  }
  if (process.argv.includes('--verbose')) {
    for (const decision of decisions) {
      const hit = decision.hit !== false;
      if (hit === (decision.pair.label === 'same')) continue;
      console.log(
        `  ${hit ? 'WRONG HIT' : 'missed   '} ${decision.similarity.toFixed(3)} [${decision.pair.category}] ${JSON.stringify(decision.pair.a)} | ${JSON.stringify(decision.pair.b)}`,
      );
    }
  }
  return tallies;
}

function goals(heldOut: Map<string, Tally>): void {
  const overall = heldOut.get('overall')!;
  const swaps = heldOut.get('word_swap')!;
  const variants = heldOut.get('case_punctuation')!;
  const paraphrases = heldOut.get('paraphrase')!;
  const verdict = (met: boolean) => (met ? 'met' : 'MISSED');
  const precision = precisionOf(overall) ?? 1;
  console.log('\ngoals (held-out set):');
  console.log(`  precision ≥ 99 % overall: ${percent(precision)} — ${verdict(precision >= 0.99)}`);
  console.log(
    `  ≤ 1 % of word-swap pairs hit: ${swaps.hits}/${swaps.pairs} = ${percent(swaps.hits / swaps.pairs)} — ${verdict(swaps.hits <= 0.01 * swaps.pairs)}`,
  );
  console.log(
    `  ≥ 99 % of case, punctuation and whitespace variants hit: ${variants.hits}/${variants.pairs} = ${percent(variants.hits / variants.pairs)} — ${verdict(variants.hits >= 0.99 * variants.pairs)}`,
  );
  const recall = recallOf(paraphrases) ?? 0;
  console.log(
    `  paraphrase recall (duplicate-question style) ≥ ${percent(EARLIER_PARAPHRASE_RECALL)}, the earlier bag-of-words guard's on this set: ${percent(recall)} — ${verdict(recall >= EARLIER_PARAPHRASE_RECALL)}`,
  );
}

async function run(embedder: Embedder): Promise<void> {
  let heldOut: Map<string, Tally> | undefined;
  for (const set of sets) {
    const tallies = report(embedder, set, await measure(embedder, set.pairs));
    if (set.name === 'held-out') heldOut = tallies;
  }
  if (heldOut !== undefined) goals(heldOut);
}

await run(new LocalEmbedder());
const ollama = await ollamaEmbedder();
if (typeof ollama === 'string') console.log(`\nollama/nomic-embed-text — skipped: ${ollama}`);
else await run(ollama);
if (process.env.OPENAI_API_KEY === undefined) console.log('openai/text-embedding-3-small — skipped: OPENAI_API_KEY is not set');
else console.log('openai embeddings — not measured by this script: embed through the gateway (`/v1/embeddings`) and add an embedder here');
