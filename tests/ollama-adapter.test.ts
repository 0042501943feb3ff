/** OllamaAdapter against the Ollama fixture server: chat, streams, embeddings, errors, timeouts, health. */
import { beforeEach, describe, expect, it } from 'vitest';
import type { GatewayError } from '../src/models/error-codes.js';
import { CAPABILITIES } from '../src/models/inference-request.js';
import type { LogicalPrompt } from '../src/models/inference-request.js';
import { ModelConfigSchema } from '../src/models/model-config.js';
import { OllamaProviderSchema } from '../src/models/provider-config.js';
import type { OllamaProviderConfig } from '../src/models/provider-config.js';
import type { ProviderCall, StreamPart } from '../src/providers/base.js';
import { OllamaAdapter } from '../src/providers/ollama-adapter.js';
import type { OllamaAdapterOptions } from '../src/providers/ollama-adapter.js';
import { onCleanup } from './helpers/cleanup.js';
import { FakeClock } from './helpers/fake-clock.js';
import { startOllamaFixture } from './helpers/ollama-fixture-server.js';
import type { OllamaFixture, OllamaScenario } from './helpers/ollama-fixture-server.js';

const PIXEL_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const model = ModelConfigSchema.parse({ id: 'llama3.2', provider: 'ollama', provider_model: 'llama3.2:latest', context_length: 131072 });

let fixture: OllamaFixture;

beforeEach(async () => {
  fixture = await startOllamaFixture();
  onCleanup(() => fixture.close());
});

function adapterFor(url: string, overrides: Partial<OllamaProviderConfig> = {}, options: OllamaAdapterOptions = {}): OllamaAdapter {
  const config: OllamaProviderConfig = { ...OllamaProviderSchema.parse({ type: 'ollama', base_url: url }), id: 'ollama', ...overrides };
  const adapter = new OllamaAdapter(config, options);
  onCleanup(() => adapter.close());
  return adapter;
}

function callWith(prompt: Partial<LogicalPrompt> = {}, overrides: Partial<ProviderCall> = {}): ProviderCall {
  return {
    requestId: 'req_1',
    model,
    prompt: { messages: [{ role: 'user', content: 'Why is the sky blue?' }], ...prompt },
    maxOutputTokens: 256,
    minContextLength: 4096,
    signal: new AbortController().signal,
    deadlineAt: Date.now() + 5_000,
    ...overrides,
  };
}

async function collect(parts: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const out: StreamPart[] = [];
  for await (const part of parts) out.push(part);
  return out;
}

async function failure(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (error) {
    return error as GatewayError;
  }
  throw new Error('expected a failure');
}

function text(parts: StreamPart[]): string {
  return parts.map((part) => (part.type === 'text-delta' ? part.text : '')).join('');
}

/** A URL on which nothing listens: a fixture that was started and closed. */
async function refusedUrl(): Promise<string> {
  const closed = await startOllamaFixture();
  await closed.close();
  return closed.url;
}

const WEATHER = { name: 'get_current_weather', description: 'Get the weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } };

describe('OllamaAdapter.complete', () => {
  it("sends a chat request and reports the answer with Ollama's own token counts", async () => {
    const adapter = adapterFor(fixture.url, { keep_alive: '10m' });
    const result = await adapter.complete(callWith({ system: 'Be brief.', temperature: 0.2, top_p: 0.9, seed: 7, stop: ['\n\n'] }));
    expect(result).toEqual({
      content: 'The sky is blue because of Rayleigh scattering.',
      toolCalls: [],
      finishReason: 'stop',
      rawFinishReason: 'stop',
      usage: { input_tokens: 26, output_tokens: 12, total_tokens: 38 },
    });
    expect(fixture.requests[0]).toMatchObject({ method: 'POST', path: '/api/chat' });
    expect(fixture.requests[0]?.body).toEqual({
      model: 'llama3.2:latest',
      stream: false,
      keep_alive: '10m',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Why is the sky blue?' },
      ],
      options: { num_predict: 256, num_ctx: 4096, temperature: 0.2, top_p: 0.9, seed: 7, stop: ['\n\n'] },
    });
  });

  it('maps done_reason length to a length finish', async () => {
    fixture.scenario('length');
    const result = await adapterFor(fixture.url).complete(callWith());
    expect(result.finishReason).toBe('length');
    expect(result.rawFinishReason).toBe('length');
  });

  it('sends JSON mode and JSON schemas as format', async () => {
    const adapter = adapterFor(fixture.url);
    await adapter.complete(callWith({ response_format: { type: 'json_object' } }));
    const schema = { type: 'object', properties: { age: { type: 'integer' } } };
    await adapter.complete(callWith({ response_format: { type: 'json_schema', json_schema: { name: 'person', schema } } }));
    expect((fixture.requests[0]?.body as { format: unknown }).format).toBe('json');
    expect((fixture.requests[1]?.body as { format: unknown }).format).toEqual(schema);
  });

  it('returns tool calls with stringified arguments and synthesized ids', async () => {
    const result = await adapterFor(fixture.url).complete(callWith({ tools: [WEATHER] }));
    expect(result.toolCalls).toEqual([
      { id: 'call_0', name: 'get_current_weather', arguments: '{"format":"celsius","location":"Paris, FR"}' },
      { id: 'call_1', name: 'get_current_weather', arguments: '{"format":"celsius","location":"Lyon, FR"}' },
    ]);
    expect(result).toMatchObject({ finishReason: 'tool_calls', rawFinishReason: 'stop', usage: { input_tokens: 122, output_tokens: 33 } });
    expect((fixture.requests[0]?.body as { tools: unknown }).tools).toEqual([{ type: 'function', function: WEATHER }]);
  });

  it('sends tool results after the assistant tool calls they answer', async () => {
    await adapterFor(fixture.url).complete(
      callWith({
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: '', tool_calls: [{ id: 'call_0', name: 'get_current_weather', arguments: '{"location":"Paris"}' }] },
          { role: 'tool', tool_call_id: 'call_0', content: '{"temperature":21}' },
        ],
      }),
    );
    expect((fixture.requests[0]?.body as { messages: unknown[] }).messages.slice(1)).toEqual([
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_current_weather', arguments: { location: 'Paris' } } }] },
      { role: 'tool', content: '{"temperature":21}', tool_name: 'get_current_weather' },
    ]);
  });

  it('sends data: URL images as base64 and refuses http(s) image URLs with E4206', async () => {
    const adapter = adapterFor(fixture.url);
    const vision = callWith({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image', url: `data:image/png;base64,${PIXEL_BASE64}` },
          ],
        },
      ],
    });
    const result = await adapter.complete({ ...vision, model: { ...model, provider_model: 'llava:7b' } });
    expect(result.content).toContain('pig');
    expect((fixture.requests[0]?.body as { messages: unknown[] }).messages).toEqual([{ role: 'user', content: 'What is this?', images: [PIXEL_BASE64] }]);
    const remote = callWith({ messages: [{ role: 'user', content: [{ type: 'image', url: 'https://example.com/cat.png' }] }] });
    const error = await failure(adapter.complete(remote));
    expect(error.code).toBe('E4206');
    expect(error.message).toContain('https: image URL cannot be sent');
    expect(fixture.requests).toHaveLength(1);
  });

  it.each<[OllamaScenario, string]>([
    ['bad-request', 'E4206'],
    ['unauthorized', 'E4203'],
    ['forbidden', 'E4203'],
    ['model-not-found', 'E4210'],
    ['route-not-found', 'E4206'],
    ['rate-limited', 'E4204'],
    ['server-error', 'E4202'],
    ['overloaded', 'E4205'],
    ['malformed', 'E4600'],
    ['schema-mismatch', 'E4600'],
    ['truncated', 'E4600'],
  ])('maps the %s scenario to %s', async (scenario, code) => {
    fixture.scenario(scenario);
    const error = await failure(adapterFor(fixture.url).complete(callWith()));
    expect(error.code).toBe(code);
    expect(error.details['provider']).toBe('ollama');
  });

  it('carries Retry-After on E4204 as retryAfterMs', async () => {
    fixture.scenario('rate-limited');
    const error = await failure(adapterFor(fixture.url).complete(callWith()));
    expect(error).toMatchObject({ code: 'E4204', retryable: true, retryAfterMs: 7_000 });
  });

  it("keeps Ollama's error text in the message of a mapped error", async () => {
    fixture.scenario('model-not-found');
    const error = await failure(adapterFor(fixture.url).complete(callWith()));
    expect(error.message).toContain('not found, try pulling it first');
    expect(error.details['upstream_status']).toBe(404);
  });

  it('fails with E4200 when nothing listens', async () => {
    const error = await failure(adapterFor(await refusedUrl()).complete(callWith()));
    expect(error.code).toBe('E4200');
    expect(error.message).toContain('connection refused');
  });

  it('times out with E4201 when no first byte arrives', async () => {
    fixture.scenario('hang');
    const error = await failure(adapterFor(fixture.url, { first_byte_timeout_ms: 100 }).complete(callWith()));
    expect(error.code).toBe('E4201');
  });

  it("times out with E4201 at the whole-request bound, and with the caller's E4510 at its deadline", async () => {
    fixture.scenario('hang');
    const bounded = await failure(adapterFor(fixture.url, { timeout_ms: 100 }).complete(callWith()));
    expect(bounded.code).toBe('E4201');
    const deadline = await failure(adapterFor(fixture.url).complete(callWith({}, { deadlineAt: Date.now() + 100 })));
    expect(deadline.code).toBe('E4510');
  });

  it('stops with E4507 when the caller aborts, and closes the upstream request', async () => {
    fixture.scenario('hang');
    const controller = new AbortController();
    const pending = failure(adapterFor(fixture.url).complete(callWith({}, { signal: controller.signal })));
    const request = await fixture.nextRequest();
    controller.abort();
    expect((await pending).code).toBe('E4507');
    expect(await request.closed).toBe(true);
  });
});

describe('OllamaAdapter.stream', () => {
  it("streams text deltas and ends with one finish carrying Ollama's counts", async () => {
    const parts = await collect(adapterFor(fixture.url).stream(callWith()));
    expect(text(parts)).toBe('The sky is blue because of Rayleigh scattering.');
    expect(parts.filter((part) => part.type === 'finish' || part.type === 'error')).toHaveLength(1);
    expect(parts.at(-1)).toEqual({
      type: 'finish',
      finishReason: 'stop',
      rawFinishReason: 'stop',
      usage: { input_tokens: 26, output_tokens: 10, total_tokens: 36 },
    });
    expect(fixture.requests[0]?.body).toMatchObject({ stream: true, model: 'llama3.2:latest' });
  });

  it('streams a length finish', async () => {
    fixture.scenario('length');
    const parts = await collect(adapterFor(fixture.url).stream(callWith()));
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'length', usage: { output_tokens: 4 } });
  });

  it('streams each tool call as one delta with index, id, name and arguments', async () => {
    const parts = await collect(adapterFor(fixture.url).stream(callWith({ tools: [WEATHER] })));
    expect(parts).toEqual([
      { type: 'text-delta', text: 'Let me check.' },
      { type: 'tool-call-delta', index: 0, id: 'call_0', name: 'get_current_weather', argumentsDelta: '{"format":"celsius","location":"Toronto"}' },
      { type: 'tool-call-delta', index: 1, id: 'call_1', name: 'get_current_time', argumentsDelta: '{"timezone":"America/Toronto"}' },
      { type: 'finish', finishReason: 'tool_calls', rawFinishReason: 'stop', usage: { input_tokens: 215, output_tokens: 61, total_tokens: 276 } },
    ]);
  });

  it('streams an answer about an image', async () => {
    const vision = callWith({ messages: [{ role: 'user', content: [{ type: 'image', url: `data:image/png;base64,${PIXEL_BASE64}` }] }] });
    const parts = await collect(adapterFor(fixture.url).stream(vision));
    expect(text(parts)).toBe(' The image features a cute pig.');
    expect(parts.at(-1)?.type).toBe('finish');
  });

  it.each<[OllamaScenario, string]>([
    ['truncated', 'E4208'],
    ['stream-error', 'E4202'],
    ['malformed', 'E4600'],
    ['reset', 'E4200'],
  ])('ends a %s stream with an error part (%s), never a finish', async (scenario, code) => {
    fixture.scenario(scenario);
    const parts = await collect(adapterFor(fixture.url).stream(callWith()));
    expect(parts.some((part) => part.type === 'text-delta')).toBe(true);
    expect(parts.some((part) => part.type === 'finish')).toBe(false);
    const last = parts.at(-1);
    expect(last?.type).toBe('error');
    expect(last?.type === 'error' && last.error.code).toBe(code);
  });

  it('ends a stalled stream with E4201 after the chunk gap', async () => {
    fixture.scenario('stall');
    const parts = await collect(adapterFor(fixture.url, { chunk_gap_timeout_ms: 100 }).stream(callWith()));
    expect(text(parts)).toBe('The sky');
    expect(parts.at(-1)).toMatchObject({ type: 'error', error: { code: 'E4201' } });
  });

  it.each<[OllamaScenario, string]>([
    ['unauthorized', 'E4203'],
    ['model-not-found', 'E4210'],
    ['rate-limited', 'E4204'],
    ['server-error', 'E4202'],
  ])('throws the %s status from the first next() as %s', async (scenario, code) => {
    fixture.scenario(scenario);
    const error = await failure(collect(adapterFor(fixture.url).stream(callWith())));
    expect(error.code).toBe(code);
  });

  it('throws E4200 and E4201 from the first next() before any part', async () => {
    expect((await failure(collect(adapterFor(await refusedUrl()).stream(callWith())))).code).toBe('E4200');
    fixture.scenario('hang');
    expect((await failure(collect(adapterFor(fixture.url, { timeout_ms: 100 }).stream(callWith())))).code).toBe('E4201');
  });

  it('aborts the upstream request when the consumer stops iterating', async () => {
    fixture.scenario('stall');
    for await (const part of adapterFor(fixture.url).stream(callWith())) {
      expect(part.type).toBe('text-delta');
      break;
    }
    expect(await fixture.requests[0]?.closed).toBe(true);
  });

  it('ends with an E4507 error part when the caller aborts mid-stream', async () => {
    fixture.scenario('stall');
    const controller = new AbortController();
    const parts: StreamPart[] = [];
    for await (const part of adapterFor(fixture.url).stream(callWith({}, { signal: controller.signal }))) {
      parts.push(part);
      if (parts.length === 1) controller.abort();
    }
    expect(parts.at(-1)).toMatchObject({ type: 'error', error: { code: 'E4507' } });
    expect(await fixture.requests[0]?.closed).toBe(true);
  });
});

describe('OllamaAdapter.embed', () => {
  it('embeds a batch in one /api/embed request', async () => {
    const inputs = ['Why is the sky blue?', 'Why is the grass green?', 'Why is snow white?'];
    const result = await adapterFor(fixture.url, { keep_alive: -1 }).embed({
      model: 'nomic-embed-text',
      inputs,
      signal: new AbortController().signal,
      deadlineAt: Date.now() + 5_000,
    });
    expect(result.embeddings).toHaveLength(3);
    expect(result.embeddings[0]?.[0]).toBeCloseTo(0.010071029);
    expect(result.usage).toEqual({ input_tokens: 16 });
    expect(fixture.requests).toHaveLength(1);
    expect(fixture.requests[0]).toMatchObject({ path: '/api/embed', body: { model: 'nomic-embed-text', input: inputs, keep_alive: -1 } });
  });

  it('maps embedding failures like chat failures', async () => {
    const call = { model: 'nomic-embed-text', inputs: ['a'], signal: new AbortController().signal, deadlineAt: Date.now() + 5_000 };
    fixture.scenario('model-not-found');
    expect((await failure(adapterFor(fixture.url).embed(call))).code).toBe('E4210');
    fixture.scenario('malformed');
    expect((await failure(adapterFor(fixture.url).embed(call))).code).toBe('E4600');
  });
});

describe('OllamaAdapter.healthCheck', () => {
  it('is healthy when every expected model is pulled, matching untagged names to :latest', async () => {
    const clock = new FakeClock();
    const health = await adapterFor(fixture.url, {}, { clock }).healthCheck({ expectedModels: ['llama3.2', 'nomic-embed-text', 'llava:7b'] });
    expect(health).toEqual({
      provider: 'ollama',
      status: 'healthy',
      checked_at: clock.now(),
      latency_ms: 0,
      version: '0.12.6',
      models: { 'llama3.2': true, 'nomic-embed-text': true, 'llava:7b': true },
    });
    expect(fixture.requests.map((request) => request.path).sort()).toEqual(['/api/tags', '/api/version']);
  });

  it('is degraded with an ollama pull hint for each missing model', async () => {
    const health = await adapterFor(fixture.url).healthCheck({ expectedModels: ['llama3.2:latest', 'qwen3:8b', 'llava'] });
    expect(health.status).toBe('degraded');
    expect(health.models).toEqual({ 'llama3.2:latest': true, 'qwen3:8b': false, llava: false });
    expect(health.hints).toEqual(['ollama pull qwen3:8b', 'ollama pull llava']);
    expect(health.message).toContain('qwen3:8b');
  });

  it('is unhealthy with a clear line when Ollama is not running', async () => {
    const url = await refusedUrl();
    const health = await adapterFor(url).healthCheck({ expectedModels: ['llama3.2'] });
    expect(health.status).toBe('unhealthy');
    expect(health.message).toBe(`Ollama is not running at ${url} (connection refused)`);
  });

  it.each<[OllamaScenario, string]>([
    ['server-error', 'answered 500'],
    ['malformed', 'not JSON'],
    ['hang', 'did not answer in time'],
  ])('is unhealthy in the %s scenario', async (scenario, message) => {
    fixture.scenario(scenario);
    const health = await adapterFor(fixture.url, {}, { healthTimeoutMs: 100 }).healthCheck();
    expect(health.status).toBe('unhealthy');
    expect(health.message).toContain(message);
  });
});

describe('OllamaAdapter metadata', () => {
  it("shows a model's context length and capabilities", async () => {
    const info = await adapterFor(fixture.url).showModel('llama3.2');
    expect(info).toEqual({
      name: 'llama3.2',
      contextLength: 131072,
      capabilities: ['completion', 'tools'],
      family: 'llama',
      parameterSize: '3.2B',
      quantizationLevel: 'Q4_K_M',
    });
    expect(fixture.requests[0]).toMatchObject({ path: '/api/show', body: { model: 'llama3.2' } });
  });

  it('throws E4210 for a model that is not pulled', async () => {
    fixture.scenario('model-not-found');
    expect((await failure(adapterFor(fixture.url).showModel('qwen3'))).code).toBe('E4210');
  });

  it('lists pulled models', async () => {
    expect(await adapterFor(fixture.url).listModels()).toEqual(['llama3.2:latest', 'nomic-embed-text:latest', 'llava:7b']);
  });

  it('supports every capability', () => {
    const adapter = adapterFor(fixture.url);
    expect(CAPABILITIES.every((capability) => adapter.supportsCapability(capability))).toBe(true);
    expect(adapter).toMatchObject({ id: 'ollama', type: 'ollama' });
  });
});
