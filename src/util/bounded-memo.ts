/**
 * Remembered results of a pure function of a key, at most `limit` of them: when full, the memo is
 * emptied and fills again, so a flood of distinct keys (tenant names, partitions) costs at most
 * `limit` entries and a recompute, never unbounded memory. For values that are expensive to make
 * and few in practice: key strings, digests, number-to-text conversions.
 */
export class BoundedMemo<Key, Value> {
  private readonly values = new Map<Key, Value>();

  constructor(
    private readonly limit: number,
    private readonly compute: (key: Key) => Value,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`BoundedMemo limit should be a positive integer, got ${limit}`);
  }

  /** `compute(key)`, computed once while remembered. */
  get(key: Key): Value {
    let value = this.values.get(key);
    if (value === undefined) {
      value = this.compute(key);
      if (this.values.size >= this.limit) this.values.clear();
      this.values.set(key, value);
    }
    return value;
  }

  /** How many results are remembered now. */
  get size(): number {
    return this.values.size;
  }
}
