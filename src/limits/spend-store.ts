/**
 * The port behind the daily spend budget: running totals in cents per API key and UTC day, with a
 * memory implementation (one process) and a Redis one (every gateway instance sees one total).
 */

/** Running spend totals per API key (`key_id`) and UTC day (`yyyy-mm-dd`), in cents. */
export interface SpendStore {
  /** Adds `cents` to the key's total for `day`; resolves to the new total. */
  add(keyId: string, day: string, cents: number): Promise<number>;
  /** The key's total for `day`; 0 when nothing was spent. */
  get(keyId: string, day: string): Promise<number>;
}
