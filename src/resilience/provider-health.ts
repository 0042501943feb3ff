/**
 * Provider health from two sources: active checks (`adapter.healthCheck`, every
 * `health_interval_s` ± 20 % jitter, each bounded on the clock) and passive signals from live
 * traffic (the error rate over `health.window_s`, and a latency moving average per model and per
 * provider). Each provider is healthy, degraded or unhealthy; the router reads `status` and
 * `observedLatencyMs`; `GET /health/providers` reads `snapshot`. Active checks also learn which
 * configured models the provider actually has: `missingReason` says why one is missing (an Ollama
 * model not pulled) until a later check finds it.
 */
import { ConfigurationError, GatewayError, ProviderError } from '../models/error-codes.js';
import type { HealthStatus, ProviderHealth } from '../models/provider-config.js';
import type { HealthConfig } from '../config/config-schema.js';
import type { ProviderAdapter } from '../providers/base.js';
import type { Clock, Random, TimerHandle } from '../util/clock.js';
import { redactSecrets } from '../util/redact.js';
import { countsAsFailure } from './circuit-breaker.js';
import type { CircuitStateName } from './circuit-breaker.js';
import { LatencyTracker } from './latency-tracker.js';
import { OutcomeWindow } from './outcome-window.js';

/** Default bound on one active check, in milliseconds. */
export const DEFAULT_CHECK_TIMEOUT_MS = 5_000;
/** Default number of live outcomes a window needs before its error rate can change a status. */
export const DEFAULT_MIN_SAMPLES = 5;
/** Active checks run every interval × [0.8, 1.2), so that many instances do not check in step. */
const JITTER = 0.2;

/** Options of a `ProviderHealthMonitor`. */
export interface ProviderHealthMonitorOptions {
  adapters: ReadonlyMap<string, ProviderAdapter>;
  /** The provider model names the configuration expects on `provider` (checks report which are missing). */
  expectedModels: (provider: string) => readonly string[];
  config: HealthConfig;
  /** Milliseconds between active checks of `provider` (its `health_interval_s` × 1000). */
  intervalMs: (provider: string) => number;
  clock: Clock;
  random: Random;
  /**
   * When given, `snapshot` reports each provider's circuit state, and a probe that closes a circuit
   * clears the provider's error window (see `onCircuitTransition`).
   */
  breakers?: {
    get(provider: string): { state: CircuitStateName };
    addTransitionListener(listener: (provider: string, from: CircuitStateName, to: CircuitStateName) => void): void;
  };
  /** Called once per status change (the gateway logs it). Must not throw. */
  onChange?: (provider: string, from: HealthStatus, to: HealthStatus, health: ProviderHealth) => void;
  /** Bound on one active check, in milliseconds (default 5,000); a check past it is unhealthy. */
  checkTimeoutMs?: number;
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
};

interface ProviderRecord {
  lastCheck: ProviderHealth | undefined;
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
  private readonly checkTimeoutMs: number;
  private readonly minSamples: number;
  /** Bumped by `start` and `stop`, so a check that outlives a `stop` schedules nothing. */
  private epoch = 0;
  private running = false;

  constructor(options: ProviderHealthMonitorOptions) {
    this.options = options;
    this.checkTimeoutMs = options.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
    this.minSamples = options.minSamples ?? DEFAULT_MIN_SAMPLES;
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
    for (const provider of this.options.adapters.keys()) this.runScheduled(provider, epoch);
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
   * Checks one provider (or all) now and returns what each check reported. A check already in
   * flight is shared, not repeated. Throws E4002 for a provider without an adapter.
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
    record.window.record(this.options.clock.now(), false);
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

  /**
   * Feed of circuit transitions (subscribed to the breakers at construction). A probe that closes a
   * circuit has just shown the provider is back, so the failures that opened it leave the error
   * window; otherwise the provider would stay excluded as unhealthy until they aged out.
   */
  private onCircuitTransition(provider: string, from: CircuitStateName, to: CircuitStateName): void {
    const record = this.records.get(provider);
    if (record === undefined || from !== 'half_open' || to !== 'closed') return;
    record.window.clear();
    this.evaluate(provider, record);
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
      const row: ProviderHealthSnapshot = { ...this.health(provider, record, status), error_rate: counts.errorRate, window_outcomes: counts.total };
      const latency = this.providerLatency.get(provider);
      if (latency !== undefined) row.latency_ewma_ms = Math.round(latency);
      if (this.options.breakers !== undefined) row.circuit_state = this.options.breakers.get(provider).state;
      out.push(row);
    }
    return out;
  }

  private record(provider: string): ProviderRecord {
    let record = this.records.get(provider);
    if (record === undefined) {
      record = {
        lastCheck: undefined,
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

  private runScheduled(provider: string, epoch: number): void {
    void this.check(provider).then(() => {
      if (!this.running || epoch !== this.epoch) return;
      const delayMs = this.options.intervalMs(provider) * (1 - JITTER + 2 * JITTER * this.options.random());
      this.record(provider).timer = this.options.clock.setTimer(() => this.runScheduled(provider, epoch), delayMs);
    });
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

  /** Runs one bounded check; never rejects (a throwing or hanging adapter yields an unhealthy result). */
  private async performCheck(provider: string, record: ProviderRecord): Promise<ProviderHealth> {
    const adapter = this.options.adapters.get(provider);
    const expectedModels = [...this.options.expectedModels(provider)];
    const controller = new AbortController();
    record.abortCheck = controller;
    let timer: TimerHandle | undefined;
    const bound = new Promise<ProviderHealth>((resolve) => {
      timer = this.options.clock.setTimer(() => {
        controller.abort(new ProviderError('E4201', `${provider}: health check timed out`));
        resolve(this.failedCheck(provider, `health check timed out after ${this.checkTimeoutMs} ms`));
      }, this.checkTimeoutMs);
    });
    let health: ProviderHealth;
    try {
      if (adapter === undefined) throw new ConfigurationError('E4002', `Unknown provider "${provider}"`);
      const checked = Promise.resolve().then(() => adapter.healthCheck({ signal: controller.signal, expectedModels }));
      health = await Promise.race([checked, bound]);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      health = this.failedCheck(provider, `health check failed: ${redactSecrets(message).slice(0, 300)}`);
    } finally {
      timer?.cancel();
    }
    // A check cut short by `stop` says nothing about the provider.
    if (controller.signal.reason === STOPPED) return health;
    record.lastCheck = health;
    if (adapter !== undefined && health.models !== undefined) record.missing = missingModels(adapter, health);
    this.evaluate(provider, record);
    return health;
  }

  private failedCheck(provider: string, message: string): ProviderHealth {
    return { provider, status: 'unhealthy', checked_at: this.options.clock.now(), message };
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
    const active = record.lastCheck?.status ?? 'healthy';
    const passive = this.passiveStatus(record);
    return SEVERITY[passive] > SEVERITY[active] ? passive : active;
  }

  private passiveStatus(record: ProviderRecord): HealthStatus {
    const counts = record.window.counts(this.options.clock.now());
    if (counts.total < this.minSamples || counts.failures === 0) return 'healthy';
    if (counts.errorRate >= this.options.config.unhealthy_error_rate) return 'unhealthy';
    if (counts.errorRate >= this.options.config.degraded_error_rate) return 'degraded';
    return 'healthy';
  }

  /** The provider's health as reported: the last check, with the combined status and, when live traffic decided it, why. */
  private health(provider: string, record: ProviderRecord, status: HealthStatus): ProviderHealth {
    const base: ProviderHealth = record.lastCheck ?? { provider, status: 'healthy', checked_at: 0, message: 'no active check yet' };
    const health: ProviderHealth = { ...base, provider, status };
    if (SEVERITY[this.passiveStatus(record)] > SEVERITY[base.status]) {
      const counts = record.window.counts(this.options.clock.now());
      health.message = `error rate ${Math.round(counts.errorRate * 100)}% (${counts.failures}/${counts.total}) over the last ${this.options.config.window_s} s`;
    }
    return health;
  }
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
