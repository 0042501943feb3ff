/**
 * The fixtures are faithful: the official `openai` client, pointed at the fixture server, parses every
 * payload (plain, streamed, tool calls, vision, JSON schema, embeddings, models, errors).
 */
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { onCleanup } from './helpers/cleanup.js';
import { startOpenAIFixture } from './helpers/openai-fixture-server.js';
import type { OpenAIFixture, OpenAIScenarioName } from './helpers/openai-fixture-server.js';

async function setup(): Promise<{ fixture: OpenAIFixture; client: OpenAI }> {
  const fixture = await startOpenAIFixture();
  onCleanup(() => fixture.close());
  const client = new OpenAI({ baseURL: fixture.url, apiKey: 'sk-fixture-test-key', maxRetries: 0, timeout: 2_000 });
  return { fixture, client };
}

const user = (content: string): OpenAI.Chat.ChatCompletionMessageParam => ({ role: 'user', content });

describe('OpenAI fixture server, read by the official openai client', () => {
  it('serves a plain answer the client parses', async () => {
    const { client } = await setup();
    const completion = await client.chat.completions.create({ model: 'plain', messages: [user('Why is the sky blue?')] });
    expect(completion.choices[0]!.message.content).toBe('The sky looks blue because air scatters short blue wavelengths of sunlight more than red ones.');
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.usage).toMatchObject({ prompt_tokens: 19, completion_tokens: 18, total_tokens: 37 });
  });

  it('streams an answer the client accumulates, usage chunk included', async () => {
    const { client } = await setup();
    const runner = client.chat.completions.stream({ model: 'plain', messages: [user('Why is the sky blue?')], stream_options: { include_usage: true } });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe('The sky looks blue because air scatters short blue wavelengths of sunlight more than red ones.');
    expect(final.choices[0]!.finish_reason).toBe('stop');
    expect(final.usage).toMatchObject({ prompt_tokens: 19, completion_tokens: 18 });
  });

  it('serves tool calls, whole and streamed by index, that the client assembles', async () => {
    const { client } = await setup();
    const tools: OpenAI.Chat.ChatCompletionTool[] = [
      {
        type: 'function',
        function: { name: 'get_current_weather', parameters: { type: 'object', properties: { location: { type: 'string' }, unit: { type: 'string' } } } },
      },
    ];
    const whole = await client.chat.completions.create({ model: 'tool-call', messages: [user('Weather in Boston and Paris?')], tools });
    const streamed = await client.chat.completions
      .stream({ model: 'tool-call', messages: [user('Weather in Boston and Paris?')], tools, stream_options: { include_usage: true } })
      .finalChatCompletion();
    for (const completion of [whole, streamed]) {
      const calls = completion.choices[0]!.message.tool_calls!.map((call) =>
        call.type === 'function' ? [call.id, call.function.name, JSON.parse(call.function.arguments)] : [],
      );
      expect(calls).toEqual([
        ['call_DdmO9pD3xa9XTPNJ32zg2hcA', 'get_current_weather', { location: 'Boston, MA', unit: 'celsius' }],
        ['call_8wYv0mZ5v1Jp6Yb3sE2kQf9L', 'get_current_weather', { location: 'Paris, France', unit: 'celsius' }],
      ]);
      expect(completion.choices[0]!.finish_reason).toBe('tool_calls');
    }
    expect(streamed.usage?.completion_tokens).toBe(51);
  });

  it('accepts vision input and rejects a vision request without an image', async () => {
    const { client } = await setup();
    const completion = await client.chat.completions.create({
      model: 'vision',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in this image?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } },
          ],
        },
      ],
    });
    expect(completion.choices[0]!.message.content).toContain('boardwalk');
    await expect(client.chat.completions.create({ model: 'vision', messages: [user('no image')] })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('serves a JSON-schema answer whose content parses', async () => {
    const { client } = await setup();
    const completion = await client.chat.completions.create({
      model: 'json-schema',
      messages: [user('Extract the event')],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'event', strict: true, schema: { type: 'object', properties: { name: { type: 'string' } } } },
      },
    });
    expect(JSON.parse(completion.choices[0]!.message.content!)).toMatchObject({ name: 'Science fair', participants: ['Alice', 'Bob'] });
  });

  it('serves embeddings as floats and as base64, and lists models', async () => {
    const { client } = await setup();
    const input = ['one', 'two', 'three'];
    const floats = await client.embeddings.create({ model: 'text-embedding-3-small', input, encoding_format: 'float' });
    const decoded = await client.embeddings.create({ model: 'text-embedding-3-small', input });
    expect(floats.data.map((item) => item.index)).toEqual([0, 1, 2]);
    expect(floats.usage.prompt_tokens).toBe(9);
    for (const [index, item] of decoded.data.entries()) {
      expect(item.embedding).toHaveLength(8);
      item.embedding.forEach((value, position) => expect(value).toBeCloseTo(floats.data[index]!.embedding[position]!, 6));
    }
    const models: string[] = [];
    for await (const model of client.models.list()) models.push(model.id);
    expect(models).toContain('gpt-4o-mini');
  });

  it.each([
    ['error-400', OpenAI.BadRequestError, 400, 'decimal_above_max_value'],
    ['error-401', OpenAI.AuthenticationError, 401, 'invalid_api_key'],
    ['error-403', OpenAI.PermissionDeniedError, 403, 'unsupported_country_region_territory'],
    ['error-404', OpenAI.NotFoundError, 404, 'model_not_found'],
    ['error-429', OpenAI.RateLimitError, 429, 'rate_limit_exceeded'],
    ['error-429-quota', OpenAI.RateLimitError, 429, 'insufficient_quota'],
    ['error-500', OpenAI.InternalServerError, 500, null],
    ['error-503', OpenAI.InternalServerError, 503, null],
    ['error-context-length', OpenAI.BadRequestError, 400, 'context_length_exceeded'],
  ] as const)('serves %s as an error the client classifies', async (scenario: OpenAIScenarioName, errorClass, status, code) => {
    const { client } = await setup();
    const error: unknown = await client.chat.completions.create({ model: scenario, messages: [user('hi')] }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(errorClass);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(status);
    expect((error as InstanceType<typeof OpenAI.APIError>).code ?? null).toBe(code);
  });

  it('sends Retry-After on a rate limit', async () => {
    const { client } = await setup();
    const error = (await client.chat.completions.create({ model: 'error-429', messages: [user('hi')] }).catch((caught: unknown) => caught)) as InstanceType<
      typeof OpenAI.APIError
    >;
    expect(error.headers?.get('retry-after')).toBe('20');
  });

  it('sends an error mid-stream that the client raises', async () => {
    const { client } = await setup();
    const stream = await client.chat.completions.create({ model: 'stream-error', messages: [user('hi')], stream: true });
    const texts: string[] = [];
    await expect(
      (async () => {
        for await (const chunk of stream) texts.push(chunk.choices[0]?.delta.content ?? '');
      })(),
    ).rejects.toBeInstanceOf(OpenAI.APIError);
    expect(texts.join('')).toBe('The sky');
  });
});
