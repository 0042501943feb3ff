/**
 * The start-up check of a cache embedder. A semantic layer on a broken embedder is worse than
 * none: a model that returns the same vector for every text makes every question a "hit". So,
 * before the semantic layer is turned on, the embedder must
 *
 * - answer at all, within the time allowed;
 * - return one finite, non-zero vector per text, all of one length, equal to the configured or
 *   store's expected length when there is one;
 * - give the same text the same vector, and two clearly different texts different vectors.
 *
 * On success a provider embedder's length is pinned, so that a model swapped under the same name
 * later fails its requests (E4301, bypassed) instead of mixing vector spaces.
 */
import type { Embedder } from './embedder.js';
import { ProviderEmbedder } from './provider-embedder.js';
import { cosineSimilarity } from '../similarity/vector-codec.js';

/** The outcome of `checkEmbedder`. */
export type EmbedderCheck = { ok: true; dimensions: number } | { ok: false; reason: string };

/** Options of `checkEmbedder`. */
export interface EmbedderCheckOptions {
  /** The vector length the store expects, when known (config `cache.embedder.dimensions`). */
  expectedDimensions?: number;
  /** Longest wait for the embedder, in milliseconds; default 10,000. */
  timeoutMs?: number;
}

// Two questions that share no content word, and the first again.
const PROBES = ['How do I reset my password?', 'What is the boiling point of water at sea level?', 'How do I reset my password?'];

/** Checks `embedder` as described in the file comment; never throws. */
export async function checkEmbedder(embedder: Embedder, options: EmbedderCheckOptions = {}): Promise<EmbedderCheck> {
  let vectors: number[][];
  const timeoutMs = options.timeoutMs ?? 10_000;
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  // The signal asks the embedder to stop; the timer gives the verdict even if it does not listen.
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`no answer within ${timeoutMs} ms`);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
    timer.unref?.();
  });
  try {
    vectors = await Promise.race([embedder.embed([...PROBES], controller.signal), deadline]);
  } catch (error) {
    return { ok: false, reason: `it did not answer: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    clearTimeout(timer);
  }
  if (!Array.isArray(vectors) || vectors.length !== PROBES.length)
    return { ok: false, reason: `it returned ${vectors.length} vectors for ${PROBES.length} texts` };
  const [first, other, again] = vectors as [number[], number[], number[]];
  const dimensions = first.length;
  if (vectors.some((vector) => !Array.isArray(vector) || vector.length !== dimensions)) return { ok: false, reason: 'its vectors differ in length' };
  if (dimensions === 0 || vectors.some((vector) => !vector.every(Number.isFinite) || vector.every((value) => value === 0))) {
    return { ok: false, reason: 'it returned an empty, zero or non-finite vector' };
  }
  if (options.expectedDimensions !== undefined && dimensions !== options.expectedDimensions) {
    return { ok: false, reason: `it returned ${dimensions} dimensions, the store expects ${options.expectedDimensions}` };
  }
  if (cosineSimilarity(first, other) > 0.999) return { ok: false, reason: 'two different texts gave the same vector' };
  if (cosineSimilarity(first, again) < 0.99) return { ok: false, reason: 'the same text gave different vectors' };
  if (embedder instanceof ProviderEmbedder) embedder.pinDimensions(dimensions);
  return { ok: true, dimensions };
}

/** Options of a `CheckedEmbedder`. */
export interface CheckedEmbedderOptions extends EmbedderCheckOptions {
  /** Called once if the check fails, with what failed and a one-line message. */
  warn: (details: { embedder: string; reason: string }, message: string) => void;
}

/**
 * An embedder behind its start-up check. The check starts at construction and runs beside
 * start-up rather than inside it: a provider embedder embeds through the gateway, which is what
 * is starting. Until the check passes the embedder is not `usable` (the cache matches exactly
 * only); if it fails, one warning is logged and it stays unusable.
 */
export class CheckedEmbedder implements Embedder {
  readonly id: string;
  readonly name: string | undefined;
  readonly lexical: boolean | undefined;
  readonly inProcess: boolean | undefined;
  /** Resolves with whether the check passed; never rejects. */
  readonly ready: Promise<boolean>;
  private state: 'checking' | 'passed' | 'failed' = 'checking';

  constructor(
    private readonly inner: Embedder,
    options: CheckedEmbedderOptions,
  ) {
    this.id = inner.id;
    this.name = inner.name;
    this.lexical = inner.lexical;
    this.inProcess = inner.inProcess;
    this.ready = checkEmbedder(inner, options).then((check) => {
      this.state = check.ok ? 'passed' : 'failed';
      if (!check.ok) {
        options.warn(
          { embedder: inner.id, reason: check.reason },
          `semantic cache off (exact matching only): embedder ${inner.id} failed its start-up check: ${check.reason}`,
        );
      }
      return check.ok;
    });
  }

  /** False until the start-up check has passed. */
  get usable(): boolean {
    return this.state === 'passed';
  }

  embed(texts: string[], signal?: AbortSignal): Promise<number[][]> {
    return this.inner.embed(texts, signal);
  }
}
