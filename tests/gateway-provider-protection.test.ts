/**
 * Provider protection judged on the provider alone, through the whole gateway: a caller's deadline
 * or disconnect never counts against a provider's circuit or health, time spent waiting in the
 * gateway's own queue is not the provider's, and a circuit that opens while a request waits is
 * honoured when that request's turn comes.
 */
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../src/config/config-schema.js';
import { ModelGateway } from '../src/gateway/model-gateway.js';
import { ProviderError } from '../src/models/error-codes.js';
import type { ProviderAdapter, ProviderCall, ProviderResult } from '../src/providers/base.js';
import { MockAdapter } from '../src/providers/mock-adapter.js';
import type { Clock, TimerHandle } from '../src/util/clock.js';
import { onCleanup } from './helpers/cleanup.js';
import { FakeClock, flushMicrotasks } from './helpers/fake-clock.js';
import { startFaultyUpstream } from './helpers/faulty-openai-upstream.js';
import { startTestServer } from './helpers/gateway.js';

interface ProviderRow {
  provider: string;
  status: string;
  circuit_state: string;
  window_outcomes: number;
}

function upstreamConfig(url: string, overrides: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return {
    state: { backend: 'memory' },
    providers: { up: { type: 'openai', base_url: url, api_key: 'sk-test-0123456789' } },
    models: { fast: { provider: 'up', provider_model: 'gpt-4o-mini', capabilities: ['text', 'streaming'], expected_latency_ms: 10 } },
    circuit_breaker: { failure_threshold: 3, cooldown_s: 60 },
    rate_limits: { agent_default: { rpm: 100_000, tpm: 100_000_000 } },
    cache: { enabled: false },
    health: { enabled: false },
    logging: { level: 'silent' },
    ...overrides,
  };
}

async function providerRow(url: string, provider = 'up'): Promise<ProviderRow> {
  const body = (await (await fetch(`${url}/health/providers`)).json()) as { data: ProviderRow[] };
  const row = body.data.find((entry) => entry.provider === provider);
  if (row === undefined) throw new Error(`no health row for ${provider}`);
  return row;
}

function ask(client: OpenAI, deadlineMs: number) {
  return client.chat.completions.create({
    model: 'fast',
    messages: [{ role: 'user', content: 'Why is the sky blue?' }],
    l04: { deadline_ms: deadlineMs },
  } as OpenAI.ChatCompletionCreateParamsNonStreaming);
}

describe("a caller's deadline or disconnect never counts against a provider", () => {
  it('keeps the circuit closed when 12 requests with a 50 ms deadline meet a provider answering in 100 ms', async () => {
    const upstream = await startFaultyUpstream();
    upstream.latency(100);
    const { client, url } = await startTestServer(upstreamConfig(upstream.url));
    const codes: unknown[] = [];
    for (let index = 0; index < 12; index++)
      codes.push(
        await ask(client, 50).then(
          () => 'ok',
          (error: unknown) => (error as { code?: unknown }).code,
        ),
      );
    expect(codes).toEqual(new Array(12).fill('E4510'));
    expect(await providerRow(url)).toMatchObject({ status: 'healthy', circuit_state: 'closed', window_outcomes: 0 });
    upstream.latency(0);
    expect((await ask(client, 5_000)).choices[0]?.message.content).toBeTruthy();
  });

  it('counts nothing when a long generation is cut by the caller deadline', async () => {
    const upstream = await startFaultyUpstream();
    upstream.chunkDelay(60);
    const { client, url } = await startTestServer(upstreamConfig(upstream.url, { circuit_breaker: { failure_threshold: 1, cooldown_s: 60 } }));
    const stream = await client.chat.completions.create({
      model: 'fast',
      stream: true,
      messages: [{ role: 'user', content: 'Tell me a long story' }],
      l04: { deadline_ms: 200 },
    } as OpenAI.ChatCompletionCreateParamsStreaming);
    let text = '';
    const ended = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().then(
      () => 'finished',
      (error: unknown) => (error as { code?: unknown }).code ?? String(error),
    );
    expect(text.length).toBeGreaterThan(0);
    expect(ended).toBe('E4510');
    expect(await providerRow(url)).toMatchObject({ circuit_state: 'closed', window_outcomes: 0 });
  });

  it('counts nothing when the client disconnects while the provider is answering', async () => {
    const upstream = await startFaultyUpstream();
    upstream.mode('hang');
    const { client, url } = await startTestServer(upstreamConfig(upstream.url, { circuit_breaker: { failure_threshold: 1, cooldown_s: 60 } }));
    const controller = new AbortController();
    const pending = client.chat.completions
      .create({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }, { signal: controller.signal })
      .catch((error: unknown) => error);
    await until(() => upstream.chatCalls === 1);
    controller.abort();
    expect(await pending).toBeInstanceOf(OpenAI.APIUserAbortError);
    await until(async () => (await providerRow(url)).circuit_state === 'closed');
    upstream.mode('ok');
    expect((await ask(client, 5_000)).choices[0]?.message.content).toBeTruthy();
    expect(await providerRow(url)).toMatchObject({ circuit_state: 'closed', window_outcomes: 1 });
  });
});

/** A clock whose timers never fire: the request's own deadline timer stays silent, as when a provider timer wins the race. */
class SilentClock implements Clock {
  current = 1_700_000_000_000;
  now(): number {
    return this.current;
  }
  setTimer(): TimerHandle {
    return { cancel: () => undefined };
  }
}

/** A provider that fails with its own E4201 when the test says, whatever the request's signal says. */
class TimingOutAdapter extends MockAdapter {
  fail: () => void = () => undefined;
  override complete(_call: ProviderCall): Promise<ProviderResult> {
    this.calls++;
    return new Promise<ProviderResult>((_, reject) => {
      this.fail = () => reject(new ProviderError('E4201', 'primary: no response within 1000 ms'));
    });
  }
}

describe('the fallback executor', () => {
  it("does not count a provider timeout that fires at the caller's deadline, before the request's signal", async () => {
    const clock = new SilentClock();
    const primary = new TimingOutAdapter({ id: 'primary', latency_ms: 0, stream_chunks: 1 }, { clock });
    const gateway = new ModelGateway(
      {
        state: { backend: 'memory' },
        providers: { primary: { type: 'mock' } },
        models: { cheap: { provider: 'primary', auto: true, capabilities: ['text'] } },
        circuit_breaker: { failure_threshold: 1, cooldown_s: 60 },
        cache: { enabled: false },
        health: { enabled: false },
        logging: { level: 'silent' },
      },
      { clock, adapters: new Map<string, ProviderAdapter>([['primary', primary]]), healthChecks: false },
    );
    onCleanup(() => gateway.close());
    const pending = gateway
      .complete({ agent_did: 'did:test:a', constraints: { deadline_ms: 1_000 }, logical_prompt: { messages: [{ role: 'user', content: 'x' }] } })
      .catch((error: unknown) => error);
    await until(() => primary.calls === 1);
    clock.current += 1_000;
    primary.fail();
    expect(await pending).toMatchObject({ code: 'E4510' });
    const [row] = await gateway.providerHealth();
    expect(row).toMatchObject({ circuit_state: 'closed', window_outcomes: 0 });
  });

  it('fails a request whose deadline passes in the queue with E4502, counting nothing against the provider', async () => {
    const clock = new FakeClock();
    const primary = new MockAdapter({ id: 'primary', latency_ms: 0, stream_chunks: 1 }, { clock });
    const gateway = slotGateway(clock, primary);
    primary.injectFailure({ kind: 'hang' }, 1);
    const first = gateway.complete(request(10_000)).catch((error: unknown) => error);
    await flushMicrotasks();
    const queued = gateway.complete(request(1_000)).catch((error: unknown) => error);
    await flushMicrotasks();
    expect(await gateway.metrics().then((metrics) => metrics.body)).toMatch(/l04_queue_depth\{provider="primary",priority="normal"\} 1/);
    await clock.advance(1_000);
    expect(await queued).toMatchObject({ code: 'E4502' });
    await clock.advance(9_000);
    expect(await first).toMatchObject({ code: 'E4510' });
    expect(primary.calls).toBe(1);
    const [row] = await gateway.providerHealth();
    expect(row).toMatchObject({ circuit_state: 'closed', window_outcomes: 0 });
  });

  it('takes the breaker permit at dispatch: a circuit that opened while a request waited keeps it off the provider', async () => {
    const clock = new FakeClock();
    const primary = new MockAdapter({ id: 'primary', latency_ms: 1_000, stream_chunks: 1 }, { clock });
    const gateway = slotGateway(clock, primary);
    primary.injectFailure({ kind: 'status', status: 503 }, 1);
    const first = gateway.complete(request(30_000)).catch((error: unknown) => error);
    await flushMicrotasks();
    const queued = gateway.complete(request(30_000)).catch((error: unknown) => error);
    await clock.advance(1_000);
    expect(await first).toMatchObject({ code: 'E4202' });
    expect(await queued).toMatchObject({ code: 'E4700' });
    expect(primary.calls).toBe(1);
  });
});

/** One provider, one slot at a time, a breaker that opens at the first failure. */
function slotGateway(clock: FakeClock, primary: MockAdapter): ModelGateway {
  const gateway = new ModelGateway(
    {
      state: { backend: 'memory' },
      providers: { primary: { type: 'mock', max_concurrency: 1 } },
      models: { cheap: { provider: 'primary', auto: true, capabilities: ['text'] } },
      circuit_breaker: { failure_threshold: 1, cooldown_s: 60 },
      rate_limits: { agent_default: { rpm: 10_000, tpm: 10_000_000 } },
      cache: { enabled: false },
      health: { enabled: false },
      logging: { level: 'silent' },
    },
    { clock, adapters: new Map<string, ProviderAdapter>([['primary', primary]]), healthChecks: false },
  );
  onCleanup(() => gateway.close());
  return gateway;
}

function request(deadlineMs: number) {
  return { agent_did: 'did:test:a', constraints: { deadline_ms: deadlineMs }, logical_prompt: { messages: [{ role: 'user' as const, content: 'x' }] } };
}

/** Waits for I/O the test does not control (a request reaching the upstream); bounded. */
async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
