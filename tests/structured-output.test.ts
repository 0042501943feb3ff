/**
 * Structured output on every provider type, through the clients agents are built on: the Vercel
 * AI SDK's `generateObject` (its default OpenAI provider speaks the Responses API) and LangChain's
 * `withStructuredOutput` (Chat Completions with a JSON schema). Anthropic serves it with a forced
 * tool, Ollama with `format` holding the schema, OpenAI with `response_format`, the mock with a
 * value built from the schema.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateObject, streamText } from 'ai';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startFacesGateway } from './helpers/faces.js';

const City = z.object({ city: z.string(), country: z.string(), population: z.number() });
const Event = z.object({ name: z.string(), date: z.string(), participants: z.array(z.string()) });
const paris = { city: 'Paris', country: 'France', population: 2102650 };

describe("the AI SDK's generateObject", () => {
  it.each([
    ['claude-json', 'anthropic', City, paris],
    ['llama', 'ollama', City, paris],
    ['gpt-json', 'openai', Event, { name: 'Science fair', date: 'Friday', participants: ['Alice', 'Bob'] }],
  ] as const)('returns an object from %s (%s)', async (model, provider, schema, expected) => {
    const { url, anthropic, ollama, openai } = await startFacesGateway();
    const gateway = createOpenAI({ baseURL: `${url}/v1`, apiKey: 'unused-key' });
    const result = await generateObject({ model: gateway(model), schema, prompt: 'Tell me about the capital of France.', maxRetries: 0 });
    expect(result.object).toEqual(expected);
    const upstream = { anthropic, ollama, openai }[provider].requests.at(-1)?.body as Record<string, unknown>;
    if (provider === 'anthropic') expect(upstream.tool_choice).toEqual({ type: 'tool', name: 'json_response' });
    if (provider === 'ollama') expect(upstream.format).toMatchObject({ type: 'object', required: ['city', 'country', 'population'] });
    if (provider === 'openai') expect(upstream.response_format).toMatchObject({ type: 'json_schema' });
  });

  it('returns an object valid against the schema from the mock', async () => {
    const { url } = await startFacesGateway();
    const gateway = createOpenAI({ baseURL: `${url}/v1`, apiKey: 'unused-key' });
    const Order = z.object({
      id: z.string().uuid(),
      items: z.array(z.object({ sku: z.string(), quantity: z.number().int().min(1) })).min(2),
      status: z.enum(['open', 'shipped']),
      note: z.string().nullable(),
    });
    const result = await generateObject({ model: gateway('mock-1'), schema: Order, prompt: 'An order, please.', maxRetries: 0 });
    expect(Order.parse(result.object)).toEqual(result.object);
    expect(result.object.items).toHaveLength(2);
  });
});

describe("the AI SDK's default OpenAI provider (Responses)", () => {
  it.each(['claude', 'llama', 'gpt', 'mock-1'])('streams text from %s', async (model) => {
    const { url } = await startFacesGateway();
    const gateway = createOpenAI({ baseURL: `${url}/v1`, apiKey: 'unused-key' });
    const result = streamText({ model: gateway(model), system: 'Be brief.', prompt: 'Why is the sky blue?', maxRetries: 0 });
    let text = '';
    for await (const delta of result.textStream) text += delta;
    expect(text.length).toBeGreaterThan(10);
    expect(await result.finishReason).toBe('stop');
    expect((await result.usage).outputTokens).toBeGreaterThan(0);
  });
});

describe("LangChain's withStructuredOutput", () => {
  it.each([
    ['claude-json', City, paris],
    ['llama', City, paris],
    ['mock-1', City, undefined],
  ] as const)('returns an object from %s', async (model, schema, expected) => {
    const { url } = await startFacesGateway();
    const chat = new ChatOpenAI({ model, apiKey: 'unused-key', configuration: { baseURL: `${url}/v1` }, maxRetries: 0 });
    const answer = await chat.withStructuredOutput(schema).invoke('Tell me about the capital of France.');
    expect(schema.parse(answer)).toEqual(answer);
    if (expected !== undefined) expect(answer).toEqual(expected);
  });
});
