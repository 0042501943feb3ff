/**
 * Provider health from two sources: active checks (`adapter.healthCheck`, every
 * `health_interval_s` ± 20 % jitter) and passive signals from live traffic (the error rate over
 * `health.window_s`, and a latency moving average per model and per provider). Each provider is
 * healthy, degraded or unhealthy; the router reads `status` and `observedLatencyMs`;
 * `GET /health/providers` reads `snapshot`. Active checks also learn which configured models the
 * provider actually has: `missingReason` says why one is missing (an Ollama model not pulled).
 *
 * Judged on the provider alone:
 * - A check is bounded by `check_timeout_ms`, stretched to `latency_factor` × the provider's
 *   observed latency (live calls and earlier checks) and doubled after each check that got no
 *   answer, never past the provider's `timeout_ms`. Checks go out on a connection of their own.
 * - A check with no answer within its bound makes the provider degraded (slow, still routed); a
 *   second one in a row makes it unhealthy.
 * - A live success after a failed check outweighs it: the check is stale, traffic is flowing.
 * - While the circuit is open or the last check got no answer, checks come every
 *   `recovery_interval_s` (after checks that answered unhealthy, that interval doubles per failed
 *   check up to the normal one), and one that finds the provider answering lets the circuit's
 *   probe through at once (`CircuitBreaker.allowProbe`), so traffic returns within seconds.
 *
 * With a shared store (Redis) a check runs once per provider per interval across the fleet: each
 * turn first claims the check's lease; the instance holding it checks and shares the result, and
 * keeps the lease by renewing it at its next turn; the others adopt the shared result, re-reading
 * it every `recovery_interval_s`, and take the lease over when its holder stops renewing it. While
 * the store cannot answer, every instance checks for itself.
 *
 * Past 400 lines: the check scheduling, the bounds of one check and the fleet lease share each
 * provider's record and its status rule; split apart, each piece would need the whole record.
 */
import { randomUUID } from 'node:crypto';
import { ConfigurationError, GatewayError } from '../models/error-codes.js';
import type { HealthStatus, ProviderHealth } from '../models/provider-config.js';
import type { HealthConfig } from '../config/config-schema.js';
import type { ProviderAdapter } from '../providers/base.js';
import type { Clock, Random, TimerHandle } from '../util/clock.js';
import { runBoundedCheck } from './bounded-check.js';
import type { CheckOutcome } from './bounded-check.js';
import { countsAsFailure } from './circuit-breaker.js';
import type { CircuitStateName } from './circuit-breaker.js';
import { LatencyTracker } from './latency-tracker.js';
import { OutcomeWindow } from './outcome-window.js';
import type { CheckClaim, CheckLease, ProviderStateStore } from './provider-state-store.js';

/** Default number of live outcomes a window needs before its error rate can change a status. */
export const DEFAULT_MIN_SAMPLES = 5;
/** Active checks run every interval × [0.8, 1.2), so that many instances do not check in step. */
const JITTER = 0.2;
/** How many times a check's bound doubles after checks that got no answer. */
const MAX_BOUND_DOUBLINGS = 4;

/** Options of a `ProviderHealthMonitor`. */
export interface ProviderHealthMonitorOptions {
  adapters: ReadonlyMap<string, ProviderAdapter>;
  /** The provider model names the configuration expects on `provider` (checks report which are missing). */
  expectedModels: (provider: string) => readonly string[];
  config: HealthConfig;
  /** Milliseconds between active checks of `provider` (its `health_interval_s` × 1000). */
  intervalMs: (provider: string) => number;
  /** The provider's whole-request bound (`timeout_ms`), the longest a check may ever take; default unbounded. */
  providerTimeoutMs?: (provider: string) => number;
  clock: Clock;
  random: Random;
  /**
   * When given, `snapshot` reports each provider's circuit state, a circuit that closes clears the
   * provider's error window (see `onCircuitTransition`), and checks that find the provider
   * answering let an open circuit's probe through.
   */
  breakers?: {
    get(provider: string): { state: CircuitStateName; allowProbe?(minOpenMs: number): void };
    addTransitionListener(listener: (provider: string, from: CircuitStateName, to: CircuitStateName) => void): void;
  };
  /** Where check leases and results are shared; without it every check runs here. */
  shared?: { store: ProviderStateStore; isReady: () => boolean };
  /** Names this process in check leases. */
  instanceId?: string;
  /** Called once per status change (the gateway logs it). Must not throw. */
  onChange?: (provider: string, from: HealthStatus, to: HealthStatus, health: ProviderHealth) => void;
  /** Live outcomes needed in the window before the error rate counts (default 5). */
  minSamples?: number;
}

/** One provider's row of `GET /health/providers`. */
export type ProviderHealthSnapshot = ProviderHealth & {
  circuit_state?: CircuitStateName;
  /** Counted failures / outcomes over the window, 0 to 1. */
  error_rate: number;
  /** Live outcomes in the window. */
  window_outcomes: number;
  /** Moving average of successful call latency, in milliseconds. */
  latency_ewma_ms?: number;
  /** The bound the next active check gets, in milliseconds. */
  check_timeout_ms: number;
};

interface ProviderRecord {
  lastCheck: ProviderHealth | undefined;
  /** Checks in a row that got no answer within their bound. */
  timeouts: number;
  /** Checks in a row that answered unhealthy (refused, 5xx, rejected credentials). */
  failedChecks: number;
  /** Moving average of answered checks' latency, in milliseconds. */
  checkLatencyMs: number | undefined;
  /** Clock time of the last live success (0 before any). */
  lastSuccessAt: number;
  readonly window: OutcomeWindow;
  /** The last status reported through `onChange` (healthy before anything is known). */
  reported: HealthStatus;
  inFlight: Promise<ProviderHealth> | undefined;
  abortCheck: AbortController | undefined;
  timer: TimerHandle | undefined;
  /** Provider model names the last check reported missing, with the reason. */
  missing: ReadonlyMap<string, string>;
}

/** The abort reason of checks cut short by `stop`; their results are not recorded. */
const STOPPED = new GatewayError('E4509', 'The health monitor stopped');

const SEVERITY: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };

/** Periodic and passive health of every provider. */
export class ProviderHealthMonitor {
  private readonly options: ProviderHealthMonitorOptions;
  private readonly records = new Map<string, ProviderRecord>();
  private readonly modelLatency = new LatencyTracker();
  private readonly providerLatency = new LatencyTracker();
  private readonly minSamples: number;
  private readonly instanceId: string;
  /** Bumped by `start` and `stop`, so a check that outlives a `stop` schedules nothing. */
  private epoch = 0;
  private running = false;

  constructor(options: ProviderHealthMonitorOptions) {
    this.options = options;
    this.minSamples = options.minSamples ?? DEFAULT_MIN_SAMPLES;
    this.instanceId = options.instanceId ?? randomUUID();
    for (const provider of options.adapters.keys()) this.record(provider);
    options.breakers?.addTransitionListener((provider, from, to) => this.onCircuitTransition(provider, from, to));
  }

  /** Starts active checks (unless `health.enabled` is false): one at once per provider, then every interval ± 20 %. */
  start(): void {
    if (this.running || !this.options.config.enabled) return;
    for (const provider of this.options.adapters.keys()) {
      const intervalMs = this.options.intervalMs(provider);
      if (!(Number.isFinite(intervalMs) && intervalMs > 0))
        throw new RangeError(`intervalMs("${provider}") should be a positive number, got ${String(intervalMs)}`);
    }
    this.running = true;
    const epoch = ++this.epoch;
    for (const provider of this.options.adapters.keys()) this.tick(provider, epoch);
  }

  /** Stops active checks: cancels timers and aborts checks in flight. Passive signals keep working. */
  stop(): void {
    this.running = false;
    this.epoch++;
    for (const record of this.records.values()) {
      record.timer?.cancel();
      record.timer = undefined;
      record.abortCheck?.abort(STOPPED);
    }
  }

  /**
   * Checks one provider (or all) now, whatever the leases say, and returns what each check
   * reported. A check already in flight is shared, not repeated. Throws E4002 for a provider without an adapter.
   */
  checkNow(provider?: string): Promise<ProviderHealth[]> {
    if (provider === undefined) return Promise.all([...this.options.adapters.keys()].map((id) => this.check(id)));
    if (!this.options.adapters.has(provider)) {
      return Promise.reject(new ConfigurationError('E4002', `Unknown provider "${provider}"`, { details: { provider } }));
    }
    return this.check(provider).then((health) => [health]);
  }

  /** Reports a successful live call and its latency (milliseconds). */
  recordSuccess(provider: string, modelId: string, latencyMs: number): void {
    const record = this.record(provider);
    const now = this.options.clock.now();
    record.window.record(now, false);
    record.lastSuccessAt = now;
    this.modelLatency.record(modelId, latencyMs);
    this.providerLatency.record(provider, latencyMs);
    this.evaluate(provider, record);
  }

  /** Reports a failed live call; only provider faults (`countsAsFailure`) move the error rate. */
  recordFailure(provider: string, _modelId: string, error: unknown): void {
    if (!countsAsFailure(error)) return;
    const record = this.record(provider);
    record.window.record(this.options.clock.now(), true);
    this.evaluate(provider, record);
  }

  /** Why `provider` cannot serve `providerModel` (its last check did not list it), or `undefined`. */
  missingReason(provider: string, providerModel: string): string | undefined {
    return this.records.get(provider)?.missing.get(providerModel);
  }

  /** The provider's status: the worse of its last active check and its live error rate. Unknown providers are healthy. */
  status(provider: string): HealthStatus {
    const record = this.records.get(provider);
    return record === undefined ? 'healthy' : this.evaluate(provider, record);
  }

  /** The moving average latency of successful calls to `modelId`, in milliseconds; `undefined` before any. */
  observedLatencyMs(modelId: string): number | undefined {
    return this.modelLatency.get(modelId);
  }

  /** Every provider's health, passive signals and circuit state, for `GET /health/providers`. */
  snapshot(): ProviderHealthSnapshot[] {
    const out: ProviderHealthSnapshot[] = [];
    for (const [provider, record] of this.records) {
      const status = this.evaluate(provider, record);
      const counts = record.window.counts(this.options.clock.now());
      const row: ProviderHealthSnapshot = {
        ...this.health(provider, record, status),
        error_rate: counts.errorRate,
        window_outcomes: counts.total,
        check_timeout_ms: Math.round(this.boundMs(provider, record)),
      };
      const latency = this.providerLatency.get(provider);
      if (latency !== undefined) row.latency_ewma_ms = Math.round(latency);
      if (this.options.breakers !== undefined) row.circuit_state = this.options.breakers.get(provider).state;
      out.push(row);
    }
    return out;
  }

  /**
   * Feed of circuit transitions (subscribed to the breakers at construction). A circuit that closes
   * has just seen the provider answer (its probe, here or on another instance), so the failures
   * that opened it leave the error window; otherwise the provider would stay excluded as unhealthy
   * until they aged out. A circuit that opens brings the next check forward to the recovery interval.
   */
  private onCircuitTransition(provider: string, from: CircuitStateName, to: CircuitStateName): void {
    const record = this.records.get(provider);
    if (record === undefined) return;
    if (to === 'closed' && from !== 'closed') {
      record.window.clear();
      this.evaluate(provider, record);
    } else if (to === 'open' && this.running && record.timer !== undefined && record.inFlight === undefined) {
      record.timer.cancel();
      record.timer = this.options.clock.setTimer(() => this.tick(provider, this.epoch), this.jittered(this.recoveryMs()));
    }
  }

  private record(provider: string): ProviderRecord {
    let record = this.records.get(provider);
    if (record === undefined) {
      record = {
        lastCheck: undefined,
        timeouts: 0,
        failedChecks: 0,
        checkLatencyMs: undefined,
        lastSuccessAt: 0,
        window: new OutcomeWindow(this.options.config.window_s * 1000),
        reported: 'healthy',
        inFlight: undefined,
        abortCheck: undefined,
        timer: undefined,
        missing: new Map(),
      };
      this.records.set(provider, record);
    }
    return record;
  }

  /** One scheduled turn: claim the check (or adopt the fleet's result), then schedule the next turn. */
  private tick(provider: string, epoch: number): void {
    const record = this.record(provider);
    record.timer = undefined;
    const startedAt = this.options.clock.now();
    const recovering = this.recovering(provider, record);
    // The lease outlives the holder's next turn (interval + jitter + the check itself), so the holder keeps it.
    const leaseMs = this.turnMs(provider, record, true) * (1 + JITTER) + this.boundMs(provider, record);
    const claim = this.claim(provider, recovering ? 'recovery' : 'periodic', leaseMs);
    if (claim instanceof Promise) void claim.then((answer) => this.afterClaim(provider, record, epoch, answer, startedAt));
    else this.afterClaim(provider, record, epoch, claim, startedAt);
  }

  private afterClaim(provider: string, record: ProviderRecord, epoch: number, claim: CheckClaim, startedAt: number): void {
    if (epoch !== this.epoch) return;
    if (claim.last !== undefined) this.adopt(provider, record, claim.last);
    const checked = claim.claimed ? this.check(provider) : Promise.resolve(undefined);
    void checked.then(() => {
      if (!this.running || epoch !== this.epoch) return;
      const nextMs = this.turnMs(provider, record, claim.claimed);
      // Turns start an interval apart, however long the check took: a check that timed out is followed at once.
      const elapsedMs = this.options.clock.now() - startedAt;
      record.timer = this.options.clock.setTimer(() => this.tick(provider, epoch), Math.max(0, this.jittered(nextMs) - elapsedMs));
    });
  }

  /** Claims the check's lease; without a store that can answer, this instance checks for itself. */
  private claim(provider: string, lease: CheckLease, leaseMs: number): CheckClaim | Promise<CheckClaim> {
    const shared = this.options.shared;
    const alone: CheckClaim = { claimed: true, last: undefined };
    if (shared === undefined || !shared.isReady()) return alone;
    try {
      const answer = shared.store.claimCheck(provider, lease, this.instanceId, this.options.clock.now(), leaseMs);
      return answer instanceof Promise ? answer.catch(() => alone) : answer;
    } catch {
      return alone;
    }
  }

  private check(provider: string): Promise<ProviderHealth> {
    const record = this.record(provider);
    if (record.inFlight !== undefined) return record.inFlight;
    const inFlight = this.performCheck(provider, record).finally(() => {
      record.inFlight = undefined;
      record.abortCheck = undefined;
    });
    record.inFlight = inFlight;
    return inFlight;
  }

  /** Runs one bounded check, records it, shares it, and lets an open circuit's probe through when the provider answered. */
  private async performCheck(provider: string, record: ProviderRecord): Promise<ProviderHealth> {
    const controller = new AbortController();
    record.abortCheck = controller;
    const outcome = await runBoundedCheck({
      provider,
      adapter: this.options.adapters.get(provider),
      expectedModels: [...this.options.expectedModels(provider)],
      boundMs: this.boundMs(provider, record),
      clock: this.options.clock,
      controller,
    });
    // A check cut short by `stop` says nothing about the provider.
    if (controller.signal.reason === STOPPED) return outcome.health;
    const health = this.judge(record, outcome);
    this.adopt(provider, record, health);
    const shared = this.options.shared;
    if (shared?.isReady() === true) {
      const keepMs = 3 * Math.max(this.options.intervalMs(provider), this.recoveryMs());
      void Promise.resolve()
        .then(() => shared.store.saveCheck(provider, health, keepMs))
        .catch(() => undefined); // other instances keep the result they had
    }
    if (!outcome.timedOut && health.status !== 'unhealthy') this.options.breakers?.get(provider).allowProbe?.(this.recoveryMs());
    return health;
  }

  /** Turns a check's outcome into the result recorded: a first check without an answer is degraded, not unhealthy. */
  private judge(record: ProviderRecord, outcome: CheckOutcome): ProviderHealth {
    if (!outcome.timedOut) {
      record.timeouts = 0;
      record.failedChecks = outcome.health.status === 'unhealthy' ? record.failedChecks + 1 : 0;
      const latency = outcome.health.latency_ms;
      if (outcome.health.status !== 'unhealthy' && latency !== undefined) {
        record.checkLatencyMs = record.checkLatencyMs === undefined ? latency : (record.checkLatencyMs + latency) / 2;
      }
      return outcome.health;
    }
    record.timeouts++;
    if (record.timeouts > 1) return { ...outcome.health, message: `${outcome.health.message ?? ''} (${record.timeouts} checks in a row)` };
    return { ...outcome.health, status: 'degraded', message: `${outcome.health.message ?? ''}: slow, not yet unhealthy` };
  }

  /** Takes a check result (this instance's or the fleet's) unless a newer one is already known. */
  private adopt(provider: string, record: ProviderRecord, health: ProviderHealth): void {
    if (record.lastCheck !== undefined && record.lastCheck !== health && health.checked_at < record.lastCheck.checked_at) return;
    record.lastCheck = health;
    const adapter = this.options.adapters.get(provider);
    if (adapter !== undefined && health.models !== undefined) record.missing = missingModels(adapter, health);
    this.evaluate(provider, record);
  }

  /** The bound of the next check of `provider`, in milliseconds (see the file comment). */
  private boundMs(provider: string, record: ProviderRecord): number {
    const { check_timeout_ms: base, latency_factor: factor } = this.options.config;
    const observed = Math.max(this.providerLatency.get(provider) ?? 0, record.checkLatencyMs ?? 0);
    let bound = Math.max(base * 2 ** Math.min(record.timeouts, MAX_BOUND_DOUBLINGS), factor * observed);
    // While recovering, a check only has to show that the provider answers as its checks used to:
    // a short bound keeps one check stuck on a dead connection from delaying the next by seconds.
    if (record.checkLatencyMs !== undefined && this.recovering(provider, record))
      bound = Math.min(bound, Math.max(this.recoveryMs(), factor * record.checkLatencyMs));
    return Math.min(bound, this.options.providerTimeoutMs?.(provider) ?? Infinity);
  }

  /**
   * Milliseconds to the next turn. The recovery interval while the circuit is not closed (traffic is
   * being refused: worth finding out at once when the provider is back) or the last check got no
   * answer; after checks that answered unhealthy (a refused connection, rejected credentials), the
   * recovery interval doubled per failed check up to the normal interval; else the normal interval.
   * An instance that does not hold the lease re-reads the shared result every recovery interval.
   */
  private turnMs(provider: string, record: ProviderRecord, claimed: boolean): number {
    const intervalMs = this.options.intervalMs(provider);
    const circuit = this.options.breakers?.get(provider).state ?? 'closed';
    if (!claimed || circuit !== 'closed' || record.timeouts > 0) return Math.min(intervalMs, this.recoveryMs());
    if (record.failedChecks > 0) return Math.min(intervalMs, this.recoveryMs() * 2 ** (record.failedChecks - 1));
    return intervalMs;
  }

  /** Whether the provider is being watched for its recovery: the circuit is not closed, or the last check failed. */
  private recovering(provider: string, record: ProviderRecord): boolean {
    const circuit = this.options.breakers?.get(provider).state ?? 'closed';
    return circuit !== 'closed' || record.timeouts > 0 || record.lastCheck?.status === 'unhealthy';
  }

  private recoveryMs(): number {
    return this.options.config.recovery_interval_s * 1000;
  }

  private jittered(intervalMs: number): number {
    return intervalMs * (1 - JITTER + 2 * JITTER * this.options.random());
  }

  /** Combines the signals, reports a change once, and returns the status. */
  private evaluate(provider: string, record: ProviderRecord): HealthStatus {
    const status = this.combinedStatus(record);
    if (status !== record.reported) {
      const from = record.reported;
      record.reported = status;
      this.options.onChange?.(provider, from, status, this.health(provider, record, status));
    }
    return status;
  }

  private combinedStatus(record: ProviderRecord): HealthStatus {
    const active = this.activeStatus(record);
    const passive = this.passiveStatus(record);
    return SEVERITY[passive] > SEVERITY[active] ? passive : active;
  }

  /**
   * The last check's status, unless live traffic has succeeded since that check ended: a failed or
   * slow check is stale once calls get answers. A check that found configured models missing stands.
   */
  private activeStatus(record: ProviderRecord): HealthStatus {
    const check = record.lastCheck;
    if (check === undefined) return 'healthy';
    if (check.status === 'healthy' || reportsMissingModels(check)) return check.status;
    return record.lastSuccessAt >= check.checked_at + (check.latency_ms ?? 0) ? 'healthy' : check.status;
  }

  private passiveStatus(record: ProviderRecord): HealthStatus {
    const counts = record.window.counts(this.options.clock.now());
    if (counts.total < this.minSamples || counts.failures === 0) return 'healthy';
    if (counts.errorRate >= this.options.config.unhealthy_error_rate) return 'unhealthy';
    if (counts.errorRate >= this.options.config.degraded_error_rate) return 'degraded';
    return 'healthy';
  }

  /** The provider's health as reported: the last check, with the combined status and, when something else decided it, why. */
  private health(provider: string, record: ProviderRecord, status: HealthStatus): ProviderHealth {
    const base: ProviderHealth = record.lastCheck ?? { provider, status: 'healthy', checked_at: 0, message: 'no active check yet' };
    const health: ProviderHealth = { ...base, provider, status };
    if (SEVERITY[this.passiveStatus(record)] > SEVERITY[this.activeStatus(record)]) {
      const counts = record.window.counts(this.options.clock.now());
      health.message = `error rate ${Math.round(counts.errorRate * 100)}% (${counts.failures}/${counts.total}) over the last ${this.options.config.window_s} s`;
    } else if (base.status !== 'healthy' && status === 'healthy') {
      health.message = `live calls succeed since the last check (${base.message ?? base.status})`;
    }
    return health;
  }
}

function reportsMissingModels(health: ProviderHealth): boolean {
  return health.models !== undefined && Object.values(health.models).some((present) => !present);
}

/** The models a check reported absent, each with why: the adapter's hint for it when there is one, else what to run. */
function missingModels(adapter: ProviderAdapter, health: ProviderHealth): Map<string, string> {
  const missing = new Map<string, string>();
  for (const [providerModel, present] of Object.entries(health.models ?? {})) {
    if (!present) missing.set(providerModel, missingReason(adapter, providerModel, health.hints));
  }
  return missing;
}

/** Why a model is unavailable: the adapter's hint for it when there is one, else what to run. */
function missingReason(adapter: ProviderAdapter, providerModel: string, hints: string[] | undefined): string {
  const hint = hints?.find((candidate) => candidate.includes(providerModel));
  if (adapter.type === 'ollama') return `not pulled: ${hint ?? `ollama pull ${providerModel}`}`;
  return `not found on provider ${adapter.id}: ${hint ?? providerModel}`;
}
