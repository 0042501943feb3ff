/** OpenAIAdapter against the OpenAI fixture server: complete, embed, health, errors and transport. */
import { MockAgent } from 'undici';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../src/models/error-codes.js';
import type { ErrorCode } from '../src/models/error-codes.js';
import { CAPABILITIES } from '../src/models/inference-request.js';
import { onCleanup } from './helpers/cleanup.js';
import { FakeClock } from './helpers/fake-clock.js';
import { callFor, openAIAdapter, refusedBaseUrl, rejection, startOpenAIFixture } from './helpers/openai-fixture-server.js';
import type { OpenAIFixture, OpenAIScenarioName } from './helpers/openai-fixture-server.js';

async function fixture(): Promise<OpenAIFixture> {
  const started = await startOpenAIFixture();
  onCleanup(() => started.close());
  return started;
}

function expectCode(error: unknown, code: ErrorCode): GatewayError {
  expect(error).toBeInstanceOf(GatewayError);
  expect((error as GatewayError).code).toBe(code);
  return error as GatewayError;
}

describe('OpenAIAdapter.complete', () => {
  it('returns the answer, the finish reason and the provider token counts', async () => {
    const server = await fixture();
    const result = await openAIAdapter({ base_url: server.url }).complete(callFor('plain'));
    expect(result).toEqual({
      content: 'The sky looks blue because air scatters short blue wavelengths of sunlight more than red ones.',
      toolCalls: [],
      finishReason: 'stop',
      rawFinishReason: 'stop',
      usage: { input_tokens: 19, output_tokens: 18, total_tokens: 37 },
    });
  });

  it('sends the chat request with headers, sampling, tools, tool choice and response format', async () => {
    const server = await fixture();
    const adapter = openAIAdapter({ base_url: server.url, organization: 'org-fixture' });
    await adapter.complete(
      callFor('plain', {
        system: 'Be brief.',
        temperature: 0.2,
        top_p: 0.9,
        seed: 7,
        stop: ['\n\n'],
        tools: [{ name: 'get_current_weather', description: 'Weather now', parameters: { type: 'object', properties: { location: { type: 'string' } } } }],
        tool_choice: { name: 'get_current_weather' },
        response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } },
      }),
    );
    const [request] = server.requests;
    expect(request!.method).toBe('POST');
    expect(request!.path).toBe('/v1/chat/completions');
    expect(request!.headers).toMatchObject({
      authorization: 'Bearer sk-test-0123456789',
      'openai-organization': 'org-fixture',
      'x-client-request-id': 'req_test_1',
      'content-type': 'application/json',
    });
    expect(request!.body).toEqual({
      model: 'plain',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Why is the sky blue?' },
      ],
      max_tokens: 256,
      temperature: 0.2,
      top_p: 0.9,
      seed: 7,
      stop: ['\n\n'],
      tools: [
        {
          type: 'function',
          function: { name: 'get_current_weather', description: 'Weather now', parameters: { type: 'object', properties: { location: { type: 'string' } } } },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'get_current_weather' } },
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } },
    });
  });

  it('returns tool calls with the tool_calls finish reason', async () => {
    const server = await fixture();
    const result = await openAIAdapter({ base_url: server.url }).complete(callFor('tool-call', { tools: [{ name: 'get_current_weather', parameters: {} }] }));
    expect(result.content).toBe('');
    expect(result.toolCalls).toEqual([
      { id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', name: 'get_current_weather', arguments: '{"location":"Boston, MA","unit":"celsius"}' },
      { id: 'call_8wYv0mZ5v1Jp6Yb3sE2kQf9L', name: 'get_current_weather', arguments: '{"location":"Paris, France","unit":"celsius"}' },
    ]);
    expect(result).toMatchObject({ finishReason: 'tool_calls', rawFinishReason: 'tool_calls', usage: { input_tokens: 82, output_tokens: 51 } });
  });

  it('sends earlier tool calls and tool results as assistant and tool messages', async () => {
    const server = await fixture();
    await openAIAdapter({ base_url: server.url }).complete(
      callFor('plain', {
        messages: [
          { role: 'user', content: 'Weather in Boston?' },
          { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', name: 'get_current_weather', arguments: '{"location":"Boston"}' }] },
          { role: 'tool', tool_call_id: 'call_1', content: '{"temperature":22}' },
        ],
        tool_choice: 'auto',
        tools: [{ name: 'get_current_weather', parameters: {} }],
      }),
    );
    const body = server.requests[0]!.body as { messages: unknown[]; tool_choice: unknown };
    expect(body.messages).toEqual([
      { role: 'user', content: 'Weather in Boston?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_current_weather', arguments: '{"location":"Boston"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temperature":22}' },
    ]);
    expect(body.tool_choice).toBe('auto');
  });

  it('sends image parts as image_url and gets the vision answer', async () => {
    const server = await fixture();
    const result = await openAIAdapter({ base_url: server.url }).complete(
      callFor('vision', {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image', url: 'https://example.com/boardwalk.jpg', detail: 'high' },
            ],
          },
        ],
      }),
    );
    expect(result.content).toContain('boardwalk');
    expect((server.requests[0]!.body as { messages: unknown[] }).messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: 'https://example.com/boardwalk.jpg', detail: 'high' } },
        ],
      },
    ]);
  });

  it('passes JSON mode through and maps a length stop', async () => {
    const server = await fixture();
    const result = await openAIAdapter({ base_url: server.url }).complete(callFor('length', { response_format: { type: 'json_object' } }));
    expect((server.requests[0]!.body as { response_format: unknown }).response_format).toEqual({ type: 'json_object' });
    expect(result).toMatchObject({ finishReason: 'length', rawFinishReason: 'length' });
  });

  it('sends max_completion_tokens when configured to', async () => {
    const server = await fixture();
    await openAIAdapter({ base_url: server.url }, { maxTokensField: 'max_completion_tokens' }).complete(callFor('plain'));
    const body = server.requests[0]!.body as Record<string, unknown>;
    expect(body.max_completion_tokens).toBe(256);
    expect(body).not.toHaveProperty('max_tokens');
  });

  it.each([
    ['error-400', 'E4206'],
    ['error-401', 'E4203'],
    ['error-403', 'E4203'],
    ['error-404', 'E4210'],
    ['error-429', 'E4204'],
    ['error-429-quota', 'E4204'],
    ['error-500', 'E4202'],
    ['error-503', 'E4202'],
    ['error-context-length', 'E4207'],
    ['proxy-502', 'E4202'],
    ['not-json', 'E4600'],
    ['bad-shape', 'E4600'],
  ] as const)('maps %s to %s', async (scenario: OpenAIScenarioName, code: ErrorCode) => {
    const server = await fixture();
    expectCode(await rejection(openAIAdapter({ base_url: server.url }).complete(callFor(scenario))), code);
  });

  it('carries Retry-After and retry-after-ms of a rate limit as retryAfterMs', async () => {
    const server = await fixture();
    const adapter = openAIAdapter({ base_url: server.url });
    expect(expectCode(await rejection(adapter.complete(callFor('error-429'))), 'E4204').retryAfterMs).toBe(20_000);
    expect(expectCode(await rejection(adapter.complete(callFor('error-429-ms'))), 'E4204').retryAfterMs).toBe(1_500);
  });

  it('marks insufficient_quota as exhausted, with no retry delay', async () => {
    const server = await fixture();
    const error = expectCode(await rejection(openAIAdapter({ base_url: server.url }).complete(callFor('error-429-quota'))), 'E4204');
    expect(error.retryAfterMs).toBeUndefined();
    expect(error.details).toMatchObject({ quota_exhausted: true, upstream_status: 429, upstream_type: 'insufficient_quota' });
  });

  it('fails with E4200 when the connection is refused', async () => {
    const adapter = openAIAdapter({ base_url: await refusedBaseUrl() });
    expectCode(await rejection(adapter.complete(callFor('plain'))), 'E4200');
  });

  it('fails with E4201 when no first byte arrives in time', async () => {
    const server = await fixture();
    const adapter = openAIAdapter({ base_url: server.url, first_byte_timeout_ms: 100 });
    expectCode(await rejection(adapter.complete(callFor('hang'))), 'E4201');
  });

  it('fails with E4201 when the whole request outlasts timeout_ms', async () => {
    const server = await fixture();
    const adapter = openAIAdapter({ base_url: server.url, timeout_ms: 100 });
    expectCode(await rejection(adapter.complete(callFor('stall'))), 'E4201');
  });

  it("fails with the caller's E4510 at once when its deadline has passed", async () => {
    const server = await fixture();
    expectCode(await rejection(openAIAdapter({ base_url: server.url }).complete(callFor('plain', {}, { deadlineAt: Date.now() - 1 }))), 'E4510');
    expect(server.requests).toHaveLength(0);
  });

  it('aborts the upstream request when the signal aborts', async () => {
    const server = await fixture();
    const controller = new AbortController();
    const pending = rejection(openAIAdapter({ base_url: server.url }).complete(callFor('hang', {}, { signal: controller.signal })));
    await waitUntil(() => server.requests.length === 1);
    controller.abort();
    expectCode(await pending, 'E4507');
    await expect(server.requests[0]!.closed).resolves.toBe('aborted');
  });
});

describe('OpenAIAdapter without an API key', () => {
  it('fails fast with E4203 and reports unhealthy on api.openai.com, without a network call', async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    onCleanup(() => agent.close());
    const clock = new FakeClock();
    const adapter = openAIAdapter({ base_url: 'https://api.openai.com/v1', api_key: '' }, { dispatcher: agent, clock });
    expectCode(await rejection(adapter.complete(callFor('plain'))), 'E4203');
    expectCode(await rejection(adapter.stream(callFor('plain'))[Symbol.asyncIterator]().next()), 'E4203');
    expectCode(
      await rejection(adapter.embed({ model: 'text-embedding-3-small', inputs: ['a'], signal: new AbortController().signal, deadlineAt: Date.now() + 1000 })),
      'E4203',
    );
    expect(await adapter.healthCheck()).toEqual({ provider: 'openai', status: 'unhealthy', checked_at: clock.now(), message: 'not configured (no api_key)' });
  });

  it('sends no authorization header to a local compatible server', async () => {
    const server = await fixture();
    await openAIAdapter({ base_url: server.url, api_key: '' }).complete(callFor('plain'));
    expect(server.requests[0]!.headers).not.toHaveProperty('authorization');
  });
});

describe('OpenAIAdapter.embed', () => {
  it('returns embeddings in input order with the provider token count', async () => {
    const server = await fixture();
    const result = await openAIAdapter({ base_url: server.url }).embed({
      model: 'embeddings-unordered',
      inputs: ['one', 'two', 'three'],
      signal: new AbortController().signal,
      deadlineAt: Date.now() + 5_000,
    });
    expect(result.embeddings).toHaveLength(3);
    expect(result.embeddings[0]![0]).toBeCloseTo(Math.sin(7.1) * 0.1, 8);
    expect(result.embeddings[2]![0]).toBeCloseTo(Math.sin(21.3) * 0.1, 8);
    expect(result.usage).toEqual({ input_tokens: 9 });
    expect(server.requests[0]).toMatchObject({ path: '/v1/embeddings', body: { model: 'embeddings-unordered', input: ['one', 'two', 'three'] } });
  });

  it('fails with E4600 when the count of embeddings differs from the inputs', async () => {
    const server = await fixture();
    const adapter = openAIAdapter({ base_url: server.url });
    expectCode(
      await rejection(
        adapter.embed({ model: 'text-embedding-3-small', inputs: ['one', 'two'], signal: new AbortController().signal, deadlineAt: Date.now() + 5_000 }),
      ),
      'E4600',
    );
  });

  it('maps an error status like chat does', async () => {
    const server = await fixture();
    const adapter = openAIAdapter({ base_url: server.url });
    expectCode(
      await rejection(adapter.embed({ model: 'error-401', inputs: ['one'], signal: new AbortController().signal, deadlineAt: Date.now() + 5_000 })),
      'E4203',
    );
  });
});

describe('OpenAIAdapter.healthCheck', () => {
  it('is healthy when every expected model is listed, with an authenticated GET /models', async () => {
    const server = await fixture();
    const clock = new FakeClock();
    const health = await openAIAdapter({ base_url: server.url }, { clock }).healthCheck({ expectedModels: ['gpt-4o-mini', 'text-embedding-3-small'] });
    expect(health).toEqual({
      provider: 'openai',
      status: 'healthy',
      checked_at: clock.now(),
      latency_ms: 0,
      models: { 'gpt-4o-mini': true, 'text-embedding-3-small': true },
    });
    expect(server.requests[0]).toMatchObject({ method: 'GET', path: '/v1/models', headers: { authorization: 'Bearer sk-test-0123456789' } });
  });

  it('is degraded, not unhealthy, when an expected model is not listed', async () => {
    const server = await fixture();
    const health = await openAIAdapter({ base_url: server.url }).healthCheck({ expectedModels: ['gpt-4o-mini', 'my-finetune'] });
    expect(health).toMatchObject({ status: 'degraded', models: { 'gpt-4o-mini': true, 'my-finetune': false } });
    expect(health.message).toContain('my-finetune');
  });

  it('is unhealthy when the key is rejected', async () => {
    const server = await fixture();
    server.scenario('error-401');
    const health = await openAIAdapter({ base_url: server.url }).healthCheck();
    expect(health.status).toBe('unhealthy');
    expect(health.message).toMatch(/^E4203/);
  });

  it('is degraded, not unhealthy, when a compatible server answers /models without a model list', async () => {
    const server = await fixture();
    for (const scenario of ['bad-shape', 'error-404'] as const) {
      server.scenario(scenario);
      const health = await openAIAdapter({ base_url: server.url }).healthCheck({ expectedModels: ['gpt-4o-mini'] });
      expect(health.status).toBe('degraded');
      expect(health.models).toBeUndefined();
      expect(health.message).toContain('GET /models gave no model list');
    }
  });

  it('is unhealthy when the connection is refused', async () => {
    const health = await openAIAdapter({ base_url: await refusedBaseUrl() }).healthCheck();
    expect(health).toMatchObject({ status: 'unhealthy' });
    expect(health.message).toContain('connection refused');
  });

  it('is unhealthy when the server hangs, and stops when its signal aborts', async () => {
    const server = await fixture();
    server.scenario('hang');
    const adapter = openAIAdapter({ base_url: server.url, timeout_ms: 100 });
    expect((await adapter.healthCheck()).message).toMatch(/^E4201/);
    const controller = new AbortController();
    const pending = openAIAdapter({ base_url: server.url }).healthCheck({ signal: controller.signal });
    await waitUntil(() => server.requests.length === 2);
    controller.abort();
    expect((await pending).message).toMatch(/^E4507/);
  });
});

describe('OpenAIAdapter.supportsCapability', () => {
  it('supports every capability the API offers', () => {
    const adapter = openAIAdapter({ base_url: 'http://127.0.0.1:1/v1' });
    for (const capability of CAPABILITIES) expect(adapter.supportsCapability(capability)).toBe(true);
  });
});

/** Waits for the fixture to record a request: polls on the event loop, never on a timer. */
async function waitUntil(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 10_000 && !condition(); turn++) await new Promise((resolve) => setImmediate(resolve));
  expect(condition()).toBe(true);
}
