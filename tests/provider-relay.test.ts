/**
 * Each provider's streamed answer, relayed through the HTTP service, reaches the official `openai`
 * client as the same text, tool calls and token counts that the provider's fixture server sent.
 * The expectations are computed from the fixture files themselves, not written by hand.
 */
import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../src/config/config-schema.js';
import { ANTHROPIC_FIXTURE_API_KEY, readAnthropicFixture, startAnthropicFixture } from './helpers/anthropic-fixture-server.js';
import { ollamaFixture, startOllamaFixture } from './helpers/ollama-fixture-server.js';
import { readOpenAIFixture, startOpenAIFixture } from './helpers/openai-fixture-server.js';
import { onCleanup } from './helpers/cleanup.js';
import { startTestServer } from './helpers/gateway.js';

interface Relayed {
  text: string;
  toolCalls: Array<{ name: string; arguments: unknown }>;
  usage: { input: number; output: number };
}

const sseData = (raw: string): unknown[] =>
  raw
    .split(/\r?\n/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).trim())
    .filter((data) => data !== '[DONE]')
    .map((data) => JSON.parse(data) as unknown);

/** An OpenAI `chat.completion.chunk`, as far as these tests read it. */
interface OpenAIChunk {
  choices: Array<{ delta: { content?: string | null; tool_calls?: Array<{ index: number; function?: { name?: string; arguments?: string } }> } }>;
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
}

/** Folds OpenAI stream chunks into text, tool calls (by index) and usage. */
function foldOpenAIChunks(chunks: Iterable<OpenAIChunk>): Relayed {
  const calls = new Map<number, { name: string; arguments: string }>();
  let text = '';
  let usage = { input: -1, output: -1 };
  for (const chunk of chunks) {
    for (const choice of chunk.choices) {
      text += choice.delta.content ?? '';
      for (const call of choice.delta.tool_calls ?? []) {
        const entry = calls.get(call.index) ?? { name: '', arguments: '' };
        entry.name += call.function?.name ?? '';
        entry.arguments += call.function?.arguments ?? '';
        calls.set(call.index, entry);
      }
    }
    if (chunk.usage) usage = { input: chunk.usage.prompt_tokens, output: chunk.usage.completion_tokens };
  }
  return { text, toolCalls: [...calls.values()].map((call) => ({ name: call.name, arguments: JSON.parse(call.arguments) as unknown })), usage };
}

/** What an OpenAI SSE fixture carries. */
function expectedFromOpenAI(raw: string): Relayed {
  return foldOpenAIChunks(sseData(raw) as OpenAIChunk[]);
}

/** What an Ollama NDJSON fixture carries. */
function expectedFromOllama(raw: string): Relayed {
  const lines = raw
    .split('\n')
    .filter(Boolean)
    .map(
      (line) =>
        JSON.parse(line) as {
          message?: { content?: string; tool_calls?: Array<{ function: { name: string; arguments: unknown } }> };
          prompt_eval_count?: number;
          eval_count?: number;
          done: boolean;
        },
    );
  const last = lines.at(-1)!;
  return {
    text: lines.map((line) => line.message?.content ?? '').join(''),
    toolCalls: lines.flatMap((line) => line.message?.tool_calls ?? []).map((call) => ({ name: call.function.name, arguments: call.function.arguments })),
    usage: { input: last.prompt_eval_count ?? 0, output: last.eval_count ?? 0 },
  };
}

/** What an Anthropic SSE fixture carries. */
function expectedFromAnthropic(raw: string): Relayed {
  const blocks = new Map<number, { name: string; json: string }>();
  let text = '';
  let input = 0;
  let output = 0;
  for (const event of sseData(raw)) {
    const typed = event as {
      type: string;
      index?: number;
      message?: { usage: { input_tokens: number; cache_creation_input_tokens?: number; cache_read_input_tokens?: number } };
      content_block?: { type: string; name?: string };
      delta?: { type: string; text?: string; partial_json?: string };
      usage?: { output_tokens: number };
    };
    if (typed.type === 'message_start' && typed.message)
      input = typed.message.usage.input_tokens + (typed.message.usage.cache_creation_input_tokens ?? 0) + (typed.message.usage.cache_read_input_tokens ?? 0);
    if (typed.type === 'content_block_start' && typed.content_block?.type === 'tool_use')
      blocks.set(typed.index!, { name: typed.content_block.name ?? '', json: '' });
    if (typed.type === 'content_block_delta' && typed.delta?.type === 'text_delta') text += typed.delta.text ?? '';
    if (typed.type === 'content_block_delta' && typed.delta?.type === 'input_json_delta') blocks.get(typed.index!)!.json += typed.delta.partial_json ?? '';
    if (typed.type === 'message_delta' && typed.usage) output = typed.usage.output_tokens;
  }
  return {
    text,
    toolCalls: [...blocks.values()].map((block) => ({ name: block.name, arguments: JSON.parse(block.json === '' ? '{}' : block.json) as unknown })),
    usage: { input, output },
  };
}

/** Streams through the service with the openai client and assembles what arrives. */
async function relay(client: OpenAI, model: string, withTools: boolean): Promise<Relayed> {
  const tools: OpenAI.ChatCompletionTool[] = [
    { type: 'function', function: { name: 'get_current_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } },
    { type: 'function', function: { name: 'get_current_time', parameters: { type: 'object', properties: {} } } },
  ];
  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'Why is the sky blue? And what is the weather in Toronto?' }],
    stream: true,
    stream_options: { include_usage: true },
    ...(withTools ? { tools } : {}),
  });
  const chunks: OpenAIChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return foldOpenAIChunks(chunks);
}

function config(providers: GatewayConfigInput['providers'], models: GatewayConfigInput['models']): GatewayConfigInput {
  return { state: { backend: 'memory' }, providers, models, cache: { enabled: false }, health: { enabled: false }, logging: { level: 'silent' } };
}

describe('streams relayed through the service', () => {
  it('relays Ollama text, tool calls and token counts unchanged', async () => {
    const fixture = await startOllamaFixture();
    onCleanup(() => fixture.close());
    const { client } = await startTestServer(
      config(
        { ollama: { type: 'ollama', base_url: fixture.url } },
        { llama: { provider: 'ollama', provider_model: 'llama3.2', capabilities: ['text', 'tool_use'] } },
      ),
    );
    expect(await relay(client, 'llama', false)).toEqual(expectedFromOllama(ollamaFixture('chat-stream.ndjson')));
    expect(await relay(client, 'llama', true)).toEqual(expectedFromOllama(ollamaFixture('chat-tools-stream.ndjson')));
  });

  it('relays OpenAI text, tool calls and token counts unchanged', async () => {
    const fixture = await startOpenAIFixture();
    onCleanup(() => fixture.close());
    const { client } = await startTestServer(
      config(
        { openai: { type: 'openai', base_url: fixture.url, api_key: 'sk-test-fixture-0000' } },
        {
          plain: { provider: 'openai', provider_model: 'plain' },
          tools: { provider: 'openai', provider_model: 'tool-call', capabilities: ['text', 'tool_use'] },
        },
      ),
    );
    expect(await relay(client, 'plain', false)).toEqual(expectedFromOpenAI(readOpenAIFixture('chat-completion.sse')));
    expect(await relay(client, 'tools', true)).toEqual(expectedFromOpenAI(readOpenAIFixture('chat-tool-call.sse')));
  });

  it('relays Anthropic text, tool calls and token counts unchanged', async () => {
    const fixture = await startAnthropicFixture();
    onCleanup(() => fixture.close());
    const { client } = await startTestServer(
      config(
        { anthropic: { type: 'anthropic', base_url: fixture.url, api_key: ANTHROPIC_FIXTURE_API_KEY } },
        {
          text: { provider: 'anthropic', provider_model: 'text' },
          tools: { provider: 'anthropic', provider_model: 'tool-use', capabilities: ['text', 'tool_use'] },
        },
      ),
    );
    expect(await relay(client, 'text', false)).toEqual(expectedFromAnthropic(readAnthropicFixture('stream-text.sse')));
    expect(await relay(client, 'tools', true)).toEqual(expectedFromAnthropic(readAnthropicFixture('stream-tool-use.sse')));
  });

  it('answers non-streamed completions from each provider in the OpenAI shape', async () => {
    const [ollama, openai, anthropic] = await Promise.all([startOllamaFixture(), startOpenAIFixture(), startAnthropicFixture()]);
    onCleanup(() => Promise.all([ollama.close(), openai.close(), anthropic.close()]));
    const { client } = await startTestServer(
      config(
        {
          ollama: { type: 'ollama', base_url: ollama.url },
          openai: { type: 'openai', base_url: openai.url, api_key: 'sk-test-fixture-0000' },
          anthropic: { type: 'anthropic', base_url: anthropic.url, api_key: ANTHROPIC_FIXTURE_API_KEY },
        },
        {
          a: { provider: 'ollama', provider_model: 'llama3.2' },
          b: { provider: 'openai', provider_model: 'plain' },
          c: { provider: 'anthropic', provider_model: 'text' },
        },
      ),
    );
    for (const model of ['a', 'b', 'c']) {
      const completion = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Why is the sky blue?' }] });
      expect(completion.choices[0]?.message.content?.length).toBeGreaterThan(0);
      expect(completion.usage?.prompt_tokens).toBeGreaterThan(0);
      expect(completion.model).toBe(model);
    }
  });

  it('serves embeddings from Ollama and OpenAI and refuses them for Anthropic', async () => {
    const [ollama, openai] = await Promise.all([startOllamaFixture(), startOpenAIFixture()]);
    onCleanup(() => Promise.all([ollama.close(), openai.close()]));
    const { client } = await startTestServer(
      config(
        {
          ollama: { type: 'ollama', base_url: ollama.url },
          openai: { type: 'openai', base_url: openai.url, api_key: 'sk-test-fixture-0000' },
          anthropic: { type: 'anthropic', api_key: '' },
        },
        {
          nomic: { provider: 'ollama', provider_model: 'nomic-embed-text', capabilities: ['embeddings'] },
          small: { provider: 'openai', provider_model: 'embeddings', capabilities: ['embeddings'] },
          chat: { provider: 'anthropic', provider_model: 'text' },
        },
      ),
    );
    const fromOllama = await client.embeddings.create({ model: 'nomic', input: ['first text', 'second text', 'third text'], encoding_format: 'float' });
    expect(fromOllama.data).toHaveLength(3);
    expect(fromOllama.data[0]?.embedding.length).toBeGreaterThan(0);
    const fromOpenAI = await client.embeddings.create({ model: 'small', input: ['one text', 'two texts', 'three texts'] });
    expect(fromOpenAI.data[0]?.embedding.length).toBeGreaterThan(0);
    const refused = await client.embeddings.create({ model: 'chat', input: 'x' }).catch((error: unknown) => error);
    expect((refused as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('E4104');
  });
});
