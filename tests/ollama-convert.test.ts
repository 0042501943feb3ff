/** The Ollama adapter's pure parts: request conversion, num_ctx sizing, finish reasons, error mapping, model matching, stream translation. */
import { describe, expect, it } from 'vitest';
import type { GatewayError } from '../src/models/error-codes.js';
import type { LogicalPrompt } from '../src/models/inference-request.js';
import { ModelConfigSchema } from '../src/models/model-config.js';
import type { ProviderCall, StreamPart } from '../src/providers/base.js';
import { convertOllamaChatStream } from '../src/providers/ollama/convert-from-ollama-response.js';
import { contextWindowFor, convertToOllamaChatRequest, imageToBase64 } from '../src/providers/ollama/convert-to-ollama-messages.js';
import { mapOllamaError } from '../src/providers/ollama/map-ollama-error.js';
import { mapOllamaFinishReason } from '../src/providers/ollama/map-ollama-finish-reason.js';
import { matchOllamaModels, normalizeOllamaModelName } from '../src/providers/ollama/match-ollama-models.js';

const model = ModelConfigSchema.parse({ id: 'llama3.2', provider: 'ollama', provider_model: 'llama3.2:latest', context_length: 131072 });
const TOOLS = [
  { name: 'get_weather', parameters: { type: 'object', properties: {} } },
  { name: 'get_time', description: 'Current time', parameters: { type: 'object', properties: {} } },
];

function callWith(prompt: Partial<LogicalPrompt> = {}, overrides: Partial<ProviderCall> = {}): ProviderCall {
  return {
    requestId: 'req_1',
    model,
    prompt: { messages: [{ role: 'user', content: 'hi' }], ...prompt },
    maxOutputTokens: 256,
    minContextLength: 1024,
    signal: new AbortController().signal,
    deadlineAt: 0,
    ...overrides,
  };
}

function thrown(run: () => unknown): GatewayError {
  try {
    run();
  } catch (error) {
    return error as GatewayError;
  }
  throw new Error('expected a throw');
}

async function parts(lines: unknown[]): Promise<StreamPart[]> {
  async function* source(): AsyncGenerator<unknown> {
    yield* lines;
  }
  const out: StreamPart[] = [];
  for await (const part of convertOllamaChatStream(source(), { provider: 'ollama', prompt: callWith().prompt })) out.push(part);
  return out;
}

describe('contextWindowFor', () => {
  it("leaves num_ctx out when Ollama's default 2048 is enough", () => {
    expect(contextWindowFor(callWith({}, { minContextLength: 1024, maxOutputTokens: 512 }))).toBeUndefined();
    expect(convertToOllamaChatRequest(callWith(), { stream: false, provider: 'ollama' }).options).toEqual({ num_predict: 256 });
  });

  it('rounds the needed window up to a power of two', () => {
    expect(contextWindowFor(callWith({}, { minContextLength: 4096 }))).toBe(4096);
    expect(contextWindowFor(callWith({}, { minContextLength: 10_000 }))).toBe(16_384);
  });

  it('sizes the window from the prompt and output cap when they need more than minContextLength', () => {
    const long = 'x'.repeat(4 * 6_000);
    expect(contextWindowFor(callWith({ messages: [{ role: 'user', content: long }] }, { minContextLength: 1024, maxOutputTokens: 4096 }))).toBe(16_384);
  });

  it("never exceeds the model's context length", () => {
    expect(contextWindowFor(callWith({}, { minContextLength: 10_000, model: { ...model, context_length: 12_000 } }))).toBe(12_000);
    expect(contextWindowFor(callWith({}, { minContextLength: 10_000, model: { ...model, context_length: 2048 } }))).toBeUndefined();
  });
});

describe('convertToOllamaChatRequest', () => {
  it('offers no tools for tool_choice none and only the named tool for a named choice', () => {
    const none = convertToOllamaChatRequest(callWith({ tools: TOOLS, tool_choice: 'none' }), { stream: true, provider: 'ollama' });
    expect(none.tools).toBeUndefined();
    const named = convertToOllamaChatRequest(callWith({ tools: TOOLS, tool_choice: { name: 'get_time' } }), { stream: true, provider: 'ollama' });
    expect(named.tools).toEqual([
      { type: 'function', function: { name: 'get_time', description: 'Current time', parameters: { type: 'object', properties: {} } } },
    ]);
  });

  it('rejects a tool_choice naming no offered tool with E4500', () => {
    const error = thrown(() => convertToOllamaChatRequest(callWith({ tools: TOOLS, tool_choice: { name: 'missing' } }), { stream: true, provider: 'ollama' }));
    expect(error).toMatchObject({ code: 'E4500', param: 'logical_prompt.tool_choice' });
  });

  it('rejects tool call arguments that are not a JSON object with E4500 naming the field', () => {
    for (const bad of ['not json', '[1,2]']) {
      const prompt: Partial<LogicalPrompt> = {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: '', tool_calls: [{ id: 'c1', name: 'get_time', arguments: bad }] },
        ],
      };
      const error = thrown(() => convertToOllamaChatRequest(callWith(prompt), { stream: false, provider: 'ollama' }));
      expect(error).toMatchObject({ code: 'E4500', param: 'logical_prompt.messages[1].tool_calls[0].arguments' });
    }
  });

  it('sends a tool result without tool_name when no earlier call has its id', () => {
    const request = convertToOllamaChatRequest(callWith({ messages: [{ role: 'tool', tool_call_id: 'unknown', content: '42' }] }), {
      stream: false,
      provider: 'ollama',
    });
    expect(request.messages).toEqual([{ role: 'tool', content: '42' }]);
  });

  it('joins text parts and omits an empty system prompt and keep_alive when unset', () => {
    const request = convertToOllamaChatRequest(
      callWith({
        system: '',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'a' },
              { type: 'text', text: 'b' },
            ],
          },
        ],
      }),
      { stream: false, provider: 'ollama' },
    );
    expect(request.messages).toEqual([{ role: 'user', content: 'a\nb' }]);
    expect('keep_alive' in request).toBe(false);
  });
});

describe('imageToBase64', () => {
  it('keeps base64 payloads and encodes percent-encoded ones', () => {
    expect(imageToBase64('data:image/png;base64,iVBO Rw0K\n', 'p', 'ollama')).toBe('iVBORw0K');
    expect(imageToBase64('data:image/svg+xml,%3Csvg%2F%3E', 'p', 'ollama')).toBe(Buffer.from('<svg/>').toString('base64'));
  });

  it('refuses a URL Ollama would have to fetch with E4206', () => {
    expect(thrown(() => imageToBase64('http://example.com/a.png', 'p', 'ollama'))).toMatchObject({ code: 'E4206', param: 'p' });
  });
});

describe('mapOllamaFinishReason', () => {
  it('maps stop, length and load/unload, and tool calls over all', () => {
    expect(mapOllamaFinishReason('stop', false)).toBe('stop');
    expect(mapOllamaFinishReason(undefined, false)).toBe('stop');
    expect(mapOllamaFinishReason('length', false)).toBe('length');
    expect(mapOllamaFinishReason('load', false)).toBe('other');
    expect(mapOllamaFinishReason('unload', false)).toBe('other');
    expect(mapOllamaFinishReason('stop', true)).toBe('tool_calls');
  });
});

describe('mapOllamaError', () => {
  it('tells a missing model from a missing route on 404', () => {
    expect(mapOllamaError('ollama', 404, {}, '{"error":"model \\"qwen3\\" not found, try pulling it first"}').code).toBe('E4210');
    expect(mapOllamaError('ollama', 404, {}, '404 page not found').code).toBe('E4206');
  });

  it('maps by status when the body is not an Ollama error', () => {
    expect(mapOllamaError('ollama', 502, {}, '<html>Bad Gateway</html>').code).toBe('E4202');
    expect(mapOllamaError('ollama', 401, {}, '').code).toBe('E4203');
    expect(mapOllamaError('ollama', 429, { 'retry-after': '3' }, '').retryAfterMs).toBe(3000);
  });

  it("treats 503 (Ollama's full queue) as overload, retryable", () => {
    expect(mapOllamaError('ollama', 503, {}, '{"error":"server busy, please try again.  maximum pending requests exceeded"}')).toMatchObject({
      code: 'E4205',
      retryable: true,
    });
  });
});

describe('matchOllamaModels', () => {
  it('matches untagged names to :latest, ignores case and the default registry prefix', () => {
    expect(normalizeOllamaModelName('Llama3.2')).toBe('llama3.2:latest');
    expect(normalizeOllamaModelName('registry.ollama.ai/library/qwen3:8b')).toBe('qwen3:8b');
    expect(normalizeOllamaModelName('hf.co/org/model')).toBe('hf.co/org/model:latest');
    const match = matchOllamaModels(['llama3.2', 'qwen3:8b', 'qwen3:8b'], ['llama3.2:latest', 'qwen3:4b']);
    expect(match).toEqual({ models: { 'llama3.2': true, 'qwen3:8b': false }, missing: ['qwen3:8b'] });
  });
});

describe('convertOllamaChatStream', () => {
  it('finishes on a done line without a message (older Ollama) and uses provider tool call ids', async () => {
    const result = await parts([
      {
        model: 'm',
        created_at: 't',
        message: { role: 'assistant', content: '', tool_calls: [{ id: 'call_abc', function: { index: 0, name: 'f', arguments: {} } }] },
        done: false,
      },
      { model: 'm', created_at: 't', done: true, prompt_eval_count: 3, eval_count: 2 },
    ]);
    expect(result).toEqual([
      { type: 'tool-call-delta', index: 0, id: 'call_abc', name: 'f', argumentsDelta: '{}' },
      { type: 'finish', finishReason: 'tool_calls', rawFinishReason: undefined, usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 } },
    ]);
  });

  it('ends with an error part when the source throws', async () => {
    async function* broken(): AsyncGenerator<unknown> {
      yield { model: 'm', created_at: 't', message: { role: 'assistant', content: 'a' }, done: false };
      throw new Error('boom');
    }
    const out: StreamPart[] = [];
    for await (const part of convertOllamaChatStream(broken(), { provider: 'ollama', prompt: callWith().prompt })) out.push(part);
    expect(out.map((part) => part.type)).toEqual(['text-delta', 'error']);
    expect(out[1]?.type === 'error' && out[1].error.code).toBe('E4900');
  });

  it('stops reading after the done line', async () => {
    const result = await parts([
      { model: 'm', created_at: 't', message: { role: 'assistant', content: 'a' }, done: true, done_reason: 'stop', prompt_eval_count: 1, eval_count: 1 },
      { model: 'm', created_at: 't', message: { role: 'assistant', content: 'late' }, done: false },
    ]);
    expect(result.map((part) => part.type)).toEqual(['text-delta', 'finish']);
  });
});
