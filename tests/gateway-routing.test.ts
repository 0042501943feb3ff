/**
 * Routing by need, fallbacks and circuit breakers through the whole gateway: two providers serve
 * the same capability; the primary (cheaper, so chosen first) fails on command.
 */
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../src/config/config-schema.js';
import { MockAdapter } from '../src/providers/mock-adapter.js';
import { ModelGateway } from '../src/gateway/model-gateway.js';
import type { GatewayStreamEvent } from '../src/models/gateway-events.js';
import { createLogger } from '../src/observability/logger.js';
import { onCleanup } from './helpers/cleanup.js';
import { FakeClock } from './helpers/fake-clock.js';
import { LogCapture, startTestServer } from './helpers/gateway.js';

function twoProviders(overrides: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return {
    state: { backend: 'memory' },
    providers: { primary: { type: 'mock' }, secondary: { type: 'mock' } },
    models: {
      cheap: { provider: 'primary', auto: true, capabilities: ['text', 'streaming'], input_cost_per_1k_cents: 0.1, output_cost_per_1k_cents: 0.1 },
      dear: { provider: 'secondary', auto: true, capabilities: ['text', 'streaming'], input_cost_per_1k_cents: 1, output_cost_per_1k_cents: 1 },
    },
    circuit_breaker: { failure_threshold: 5, cooldown_s: 60 },
    rate_limits: { agent_default: { rpm: 10_000, tpm: 10_000_000 } },
    cache: { enabled: false },
    health: { enabled: false },
    logging: { level: 'silent' },
    ...overrides,
  };
}

function setup() {
  const clock = new FakeClock();
  const primary = new MockAdapter({ id: 'primary', latency_ms: 0, stream_chunks: 3 }, { clock });
  const secondary = new MockAdapter({ id: 'secondary', latency_ms: 0, stream_chunks: 3 }, { clock });
  const logs = new LogCapture();
  const gateway = new ModelGateway(twoProviders(), {
    clock,
    adapters: new Map([
      ['primary', primary],
      ['secondary', secondary],
    ]),
    healthChecks: false,
    logger: createLogger({ level: 'info', destination: logs }),
  });
  onCleanup(() => gateway.close());
  const ask = (text = 'hello') => gateway.complete({ agent_did: 'did:test:agent', logical_prompt: { messages: [{ role: 'user', content: text }] } });
  return { clock, primary, secondary, gateway, ask, logs };
}

describe('fallbacks and circuit breakers through the gateway', () => {
  it('answers from the cheapest healthy model and says which one answered', async () => {
    const { ask } = setup();
    const response = await ask();
    expect(response.model_id).toBe('cheap');
    expect(response.metadata.routing?.fallbacks).toEqual(['dear']);
    expect(response.metadata.attempts).toEqual([expect.objectContaining({ model_id: 'cheap', outcome: 'success' })]);
  });

  it('shows callers only successes while the primary is down, and stops sending it traffic at the threshold', async () => {
    const { primary, secondary, ask, logs } = setup();
    primary.injectFailure({ kind: 'status', status: 503 });
    const answers = [];
    for (let i = 0; i < 12; i++) answers.push(await ask(`question ${i}`));
    expect(answers.every((answer) => answer.model_id === 'dear')).toBe(true);
    expect(answers[0]?.metadata.attempts.map((attempt) => `${attempt.model_id}:${attempt.outcome}:${attempt.code ?? ''}`)).toEqual([
      'cheap:error:E4202',
      'dear:success:',
    ]);
    expect(primary.calls).toBe(5);
    expect(secondary.calls).toBe(12);
    const transitions = logs.records().filter((record) => record.msg === 'circuit breaker transition');
    expect(transitions).toEqual([expect.objectContaining({ provider: 'primary', from: 'closed', to: 'open' })]);
  });

  it('lets exactly one probe through after the cooldown, and returns traffic when it succeeds', async () => {
    const { clock, primary, ask } = setup();
    primary.injectFailure({ kind: 'status', status: 500 });
    for (let i = 0; i < 6; i++) await ask(`warm ${i}`);
    expect(primary.calls).toBe(5);

    await clock.advance(59_000);
    await ask('still cooling down');
    expect(primary.calls).toBe(5);

    await clock.advance(1_000);
    const during = await Promise.all([ask('a'), ask('b'), ask('c')]);
    expect(primary.calls).toBe(6);
    expect(during.every((answer) => answer.model_id === 'dear')).toBe(true);

    primary.clearFailures();
    await clock.advance(60_000);
    const probe = await ask('probe that succeeds');
    expect(probe.model_id).toBe('cheap');
    const after = await ask('back to normal');
    expect(after.model_id).toBe('cheap');
    expect(primary.calls).toBe(8);
  });

  it('fails non-retryable errors at once, without a fallback', async () => {
    const { primary, secondary, ask } = setup();
    primary.injectFailure({ kind: 'status', status: 400 }, 1);
    await expect(ask()).rejects.toMatchObject({ code: 'E4206' });
    expect(secondary.calls).toBe(0);
  });

  it('replaces a stream that fails before its first token without the caller seeing it', async () => {
    const { primary, gateway } = setup();
    primary.injectFailure({ kind: 'unreachable' }, 1);
    const events: GatewayStreamEvent[] = [];
    for await (const event of gateway.stream({ agent_did: 'did:test:agent', logical_prompt: { messages: [{ role: 'user', content: 'stream me' }] } }))
      events.push(event);
    expect(events[0]).toMatchObject({ type: 'start', model_id: 'dear' });
    expect(events.filter((event) => event.type === 'error')).toEqual([]);
    const finish = events.at(-1);
    expect(finish?.type).toBe('finish');
    if (finish?.type === 'finish') {
      expect(finish.response.content).toBe('Mock answer: stream me');
      expect(finish.response.metadata.attempts.map((attempt) => attempt.outcome)).toEqual(['error', 'success']);
    }
  });

  it('ends a stream cut after its first token with an error, never a switch to another model', async () => {
    const { primary, secondary, gateway } = setup();
    primary.injectFailure({ kind: 'cut', afterChunks: 1 }, 1);
    const events: GatewayStreamEvent[] = [];
    for await (const event of gateway.stream({
      agent_did: 'did:test:agent',
      logical_prompt: { messages: [{ role: 'user', content: 'a long streamed answer' }] },
    }))
      events.push(event);
    expect(events[0]).toMatchObject({ type: 'start', model_id: 'cheap' });
    expect(events.at(-1)).toMatchObject({ type: 'error', error: expect.objectContaining({ code: 'E4208' }) });
    expect(events.some((event) => event.type === 'finish')).toBe(false);
    expect(secondary.calls).toBe(0);
  });

  it('fails with E4700 when the circuit of a pinned model is open', async () => {
    const { primary, gateway } = setup();
    primary.injectFailure({ kind: 'status', status: 502 });
    const pinned = () => gateway.complete({ agent_did: 'did:test:agent', model_id: 'cheap', logical_prompt: { messages: [{ role: 'user', content: 'x' }] } });
    for (let i = 0; i < 5; i++) await expect(pinned()).rejects.toMatchObject({ code: 'E4202' });
    const error = await pinned().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'E4700', httpStatus: 503 });
    expect((error as { retryAfterMs: number }).retryAfterMs).toBe(60_000);
  });

  it('stops at routing.max_attempts, all inside the deadline', async () => {
    const clock = new FakeClock();
    const adapters = new Map(['a', 'b', 'c'].map((id) => [id, new MockAdapter({ id, latency_ms: 0, stream_chunks: 1 }, { clock })]));
    for (const adapter of adapters.values()) adapter.injectFailure({ kind: 'status', status: 503 });
    const gateway = new ModelGateway(
      {
        ...twoProviders(),
        providers: { a: { type: 'mock' }, b: { type: 'mock' }, c: { type: 'mock' } },
        models: { ma: { provider: 'a', auto: true }, mb: { provider: 'b', auto: true }, mc: { provider: 'c', auto: true } },
        routing: { max_attempts: 2 },
      },
      { clock, adapters, healthChecks: false },
    );
    onCleanup(() => gateway.close());
    const error = await gateway
      .complete({ agent_did: 'did:test:agent', logical_prompt: { messages: [{ role: 'user', content: 'x' }] } })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'E4103' });
    expect([...adapters.values()].reduce((sum, adapter) => sum + adapter.calls, 0)).toBe(2);
  });

  it('gives up on a hanging provider at the request deadline with E4510', async () => {
    const { clock, primary, secondary, gateway } = setup();
    await gateway.start();
    primary.injectFailure({ kind: 'hang' }, 1);
    const pending = gateway
      .complete({ agent_did: 'did:test:agent', constraints: { deadline_ms: 1000 }, logical_prompt: { messages: [{ role: 'user', content: 'x' }] } })
      .catch((caught: unknown) => caught);
    await clock.advance(999);
    expect(primary.calls).toBe(1);
    await clock.advance(1);
    expect(await pending).toMatchObject({ code: 'E4510', httpStatus: 504 });
    expect(secondary.calls).toBe(0);
  });
});

describe('routing by need over HTTP', () => {
  const config: GatewayConfigInput = {
    state: { backend: 'memory' },
    providers: { local: { type: 'mock' }, cloud: { type: 'mock' } },
    models: {
      'text-only': { provider: 'local', auto: true, capabilities: ['text'] },
      'sees-images': { provider: 'cloud', auto: true, capabilities: ['text', 'vision'], input_cost_per_1k_cents: 1 },
    },
    cache: { enabled: false },
    health: { enabled: false },
    logging: { level: 'silent' },
  };

  it('answers model auto with l04.capabilities vision from a vision model', async () => {
    const { client } = await startTestServer(config);
    const { data, response } = await client.chat.completions
      .create({
        model: 'auto',
        messages: [{ role: 'user', content: 'describe this' }],
        l04: { capabilities: ['vision'] },
      } as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .withResponse();
    expect(data.model).toBe('sees-images');
    expect(response.headers.get('x-l04-model')).toBe('sees-images');
    expect(response.headers.get('x-l04-provider')).toBe('cloud');
  });

  it('answers a capability no model has with 422 E4100 and a reason per model', async () => {
    const { client } = await startTestServer(config);
    const error = await client.chat.completions
      .create({
        model: 'auto',
        messages: [{ role: 'user', content: 'x' }],
        l04: { capabilities: ['json_mode'] },
      } as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.UnprocessableEntityError);
    const apiError = error as InstanceType<typeof OpenAI.UnprocessableEntityError>;
    expect(apiError.code).toBe('E4100');
    expect(apiError.message).toContain('text-only');
    expect(apiError.message).toContain('sees-images');
    expect(apiError.message).toContain('json_mode');
  });

  it('shows each provider health and circuit state', async () => {
    const { url } = await startTestServer(config);
    const body = (await (await fetch(`${url}/health/providers`)).json()) as { data: Array<{ provider: string; status: string; circuit_state: string }> };
    expect(body.data.map((entry) => [entry.provider, entry.circuit_state])).toEqual([
      ['local', 'closed'],
      ['cloud', 'closed'],
    ]);
  });
});
