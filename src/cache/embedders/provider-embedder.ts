/**
 * An embedder backed by a provider model (Ollama `nomic-embed-text`, OpenAI embeddings). The
 * gateway passes an `embed` function that goes through its provider layer, so embeddings get the
 * same timeouts, circuit breaker and micro-batching as completions. Texts carry the model's
 * documented query prefix (`queryPrefixFor`).
 */
import type { Embedder } from './embedder.js';
import { queryPrefixFor } from './task-prefix.js';

/** Options of a `ProviderEmbedder`. */
export interface ProviderEmbedderOptions {
  /** Vector-space id, conventionally `<provider>/<model>`. */
  id: string;
  /** The provider's model name; picks the query prefix and names the per-embedder threshold. */
  model?: string;
  /** Overrides the model's documented query prefix. */
  queryPrefix?: string;
  /** The vector length every answer must have; set from config or by the start-up check. */
  dimensions?: number;
  /** Embeds through the provider layer; rejects with a `GatewayError` on failure. */
  embed: (texts: string[], signal?: AbortSignal) => Promise<number[][]>;
}

/** Delegates to the provider layer and checks the shape of what comes back. */
export class ProviderEmbedder implements Embedder {
  readonly id: string;
  readonly name: string | undefined;
  /** The prefix every text is embedded with. */
  readonly queryPrefix: string;
  private expectedDimensions: number | undefined;
  private readonly embedFunction: ProviderEmbedderOptions['embed'];

  constructor(options: ProviderEmbedderOptions) {
    if (options.id.length === 0) throw new Error('ProviderEmbedder id should be a non-empty string, got ""');
    if (options.dimensions !== undefined && (!Number.isInteger(options.dimensions) || options.dimensions < 1)) {
      throw new Error(`ProviderEmbedder dimensions should be a positive integer, got ${options.dimensions}`);
    }
    this.id = options.id;
    this.name = options.model;
    this.queryPrefix = options.queryPrefix ?? queryPrefixFor(options.model ?? options.id);
    this.expectedDimensions = options.dimensions;
    this.embedFunction = options.embed;
  }

  /** The vector length answers must have, once known. */
  get dimensions(): number | undefined {
    return this.expectedDimensions;
  }

  /** Fixes the vector length every later answer must have (the start-up check calls it). */
  pinDimensions(dimensions: number): void {
    this.expectedDimensions = dimensions;
  }

  /** Embeds `texts`; rejects when the provider fails or returns vectors of the wrong count, length or values. */
  async embed(texts: string[], signal?: AbortSignal): Promise<number[][]> {
    const vectors = await this.embedFunction(
      texts.map((text) => this.queryPrefix + text),
      signal,
    );
    if (!Array.isArray(vectors) || vectors.length !== texts.length) {
      throw new Error(`embedder ${this.id} returned ${Array.isArray(vectors) ? vectors.length : 'no'} vectors for ${texts.length} texts`);
    }
    for (const vector of vectors) {
      if (!Array.isArray(vector) || vector.length === 0 || !vector.every((value) => Number.isFinite(value))) {
        throw new Error(`embedder ${this.id} returned a vector that is empty or not finite`);
      }
      if (this.expectedDimensions !== undefined && vector.length !== this.expectedDimensions) {
        throw new Error(`embedder ${this.id} returned ${vector.length} dimensions, expected ${this.expectedDimensions}`);
      }
    }
    return vectors;
  }
}
