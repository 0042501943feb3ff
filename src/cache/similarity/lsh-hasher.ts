/**
 * Random-hyperplane LSH for cosine similarity. `tables` independent hashes of `bits` hyperplane
 * signs each; two vectors at angle θ share one table's bucket with probability (1 − θ/π)^bits.
 * The hyperplanes come from a PRNG seeded by the embedder id and dimension count, so every gateway
 * instance derives the same buckets without sharing state. A near neighbour that shares no bucket
 * is a miss, never a wrong hit: candidates are always re-ranked by exact cosine.
 */
import { createHash } from 'node:crypto';

/** Options of an `LshHasher`. */
export interface LshHasherOptions {
  dimensions: number;
  /** Independent hash tables; more tables find more neighbours and cost more set reads. */
  tables: number;
  /** Hyperplanes per table (1–30); more bits make buckets smaller and more selective. */
  bits: number;
  /** Seed text: the embedder id. */
  seed: string;
}

/** Computes the bucket of a vector in every table. */
export class LshHasher {
  readonly tables: number;
  readonly bits: number;
  private readonly dimensions: number;
  /**
   * The hyperplanes by dimension: the `tables × bits` components of dimension `d` are contiguous
   * from `d × tables × bits`, so that a sparse vector reads one short run per non-zero dimension
   * instead of one scattered value per hyperplane.
   */
  private readonly planesByDimension: Float32Array;
  /** The dot products of one `buckets` call (the call is synchronous: one buffer per hasher). */
  private readonly dots: Float64Array;

  constructor(options: LshHasherOptions) {
    if (!Number.isInteger(options.bits) || options.bits < 1 || options.bits > 30)
      throw new Error(`LshHasher bits should be an integer from 1 to 30, got ${options.bits}`);
    if (!Number.isInteger(options.tables) || options.tables < 1) throw new Error(`LshHasher tables should be a positive integer, got ${options.tables}`);
    this.tables = options.tables;
    this.bits = options.bits;
    this.dimensions = options.dimensions;
    const random = seededRandom(`${options.seed}/${options.dimensions}/${options.tables}x${options.bits}`);
    const planeCount = options.tables * options.bits;
    this.planesByDimension = new Float32Array(planeCount * options.dimensions);
    // Drawn hyperplane by hyperplane (the order that defines them), stored by dimension.
    for (let plane = 0; plane < planeCount; plane++) {
      for (let dimension = 0; dimension < options.dimensions; dimension++) this.planesByDimension[dimension * planeCount + plane] = gaussian(random);
    }
    this.dots = new Float64Array(planeCount);
  }

  /** One bucket label per table, `<table>.<signature in base 36>`. */
  buckets(vector: Float32Array): string[] {
    if (vector.length !== this.dimensions) throw new Error(`LshHasher expects ${this.dimensions} dimensions, got ${vector.length}`);
    // Hashed n-gram vectors are sparse (a few dozen of 512 dimensions set): project only the
    // non-zero ones, which makes the 120 projections of a lexical vector about 15 times cheaper.
    const planes = this.planesByDimension;
    const dots = this.dots;
    const planeCount = dots.length;
    dots.fill(0);
    // Each dot product adds its terms in the order of the dimensions, as a plain loop over them would.
    for (let dimension = 0; dimension < this.dimensions; dimension++) {
      const value = vector[dimension]!;
      if (value === 0) continue;
      const base = dimension * planeCount;
      for (let plane = 0; plane < planeCount; plane++) dots[plane] = dots[plane]! + planes[base + plane]! * value;
    }
    const labels: string[] = [];
    for (let table = 0, plane = 0; table < this.tables; table++) {
      let signature = 0;
      for (let bit = 0; bit < this.bits; bit++, plane++) signature = signature * 2 + (dots[plane]! >= 0 ? 1 : 0);
      labels.push(`${table}.${signature.toString(36)}`);
    }
    return labels;
  }
}

/** xoshiro128** seeded from SHA-256 of `seed`: a reproducible stream in [0, 1). */
function seededRandom(seed: string): () => number {
  const digest = createHash('sha256').update(seed).digest();
  let a = digest.readUInt32LE(0) | 1;
  let b = digest.readUInt32LE(4);
  let c = digest.readUInt32LE(8);
  let d = digest.readUInt32LE(12);
  return () => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result / 4_294_967_296;
  };
}

function rotl(value: number, shift: number): number {
  return (value << shift) | (value >>> (32 - shift));
}

/** A standard normal sample (Box–Muller). */
function gaussian(random: () => number): number {
  const u = Math.max(random(), Number.EPSILON);
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
