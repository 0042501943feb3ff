/** OpenAIAdapter.stream against the OpenAI fixture server: deltas, tool calls, usage and every way a stream ends. */
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../src/models/error-codes.js';
import type { ErrorCode } from '../src/models/error-codes.js';
import type { StreamPart } from '../src/providers/base.js';
import { onCleanup } from './helpers/cleanup.js';
import { callFor, collect, openAIAdapter, refusedBaseUrl, rejection, startOpenAIFixture } from './helpers/openai-fixture-server.js';
import type { OpenAIFixture } from './helpers/openai-fixture-server.js';

async function fixture(): Promise<OpenAIFixture> {
  const started = await startOpenAIFixture();
  onCleanup(() => started.close());
  return started;
}

function text(parts: StreamPart[]): string {
  return parts.map((part) => (part.type === 'text-delta' ? part.text : '')).join('');
}

/** The stream ends with one `error` carrying `code`, and has no `finish` at all. */
function expectErrorEnd(parts: StreamPart[], code: ErrorCode): void {
  const last = parts.at(-1);
  expect(last?.type).toBe('error');
  expect(last?.type === 'error' ? last.error.code : undefined).toBe(code);
  expect(parts.filter((part) => part.type === 'finish' || part.type === 'error')).toHaveLength(1);
}

describe('OpenAIAdapter.stream', () => {
  it('streams text deltas and ends with one finish carrying the provider usage', async () => {
    const server = await fixture();
    const parts = await collect(openAIAdapter({ base_url: server.url }).stream(callFor('plain')));
    expect(text(parts)).toBe('The sky looks blue because air scatters short blue wavelengths of sunlight more than red ones.');
    expect(parts.filter((part) => part.type === 'text-delta')).toHaveLength(17);
    expect(parts.at(-1)).toEqual({
      type: 'finish',
      finishReason: 'stop',
      rawFinishReason: 'stop',
      usage: { input_tokens: 19, output_tokens: 18, total_tokens: 37 },
    });
    expect(parts.filter((part) => part.type === 'finish')).toHaveLength(1);
  });

  it('asks for a stream with usage included', async () => {
    const server = await fixture();
    await collect(openAIAdapter({ base_url: server.url }).stream(callFor('plain')));
    expect(server.requests[0]!.body).toMatchObject({ model: 'plain', stream: true, stream_options: { include_usage: true }, max_tokens: 256 });
    expect(server.requests[0]!.headers.accept).toBe('application/json');
  });

  it('streams tool calls as deltas keyed by index, id and name on the first fragment', async () => {
    const server = await fixture();
    const parts = await collect(
      openAIAdapter({ base_url: server.url }).stream(callFor('tool-call', { tools: [{ name: 'get_current_weather', parameters: {} }] })),
    );
    const deltas = parts.filter((part): part is Extract<StreamPart, { type: 'tool-call-delta' }> => part.type === 'tool-call-delta');
    expect(deltas[0]).toEqual({ type: 'tool-call-delta', index: 0, id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', name: 'get_current_weather', argumentsDelta: '' });
    expect(deltas[1]).toEqual({ type: 'tool-call-delta', index: 0, argumentsDelta: '{"lo' });
    const assembled = new Map<number, { id?: string; name?: string; arguments: string }>();
    for (const delta of deltas) {
      const call = assembled.get(delta.index) ?? { arguments: '' };
      if (delta.id !== undefined) call.id = delta.id;
      if (delta.name !== undefined) call.name = delta.name;
      call.arguments += delta.argumentsDelta;
      assembled.set(delta.index, call);
    }
    expect([...assembled.values()]).toEqual([
      { id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', name: 'get_current_weather', arguments: '{"location":"Boston, MA","unit":"celsius"}' },
      { id: 'call_8wYv0mZ5v1Jp6Yb3sE2kQf9L', name: 'get_current_weather', arguments: '{"location":"Paris, France","unit":"celsius"}' },
    ]);
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'tool_calls', usage: { input_tokens: 82, output_tokens: 51, total_tokens: 133 } });
  });

  it('estimates usage when a compatible server sends none', async () => {
    const server = await fixture();
    const parts = await collect(openAIAdapter({ base_url: server.url }).stream(callFor('stream-no-usage')));
    expect(text(parts)).toBe('Hello there');
    const finish = parts.at(-1);
    expect(finish).toMatchObject({ type: 'finish', finishReason: 'stop' });
    expect(finish?.type === 'finish' && finish.usage.output_tokens > 0 && finish.usage.input_tokens > 0).toBe(true);
  });

  it('ends a stream cut short without [DONE] with E4208, never finish', async () => {
    const server = await fixture();
    const parts = await collect(openAIAdapter({ base_url: server.url }).stream(callFor('stream-cut')));
    expect(text(parts)).toBe('The sky looks blue because air');
    expectErrorEnd(parts, 'E4208');
  });

  it('ends with the mapped error when the provider sends an error event mid-stream', async () => {
    const server = await fixture();
    const parts = await collect(openAIAdapter({ base_url: server.url }).stream(callFor('stream-error')));
    expect(text(parts)).toBe('The sky');
    expectErrorEnd(parts, 'E4202');
  });

  it('ends with E4600 when an event is not JSON', async () => {
    const server = await fixture();
    expectErrorEnd(await collect(openAIAdapter({ base_url: server.url }).stream(callFor('stream-malformed'))), 'E4600');
  });

  it('ends with E4201 when the stream stalls longer than the chunk gap', async () => {
    const server = await fixture();
    const parts = await collect(openAIAdapter({ base_url: server.url, chunk_gap_timeout_ms: 100 }).stream(callFor('stall')));
    expect(text(parts)).toBe('The sky');
    expectErrorEnd(parts, 'E4201');
  });

  it('ends with E4200 when the connection is reset mid-stream', async () => {
    const server = await fixture();
    const parts = await collect(openAIAdapter({ base_url: server.url }).stream(callFor('reset')));
    expect(text(parts)).toBe('The sky');
    expectErrorEnd(parts, 'E4200');
  });

  it('throws from the first next() on an error status, with the mapped code', async () => {
    const server = await fixture();
    const error = await rejection(openAIAdapter({ base_url: server.url }).stream(callFor('error-429'))[Symbol.asyncIterator]().next());
    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({ code: 'E4204', retryAfterMs: 20_000 });
  });

  it('throws E4200 from the first next() when the connection is refused', async () => {
    const adapter = openAIAdapter({ base_url: await refusedBaseUrl() });
    expect(await rejection(adapter.stream(callFor('plain'))[Symbol.asyncIterator]().next())).toMatchObject({ code: 'E4200' });
  });

  it('aborts the upstream request when the consumer stops iterating', async () => {
    const server = await fixture();
    for await (const part of openAIAdapter({ base_url: server.url }).stream(callFor('stall'))) {
      expect(part.type).toBe('text-delta');
      break;
    }
    await expect(server.requests[0]!.closed).resolves.toBe('aborted');
  });

  it('ends with E4507 and closes the upstream request when the signal aborts mid-stream', async () => {
    const server = await fixture();
    const controller = new AbortController();
    const parts: StreamPart[] = [];
    for await (const part of openAIAdapter({ base_url: server.url }).stream(callFor('stall', {}, { signal: controller.signal }))) {
      parts.push(part);
      if (parts.length === 1) controller.abort();
    }
    expectErrorEnd(parts, 'E4507');
    await expect(server.requests[0]!.closed).resolves.toBe('aborted');
  });
});
