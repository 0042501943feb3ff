/**
 * Redis Cluster key slots, as the cluster specification defines them: CRC16 (XMODEM) of the key's
 * hash tag — the part between the first `{` and the next `}` when that part is not empty — or of
 * the whole key, modulo 16,384. Keys that share a hash tag share a slot, which is what lets one
 * script or pipeline touch several keys on a cluster.
 */

/** Number of hash slots of a Redis Cluster. */
export const CLUSTER_SLOTS = 16_384;

/** The part of `key` that Redis hashes: the non-empty `{tag}` content, or the whole key. */
export function hashTagOf(key: string): string {
  const [start, end] = hashedRange(key);
  return start === 0 && end === key.length ? key : key.slice(start, end);
}

/** The cluster slot of `key` (0 … 16,383). */
export function keySlot(key: string): number {
  return crc16(Buffer.from(hashTagOf(key), 'utf8')) % CLUSTER_SLOTS;
}

/**
 * Throws when `keys` would not all land in one slot. Comparing hash tags is exact and cheaper than
 * hashing: two keys share a slot for sure when they share the hashed part.
 */
export function assertOneSlot(keys: readonly string[], what: string): void {
  const first = keys[0];
  if (first === undefined) return;
  for (let index = 1; index < keys.length; index++) {
    const key = keys[index]!;
    if (!sameHashTag(first, key) && keySlot(key) !== keySlot(first)) {
      throw new RangeError(`${what}: keys "${first}" and "${key}" hash to different Redis Cluster slots; give them one hash tag`);
    }
  }
}

/** Whether `a` and `b` hash the same part (`hashTagOf(a) === hashTagOf(b)`), without building either part. */
export function sameHashTag(a: string, b: string): boolean {
  const [aStart, aEnd] = hashedRange(a);
  const [bStart, bEnd] = hashedRange(b);
  if (aEnd - aStart !== bEnd - bStart) return false;
  for (let offset = 0; offset < aEnd - aStart; offset++) if (a.charCodeAt(aStart + offset) !== b.charCodeAt(bStart + offset)) return false;
  return true;
}

/** Start and end of the part of `key` that Redis hashes (see `hashTagOf`). */
function hashedRange(key: string): [number, number] {
  const open = key.indexOf('{');
  if (open < 0) return [0, key.length];
  const close = key.indexOf('}', open + 1);
  // `{}` (empty) and an unclosed `{` are no tag at all: the whole key is hashed.
  return close <= open + 1 ? [0, key.length] : [open + 1, close];
}

/** CRC16/XMODEM (polynomial 0x1021, initial value 0): `crc16("123456789") === 0x31c3`. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}
