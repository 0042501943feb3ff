/**
 * An offline embedder: signed feature hashing of the prompt's structure tokens (`promptStructure`:
 * stems, numbers in digits, closed-class words by role), bigrams of content words and character
 * trigrams of stems into a fixed number of dimensions, L2-normalised.
 *
 * It is lexical, not semantic: it scores rewordings that share most of their words or word stems
 * ("how do I reset my password" / "how can I reset my password") as similar, and misses
 * paraphrases with different vocabulary ("car" / "automobile"). Misses are safe; the verifier
 * (`verifierKey`) demands the whole structure for its hits, so it stays conservative.
 */
import type { Embedder } from './embedder.js';
import { promptStructure } from '../analysis/prompt-structure.js';

/** Options of a `LocalEmbedder`. */
export interface LocalEmbedderOptions {
  /** Vector length; default 512 (config `cache.embedder.dimensions`). */
  dimensions?: number;
}

/** Hashed word and character n-grams; see the file comment for what it can and cannot match. */
export class LocalEmbedder implements Embedder {
  readonly id: string;
  /** Per-embedder thresholds are configured under `local`. */
  readonly name = 'local';
  /** Lexical: `SemanticCache` also requires the same content words, in the same roles, for its hits. */
  readonly lexical = true;
  /** In process and cheap: embedded before the exact lookup (see `Embedder.inProcess`). */
  readonly inProcess = true;
  readonly dimensions: number;
  /** The one buffer `embedOne` works in, cleared per call (the call is synchronous). */
  private scratch: Float64Array | undefined;

  constructor(options: LocalEmbedderOptions = {}) {
    const dimensions = options.dimensions ?? 512;
    if (!Number.isInteger(dimensions) || dimensions < 16 || dimensions > 65_536) {
      throw new Error(`LocalEmbedder dimensions should be an integer from 16 to 65536, got ${dimensions}`);
    }
    this.dimensions = dimensions;
    this.id = dimensions === 512 ? 'local-v2' : `local-v2-${dimensions}`;
  }

  /** Embeds each text; synchronous work, returned as a promise to fit the `Embedder` seam. */
  embed(texts: string[], _signal?: AbortSignal): Promise<number[][]> {
    return Promise.resolve(texts.map((text) => this.embedOne(text)));
  }

  /** Embeds one text into a unit vector (all zeros for text without words). */
  embedOne(text: string): number[] {
    // One buffer per embedder, cleared per call (the call is synchronous): a typed array of its own
    // is an allocation outside the JS heap, about 3 µs on Node 20.
    const vector = (this.scratch ??= new Float64Array(this.dimensions));
    vector.fill(0);
    let previous: string | undefined;
    for (const token of promptStructure(text)) {
      const content = token.role === 'content' || token.role === 'quantity';
      const key = token.key;
      this.add(vector, fnv(WORD.value, key, 0, key.length), fnv(WORD.sign, key, 0, key.length), content ? 1 : 0.35);
      if (token.role !== 'content') continue;
      // The character trigrams of `#key#` (the whole of it when shorter than three).
      const padded = `#${key}#`;
      const count = padded.length <= 3 ? 1 : padded.length - 2;
      const weight = 0.6 / Math.sqrt(count);
      for (let start = 0; start < count; start++) {
        const end = Math.min(padded.length, start + 3);
        this.add(vector, fnv(GRAM.value, padded, start, end), fnv(GRAM.sign, padded, start, end), weight);
      }
      if (previous !== undefined) this.add(vector, pairHash(PAIR.value, previous, key), pairHash(PAIR.sign, previous, key), 0.5);
      previous = key;
    }
    let norm = 0;
    for (let index = 0; index < this.dimensions; index++) norm += vector[index]! * vector[index]!;
    const scale = norm === 0 ? 0 : 1 / Math.sqrt(norm);
    const out = new Array<number>(this.dimensions);
    for (let index = 0; index < this.dimensions; index++) out[index] = vector[index]! * scale;
    return out;
  }

  /**
   * Adds `weight` to the dimension `value` picks, with the sign `sign` picks: `value` is the FNV-1a
   * hash of the feature's text (`w:<key>`, `c:<trigram>`, `b:<previous> <key>`) and `sign` that of
   * the same text after an `s`, a second, independent hash, so that collisions cancel out on average.
   */
  private add(vector: Float64Array, value: number, sign: number, weight: number): void {
    const index = (value >>> 0) % this.dimensions;
    vector[index] = vector[index]! + (sign & 1 ? 1 : -1) * weight;
  }
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** 32-bit FNV-1a over the UTF-16 code units `text[start, end)`, continuing from the state `hash` (not yet made unsigned). */
function fnv(hash: number, text: string, start: number, end: number): number {
  for (let index = start; index < end; index++) hash = Math.imul(hash ^ text.charCodeAt(index), FNV_PRIME);
  return hash;
}

/** `fnv` of `<previous> <key>`, continuing from `state`: the text of a bigram feature, never built. */
function pairHash(state: number, previous: string, key: string): number {
  return fnv(fnv(fnv(state, previous, 0, previous.length), ' ', 0, 1), key, 0, key.length);
}

/** The hash states after a feature's prefix (`w:`) and after its sign prefix (`sw:`): features are hashed without building their text. */
function prefixStates(prefix: string): { value: number; sign: number } {
  return { value: fnv(FNV_OFFSET, prefix, 0, prefix.length), sign: fnv(FNV_OFFSET, `s${prefix}`, 0, prefix.length + 1) };
}
const WORD = prefixStates('w:');
const GRAM = prefixStates('c:');
const PAIR = prefixStates('b:');
