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
  private readonly planes: Float32Array;

  constructor(options: LshHasherOptions) {
    if (!Number.isInteger(options.bits) || options.bits < 1 || options.bits > 30)
      throw new Error(`LshHasher bits should be an integer from 1 to 30, got ${options.bits}`);
    if (!Number.isInteger(options.tables) || options.tables < 1) throw new Error(`LshHasher tables should be a positive integer, got ${options.tables}`);
    this.tables = options.tables;
    this.bits = options.bits;
    this.dimensions = options.dimensions;
    const random = seededRandom(`${options.seed}/${options.dimensions}/${options.tables}x${options.bits}`);
    this.planes = new Float32Array(options.tables * options.bits * options.dimensions);
    for (let index = 0; index < this.planes.length; index++) this.planes[index] = gaussian(random);
  }

  /** One bucket label per table, `<table>.<signature in base 36>`. */
  buckets(vector: Float32Array): string[] {
    if (vector.length !== this.dimensions) throw new Error(`LshHasher expects ${this.dimensions} dimensions, got ${vector.length}`);
    // Hashed n-gram vectors are sparse (a few dozen of 512 dimensions set): project only the
    // non-zero ones, which makes the 120 projections of a lexical vector about 15 times cheaper.
    const nonZero: number[] = [];
    for (let index = 0; index < this.dimensions; index++) if (vector[index] !== 0) nonZero.push(index);
    const planes = this.planes;
    const labels: string[] = [];
    let offset = 0;
    for (let table = 0; table < this.tables; table++) {
      let signature = 0;
      for (let bit = 0; bit < this.bits; bit++) {
        let dot = 0;
        for (const index of nonZero) dot += planes[offset + index]! * vector[index]!;
        offset += this.dimensions;
        signature = signature * 2 + (dot >= 0 ? 1 : 0);
      }
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
