/**
 * A breaker's view of its provider's record: which record its decisions are made on, where its
 * writes go, and the report of each change of state as this process sees it.
 *
 * With a shared store, decisions are made on a local copy of the fleet's record, re-read in the
 * background once it is `syncIntervalMs` old and consulted (and on that timer while the circuit is
 * not closed and clean), and replaced by the answer of every write. While the shared store cannot
 * answer — it is not connected, or its last read or write failed — decisions are made on this
 * process's own record, and writes go there too, until the store answers again.
 */
import type { Clock, TimerHandle } from '../util/clock.js';
import type { MemoryProviderStateStore } from './memory-provider-state-store.js';
import { ANY_GENERATION } from './provider-state-store.js';
import type { CircuitRecord, MaybePromise, ProviderStateStore } from './provider-state-store.js';

/** The three states: closed (calls flow), open (calls refused), half-open (one probe decides). */
export type CircuitStateName = 'closed' | 'open' | 'half_open';

/** A store other instances share, and whether it can be asked now. */
export interface SharedProviderState {
  store: ProviderStateStore;
  isReady: () => boolean;
}

/** The record a decision is made on, and whether it is the fleet's. */
export interface CircuitSource {
  readonly shared: boolean;
  readonly record: CircuitRecord;
}

/** Where a permit's outcome is written, under which generation. */
export interface CircuitTarget {
  readonly shared: boolean;
  readonly generation: number;
}

/** Options of a `CircuitView`. */
export interface CircuitViewOptions {
  provider: string;
  /** This process's own records (a registry shares one store among its breakers). */
  local: MemoryProviderStateStore;
  shared: SharedProviderState | undefined;
  clock: Clock;
  syncIntervalMs: number;
  onTransition: ((provider: string, from: CircuitStateName, to: CircuitStateName) => void) | undefined;
}

/** The state an open circuit reads as: open until its half-open moment, half-open from then on. */
export function stateName(record: CircuitRecord, now: number): CircuitStateName {
  if (record.state === 'closed') return 'closed';
  return now < record.halfOpenAt ? 'open' : 'half_open';
}

/** One provider's record as its breaker sees it; see the file comment. */
export class CircuitView {
  /** This process's own records. */
  readonly local: MemoryProviderStateStore;
  private readonly options: CircuitViewOptions;
  /** The shared record as last read or written, and the clock time that read or write was sent. */
  private copy: { record: CircuitRecord; at: number } | undefined;
  private reading: Promise<void> | undefined;
  /** True since the shared store last failed to answer, until it answers again. */
  private failing = false;
  private reported: CircuitStateName = 'closed';
  private halfOpenTimer: TimerHandle | undefined;
  private watchTimer: TimerHandle | undefined;

  constructor(options: CircuitViewOptions) {
    this.options = options;
    this.local = options.local;
  }

  /** The record decisions are made on now. Consulting a copy older than one sync interval starts a read. */
  source(): CircuitSource {
    const now = this.options.clock.now();
    const shared = this.options.shared;
    if (shared === undefined) return { shared: false, record: this.local.read(this.options.provider) };
    if (this.copy === undefined || now - this.copy.at >= this.options.syncIntervalMs) void this.refresh();
    if (this.copy !== undefined && !this.failing && shared.isReady()) return { shared: true, record: this.copy.record };
    return { shared: false, record: this.local.read(this.options.provider) };
  }

  /** The fleet's record as last seen, or `undefined` before the first read. */
  sharedRecord(): CircuitRecord | undefined {
    return this.copy?.record;
  }

  /** True when a decision should wait for a read first: the shared store answers, and the copy is missing or older than four sync intervals (the instance was idle). */
  stale(): boolean {
    const shared = this.options.shared;
    if (shared === undefined || !shared.isReady()) return false;
    return this.copy === undefined || this.options.clock.now() - this.copy.at >= 4 * this.options.syncIntervalMs;
  }

  /**
   * Where a closed-state permit's outcome goes. A decision made on this process's record while the
   * shared store may answer again (its read failed) still reports to the fleet, for whatever
   * generation is current there.
   */
  targetOf(source: CircuitSource): CircuitTarget {
    if (source.shared) return { shared: true, generation: source.record.generation };
    if (this.options.shared?.isReady() === true && !this.failing) return { shared: true, generation: ANY_GENERATION };
    return { shared: false, generation: source.record.generation };
  }

  /** The shared store, while it can be asked. */
  sharedStore(): ProviderStateStore | undefined {
    const shared = this.options.shared;
    return shared !== undefined && shared.isReady() ? shared.store : undefined;
  }

  /**
   * Writes an outcome: on the shared store when `shared` (its answer becomes the copy; when it
   * fails, `local` runs instead), else on this process's record. Never waits.
   */
  write(shared: boolean, sharedWrite: ((store: ProviderStateStore) => MaybePromise<CircuitRecord>) | undefined, local: () => CircuitRecord): void {
    const store = this.options.shared?.store;
    if (!shared || store === undefined || sharedWrite === undefined) {
      local();
      this.notify();
      return;
    }
    const sentAt = this.options.clock.now();
    void Promise.resolve()
      .then(() => sharedWrite(store))
      .then(
        (record) => this.adopt(record, sentAt),
        () => {
          this.failed();
          local();
          this.notify();
        },
      );
  }

  /** Reads the shared record (one read at a time; callers meanwhile share it). Never rejects. */
  refresh(): Promise<void> {
    const shared = this.options.shared;
    if (this.reading !== undefined) return this.reading;
    if (shared === undefined || !shared.isReady()) return Promise.resolve();
    const sentAt = this.options.clock.now();
    this.reading = Promise.resolve()
      .then(() => shared.store.read(this.options.provider))
      .then(
        (record) => this.adopt(record, sentAt),
        () => {
          this.failed();
          this.notify();
        },
      )
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }

  /** Takes a shared record read or written at `at` as the copy. Answers arrive in the order they were sent (one connection). */
  adopt(record: CircuitRecord, at: number): void {
    this.failing = false;
    this.copy = { record, at: Math.max(at, this.copy?.at ?? at) };
    this.notify();
  }

  /** The shared store failed to answer: decisions are this process's until it answers again. */
  failed(): void {
    this.failing = true;
  }

  /** Reports a change of the state decisions are made on, and keeps the timers that make changes happen on time. */
  notify(): void {
    const now = this.options.clock.now();
    const { record, shared } = this.source();
    const state = stateName(record, now);
    if (state !== this.reported) {
      const from = this.reported;
      this.reported = state;
      this.options.onTransition?.(this.options.provider, from, state);
    }
    this.halfOpenTimer?.cancel();
    this.halfOpenTimer = state === 'open' && record.state === 'open' ? this.options.clock.setTimer(() => this.notify(), record.halfOpenAt - now) : undefined;
    // A copy that is not closed and clean is kept fresh on a timer, so that an idle instance sees the fleet's probe close it.
    const troubled = record.state === 'open' || record.coolUntil > now || record.failures > 0;
    if (shared && troubled && this.watchTimer === undefined) {
      this.watchTimer = this.options.clock.setTimer(() => {
        this.watchTimer = undefined;
        void this.refresh();
      }, this.options.syncIntervalMs);
    }
  }

  /** Stops the timers (the gateway is closing). */
  stop(): void {
    this.halfOpenTimer?.cancel();
    this.watchTimer?.cancel();
    this.halfOpenTimer = undefined;
    this.watchTimer = undefined;
  }
}
