import { describe, expect, it } from 'vitest';
import { ActivityWindow } from '../src/observability/activity-window.js';
import type { ActivityFacts, ActivityOutcome } from '../src/observability/activity-window.js';
import { FakeClock } from './helpers/fake-clock.js';

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);

function outcome(clock: FakeClock, fields: Partial<ActivityOutcome> = {}): ActivityOutcome {
  return { endedAt: clock.now(), cache: 'miss', request: { request_id: 'req-1' }, caller: { agent_did: 'did:l04:a', tenant: 't' }, ...fields };
}

const facts = (latencyMs: number, fields: Partial<ActivityFacts> = {}): ActivityFacts => ({ latencyMs, model: 'mock-1', provider: 'mock', ...fields });
const failure = (code: string, message = 'failed', httpStatus = 502): ActivityOutcome['error'] => ({ code, message, httpStatus });

describe('ActivityWindow', () => {
  it('counts requests and errors per bucket, oldest bucket first and the current one last', async () => {
    const clock = new FakeClock(T0);
    const window = new ActivityWindow({ clock, windowMs: 60_000, bucketMs: 15_000 });
    window.record(outcome(clock), facts(10));
    window.record(outcome(clock, { error: failure('E4202') }), facts(20));
    await clock.advance(15_000);
    window.record(outcome(clock), facts(30));
    const snapshot = window.snapshot();
    expect(snapshot.buckets.map((bucket) => [bucket.start - T0, bucket.requests, bucket.errors])).toEqual([
      [-30_000, 0, 0],
      [-15_000, 0, 0],
      [0, 2, 1],
      [15_000, 1, 0],
    ]);
    expect(snapshot.totals).toMatchObject({ requests: 3, errors: 1 });
    expect(snapshot.totals.error_rate).toBeCloseTo(1 / 3);
    expect(snapshot.buckets.at(-1)?.duration_ms).toBe(1); // the current bucket has only just begun
  });

  it('forgets requests once they leave the window, and reuses their buckets', async () => {
    const clock = new FakeClock(T0);
    const window = new ActivityWindow({ clock, windowMs: 60_000, bucketMs: 15_000 });
    window.record(outcome(clock, { error: failure('E4400', 'slow down', 429) }), facts(5));
    await clock.advance(45_000);
    expect(window.snapshot().totals.requests).toBe(1);
    await clock.advance(15_000);
    window.record(outcome(clock), facts(5));
    const snapshot = window.snapshot();
    expect(snapshot.totals).toMatchObject({ requests: 1, errors: 0 });
    expect(snapshot.refusals).toEqual({ total: 0, by_code: {} });
    expect(snapshot.recent_errors).toEqual([]);
  });

  it('ignores a request that ended before the window', () => {
    const clock = new FakeClock(T0);
    const window = new ActivityWindow({ clock, windowMs: 60_000, bucketMs: 15_000 });
    window.record(outcome(clock, { endedAt: T0 - 61_000 }), facts(5));
    expect(window.snapshot().totals.requests).toBe(0);
  });

  it('reports latency percentiles within 5 % of the true values', () => {
    const clock = new FakeClock(T0);
    const window = new ActivityWindow({ clock });
    // 1..1000 ms once each: p50 = 500, p95 = 950, p99 = 990.
    for (let latency = 1; latency <= 1000; latency++) window.record(outcome(clock), facts(latency));
    const { p50, p95, p99 } = window.snapshot().totals.latency_ms;
    expect(Math.abs(p50! - 500) / 500).toBeLessThan(0.05);
    expect(Math.abs(p95! - 950) / 950).toBeLessThan(0.05);
    expect(Math.abs(p99! - 990) / 990).toBeLessThan(0.05);
    expect(window.snapshot().buckets.at(-1)?.p50).toBe(p50);
  });

  it('has no percentiles without requests, and puts sub-millisecond and huge latencies in the end bins', () => {
    const clock = new FakeClock(T0);
    const window = new ActivityWindow({ clock });
    expect(window.snapshot().totals.latency_ms).toEqual({ p50: null, p95: null, p99: null });
    window.record(outcome(clock), facts(0.2));
    window.record(outcome(clock), facts(Number.NaN));
    window.record(outcome(clock), facts(10 * 3_600_000));
    const latency = window.snapshot().totals.latency_ms;
    expect(latency.p50).toBe(0.5);
    expect(latency.p99).toBeGreaterThan(300_000);
  });

  it('counts cache results and the hit rate over lookups (bypass excluded)', () => {
    const clock = new FakeClock(T0);
    const window = new ActivityWindow({ clock });
    for (const cache of ['exact', 'exact', 'semantic', 'miss', 'bypass'] as const) window.record(outcome(clock, { cache }), facts(1));
    expect(window.snapshot().cache).toEqual({ exact: 2, semantic: 1, miss: 1, bypass: 1, hit_rate: 0.75 });
  });

  it('counts rate-limit, budget and queue refusals by E-code, apart from other errors', () => {
    const clock = new FakeClock(T0);
    const window = new ActivityWindow({ clock });
    for (const code of ['E4400', 'E4400', 'E4403', 'E4404', 'E4202', 'E4700']) window.record(outcome(clock, { error: failure(code) }), facts(1));
    const snapshot = window.snapshot();
    expect(snapshot.refusals).toEqual({ total: 4, by_code: { E4400: 2, E4403: 1, E4404: 1 } });
    expect(snapshot.errors_by_code).toEqual({ E4400: 2, E4403: 1, E4404: 1, E4202: 1, E4700: 1 });
    expect(snapshot.totals.errors).toBe(6);
  });

  it('keeps refusals out of the recent errors, so that a burst of them cannot push the failures out', () => {
    const clock = new FakeClock(T0);
    const window = new ActivityWindow({ clock, maxRecentErrors: 5 });
    window.record(outcome(clock, { request: { request_id: 'req-upstream' }, error: failure('E4202') }), facts(1));
    for (let index = 0; index < 100; index++) window.record(outcome(clock, { error: failure('E4400', 'slow down', 429) }), facts(1));
    expect(window.snapshot().recent_errors.map((error) => error.request_id)).toEqual(['req-upstream']);
  });

  it('keeps the latest errors newest first, bounded, with secrets removed from their messages', () => {
    const clock = new FakeClock(T0);
    const window = new ActivityWindow({ clock, maxRecentErrors: 3 });
    for (let index = 0; index < 5; index++) {
      window.record(outcome(clock, { request: { request_id: `req-${index}` }, error: failure('E4202', `upstream said no ${index}`) }), facts(1));
    }
    window.record(
      outcome(clock, { request: { request_id: 'req-key' }, error: failure('E4203', 'rejected key sk-abcdefghijklmnopqrstuvwxyz123456 '.repeat(20)) }),
      facts(1),
    );
    const errors = window.snapshot().recent_errors;
    expect(errors.map((error) => error.request_id)).toEqual(['req-key', 'req-4', 'req-3']);
    expect(errors[0]).toMatchObject({ code: 'E4203', http_status: 502, model: 'mock-1', provider: 'mock', agent_did: 'did:l04:a', tenant: 't' });
    expect(errors[0]?.message).not.toContain('sk-abcdefghijklmnopqrstuvwxyz123456');
    expect(errors[0]?.message.length).toBeLessThanOrEqual(300);
  });

  it('keeps its memory fixed whatever the traffic: buckets, error ring and refusal codes are bounded', async () => {
    const clock = new FakeClock(T0);
    const window = new ActivityWindow({ clock, windowMs: 60_000, bucketMs: 15_000, maxRecentErrors: 10 });
    for (let index = 0; index < 50_000; index++) {
      window.record(outcome(clock, { error: failure(`E4${String(index % 1000).padStart(3, '0')}`) }), facts(index % 5000));
      if (index % 10_000 === 0) await clock.advance(15_000);
    }
    const snapshot = window.snapshot();
    expect(snapshot.buckets).toHaveLength(4);
    expect(snapshot.recent_errors).toHaveLength(10);
    // At most 32 codes per bucket; the rest are counted as `other`.
    expect(Object.keys(snapshot.errors_by_code).length).toBeLessThanOrEqual(4 * 33);
    expect(snapshot.errors_by_code.other).toBeGreaterThan(0);
    expect(Object.values(snapshot.errors_by_code).reduce((total, count) => total + count, 0)).toBe(snapshot.totals.errors);
  });

  it('gives the request rate over the last minute', async () => {
    const clock = new FakeClock(T0);
    const window = new ActivityWindow({ clock, bucketMs: 15_000 });
    for (let second = 0; second < 120; second++) {
      window.record(outcome(clock), facts(1));
      window.record(outcome(clock), facts(1));
      await clock.advance(1_000);
    }
    // Two requests a second throughout: the last minute's rate is 2/s.
    expect(window.snapshot().totals.requests_per_s).toBeCloseTo(2, 1);
  });

  it('rejects sizes that are not positive integers, or a bucket that does not divide the window', () => {
    const clock = new FakeClock(T0);
    expect(() => new ActivityWindow({ clock, bucketMs: 0 })).toThrow('bucketMs should be a positive integer, got 0');
    expect(() => new ActivityWindow({ clock, windowMs: 60_000, bucketMs: 7_000 })).toThrow('bucketMs should divide windowMs');
  });
});
