/**
 * A circuit breaker per provider (brief phase 5): CLOSED → OPEN after `failureThreshold`
 * consecutive counted failures; OPEN refuses with E4700 for `cooldownMs` (or until a health check
 * has seen the provider answer again); then HALF_OPEN lets exactly one probe through; the probe's
 * success closes the circuit, its failure (or its silence past `probeTimeoutMs`) reopens it for
 * another full cooldown. A provider that answers 429 with `Retry-After`, or says it is overloaded,
 * also gets a cool-down: nothing is sent to it until it ends (E4701), whatever the circuit says.
 *
 * The state lives in a `ProviderStateStore`. With a shared store (Redis) every instance of a fleet
 * spends one threshold, elects one probe and honours one cool-down. The hot path does not wait for
 * Redis: each breaker decides on its view of the shared record, re-read in the background once it
 * is `syncIntervalMs` old and the breaker is consulted (and on that timer while the circuit is not
 * closed and clean), and replaced by the answer of every write. Writes happen only on counted
 * failures, on the first success after failures, on cool-downs and on the probe's election and
 * outcome — never for a success in the common closed state. Staleness: a decision uses a view at
 * most four sync intervals old (with a request at least every interval, one interval plus one
 * read); a transition made elsewhere reaches an instance with its next read or with the answer to
 * its own next failure, whichever comes first. An instance whose view is older than four intervals
 * (it was idle) waits for one read before deciding, and the half-open probe election waits for its
 * script: those are the only decisions that wait for Redis.
 *
 * While the shared store cannot answer (Redis down, or slower than the command timeout), the breaker
 * decides alone on a per-process record — exactly what a gateway without Redis does. Where the
 * record comes from and where writes go is `circuit-view.ts`; this file holds the decisions, the
 * permits and the registry (past 400 lines: they share one set of options, states and errors).
 */
import { randomUUID } from 'node:crypto';
import { CircuitOpenError, ProviderError, isGatewayError } from '../models/error-codes.js';
import type { ErrorCode } from '../models/error-codes.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { CircuitView, stateName } from './circuit-view.js';
import type { CircuitSource, CircuitStateName, CircuitTarget, SharedProviderState } from './circuit-view.js';
import { MemoryProviderStateStore } from './memory-provider-state-store.js';
import { validatePolicy } from './provider-state-store.js';
import type { CircuitRecord, ProbeOutcome } from './provider-state-store.js';
import { merged } from '../util/merged.js';

export type { CircuitStateName, SharedProviderState } from './circuit-view.js';

/**
 * The full state; each variant carries only its own fields. `probeStartedAt` is `undefined` while
 * a half-open circuit waits for its probe (after the cooldown, or after a probe was released).
 */
export type CircuitState =
  | { readonly state: 'closed'; readonly failures: number }
  | { readonly state: 'open'; readonly openedAt: number }
  | { readonly state: 'half_open'; readonly probeStartedAt: number | undefined };

/** Options of a `CircuitBreaker` (and of every breaker of a `CircuitBreakerRegistry`). */
export interface CircuitBreakerOptions {
  /** Consecutive counted failures that open the circuit (brief: 5). */
  failureThreshold: number;
  /** How long an open circuit rejects before it lets one probe through, in milliseconds (brief: 60 s). */
  cooldownMs: number;
  /** A probe that has not settled after this long fails, in milliseconds. */
  probeTimeoutMs: number;
  clock: Clock;
  /** Called once per transition this process sees (the gateway logs it). Must not throw. */
  onTransition?: (provider: string, from: CircuitStateName, to: CircuitStateName) => void;
  /** The cool-down of an overloaded provider that names none, in milliseconds (default 5,000). */
  overloadCooldownMs?: number;
  /** The longest cool-down a provider can ask for, in milliseconds (default 300,000). */
  maxCooldownMs?: number;
  /** The fleet's store; without it the process decides alone. */
  shared?: SharedProviderState;
  /** How often a busy instance re-reads the shared record, in milliseconds (default 250). */
  syncIntervalMs?: number;
  /** Names this process in probe leases (default: random). */
  instanceId?: string;
}

/** The answer of `tryAcquire`: go ahead (and report how it went), or don't. */
export type CircuitPermit =
  | {
      readonly allowed: true;
      /** True for the single half-open probe. */
      readonly probe: boolean;
      /** Aborted (reason: an E4201 `ProviderError`) when a probe passes `probeTimeoutMs`; never aborts otherwise. */
      readonly signal: AbortSignal;
      /** The call succeeded. */
      success(): void;
      /** The call failed; counts only when `countsAsFailure(error)`, starts a cool-down when `coolDownOf(error)` says so. */
      failure(error: unknown): void;
      /** The call ended without saying anything about the provider (client abort, caller error). */
      release(): void;
    }
  | {
      readonly allowed: false;
      /** Time until the breaker may let a call through again, in milliseconds. */
      readonly retryAfterMs: number;
      /** E4700 (circuit open) or E4701 (cool-down), carrying `retryAfterMs`. */
      readonly error: CircuitOpenError;
    };

/** A breaker's state for health pages and metrics. */
export interface CircuitSnapshot {
  provider: string;
  state: CircuitStateName;
  /** Consecutive counted failures (closed only). */
  failures: number;
  /** Epoch milliseconds the circuit last opened (open only). */
  opened_at?: number;
  /** Epoch milliseconds the in-flight probe started (half-open only). */
  probe_started_at?: number;
  /** Time until a call may pass again, in milliseconds (0 when one may pass now). */
  retry_after_ms: number;
  /** Epoch milliseconds the provider's cool-down ends, while one runs. */
  cool_down_until?: number;
  /** `shared`: decided on the fleet's record; `local`: by this process alone. */
  decided_by: 'shared' | 'local';
}

/** Codes that say the provider itself is failing: unreachable, timeout, 5xx, overloaded, cut stream, malformed or oversized answer. */
const COUNTED_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['E4200', 'E4201', 'E4202', 'E4205', 'E4208', 'E4600', 'E4601', 'E4602']);

/**
 * True when `error` counts against a provider's circuit: E4200, E4201, E4202, E4205, E4208, E4600,
 * E4601, E4602. The caller's own errors (E45xx, E4206, E4207), client aborts (E4507), the caller's
 * deadline (E4502, E4510), upstream rate limiting (E4204: the provider is healthy, only busy), auth
 * and missing-model errors (configuration, not outage) and anything that is not a `GatewayError` (a
 * bug, not a provider fault) do not count.
 */
export function countsAsFailure(error: unknown): boolean {
  return isGatewayError(error) && COUNTED_CODES.has(error.code);
}

/**
 * How long a failure asks the gateway to leave the provider alone, in milliseconds: a 429 (E4204)
 * with `Retry-After`, or an overloaded provider (E4205) for its `Retry-After` or `overloadMs`;
 * `undefined` for every other error.
 */
export function coolDownOf(error: unknown, overloadMs: number): number | undefined {
  if (!isGatewayError(error, 'E4204', 'E4205')) return undefined;
  if (error.retryAfterMs !== undefined && error.retryAfterMs > 0) return error.retryAfterMs;
  return error.code === 'E4205' ? overloadMs : undefined;
}

/** A signal shared by every non-probe permit: nothing ever aborts it, so no controller per call. */
const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/** One provider's circuit breaker. */
export class CircuitBreaker {
  /** The provider this breaker protects. */
  readonly provider: string;
  private readonly options: CircuitBreakerOptions;
  private readonly view: CircuitView;
  private readonly instanceId: string;
  private readonly syncIntervalMs: number;
  private readonly overloadCooldownMs: number;
  private readonly maxCooldownMs: number;
  /** True while this process asks the shared store for the probe (everyone else here is refused meanwhile). */
  private claiming = false;
  private probes = 0;

  /**
   * Throws a `RangeError` naming the option and the value it received when an option is invalid.
   * `local`: the per-process store (a registry shares one among its breakers).
   */
  constructor(provider: string, options: CircuitBreakerOptions, local?: MemoryProviderStateStore) {
    validateOptions(options);
    this.provider = provider;
    this.options = options;
    this.instanceId = options.instanceId ?? randomUUID();
    this.syncIntervalMs = options.syncIntervalMs ?? 250;
    this.overloadCooldownMs = options.overloadCooldownMs ?? 5_000;
    this.maxCooldownMs = options.maxCooldownMs ?? 300_000;
    this.view = new CircuitView({
      provider,
      local: local ?? new MemoryProviderStateStore(options),
      shared: options.shared,
      clock: options.clock,
      syncIntervalMs: this.syncIntervalMs,
      onTransition: options.onTransition,
    });
  }

  /** The current state's name; an open circuit whose cooldown has elapsed reads `half_open`. */
  get state(): CircuitStateName {
    return stateName(this.view.source().record, this.options.clock.now());
  }

  /** True while a half-open circuit's probe is out (everyone else is refused); false in every other case. */
  get probeInFlight(): boolean {
    const now = this.options.clock.now();
    const { record } = this.view.source();
    return stateName(record, now) === 'half_open' && (this.claiming || probeOut(record, now));
  }

  /** Milliseconds left in the provider's cool-down; 0 when none runs. */
  get coolDownMs(): number {
    return Math.max(0, this.view.source().record.coolUntil - this.options.clock.now());
  }

  /** The full current state (a discriminated union). */
  get currentState(): CircuitState {
    const now = this.options.clock.now();
    const { record } = this.view.source();
    if (record.state === 'closed') return { state: 'closed', failures: record.failures };
    if (now < record.halfOpenAt) return { state: 'open', openedAt: record.openedAt };
    return { state: 'half_open', probeStartedAt: probeOut(record, now) ? (record.probe?.until ?? now) - this.options.probeTimeoutMs : undefined };
  }

  /**
   * Why a call may not be sent now (E4700 open, or half-open with its probe out; E4701 cooling
   * down), or `undefined` when one may try (`tryAcquire` decides). Takes nothing.
   */
  refusal(): CircuitOpenError | undefined {
    return this.refusalFor(this.view.source().record, this.options.clock.now());
  }

  /**
   * Asks to send one call to the provider. Closed: allowed. Open: refused with E4700 until the
   * cooldown ends. Half-open: the first caller of the fleet gets the probe; everyone else is refused
   * until it settles. Cooling down: refused with E4701. Answers at once, except for an instance that
   * has been idle (it reads the fleet's record first) and for the shared probe election.
   */
  tryAcquire(): CircuitPermit | Promise<CircuitPermit> {
    if (this.view.stale()) return this.view.refresh().then(() => this.decide());
    return this.decide();
  }

  /**
   * A health check has just seen the provider answer: an open circuit turns half-open now, once it
   * has been open `minOpenMs` (never later than its cooldown's end), so that traffic returns within
   * seconds of the provider's recovery. While checks pass but calls fail, this lets one probe
   * through per `minOpenMs` — for the whole fleet on a shared store.
   */
  allowProbe(minOpenMs: number): void {
    if (this.view.stale()) {
      void this.view.refresh().then(() => this.probeEarly(minOpenMs));
      return;
    }
    this.probeEarly(minOpenMs);
  }

  /** The state for `GET /health/providers` and metrics. */
  snapshot(): CircuitSnapshot {
    const now = this.options.clock.now();
    const { record, shared } = this.view.source();
    const base = {
      provider: this.provider,
      decided_by: shared ? ('shared' as const) : ('local' as const),
      ...(record.coolUntil > now ? { cool_down_until: record.coolUntil } : {}),
    };
    if (record.state === 'closed')
      return merged(base, { state: 'closed' as const, failures: record.failures, retry_after_ms: Math.max(0, record.coolUntil - now) });
    if (now < record.halfOpenAt) {
      return merged(base, {
        state: 'open' as const,
        failures: 0,
        opened_at: record.openedAt,
        retry_after_ms: Math.max(0, record.halfOpenAt - now, record.coolUntil - now),
      });
    }
    if (!probeOut(record, now)) return merged(base, { state: 'half_open' as const, failures: 0, retry_after_ms: Math.max(0, record.coolUntil - now) });
    const until = record.probe?.until ?? now;
    return merged(base, {
      state: 'half_open' as const,
      failures: 0,
      probe_started_at: until - this.options.probeTimeoutMs,
      retry_after_ms: Math.max(0, until - now),
    });
  }

  /** Stops the timers (the gateway is closing). */
  stop(): void {
    this.view.stop();
  }

  private decide(): CircuitPermit | Promise<CircuitPermit> {
    const now = this.options.clock.now();
    const source = this.view.source();
    const refused = this.refusalFor(source.record, now);
    if (refused !== undefined) return denied(refused);
    if (source.record.state === 'closed') return this.grant(this.view.targetOf(source), undefined);
    const owner = `${this.instanceId}:${++this.probes}`;
    if (!source.shared) return this.probeGranted(source, this.view.local.claimProbe(this.provider, owner, now), owner);
    return this.claimShared(owner, now);
  }

  private probeEarly(minOpenMs: number): void {
    const now = this.options.clock.now();
    const source = this.view.source();
    const record = source.record;
    if (record.state !== 'open') return;
    const at = Math.max(now, record.openedAt + Math.min(this.options.cooldownMs, minOpenMs));
    if (at >= record.halfOpenAt) return;
    const local = this.view.local;
    this.view.write(
      source.shared,
      (store) => store.halfOpenBy(this.provider, record.generation, at),
      () => local.halfOpenBy(this.provider, local.read(this.provider).generation, at),
    );
  }

  private refusalFor(record: CircuitRecord, now: number): CircuitOpenError | undefined {
    if (record.coolUntil > now) {
      const wait = record.coolUntil - now;
      return new CircuitOpenError('E4701', `Provider "${this.provider}" asked the gateway to back off; retry in ${Math.ceil(wait / 1000)} s`, {
        retryAfterMs: wait,
        details: { provider: this.provider, cool_down_until: record.coolUntil, retry_after_ms: wait },
      });
    }
    if (record.state === 'closed') return undefined;
    if (now < record.halfOpenAt) return this.openError('open', record.halfOpenAt - now);
    if (probeOut(record, now)) return this.openError('half_open', (record.probe?.until ?? now) - now);
    if (this.claiming) return this.openError('half_open', this.syncIntervalMs);
    return undefined;
  }

  private openError(state: CircuitStateName, retryAfterMs: number): CircuitOpenError {
    const wait = Math.max(0, retryAfterMs);
    return new CircuitOpenError('E4700', `The circuit for provider "${this.provider}" is open; retry in ${Math.ceil(wait / 1000)} s`, {
      retryAfterMs: wait,
      details: { provider: this.provider, state, retry_after_ms: wait },
    });
  }

  /** Asks the shared store for the probe; when it cannot answer, the process decides alone. */
  private async claimShared(owner: string, now: number): Promise<CircuitPermit> {
    const store = this.view.sharedStore();
    if (store === undefined) return this.tryAcquireLocally();
    this.claiming = true;
    try {
      const claim = await store.claimProbe(this.provider, owner, now);
      this.view.adopt(claim.record, now);
      return this.probeGranted({ shared: true, record: claim.record }, claim, owner);
    } catch {
      this.view.failed();
      return this.tryAcquireLocally();
    } finally {
      this.claiming = false;
    }
  }

  private tryAcquireLocally(): CircuitPermit {
    const now = this.options.clock.now();
    const record = this.view.local.read(this.provider);
    const refused = this.refusalFor(record, now);
    if (refused !== undefined) return denied(refused);
    if (record.state === 'closed') return this.grant({ shared: false, generation: record.generation }, undefined);
    const owner = `${this.instanceId}:${++this.probes}`;
    return this.probeGranted({ shared: false, record }, this.view.local.claimProbe(this.provider, owner, now), owner);
  }

  private probeGranted(source: CircuitSource, claim: { granted: boolean; record: CircuitRecord }, owner: string): CircuitPermit {
    if (!source.shared) this.view.notify();
    if (claim.granted) return this.grant({ shared: source.shared, generation: claim.record.generation }, owner);
    return denied(this.refusalFor(claim.record, this.options.clock.now()) ?? this.openError('half_open', this.syncIntervalMs));
  }

  /** A permit whose outcome goes to `target`; `probeOwner` when it is the probe. */
  private grant(target: CircuitTarget, probeOwner: string | undefined): CircuitPermit {
    // Only a shared permit needs this process's generation too (for when its shared write fails).
    const localGeneration = target.shared ? this.view.local.read(this.provider).generation : target.generation;
    let settled = false;
    let probeTimer: TimerHandle | undefined;
    let controller: AbortController | undefined;
    const settle = (outcome: ProbeOutcome, error?: unknown): void => {
      if (settled) return;
      settled = true;
      probeTimer?.cancel();
      this.settle(target, localGeneration, probeOwner, outcome, error);
    };
    if (probeOwner !== undefined) {
      const probeController = new AbortController();
      controller = probeController;
      probeTimer = this.options.clock.setTimer(() => {
        if (settled) return;
        const timeout = new ProviderError('E4201', `${this.provider}: the half-open probe did not finish within ${this.options.probeTimeoutMs} ms`, {
          details: { provider: this.provider, probe_timeout_ms: this.options.probeTimeoutMs },
        });
        settle('failure', timeout);
        probeController.abort(timeout);
      }, this.options.probeTimeoutMs);
    }
    return {
      allowed: true,
      probe: probeOwner !== undefined,
      signal: controller?.signal ?? NEVER_ABORTED,
      success: () => settle('success'),
      failure: (error: unknown) => settle(countsAsFailure(error) ? 'failure' : 'release', error),
      release: () => settle('release'),
    };
  }

  /** Applies one permit's outcome where it goes (or to this process's record, when the shared store fails). */
  private settle(target: CircuitTarget, localGeneration: number, probeOwner: string | undefined, outcome: ProbeOutcome, error: unknown): void {
    const now = this.options.clock.now();
    const provider = this.provider;
    const local = this.view.local;
    const coolMs = error === undefined ? undefined : coolDownOf(error, this.overloadCooldownMs);
    if (coolMs !== undefined) {
      const until = now + Math.min(coolMs, this.maxCooldownMs);
      this.view.write(
        target.shared,
        (store) => store.coolDown(provider, until),
        () => local.coolDown(provider, until),
      );
    }
    const locally = (): CircuitRecord => {
      if (outcome === 'failure') return local.recordFailure(provider, localGeneration, now);
      return outcome === 'success' ? local.recordSuccess(provider, localGeneration) : local.read(provider);
    };
    if (probeOwner !== undefined) {
      if (target.shared) this.view.write(true, (store) => store.settleProbe(provider, probeOwner, outcome, now), locally);
      else this.view.write(false, undefined, () => local.settleProbe(provider, probeOwner, outcome, now));
      return;
    }
    if (outcome === 'release') return;
    if (outcome === 'success') {
      // The common case writes nothing: only the first success after failures resets the count.
      const known = target.shared ? this.view.sharedRecord() : local.read(provider);
      if (known?.state !== 'closed' || known.failures === 0) return;
      this.view.write(target.shared, (store) => store.recordSuccess(provider, target.generation), locally);
      return;
    }
    this.view.write(target.shared, (store) => store.recordFailure(provider, target.generation, now), locally);
  }
}

/** One breaker per provider, created on first use, all with the same options and one per-process store. */
export class CircuitBreakerRegistry {
  private readonly options: CircuitBreakerOptions;
  private readonly local: MemoryProviderStateStore;
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly listeners: Array<NonNullable<CircuitBreakerOptions['onTransition']>> = [];

  /** Throws a `RangeError` naming the option and the value it received when an option is invalid. */
  constructor(options: CircuitBreakerOptions) {
    validateOptions(options); // at start-up rather than at the first request
    const onTransition = options.onTransition;
    this.options = {
      ...options,
      instanceId: options.instanceId ?? randomUUID(),
      onTransition: (provider, from, to) => {
        onTransition?.(provider, from, to);
        for (const listener of this.listeners) listener(provider, from, to);
      },
    };
    this.local = new MemoryProviderStateStore(options);
  }

  /** Also tells `listener` about every transition of every breaker (after `options.onTransition`). */
  addTransitionListener(listener: NonNullable<CircuitBreakerOptions['onTransition']>): void {
    this.listeners.push(listener);
  }

  /** The provider's breaker (created closed on first use). */
  get(provider: string): CircuitBreaker {
    let breaker = this.breakers.get(provider);
    if (breaker === undefined) {
      breaker = new CircuitBreaker(provider, this.options, this.local);
      this.breakers.set(provider, breaker);
    }
    return breaker;
  }

  /** Every known provider's state name. */
  states(): Record<string, CircuitStateName> {
    const out: Record<string, CircuitStateName> = {};
    for (const [provider, breaker] of this.breakers) out[provider] = breaker.state;
    return out;
  }

  /** Every known provider's snapshot. */
  snapshots(): CircuitSnapshot[] {
    return [...this.breakers.values()].map((breaker) => breaker.snapshot());
  }

  /** Stops every breaker's timers. */
  stop(): void {
    for (const breaker of this.breakers.values()) breaker.stop();
  }
}

function probeOut(record: CircuitRecord, now: number): boolean {
  return record.state === 'open' && record.probe !== undefined && record.probe.until > now;
}

function denied(error: CircuitOpenError): CircuitPermit {
  return { allowed: false, retryAfterMs: error.retryAfterMs ?? 0, error };
}

function validateOptions(options: CircuitBreakerOptions): void {
  validatePolicy(options);
  for (const name of ['overloadCooldownMs', 'maxCooldownMs', 'syncIntervalMs'] as const) {
    const value = options[name];
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} should be a positive number, got ${String(value)}`);
  }
}
