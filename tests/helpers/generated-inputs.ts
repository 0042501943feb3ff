/**
 * Helpers of the tests that hold a hand-written check to the schema it stands in for: where a value
 * can be changed (to break or stretch one field of a generated input), and where two results differ.
 */

/** A place in a value: an object (or array) and one of its keys. */
export type Slot = [Record<string, unknown>, string];

/** Every (object, key) pair in `value`, and for every object each of `extraKeys` (a field added). */
export function slotsOf(value: unknown, extraKeys: readonly string[]): Slot[] {
  const out: Slot[] = [];
  const visit = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      out.push([record, key]);
      visit(record[key]);
    }
    if (!Array.isArray(node)) for (const key of extraKeys) out.push([record, key]);
  };
  visit(value);
  return out;
}

/** The first place two values differ — key order, `undefined` members and -0 included — or undefined when they do not. */
export function difference(a: unknown, b: unknown, path = '$'): string | undefined {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b) ? undefined : `${path}: ${String(a)} ≠ ${String(b)}`;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (Array.isArray(a) !== Array.isArray(b) || keysA.join(',') !== keysB.join(',')) return `${path}: keys ${keysA.join(',')} ≠ ${keysB.join(',')}`;
  for (const key of keysA) {
    const found = difference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}
