/** The Anthropic adapter's pure parts: request conversion, finish reasons, error mapping, stream translation. */
import { describe, expect, it } from 'vitest';
import type { GatewayError } from '../src/models/error-codes.js';
import type { LogicalPrompt } from '../src/models/inference-request.js';
import type { StreamPart } from '../src/providers/base.js';
import type { ServerSentEvent } from '../src/providers/http/sse.js';
import { toAnthropicStreamParts } from '../src/providers/anthropic/anthropic-stream-parts.js';
import { convertImage, convertToAnthropicRequest, convertToolChoice } from '../src/providers/anthropic/convert-to-anthropic-messages.js';
import { mapAnthropicError, mapAnthropicStreamError } from '../src/providers/anthropic/map-anthropic-error.js';
import { mapAnthropicFinishReason } from '../src/providers/anthropic/map-anthropic-finish-reason.js';

function convert(prompt: Partial<LogicalPrompt>) {
  return convertToAnthropicRequest({
    model: 'claude',
    prompt: { messages: [{ role: 'user', content: 'hi' }], ...prompt },
    maxOutputTokens: 100,
    stream: false,
  }).body;
}

function thrown(action: () => unknown): GatewayError {
  try {
    action();
  } catch (error) {
    return error as GatewayError;
  }
  throw new Error('expected a throw');
}

describe('convertToAnthropicRequest', () => {
  it('always sends max_tokens and lifts the system prompt out of the messages', () => {
    expect(convert({ system: 'Be brief.' })).toEqual({
      model: 'claude',
      max_tokens: 100,
      system: 'Be brief.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
    });
  });

  it('merges consecutive same-role messages so that roles alternate', () => {
    const request = convert({
      messages: [
        { role: 'user', content: 'one' },
        { role: 'user', content: 'two' },
        { role: 'assistant', content: 'three' },
        { role: 'assistant', content: 'four' },
      ],
    });
    expect(request.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'one' },
          { type: 'text', text: 'two' },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'three' },
          { type: 'text', text: 'four' },
        ],
      },
    ]);
  });

  it('puts tool results first in the user turn that answers a tool use', () => {
    const request = convert({
      messages: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: 'Let me look.', tool_calls: [{ id: 't1', name: 'look', arguments: '{"a":1}' }] },
        { role: 'user', content: 'hurry' },
        { role: 'tool', tool_call_id: 't1', content: 'found' },
      ],
    });
    expect(request.messages[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'text', text: 'Let me look.' },
        { type: 'tool_use', id: 't1', name: 'look', input: { a: 1 } },
      ],
    });
    expect(request.messages[2]).toEqual({
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 't1', content: 'found' },
        { type: 'text', text: 'hurry' },
      ],
    });
  });

  it('leaves out empty text and empty messages', () => {
    const request = convert({
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: '' },
        {
          role: 'user',
          content: [
            { type: 'text', text: '' },
            { type: 'text', text: 'b' },
          ],
        },
      ],
    });
    expect(request.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'a' },
          { type: 'text', text: 'b' },
        ],
      },
    ]);
  });

  it('maps sampling options: temperature clamped to 1, top_p, stop sequences, no seed', () => {
    const request = convert({ temperature: 2, top_p: 0.5, stop: ['x'], seed: 7 });
    expect(request).toMatchObject({ temperature: 1, top_p: 0.5, stop_sequences: ['x'] });
    expect(request).not.toHaveProperty('seed');
    expect(convert({ temperature: 0.3 }).temperature).toBe(0.3);
  });

  it('sends tools with input_schema and tool_choice only alongside tools', () => {
    const tools = [{ name: 'f', parameters: { type: 'object', properties: {} } }];
    expect(convert({ tools, tool_choice: 'auto' })).toMatchObject({
      tools: [{ name: 'f', input_schema: { type: 'object', properties: {} } }],
      tool_choice: { type: 'auto' },
    });
    expect(convert({ tool_choice: 'required' })).not.toHaveProperty('tool_choice');
  });

  it('maps every tool choice', () => {
    expect(convertToolChoice('auto')).toEqual({ type: 'auto' });
    expect(convertToolChoice('required')).toEqual({ type: 'any' });
    expect(convertToolChoice('none')).toEqual({ type: 'none' });
    expect(convertToolChoice({ name: 'f' })).toEqual({ type: 'tool', name: 'f' });
  });

  it('sets stream only when streaming', () => {
    expect(
      convertToAnthropicRequest({ model: 'm', prompt: { messages: [{ role: 'user', content: 'x' }] }, maxOutputTokens: 5, stream: true }).body.stream,
    ).toBe(true);
    expect(convert({})).not.toHaveProperty('stream');
  });

  it('serves JSON response formats with a forced tool whose input schema is the requested one', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const built = convertToAnthropicRequest({
      model: 'claude',
      prompt: { messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_schema', json_schema: { name: 'place', schema } } },
      maxOutputTokens: 100,
      stream: false,
    });
    expect(built.jsonTool).toBe('json_response');
    expect(built.body.tools).toEqual([expect.objectContaining({ name: 'json_response', input_schema: schema })]);
    expect(built.body.tool_choice).toEqual({ type: 'tool', name: 'json_response' });
    const open = convert({ response_format: { type: 'json_object' } });
    expect(open.tools?.[0]?.input_schema).toEqual({ type: 'object', additionalProperties: true });
    expect(convert({ response_format: { type: 'text' } }).messages).toHaveLength(1);
  });

  it('names the JSON tool so that it never clashes with a tool of the caller', () => {
    const body = convert({
      tools: [{ name: 'json_response', parameters: { type: 'object' } }],
      response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'object' } } },
    });
    expect(body.tools?.map((tool) => tool.name)).toEqual(['json_response', '_json_response']);
    expect(body.tool_choice).toEqual({ type: 'tool', name: '_json_response' });
  });

  it('sends reasoning back as signed thinking blocks first, and leaves out unsigned reasoning', () => {
    const body = convert({
      messages: [
        { role: 'user', content: 'q' },
        {
          role: 'assistant',
          content: 'a',
          reasoning: [
            { type: 'reasoning', text: 'think', signature: 'sig-1' },
            { type: 'redacted_reasoning', data: 'opaque' },
            { type: 'reasoning', text: 'unsigned' },
          ],
          tool_calls: [{ id: 't1', name: 'f', arguments: '{}' }],
        },
        { role: 'tool', tool_call_id: 't1', content: 'done', is_error: true },
      ],
    });
    expect(body.messages[1]?.content).toEqual([
      { type: 'thinking', thinking: 'think', signature: 'sig-1' },
      { type: 'redacted_thinking', data: 'opaque' },
      { type: 'text', text: 'a' },
      { type: 'tool_use', id: 't1', name: 'f', input: {} },
    ]);
    expect(body.messages[2]?.content).toEqual([{ type: 'tool_result', tool_use_id: 't1', content: 'done', is_error: true }]);
  });

  it('merges provider_options.anthropic into the objects they sit on and turns beta and version into headers', () => {
    const built = convertToAnthropicRequest({
      model: 'claude',
      prompt: {
        system: [{ type: 'text', text: 'sys', provider_options: { anthropic: { cache_control: { type: 'ephemeral' } } } }],
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hi', provider_options: { anthropic: { cache_control: { type: 'ephemeral' } } } }] }],
        tools: [{ name: 'f', parameters: { type: 'object' }, provider_options: { anthropic: { defer_loading: true, name: 'ignored' } } }],
        provider_options: {
          anthropic: {
            thinking: { type: 'enabled', budget_tokens: 31999 },
            context_management: { edits: [] },
            model: 'not-this-one',
            'anthropic-beta': ['a-1', 'b-2'],
            'anthropic-version': '2023-06-01',
          },
        },
        top_k: 5,
        user: 'u-1',
      },
      maxOutputTokens: 4096,
      stream: true,
    });
    expect(built.headers).toEqual({ 'anthropic-beta': 'a-1,b-2', 'anthropic-version': '2023-06-01' });
    expect(built.body.model).toBe('claude');
    expect(built.body.system).toEqual([{ type: 'text', text: 'sys', cache_control: { type: 'ephemeral' } }]);
    expect(built.body.messages[0]?.content).toEqual([{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral' } }]);
    expect(built.body.tools).toEqual([{ name: 'f', defer_loading: true, input_schema: { type: 'object' } }]);
    expect(built.body.context_management).toEqual({ edits: [] });
    // The budget must stay under max_tokens.
    expect(built.body.thinking).toEqual({ type: 'enabled', budget_tokens: 4095 });
    expect([built.body.top_k, built.body.metadata]).toEqual([5, { user_id: 'u-1' }]);
    expect(built.body).not.toHaveProperty('anthropic-beta');
  });

  it('leaves thinking out when max_tokens is below the smallest budget, and maps reasoning_effort to a budget', () => {
    const small = convertToAnthropicRequest({
      model: 'claude',
      prompt: { messages: [{ role: 'user', content: 'hi' }], provider_options: { anthropic: { thinking: { type: 'enabled', budget_tokens: 2000 } } } },
      maxOutputTokens: 500,
      stream: false,
    });
    expect(small.body).not.toHaveProperty('thinking');
    expect(
      convertToAnthropicRequest({
        model: 'c',
        prompt: { messages: [{ role: 'user', content: 'x' }], reasoning_effort: 'low' },
        maxOutputTokens: 9000,
        stream: false,
      }).body.thinking,
    ).toEqual({
      type: 'enabled',
      budget_tokens: 2048,
    });
  });

  it('maps parallel_tool_calls false to disable_parallel_tool_use', () => {
    const body = convert({ tools: [{ name: 'f', parameters: { type: 'object' } }], tool_choice: 'required', parallel_tool_calls: false });
    expect(body.tool_choice).toEqual({ type: 'any', disable_parallel_tool_use: true });
  });

  it('rejects tool call arguments that are not a JSON object with E4500', () => {
    const error = thrown(() =>
      convert({
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: '', tool_calls: [{ id: 't', name: 'f', arguments: '[1' }] },
        ],
      }),
    );
    expect([error.code, error.param]).toEqual(['E4500', 'messages[1].tool_calls[0].arguments']);
    expect(thrown(() => convert({ messages: [{ role: 'assistant', content: '', tool_calls: [{ id: 't', name: 'f', arguments: '[1]' }] }] })).code).toBe(
      'E4500',
    );
  });
});

describe('convertImage', () => {
  it('turns data: URLs into base64 sources and http(s) URLs into url sources', () => {
    expect(convertImage('data:image/jpeg;base64,AAAA')).toEqual({ type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: 'AAAA' } });
    expect(convertImage('data:image/webp;name=x.webp;base64,BBBB').source).toEqual({ type: 'base64', media_type: 'image/webp', data: 'BBBB' });
    expect(convertImage('https://example.com/a.png')).toEqual({ type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } });
  });

  it('rejects other schemes, non-base64 data and unsupported media types with E4500', () => {
    expect(thrown(() => convertImage('ftp://example.com/a.png', 'messages[0].content[1].url')).param).toBe('messages[0].content[1].url');
    expect(thrown(() => convertImage('data:image/png,raw')).code).toBe('E4500');
    expect(thrown(() => convertImage('data:image/tiff;base64,AAAA')).code).toBe('E4500');
  });
});

describe('mapAnthropicFinishReason', () => {
  it('maps every documented stop reason', () => {
    const table = {
      end_turn: 'stop',
      stop_sequence: 'stop',
      max_tokens: 'length',
      model_context_window_exceeded: 'length',
      tool_use: 'tool_calls',
      refusal: 'content_filter',
      pause_turn: 'other',
      something_new: 'other',
    };
    for (const [raw, unified] of Object.entries(table)) expect(mapAnthropicFinishReason(raw)).toBe(unified);
    expect(mapAnthropicFinishReason(null)).toBe('other');
  });
});

describe('mapAnthropicError', () => {
  const body = (type: string) => JSON.stringify({ type: 'error', error: { type, message: 'irrelevant text' } });

  it('maps by status and error.type', () => {
    expect(mapAnthropicError('a', 529, {}, body('overloaded_error')).code).toBe('E4205');
    expect(mapAnthropicError('a', 500, {}, body('overloaded_error')).code).toBe('E4205');
    expect(mapAnthropicError('a', 500, {}, body('api_error')).code).toBe('E4202');
    expect(mapAnthropicError('a', 401, {}, body('authentication_error')).code).toBe('E4203');
    expect(mapAnthropicError('a', 403, {}, body('permission_error')).code).toBe('E4203');
    expect(mapAnthropicError('a', 404, {}, body('not_found_error')).code).toBe('E4210');
    expect(mapAnthropicError('a', 404, {}, body('not_found_error'), 'other').code).toBe('E4206');
    expect(mapAnthropicError('a', 400, {}, body('invalid_request_error')).code).toBe('E4206');
  });

  it('keeps Retry-After of a 429 and redacts keys echoed in messages', () => {
    const error = mapAnthropicError(
      'a',
      429,
      { 'retry-after': '3' },
      JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'key sk-ant-api03-abcdefghijkl' } }),
    );
    expect([error.code, error.retryAfterMs]).toEqual(['E4204', 3_000]);
    expect(error.message).not.toContain('abcdefghijkl');
  });

  it('maps a body that is not Anthropic JSON from the status alone', () => {
    const error = mapAnthropicError('a', 502, {}, '<html>Bad gateway</html>');
    expect([error.code, error.details.upstream_type]).toEqual(['E4202', undefined]);
  });

  it('maps mid-stream error events by type', () => {
    expect(mapAnthropicStreamError('a', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }).code).toBe('E4205');
    expect(mapAnthropicStreamError('a', { type: 'rate_limit_error' }).code).toBe('E4204');
    expect(mapAnthropicStreamError('a', { type: 'error', error: { type: 'api_error' } }).code).toBe('E4202');
    expect(mapAnthropicStreamError('a', 'garbage').code).toBe('E4202');
  });
});

async function* events(list: Array<[string, unknown]>): AsyncGenerator<ServerSentEvent> {
  for (const [event, data] of list) yield { event, data: typeof data === 'string' ? data : JSON.stringify(data) };
}

/** The parts of a stream, without the running `usage` parts (their own test below asserts them). */
async function translate(list: Array<[string, unknown]>): Promise<StreamPart[]> {
  return (await translateAll(list)).filter((part) => part.type !== 'usage');
}

async function translateAll(list: Array<[string, unknown]>): Promise<StreamPart[]> {
  const parts: StreamPart[] = [];
  for await (const part of toAnthropicStreamParts(events(list), 'a')) parts.push(part);
  return parts;
}

const start: [string, unknown] = [
  'message_start',
  {
    type: 'message_start',
    message: { id: 'm', model: 'c', usage: { input_tokens: 10, cache_creation_input_tokens: 5, cache_read_input_tokens: 20, output_tokens: 1 } },
  },
];
const stop: [string, unknown] = ['message_stop', { type: 'message_stop' }];

describe('toAnthropicStreamParts', () => {
  it('reports the input count as soon as message_start gives it, so a cut stream is billed its true input', async () => {
    const parts = await translateAll([start, ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: 'Hi' } }]]);
    expect(parts[0]).toEqual({
      type: 'usage',
      usage: { input_tokens: 35, output_tokens: 1, total_tokens: 36, cache_creation_input_tokens: 5, cache_read_input_tokens: 20 },
    });
    expect(parts.at(-1)).toMatchObject({ type: 'error', error: { code: 'E4208' } });
  });

  it('counts cached input tokens and takes the latest cumulative counts', async () => {
    const parts = await translate([
      start,
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 7, input_tokens: 12 } }],
      stop,
    ]);
    expect(parts).toEqual([
      {
        type: 'finish',
        finishReason: 'stop',
        rawFinishReason: 'end_turn',
        usage: { input_tokens: 37, output_tokens: 7, total_tokens: 44, cache_creation_input_tokens: 5, cache_read_input_tokens: 20 },
      },
    ]);
  });

  it('skips unknown events and turns thinking blocks into reasoning deltas with their signature', async () => {
    const parts = await translate([
      start,
      ['future_event', { type: 'future_event', x: 1 }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'ok' } }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'refusal' }, usage: { output_tokens: 3 } }],
      stop,
    ]);
    expect(parts.slice(0, 3)).toEqual([
      { type: 'reasoning-delta', text: 'hmm' },
      { type: 'reasoning-delta', text: '', signature: 'sig' },
      { type: 'text-delta', text: 'ok' },
    ]);
    expect(parts[3]).toMatchObject({ type: 'finish', finishReason: 'content_filter', rawFinishReason: 'refusal' });
  });

  it('numbers tool calls in order of appearance, apart from text blocks', async () => {
    const parts = await translate([
      start,
      ['content_block_start', { type: 'content_block_start', index: 3, content_block: { type: 'tool_use', id: 'toolu_a', name: 'f', input: {} } }],
      ['content_block_delta', { type: 'content_block_delta', index: 3, delta: { type: 'input_json_delta', partial_json: '{"x":' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 3, delta: { type: 'input_json_delta', partial_json: '1}' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 3 }],
      stop,
    ]);
    expect(parts.slice(0, 3)).toEqual([
      { type: 'tool-call-delta', index: 0, id: 'toolu_a', name: 'f', argumentsDelta: '' },
      { type: 'tool-call-delta', index: 0, argumentsDelta: '{"x":' },
      { type: 'tool-call-delta', index: 0, argumentsDelta: '1}' },
    ]);
    expect(parts[3]).toMatchObject({ type: 'finish', finishReason: 'other', rawFinishReason: undefined });
  });

  it('ends with E4600 on an event that breaks the schema or a delta for no tool', async () => {
    const broken = await translate([
      start,
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', name: 'f' } }],
      stop,
    ]);
    expect(broken.map((part) => (part.type === 'error' ? part.error.code : part.type))).toEqual(['E4600']);
    const orphan = await translate([
      start,
      ['content_block_delta', { type: 'content_block_delta', index: 9, delta: { type: 'input_json_delta', partial_json: '{' } }],
      stop,
    ]);
    expect(orphan.map((part) => (part.type === 'error' ? part.error.code : part.type))).toEqual(['E4600']);
  });

  it('maps an error event whose data is not JSON to E4202', async () => {
    const parts = await translate([start, ['error', 'upstream exploded']]);
    expect(parts.map((part) => (part.type === 'error' ? part.error.code : part.type))).toEqual(['E4202']);
  });

  it('ends with E4208 when the events run out before message_stop', async () => {
    const parts = await translate([start, ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } }]]);
    expect(parts.map((part) => (part.type === 'error' ? part.error.code : part.type))).toEqual(['E4208']);
  });
});
