/**
 * An embedder backed by a provider model (Ollama `nomic-embed-text`, OpenAI embeddings). The
 * gateway passes an `embed` function that goes through its provider layer, so embeddings get the
 * same timeouts, circuit breaker and micro-batching as completions.
 */
import type { Embedder } from './embedder.js';

/** Options of a `ProviderEmbedder`. */
export interface ProviderEmbedderOptions {
  /** Vector-space id, conventionally `<provider>/<model>`. */
  id: string;
  /** Embeds through the provider layer; rejects with a `GatewayError` on failure. */
  embed: (texts: string[], signal?: AbortSignal) => Promise<number[][]>;
}

/** Delegates to the provider layer and checks the shape of what comes back. */
export class ProviderEmbedder implements Embedder {
  readonly id: string;
  private readonly embedFunction: ProviderEmbedderOptions['embed'];

  constructor(options: ProviderEmbedderOptions) {
    if (options.id.length === 0) throw new Error('ProviderEmbedder id should be a non-empty string, got ""');
    this.id = options.id;
    this.embedFunction = options.embed;
  }

  /** Embeds `texts`; rejects when the provider fails or returns vectors of the wrong count or shape. */
  async embed(texts: string[], signal?: AbortSignal): Promise<number[][]> {
    const vectors = await this.embedFunction(texts, signal);
    if (!Array.isArray(vectors) || vectors.length !== texts.length) {
      throw new Error(`embedder ${this.id} returned ${Array.isArray(vectors) ? vectors.length : 'no'} vectors for ${texts.length} texts`);
    }
    for (const vector of vectors) {
      if (!Array.isArray(vector) || vector.length === 0 || !vector.every((value) => Number.isFinite(value))) {
        throw new Error(`embedder ${this.id} returned a vector that is empty or not finite`);
      }
    }
    return vectors;
  }
}
