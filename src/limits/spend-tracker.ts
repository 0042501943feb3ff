/**
 * The daily spend budget of an API key (`auth.api_keys[].daily_budget_cents`).
 *
 * Spend is counted per key and UTC day in a `SpendStore` (Redis when the gateway has it, so that
 * every instance shares one total). A request is refused with 429 E4403 once the day's spend has
 * reached the budget; `Retry-After` points at the next UTC midnight. The budget is soft: the check
 * and the charge are separate steps, so requests already in flight when the budget is crossed still
 * complete and are charged, and the next one is refused.
 *
 * The primary store failing (or being slower than `timeoutMs`, or `isPrimaryReady()` saying no)
 * never fails or stalls a request: charges go to the in-process fallback and checks read it. While
 * the primary is healthy a check adds the fallback's total to the primary's, so spend charged during
 * an outage still counts after it (per instance). A charge that timed out but later landed in Redis
 * is counted twice, which errs on the side of the budget.
 *
 * Only principals with a budget are tracked: the PostgreSQL ledger is where spend is reported; this
 * service only enforces, and keys without a budget cost no store traffic.
 */
import { RateLimitError } from '../models/error-codes.js';
import type { CallerIdentity } from '../models/gateway-events.js';

/** What the tracker needs of a caller: the key and its budget. */
export type SpendingCaller = Pick<CallerIdentity, 'key_id' | 'daily_budget_cents'>;
import { MemorySpendStore } from './memory-spend-store.js';
import type { SpendStore } from './spend-store.js';
import type { Clock, TimerHandle } from '../util/clock.js';

const DAY_MS = 86_400_000;

/** Options of a `SpendTracker`. */
export interface SpendTrackerOptions {
  /** Where totals live (a `RedisSpendStore` or a `MemorySpendStore`). */
  store: SpendStore;
  /** Used while `store` fails; a fresh `MemorySpendStore` by default. */
  fallback?: SpendStore;
  clock: Clock;
  /** When it returns false the primary store is skipped without trying (Redis known to be down). */
  isPrimaryReady?: () => boolean;
  /** Longest wait for a remote primary store before the fallback answers, in milliseconds (default 250). */
  timeoutMs?: number;
  /** Told about every primary-store failure (the caller counts or logs it; called per failure). */
  onStoreError?: (error: unknown) => void;
}

type Attempt<T> = { ok: true; value: T } | { ok: false };

/** The UTC day of an epoch-milliseconds instant, `yyyy-mm-dd`. */
export function utcDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/** Milliseconds from `epochMs` to the next UTC midnight (a full day at midnight itself). */
export function msUntilUtcMidnight(epochMs: number): number {
  return DAY_MS - (((epochMs % DAY_MS) + DAY_MS) % DAY_MS);
}

/** Enforces and accrues the daily spend budget of API keys. */
export class SpendTracker {
  private readonly store: SpendStore;
  private readonly fallback: SpendStore;
  private readonly clock: Clock;
  private readonly isPrimaryReady: () => boolean;
  private readonly timeoutMs: number;
  private readonly onStoreError: (error: unknown) => void;

  constructor(options: SpendTrackerOptions) {
    const timeoutMs = options.timeoutMs ?? 250;
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs should be a positive number, got ${timeoutMs}`);
    this.store = options.store;
    this.fallback = options.fallback ?? new MemorySpendStore();
    this.clock = options.clock;
    this.isPrimaryReady = options.isPrimaryReady ?? (() => true);
    this.timeoutMs = timeoutMs;
    this.onStoreError = options.onStoreError ?? (() => undefined);
  }

  /**
   * Resolves when the principal may spend more today. Throws E4403 (429, not retryable, with
   * `retryAfterMs` until the next UTC midnight) when today's spend has reached its budget.
   * Free for principals without a budget.
   */
  async check(principal: SpendingCaller): Promise<void> {
    const budget = principal.daily_budget_cents;
    if (budget === undefined) return;
    const now = this.clock.now();
    const spent = await this.spentOn(principal.key_id, utcDay(now));
    if (spent < budget) return;
    throw new RateLimitError('E4403', `The daily spend budget of this API key (${budget} cents) is exhausted until 00:00 UTC`, {
      retryAfterMs: msUntilUtcMidnight(now),
      details: { key_id: principal.key_id, daily_budget_cents: budget, spent_cents: Math.round(spent * 1000) / 1000 },
    });
  }

  /** Charges `cents` to the principal's day. Never throws; ignores principals without a budget and non-positive amounts. */
  async add(principal: SpendingCaller, cents: number): Promise<void> {
    if (principal.daily_budget_cents === undefined || !Number.isFinite(cents) || cents <= 0) return;
    const keyId = principal.key_id;
    const day = utcDay(this.clock.now());
    const charged = await this.tryPrimary((store) => store.add(keyId, day, cents));
    if (charged.ok) return;
    try {
      await this.fallback.add(keyId, day, cents);
    } catch (error) {
      this.onStoreError(error);
    }
  }

  /** Today's (UTC) spend of a key, in cents, as the budget check sees it. Never throws. */
  async spentToday(keyId: string): Promise<number> {
    return this.spentOn(keyId, utcDay(this.clock.now()));
  }

  private async spentOn(keyId: string, day: string): Promise<number> {
    const local = await this.fallback.get(keyId, day).catch((error: unknown) => {
      this.onStoreError(error);
      return 0;
    });
    if (this.fallback === this.store) return local;
    const shared = await this.tryPrimary((store) => store.get(keyId, day));
    return shared.ok ? shared.value + local : local;
  }

  private async tryPrimary<T>(operation: (store: SpendStore) => Promise<T>): Promise<Attempt<T>> {
    if (!this.isPrimaryReady()) return { ok: false };
    // An in-process store cannot hang; a timer per call would only cost.
    if (this.store instanceof MemorySpendStore) return { ok: true, value: await operation(this.store) };
    let timer: TimerHandle | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = this.clock.setTimer(() => reject(new Error(`spend store did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return { ok: true, value: await Promise.race([operation(this.store), timedOut]) };
    } catch (error) {
      this.onStoreError(error);
      return { ok: false };
    } finally {
      timer?.cancel();
    }
  }
}
