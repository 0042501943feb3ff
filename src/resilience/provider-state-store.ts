/**
 * The port behind the provider state a fleet shares: each provider's circuit (closed, or open with
 * its half-open moment and the one probe out), its cool-down (a 429 with Retry-After, an overloaded
 * provider), and its active health checks (a lease so that one instance checks per interval, and
 * the last result). The memory store keeps it for one process; the Redis store for every instance
 * on the same Redis. Both implement the same transitions, checked by one shared test suite.
 *
 * Times are epoch milliseconds from the caller's clock, passed in with every operation: instances
 * are expected to keep their clocks in step (NTP), and tests drive every instance with a fake one.
 * Clock skew between instances shortens or lengthens a cooldown, a lease or a cool-down by the skew.
 */
import type { ProviderHealth } from '../models/provider-config.js';

/** A value the memory store returns at once and the Redis store as a promise. */
export type MaybePromise<T> = T | Promise<T>;

/** How every breaker of a gateway behaves (`circuit_breaker` in the config). */
export interface BreakerPolicy {
  /** Consecutive counted failures that open the circuit. */
  failureThreshold: number;
  /** How long an open circuit refuses before it lets one probe through, in milliseconds. */
  cooldownMs: number;
  /** How long the probe may stay out before another may be let through, in milliseconds. */
  probeTimeoutMs: number;
}

/** The half-open probe that is out: who holds it and until when (epoch milliseconds). */
export interface ProbeLease {
  readonly owner: string;
  readonly until: number;
}

/**
 * One provider's circuit and cool-down as the store keeps them. An open circuit is half-open from
 * `halfOpenAt` on (its cooldown's end, or earlier once a health check has seen the provider back).
 * `generation` is bumped on every transition: an outcome reported under an earlier one is ignored.
 * `coolUntil` (epoch milliseconds, 0 for none) is the provider's cool-down, whatever the circuit.
 */
export type CircuitRecord =
  | { readonly state: 'closed'; readonly generation: number; readonly failures: number; readonly coolUntil: number }
  | {
      readonly state: 'open';
      readonly generation: number;
      readonly openedAt: number;
      readonly halfOpenAt: number;
      readonly probe: ProbeLease | undefined;
      readonly coolUntil: number;
    };

/**
 * The generation of an outcome whose permit was granted before the caller knew the record (its
 * view of a shared store was not there yet): it applies to whatever closed generation is current.
 */
export const ANY_GENERATION = -1;

/** The record of a provider the store has never heard of. */
export const CLOSED_RECORD: CircuitRecord = { state: 'closed', generation: 0, failures: 0, coolUntil: 0 };

/** How a half-open probe ended: the provider answered, failed, or the call said nothing about it. */
export type ProbeOutcome = 'success' | 'failure' | 'release';

/** The answer to a probe claim: the record after the claim, and whether this caller holds the probe. */
export interface ProbeClaim {
  granted: boolean;
  record: CircuitRecord;
}

/**
 * The two health-check leases of a provider: `periodic` for checks every `health_interval_s`,
 * `recovery` for the quicker checks while its circuit is open or its last check failed.
 */
export type CheckLease = 'periodic' | 'recovery';

/** The answer to a check-lease claim: whether this caller checks now, and the last shared result. */
export interface CheckClaim {
  claimed: boolean;
  last: ProviderHealth | undefined;
}

/**
 * Where provider state lives. Every operation is atomic for one provider. Each failing operation
 * of a shared store rejects (the caller then decides by itself, per process).
 */
export interface ProviderStateStore {
  /** True when other processes read and write the same state (the caller keeps a refreshed view). */
  readonly shared: boolean;
  /** The provider's record. */
  read(provider: string): MaybePromise<CircuitRecord>;
  /** A counted failure under `generation` (or `ANY_GENERATION`): one more consecutive failure; the circuit opens at the threshold. */
  recordFailure(provider: string, generation: number, now: number): MaybePromise<CircuitRecord>;
  /** A success under `generation` (or `ANY_GENERATION`) while closed: the consecutive count starts again. */
  recordSuccess(provider: string, generation: number): MaybePromise<CircuitRecord>;
  /** Asks for the half-open probe: granted when the circuit is half-open and no probe is out (or it has expired). */
  claimProbe(provider: string, owner: string, now: number): MaybePromise<ProbeClaim>;
  /** Settles the probe `owner` holds: success closes, failure reopens for a full cooldown, release lets another probe. */
  settleProbe(provider: string, owner: string, outcome: ProbeOutcome, now: number): MaybePromise<CircuitRecord>;
  /** Moves an open circuit of `generation` to half-open at `at` when that is sooner than its cooldown's end. */
  halfOpenBy(provider: string, generation: number, at: number): MaybePromise<CircuitRecord>;
  /** Starts (or extends) the provider's cool-down to `until`; a shorter one never shortens it. */
  coolDown(provider: string, until: number): MaybePromise<CircuitRecord>;
  /**
   * Claims a health-check lease for `leaseMs`: granted when it is free, expired, or already held by
   * `owner` (who renews it). Either way, the last shared check result comes back with the answer.
   */
  claimCheck(provider: string, lease: CheckLease, owner: string, now: number, leaseMs: number): MaybePromise<CheckClaim>;
  /** Shares a check result for `keepMs`. */
  saveCheck(provider: string, health: ProviderHealth, keepMs: number): MaybePromise<void>;
}

/** Throws a `RangeError` naming the option and the value it received when a policy value is invalid. */
export function validatePolicy(policy: BreakerPolicy): void {
  checkPositive('failureThreshold', policy.failureThreshold, true);
  checkPositive('cooldownMs', policy.cooldownMs, false);
  checkPositive('probeTimeoutMs', policy.probeTimeoutMs, false);
}

function checkPositive(name: string, value: number, integer: boolean): void {
  const valid = Number.isFinite(value) && value > 0 && (!integer || Number.isInteger(value));
  if (!valid) throw new RangeError(`${name} should be a positive ${integer ? 'integer' : 'number'}, got ${String(value)}`);
}
