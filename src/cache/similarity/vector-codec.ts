/**
 * Vector helpers of the semantic cache: normalisation, int8 quantisation (one byte per dimension,
 * how vectors are stored) and cosine similarity between a query and a stored vector.
 */

/**
 * Floats of one shared slab of query vectors: 32 KiB, sixteen vectors of 512 dimensions. Small on
 * purpose: a request that keeps its vector long (a stream stores its answer, and drops the vector,
 * only when it ends) keeps its whole slab, so at worst 32 KiB instead of 2 KiB per such request.
 */
const SLAB_FLOATS = 8_192;
let slab = new Float32Array(0);
let slabUsed = 0;

/**
 * A zeroed Float32Array of `length` for a query vector: a view into a shared slab, so that a
 * request does not pay a typed array of its own (an allocation outside the JS heap: 2–3 µs on
 * Node 20). A slab is released once every vector cut from it is; query vectors live for one
 * request. Never for vectors kept past their request (a kept view would keep its whole slab).
 */
function queryVector(length: number): Float32Array {
  if (length > SLAB_FLOATS / 8) return new Float32Array(length);
  if (slabUsed + length > slab.length) {
    slab = new Float32Array(SLAB_FLOATS);
    slabUsed = 0;
  }
  const view = new Float32Array(slab.buffer, slabUsed * Float32Array.BYTES_PER_ELEMENT, length);
  slabUsed += length;
  return view;
}

/**
 * `vector` scaled to unit length as a Float32Array; `undefined` for a zero or non-finite vector.
 * The result is a query vector, cut from a shared slab (see `queryVector`): keep `quantizeVector`'s
 * copy, not this one.
 */
export function normalizeVector(vector: readonly number[]): Float32Array | undefined {
  let norm = 0;
  for (const value of vector) {
    if (!Number.isFinite(value)) return undefined;
    norm += value * value;
  }
  if (norm === 0) return undefined;
  const scale = 1 / Math.sqrt(norm);
  // Plain loops: TypedArray.from with a map function goes through the iterator protocol (~40x slower).
  const out = queryVector(vector.length);
  for (let index = 0; index < vector.length; index++) out[index] = vector[index]! * scale;
  return out;
}

/**
 * Quantises a vector to int8, scaled so that its largest component maps to ±127. Cosine is
 * scale-invariant, so no scale is stored; the error on cosine is about 1e-3 at 512 dimensions.
 */
export function quantizeVector(vector: Float32Array): Int8Array {
  let max = 0;
  for (const value of vector) max = Math.max(max, Math.abs(value));
  const scale = max === 0 ? 0 : 127 / max;
  const out = new Int8Array(vector.length);
  for (let index = 0; index < vector.length; index++) out[index] = Math.round(vector[index]! * scale);
  return out;
}

/** Cosine similarity of a unit-length query and a quantised vector (0 when lengths differ). */
export function cosineToQuantized(query: Float32Array, stored: Int8Array): number {
  if (query.length !== stored.length) return 0;
  let dot = 0;
  let norm = 0;
  for (let index = 0; index < stored.length; index++) {
    const value = stored[index] ?? 0;
    dot += (query[index] ?? 0) * value;
    norm += value * value;
  }
  return norm === 0 ? 0 : dot / Math.sqrt(norm);
}

/** Cosine similarity of two plain vectors (for scripts and tests). */
export function cosineSimilarity(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return 0;
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let index = 0; index < a.length; index++) {
    const x = a[index] ?? 0;
    const y = b[index] ?? 0;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

/** The bytes of an int8 vector, as stored. */
export function encodeVector(vector: Int8Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

/** An int8 vector from stored bytes (copied, so the source buffer may be reused). */
export function decodeVector(bytes: Uint8Array): Int8Array {
  return new Int8Array(Uint8Array.from(bytes).buffer);
}
