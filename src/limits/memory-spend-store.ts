/** The in-process `SpendStore`: totals of the latest two UTC days, older days dropped as days roll. */
import type { Clock } from '../util/clock.js';
import type { SpendStore } from './spend-store.js';

const DAY_MS = 86_400_000;

/** Options of a `MemorySpendStore`. */
export interface MemorySpendStoreOptions {
  /** With a clock, days before yesterday (UTC) are also dropped when a new day starts, as Redis expiry would. */
  clock?: Clock;
}

/** Spend totals in a Map; holds at most the newest two days, so memory stays bounded. */
export class MemorySpendStore implements SpendStore {
  private readonly days = new Map<string, Map<string, number>>();
  private readonly clock: Clock | undefined;

  constructor(options: MemorySpendStoreOptions = {}) {
    this.clock = options.clock;
  }

  /** Adds `cents` to the key's total for `day`; resolves to the new total. */
  async add(keyId: string, day: string, cents: number): Promise<number> {
    let totals = this.days.get(day);
    if (totals === undefined) {
      totals = new Map();
      this.days.set(day, totals);
      this.prune();
    }
    const total = (totals.get(keyId) ?? 0) + cents;
    totals.set(keyId, total);
    return total;
  }

  /** The key's total for `day`; 0 when nothing was spent. */
  async get(keyId: string, day: string): Promise<number> {
    return this.days.get(day)?.get(keyId) ?? 0;
  }

  // `yyyy-mm-dd` sorts as text; yesterday is kept for requests that straddle midnight.
  private prune(): void {
    const yesterday = this.clock === undefined ? '' : new Date(this.clock.now() - DAY_MS).toISOString().slice(0, 10);
    const newestFirst = [...this.days.keys()].sort().reverse();
    newestFirst.forEach((day, index) => {
      if (index >= 2 || day < yesterday) this.days.delete(day);
    });
  }
}
