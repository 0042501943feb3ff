/**
 * Canonical JSON: object keys sorted at every depth, `undefined` members dropped, array order kept.
 * Two values that differ only in key order serialise to the same text, so their digests match.
 */
import { hash } from 'node:crypto';

/** Serialises `value` with sorted keys (JSON semantics otherwise: `undefined` members are dropped). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

/** SHA-256 of the canonical JSON of `value`, as 32 hex characters (128 bits). */
export function canonicalDigest(value: unknown): string {
  // One-shot `hash`: about half the cost of a `createHash` object, and this runs twice per request.
  return hash('sha256', canonicalJson(value), 'hex').slice(0, 32);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : sortKeys(item)));
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const member = (value as Record<string, unknown>)[key];
    if (member === undefined) continue;
    // A plain assignment to `__proto__` would set the prototype and drop the key from the text.
    if (key === '__proto__') Object.defineProperty(sorted, key, { value: sortKeys(member), enumerable: true, writable: true, configurable: true });
    else sorted[key] = sortKeys(member);
  }
  return sorted;
}
