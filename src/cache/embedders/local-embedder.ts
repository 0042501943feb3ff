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
    const vector = new Float64Array(this.dimensions);
    let previous: string | undefined;
    for (const token of promptStructure(text)) {
      const content = token.role === 'content' || token.role === 'quantity';
      this.add(vector, `w:${token.key}`, content ? 1 : 0.35);
      if (token.role !== 'content') continue;
      const grams = charTrigrams(token.key);
      for (const gram of grams) this.add(vector, `c:${gram}`, 0.6 / Math.sqrt(grams.length));
      if (previous !== undefined) this.add(vector, `b:${previous} ${token.key}`, 0.5);
      previous = token.key;
    }
    let norm = 0;
    for (const value of vector) norm += value * value;
    const scale = norm === 0 ? 0 : 1 / Math.sqrt(norm);
    const out = new Array<number>(this.dimensions);
    for (let index = 0; index < this.dimensions; index++) out[index] = vector[index]! * scale;
    return out;
  }

  private add(vector: Float64Array, feature: string, weight: number): void {
    const hash = fnv1a(feature);
    const index = hash % this.dimensions;
    // A second, independent hash bit picks the sign so that collisions cancel out on average.
    const sign = fnv1a(`s${feature}`) & 1 ? 1 : -1;
    vector[index] = (vector[index] ?? 0) + sign * weight;
  }
}

function charTrigrams(word: string): string[] {
  const padded = `#${word}#`;
  if (padded.length <= 3) return [padded];
  const grams: string[] = [];
  for (let index = 0; index + 3 <= padded.length; index++) grams.push(padded.slice(index, index + 3));
  return grams;
}

/** 32-bit FNV-1a over UTF-16 code units. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
