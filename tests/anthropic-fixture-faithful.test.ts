/**
 * The Anthropic fixtures are faithful: the official `@anthropic-ai/sdk`, pointed at the fixture
 * server, parses every payload (answers, streams, tool calls, vision, errors, the model list)
 * without complaint and reads the same values the files hold.
 */
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { onCleanup } from './helpers/cleanup.js';
import { ANTHROPIC_FIXTURE_API_KEY, loadAnthropicFixture, startAnthropicFixture } from './helpers/anthropic-fixture-server.js';
import type { AnthropicFixture, AnthropicFixtureScenario } from './helpers/anthropic-fixture-server.js';

const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';

async function setup(): Promise<{ fixture: AnthropicFixture; client: Anthropic }> {
  const fixture = await startAnthropicFixture();
  onCleanup(() => fixture.close());
  const client = new Anthropic({ apiKey: ANTHROPIC_FIXTURE_API_KEY, baseURL: fixture.url, maxRetries: 0, timeout: 5_000 });
  return { fixture, client };
}

const question = [{ role: 'user' as const, content: 'Why is the sky blue?' }];

describe('Anthropic fixtures, read by @anthropic-ai/sdk', () => {
  it('parses the plain answer', async () => {
    const { client, fixture } = await setup();
    const message = await client.messages.create({ model: 'text', max_tokens: 1024, messages: question });
    expect(message).toEqual(loadAnthropicFixture('message-text.json'));
    expect(message.content[0]?.type).toBe('text');
    // SDK 1.x speaks API version 2026-10-21 with a Bearer key; the fixture accepts that and x-api-key.
    expect(fixture.requests[0]?.headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('parses the tool-use answer', async () => {
    const { client } = await setup();
    const message = await client.messages.create({
      model: 'tool-use',
      max_tokens: 1024,
      tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } } }],
      messages: [{ role: 'user', content: 'Weather in San Francisco?' }],
    });
    expect(message.stop_reason).toBe('tool_use');
    const toolUse = message.content.find((block) => block.type === 'tool_use');
    expect(toolUse).toMatchObject({ id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', input: { location: 'San Francisco, CA', unit: 'celsius' } });
  });

  it('accepts image blocks and parses the vision answer', async () => {
    const { client, fixture } = await setup();
    const message = await client.messages.create({
      model: 'vision',
      max_tokens: 1024,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_BASE64 } },
            { type: 'image', source: { type: 'url', url: 'https://upload.wikimedia.org/ant.jpg' } },
            { type: 'text', text: 'What is in these images?' },
          ],
        },
      ],
    });
    expect(message).toEqual(loadAnthropicFixture('message-vision.json'));
    expect(fixture.requests[0]?.scenario).toBe('vision');
  });

  it('parses the max_tokens answer', async () => {
    const { client } = await setup();
    const message = await client.messages.create({ model: 'max-tokens', max_tokens: 8, messages: question });
    expect(message.stop_reason).toBe('max_tokens');
  });

  it('accumulates the streamed text answer', async () => {
    const { client } = await setup();
    const stream = client.messages.stream({ model: 'text', max_tokens: 1024, messages: question });
    const events: string[] = [];
    stream.on('streamEvent', (event) => events.push(event.type));
    const message = await stream.finalMessage();
    expect(message.content).toHaveLength(1);
    expect(message.content[0]).toMatchObject({ type: 'text', text: 'Hello! The sky is blue because of Rayleigh scattering.' });
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage).toMatchObject({ input_tokens: 25, output_tokens: 15 });
    expect(events[0]).toBe('message_start');
    expect(events.at(-1)).toBe('message_stop');
  });

  it('accumulates the streamed tool calls from input_json_delta', async () => {
    const { client } = await setup();
    const message = await client.messages.stream({ model: 'tool-use', max_tokens: 1024, messages: question }).finalMessage();
    const tools = message.content.filter((block) => block.type === 'tool_use');
    expect(tools).toMatchObject([
      { id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', input: { location: 'San Francisco, CA', unit: 'fahrenheit' } },
      { id: 'toolu_01Hb6Wb9nZ3vYpQ2x8WqKf4c', name: 'get_time', input: {} },
    ]);
    expect(message.stop_reason).toBe('tool_use');
    expect(message.usage.output_tokens).toBe(89);
  });

  it('reads the mid-stream error event as overloaded_error', async () => {
    const { client } = await setup();
    const stream = await client.messages.create({ model: 'stream-overloaded', max_tokens: 1024, messages: question, stream: true });
    const seen: string[] = [];
    const failure = await (async () => {
      for await (const event of stream) seen.push(event.type);
    })().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(seen).toEqual(['message_start', 'content_block_start', 'content_block_delta']);
    expect(failure).toBeInstanceOf(Anthropic.APIError);
    expect((failure as InstanceType<typeof Anthropic.APIError>).type).toBe('overloaded_error');
  });

  const errorCases: Array<[AnthropicFixtureScenario, number, string, new (...args: never[]) => Error]> = [
    ['error-400', 400, 'invalid_request_error', Anthropic.BadRequestError],
    ['error-401', 401, 'authentication_error', Anthropic.AuthenticationError],
    ['error-403', 403, 'permission_error', Anthropic.PermissionDeniedError],
    ['error-404', 404, 'not_found_error', Anthropic.NotFoundError],
    ['error-413', 413, 'request_too_large', Anthropic.APIError],
    ['error-429', 429, 'rate_limit_error', Anthropic.RateLimitError],
    ['error-500', 500, 'api_error', Anthropic.InternalServerError],
    ['error-529', 529, 'overloaded_error', Anthropic.APIError],
  ];
  for (const [scenario, status, type, errorClass] of errorCases) {
    it(`parses the ${status} ${type} body`, async () => {
      const { client } = await setup();
      const error = await client.messages.create({ model: scenario, max_tokens: 16, messages: question }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(errorClass);
      const apiError = error as InstanceType<typeof Anthropic.APIError>;
      expect(apiError.status).toBe(status);
      expect(apiError.type).toBe(type);
      expect(apiError.requestID).toBe('req_011CSHoEeqs5C35K2UUqR7Fy');
      if (status === 429) expect(apiError.headers?.get('retry-after')).toBe('7');
    });
  }

  it('lists the models', async () => {
    const { client } = await setup();
    const page = await client.models.list();
    expect(page.data.map((model) => model.id)).toEqual(['claude-sonnet-4-5-20250929', 'claude-haiku-4-5-20251001', 'claude-opus-4-1-20250805']);
  });

  it('rejects a wrong key with authentication_error', async () => {
    const { fixture } = await setup();
    const client = new Anthropic({ apiKey: 'sk-ant-wrong', baseURL: fixture.url, maxRetries: 0 });
    await expect(client.messages.create({ model: 'text', max_tokens: 16, messages: question })).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
  });
});
