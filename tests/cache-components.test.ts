/** The building blocks of the semantic cache: keys, guard, embedders, LSH, vectors, and the labelled set. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalDigest, canonicalJson } from '../src/cache/keys/canonical-json.js';
import { canonicalRequestKey } from '../src/cache/keys/canonical-request-key.js';
import { scopeKey } from '../src/cache/keys/cache-scope.js';
import { contentStems, contentStemsMatch } from '../src/cache/similarity/content-words.js';
import { LocalEmbedder } from '../src/cache/embedders/local-embedder.js';
import { LshHasher } from '../src/cache/similarity/lsh-hasher.js';
import { partitionKey } from '../src/cache/keys/partition-key.js';
import { ProviderEmbedder } from '../src/cache/embedders/provider-embedder.js';
import { guardAllows, guardFeatures } from '../src/cache/similarity/semantic-guard.js';
import { semanticText } from '../src/cache/similarity/semantic-text.js';
import { cosineSimilarity, cosineToQuantized, decodeVector, encodeVector, normalizeVector, quantizeVector } from '../src/cache/similarity/vector-codec.js';
import { parseInferenceRequest } from '../src/models/inference-request.js';
import type { InferenceRequest } from '../src/models/inference-request.js';

function request(messages: unknown[], extra: Record<string, unknown> = {}): InferenceRequest {
  return parseInferenceRequest({ agent_did: 'did:example:a', model_id: 'm', logical_prompt: { messages, ...extra } });
}

describe('canonicalJson', () => {
  it('sorts keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalDigest({ x: 1, y: 2 })).toBe(canonicalDigest({ y: 2, x: 1 }));
    expect(canonicalDigest([1, 2])).not.toBe(canonicalDigest([2, 1]));
  });
});

describe('cache keys', () => {
  it('keeps scopes apart, whatever the tenant and agent names', () => {
    expect(scopeKey({ tenant: 'a:b', agent: 'c' }, 'agent')).not.toBe(scopeKey({ tenant: 'a', agent: 'b:c' }, 'agent'));
    expect(scopeKey({ tenant: 't1', agent: 'x' }, 'tenant')).toBe(scopeKey({ tenant: 't1', agent: 'y' }, 'tenant'));
    expect(scopeKey({ tenant: 't1', agent: 'x' }, 'global')).toBe(scopeKey({ tenant: 't2', agent: 'y' }, 'global'));
  });

  it('puts the earlier turns in the partition and only the last message in the exact key', () => {
    const first = request([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
      { role: 'user', content: 'What is Rust?' },
    ]);
    const reworded = request([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
      { role: 'user', content: 'What is Rust, exactly?' },
    ]);
    const otherHistory = request([
      { role: 'user', content: 'Hey' },
      { role: 'assistant', content: 'Hello' },
      { role: 'user', content: 'What is Rust?' },
    ]);
    expect(partitionKey(first, 's')).toBe(partitionKey(reworded, 's'));
    expect(canonicalRequestKey(first, 's')).not.toBe(canonicalRequestKey(reworded, 's'));
    expect(partitionKey(first, 's')).not.toBe(partitionKey(otherHistory, 's'));
    expect(canonicalRequestKey(first, 's')).not.toBe(canonicalRequestKey(first, 't'));
  });
});

describe('semanticText', () => {
  it('embeds the last user message and leaves images and assistant turns to the exact layer', () => {
    expect(semanticText(request([{ role: 'user', content: '  Why is the sky blue?  ' }]).logical_prompt)).toBe('Why is the sky blue?');
    expect(
      semanticText(
        request([
          {
            role: 'user',
            content: [
              { type: 'text', text: 'a' },
              { type: 'text', text: 'b' },
            ],
          },
        ]).logical_prompt,
      ),
    ).toBe('a\nb');
    expect(
      semanticText(
        request([
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image', url: 'https://example.com/x.png' },
            ],
          },
        ]).logical_prompt,
      ),
    ).toBeUndefined();
    expect(
      semanticText(
        request([
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Sure,' },
        ]).logical_prompt,
      ),
    ).toBeUndefined();
  });
});

describe('semantic guard', () => {
  it('extracts numbers, negations and named entities', () => {
    expect(guardFeatures('Please refund order 1,234 and five items for Alice at ACME, not Bob.')).toEqual({
      numbers: ['1234', '5'],
      negations: 1,
      entities: ['acme', 'alice', 'bob'],
    });
    expect(guardFeatures("Why doesn't my parseUserInput work with jane@example.com?")).toMatchObject({
      negations: 1,
      entities: ['jane@example.com', 'parseuserinput'],
    });
  });

  it('ignores sentence-initial capitals of common words and the pronoun I', () => {
    expect(guardFeatures('What is a closure? How do I use one?').entities).toEqual([]);
    expect(guardFeatures('Berlin has how many inhabitants?').entities).toEqual(['berlin']);
  });

  it('blocks changed numbers, negations, names and content words, and allows rewordings', () => {
    expect(guardAllows('Refund order 1234', 'Refund order 1235', true)).toBe(false);
    expect(guardAllows('Is X safe?', 'Is X not safe?', true)).toBe(false);
    expect(guardAllows('Is Paris safe?', 'Is London safe?', true)).toBe(false);
    expect(guardAllows('paint a fence for my garden', 'paint a fence for my garage', true)).toBe(false);
    expect(guardAllows('paint a fence for my garden', 'paint a fence for my garage', false)).toBe(true);
    expect(guardAllows('How do I fix a leaking faucet?', 'How can I fix a leaky faucet?', true)).toBe(true);
  });

  it('matches content stems by spelling variants only', () => {
    expect(contentStems("What's the colour of the leaves?")).toEqual(['colour', 'leave']);
    expect(contentStemsMatch(['celsius', 'fahrenheit'], ['fahrenheit', 'celsius'])).toBe(true);
    expect(contentStemsMatch(['celsius', 'fahrenheit'], ['fahrenheit', 'celsius'], true)).toBe(false);
    expect(contentStemsMatch(['color'], ['colour'])).toBe(true);
    expect(contentStemsMatch(['garden'], ['garage'])).toBe(false);
    expect(contentStemsMatch(['fence', 'garden'], ['fence'])).toBe(false);
  });
});

describe('LocalEmbedder', () => {
  it('returns unit vectors of the configured size, the same for the same text', async () => {
    const embedder = new LocalEmbedder({ dimensions: 256 });
    const [a, b, empty] = await embedder.embed(['Reset my password', 'Reset my password', '?!']);
    expect(a).toHaveLength(256);
    expect(Math.hypot(...a!)).toBeCloseTo(1, 6);
    expect(a).toEqual(b);
    expect(empty!.every((value) => value === 0)).toBe(true);
    expect(embedder.id).toBe('local-v1-256');
    expect(new LocalEmbedder().id).toBe('local-v1');
  });

  it('scores rewordings above unrelated questions', async () => {
    const embedder = new LocalEmbedder();
    const [a, b, c] = await embedder.embed(['How do I reset my password?', 'How can I reset my password?', 'What is the capital of France?']);
    expect(cosineSimilarity(a!, b!)).toBeGreaterThan(0.85);
    expect(cosineSimilarity(a!, c!)).toBeLessThan(0.5);
  });

  it('rejects a bad dimension count with what it received', () => {
    expect(() => new LocalEmbedder({ dimensions: 3 })).toThrow('got 3');
  });
});

describe('ProviderEmbedder', () => {
  it('passes texts and the signal through to the provider layer', async () => {
    const signal = new AbortController().signal;
    const calls: Array<[string[], AbortSignal | undefined]> = [];
    const embedder = new ProviderEmbedder({
      id: 'ollama/nomic-embed-text',
      embed: (texts, given) => {
        calls.push([texts, given]);
        return Promise.resolve(texts.map(() => [0.1, 0.2]));
      },
    });
    expect(await embedder.embed(['a', 'b'], signal)).toEqual([
      [0.1, 0.2],
      [0.1, 0.2],
    ]);
    expect(calls).toEqual([[['a', 'b'], signal]]);
  });

  it('rejects vectors of the wrong count or with non-finite values', async () => {
    await expect(new ProviderEmbedder({ id: 'p/m', embed: () => Promise.resolve([[1]]) }).embed(['a', 'b'])).rejects.toThrow('1 vectors for 2 texts');
    await expect(new ProviderEmbedder({ id: 'p/m', embed: () => Promise.resolve([[Number.NaN]]) }).embed(['a'])).rejects.toThrow('not finite');
  });
});

describe('LshHasher', () => {
  it('derives the same buckets on every instance and puts close vectors together', async () => {
    const embedder = new LocalEmbedder();
    const [a, b, c] = await embedder.embed(['How do I reset my password?', 'How can I reset my password?', 'Best pizza in Naples?']);
    const first = new LshHasher({ dimensions: 512, tables: 12, bits: 10, seed: 'local-v1' });
    const second = new LshHasher({ dimensions: 512, tables: 12, bits: 10, seed: 'local-v1' });
    const bucketsA = first.buckets(normalizeVector(a!)!);
    expect(second.buckets(normalizeVector(a!)!)).toEqual(bucketsA);
    const shared = (other: string[]) => other.filter((bucket, index) => bucket === bucketsA[index]).length;
    expect(shared(first.buckets(normalizeVector(b!)!))).toBeGreaterThan(shared(first.buckets(normalizeVector(c!)!)));
    expect(new LshHasher({ dimensions: 512, tables: 12, bits: 10, seed: 'other' }).buckets(normalizeVector(a!)!)).not.toEqual(bucketsA);
  });
});

describe('vector codec', () => {
  it('quantises to one byte per dimension with a cosine error under 0.01', async () => {
    const [a, b] = await new LocalEmbedder().embed(['How do I reset my password?', 'How can I reset my password?']);
    const stored = decodeVector(encodeVector(quantizeVector(normalizeVector(a!)!)));
    expect(stored.byteLength).toBe(512);
    expect(Math.abs(cosineToQuantized(normalizeVector(b!)!, stored) - cosineSimilarity(a!, b!))).toBeLessThan(0.01);
    expect(normalizeVector([0, 0])).toBeUndefined();
  });
});

describe('labelled pairs (tests/fixtures/cache-pairs.json)', () => {
  interface Pair {
    a: string;
    b: string;
    label: 'same' | 'different';
    kind: string;
  }
  const { pairs } = JSON.parse(readFileSync(new URL('./fixtures/cache-pairs.json', import.meta.url), 'utf8')) as { pairs: Pair[] };

  it('holds at least 200 pairs across every kind of near-miss', () => {
    expect(pairs.length).toBeGreaterThanOrEqual(200);
    for (const kind of ['paraphrase', 'number', 'negation', 'entity', 'substitution', 'unrelated'])
      expect(pairs.filter((pair) => pair.kind === kind).length).toBeGreaterThanOrEqual(10);
  });

  it('keeps precision at or above 97% with the shipped default (local embedder, 0.85, guard)', async () => {
    const embedder = new LocalEmbedder();
    let hits = 0;
    let wrong = 0;
    for (const pair of pairs) {
      const [a, b] = await embedder.embed([pair.a, pair.b]);
      if (cosineSimilarity(a!, b!) >= 0.85 && guardAllows(pair.a, pair.b, true)) {
        hits += 1;
        if (pair.label === 'different') wrong += 1;
      }
    }
    expect(hits).toBeGreaterThan(50);
    expect((hits - wrong) / hits).toBeGreaterThanOrEqual(0.97);
  });
});
