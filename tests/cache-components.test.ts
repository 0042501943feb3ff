/** The building blocks of the semantic cache: keys, embedders, LSH and vectors (the verifier has its own file). */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalDigest, canonicalJson } from '../src/cache/keys/canonical-json.js';
import { canonicalRequestKey } from '../src/cache/keys/canonical-request-key.js';
import { scopeKey } from '../src/cache/keys/cache-scope.js';
import { LocalEmbedder } from '../src/cache/embedders/local-embedder.js';
import { promptStructure } from '../src/cache/analysis/prompt-structure.js';
import { LshHasher } from '../src/cache/similarity/lsh-hasher.js';
import { partitionKey } from '../src/cache/keys/partition-key.js';
import { ProviderEmbedder } from '../src/cache/embedders/provider-embedder.js';
import { CheckedEmbedder, checkEmbedder } from '../src/cache/embedders/embedder-check.js';
import type { Embedder } from '../src/cache/embedders/embedder.js';
import { queryPrefixFor } from '../src/cache/embedders/task-prefix.js';
import { normalizePromptText } from '../src/cache/keys/normalize-prompt-text.js';
import { MAX_SEMANTIC_CHARS, semanticText } from '../src/cache/similarity/semantic-text.js';
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

  it('sorts small and large objects alike, by UTF-16 code units', () => {
    for (const size of [3, 16, 17, 500]) {
      const names = Array.from({ length: size }, (_, index) => `k${String(index).padStart(4, '0')}`);
      const reversed = Object.fromEntries([...names].reverse().map((name) => [name, 1]));
      expect(canonicalJson(reversed)).toBe(`{${names.map((name) => `"${name}":1`).join(',')}}`);
    }
    expect(canonicalJson({ b: 1, B: 2, a: 3, é: 4, '10': 5, '9': 6 })).toBe('{"10":5,"9":6,"B":2,"a":3,"b":1,"é":4}');
  });

  it('follows JSON where a member has no JSON value', () => {
    expect(canonicalJson({ a: [undefined, () => 1, NaN, Infinity, null], b: () => 1, c: Symbol('s'), d: {} })).toBe('{"a":[null,null,null,null,null],"d":{}}');
    expect(canonicalJson([])).toBe('[]');
    expect(canonicalJson('x"y')).toBe('"x\\"y"');
    expect(canonicalJson({ 'k"ey\n': 'v' })).toBe('{"k\\"ey\\n":"v"}');
  });

  it('keeps a __proto__ key apart from an empty object (a parsed body may carry one)', () => {
    const parsed: unknown = JSON.parse('{"provider_options":{"__proto__":{"x":1}}}');
    expect(canonicalJson(parsed)).toBe('{"provider_options":{"__proto__":{"x":1}}}');
    expect(canonicalDigest(parsed)).not.toBe(canonicalDigest({ provider_options: {} }));
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
    // The exact key covers the partition: another history, system prompt or parameter is another key.
    expect(canonicalRequestKey(first, 's')).not.toBe(canonicalRequestKey(otherHistory, 's'));
    const withSystem = parseInferenceRequest({ ...first, logical_prompt: { ...first.logical_prompt, system: 'Be terse.' } });
    const warmer = parseInferenceRequest({ ...first, logical_prompt: { ...first.logical_prompt, temperature: 0.9 } });
    expect(canonicalRequestKey(withSystem, 's')).not.toBe(canonicalRequestKey(first, 's'));
    expect(canonicalRequestKey(warmer, 's')).not.toBe(canonicalRequestKey(first, 's'));
  });
});

describe('exact key: trivial variants share one key', () => {
  const key = (text: string, extra: Record<string, unknown> = {}) => canonicalRequestKey(request([{ role: 'user', content: text }], extra), 's');

  it('folds Unicode forms, case, whitespace, punctuation spacing and trailing punctuation', () => {
    const variants = [
      'What is the capital of India?',
      'what is the capital of india',
      'WHAT IS THE CAPITAL OF INDIA?',
      '  What  is the\ncapital of India ? ',
      'What\u00a0is the capital of India\uff1f',
      'What is the capital of India???',
    ];
    for (const variant of variants) expect(key(variant)).toBe(key(variants[0]!));
    expect(normalizePromptText('Where is roll no.1 seated?')).toBe(normalizePromptText('Where is roll no. 1 seated?'));
    expect(normalizePromptText('What\u2019s \u201cthis\u201d?')).toBe(normalizePromptText('What\'s "this"'));
  });

  it('writes numbers in words as digits', () => {
    expect(key('Set a timer for ten minutes.')).toBe(key('set a timer for 10 minutes'));
    expect(key('Give me a twenty-one day plan')).toBe(key('Give me a 21 day plan'));
    expect(key('What is the tenth Fibonacci number?')).toBe(key('What is the 10th Fibonacci number?'));
    expect(key('Set a timer for ten minutes.')).not.toBe(key('Set a timer for 11 minutes.'));
  });

  it('keeps apart what differs in meaning: decimals, code, identifiers, and capitals that spell a function word', () => {
    expect(key('Is 3.5 bigger than 3?')).not.toBe(key('Is 3. 5 bigger than 3?'));
    expect(key('Why does `X = 1` fail?')).not.toBe(key('Why does `x = 1` fail?'));
    expect(key('Fix this:\n```py\nprint(X)\n```')).not.toBe(key('fix this:\n```py\nprint(x)\n```'));
    expect(key('Fix this:\nprint(X)')).not.toBe(key('Fix this:\nprint(x)'));
    expect(key('Rename parseInput to parse')).not.toBe(key('Rename parseinput to parse'));
    expect(key('Rename MAX_SIZE')).not.toBe(key('Rename max_size'));
    expect(key('Who handles IT here?')).not.toBe(key('Who handles it here?'));
    expect(key('Fix this:\nif x:\n    return 1\nreturn 2')).not.toBe(key('Fix this:\nif x:\n    return 1\n    return 2'));
  });

  it('keeps pinned-model keys free of routing limits, and auto keys bound to them', () => {
    const auto = (constraints: Record<string, unknown>) =>
      canonicalRequestKey(
        parseInferenceRequest({ agent_did: 'did:example:a', constraints, logical_prompt: { messages: [{ role: 'user', content: 'hello' }] } }),
        's',
      );
    expect(auto({ preferred_providers: ['alpha'] })).not.toBe(auto({ preferred_providers: ['beta'] }));
    expect(auto({ preferred_providers: ['alpha', 'beta'] })).not.toBe(auto({ preferred_providers: ['beta', 'alpha'] }));
    expect(auto({ max_cost_cents: 1 })).not.toBe(auto({ max_cost_cents: 2 }));
    expect(auto({ max_latency_ms: 1000 })).not.toBe(auto({ max_latency_ms: 2000 }));
    expect(auto({})).toBe(auto({ max_cost_cents: 100, max_latency_ms: 30_000, preferred_providers: [] }));
    expect(key('hello', {})).toBe(canonicalRequestKey(request([{ role: 'user', content: 'hello' }]), 's'));
    const pinned = (constraints: Record<string, unknown>) =>
      canonicalRequestKey(
        parseInferenceRequest({ agent_did: 'did:example:a', model_id: 'm', constraints, logical_prompt: { messages: [{ role: 'user', content: 'hello' }] } }),
        's',
      );
    expect(pinned({ preferred_providers: ['alpha'] })).toBe(pinned({ preferred_providers: ['beta'], max_cost_cents: 1 }));
  });
});

describe('semanticText', () => {
  it('leaves a last message longer than MAX_SEMANTIC_CHARS to the exact layer', () => {
    expect(semanticText(request([{ role: 'user', content: 'x'.repeat(MAX_SEMANTIC_CHARS) }]).logical_prompt)).toHaveLength(MAX_SEMANTIC_CHARS);
    expect(semanticText(request([{ role: 'user', content: 'x'.repeat(MAX_SEMANTIC_CHARS + 1) }]).logical_prompt)).toBeUndefined();
  });

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

describe('LocalEmbedder', () => {
  it('returns unit vectors of the configured size, the same for the same text', async () => {
    const embedder = new LocalEmbedder({ dimensions: 256 });
    const [a, b, empty] = await embedder.embed(['Reset my password', 'Reset my password', '?!']);
    expect(a).toHaveLength(256);
    expect(Math.hypot(...a!)).toBeCloseTo(1, 6);
    expect(a).toEqual(b);
    expect(empty!.every((value) => value === 0)).toBe(true);
    expect(embedder.id).toBe('local-v2-256');
    expect(new LocalEmbedder().id).toBe('local-v2');
  });

  it('scores rewordings above unrelated questions', async () => {
    const embedder = new LocalEmbedder();
    const [a, b, c] = await embedder.embed(['How do I reset my password?', 'How do you reset a password?', 'What is the capital of France?']);
    expect(cosineSimilarity(a!, b!)).toBeGreaterThan(0.85);
    expect(cosineSimilarity(a!, c!)).toBeLessThan(0.5);
  });

  it('rejects a bad dimension count with what it received', () => {
    expect(() => new LocalEmbedder({ dimensions: 3 })).toThrow('got 3');
  });

  it('gives exactly the vectors of its definition: each feature text hashed with FNV-1a (stored entries stay comparable)', () => {
    // The definition, written the slow way: every feature as text, hashed whole.
    const fnv1a = (text: string): number => {
      let hash = 0x811c9dc5;
      for (let index = 0; index < text.length; index++) hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193);
      return hash >>> 0;
    };
    const reference = (text: string, dimensions: number): number[] => {
      const vector = new Float64Array(dimensions);
      const add = (feature: string, weight: number): void => {
        vector[fnv1a(feature) % dimensions]! += (fnv1a(`s${feature}`) & 1 ? 1 : -1) * weight;
      };
      let previous: string | undefined;
      for (const token of promptStructure(text)) {
        add(`w:${token.key}`, token.role === 'content' || token.role === 'quantity' ? 1 : 0.35);
        if (token.role !== 'content') continue;
        const padded = `#${token.key}#`;
        const grams = padded.length <= 3 ? [padded] : Array.from({ length: padded.length - 2 }, (_, index) => padded.slice(index, index + 3));
        for (const gram of grams) add(`c:${gram}`, 0.6 / Math.sqrt(grams.length));
        if (previous !== undefined) add(`b:${previous} ${token.key}`, 0.5);
        previous = token.key;
      }
      const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
      return Array.from(vector, (value) => (norm === 0 ? 0 : value * (1 / norm)));
    };
    const words = [
      'How',
      'do',
      'I',
      'reset',
      'my',
      'password',
      'a',
      'Über',
      'naïve',
      '10',
      'km',
      'x',
      'GPU',
      'didn’t',
      'C++',
      '`npm ci`',
      'dog',
      'bites',
      'man',
      '2024-03-05',
      '日本語',
      '?',
    ];
    const texts = Array.from({ length: 300 }, (_, index) =>
      Array.from({ length: 1 + (index % 9) }, (_, offset) => words[(index * 7 + offset * 13) % words.length]).join(index % 4 === 0 ? ', ' : ' '),
    );
    for (const dimensions of [512, 16]) {
      const embedder = new LocalEmbedder({ dimensions });
      const differing = texts.filter((text) => {
        const expected = reference(text, dimensions);
        return embedder.embedOne(text).some((value, index) => value !== expected[index]);
      });
      expect(differing).toEqual([]);
    }
  });
});

describe('ProviderEmbedder', () => {
  it('passes texts and the signal through to the provider layer', async () => {
    const signal = new AbortController().signal;
    const calls: Array<[string[], AbortSignal | undefined]> = [];
    const embedder = new ProviderEmbedder({
      id: 'openai/text-embedding-3-small',
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

describe('task prefixes', () => {
  it('embeds cache queries for nomic-embed-text as search queries, and OpenAI models bare', async () => {
    expect(queryPrefixFor('nomic-embed-text')).toBe('search_query: ');
    expect(queryPrefixFor('nomic-embed-text:latest')).toBe('search_query: ');
    expect(queryPrefixFor('text-embedding-3-small')).toBe('');
    const seen: string[][] = [];
    const embedder = new ProviderEmbedder({
      id: 'ollama/nomic-embed-text',
      model: 'nomic-embed-text',
      embed: (texts) => {
        seen.push(texts);
        return Promise.resolve(texts.map(() => [1, 0]));
      },
    });
    await embedder.embed(['Why is the sky blue?']);
    expect(seen).toEqual([['search_query: Why is the sky blue?']]);
    expect(embedder.name).toBe('nomic-embed-text');
  });
});

/** An embedder whose vectors a test chooses. */
function fakeEmbedder(vectors: (text: string, call: number) => number[]): ProviderEmbedder {
  let call = 0;
  return new ProviderEmbedder({ id: 'p/m', model: 'm', embed: (texts) => Promise.resolve(texts.map((text) => vectors(text, call++))) });
}

describe('embedder start-up check', () => {
  it('passes a working embedder and pins its dimension count', async () => {
    const embedder = fakeEmbedder((text) => (text.includes('password') ? [1, 0, 0] : [0, 1, 0]));
    expect(await checkEmbedder(embedder)).toEqual({ ok: true, dimensions: 3 });
    await expect(embedder.embed(['x'])).resolves.toHaveLength(1);
    const swapped = new ProviderEmbedder({ id: 'p/m', embed: (texts) => Promise.resolve(texts.map(() => [1, 0])) });
    swapped.pinDimensions(3);
    await expect(swapped.embed(['x'])).rejects.toThrow('2 dimensions, expected 3');
    expect(await checkEmbedder(new LocalEmbedder())).toEqual({ ok: true, dimensions: 512 });
  });

  it('fails an embedder that gives different texts the same vector, or the same text different vectors', async () => {
    expect(await checkEmbedder(fakeEmbedder(() => [0.5, 0.5]))).toMatchObject({ ok: false, reason: 'two different texts gave the same vector' });
    expect(await checkEmbedder(fakeEmbedder((_text, call) => [Math.cos(call), Math.sin(call)]))).toMatchObject({
      ok: false,
      reason: 'the same text gave different vectors',
    });
  });

  it('fails an embedder with the wrong dimension count, zero vectors, or no answer', async () => {
    const distinct = (text: string) => (text.includes('password') ? [1, 0, 0] : [0, 1, 0]);
    expect(await checkEmbedder(fakeEmbedder(distinct), { expectedDimensions: 768 })).toMatchObject({
      ok: false,
      reason: 'it returned 3 dimensions, the store expects 768',
    });
    expect(await checkEmbedder(fakeEmbedder(() => [0, 0]))).toMatchObject({ ok: false, reason: 'it returned an empty, zero or non-finite vector' });
    const failing: Embedder = { id: 'down', embed: () => Promise.reject(new Error('connection refused')) };
    expect(await checkEmbedder(failing)).toMatchObject({ ok: false, reason: 'it did not answer: connection refused' });
    const silent: Embedder = { id: 'silent', embed: () => new Promise(() => undefined) };
    expect(await checkEmbedder(silent, { timeoutMs: 20 })).toMatchObject({ ok: false, reason: 'it did not answer: no answer within 20 ms' });
  });

  it('keeps a checked embedder unusable until it passes, and warns once when it fails', async () => {
    const warnings: string[] = [];
    const good = new CheckedEmbedder(new LocalEmbedder(), { warn: (_details, message) => warnings.push(message) });
    expect(good.usable).toBe(false);
    expect(await good.ready).toBe(true);
    expect(good.usable).toBe(true);
    const bad = new CheckedEmbedder(
      fakeEmbedder(() => [0.5, 0.5]),
      { warn: (_details, message) => warnings.push(message) },
    );
    expect(await bad.ready).toBe(false);
    expect(bad.usable).toBe(false);
    expect(warnings).toEqual(['semantic cache off (exact matching only): embedder p/m failed its start-up check: two different texts gave the same vector']);
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

  it('keeps the buckets of entries already stored: the same labels as every earlier version', () => {
    // Digests of the labels of 200 prompts, from the implementation before the hyperplanes were
    // stored by dimension: a change of layout or arithmetic that moves any label fails here.
    const words = ['How', 'do', 'I', 'reset', 'my', 'password', 'dog', 'bites', 'man', '10', 'km', 'GPU', 'capital', 'France', 'why', 'not'];
    const texts = Array.from({ length: 200 }, (_, index) =>
      Array.from({ length: 2 + (index % 7) }, (_, offset) => words[(index * 5 + offset * 3) % words.length]).join(' '),
    );
    const digest = (dimensions: number, tables: number, bits: number) => {
      const hasher = new LshHasher({ dimensions, tables, bits, seed: 'local-v2' });
      const embedder = new LocalEmbedder({ dimensions });
      const labels = texts.map((text) => hasher.buckets(normalizeVector(embedder.embedOne(text))!).join(' '));
      return { first: labels[0], digest: createHash('sha256').update(labels.join('\n')).digest('hex').slice(0, 32) };
    };
    expect(digest(512, 12, 10)).toEqual({ first: '0.6l 1.b2 2.d 3.lk 4.m4 5.13 6.25 7.15 8.3t 9.8z 10.78 11.q9', digest: '8914901652d104e069c598b9053caac3' });
    expect(digest(64, 3, 5)).toEqual({ first: '0.c 1.e 2.9', digest: '60cd9bc4101e564bdb78ad384537f384' });
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

  it('gives every normalised vector its own values, across the shared slabs they are cut from', () => {
    const inputs = Array.from({ length: 40 }, (_, index) => Array.from({ length: 512 }, (_, dimension) => ((index * 31 + dimension * 7) % 13) - 6));
    const vectors = inputs.map((input) => normalizeVector(input)!);
    const expected = inputs.map((input) => {
      const norm = Math.sqrt(input.reduce((sum, value) => sum + value * value, 0));
      return Float32Array.from(input, (value) => value * (1 / norm));
    });
    expect(vectors.filter((vector, index) => vector.some((value, dimension) => value !== expected[index]![dimension]))).toEqual([]);
    vectors.forEach((vector, index) => vector.fill(index)); // writing one vector touches no other
    expect(vectors.every((vector, index) => vector.length === 512 && vector.every((value) => value === index))).toBe(true);
    expect(normalizeVector(Array.from({ length: 4_096 }, () => 1))).toEqual(new Float32Array(4_096).fill(1 / 64));
  });
});
