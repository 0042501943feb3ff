/**
 * AnthropicAdapter driven against the Anthropic fixture server over real sockets. Over 400 lines
 * because it is the adapter's whole contract (complete, stream, health) on one set of helpers.
 * The two timeout tests on undici's own timers (first byte, chunk gap) take 0.5–1 s: undici runs
 * those on a coarse timer whatever the configured value.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { ErrorCode, GatewayError } from '../src/models/error-codes.js';
import type { LogicalPrompt } from '../src/models/inference-request.js';
import { ModelConfigSchema } from '../src/models/model-config.js';
import { AnthropicProviderSchema } from '../src/models/provider-config.js';
import type { AnthropicProviderConfig } from '../src/models/provider-config.js';
import { AnthropicAdapter } from '../src/providers/anthropic-adapter.js';
import type { ProviderCall, StreamPart } from '../src/providers/base.js';
import { onCleanup } from './helpers/cleanup.js';
import { FakeClock } from './helpers/fake-clock.js';
import { ANTHROPIC_FIXTURE_API_KEY, startAnthropicFixture } from './helpers/anthropic-fixture-server.js';
import type { AnthropicFixture, AnthropicFixtureScenario } from './helpers/anthropic-fixture-server.js';

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';

async function setup(overrides: Partial<AnthropicProviderConfig> = {}, clock?: FakeClock): Promise<{ fixture: AnthropicFixture; adapter: AnthropicAdapter }> {
  const fixture = await startAnthropicFixture();
  onCleanup(() => fixture.close());
  const adapter = new AnthropicAdapter(providerConfig(fixture.url, overrides), clock === undefined ? {} : { clock });
  onCleanup(() => adapter.close());
  return { fixture, adapter };
}

function providerConfig(url: string, overrides: Partial<AnthropicProviderConfig> = {}): AnthropicProviderConfig {
  return { ...AnthropicProviderSchema.parse({ type: 'anthropic', base_url: url, api_key: ANTHROPIC_FIXTURE_API_KEY }), id: 'anthropic', ...overrides };
}

function call(scenario: AnthropicFixtureScenario, prompt: Partial<LogicalPrompt> = {}, extra: Partial<ProviderCall> = {}): ProviderCall {
  return {
    requestId: 'req_test',
    model: ModelConfigSchema.parse({ id: 'claude', provider: 'anthropic', provider_model: scenario }),
    prompt: { system: 'You are terse.', messages: [{ role: 'user', content: 'Why is the sky blue?' }], ...prompt },
    maxOutputTokens: 256,
    minContextLength: 4096,
    signal: new AbortController().signal,
    deadlineAt: Date.now() + 5_000,
    ...extra,
  };
}

async function collect(stream: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const parts: StreamPart[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

async function failure(promise: Promise<unknown>): Promise<GatewayError> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error as GatewayError,
  );
}

function lastError(parts: StreamPart[]): GatewayError {
  const last = parts.at(-1);
  if (last?.type !== 'error') throw new Error(`expected an error part last, got ${JSON.stringify(last)}`);
  return last.error;
}

function text(parts: StreamPart[]): string {
  return parts.map((part) => (part.type === 'text-delta' ? part.text : '')).join('');
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('AnthropicAdapter.complete', () => {
  it('answers with text, usage and the mapped stop reason', async () => {
    const { adapter, fixture } = await setup();
    const result = await adapter.complete(call('text'));
    expect(result).toEqual({
      content: 'Hi! My name is Claude. The sky looks blue because air molecules scatter short blue wavelengths more than red ones.',
      toolCalls: [],
      finishReason: 'stop',
      rawFinishReason: 'end_turn',
      usage: { input_tokens: 2095, output_tokens: 503, total_tokens: 2598 },
    });
    const request = fixture.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v1/messages');
    expect(request.headers['x-api-key']).toBe(ANTHROPIC_FIXTURE_API_KEY);
    expect(request.headers['anthropic-version']).toBe('2023-06-01');
    expect(request.body).toEqual({
      model: 'text',
      max_tokens: 256,
      system: 'You are terse.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Why is the sky blue?' }] }],
    });
  });

  it('returns tool calls with their arguments as JSON text and counts cached input', async () => {
    const { adapter } = await setup();
    const result = await adapter.complete(call('tool-use', { tools: [{ name: 'get_weather', parameters: { type: 'object', properties: {} } }] }));
    expect(result.content).toBe("I'll check the current weather in San Francisco for you.");
    expect(result.toolCalls).toEqual([
      { id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', arguments: '{"location":"San Francisco, CA","unit":"celsius"}' },
    ]);
    expect(result.finishReason).toBe('tool_calls');
    expect(result.usage).toEqual({ input_tokens: 512, output_tokens: 82, total_tokens: 594 });
  });

  it('sends a whole conversation the way the Messages API requires', async () => {
    const { adapter, fixture } = await setup();
    await adapter.complete(
      call('vision', {
        messages: [
          { role: 'user', content: 'Weather in SF and the time?' },
          {
            role: 'assistant',
            content: '',
            tool_calls: [
              { id: 'toolu_1', name: 'get_weather', arguments: '{"location":"SF"}' },
              { id: 'toolu_2', name: 'get_time', arguments: '' },
            ],
          },
          { role: 'tool', tool_call_id: 'toolu_1', content: '18 °C' },
          { role: 'tool', tool_call_id: 'toolu_2', content: '09:00' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'And what is in these pictures?' },
              { type: 'image', url: `data:image/png;base64,${PNG}` },
              { type: 'image', url: 'https://example.com/ant.jpg' },
            ],
          },
        ],
        tools: [{ name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } }],
        tool_choice: 'required',
        stop: ['END'],
        temperature: 1.5,
        top_p: 0.9,
      }),
    );
    expect(fixture.requests[0]!.body).toEqual({
      model: 'vision',
      max_tokens: 256,
      system: 'You are terse.',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather in SF and the time?' }] },
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'SF' } },
            { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: '18 °C' },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: '09:00' },
            { type: 'text', text: 'And what is in these pictures?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/ant.jpg' } },
          ],
        },
      ],
      tools: [{ name: 'get_weather', description: 'Current weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } } }],
      tool_choice: { type: 'any' },
      stop_sequences: ['END'],
      temperature: 1,
      top_p: 0.9,
    });
  });

  it('maps max_tokens to length', async () => {
    const { adapter } = await setup();
    const result = await adapter.complete(call('max-tokens'));
    expect([result.finishReason, result.rawFinishReason]).toEqual(['length', 'max_tokens']);
  });

  const statusCases: Array<[AnthropicFixtureScenario, ErrorCode, boolean]> = [
    ['error-400', 'E4206', false],
    ['error-401', 'E4203', false],
    ['error-403', 'E4203', false],
    ['error-404', 'E4210', true],
    ['error-413', 'E4206', false],
    ['error-429', 'E4204', true],
    ['error-500', 'E4202', true],
    ['error-529', 'E4205', true],
  ];
  for (const [scenario, code, retryable] of statusCases) {
    it(`maps ${scenario} to ${code}`, async () => {
      const { adapter } = await setup();
      const error = await failure(adapter.complete(call(scenario)));
      expect(error.code).toBe(code);
      expect(error.retryable).toBe(retryable);
      expect(error.details).toMatchObject({ provider: 'anthropic', upstream_status: Number(scenario.slice(6)) });
    });
  }

  it('carries Retry-After of a 429 as retryAfterMs', async () => {
    const { adapter } = await setup();
    const error = await failure(adapter.complete(call('error-429')));
    expect(error.retryAfterMs).toBe(7_000);
    expect(error.details.upstream_type).toBe('rate_limit_error');
  });

  it('maps a rejected key to E4203', async () => {
    const { adapter } = await setup({ api_key: 'sk-ant-wrong-key-000000' });
    expect((await failure(adapter.complete(call('text')))).code).toBe('E4203');
  });

  it('maps a body that is not JSON, or not a Message, to E4600', async () => {
    const { adapter } = await setup();
    expect((await failure(adapter.complete(call('malformed')))).code).toBe('E4600');
    expect((await failure(adapter.complete(call('malformed-shape')))).code).toBe('E4600');
  });

  it('maps a connection reset while reading the body to E4200', async () => {
    const { adapter } = await setup();
    expect((await failure(adapter.complete(call('reset')))).code).toBe('E4200');
  });

  it('maps connection refused to E4200', async () => {
    const adapter = new AnthropicAdapter(providerConfig(`http://127.0.0.1:${await closedPort()}`));
    onCleanup(() => adapter.close());
    expect((await failure(adapter.complete(call('text')))).code).toBe('E4200');
  });

  it('times out with E4201 when no first byte arrives', async () => {
    const { adapter } = await setup({ first_byte_timeout_ms: 100 });
    expect((await failure(adapter.complete(call('hang')))).code).toBe('E4201');
  });

  it("fails with the caller's E4510, not a provider timeout, at the request deadline", async () => {
    const { adapter } = await setup();
    expect((await failure(adapter.complete(call('hang', {}, { deadlineAt: Date.now() + 100 })))).code).toBe('E4510');
  });

  it('cancels with E4507 when the signal aborts', async () => {
    const { adapter, fixture } = await setup();
    const controller = new AbortController();
    const pending = failure(adapter.complete(call('hang', {}, { signal: controller.signal })));
    await until(() => fixture.requests.length === 1);
    controller.abort();
    expect((await pending).code).toBe('E4507');
    await fixture.requests[0]!.closed;
  });

  it('fails fast with E4203 and no network call without an API key', async () => {
    const { adapter, fixture } = await setup({ api_key: '' });
    const error = await failure(adapter.complete(call('text')));
    expect(error.code).toBe('E4203');
    expect(error.message).toContain('not configured');
    expect(fixture.requests).toHaveLength(0);
  });

  it('declines a JSON response format with E4209 before any network call', async () => {
    const { adapter, fixture } = await setup();
    const error = await failure(adapter.complete(call('text', { response_format: { type: 'json_object' } })));
    expect([error.code, error.param]).toEqual(['E4209', 'response_format']);
    expect(fixture.requests).toHaveLength(0);
  });
});

describe('AnthropicAdapter.stream', () => {
  it('streams text deltas and finishes with the provider usage', async () => {
    const { adapter, fixture } = await setup();
    const parts = await collect(adapter.stream(call('text')));
    expect(text(parts)).toBe('Hello! The sky is blue because of Rayleigh scattering.');
    expect(parts.at(-1)).toEqual({
      type: 'finish',
      finishReason: 'stop',
      rawFinishReason: 'end_turn',
      usage: { input_tokens: 25, output_tokens: 15, total_tokens: 40 },
    });
    expect(parts.filter((part) => part.type === 'finish' || part.type === 'error')).toHaveLength(1);
    expect(fixture.requests[0]!.body).toMatchObject({ stream: true, max_tokens: 256 });
    expect(fixture.requests[0]!.headers.accept).toBe('text/event-stream');
  });

  it('reuses pooled connections across finished streams', async () => {
    const { adapter, fixture } = await setup();
    for (let round = 0; round < 4; round++) await collect(adapter.stream(call('text')));
    expect(new Set(fixture.requests.map((request) => request.remotePort)).size).toBeLessThan(4);
  });

  it('streams tool calls as tool-call-delta parts', async () => {
    const { adapter } = await setup();
    const parts = await collect(adapter.stream(call('tool-use')));
    const deltas = parts.filter((part) => part.type === 'tool-call-delta');
    expect(deltas[0]).toEqual({ type: 'tool-call-delta', index: 0, id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', argumentsDelta: '' });
    const assembled = [0, 1].map((index) =>
      deltas
        .filter((part) => part.index === index)
        .map((part) => part.argumentsDelta)
        .join(''),
    );
    expect(JSON.parse(assembled[0]!)).toEqual({ location: 'San Francisco, CA', unit: 'fahrenheit' });
    expect(assembled[1]).toBe('{}');
    expect(deltas.find((part) => part.index === 1)).toMatchObject({ id: 'toolu_01Hb6Wb9nZ3vYpQ2x8WqKf4c', name: 'get_time' });
    expect(text(parts)).toBe("Okay, let's check the weather for San Francisco, CA:");
    expect(parts.at(-1)).toEqual({
      type: 'finish',
      finishReason: 'tool_calls',
      rawFinishReason: 'tool_use',
      usage: { input_tokens: 472, output_tokens: 89, total_tokens: 561 },
    });
  });

  it('ends with a retryable E4205 part on a mid-stream overloaded_error', async () => {
    const { adapter } = await setup();
    const parts = await collect(adapter.stream(call('stream-overloaded')));
    expect(text(parts)).toBe('Hello');
    const error = lastError(parts);
    expect([error.code, error.retryable]).toEqual(['E4205', true]);
    expect(parts.some((part) => part.type === 'finish')).toBe(false);
  });

  it('ends with E4208, never finish, when the stream ends without message_stop', async () => {
    const { adapter } = await setup();
    const parts = await collect(adapter.stream(call('truncated')));
    expect(text(parts)).toBe('Hello');
    expect(lastError(parts).code).toBe('E4208');
    expect(parts.some((part) => part.type === 'finish')).toBe(false);
  });

  it('ends with E4200 when the connection resets mid-stream', async () => {
    const { adapter } = await setup();
    const parts = await collect(adapter.stream(call('reset')));
    expect(lastError(parts).code).toBe('E4200');
    expect(parts.some((part) => part.type === 'finish')).toBe(false);
  });

  it('ends with E4201 when the stream stalls past the chunk gap', async () => {
    const { adapter } = await setup({ chunk_gap_timeout_ms: 100 });
    const parts = await collect(adapter.stream(call('stall')));
    expect(text(parts)).toBe('Hello');
    expect(lastError(parts).code).toBe('E4201');
  });

  it('ends with E4600 on an event that is not JSON', async () => {
    const { adapter } = await setup();
    const parts = await collect(adapter.stream(call('malformed')));
    expect(lastError(parts).code).toBe('E4600');
    expect(parts.filter((part) => part.type === 'error')).toHaveLength(1);
  });

  it('throws HTTP errors from the first next()', async () => {
    const { adapter } = await setup();
    const error = await failure(adapter.stream(call('error-429'))[Symbol.asyncIterator]().next());
    expect([error.code, error.retryAfterMs]).toEqual(['E4204', 7_000]);
    expect((await failure(adapter.stream(call('error-529'))[Symbol.asyncIterator]().next())).code).toBe('E4205');
  });

  it('throws E4201 from the first next() when no answer arrives in time', async () => {
    const { adapter } = await setup({ timeout_ms: 100 });
    expect((await failure(adapter.stream(call('hang'))[Symbol.asyncIterator]().next())).code).toBe('E4201');
  });

  it('throws E4203 from the first next() without an API key, with no network call', async () => {
    const { adapter, fixture } = await setup({ api_key: '' });
    expect((await failure(adapter.stream(call('text'))[Symbol.asyncIterator]().next())).code).toBe('E4203');
    expect(fixture.requests).toHaveLength(0);
  });

  it('aborts the upstream request when the consumer breaks out', async () => {
    const { adapter, fixture } = await setup();
    for await (const part of adapter.stream(call('stall'))) {
      expect(part).toEqual({ type: 'text-delta', text: 'Hello' });
      break;
    }
    await fixture.requests[0]!.closed;
  });

  it('ends with an E4507 part when the signal aborts mid-stream', async () => {
    const { adapter, fixture } = await setup();
    const controller = new AbortController();
    const parts: StreamPart[] = [];
    for await (const part of adapter.stream(call('stall', {}, { signal: controller.signal }))) {
      parts.push(part);
      if (part.type === 'text-delta') controller.abort();
    }
    expect(lastError(parts).code).toBe('E4507');
    await fixture.requests[0]!.closed;
  });
});

describe('AnthropicAdapter.healthCheck', () => {
  it('reports healthy and which expected models are offered', async () => {
    const clock = new FakeClock();
    const { adapter, fixture } = await setup({}, clock);
    const health = await adapter.healthCheck({ expectedModels: ['claude-sonnet-4-5-20250929', 'claude-haiku-4-5', 'claude-3-opus-latest'] });
    expect(health).toMatchObject({
      provider: 'anthropic',
      status: 'healthy',
      checked_at: clock.now(),
      latency_ms: 0,
      models: { 'claude-sonnet-4-5-20250929': true, 'claude-haiku-4-5': true, 'claude-3-opus-latest': false },
    });
    expect(health.hints).toEqual(["check the model name 'claude-3-opus-latest' against GET /v1/models"]);
    expect(fixture.requests[0]).toMatchObject({ method: 'GET', path: '/v1/models?limit=1000' });
    expect(fixture.requests[0]!.headers['x-api-key']).toBe(ANTHROPIC_FIXTURE_API_KEY);
  });

  it('reports unhealthy "not configured (no api_key)" without a network call', async () => {
    const { adapter, fixture } = await setup({ api_key: '' });
    expect(await adapter.healthCheck()).toMatchObject({ status: 'unhealthy', message: 'not configured (no api_key)' });
    expect(fixture.requests).toHaveLength(0);
  });

  it('reports unhealthy when the key is rejected', async () => {
    const { adapter } = await setup({ api_key: 'sk-ant-wrong-key-000000' });
    const health = await adapter.healthCheck();
    expect(health.status).toBe('unhealthy');
    expect(health.message).toContain('401');
  });

  it('reports degraded when overloaded', async () => {
    const { adapter, fixture } = await setup();
    fixture.scenario('error-529');
    expect((await adapter.healthCheck()).status).toBe('degraded');
  });

  it('reports unhealthy when unreachable', async () => {
    const refused = new AnthropicAdapter(providerConfig(`http://127.0.0.1:${await closedPort()}`));
    onCleanup(() => refused.close());
    expect(await refused.healthCheck()).toMatchObject({ status: 'unhealthy', message: 'anthropic: connection refused' });
  });

  it('reports unhealthy when no answer arrives within its bound', async () => {
    const { adapter, fixture } = await setup({ timeout_ms: 100 });
    fixture.scenario('hang');
    const health = await adapter.healthCheck();
    expect(health.status).toBe('unhealthy');
    expect(health.message).toContain('no complete answer within 100 ms');
  });

  it('reports unhealthy on a model list that is not valid', async () => {
    const { adapter, fixture } = await setup();
    fixture.scenario('malformed');
    expect((await adapter.healthCheck()).status).toBe('unhealthy');
  });
});

describe('AnthropicAdapter capabilities', () => {
  it('has no embeddings API and no JSON mode', async () => {
    const { adapter, fixture } = await setup();
    const error = await failure(adapter.embed({ model: 'any', inputs: ['a'], signal: new AbortController().signal, deadlineAt: Date.now() + 1_000 }));
    expect(error.code).toBe('E4209');
    expect(fixture.requests).toHaveLength(0);
    expect(adapter.supportsCapability('embeddings')).toBe(false);
    expect(adapter.supportsCapability('json_mode')).toBe(false);
    expect(['text', 'vision', 'tool_use', 'long_context', 'streaming'].every((capability) => adapter.supportsCapability(capability as 'text'))).toBe(true);
  });
});
