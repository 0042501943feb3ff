import { describe, expect, it } from 'vitest';
import { GatewayError, ProviderError, ValidationError } from '../src/models/error-codes.js';
import type { ErrorCode } from '../src/models/error-codes.js';
import { CircuitBreaker, CircuitBreakerRegistry, countsAsFailure } from '../src/resilience/circuit-breaker.js';
import type { CircuitBreakerOptions, CircuitPermit, CircuitStateName } from '../src/resilience/circuit-breaker.js';
import { MemoryProviderStateStore } from '../src/resilience/memory-provider-state-store.js';
import type { BreakerPolicy, ProviderStateStore } from '../src/resilience/provider-state-store.js';
import type { Clock } from '../src/util/clock.js';
import { FakeClock, flushMicrotasks } from './helpers/fake-clock.js';

type Allowed = Extract<CircuitPermit, { allowed: true }>;
type Refused = Extract<CircuitPermit, { allowed: false }>;

const serverError = (): ProviderError => new ProviderError('E4202', 'upstream answered 503');

function setup(overrides: Partial<CircuitBreakerOptions> = {}) {
  const clock = new FakeClock();
  const transitions: Array<[string, CircuitStateName, CircuitStateName]> = [];
  const options: CircuitBreakerOptions = {
    failureThreshold: 3,
    cooldownMs: 60_000,
    probeTimeoutMs: 5_000,
    clock,
    onTransition: (provider, from, to) => transitions.push([provider, from, to]),
    ...overrides,
  };
  return { clock, transitions, breaker: new CircuitBreaker('primary', options), options };
}

/** Without a shared store every answer is immediate; a promise here is a bug. */
function now(permit: CircuitPermit | Promise<CircuitPermit>): CircuitPermit {
  if (permit instanceof Promise) throw new Error('a breaker without a shared store answered with a promise');
  return permit;
}

function allowed(answer: CircuitPermit | Promise<CircuitPermit>): Allowed {
  const permit = now(answer);
  if (!permit.allowed) throw new Error(`expected a permit, got a refusal: ${permit.error.message}`);
  return permit;
}

function refused(answer: CircuitPermit | Promise<CircuitPermit>): Refused {
  const permit = now(answer);
  if (permit.allowed) throw new Error('expected a refusal, got a permit');
  return permit;
}

function failTimes(breaker: CircuitBreaker, times: number): void {
  for (let index = 0; index < times; index++) allowed(breaker.tryAcquire()).failure(serverError());
}

async function openAndCoolDown(context: ReturnType<typeof setup>): Promise<void> {
  failTimes(context.breaker, context.options.failureThreshold);
  await context.clock.advance(context.options.cooldownMs);
}

describe('countsAsFailure', () => {
  it.each<ErrorCode>(['E4200', 'E4201', 'E4202', 'E4205', 'E4208', 'E4600', 'E4601', 'E4602'])('counts %s', (code) => {
    expect(countsAsFailure(new GatewayError(code))).toBe(true);
  });

  it.each<ErrorCode>(['E4204', 'E4203', 'E4206', 'E4207', 'E4210', 'E4500', 'E4502', 'E4507', 'E4510', 'E4700', 'E4900'])('does not count %s', (code) => {
    expect(countsAsFailure(new GatewayError(code))).toBe(false);
  });

  it('does not count errors that are not gateway errors', () => {
    expect(countsAsFailure(new Error('boom'))).toBe(false);
    expect(countsAsFailure('E4202')).toBe(false);
    expect(countsAsFailure(undefined)).toBe(false);
  });
});

describe('CircuitBreaker', () => {
  it('rejects invalid options and says what it received', () => {
    const clock = new FakeClock();
    expect(() => new CircuitBreaker('p', { failureThreshold: 0, cooldownMs: 1, probeTimeoutMs: 1, clock })).toThrow(
      'failureThreshold should be a positive integer, got 0',
    );
    expect(() => new CircuitBreaker('p', { failureThreshold: 2.5, cooldownMs: 1, probeTimeoutMs: 1, clock })).toThrow('got 2.5');
    expect(() => new CircuitBreaker('p', { failureThreshold: 1, cooldownMs: -1, probeTimeoutMs: 1, clock })).toThrow(
      'cooldownMs should be a positive number, got -1',
    );
    expect(() => new CircuitBreaker('p', { failureThreshold: 1, cooldownMs: 1, probeTimeoutMs: Number.NaN, clock })).toThrow(
      'probeTimeoutMs should be a positive number, got NaN',
    );
  });

  it('starts closed and lets calls through', () => {
    const { breaker } = setup();
    const permit = allowed(breaker.tryAcquire());
    expect(permit.probe).toBe(false);
    expect(permit.signal.aborted).toBe(false);
    expect(breaker.state).toBe('closed');
  });

  it('stays closed below the threshold and counts consecutive failures', () => {
    const { breaker, transitions } = setup();
    failTimes(breaker, 2);
    expect(breaker.currentState).toEqual({ state: 'closed', failures: 2 });
    expect(transitions).toEqual([]);
  });

  it('opens after the threshold of consecutive counted failures and reports it once', () => {
    const { breaker, transitions } = setup();
    failTimes(breaker, 3);
    expect(breaker.state).toBe('open');
    expect(transitions).toEqual([['primary', 'closed', 'open']]);
  });

  it('resets the count on a success', () => {
    const { breaker } = setup();
    failTimes(breaker, 2);
    allowed(breaker.tryAcquire()).success();
    failTimes(breaker, 2);
    expect(breaker.currentState).toEqual({ state: 'closed', failures: 2 });
  });

  it('ignores caller errors, client aborts, 429s and unknown errors', () => {
    const { breaker } = setup({ failureThreshold: 1 });
    allowed(breaker.tryAcquire()).failure(new ValidationError('E4507', 'client went away'));
    allowed(breaker.tryAcquire()).failure(new ProviderError('E4204', 'slow down'));
    allowed(breaker.tryAcquire()).failure(new ProviderError('E4207', 'too long'));
    allowed(breaker.tryAcquire()).failure(new TypeError('bug'));
    allowed(breaker.tryAcquire()).release();
    expect(breaker.currentState).toEqual({ state: 'closed', failures: 0 });
  });

  it('opens once when concurrent calls fail at the threshold', () => {
    const { breaker, transitions } = setup();
    const permits = Array.from({ length: 10 }, () => allowed(breaker.tryAcquire()));
    for (const permit of permits) permit.failure(serverError());
    expect(breaker.state).toBe('open');
    expect(transitions).toEqual([['primary', 'closed', 'open']]);
    expect(breaker.snapshot().opened_at).toBeDefined();
  });

  it('settles each permit at most once', () => {
    const { breaker } = setup();
    const permit = allowed(breaker.tryAcquire());
    permit.failure(serverError());
    permit.failure(serverError());
    permit.success();
    expect(breaker.currentState).toEqual({ state: 'closed', failures: 1 });
  });

  it('rejects with E4700 and the time left in the cooldown while open', async () => {
    const context = setup();
    failTimes(context.breaker, 3);
    await context.clock.advance(20_000);
    const refusal = refused(context.breaker.tryAcquire());
    expect(refusal.retryAfterMs).toBe(40_000);
    expect(refusal.error.code).toBe('E4700');
    expect(refusal.error.httpStatus).toBe(503);
    expect(refusal.error.retryAfterMs).toBe(40_000);
    expect(refusal.error.details).toMatchObject({ provider: 'primary', state: 'open' });
    await context.clock.advance(39_999);
    expect(refused(context.breaker.tryAcquire()).retryAfterMs).toBe(1);
  });

  it('turns half-open when the cooldown elapses and reports it at that moment', async () => {
    const context = setup();
    await openAndCoolDown(context);
    expect(context.breaker.state).toBe('half_open');
    expect(context.breaker.currentState).toEqual({ state: 'half_open', probeStartedAt: undefined });
    expect(context.transitions.map(([, from, to]) => `${from}->${to}`)).toEqual(['closed->open', 'open->half_open']);
  });

  it('turns half-open on time even on a clock whose timers never fire', () => {
    let now = 1_000;
    const frozenTimers: Clock = { now: () => now, setTimer: () => ({ cancel: () => undefined }) };
    const breaker = new CircuitBreaker('p', { failureThreshold: 1, cooldownMs: 100, probeTimeoutMs: 50, clock: frozenTimers });
    allowed(breaker.tryAcquire()).failure(serverError());
    now += 99;
    expect(breaker.state).toBe('open');
    now += 1;
    expect(breaker.state).toBe('half_open');
    expect(allowed(breaker.tryAcquire()).probe).toBe(true);
  });

  it('lets exactly one probe through after the cooldown and refuses everyone else until it settles', async () => {
    const context = setup();
    await openAndCoolDown(context);
    const probe = allowed(context.breaker.tryAcquire());
    expect(probe.probe).toBe(true);
    for (let index = 0; index < 5; index++) {
      const refusal = refused(context.breaker.tryAcquire());
      expect(refusal.error.code).toBe('E4700');
      expect(refusal.retryAfterMs).toBe(5_000);
    }
    expect(context.breaker.snapshot()).toMatchObject({ state: 'half_open', probe_started_at: context.clock.now(), retry_after_ms: 5_000 });
  });

  it('says whether a half-open probe is out', async () => {
    const context = setup();
    expect(context.breaker.probeInFlight).toBe(false);
    await openAndCoolDown(context);
    expect(context.breaker.probeInFlight).toBe(false);
    const probe = allowed(context.breaker.tryAcquire());
    expect(context.breaker.probeInFlight).toBe(true);
    probe.success();
    expect(context.breaker.probeInFlight).toBe(false);
  });

  it('closes when the probe succeeds', async () => {
    const context = setup();
    await openAndCoolDown(context);
    allowed(context.breaker.tryAcquire()).success();
    expect(context.breaker.currentState).toEqual({ state: 'closed', failures: 0 });
    expect(allowed(context.breaker.tryAcquire()).probe).toBe(false);
    expect(context.transitions.at(-1)).toEqual(['primary', 'half_open', 'closed']);
  });

  it('reopens for a full cooldown when the probe fails', async () => {
    const context = setup();
    await openAndCoolDown(context);
    await context.clock.advance(1_000);
    allowed(context.breaker.tryAcquire()).failure(serverError());
    expect(context.breaker.state).toBe('open');
    expect(refused(context.breaker.tryAcquire()).retryAfterMs).toBe(60_000);
    expect(context.transitions.map(([, from, to]) => `${from}->${to}`)).toEqual(['closed->open', 'open->half_open', 'half_open->open']);
    await context.clock.advance(60_000);
    expect(allowed(context.breaker.tryAcquire()).probe).toBe(true);
  });

  it('fails a hanging probe at the probe timeout and aborts its signal with E4201', async () => {
    const context = setup();
    await openAndCoolDown(context);
    const probe = allowed(context.breaker.tryAcquire());
    await context.clock.advance(4_999);
    expect(probe.signal.aborted).toBe(false);
    expect(context.breaker.state).toBe('half_open');
    await context.clock.advance(1);
    expect(probe.signal.aborted).toBe(true);
    expect(probe.signal.reason).toBeInstanceOf(ProviderError);
    expect((probe.signal.reason as ProviderError).code).toBe('E4201');
    expect(context.breaker.state).toBe('open');
    expect(refused(context.breaker.tryAcquire()).retryAfterMs).toBe(60_000);
  });

  it('ignores a late settle of an expired probe', async () => {
    const context = setup();
    await openAndCoolDown(context);
    const probe = allowed(context.breaker.tryAcquire());
    await context.clock.advance(5_000);
    probe.success();
    expect(context.breaker.state).toBe('open');
    expect(context.transitions.at(-1)).toEqual(['primary', 'half_open', 'open']);
  });

  it('gives the probe to the next caller when the probe is released', async () => {
    const context = setup();
    await openAndCoolDown(context);
    const transitionsBefore = context.transitions.length;
    allowed(context.breaker.tryAcquire()).failure(new ValidationError('E4507', 'client went away'));
    expect(context.breaker.currentState).toEqual({ state: 'half_open', probeStartedAt: undefined });
    const next = allowed(context.breaker.tryAcquire());
    expect(next.probe).toBe(true);
    expect(context.transitions).toHaveLength(transitionsBefore);
    await context.clock.advance(5_000);
    expect(next.signal.aborted).toBe(true);
    expect(context.breaker.state).toBe('open');
  });

  it('cancels the probe timer once the probe settles', async () => {
    const context = setup();
    await openAndCoolDown(context);
    const probe = allowed(context.breaker.tryAcquire());
    probe.success();
    expect(context.clock.pending()).toBe(0);
    await context.clock.advance(10_000);
    expect(probe.signal.aborted).toBe(false);
    expect(context.breaker.state).toBe('closed');
  });

  it('ignores outcomes of permits granted before the last transition', async () => {
    const context = setup();
    const stale = Array.from({ length: 3 }, () => allowed(context.breaker.tryAcquire()));
    failTimes(context.breaker, 3);
    await context.clock.advance(60_000);
    stale[0]!.success(); // a success from before the outage must not close a half-open circuit
    expect(context.breaker.state).toBe('half_open');
    allowed(context.breaker.tryAcquire()).success();
    stale[1]!.failure(serverError());
    stale[2]!.failure(serverError());
    expect(context.breaker.currentState).toEqual({ state: 'closed', failures: 0 });
  });

  it('reports a closed snapshot with its failure count', () => {
    const { breaker } = setup();
    failTimes(breaker, 1);
    expect(breaker.snapshot()).toEqual({ provider: 'primary', state: 'closed', failures: 1, retry_after_ms: 0, decided_by: 'local' });
  });
});

describe('CircuitBreakerRegistry', () => {
  it('keeps one breaker per provider and lists their states', () => {
    const clock = new FakeClock();
    const transitions: string[] = [];
    const registry = new CircuitBreakerRegistry({
      failureThreshold: 1,
      cooldownMs: 1_000,
      probeTimeoutMs: 100,
      clock,
      onTransition: (provider, from, to) => transitions.push(`${provider}:${from}->${to}`),
    });
    expect(registry.get('a')).toBe(registry.get('a'));
    allowed(registry.get('b').tryAcquire()).failure(serverError());
    expect(registry.states()).toEqual({ a: 'closed', b: 'open' });
    expect(transitions).toEqual(['b:closed->open']);
    expect(registry.snapshots().map((snapshot) => snapshot.provider)).toEqual(['a', 'b']);
  });

  it('validates its options at construction', () => {
    expect(() => new CircuitBreakerRegistry({ failureThreshold: -1, cooldownMs: 1, probeTimeoutMs: 1, clock: new FakeClock() })).toThrow(RangeError);
  });
});

const rateLimited = (retryAfterMs?: number): ProviderError =>
  new ProviderError('E4204', 'upstream answered 429', retryAfterMs === undefined ? {} : { retryAfterMs });
const overloaded = (retryAfterMs?: number): ProviderError =>
  new ProviderError('E4205', 'upstream answered 529', retryAfterMs === undefined ? {} : { retryAfterMs });

describe('CircuitBreaker cool-downs', () => {
  it('refuses with E4701 for the Retry-After of a 429, then lets calls through, without counting a failure', async () => {
    const { breaker, clock } = setup();
    allowed(breaker.tryAcquire()).failure(rateLimited(20_000));
    const refusal = refused(breaker.tryAcquire());
    expect(refusal.error).toMatchObject({ code: 'E4701', httpStatus: 503, retryAfterMs: 20_000 });
    expect(breaker.coolDownMs).toBe(20_000);
    expect(breaker.refusal()?.code).toBe('E4701');
    expect(breaker.currentState).toEqual({ state: 'closed', failures: 0 });
    await clock.advance(19_999);
    refused(breaker.tryAcquire());
    await clock.advance(1);
    allowed(breaker.tryAcquire());
    expect(breaker.coolDownMs).toBe(0);
  });

  it('cools an overloaded provider down for its Retry-After, or for overloadCooldownMs when it names none', async () => {
    const { breaker, clock } = setup({ overloadCooldownMs: 3_000 });
    allowed(breaker.tryAcquire()).failure(overloaded());
    expect(breaker.coolDownMs).toBe(3_000);
    await clock.advance(3_000);
    allowed(breaker.tryAcquire()).failure(overloaded(7_000));
    expect(breaker.coolDownMs).toBe(7_000);
  });

  it('caps a cool-down at maxCooldownMs and starts none for a 429 that names no Retry-After', () => {
    const { breaker } = setup({ maxCooldownMs: 60_000 });
    allowed(breaker.tryAcquire()).failure(rateLimited());
    expect(breaker.coolDownMs).toBe(0);
    allowed(breaker.tryAcquire()).failure(rateLimited(3_600_000));
    expect(breaker.coolDownMs).toBe(60_000);
  });
});

describe('CircuitBreaker early probe', () => {
  it('turns an open circuit half-open as soon as a check has seen the provider answer, once it has been open minOpenMs', async () => {
    const context = setup();
    failTimes(context.breaker, 3);
    context.breaker.allowProbe(2_000);
    expect(context.breaker.state).toBe('open');
    expect(refused(context.breaker.tryAcquire()).retryAfterMs).toBe(2_000);
    await context.clock.advance(2_000);
    expect(context.breaker.state).toBe('half_open');
    expect(allowed(context.breaker.tryAcquire()).probe).toBe(true);
    expect(context.transitions.map(([, from, to]) => `${from}->${to}`)).toEqual(['closed->open', 'open->half_open']);
  });

  it('lets one probe through per minimum open time while checks pass but calls fail', async () => {
    const context = setup();
    failTimes(context.breaker, 3);
    await context.clock.advance(2_000);
    context.breaker.allowProbe(2_000);
    allowed(context.breaker.tryAcquire()).failure(serverError());
    context.breaker.allowProbe(2_000);
    expect(context.breaker.state).toBe('open');
    await context.clock.advance(1_999);
    expect(context.breaker.state).toBe('open');
    await context.clock.advance(1);
    expect(context.breaker.state).toBe('half_open');
    allowed(context.breaker.tryAcquire()).success();
    expect(context.breaker.state).toBe('closed');
    context.breaker.allowProbe(2_000);
    expect(context.breaker.state).toBe('closed');
  });

  it('says why a call would be refused without taking the probe', async () => {
    const context = setup();
    expect(context.breaker.refusal()).toBeUndefined();
    failTimes(context.breaker, 3);
    expect(context.breaker.refusal()).toMatchObject({ code: 'E4700' });
    await context.clock.advance(context.options.cooldownMs);
    expect(context.breaker.refusal()).toBeUndefined();
    expect(context.breaker.refusal()).toBeUndefined();
    expect(allowed(context.breaker.tryAcquire()).probe).toBe(true);
    expect(context.breaker.refusal()).toMatchObject({ code: 'E4700', details: { state: 'half_open' } });
  });
});

/** A memory store behind promises, as the Redis store answers, that a test can take down. */
function sharedStore(policy: BreakerPolicy) {
  const inner = new MemoryProviderStateStore(policy);
  const calls = { reads: 0, writes: 0 };
  let down = false;
  const answer = <T>(value: () => T, read = false): Promise<T> => {
    if (down) return Promise.reject(new Error('Redis is not connected'));
    if (read) calls.reads++;
    else calls.writes++;
    return Promise.resolve().then(value);
  };
  const store: ProviderStateStore = {
    shared: true,
    read: (provider) => answer(() => inner.read(provider), true),
    recordFailure: (provider, generation, at) => answer(() => inner.recordFailure(provider, generation, at)),
    recordSuccess: (provider, generation) => answer(() => inner.recordSuccess(provider, generation)),
    claimProbe: (provider, owner, at) => answer(() => inner.claimProbe(provider, owner, at)),
    settleProbe: (provider, owner, outcome, at) => answer(() => inner.settleProbe(provider, owner, outcome, at)),
    halfOpenBy: (provider, generation, at) => answer(() => inner.halfOpenBy(provider, generation, at)),
    coolDown: (provider, until) => answer(() => inner.coolDown(provider, until)),
    claimCheck: (provider, lease, owner, at, leaseMs) => answer(() => inner.claimCheck(provider, lease, owner, at, leaseMs)),
    saveCheck: (provider, health) => answer(() => inner.saveCheck(provider, health)),
  };
  return {
    store,
    calls,
    setDown(value: boolean) {
      down = value;
    },
    isReady: () => !down,
  };
}

/** The breakers' states once the reads their consultation started have been answered. */
async function viewed(...breakers: CircuitBreaker[]): Promise<CircuitStateName[]> {
  for (const breaker of breakers) breaker.refusal();
  await flushMicrotasks();
  return breakers.map((breaker) => breaker.state);
}

/** Two instances of one provider's breaker on one shared store and one clock: a fleet of two. */
function fleet(overrides: Partial<CircuitBreakerOptions> = {}) {
  const clock = new FakeClock();
  const policy = { failureThreshold: 3, cooldownMs: 60_000, probeTimeoutMs: 5_000 };
  const shared = sharedStore(policy);
  const make = (instanceId: string) =>
    new CircuitBreaker('primary', {
      ...policy,
      clock,
      instanceId,
      syncIntervalMs: 250,
      shared: { store: shared.store, isReady: shared.isReady },
      ...overrides,
    });
  return { clock, shared, policy, a: make('a'), b: make('b') };
}

describe('CircuitBreaker on a shared store', () => {
  it('spends one threshold for the fleet: at most threshold + 1 failed calls against a dead provider', async () => {
    const { a, b, clock, policy } = fleet();
    await flushMicrotasks();
    let failedCalls = 0;
    for (let index = 0; index < 20; index++) {
      const breaker = index % 2 === 0 ? a : b;
      const permit = await breaker.tryAcquire();
      if (permit.allowed) {
        failedCalls++;
        permit.failure(serverError());
      }
      await flushMicrotasks();
      await clock.advance(10);
    }
    expect(failedCalls).toBeGreaterThanOrEqual(policy.failureThreshold);
    expect(failedCalls).toBeLessThanOrEqual(policy.failureThreshold + 1);
    expect(a.state).toBe('open');
    expect(b.state).toBe('open');
    expect(a.snapshot().decided_by).toBe('shared');
  });

  it('lets one probe through for the whole fleet after the cooldown, and both instances see it close', async () => {
    const { a, b, clock, policy } = fleet();
    for (let index = 0; index < policy.failureThreshold; index++) {
      const permit = await a.tryAcquire();
      if (permit.allowed) permit.failure(serverError());
      await flushMicrotasks();
    }
    await clock.advance(policy.cooldownMs);
    const answers = await Promise.all([a.tryAcquire(), b.tryAcquire(), a.tryAcquire(), b.tryAcquire()]);
    const probes = answers.filter((answer) => answer.allowed);
    expect(probes).toHaveLength(1);
    const probe = probes[0]!;
    if (!probe.allowed) throw new Error('expected the probe');
    expect(probe.probe).toBe(true);
    probe.success();
    await flushMicrotasks();
    await clock.advance(250);
    expect(await viewed(a, b)).toEqual(['closed', 'closed']);
    allowed(a.tryAcquire());
    allowed(b.tryAcquire());
  });

  it('shares a cool-down: the other instance stops within one sync interval', async () => {
    const { a, b, clock } = fleet();
    allowed(await b.tryAcquire()).success();
    allowed(await a.tryAcquire()).failure(rateLimited(20_000));
    await flushMicrotasks();
    expect(a.refusal()?.code).toBe('E4701');
    await clock.advance(250);
    b.refusal();
    await flushMicrotasks();
    expect(refused(b.tryAcquire()).error).toMatchObject({ code: 'E4701' });
    expect(b.coolDownMs).toBeGreaterThan(19_000);
  });

  it('answers at once and writes nothing while closed and healthy; reads at most once per sync interval', async () => {
    const { a, clock, shared } = fleet();
    allowed(await a.tryAcquire()).success(); // the first decision reads the fleet's record
    shared.calls.reads = 0;
    for (let index = 0; index < 100; index++) {
      const answer = a.tryAcquire();
      expect(answer).not.toBeInstanceOf(Promise);
      allowed(answer).success();
      await clock.advance(10);
    }
    await flushMicrotasks();
    expect(shared.calls.writes).toBe(0);
    expect(shared.calls.reads).toBeLessThanOrEqual(1_000 / 250 + 1);
  });

  it('decides alone while the shared store cannot answer, and on the shared record again once it can', async () => {
    const { a, b, shared, policy } = fleet();
    for (let index = 0; index < policy.failureThreshold; index++) {
      const permit = await b.tryAcquire();
      if (permit.allowed) permit.failure(serverError());
      await flushMicrotasks();
    }
    shared.setDown(true);
    expect(a.state).toBe('closed');
    expect(a.snapshot().decided_by).toBe('local');
    allowed(a.tryAcquire()).failure(serverError()); // counted by this process alone
    await flushMicrotasks();
    expect(a.currentState).toEqual({ state: 'closed', failures: 1 });
    shared.setDown(false);
    expect(await viewed(a)).toEqual(['open']);
    expect(a.snapshot().decided_by).toBe('shared');
  });
});
