/** The embedding seam of the semantic cache. */

/** Turns texts into vectors. Vectors of one embedder are compared only with each other. */
export interface Embedder {
  /** Names the vector space and partitions stored vectors: `local-v2`, `ollama/nomic-embed-text`. */
  readonly id: string;
  /**
   * The name a per-embedder threshold is configured under (`cache.similarity_thresholds`):
   * `local` for the local embedder, the model name for a provider embedder.
   */
  readonly name?: string;
  /**
   * True for embedders that compare words, not meanings (`LocalEmbedder`). Their semantic hits
   * need the whole structure of the prompt, content words included (`verifierKeysMatch`), since
   * one swapped noun in a long sentence barely moves a lexical vector.
   */
  readonly lexical?: boolean;
  /**
   * True when embedding runs in process in well under a millisecond (`LocalEmbedder`): the cache
   * then embeds before the exact lookup so that one store round trip serves both layers. Provider
   * embedders leave it unset, so exact hits never pay for an embedding call.
   */
  readonly inProcess?: boolean;
  /**
   * False while the embedder may not be used: its start-up check is pending or failed
   * (`CheckedEmbedder`). The cache then matches exactly only. Absent means usable.
   */
  readonly usable?: boolean;
  /** Resolves with whether a pending start-up check passed (`CheckedEmbedder`); absent when there is none. */
  readonly ready?: Promise<boolean>;
  /** One vector per text, in order. Rejects on failure (the cache then bypasses with E4301). */
  embed(texts: string[], signal?: AbortSignal): Promise<number[][]>;
}
