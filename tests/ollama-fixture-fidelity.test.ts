/**
 * The fixtures are faithful: the official `ollama` npm client, pointed at the fixture server,
 * parses every payload (plain, streamed, tool calls, vision, embeddings, metadata, errors) without
 * complaint, and rejects the damaged ones the way it rejects a damaged Ollama.
 */
import { Ollama } from 'ollama';
import type { ChatResponse } from 'ollama';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { onCleanup } from './helpers/cleanup.js';
import { startOllamaFixture } from './helpers/ollama-fixture-server.js';
import type { OllamaFixture, OllamaScenario } from './helpers/ollama-fixture-server.js';

/** A 1×1 PNG. */
const PIXEL = Uint8Array.from(Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64'));
const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_current_weather',
    description: 'Get the weather',
    parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
  },
};

let fixture: OllamaFixture;
let client: Ollama;
let warnings: unknown[][];

beforeEach(async () => {
  fixture = await startOllamaFixture();
  onCleanup(() => fixture.close());
  client = new Ollama({ host: fixture.url });
  warnings = [];
  // The client only warns (console.warn) on a stream line that is not JSON; collect those.
  const spy = vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => void warnings.push(args));
  onCleanup(() => spy.mockRestore());
});

async function collect(stream: AsyncIterable<ChatResponse>): Promise<ChatResponse[]> {
  const parts: ChatResponse[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

async function rejection(promise: Promise<unknown>): Promise<{ status_code?: number; error?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { status_code?: number; error?: string; message: string };
  }
  throw new Error('expected a rejection');
}

describe('Ollama fixture server, read by the official ollama client', () => {
  it('serves a plain chat answer', async () => {
    const response = await client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'Why is the sky blue?' }], stream: false });
    expect(response.message).toEqual({ role: 'assistant', content: 'The sky is blue because of Rayleigh scattering.' });
    expect(response).toMatchObject({ done: true, done_reason: 'stop', prompt_eval_count: 26, eval_count: 12 });
    expect(fixture.requests[0]).toMatchObject({ method: 'POST', path: '/api/chat', body: { model: 'llama3.2', stream: false } });
  });

  it('streams a chat answer that ends with a done line', async () => {
    const parts = await collect(await client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'Why is the sky blue?' }], stream: true }));
    expect(parts.map((part) => part.message.content).join('')).toBe('The sky is blue because of Rayleigh scattering.');
    expect(parts.at(-1)).toMatchObject({ done: true, done_reason: 'stop', prompt_eval_count: 26, eval_count: 10 });
    expect(fixture.requests[0]?.headers['content-type']).toBe('application/json');
    expect(warnings).toEqual([]);
  });

  it('serves tool calls with object arguments, whole and streamed', async () => {
    const whole = await client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [WEATHER_TOOL], stream: false });
    expect(whole.message.tool_calls).toEqual([
      { function: { name: 'get_current_weather', arguments: { format: 'celsius', location: 'Paris, FR' } } },
      { function: { name: 'get_current_weather', arguments: { format: 'celsius', location: 'Lyon, FR' } } },
    ]);
    const parts = await collect(
      await client.chat({ model: 'qwen3', messages: [{ role: 'user', content: 'Weather in Toronto?' }], tools: [WEATHER_TOOL], stream: true }),
    );
    const calls = parts.flatMap((part) => part.message.tool_calls ?? []);
    expect(calls.map((call) => call.function.name)).toEqual(['get_current_weather', 'get_current_time']);
    expect(calls[0]?.function.arguments).toEqual({ format: 'celsius', location: 'Toronto' });
    expect(parts.at(-1)?.done).toBe(true);
    expect(warnings).toEqual([]);
  });

  it('accepts vision input as base64 images', async () => {
    const response = await client.chat({ model: 'llava', messages: [{ role: 'user', content: 'What is in this picture?', images: [PIXEL] }], stream: false });
    expect(response.message.content).toContain('pig');
    const sent = fixture.requests[0]?.body as { messages: Array<{ images: string[] }> };
    expect(sent.messages[0]?.images[0]).toBe(Buffer.from(PIXEL).toString('base64'));
  });

  it('returns one embedding per input of a batch', async () => {
    const response = await client.embed({ model: 'nomic-embed-text', input: ['Why is the sky blue?', 'Why is the grass green?', 'Why is snow white?'] });
    expect(response.embeddings).toHaveLength(3);
    expect(response.embeddings[0]).toHaveLength(8);
    expect(response.model).toBe('nomic-embed-text');
  });

  it('lists pulled models, shows one and reports the version', async () => {
    const list = await client.list();
    expect(list.models.map((model) => model.name)).toEqual(['llama3.2:latest', 'nomic-embed-text:latest', 'llava:7b']);
    const show = await client.show({ model: 'llama3.2' });
    expect((show.model_info as unknown as Record<string, unknown>)['llama.context_length']).toBe(131072);
    expect(show.capabilities).toContain('tools');
    expect(await client.version()).toEqual({ version: '0.12.6' });
  });

  it.each<[OllamaScenario, number, string]>([
    ['bad-request', 400, 'does not support tools'],
    ['unauthorized', 401, 'unauthorized'],
    ['forbidden', 403, 'forbidden'],
    ['model-not-found', 404, 'not found, try pulling it first'],
    ['rate-limited', 429, 'too many requests'],
    ['server-error', 500, 'llama runner process has terminated'],
    ['overloaded', 503, 'server busy'],
  ])('answers the %s scenario with status %i and an Ollama error body', async (scenario, status, text) => {
    fixture.scenario(scenario);
    const error = await rejection(client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false }));
    expect(error.status_code).toBe(status);
    expect(error.error).toContain(text);
  });

  it('selects a scenario by model name', async () => {
    const error = await rejection(client.chat({ model: 'scenario/rate-limited', messages: [{ role: 'user', content: 'hi' }], stream: false }));
    expect(error.status_code).toBe(429);
    const response = await client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false });
    expect(response.done).toBe(true);
  });

  it('sends Retry-After with the 429', async () => {
    fixture.scenario('rate-limited');
    const response = await fetch(`${fixture.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'llama3.2', messages: [] }) });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('7');
  });

  it('makes the client fail on a mid-stream error line and on a stream without its done line', async () => {
    fixture.scenario('stream-error');
    const failed = await rejection(collect(await client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true })));
    expect(failed.message).toContain('an error was encountered while running the model');
    fixture.scenario('truncated');
    const cut = await rejection(collect(await client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true })));
    expect(cut.message).toContain('Did not receive done');
  });

  it('serves bodies that are not valid', async () => {
    fixture.scenario('malformed');
    await expect(client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false })).rejects.toThrow(SyntaxError);
    await rejection(collect(await client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true })));
    expect(warnings.length).toBeGreaterThan(0);
  });

  it('rejects an image that is not base64 as Ollama does', async () => {
    const error = await rejection(
      client.chat({ model: 'llava', messages: [{ role: 'user', content: 'look', images: ['https://example.com/cat.png'] }], stream: false }),
    );
    expect(error.status_code).toBe(400);
  });
});
