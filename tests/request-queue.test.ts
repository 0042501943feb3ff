import { describe, expect, it, vi } from 'vitest';
import type { Priority } from '../src/models/inference-request.js';
import { RequestQueue } from '../src/resilience/request-queue.js';
import type { QueueTicket, QuotaDecision } from '../src/resilience/request-queue.js';
import type { TokenReservation } from '../src/limits/rate-limiter.js';
import { FakeClock, flushMicrotasks } from './helpers/fake-clock.js';

interface Tracked {
  ticket(): QueueTicket;
  error(): unknown;
}

function setup(options: { maxConcurrency?: number; maxSize?: number; agingMs?: number; quota?: (tokens: number) => Promise<QuotaDecision> } = {}) {
  const clock = new FakeClock();
  const queue = new RequestQueue({
    provider: 'p',
    maxConcurrency: options.maxConcurrency ?? 1,
    maxSize: options.maxSize ?? 100,
    agingMs: options.agingMs ?? 10_000,
    clock,
    ...(options.quota ? { quota: options.quota } : {}),
  });
  const dispatched: string[] = [];
  const tickets = new Map<string, QueueTicket>();
  /** Finishes the request dispatched last and lets the queue move. */
  const finishLatest = async (): Promise<void> => {
    tickets.get(dispatched.at(-1)!)!.release();
    await flushMicrotasks();
  };
  /** `latencyMs` null: the request has no hard deadline. */
  const enqueue = (
    name: string,
    priority: Priority = 'normal',
    latencyMs: number | null = 60_000,
    extra: { tokens?: number; signal?: AbortSignal; quotaWaitMs?: number } = {},
  ): Tracked => {
    let ticket: QueueTicket | undefined;
    let error: unknown;
    queue
      .acquire({
        priority,
        deadlineAt: latencyMs === null ? undefined : clock.now() + latencyMs,
        ...(extra.quotaWaitMs === undefined ? {} : { quotaWaitUntil: clock.now() + extra.quotaWaitMs }),
        tokens: extra.tokens ?? 10,
        ...(extra.signal ? { signal: extra.signal } : {}),
      })
      .then(
        (value) => {
          ticket = value;
          tickets.set(name, value);
          dispatched.push(name);
        },
        (reason: unknown) => {
          error = reason;
        },
      );
    return {
      ticket: () => {
        if (ticket === undefined) throw new Error(`${name} was not dispatched`);
        return ticket;
      },
      error: () => error,
    };
  };
  return { clock, queue, dispatched, enqueue, finishLatest };
}

describe('RequestQueue', () => {
  it('dispatches up to maxConcurrency at once and lets the next in when a ticket is released', async () => {
    const { queue, dispatched, enqueue } = setup({ maxConcurrency: 2 });
    const first = enqueue('a');
    enqueue('b');
    enqueue('c');
    await flushMicrotasks();
    expect(dispatched).toEqual(['a', 'b']);
    expect(queue.active()).toBe(2);
    expect(queue.depth()).toEqual({ high: 0, normal: 1, low: 0 });
    first.ticket().release();
    first.ticket().release();
    await flushMicrotasks();
    expect(dispatched).toEqual(['a', 'b', 'c']);
    expect(queue.active()).toBe(2);
  });

  it('dispatches at once when a slot is free and nobody waits, without listening on the signal', async () => {
    const queue = new RequestQueue({ provider: 'p', maxConcurrency: 2, maxSize: 10, agingMs: 10_000, clock: new FakeClock() });
    const controller = new AbortController();
    const spy = vi.spyOn(controller.signal, 'addEventListener');
    const first = await queue.acquire({ priority: 'normal', tokens: 1, signal: controller.signal });
    const second = await queue.acquire({ priority: 'low', tokens: 1, signal: controller.signal });
    expect(queue.active()).toBe(2);
    expect(spy).not.toHaveBeenCalled();
    // The slots are full: the next one waits (and listens) until a ticket comes back.
    let third: QueueTicket | undefined;
    void queue.acquire({ priority: 'high', tokens: 1, signal: controller.signal }).then((ticket) => (third = ticket));
    await flushMicrotasks();
    expect(third).toBeUndefined();
    expect(spy).toHaveBeenCalledTimes(1);
    first.release();
    first.release();
    await flushMicrotasks();
    expect(third).toBeDefined();
    expect(queue.active()).toBe(2);
    second.release();
    third!.release();
    expect(queue.active()).toBe(0);
  });

  it('orders by priority, then earliest deadline, then arrival', async () => {
    const { dispatched, enqueue, finishLatest } = setup();
    enqueue('running');
    await flushMicrotasks();
    enqueue('low', 'low', 1_000);
    enqueue('normal-late', 'normal', 9_000);
    enqueue('high-late', 'high', 8_000);
    enqueue('normal-early', 'normal', 2_000);
    enqueue('high-early', 'high', 5_000);
    enqueue('high-early-2', 'high', 5_000);
    for (let i = 0; i < 6; i++) await finishLatest();
    expect(dispatched).toEqual(['running', 'high-early', 'high-early-2', 'high-late', 'normal-early', 'normal-late', 'low']);
  });

  it('fails a request whose deadline passes while queued with E4502 and never dispatches it', async () => {
    const { clock, dispatched, enqueue } = setup();
    const running = enqueue('running');
    const expiring = enqueue('expiring', 'high', 1_000);
    enqueue('patient', 'low', 60_000);
    await clock.advance(1_000);
    expect(expiring.error()).toMatchObject({ code: 'E4502', httpStatus: 504 });
    running.ticket().release();
    await flushMicrotasks();
    expect(dispatched).toEqual(['running', 'patient']);
  });

  it('refuses a request whose deadline has already passed with E4502', async () => {
    const { queue, clock } = setup();
    await expect(queue.acquire({ priority: 'high', deadlineAt: clock.now(), tokens: 1 })).rejects.toMatchObject({ code: 'E4502' });
  });

  it('refuses at once with E4404 and a Retry-After when the queue is full', async () => {
    const { queue, enqueue } = setup({ maxSize: 2 });
    enqueue('running');
    await flushMicrotasks();
    enqueue('w1');
    enqueue('w2');
    const refused = queue.acquire({ priority: 'high', deadlineAt: Number.MAX_SAFE_INTEGER, tokens: 1 });
    await expect(refused).rejects.toMatchObject({ code: 'E4404', httpStatus: 503, retryAfterMs: 1_000 });
    expect(queue.depth()).toEqual({ high: 0, normal: 2, low: 0 });
  });

  it('fails with E4507 when the signal aborts, before or while waiting', async () => {
    const { queue, dispatched, enqueue } = setup();
    const running = enqueue('running');
    const controller = new AbortController();
    const waiting = enqueue('aborted', 'high', 60_000, { signal: controller.signal });
    enqueue('next');
    controller.abort();
    await flushMicrotasks();
    expect(waiting.error()).toMatchObject({ code: 'E4507' });
    running.ticket().release();
    await flushMicrotasks();
    expect(dispatched).toEqual(['running', 'next']);
    await expect(queue.acquire({ priority: 'low', deadlineAt: Number.MAX_SAFE_INTEGER, tokens: 1, signal: controller.signal })).rejects.toMatchObject({
      code: 'E4507',
    });
  });

  it('ages a waiting low request: it competes as high after 2 × agingMs, by deadline', async () => {
    const { clock, dispatched, enqueue } = setup({ agingMs: 1_000 });
    const running = enqueue('running');
    enqueue('low', 'low', 10_000);
    await clock.advance(2_000);
    enqueue('high-later-deadline', 'high', 9_000);
    running.ticket().release();
    await flushMicrotasks();
    expect(dispatched).toEqual(['running', 'low']);
  });

  it('does not starve a low request under a steady stream of high ones', async () => {
    const { clock, dispatched, enqueue, finishLatest } = setup({ agingMs: 1_000 });
    enqueue('running');
    enqueue('low', 'low', 600_000);
    // Every 500 ms a high request arrives and the running one finishes: two compete for each slot.
    for (let step = 0; step < 20 && !dispatched.includes('low'); step++) {
      enqueue(`high-${step}`, 'high', 60_000);
      await clock.advance(500);
      await finishLatest();
    }
    // Level 2 - floor(waited / 1 s): at 3 s it is at -1 and goes before every high request.
    expect(dispatched.indexOf('low')).toBe(6);
    expect(clock.now() - 1_700_000_000_000).toBe(3_000);
  });

  it('waits on the clock for the quota when the deadline allows, then dispatches', async () => {
    const answers: QuotaDecision[] = [{ allowed: false, retryAfterMs: 3_000 }, { allowed: true }];
    const asked: number[] = [];
    const { clock, dispatched, enqueue } = setup({
      quota: (tokens) => {
        asked.push(tokens);
        return Promise.resolve(answers.shift()!);
      },
    });
    enqueue('a', 'normal', 10_000, { tokens: 42 });
    await flushMicrotasks();
    expect(dispatched).toEqual([]);
    await clock.advance(2_999);
    expect(dispatched).toEqual([]);
    await clock.advance(1);
    expect(dispatched).toEqual(['a']);
    expect(asked).toEqual([42, 42]);
  });

  it('fails the head with E4402 when the quota cannot admit it before its deadline, and moves on', async () => {
    const answers: QuotaDecision[] = [{ allowed: false, retryAfterMs: 5_000 }, { allowed: false, retryAfterMs: Infinity }, { allowed: true }];
    const { dispatched, enqueue } = setup({ quota: () => Promise.resolve(answers.shift()!) });
    const urgent = enqueue('urgent', 'high', 4_000);
    const huge = enqueue('huge', 'normal', 60_000, { tokens: 1e9 });
    enqueue('fits', 'low', 60_000);
    await flushMicrotasks();
    expect(urgent.error()).toMatchObject({ code: 'E4402', retryAfterMs: 5_000 });
    expect(huge.error()).toMatchObject({ code: 'E4402', retryAfterMs: undefined });
    expect(dispatched).toEqual(['fits']);
  });

  it('orders requests without a hard deadline after those with one, and never expires them', async () => {
    const { clock, dispatched, enqueue, finishLatest } = setup();
    enqueue('running');
    const open = enqueue('no-deadline', 'normal', null);
    enqueue('deadline', 'normal', 3_600_000);
    await flushMicrotasks();
    await clock.advance(3_000_000);
    await finishLatest();
    await finishLatest();
    expect(dispatched).toEqual(['running', 'deadline', 'no-deadline']);
    expect(open.error()).toBeUndefined();
  });

  it('refuses with E4402 a quota wait past quotaWaitUntil, so that the request can fall back', async () => {
    const answers: QuotaDecision[] = [{ allowed: false, retryAfterMs: 5_000 }, { allowed: false, retryAfterMs: 5_000 }, { allowed: true }];
    const { clock, dispatched, enqueue } = setup({ quota: () => Promise.resolve(answers.shift()!) });
    const impatient = enqueue('impatient', 'normal', null, { quotaWaitMs: 4_000 });
    const patient = enqueue('patient', 'normal', null, { quotaWaitMs: 6_000 });
    await flushMicrotasks();
    expect(impatient.error()).toMatchObject({ code: 'E4402' });
    await clock.advance(5_000);
    expect(patient.error()).toBeUndefined();
    expect(dispatched).toEqual(['patient']);
  });

  it('hands the quota reservation to the ticket, and gives it back when the request left meanwhile', async () => {
    const released: string[] = [];
    const reservation = (name: string): TokenReservation => ({
      settle: () => Promise.resolve(),
      release: () => {
        released.push(name);
        return Promise.resolve();
      },
    });
    let answer: (decision: QuotaDecision) => void = () => undefined;
    const { dispatched, enqueue } = setup({
      quota: () =>
        new Promise((resolve) => {
          answer = resolve;
        }),
    });
    const controller = new AbortController();
    const left = enqueue('left', 'normal', 60_000, { signal: controller.signal });
    await flushMicrotasks();
    controller.abort();
    answer({ allowed: true, reservation: reservation('left') });
    await flushMicrotasks();
    expect(left.error()).toMatchObject({ code: 'E4507' });
    expect(released).toEqual(['left']);
    const kept = enqueue('kept');
    await flushMicrotasks();
    answer({ allowed: true, reservation: reservation('kept') });
    await flushMicrotasks();
    expect(dispatched).toEqual(['kept']);
    expect(kept.ticket().reservation).toBeDefined();
    expect(released).toEqual(['left']);
  });

  it('says what it received when an option is invalid', () => {
    expect(() => new RequestQueue({ provider: 'p', maxConcurrency: 0, maxSize: 1, agingMs: 1, clock: new FakeClock() })).toThrow(
      'maxConcurrency should be a positive integer, got 0',
    );
  });
});
