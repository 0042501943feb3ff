/**
 * Canonical JSON: object keys sorted at every depth, `undefined` members dropped, array order kept.
 * Two values that differ only in key order serialise to the same text, so their digests match.
 */
import { hash } from 'node:crypto';

/**
 * Serialises `value` with sorted keys; JSON semantics otherwise (members without a JSON value —
 * `undefined`, functions, symbols — are dropped from objects and are `null` in arrays; non-finite
 * numbers are `null`). Written straight to text, without a sorted copy of the value: this runs on
 * every cached request.
 */
export function canonicalJson(value: unknown): string {
  return write(value) ?? 'null';
}

/** SHA-256 of the canonical JSON of `value`, as 32 hex characters (128 bits). */
export function canonicalDigest(value: unknown): string {
  // One-shot `hash`: about half the cost of a `createHash` object.
  return hash('sha256', canonicalJson(value), 'hex').slice(0, 32);
}

/** The JSON text of `value`, or undefined when it has none (a member to drop). */
function write(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      // As JSON.stringify does: a BigInt has no JSON form, and guessing one could make two values collide.
      throw new TypeError('canonicalJson: a BigInt has no JSON form');
    case 'object':
      if (value === null) return 'null';
      return Array.isArray(value) ? writeArray(value) : writeObject(value as Record<string, unknown>);
    default:
      return undefined;
  }
}

function writeArray(items: readonly unknown[]): string {
  let out = '[';
  for (let index = 0; index < items.length; index++) {
    if (index > 0) out += ',';
    out += write(items[index]) ?? 'null';
  }
  return `${out}]`;
}

function writeObject(record: Record<string, unknown>): string {
  // Own enumerable keys only, `__proto__` included (a parsed body may carry one as an ordinary key).
  const keys = sortInPlace(Object.keys(record));
  let out = '{';
  for (const key of keys) {
    const member = write(record[key]);
    if (member === undefined) continue;
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${member}`;
  }
  return `${out}}`;
}

/** Longest key list sorted by insertion; longer ones (a caller's large object) use the built-in sort. */
const INSERTION_SORT_MAX = 16;

/**
 * Sorts `keys` by UTF-16 code units, as `Array.prototype.sort` does by default, in place. Most
 * objects here have a few keys, and an insertion sort allocates nothing where the built-in sort
 * allocates a work area on every call; its quadratic time is bounded by `INSERTION_SORT_MAX`.
 */
function sortInPlace(keys: string[]): string[] {
  if (keys.length > INSERTION_SORT_MAX) return keys.sort();
  for (let index = 1; index < keys.length; index++) {
    const key = keys[index]!;
    let at = index - 1;
    while (at >= 0 && keys[at]! > key) {
      keys[at + 1] = keys[at]!;
      at--;
    }
    keys[at + 1] = key;
  }
  return keys;
}
