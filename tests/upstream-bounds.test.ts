import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { GatewayError } from '../src/models/error-codes.js';
import type { StreamPart } from '../src/providers/base.js';
import { parseNdjson } from '../src/providers/http/ndjson.js';
import { parseSse } from '../src/providers/http/sse.js';
import { limitStreamText } from '../src/providers/http/stream-bounds.js';
import { ERROR_BODY_LIMIT_BYTES, UpstreamClient } from '../src/providers/http/upstream-client.js';
import { onCleanup } from './helpers/cleanup.js';
import { startFaultUpstream } from './helpers/fault-upstream.js';
import { callFor, collect, openAIAdapter, rejection } from './helpers/openai-fixture-server.js';

async function faultUpstream() {
  const upstream = await startFaultUpstream();
  onCleanup(() => upstream.close());
  return upstream;
}

function clientFor(baseUrl: string, overrides: { maxResponseBytes?: number; totalMs?: number } = {}): UpstreamClient {
  const client = new UpstreamClient({
    provider: 'fixture',
    baseUrl,
    timeouts: { connectMs: 1_000, firstByteMs: 5_000, chunkGapMs: 5_000, totalMs: overrides.totalMs ?? 5_000 },
    maxResponseBytes: overrides.maxResponseBytes ?? 64 * 1024,
  });
  onCleanup(() => client.close());
  return client;
}

const ask = (model: string, stream = false) => ({ method: 'POST' as const, path: '/chat/completions', body: { model, stream, messages: [] } });

async function* bytesOf(...pieces: string[]): AsyncGenerator<Uint8Array> {
  for (const piece of pieces) yield new TextEncoder().encode(piece);
}

describe('UpstreamClient body bounds', () => {
  it('reads a JSON answer within max_response_bytes', async () => {
    const upstream = await faultUpstream();
    const response = await clientFor(upstream.url).send(ask('ok'));
    expect(await response.json()).toMatchObject({ object: 'chat.completion', choices: [{ message: { role: 'assistant' } }] });
  });

  it('refuses with E4601 a body whose declared length is over the limit, before reading it', async () => {
    const upstream = await faultUpstream();
    const response = await clientFor(upstream.url).send(ask('huge-json:64'));
    const error = (await rejection(response.json())) as GatewayError;
    expect(error).toMatchObject({ code: 'E4601', httpStatus: 502, retryable: true, details: { limit_bytes: 64 * 1024 } });
    await expect.poll(() => upstream.aborted).toBe(1);
  });

  it('refuses with E4601 a chunked body as soon as it passes the limit, and stops reading it', async () => {
    const upstream = await faultUpstream();
    const response = await clientFor(upstream.url).send(ask('huge-json-chunked:64'));
    expect(((await rejection(response.text())) as GatewayError).code).toBe('E4601');
    // The upstream was cut off long before its 64 MB were written.
    await expect.poll(() => upstream.aborted).toBe(1);
  });

  it('reads at most 64 KiB of an error body, and an over-long one as empty', async () => {
    let size = 100;
    const server = createServer((_request, response) => {
      response.writeHead(500, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { message: 'x'.repeat(size) } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect(await (await clientFor(url).send({ method: 'GET', path: '/' })).errorText()).toContain('"message"');
    size = ERROR_BODY_LIMIT_BYTES;
    expect(await (await clientFor(url).send({ method: 'GET', path: '/' })).errorText()).toBe('');
  });
});

describe('UpstreamClient time bounds', () => {
  it("names the caller's deadline (E4510) when it ends the call, and the provider's timeout (E4201) when that does", async () => {
    const upstream = await faultUpstream();
    const byDeadline = (await rejection(clientFor(upstream.url, { totalMs: 5_000 }).send({ ...ask('hang'), deadlineAt: Date.now() + 100 }))) as GatewayError;
    expect(byDeadline).toMatchObject({ code: 'E4510', httpStatus: 504 });
    const byProvider = (await rejection(clientFor(upstream.url, { totalMs: 100 }).send({ ...ask('hang'), deadlineAt: Date.now() + 5_000 }))) as GatewayError;
    expect(byProvider).toMatchObject({ code: 'E4201' });
    const noDeadline = (await rejection(clientFor(upstream.url, { totalMs: 100 }).send(ask('hang')))) as GatewayError;
    expect(noDeadline.code).toBe('E4201');
  });

  it("counts only the provider's silence against chunk_gap_timeout_ms, not a consumer slow to read", async () => {
    const upstream = await faultUpstream();
    const adapter = openAIAdapter({ base_url: upstream.url, chunk_gap_timeout_ms: 100 });
    const parts: StreamPart[] = [];
    for await (const part of adapter.stream(callFor('slow:200'))) {
      // The consumer dawdles three gaps long after its first part, as a slow client would.
      if (parts.length === 0) await new Promise((resolve) => setTimeout(resolve, 300));
      parts.push(part);
    }
    expect(parts.at(-1)).toMatchObject({ type: 'finish' });
    const stalled = await collect(adapter.stream(callFor('trickle:300')));
    expect(stalled.at(-1)).toMatchObject({ type: 'error', error: { code: 'E4201' } });
  });

  it("ends a stream whose consumer stopped reading past timeout_ms as the caller's doing (E4507), never a provider timeout", async () => {
    const upstream = await faultUpstream();
    const adapter = openAIAdapter({ base_url: upstream.url, timeout_ms: 200, chunk_gap_timeout_ms: 10_000 });
    const parts: StreamPart[] = [];
    for await (const part of adapter.stream(callFor('slow:50'))) {
      // The caller reads one part, then stops reading for longer than the whole-request bound.
      if (parts.length === 0) await new Promise((resolve) => setTimeout(resolve, 400));
      parts.push(part);
    }
    expect(parts.at(-1)).toMatchObject({ type: 'error', error: { code: 'E4507' } });
    // A provider that is simply too slow still ends with its own timeout.
    const slowProvider = await collect(openAIAdapter({ base_url: upstream.url, timeout_ms: 200, chunk_gap_timeout_ms: 10_000 }).stream(callFor('trickle:100')));
    expect(slowProvider.at(-1)).toMatchObject({ type: 'error', error: { code: 'E4201' } });
  });

  it("cuts a stream past the caller's deadline with E4510, not a provider fault", async () => {
    const upstream = await faultUpstream();
    const adapter = openAIAdapter({ base_url: upstream.url, timeout_ms: 10_000 });
    const parts = await collect(adapter.stream(callFor('trickle:20', {}, { deadlineAt: Date.now() + 300 })));
    expect(parts.some((part) => part.type === 'text-delta')).toBe(true);
    expect(parts.at(-1)).toMatchObject({ type: 'error', error: { code: 'E4510' } });
  });
});

describe('stream bounds', () => {
  it('ends an OpenAI stream with E4602 once its text passes max_stream_text_chars, and stops reading', async () => {
    const upstream = await faultUpstream();
    const adapter = openAIAdapter({ base_url: upstream.url, max_stream_text_chars: 20_000 });
    const parts = await collect(adapter.stream(callFor('endless')));
    const text = parts.flatMap((part) => (part.type === 'text-delta' ? [part.text] : [])).join('');
    expect(text.length).toBeLessThanOrEqual(20_000);
    expect(parts.at(-1)).toMatchObject({ type: 'error', error: { code: 'E4602', retryable: true } });
    await expect.poll(() => upstream.aborted).toBe(1);
  });

  it('ends an OpenAI stream with E4601 when one event grows past max_response_bytes', async () => {
    const upstream = await faultUpstream();
    const adapter = openAIAdapter({ base_url: upstream.url, max_response_bytes: 64 * 1024 });
    const parts = await collect(adapter.stream(callFor('one-line:8')));
    expect(parts).toEqual([expect.objectContaining({ type: 'error', error: expect.objectContaining({ code: 'E4601' }) })]);
  });

  it('counts content and tool-call arguments, and passes a stream within the bound untouched', async () => {
    const parts: StreamPart[] = [
      { type: 'text-delta', text: 'abcd' },
      { type: 'tool-call-delta', index: 0, id: 'c', name: 'f', argumentsDelta: '{"a":1}' },
      { type: 'finish', finishReason: 'stop', rawFinishReason: 'stop', usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 } },
    ];
    const source = async function* () {
      yield* parts;
    };
    expect(await collect(limitStreamText(source(), 11, 'p'))).toEqual(parts);
    const cut = await collect(limitStreamText(source(), 10, 'p'));
    expect(cut.map((part) => part.type)).toEqual(['text-delta', 'error']);
    expect(cut[1]).toMatchObject({ error: { code: 'E4602', details: { provider: 'p', limit_chars: 10 } } });
  });

  it('bounds one SSE line, one SSE event and one NDJSON line', async () => {
    const sse = async (...pieces: string[]) => {
      const events = [];
      for await (const event of parseSse(bytesOf(...pieces), { provider: 'p', maxEventChars: 16 })) events.push(event.data);
      return events;
    };
    expect(await sse('data: short\n\n')).toEqual(['short']);
    expect((await rejection(sse('data: ', 'x'.repeat(10), 'x'.repeat(10))).then((error) => error as GatewayError)).code).toBe('E4601');
    expect(((await rejection(sse('data: 12345678\ndata: 12345678\n'))) as GatewayError).code).toBe('E4601');
    const ndjson = async (...pieces: string[]) => {
      const values = [];
      for await (const value of parseNdjson(bytesOf(...pieces), 'p', 16)) values.push(value);
      return values;
    };
    expect(await ndjson('{"a":1}\n{"b":2}')).toEqual([{ a: 1 }, { b: 2 }]);
    expect(((await rejection(ndjson('{"a":"', 'x'.repeat(20)))) as GatewayError).code).toBe('E4601');
  });
});
