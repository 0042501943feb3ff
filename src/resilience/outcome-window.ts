/**
 * Live-traffic outcomes of one provider over a sliding time window, for the passive error rate.
 * Outcomes fall into a fixed ring of buckets (1/20 of the window each), so memory stays constant
 * however much traffic passes, and reading the rate costs O(1) amortised: expired buckets are
 * subtracted from running totals as time moves on.
 */

/** How many buckets a window is cut into; the window's edge is accurate to 1/20 of its length. */
const BUCKETS = 20;

/** Counts and error rate over the last `windowMs`. */
export interface OutcomeCounts {
  total: number;
  failures: number;
  /** `failures / total`, 0 when there were no outcomes. */
  errorRate: number;
}

/** A sliding-window counter of successes and failures. */
export class OutcomeWindow {
  private readonly bucketMs: number;
  private readonly totals = new Array<number>(BUCKETS).fill(0);
  private readonly failureCounts = new Array<number>(BUCKETS).fill(0);
  /** Absolute index (`floor(time / bucketMs)`) of the newest bucket. */
  private head = Number.NEGATIVE_INFINITY;
  private total = 0;
  private failures = 0;

  /** `windowMs`: the window length in milliseconds (positive). */
  constructor(windowMs: number) {
    if (!(Number.isFinite(windowMs) && windowMs > 0)) throw new RangeError(`windowMs should be a positive number, got ${String(windowMs)}`);
    this.bucketMs = windowMs / BUCKETS;
  }

  /** Records one outcome at `now` (epoch milliseconds). */
  record(now: number, failed: boolean): void {
    const slot = this.advance(now);
    this.totals[slot] = (this.totals[slot] ?? 0) + 1;
    this.total++;
    if (failed) {
      this.failureCounts[slot] = (this.failureCounts[slot] ?? 0) + 1;
      this.failures++;
    }
  }

  /** The outcomes of the last window as seen at `now`. */
  counts(now: number): OutcomeCounts {
    this.advance(now);
    return { total: this.total, failures: this.failures, errorRate: this.total === 0 ? 0 : this.failures / this.total };
  }

  /** Forgets every outcome. */
  clear(): void {
    this.totals.fill(0);
    this.failureCounts.fill(0);
    this.total = 0;
    this.failures = 0;
  }

  /** Drops buckets that left the window; returns the ring slot of the current bucket. */
  private advance(now: number): number {
    const current = Math.floor(now / this.bucketMs);
    if (current > this.head) {
      // Only the buckets between the old head and now expire; at most one full turn of the ring.
      const first = Math.max(this.head + 1, current - BUCKETS + 1);
      for (let index = first; index <= current; index++) {
        const slot = ringSlot(index);
        this.total -= this.totals[slot] ?? 0;
        this.failures -= this.failureCounts[slot] ?? 0;
        this.totals[slot] = 0;
        this.failureCounts[slot] = 0;
      }
      this.head = current;
    }
    // A clock that steps back lands in the newest bucket rather than corrupting an old one.
    return ringSlot(this.head);
  }
}

function ringSlot(index: number): number {
  return ((index % BUCKETS) + BUCKETS) % BUCKETS;
}
