/**
 * Deadlines through the whole gateway, on a fake clock: `max_latency_ms` is a routing preference
 * that never ends a request; only a hard deadline (`deadline_ms`, or the transport's) does, and a
 * request ended by it never counts against the provider.
 */
import { describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../src/config/config-schema.js';
import { ModelGateway } from '../src/gateway/model-gateway.js';
import { internalRuntime } from '../src/gateway/model-gateway.js';
import type { GatewayStreamEvent } from '../src/models/gateway-events.js';
import type { InferenceRequestInput } from '../src/models/inference-request.js';
import { MockAdapter } from '../src/providers/mock-adapter.js';
import { onCleanup } from './helpers/cleanup.js';
import { FakeClock, flushMicrotasks } from './helpers/fake-clock.js';
import { mockConfig, startTestServer } from './helpers/gateway.js';

function gatewayWith(provider: Record<string, unknown> = {}, overrides: Partial<GatewayConfigInput> = {}) {
  const clock = new FakeClock();
  const gateway = new ModelGateway(
    mockConfig({
      providers: { mock: { type: 'mock', ...provider } },
      circuit_breaker: { failure_threshold: 2, cooldown_s: 60 },
      rate_limits: { agent_default: { rpm: 10_000, tpm: 100_000_000 } },
      ...overrides,
    }),
    { clock, healthChecks: false },
  );
  onCleanup(async () => {
    await clock.advance(3_600_000);
    await gateway.close();
  });
  return { clock, gateway };
}

function request(text: string, constraints: InferenceRequestInput['constraints'] = {}): InferenceRequestInput {
  return { agent_did: 'did:test:deadlines', logical_prompt: { messages: [{ role: 'user', content: text }] }, constraints };
}

async function settle<T>(promise: Promise<T>): Promise<T | unknown> {
  return promise.catch((error: unknown) => error);
}

/** Waits until `count` timers wait on the clock (the provider call has started), so that advancing it means something. */
async function timersPending(clock: FakeClock, count: number): Promise<void> {
  await expect.poll(() => clock.pending(), { interval: 1 }).toBeGreaterThanOrEqual(count);
}

describe('deadlines', () => {
  it('answers a 45 s generation although max_latency_ms is 30 s: the preference is not a deadline', async () => {
    const { clock, gateway } = gatewayWith({ latency_ms: 45_000 });
    await gateway.start();
    const pending = settle(gateway.complete(request('a long generation')));
    await timersPending(clock, 1);
    await clock.advance(30_001);
    await clock.advance(14_999);
    expect(await pending).toMatchObject({ content: 'Mock answer: a long generation', finish_reason: 'stop' });
  });

  it('streams a healthy 45 s answer to its finish, with no error event at 30 s', async () => {
    const { clock, gateway } = gatewayWith({ latency_ms: 45_000, stream_chunks: 9 });
    await gateway.start();
    const events: GatewayStreamEvent[] = [];
    const reading = (async () => {
      for await (const event of gateway.stream(request('a long stream'))) events.push(event);
    })();
    await timersPending(clock, 1);
    for (let second = 0; second < 46; second++) await clock.advance(1_000);
    await reading;
    expect(events.filter((event) => event.type === 'error')).toEqual([]);
    expect(events.at(-1)).toMatchObject({ type: 'finish', response: { content: 'Mock answer: a long stream' } });
  });

  it("ends a hung call at the provider's timeout_ms with E4201 when the caller set no deadline", async () => {
    const { clock, gateway } = gatewayWith({ timeout_ms: 120_000 });
    await gateway.start();
    const pending = settle(gateway.complete(request('hang [[mock:hang]]')));
    await timersPending(clock, 1);
    await clock.advance(119_999);
    await flushMicrotasks();
    let done = false;
    void pending.then(() => (done = true));
    await flushMicrotasks();
    expect(done).toBe(false);
    await clock.advance(1);
    expect(await pending).toMatchObject({ code: 'E4201' });
  });

  it('ends the request at deadline_ms with E4510, and the deadline never opens the circuit', async () => {
    const { clock, gateway } = gatewayWith({ latency_ms: 100 });
    await gateway.start();
    // Twice the breaker's threshold of requests cut by their own 50 ms deadline against a 100 ms provider.
    for (let index = 0; index < 4; index++) {
      const pending = settle(gateway.complete(request(`impatient ${index}`, { deadline_ms: 50 })));
      await timersPending(clock, 2);
      await clock.advance(50);
      expect(await pending).toMatchObject({ code: 'E4510', httpStatus: 504 });
    }
    const runtime = await internalRuntime(gateway);
    expect(runtime.breakers.get('mock').snapshot().state).toBe('closed');
    const patient = settle(gateway.complete(request('patient')));
    await timersPending(clock, 1);
    await clock.advance(100);
    expect(await patient).toMatchObject({ content: 'Mock answer: patient' });
  });

  it("takes the earlier of deadline_ms and the transport's deadline", async () => {
    const { clock, gateway } = gatewayWith({ latency_ms: 1_000 });
    await gateway.start();
    const byTransport = settle(gateway.complete(request('one', { deadline_ms: 5_000 }), { deadlineMs: 200 }));
    const byBody = settle(gateway.complete(request('two', { deadline_ms: 300 }), { deadlineMs: 5_000 }));
    await timersPending(clock, 4);
    await clock.advance(200);
    expect(await byTransport).toMatchObject({ code: 'E4510', message: 'The request deadline of 200 ms passed' });
    await clock.advance(100);
    expect(await byBody).toMatchObject({ code: 'E4510', message: 'The request deadline of 300 ms passed' });
  });

  it('falls back rather than wait longer than max_latency_ms for a provider quota', async () => {
    const clock = new FakeClock();
    const adapters = new Map(['cheap', 'dear'].map((id) => [id, new MockAdapter({ id, latency_ms: 0, stream_chunks: 1 }, { clock })]));
    const gateway = new ModelGateway(
      mockConfig({
        providers: { cheap: { type: 'mock', rpm: 1 }, dear: { type: 'mock' } },
        models: {
          'cheap-1': { provider: 'cheap', auto: true, capabilities: ['text'] },
          'dear-1': { provider: 'dear', auto: true, capabilities: ['text'], input_cost_per_1k_cents: 1 },
        },
      }),
      { clock, adapters, healthChecks: false },
    );
    onCleanup(() => gateway.close());
    expect((await gateway.complete(request('first'))).provider).toBe('cheap');
    // The cheap provider's next slot is a minute away: past the 30 s preference, so the dear one answers.
    const second = await gateway.complete(request('second'));
    expect(second.provider).toBe('dear');
    expect(second.metadata.attempts[0]).toMatchObject({ provider: 'cheap', outcome: 'skipped', code: 'E4402' });
  });
});

describe('deadlines over HTTP', () => {
  it('reads the deadline from x-l04-deadline-ms and l04.deadline_ms, and refuses a malformed header', async () => {
    const clock = new FakeClock();
    const { client, gateway } = await startTestServer(mockConfig({ providers: { mock: { type: 'mock', latency_ms: 1_000 } } }), { clock });
    await gateway.start();
    const body = { model: 'mock-1', messages: [{ role: 'user' as const, content: 'hurry' }] };
    const byHeader = settle(client.chat.completions.create(body, { headers: { 'x-l04-deadline-ms': '200' } }));
    const byBody = settle(client.chat.completions.create({ ...body, l04: { deadline_ms: 300 } } as typeof body));
    await timersPending(clock, 4);
    await clock.advance(300);
    expect(await byHeader).toMatchObject({ status: 504, code: 'E4510' });
    expect(await byBody).toMatchObject({ status: 504, code: 'E4510' });
    for (const value of ['0', 'soon', '3600001', '1.5']) {
      expect(await settle(client.chat.completions.create(body, { headers: { 'x-l04-deadline-ms': value } }))).toMatchObject({
        status: 400,
        code: 'E4500',
        param: 'x-l04-deadline-ms',
      });
    }
  });
});

describe('library calls without a signal', () => {
  it('run 30 at once without Node warning of an abort-listener leak', async () => {
    const { clock, gateway } = gatewayWith({ latency_ms: 1_000 });
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    onCleanup(() => void process.off('warning', onWarning));
    const calls = Array.from({ length: 30 }, (_, index) => gateway.complete(request(`question ${index}`)));
    await timersPending(clock, 30);
    await clock.advance(1_000);
    expect((await Promise.all(calls)).length).toBe(30);
    // Node emits the warning on the next turn.
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });
});
