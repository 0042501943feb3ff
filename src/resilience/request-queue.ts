/**
 * The queue in front of one provider: at most `maxConcurrency` requests in flight, the rest wait in
 * priority and deadline order, and the provider's rpm/tpm quota is taken just before dispatch.
 *
 * Order: the lowest *level* goes first, then the earliest hard deadline (requests without one after
 * those with one), then arrival. A request's level
 * is its priority (high 0, normal 1, low 2) minus one per `agingMs` it has waited, with no floor:
 * a low request competes as high after waiting 2 × agingMs, and after 3 × agingMs it goes before
 * any request that has just arrived — so no request starves while the queue drains at all.
 *
 * Failures (all at once, nothing is dispatched): E4404 queue full (`retryAfterMs` set); E4502 the
 * hard deadline passes while queued (a timer on the clock); E4402 the quota cannot admit the request
 * before its deadline (the gateway may fall back to another provider); E4507 the signal aborts. A
 * request without a hard deadline waits until it is dispatched or its caller goes away.
 */
import { CancelledError, DeadlineError, isGatewayError, RateLimitError, toGatewayError } from '../models/error-codes.js';
import type { Priority } from '../models/inference-request.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { TokenReservation } from '../limits/rate-limiter.js';

/** Permission to dispatch. `release()` frees the concurrency slot (once; later calls do nothing). */
export interface QueueTicket {
  release(): void;
  /** The provider quota's token reservation, when the quota returned one: settle it to actual usage. */
  reservation?: TokenReservation;
}

/** One request's place in the queue. */
export interface EnqueueOptions {
  priority: Priority;
  /** The caller's hard deadline, epoch milliseconds (arrival + `deadline_ms`); undefined when it set none. */
  deadlineAt?: number | undefined;
  /**
   * Epoch milliseconds past which waiting for the provider's quota is not worth it (the caller's
   * latency preference, arrival + `max_latency_ms`): refused with E4402 instead, so that the
   * request can fall back to another provider. The hard deadline bounds the wait too.
   */
  quotaWaitUntil?: number | undefined;
  /** Tokens the provider quota is asked for (prompt estimate + max output). */
  tokens: number;
  signal?: AbortSignal;
}

/** The provider quota's answer (`RateLimiter.takeProvider`). */
export type QuotaDecision = { allowed: true; reservation?: TokenReservation } | { allowed: false; retryAfterMs: number };

/** Options of a `RequestQueue`. */
export interface RequestQueueOptions {
  provider: string;
  /** Requests in flight at once (the provider's `max_concurrency`). */
  maxConcurrency: number;
  /** Requests waiting before new ones are refused with E4404 (`queue.max_size`). */
  maxSize: number;
  /** A waiting request gains one priority level per this many milliseconds (`queue.aging_ms`). */
  agingMs: number;
  clock: Clock;
  /** The per-provider rpm/tpm check, asked just before each dispatch. */
  quota?: (tokens: number) => Promise<QuotaDecision>;
  /** `Retry-After` of a full-queue refusal, in milliseconds; default 1,000. */
  fullRetryAfterMs?: number;
}

const LEVELS: Record<Priority, number> = { high: 0, normal: 1, low: 2 };

interface Waiting {
  readonly options: EnqueueOptions;
  readonly enqueuedAt: number;
  readonly seq: number;
  readonly resolve: (ticket: QueueTicket) => void;
  readonly reject: (error: unknown) => void;
  timer: TimerHandle | undefined;
  onAbort: (() => void) | undefined;
}

/** A priority, deadline-aware queue with a concurrency drain. One per provider. */
export class RequestQueue {
  private readonly options: RequestQueueOptions;
  private readonly waiting = new Set<Waiting>();
  private running = 0;
  private seq = 0;
  private pumping = false;
  private pumpAgain = false;
  private quotaTimer: TimerHandle | undefined;

  constructor(options: RequestQueueOptions) {
    for (const name of ['maxConcurrency', 'maxSize', 'agingMs'] as const) {
      const value = options[name];
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} should be a positive integer, got ${value}`);
    }
    this.options = options;
  }

  /**
   * Resolves when the request may be dispatched: a slot is free and the quota admits it. Rejects
   * with E4404, E4502, E4402 or E4507 (see the file comment).
   */
  acquire(options: EnqueueOptions): Promise<QueueTicket> {
    const { clock, maxSize, provider } = this.options;
    const now = clock.now();
    if (options.signal?.aborted) return Promise.reject(cancelled(provider));
    const { deadlineAt } = options;
    if (deadlineAt !== undefined && deadlineAt <= now) return Promise.reject(deadlinePassed(provider, deadlineAt));
    if (this.waiting.size >= maxSize) {
      const retryAfterMs = this.options.fullRetryAfterMs ?? 1_000;
      return Promise.reject(new RateLimitError('E4404', undefined, { retryAfterMs, details: { provider, max_size: maxSize } }));
    }
    // A free slot, nobody waiting and no quota to ask: dispatched at once, without a place in the
    // queue, an abort listener or a turn of the pump (the common case of an unloaded provider).
    if (this.options.quota === undefined && this.waiting.size === 0 && this.quotaTimer === undefined && this.running < this.options.maxConcurrency) {
      return Promise.resolve(this.startRunning(undefined));
    }
    return new Promise<QueueTicket>((resolve, reject) => {
      const entry: Waiting = { options, enqueuedAt: now, seq: this.seq++, resolve, reject, timer: undefined, onAbort: undefined };
      if (deadlineAt !== undefined) entry.timer = clock.setTimer(() => this.fail(entry, deadlinePassed(provider, deadlineAt)), deadlineAt - now);
      if (options.signal !== undefined) {
        // The gateway aborts a request at its deadline (E4510): while queued, that is E4502, not a cancellation.
        entry.onAbort = () =>
          this.fail(
            entry,
            deadlineAt !== undefined && (isGatewayError(options.signal?.reason, 'E4510') || clock.now() >= deadlineAt)
              ? deadlinePassed(provider, deadlineAt)
              : cancelled(provider),
          );
        options.signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.waiting.add(entry);
      void this.pump();
    });
  }

  /** Requests waiting, by their original priority. */
  depth(): Record<Priority, number> {
    const depth: Record<Priority, number> = { high: 0, normal: 0, low: 0 };
    for (const entry of this.waiting) depth[entry.options.priority]++;
    return depth;
  }

  /** Requests dispatched and not yet released. */
  active(): number {
    return this.running;
  }

  /** The waiting request that goes next. */
  private head(): Waiting | undefined {
    const now = this.options.clock.now();
    const level = (entry: Waiting): number => LEVELS[entry.options.priority] - Math.floor((now - entry.enqueuedAt) / this.options.agingMs);
    let best: Waiting | undefined;
    let bestLevel = Infinity;
    for (const entry of this.waiting) {
      const entryLevel = level(entry);
      if (
        best === undefined ||
        entryLevel < bestLevel ||
        (entryLevel === bestLevel && (deadlineOf(entry) < deadlineOf(best) || (deadlineOf(entry) === deadlineOf(best) && entry.seq < best.seq)))
      ) {
        best = entry;
        bestLevel = entryLevel;
      }
    }
    return best;
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      while (this.running < this.options.maxConcurrency && this.waiting.size > 0 && this.quotaTimer === undefined) {
        const entry = this.head();
        if (entry === undefined) break;
        const deadlineAt = entry.options.deadlineAt;
        if (deadlineAt !== undefined && deadlineAt <= this.options.clock.now()) {
          this.fail(entry, deadlinePassed(this.options.provider, deadlineAt));
          continue;
        }
        const decision = await this.askQuota(entry);
        if (decision === undefined) continue;
        if (!this.waiting.has(entry)) {
          // Expired or aborted while the quota was asked: give the quota back.
          if (decision.allowed) void decision.reservation?.release();
          continue;
        }
        if (decision.allowed) this.dispatch(entry, decision.reservation);
        else this.waitForQuota(entry, decision.retryAfterMs);
      }
    } finally {
      this.pumping = false;
      if (this.pumpAgain) {
        this.pumpAgain = false;
        void this.pump();
      }
    }
  }

  private async askQuota(entry: Waiting): Promise<QuotaDecision | undefined> {
    if (this.options.quota === undefined) return { allowed: true };
    try {
      return await this.options.quota(entry.options.tokens);
    } catch (error) {
      this.fail(entry, toGatewayError(error));
      return undefined;
    }
  }

  private waitForQuota(entry: Waiting, retryAfterMs: number): void {
    const { clock, provider } = this.options;
    if (clock.now() + retryAfterMs < Math.min(deadlineOf(entry), entry.options.quotaWaitUntil ?? Infinity)) {
      this.quotaTimer = clock.setTimer(() => {
        this.quotaTimer = undefined;
        void this.pump();
      }, retryAfterMs);
      return;
    }
    const retry = Number.isFinite(retryAfterMs) ? { retryAfterMs } : {};
    this.fail(entry, new RateLimitError('E4402', undefined, { ...retry, details: { provider, tokens: entry.options.tokens } }));
  }

  private dispatch(entry: Waiting, reservation: TokenReservation | undefined): void {
    this.remove(entry);
    entry.resolve(this.startRunning(reservation));
  }

  /** Takes a slot; the ticket gives it back (once) and lets the next waiting request go. */
  private startRunning(reservation: TokenReservation | undefined): QueueTicket {
    this.running++;
    let released = false;
    const ticket: QueueTicket = {
      release: () => {
        if (released) return;
        released = true;
        this.running--;
        void this.pump();
      },
    };
    if (reservation !== undefined) ticket.reservation = reservation;
    return ticket;
  }

  private fail(entry: Waiting, error: unknown): void {
    if (!this.waiting.has(entry)) return;
    this.remove(entry);
    entry.reject(error);
  }

  private remove(entry: Waiting): void {
    this.waiting.delete(entry);
    entry.timer?.cancel();
    if (entry.onAbort !== undefined) entry.options.signal?.removeEventListener('abort', entry.onAbort);
  }
}

/** A request without a hard deadline sorts after every request with one. */
function deadlineOf(entry: Waiting): number {
  return entry.options.deadlineAt ?? Infinity;
}

function deadlinePassed(provider: string, deadlineAt: number): DeadlineError {
  return new DeadlineError('E4502', undefined, { details: { provider, deadline_at: deadlineAt } });
}

function cancelled(provider: string): CancelledError {
  return new CancelledError('E4507', undefined, { details: { provider } });
}
