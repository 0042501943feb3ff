import { describe, expect, it } from 'vitest';
import { ProviderError, ValidationError } from '../src/models/error-codes.js';
import type { GatewayError } from '../src/models/error-codes.js';
import type { HealthStatus, ProviderHealth, ProviderType } from '../src/models/provider-config.js';
import type { HealthConfig } from '../src/config/config-schema.js';
import type { HealthCheckOptions, ProviderAdapter } from '../src/providers/base.js';
import { MockAdapter } from '../src/providers/mock-adapter.js';
import { CircuitBreakerRegistry } from '../src/resilience/circuit-breaker.js';
import { MemoryProviderStateStore } from '../src/resilience/memory-provider-state-store.js';
import { LatencyTracker } from '../src/resilience/latency-tracker.js';
import { ModelRegistry } from '../src/routing/model-registry.js';
import { OutcomeWindow } from '../src/resilience/outcome-window.js';
import { ProviderHealthMonitor } from '../src/resilience/provider-health.js';
import type { ProviderHealthMonitorOptions } from '../src/resilience/provider-health.js';
import { FakeClock, flushMicrotasks } from './helpers/fake-clock.js';

const HEALTH_CONFIG: HealthConfig = {
  enabled: true,
  window_s: 60,
  degraded_error_rate: 0.2,
  unhealthy_error_rate: 0.5,
  check_timeout_ms: 5_000,
  latency_factor: 3,
  recovery_interval_s: 2,
};

/** An adapter whose health check the test scripts; it serves nothing else. */
class ScriptedAdapter implements ProviderAdapter {
  readonly id: string;
  readonly type: ProviderType;
  checks: HealthCheckOptions[] = [];
  answer: (options: HealthCheckOptions) => Promise<ProviderHealth> | ProviderHealth;

  constructor(
    id: string,
    type: ProviderType,
    private readonly clock: FakeClock,
  ) {
    this.id = id;
    this.type = type;
    this.answer = () => this.healthy();
  }

  healthy(extra: Partial<ProviderHealth> = {}): ProviderHealth {
    return { provider: this.id, status: 'healthy', checked_at: this.clock.now(), ...extra };
  }

  healthCheck(options: HealthCheckOptions = {}): Promise<ProviderHealth> {
    this.checks.push(options);
    return Promise.resolve(this.answer(options));
  }

  complete(): never {
    throw new Error('not used');
  }
  stream(): never {
    throw new Error('not used');
  }
  embed(): never {
    throw new Error('not used');
  }
  supportsCapability(): boolean {
    return true;
  }
  async close(): Promise<void> {}
}

function setup(overrides: Partial<ProviderHealthMonitorOptions> & { clock?: FakeClock } = {}) {
  const clock = overrides.clock ?? new FakeClock();
  const ollama = new ScriptedAdapter('ollama', 'ollama', clock);
  const cloud = new ScriptedAdapter('cloud', 'openai', clock);
  const models = [
    { id: 'llama', provider: 'ollama', provider_model: 'llama3.2:latest' },
    { id: 'embed', provider: 'ollama', provider_model: 'nomic-embed-text' },
    { id: 'gpt', provider: 'cloud', provider_model: 'gpt-4o-mini' },
  ];
  const changes: Array<[string, HealthStatus, HealthStatus, ProviderHealth]> = [];
  const monitor = new ProviderHealthMonitor({
    adapters: new Map<string, ProviderAdapter>([
      ['ollama', ollama],
      ['cloud', cloud],
    ]),
    expectedModels: (provider) => models.filter((model) => model.provider === provider).map((model) => model.provider_model),
    config: HEALTH_CONFIG,
    intervalMs: (provider) => (provider === 'ollama' ? 10_000 : 30_000),
    clock,
    random: () => 0.5,
    onChange: (provider, from, to, health) => changes.push([provider, from, to, health]),
    ...overrides,
  });
  // The registry learns from the monitor which models the provider lacks; nothing writes into it.
  const registry = new ModelRegistry(['ollama', 'cloud'], { missingReason: (model) => monitor.missingReason(model.provider, model.provider_model) });
  for (const model of models) registry.register(model);
  return { clock, ollama, cloud, registry, monitor, changes };
}

const serverError = (): ProviderError => new ProviderError('E4202', 'upstream answered 500');

describe('ProviderHealthMonitor', () => {
  it('checks every provider at once on start, then every interval with jitter', async () => {
    const context = setup({ random: () => 0 });
    context.monitor.start();
    await context.clock.advance(0);
    expect(context.ollama.checks).toHaveLength(1);
    expect(context.cloud.checks).toHaveLength(1);
    await context.clock.advance(7_999); // random 0 → 0.8 × 10 s
    expect(context.ollama.checks).toHaveLength(1);
    await context.clock.advance(1);
    expect(context.ollama.checks).toHaveLength(2);
    await context.clock.advance(16_000);
    expect(context.ollama.checks).toHaveLength(4);
    expect(context.cloud.checks).toHaveLength(2); // 0.8 × 30 s = 24 s
    context.monitor.stop();
  });

  it('spreads checks up to 20 % past the interval', async () => {
    const context = setup({ random: () => 0.999_999 });
    context.monitor.start();
    await context.clock.advance(0); // the first check completes
    await context.clock.advance(11_999);
    expect(context.ollama.checks).toHaveLength(1);
    await context.clock.advance(1);
    expect(context.ollama.checks).toHaveLength(2);
    context.monitor.stop();
  });

  it('asks the adapter about the provider models the registry expects', async () => {
    const context = setup();
    await context.monitor.checkNow('ollama');
    expect(context.ollama.checks[0]!.expectedModels).toEqual(['llama3.2:latest', 'nomic-embed-text']);
    expect(context.ollama.checks[0]!.signal).toBeInstanceOf(AbortSignal);
  });

  it('turns unhealthy when a check says so and healthy again when a later one passes, reporting each change once', async () => {
    const context = setup();
    context.ollama.answer = () => context.ollama.healthy({ status: 'unhealthy', message: 'connection refused' });
    await context.monitor.checkNow('ollama');
    expect(context.monitor.status('ollama')).toBe('unhealthy');
    expect(context.monitor.status('ollama')).toBe('unhealthy');
    context.ollama.answer = () => context.ollama.healthy();
    await context.monitor.checkNow();
    expect(context.monitor.status('ollama')).toBe('healthy');
    expect(context.changes.map(([provider, from, to]) => `${provider}:${from}->${to}`)).toEqual(['ollama:healthy->unhealthy', 'ollama:unhealthy->healthy']);
    expect(context.changes[0]![3]).toMatchObject({ provider: 'ollama', status: 'unhealthy', message: 'connection refused' });
  });

  it('bounds a hanging check on the clock, aborts it, calls the provider slow first and unhealthy at the second miss', async () => {
    const context = setup();
    const signals: AbortSignal[] = [];
    context.ollama.answer = (options) => {
      signals.push(options.signal!);
      return new Promise<ProviderHealth>(() => undefined);
    };
    context.monitor.start();
    await context.clock.advance(4_999);
    expect(context.monitor.status('ollama')).toBe('healthy');
    await context.clock.advance(1);
    expect(context.monitor.status('ollama')).toBe('degraded');
    expect(context.monitor.snapshot().find((row) => row.provider === 'ollama')!.message).toBe(
      'no answer to the health check within 5000 ms: slow, not yet unhealthy',
    );
    expect(signals[0]!.aborted).toBe(true);
    expect((signals[0]!.reason as GatewayError).code).toBe('E4201');
    // Turns start a recovery interval apart: the check that timed out is followed at once, with twice the bound.
    expect(context.ollama.checks).toHaveLength(2);
    expect(context.ollama.checks[1]!.timeoutMs).toBeGreaterThanOrEqual(10_000);
    await context.clock.advance(9_999);
    expect(context.monitor.status('ollama')).toBe('degraded');
    context.ollama.answer = () => context.ollama.healthy();
    await context.clock.advance(1);
    expect(context.monitor.status('ollama')).toBe('healthy');
    expect(context.ollama.checks).toHaveLength(3);
    expect(context.changes.map(([provider, from, to]) => `${provider}:${from}->${to}`)).toEqual([
      'ollama:healthy->degraded',
      'ollama:degraded->unhealthy',
      'ollama:unhealthy->healthy',
    ]);
    context.monitor.stop();
  });

  it('treats a check that throws as unhealthy, and checks again at the recovery interval, doubled per failed check up to the interval', async () => {
    const context = setup();
    context.ollama.answer = () => {
      throw new Error('adapter bug with key sk-abcdefghijklmnop');
    };
    context.monitor.start();
    await context.clock.advance(0);
    const row = context.monitor.snapshot().find((item) => item.provider === 'ollama')!;
    expect(row.status).toBe('unhealthy');
    expect(row.message).toBe('health check failed: adapter bug with key [REDACTED]');
    context.ollama.answer = () => Promise.reject(new Error('rejected'));
    const checkedAt: number[] = [];
    const start = context.clock.now();
    for (let step = 0; step < 5; step++) {
      const before = context.ollama.checks.length;
      while (context.ollama.checks.length === before) await context.clock.advance(500);
      checkedAt.push(context.clock.now() - start);
    }
    expect(checkedAt).toEqual([2_000, 6_000, 14_000, 24_000, 34_000]); // +2, +4, +8, then the 10 s interval
    expect(context.monitor.status('ollama')).toBe('unhealthy');
    context.monitor.stop();
  });

  it('marks a model the provider lacks as unavailable and available again when it appears', async () => {
    const context = setup();
    context.ollama.answer = () => context.ollama.healthy({ status: 'degraded', models: { 'llama3.2:latest': false, 'nomic-embed-text': true } });
    await context.monitor.checkNow('ollama');
    expect(context.registry.get('llama')).toMatchObject({ available: false, unavailable_reason: 'not pulled: ollama pull llama3.2:latest' });
    expect(context.registry.get('embed').available).toBe(true);
    context.ollama.answer = () => context.ollama.healthy({ models: { 'llama3.2:latest': true, 'nomic-embed-text': true } });
    await context.monitor.checkNow('ollama');
    expect(context.registry.get('llama').available).toBe(true);
    expect(context.registry.get('llama').unavailable_reason).toBeUndefined();
  });

  it("uses the adapter's hint for a missing model", async () => {
    const context = setup();
    context.cloud.answer = () => context.cloud.healthy({ models: { 'gpt-4o-mini': false }, hints: ['gpt-4o-mini is not enabled for this organization'] });
    await context.monitor.checkNow('cloud');
    expect(context.registry.get('gpt').unavailable_reason).toBe('not found on provider cloud: gpt-4o-mini is not enabled for this organization');
  });

  it('leaves alone models that something else marked unavailable', async () => {
    const context = setup();
    context.registry.setAvailability('llama', false, 'disabled by operator');
    context.ollama.answer = () => context.ollama.healthy({ models: { 'llama3.2:latest': true } });
    await context.monitor.checkNow('ollama');
    expect(context.registry.get('llama')).toMatchObject({ available: false, unavailable_reason: 'disabled by operator' });
  });

  it('shares a check already in flight', async () => {
    const context = setup();
    let resolve: (health: ProviderHealth) => void = () => undefined;
    context.ollama.answer = () => new Promise<ProviderHealth>((done) => (resolve = done));
    const first = context.monitor.checkNow('ollama');
    const second = context.monitor.checkNow('ollama');
    await context.clock.advance(0);
    resolve(context.ollama.healthy({ version: '0.6.0' }));
    expect(await first).toEqual(await second);
    expect(context.ollama.checks).toHaveLength(1);
  });

  it('rejects checkNow for an unknown provider with E4002', async () => {
    const context = setup();
    await expect(context.monitor.checkNow('nope')).rejects.toMatchObject({ code: 'E4002' });
  });

  it('stops: cancels timers and aborts a check in flight without recording it', async () => {
    const context = setup();
    const signals: AbortSignal[] = [];
    context.ollama.answer = (options) =>
      new Promise<ProviderHealth>((_, reject) => {
        signals.push(options.signal!);
        options.signal!.addEventListener('abort', () => reject(options.signal!.reason));
      });
    context.monitor.start();
    await context.clock.advance(0);
    context.monitor.stop();
    await context.clock.advance(0);
    expect(signals[0]!.aborted).toBe(true);
    expect(context.monitor.status('ollama')).toBe('healthy');
    expect(context.clock.pending()).toBe(0);
    await context.clock.advance(60_000);
    expect(context.ollama.checks).toHaveLength(1);
  });

  it('runs no periodic checks when health checks are disabled, but checks on demand', async () => {
    const context = setup({ config: { ...HEALTH_CONFIG, enabled: false } });
    context.monitor.start();
    await context.clock.advance(60_000);
    expect(context.ollama.checks).toHaveLength(0);
    await context.monitor.checkNow('ollama');
    expect(context.ollama.checks).toHaveLength(1);
  });

  it('rejects a non-positive check interval on start', () => {
    const context = setup({ intervalMs: () => 0 });
    expect(() => context.monitor.start()).toThrow('intervalMs("ollama") should be a positive number, got 0');
  });

  it('turns unhealthy from the live error rate once the window holds enough outcomes', () => {
    const context = setup();
    for (let index = 0; index < 4; index++) context.monitor.recordFailure('cloud', 'gpt', serverError());
    expect(context.monitor.status('cloud')).toBe('healthy');
    context.monitor.recordFailure('cloud', 'gpt', serverError());
    expect(context.monitor.status('cloud')).toBe('unhealthy');
    expect(context.changes).toHaveLength(1);
    expect(context.changes[0]![3].message).toBe('error rate 100% (5/5) over the last 60 s');
  });

  it('turns degraded between the two error-rate thresholds', () => {
    const context = setup();
    for (let index = 0; index < 7; index++) context.monitor.recordSuccess('cloud', 'gpt', 100);
    for (let index = 0; index < 3; index++) context.monitor.recordFailure('cloud', 'gpt', serverError());
    expect(context.monitor.status('cloud')).toBe('degraded');
    expect(context.monitor.snapshot().find((row) => row.provider === 'cloud')).toMatchObject({ status: 'degraded', error_rate: 0.3, window_outcomes: 10 });
  });

  it('ignores failures that are not the provider fault', () => {
    const context = setup();
    for (let index = 0; index < 10; index++) {
      context.monitor.recordFailure('cloud', 'gpt', new ValidationError('E4507', 'client went away'));
      context.monitor.recordFailure('cloud', 'gpt', new ProviderError('E4204', 'rate limited'));
    }
    expect(context.monitor.status('cloud')).toBe('healthy');
    expect(context.monitor.snapshot().find((row) => row.provider === 'cloud')!.window_outcomes).toBe(0);
  });

  it('recovers once failures slide out of the window', async () => {
    const context = setup();
    for (let index = 0; index < 6; index++) context.monitor.recordFailure('cloud', 'gpt', serverError());
    expect(context.monitor.status('cloud')).toBe('unhealthy');
    await context.clock.advance(30_000);
    expect(context.monitor.status('cloud')).toBe('unhealthy');
    await context.clock.advance(30_000);
    expect(context.monitor.status('cloud')).toBe('healthy');
    expect(context.changes.map(([, from, to]) => `${from}->${to}`)).toEqual(['healthy->unhealthy', 'unhealthy->healthy']);
  });

  it('reports the worse of the active check and the live error rate', async () => {
    const context = setup();
    context.cloud.answer = () => context.cloud.healthy({ status: 'degraded', message: 'slow' });
    await context.monitor.checkNow('cloud');
    expect(context.monitor.status('cloud')).toBe('degraded');
    for (let index = 0; index < 5; index++) context.monitor.recordFailure('cloud', 'gpt', serverError());
    expect(context.monitor.status('cloud')).toBe('unhealthy');
  });

  it('forgets the failures that opened a circuit once its probe closes it', async () => {
    const clock = new FakeClock();
    const breakers = new CircuitBreakerRegistry({ failureThreshold: 5, cooldownMs: 1_000, probeTimeoutMs: 1_000, clock });
    const context = setup({ clock, breakers });
    for (let index = 0; index < 5; index++) {
      const permit = await breakers.get('cloud').tryAcquire();
      if (permit.allowed) permit.failure(serverError());
      context.monitor.recordFailure('cloud', 'gpt', serverError());
    }
    expect(breakers.get('cloud').state).toBe('open');
    await clock.advance(1_000);
    expect(breakers.get('cloud').state).toBe('half_open');
    expect(context.monitor.status('cloud')).toBe('unhealthy');
    const probe = await breakers.get('cloud').tryAcquire();
    if (probe.allowed) probe.success();
    expect(breakers.get('cloud').state).toBe('closed');
    expect(context.monitor.status('cloud')).toBe('healthy');
    expect(context.changes.map(([, from, to]) => `${from}->${to}`)).toEqual(['healthy->unhealthy', 'unhealthy->healthy']);
  });

  it('keeps a moving average of latency per model', () => {
    const context = setup();
    expect(context.monitor.observedLatencyMs('gpt')).toBeUndefined();
    context.monitor.recordSuccess('cloud', 'gpt', 1_000);
    expect(context.monitor.observedLatencyMs('gpt')).toBe(1_000);
    context.monitor.recordSuccess('cloud', 'gpt', 2_000);
    expect(context.monitor.observedLatencyMs('gpt')).toBe(1_200);
    expect(context.monitor.observedLatencyMs('llama')).toBeUndefined();
  });

  it('shows health, passive signals and circuit state in its snapshot', async () => {
    const clock = new FakeClock();
    const breakers = new CircuitBreakerRegistry({ failureThreshold: 1, cooldownMs: 60_000, probeTimeoutMs: 1_000, clock });
    const context = setup({ breakers });
    const permit = await breakers.get('cloud').tryAcquire();
    if (permit.allowed) permit.failure(serverError());
    context.monitor.recordSuccess('ollama', 'llama', 250);
    await context.monitor.checkNow('ollama');
    const rows = context.monitor.snapshot();
    expect(rows.find((row) => row.provider === 'ollama')).toMatchObject({
      status: 'healthy',
      circuit_state: 'closed',
      error_rate: 0,
      window_outcomes: 1,
      latency_ewma_ms: 250,
    });
    expect(rows.find((row) => row.provider === 'cloud')).toMatchObject({
      status: 'healthy',
      circuit_state: 'open',
      checked_at: 0,
      message: 'no active check yet',
    });
  });

  it('checks the mock adapter, which reports injected outages', async () => {
    const clock = new FakeClock();
    const mock = new MockAdapter({ id: 'mock', latency_ms: 0, stream_chunks: 1 }, { clock });
    const monitor = new ProviderHealthMonitor({
      adapters: new Map<string, ProviderAdapter>([['mock', mock]]),
      expectedModels: () => [],
      config: HEALTH_CONFIG,
      intervalMs: () => 1_000,
      clock,
      random: () => 0.5,
    });
    mock.injectFailure({ kind: 'unreachable' });
    await monitor.checkNow();
    expect(monitor.status('mock')).toBe('unhealthy');
    mock.clearFailures();
    await monitor.checkNow();
    expect(monitor.status('mock')).toBe('healthy');
  });

  it("stretches a check's bound to the provider's observed latency, never past its timeout_ms", async () => {
    const context = setup({ providerTimeoutMs: (provider) => (provider === 'cloud' ? 20_000 : 60_000) });
    context.monitor.recordSuccess('ollama', 'llama', 5_000);
    context.monitor.recordSuccess('cloud', 'gpt', 9_000);
    const rows = context.monitor.snapshot();
    expect(rows.find((row) => row.provider === 'ollama')!.check_timeout_ms).toBe(15_000);
    expect(rows.find((row) => row.provider === 'cloud')!.check_timeout_ms).toBe(20_000);
    // A provider that answers everything in 5 s answers its check in 5 s too: healthy, not a timeout.
    context.ollama.answer = () =>
      new Promise<ProviderHealth>((resolve) => {
        const startedAt = context.clock.now();
        context.clock.setTimer(() => resolve(context.ollama.healthy({ checked_at: startedAt, latency_ms: 5_000 })), 5_000);
      });
    const pending = context.monitor.checkNow('ollama');
    await flushMicrotasks();
    await context.clock.advance(5_000);
    expect((await pending)[0]!.status).toBe('healthy');
    expect(context.ollama.checks[0]!.timeoutMs).toBeGreaterThan(15_000);
    expect(context.monitor.status('ollama')).toBe('healthy');
  });

  it('lets a live success after a failed check outweigh it, but not one from before the check ended', async () => {
    const context = setup();
    context.monitor.recordSuccess('cloud', 'gpt', 100);
    await context.clock.advance(1);
    context.cloud.answer = () => context.cloud.healthy({ status: 'unhealthy', latency_ms: 3, message: 'connection refused' });
    await context.monitor.checkNow('cloud');
    expect(context.monitor.status('cloud')).toBe('unhealthy');
    await context.clock.advance(3);
    context.monitor.recordSuccess('cloud', 'gpt', 100);
    expect(context.monitor.status('cloud')).toBe('healthy');
    expect(context.monitor.snapshot().find((row) => row.provider === 'cloud')!.message).toBe('live calls succeed since the last check (connection refused)');
    // A check that found a configured model missing is not about the provider's health: it stands.
    context.ollama.answer = () => context.ollama.healthy({ status: 'degraded', models: { 'llama3.2:latest': false } });
    await context.monitor.checkNow('ollama');
    context.monitor.recordSuccess('ollama', 'embed', 10);
    expect(context.monitor.status('ollama')).toBe('degraded');
  });

  it("checks every recovery interval while the circuit is open, and lets the circuit's probe through once the provider answers", async () => {
    const clock = new FakeClock();
    const breakers = new CircuitBreakerRegistry({ failureThreshold: 1, cooldownMs: 60_000, probeTimeoutMs: 1_000, clock });
    const context = setup({ clock, breakers });
    context.monitor.start();
    await clock.advance(0);
    expect(context.cloud.checks).toHaveLength(1);
    const permit = await breakers.get('cloud').tryAcquire();
    if (permit.allowed) permit.failure(serverError());
    expect(breakers.get('cloud').state).toBe('open');
    context.cloud.answer = () => context.cloud.healthy({ status: 'unhealthy', message: 'connection refused' });
    await clock.advance(2_000);
    expect(context.cloud.checks).toHaveLength(2);
    expect(breakers.get('cloud').state).toBe('open');
    context.cloud.answer = () => context.cloud.healthy();
    await clock.advance(2_000);
    expect(context.cloud.checks).toHaveLength(3);
    expect(breakers.get('cloud').state).toBe('half_open');
    const probe = await breakers.get('cloud').tryAcquire();
    expect(probe.allowed && probe.probe).toBe(true);
    if (probe.allowed) probe.success();
    expect(breakers.get('cloud').state).toBe('closed');
    await clock.advance(2_000); // the turn scheduled while half-open
    const settled = context.cloud.checks.length;
    await clock.advance(20_000);
    expect(context.cloud.checks).toHaveLength(settled); // back to the 30 s interval
    context.monitor.stop();
  });

  it('keeps recovery checks short once the provider has answered checks before, so a stuck one does not delay the next', async () => {
    const clock = new FakeClock();
    const breakers = new CircuitBreakerRegistry({ failureThreshold: 1, cooldownMs: 60_000, probeTimeoutMs: 1_000, clock });
    const context = setup({ clock, breakers });
    context.cloud.answer = () => context.cloud.healthy({ latency_ms: 40 });
    context.monitor.start();
    await clock.advance(0);
    const permit = await breakers.get('cloud').tryAcquire();
    if (permit.allowed) permit.failure(serverError());
    context.cloud.answer = () => new Promise<ProviderHealth>(() => undefined); // stuck on a dead connection
    await clock.advance(2_000);
    expect(context.cloud.checks).toHaveLength(2);
    expect(context.cloud.checks[1]!.timeoutMs).toBeLessThan(2_500); // max(recovery interval, 3 × 40 ms), not 5 s
    context.cloud.answer = () => context.cloud.healthy({ latency_ms: 40 });
    await clock.advance(2_000); // the stuck check ends at its bound, and the next turn follows at once
    expect(context.cloud.checks).toHaveLength(3);
    expect(breakers.get('cloud').state).toBe('half_open');
    context.monitor.stop();
  });

  it('runs one check per interval for instances sharing a store, and each adopts the shared result', async () => {
    const clock = new FakeClock();
    const store = new MemoryProviderStateStore({ failureThreshold: 3, cooldownMs: 60_000, probeTimeoutMs: 1_000 });
    const shared = { store, isReady: () => true };
    const one = setup({ clock, shared, instanceId: 'one' });
    const two = setup({ clock, shared, instanceId: 'two' });
    one.cloud.answer = () => one.cloud.healthy({ status: 'unhealthy', message: 'connection refused' });
    one.monitor.start();
    two.monitor.start();
    await clock.advance(0);
    expect(one.cloud.checks.length + two.cloud.checks.length).toBe(1);
    for (let interval = 1; interval <= 3; interval++) {
      one.cloud.answer = () => one.cloud.healthy();
      await clock.advance(30_000);
      expect(one.cloud.checks.length + two.cloud.checks.length).toBe(1 + interval);
    }
    expect(two.cloud.checks).toHaveLength(0);
    expect(two.monitor.status('cloud')).toBe('healthy');
    one.cloud.answer = () => one.cloud.healthy({ status: 'unhealthy', message: 'connection refused' });
    await clock.advance(30_000);
    expect(one.monitor.status('cloud')).toBe('unhealthy');
    // The other instance adopts it at its next turn (it checks nothing itself).
    await clock.advance(2_000);
    expect(two.monitor.status('cloud')).toBe('unhealthy');
    expect(two.cloud.checks).toHaveLength(0);
    one.monitor.stop();
    two.monitor.stop();
  });

  it('checks for itself when the shared store cannot answer', async () => {
    const clock = new FakeClock();
    const store = new MemoryProviderStateStore({ failureThreshold: 3, cooldownMs: 60_000, probeTimeoutMs: 1_000 });
    store.claimCheck('cloud', 'periodic', 'elsewhere', clock.now(), 3_600_000);
    store.claimCheck('ollama', 'periodic', 'elsewhere', clock.now(), 3_600_000);
    const context = setup({ clock, shared: { store, isReady: () => false }, instanceId: 'here' });
    context.monitor.start();
    await clock.advance(0);
    expect(context.cloud.checks).toHaveLength(1);
    context.monitor.stop();
  });

  it('treats providers it has never heard of as healthy', () => {
    expect(setup().monitor.status('elsewhere')).toBe('healthy');
  });
});

describe('OutcomeWindow', () => {
  it('counts outcomes inside the window only', () => {
    const window = new OutcomeWindow(60_000);
    const start = 1_700_000_000_000;
    window.record(start, true);
    window.record(start + 30_000, false);
    expect(window.counts(start + 30_000)).toEqual({ total: 2, failures: 1, errorRate: 0.5 });
    expect(window.counts(start + 61_000)).toEqual({ total: 1, failures: 0, errorRate: 0 });
    expect(window.counts(start + 10_000_000)).toEqual({ total: 0, failures: 0, errorRate: 0 });
  });

  it('rejects a non-positive window', () => {
    expect(() => new OutcomeWindow(0)).toThrow('windowMs should be a positive number, got 0');
  });
});

describe('LatencyTracker', () => {
  it('ignores samples that are not latencies', () => {
    const tracker = new LatencyTracker(0.5);
    tracker.record('m', Number.NaN);
    tracker.record('m', -1);
    expect(tracker.get('m')).toBeUndefined();
    tracker.record('m', 100);
    tracker.record('m', 200);
    expect(tracker.get('m')).toBe(150);
    expect(() => new LatencyTracker(0)).toThrow('alpha should be in (0, 1], got 0');
  });
});
