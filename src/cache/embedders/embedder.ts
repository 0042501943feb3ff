/** The embedding seam of the semantic cache. */

/** Turns texts into vectors. Vectors of one embedder are compared only with each other. */
export interface Embedder {
  /** Names the vector space and partitions stored vectors: `local-v1`, `ollama/nomic-embed-text`. */
  readonly id: string;
  /**
   * True for embedders that compare words, not meanings (`LocalEmbedder`). Their semantic hits
   * additionally need the same content words (`contentStemsMatch`), since one swapped noun in a
   * long sentence barely moves a lexical vector.
   */
  readonly lexical?: boolean;
  /**
   * True when embedding runs in process in well under a millisecond (`LocalEmbedder`): the cache
   * then embeds before the exact lookup so that one store round trip serves both layers. Provider
   * embedders leave it unset, so exact hits never pay for an embedding call.
   */
  readonly inProcess?: boolean;
  /** One vector per text, in order. Rejects on failure (the cache then bypasses with E4301). */
  embed(texts: string[], signal?: AbortSignal): Promise<number[][]>;
}
