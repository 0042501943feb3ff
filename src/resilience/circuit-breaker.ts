/**
 * A circuit breaker per provider (brief phase 5): CLOSED → OPEN after `failureThreshold`
 * consecutive counted failures; OPEN rejects with E4700 for `cooldownMs`; then HALF_OPEN lets
 * exactly one probe through; the probe's success closes the circuit, its failure (or its silence
 * past `probeTimeoutMs`) reopens it for another full cooldown.
 *
 * State is per process, on purpose. A breaker exists to stop *this* instance from spending its
 * callers' time on a provider that *this* instance sees failing, and to react within one failed
 * call. Sharing it through Redis would put a network round trip (and a script to elect the single
 * half-open probe) in front of every attempt, on top of the one round trip per request the design
 * budgets for the rate limiter, and would couple provider failover to Redis health: with Redis
 * slow or down, the breaker would have to guess at the moment it matters most. What sharing would
 * buy is modest: with N instances a dead provider takes N × `failureThreshold` failed attempts to
 * be shut off everywhere instead of `failureThreshold`, and gets N probes per cooldown instead of
 * one. Each of those attempts costs its request some latency (and an error where no fallback is
 * left), which is the honest price of this choice; it is bounded and does not grow with traffic.
 * Instances may also legitimately disagree (one behind a broken proxy or in another zone), which a
 * shared state would hide. Cross-instance visibility belongs in `GET /health/providers` and the
 * metrics, not in the decision path.
 */
import { CircuitOpenError, ProviderError, isGatewayError } from '../models/error-codes.js';
import type { ErrorCode } from '../models/error-codes.js';
import type { Clock, TimerHandle } from '../util/clock.js';

/** The three states: closed (calls flow), open (calls refused), half-open (one probe decides). */
export type CircuitStateName = 'closed' | 'open' | 'half_open';

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
  /** Called once per transition (the gateway logs it). Must not throw. */
  onTransition?: (provider: string, from: CircuitStateName, to: CircuitStateName) => void;
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
      /** The call failed; counts only when `countsAsFailure(error)`, otherwise it is a `release`. */
      failure(error: unknown): void;
      /** The call ended without saying anything about the provider (client abort, caller error). */
      release(): void;
    }
  | {
      readonly allowed: false;
      /** Time until the circuit may let a call through again, in milliseconds. */
      readonly retryAfterMs: number;
      /** E4700, carrying `retryAfterMs`. */
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
}

/** Codes that say the provider itself is failing: unreachable, timeout, 5xx, overloaded, cut stream, malformed or oversized answer. */
const COUNTED_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['E4200', 'E4201', 'E4202', 'E4205', 'E4208', 'E4600', 'E4601', 'E4602']);

/**
 * True when `error` counts against a provider's circuit: E4200, E4201, E4202, E4205, E4208, E4600, E4601, E4602.
 * The caller's own errors (E45xx, E4206, E4207), client aborts (E4507), upstream rate limiting
 * (E4204: the provider is healthy, only busy), auth and missing-model errors (configuration, not
 * outage) and anything that is not a `GatewayError` (a bug, not a provider fault) do not count.
 */
export function countsAsFailure(error: unknown): boolean {
  return isGatewayError(error) && COUNTED_CODES.has(error.code);
}

/** A signal shared by every non-probe permit: nothing ever aborts it, so no controller per call. */
const NEVER_ABORTED: AbortSignal = new AbortController().signal;

type Outcome = 'success' | 'failure' | 'release';

/** One provider's circuit breaker. */
export class CircuitBreaker {
  /** The provider this breaker protects. */
  readonly provider: string;
  private readonly options: CircuitBreakerOptions;
  private current: CircuitState = { state: 'closed', failures: 0 };
  /** Bumped on every transition; a permit from an earlier generation settles as a no-op. */
  private generation = 0;
  private cooldownTimer: TimerHandle | undefined;

  /** Throws a `RangeError` naming the option and the value it received when an option is invalid. */
  constructor(provider: string, options: CircuitBreakerOptions) {
    validateOptions(options);
    this.provider = provider;
    this.options = options;
  }

  /** The current state's name; an open circuit whose cooldown has elapsed reads `half_open`. */
  get state(): CircuitStateName {
    return this.refresh().state;
  }

  /** True while a half-open circuit's probe is out (everyone else is refused); false in every other case. */
  get probeInFlight(): boolean {
    const state = this.refresh();
    return state.state === 'half_open' && state.probeStartedAt !== undefined;
  }

  /** The full current state (a discriminated union). */
  get currentState(): CircuitState {
    return this.refresh();
  }

  /**
   * Asks to send one call to the provider. Closed: allowed. Open: refused with E4700 until the
   * cooldown ends. Half-open: the first caller gets the probe; everyone else is refused until it settles.
   */
  tryAcquire(): CircuitPermit {
    const state = this.refresh();
    switch (state.state) {
      case 'closed':
        return this.grant(false);
      case 'open':
        return this.refuse(state.openedAt + this.options.cooldownMs - this.options.clock.now());
      case 'half_open':
        if (state.probeStartedAt !== undefined) return this.refuse(state.probeStartedAt + this.options.probeTimeoutMs - this.options.clock.now());
        this.current = { state: 'half_open', probeStartedAt: this.options.clock.now() };
        return this.grant(true);
      default:
        return assertNever(state);
    }
  }

  /** The state for `GET /health/providers` and metrics. */
  snapshot(): CircuitSnapshot {
    const state = this.refresh();
    const now = this.options.clock.now();
    switch (state.state) {
      case 'closed':
        return { provider: this.provider, state: 'closed', failures: state.failures, retry_after_ms: 0 };
      case 'open':
        return {
          provider: this.provider,
          state: 'open',
          failures: 0,
          opened_at: state.openedAt,
          retry_after_ms: Math.max(0, state.openedAt + this.options.cooldownMs - now),
        };
      case 'half_open':
        if (state.probeStartedAt === undefined) return { provider: this.provider, state: 'half_open', failures: 0, retry_after_ms: 0 };
        return {
          provider: this.provider,
          state: 'half_open',
          failures: 0,
          probe_started_at: state.probeStartedAt,
          retry_after_ms: Math.max(0, state.probeStartedAt + this.options.probeTimeoutMs - now),
        };
      default:
        return assertNever(state);
    }
  }

  /** Moves an open circuit whose cooldown has elapsed to half-open (also done by the cooldown timer). */
  private refresh(): CircuitState {
    const state = this.current;
    if (state.state === 'open' && this.options.clock.now() >= state.openedAt + this.options.cooldownMs) {
      this.transition({ state: 'half_open', probeStartedAt: undefined });
    }
    return this.current;
  }

  private grant(probe: boolean): CircuitPermit {
    const generation = this.generation;
    let settled = false;
    let controller: AbortController | undefined;
    let probeTimer: TimerHandle | undefined;
    const settle = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      probeTimer?.cancel();
      this.settle(generation, probe, outcome);
    };
    if (probe) {
      controller = new AbortController();
      const probeController = controller;
      probeTimer = this.options.clock.setTimer(() => {
        if (settled) return;
        const timeout = new ProviderError('E4201', `${this.provider}: the half-open probe did not finish within ${this.options.probeTimeoutMs} ms`, {
          details: { provider: this.provider, probe_timeout_ms: this.options.probeTimeoutMs },
        });
        settle('failure');
        probeController.abort(timeout);
      }, this.options.probeTimeoutMs);
    }
    return {
      allowed: true,
      probe,
      signal: controller?.signal ?? NEVER_ABORTED,
      success: () => settle('success'),
      failure: (error: unknown) => settle(countsAsFailure(error) ? 'failure' : 'release'),
      release: () => settle('release'),
    };
  }

  private refuse(retryAfterMs: number): CircuitPermit {
    const wait = Math.max(0, retryAfterMs);
    const error = new CircuitOpenError('E4700', `The circuit for provider "${this.provider}" is open; retry in ${Math.ceil(wait / 1000)} s`, {
      retryAfterMs: wait,
      details: { provider: this.provider, state: this.current.state, retry_after_ms: wait },
    });
    return { allowed: false, retryAfterMs: wait, error };
  }

  /** Applies one permit's outcome; permits from before the last transition are ignored. */
  private settle(generation: number, probe: boolean, outcome: Outcome): void {
    if (generation !== this.generation || (outcome === 'release' && !probe)) return;
    const state = this.current;
    if (probe && state.state === 'half_open') {
      if (outcome === 'success') this.transition({ state: 'closed', failures: 0 });
      else if (outcome === 'failure') this.transition({ state: 'open', openedAt: this.options.clock.now() });
      // A released probe said nothing: the next caller becomes the probe.
      else this.current = { state: 'half_open', probeStartedAt: undefined };
      return;
    }
    if (state.state !== 'closed') return;
    if (outcome === 'success') {
      if (state.failures > 0) this.current = { state: 'closed', failures: 0 };
      return;
    }
    const failures = state.failures + 1;
    if (failures >= this.options.failureThreshold) this.transition({ state: 'open', openedAt: this.options.clock.now() });
    else this.current = { state: 'closed', failures };
  }

  private transition(next: CircuitState): void {
    const from = this.current.state;
    this.current = next;
    this.generation++;
    this.cooldownTimer?.cancel();
    this.cooldownTimer = undefined;
    // The timer only makes the half-open transition (and its log line) happen on time; `refresh` does the same lazily.
    if (next.state === 'open') this.cooldownTimer = this.options.clock.setTimer(() => this.refresh(), this.options.cooldownMs);
    if (from !== next.state) this.options.onTransition?.(this.provider, from, next.state);
  }
}

/** One breaker per provider, created on first use, all with the same options. */
export class CircuitBreakerRegistry {
  private readonly options: CircuitBreakerOptions;
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly listeners: Array<NonNullable<CircuitBreakerOptions['onTransition']>> = [];

  /** Throws a `RangeError` naming the option and the value it received when an option is invalid. */
  constructor(options: CircuitBreakerOptions) {
    validateOptions(options); // at start-up rather than at the first request
    const onTransition = options.onTransition;
    this.options = {
      ...options,
      onTransition: (provider, from, to) => {
        onTransition?.(provider, from, to);
        for (const listener of this.listeners) listener(provider, from, to);
      },
    };
  }

  /** Also tells `listener` about every transition of every breaker (after `options.onTransition`). */
  addTransitionListener(listener: NonNullable<CircuitBreakerOptions['onTransition']>): void {
    this.listeners.push(listener);
  }

  /** The provider's breaker (created closed on first use). */
  get(provider: string): CircuitBreaker {
    let breaker = this.breakers.get(provider);
    if (breaker === undefined) {
      breaker = new CircuitBreaker(provider, this.options);
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
}

function validateOptions(options: CircuitBreakerOptions): void {
  checkPositive('failureThreshold', options.failureThreshold, true);
  checkPositive('cooldownMs', options.cooldownMs, false);
  checkPositive('probeTimeoutMs', options.probeTimeoutMs, false);
}

function checkPositive(name: string, value: number, integer: boolean): void {
  const valid = Number.isFinite(value) && value > 0 && (!integer || Number.isInteger(value));
  if (!valid) throw new RangeError(`${name} should be a positive ${integer ? 'integer' : 'number'}, got ${String(value)}`);
}

function assertNever(value: never): never {
  throw new Error(`Unexpected circuit state: ${JSON.stringify(value)}`);
}
