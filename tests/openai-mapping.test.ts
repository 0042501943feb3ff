/** The OpenAI adapter's pure parts: request building, finish reasons and error mapping. */
import { MockAgent } from 'undici';
import { describe, expect, it } from 'vitest';
import { buildOpenAIChatRequest } from '../src/providers/openai/build-openai-chat-request.js';
import { mapOpenAIError, mapOpenAIStreamError } from '../src/providers/openai/map-openai-error.js';
import { mapOpenAIFinishReason } from '../src/providers/openai/map-openai-finish-reason.js';
import { OpenAIChatResponseSchema, isOpenAIChatResponse } from '../src/providers/openai/openai-api.js';
import { onCleanup } from './helpers/cleanup.js';
import { seededRandom } from './helpers/fuzz-cases.js';
import { slotsOf } from './helpers/generated-inputs.js';
import { callFor, openAIAdapter, readOpenAIFixture } from './helpers/openai-fixture-server.js';

describe('mapOpenAIFinishReason', () => {
  it.each([
    ['stop', 'stop'],
    ['length', 'length'],
    ['tool_calls', 'tool_calls'],
    ['function_call', 'tool_calls'],
    ['content_filter', 'content_filter'],
    ['eos_token', 'other'],
  ] as const)('maps %s to %s and keeps the raw value', (raw, unified) => {
    expect(mapOpenAIFinishReason(raw)).toEqual({ finishReason: unified, rawFinishReason: raw });
  });

  it('maps a missing reason to other', () => {
    expect(mapOpenAIFinishReason(null)).toEqual({ finishReason: 'other', rawFinishReason: undefined });
  });
});

describe('buildOpenAIChatRequest', () => {
  it('leaves out what the prompt does not set, and stream fields when not streaming', () => {
    const request = buildOpenAIChatRequest(callFor('gpt-4o-mini', { response_format: { type: 'text' }, stop: [], tool_choice: 'required' }), {
      stream: false,
      maxTokensField: 'max_tokens',
    });
    expect(request).toEqual({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Why is the sky blue?' }], max_tokens: 256 });
  });

  it('keeps an assistant text turn that also called tools', () => {
    const request = buildOpenAIChatRequest(
      callFor('gpt-4o-mini', {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'Let me check.', tool_calls: [{ id: 'call_1', name: 'lookup', arguments: '{}' }] },
        ],
      }),
      { stream: true, maxTokensField: 'max_tokens' },
    );
    expect(request.messages[1]).toEqual({
      role: 'assistant',
      content: 'Let me check.',
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{}' } }],
    });
    expect(request).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it("puts the caller's OpenAI fields first, lets the gateway's own win, and drops their stream fields when not streaming", () => {
    const openai = { logprobs: true, model: 'other', messages: [], stream: true, stream_options: { include_usage: false } };
    const request = buildOpenAIChatRequest(callFor('gpt-4o-mini', { provider_options: { openai } }), { stream: false, maxTokensField: 'max_tokens' });
    expect(request).toEqual({ logprobs: true, model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Why is the sky blue?' }], max_tokens: 256 });
    expect(Object.keys(request)).toEqual(['logprobs', 'model', 'messages', 'max_tokens']);
    const streamed = buildOpenAIChatRequest(callFor('gpt-4o-mini', { provider_options: { openai } }), { stream: true, maxTokensField: 'max_tokens' });
    expect(streamed).toMatchObject({ logprobs: true, stream: true, stream_options: { include_usage: true } });
  });
});

describe('mapOpenAIError', () => {
  const error = (status: number, body: unknown, headers: Record<string, string> = {}) => mapOpenAIError('openai', status, headers, body);

  it('maps each recorded OpenAI error body by status and code', () => {
    const fixture = (name: string): unknown => JSON.parse(readOpenAIFixture(name));
    expect(error(400, fixture('error-400.json')).code).toBe('E4206');
    expect(error(400, fixture('error-context-length.json')).code).toBe('E4207');
    expect(error(404, fixture('error-404.json')).code).toBe('E4210');
    expect(error(401, fixture('error-401.json')).code).toBe('E4203');
    expect(error(429, fixture('error-429.json'), { 'retry-after': '3' })).toMatchObject({ code: 'E4204', retryAfterMs: 3000 });
    expect(error(500, fixture('error-500.json')).code).toBe('E4202');
  });

  it('reads the error shapes of compatible servers', () => {
    // llama.cpp's server: numeric code, its own type for an oversized prompt.
    expect(error(400, { error: { code: 400, message: 'the request exceeds the available context size', type: 'exceed_context_size_error' } }).code).toBe(
      'E4207',
    );
    // Older vLLM: a flat error object.
    expect(error(400, { object: 'error', message: 'too long', type: 'BadRequestError', param: null, code: 'context_length_exceeded' }).code).toBe('E4207');
    // LM Studio: the error as a bare string.
    expect(error(404, { error: 'Unexpected endpoint or method. (POST /v1/chat)' })).toMatchObject({
      code: 'E4206',
      logDetail: expect.stringContaining('Unexpected endpoint'),
    });
  });

  it('decides from the status alone when the body is not an error body', () => {
    expect(error(502, undefined).code).toBe('E4202');
    expect(error(403, { unexpected: true }).code).toBe('E4203');
  });

  it('never classifies by message text', () => {
    expect(error(400, { error: { message: 'maximum context length exceeded', type: 'invalid_request_error', code: null } }).code).toBe('E4206');
  });

  it('redacts a key echoed in the upstream message', () => {
    expect(
      error(401, { error: { message: 'Incorrect API key provided: sk-abcdefghijklmnop', type: 'invalid_request_error', code: 'invalid_api_key' } }).message,
    ).not.toContain('sk-abcdefghijklmnop');
  });
});

describe('mapOpenAIStreamError', () => {
  it.each([
    [{ type: 'server_error', message: 'boom', code: null }, 'E4202'],
    [{ type: 'requests', message: 'slow down', code: 'rate_limit_exceeded' }, 'E4204'],
    [{ type: 'invalid_request_error', message: 'bad', code: 'context_length_exceeded' }, 'E4207'],
    [{ type: 'invalid_request_error', message: 'bad', code: null }, 'E4206'],
    [{ message: 'overloaded', code: 503 }, 'E4202'],
  ] as const)('maps %j to %s', (body, code) => {
    expect(mapOpenAIStreamError('openai', body).code).toBe(code);
  });
});

describe('OpenAIAdapter on api.openai.com', () => {
  it('sends max_completion_tokens there, which its reasoning models require', async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    onCleanup(() => agent.close());
    let sent: unknown;
    agent
      .get('https://api.openai.com')
      .intercept({ path: '/v1/chat/completions', method: 'POST' })
      .reply(200, (options) => {
        sent = JSON.parse(String(options.body));
        return readOpenAIFixture('chat-completion.json');
      });
    const adapter = openAIAdapter({ base_url: 'https://api.openai.com/v1' }, { dispatcher: agent });
    const result = await adapter.complete(callFor('gpt-4o-mini'));
    expect(result.usage.total_tokens).toBe(37);
    expect(sent).toMatchObject({ model: 'gpt-4o-mini', max_completion_tokens: 256 });
    expect(sent).not.toHaveProperty('max_tokens');
  });
});

describe('isOpenAIChatResponse, the schema of a whole answer written out', () => {
  const odd: unknown[] = [
    undefined,
    null,
    '',
    'function',
    'text',
    0,
    -1,
    1.5,
    2 ** 60,
    Number.NaN,
    true,
    [],
    [{}],
    {},
    { id: 'c', function: { name: 'f', arguments: '{}' } },
  ];

  it('agrees with the schema on the recorded answers and on thousands of them with one value changed', () => {
    const answers = ['chat-completion.json', 'chat-tool-call.json', 'chat-length.json', 'chat-json-schema.json', 'chat-vision.json', 'chat-bad-shape.json'].map(
      (name) => JSON.parse(readOpenAIFixture(name)) as unknown,
    );
    const random = seededRandom(0x0a11);
    let valid = 0;
    let invalid = 0;
    for (let index = 0; index < 4_000; index++) {
      const body = structuredClone(answers[index % answers.length]);
      if (index >= answers.length) {
        const places = slotsOf(body, ['tool_calls', 'usage', 'index']);
        const [target, key] = places[Math.floor(random() * places.length)]!;
        target[key] = structuredClone(odd[Math.floor(random() * odd.length)]);
      }
      const schema = OpenAIChatResponseSchema.safeParse(body);
      expect(isOpenAIChatResponse(body), JSON.stringify(body)).toBe(schema.success);
      if (schema.success) {
        // Loose objects and no defaults: what the schema returns is the body itself, value for value.
        expect(schema.data).toStrictEqual(body);
        valid++;
      } else invalid++;
    }
    expect(valid).toBeGreaterThan(500);
    expect(invalid).toBeGreaterThan(500);
  });
});
