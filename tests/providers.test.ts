import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { GatewayError } from '../src/models/error-codes.js';
import type { LogicalPrompt } from '../src/models/inference-request.js';
import { ModelConfigSchema } from '../src/models/model-config.js';
import type { ProviderCall, StreamPart } from '../src/providers/base.js';
import { UpstreamClient } from '../src/providers/http/upstream-client.js';
import { parseSse } from '../src/providers/http/sse.js';
import { parseNdjson } from '../src/providers/http/ndjson.js';
import { mapHttpError, parseRetryAfter } from '../src/providers/http/map-http-error.js';
import { MockAdapter } from '../src/providers/mock-adapter.js';
import { onCleanup } from './helpers/cleanup.js';
import { closeServer, listenLocal } from './helpers/local-server.js';
import { FakeClock, flushMicrotasks } from './helpers/fake-clock.js';
import { mockOllamaResponse } from './setup.js';

const model = ModelConfigSchema.parse({ id: 'mock-1', provider: 'mock', provider_model: 'mock-1' });

function call(prompt: Partial<LogicalPrompt> & { text?: string } = {}, signal = new AbortController().signal): ProviderCall {
  const { text = 'hello', ...rest } = prompt;
  return {
    requestId: 'r1',
    model,
    prompt: { messages: [{ role: 'user', content: text }], ...rest },
    maxOutputTokens: 256,
    minContextLength: 4096,
    signal,
    deadlineAt: Date.now() + 10_000,
  };
}

async function collect(parts: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const out: StreamPart[] = [];
  for await (const part of parts) out.push(part);
  return out;
}

async function rejection(promise: Promise<unknown>): Promise<GatewayError> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error as GatewayError,
  );
}

describe('MockAdapter', () => {
  it('answers deterministically from the prompt and counts usage', async () => {
    const adapter = new MockAdapter({ id: 'mock', latency_ms: 0, stream_chunks: 4 });
    const first = await adapter.complete(call({ text: 'same question' }));
    const second = await adapter.complete(call({ text: 'same question' }));
    expect(first).toEqual(second);
    expect(first.content).toBe('Mock answer: same question');
    expect(first.usage.total_tokens).toBe(first.usage.input_tokens + first.usage.output_tokens);
    expect(first.usage.output_tokens).toBeGreaterThan(0);
  });

  it('streams in several chunks that join to the complete answer', async () => {
    const adapter = new MockAdapter({ id: 'mock', latency_ms: 0, stream_chunks: 4 });
    const parts = await collect(adapter.stream(call({ text: 'a streamed answer' })));
    const text = parts.flatMap((part) => (part.type === 'text-delta' ? [part.text] : [])).join('');
    expect(parts.filter((part) => part.type === 'text-delta').length).toBe(4);
    expect(text).toBe('Mock answer: a streamed answer');
    expect(parts.at(-1)?.type).toBe('finish');
  });

  it('waits its configured latency on the injected clock', async () => {
    const clock = new FakeClock();
    const adapter = new MockAdapter({ id: 'mock', latency_ms: 500, stream_chunks: 2 }, { clock });
    let done = false;
    const pending = adapter.complete(call()).then(() => {
      done = true;
    });
    await clock.advance(499);
    expect(done).toBe(false);
    await clock.advance(1);
    await pending;
    expect(done).toBe(true);
  });

  it('injects status failures, hangs until aborted, and cuts streams', async () => {
    const adapter = new MockAdapter({ id: 'mock', latency_ms: 0, stream_chunks: 4 });
    adapter.injectFailure({ kind: 'status', status: 503 }, 1);
    expect((await rejection(adapter.complete(call()))).code).toBe('E4202');
    expect((await adapter.complete(call())).content).toContain('Mock answer');

    adapter.injectFailure({ kind: 'hang' }, 1);
    const controller = new AbortController();
    const hanging = rejection(adapter.complete(call({}, controller.signal)));
    await flushMicrotasks();
    controller.abort();
    expect((await hanging).code).toBe('E4507');

    const parts = await collect(adapter.stream(call({ text: 'cut me [[mock:cut:1]]' })));
    expect(parts.at(-1)).toMatchObject({ type: 'error' });
    expect(parts.some((part) => part.type === 'finish')).toBe(false);
  });

  it('calls a tool when tools are offered, and answers JSON in JSON mode', async () => {
    const adapter = new MockAdapter({ id: 'mock', latency_ms: 0, stream_chunks: 1 });
    const toolAnswer = await adapter.complete(call({ text: 'weather in Oslo', tools: [{ name: 'weather', parameters: {} }] }));
    expect(toolAnswer.finishReason).toBe('tool_calls');
    expect(toolAnswer.toolCalls[0]).toMatchObject({ name: 'weather', arguments: '{"input":"weather in Oslo"}' });
    const jsonAnswer = await adapter.complete(call({ text: 'json please', response_format: { type: 'json_object' } }));
    expect(JSON.parse(jsonAnswer.content)).toEqual({ answer: 'json please' });
  });

  it('embeds deterministically into unit vectors', async () => {
    const adapter = new MockAdapter({ id: 'mock', latency_ms: 0, stream_chunks: 1 });
    const result = await adapter.embed({
      model: 'mock-1',
      inputs: ['alpha beta', 'alpha beta'],
      signal: new AbortController().signal,
      deadlineAt: Date.now() + 1000,
    });
    expect(result.embeddings[0]).toEqual(result.embeddings[1]);
    expect(Math.hypot(...(result.embeddings[0] ?? []))).toBeCloseTo(1);
  });
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server: Server = createServer(handler);
  const port = await listenLocal(server);
  onCleanup(() => closeServer(server));
  return `http://127.0.0.1:${port}`;
}

function client(
  baseUrl: string,
  timeouts: Partial<{ connectMs: number; firstByteMs: number; chunkGapMs: number; totalMs: number }> = {},
  connections?: number,
): UpstreamClient {
  const upstream = new UpstreamClient({
    provider: 'fixture',
    baseUrl,
    timeouts: { connectMs: 1000, firstByteMs: 1000, chunkGapMs: 1000, totalMs: 5000, ...timeouts },
    ...(connections === undefined ? {} : { connections }),
  });
  onCleanup(() => upstream.close());
  return upstream;
}

describe('UpstreamClient', () => {
  it('parses the mock Ollama fixture as JSON', async () => {
    const url = await listen((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(mockOllamaResponse));
    });
    const response = await client(url).send({ method: 'POST', path: '/api/chat', body: {} });
    expect(await response.json()).toEqual(mockOllamaResponse);
  });

  it('maps a refused connection to E4200', async () => {
    const url = await listen(() => undefined);
    const closedPort = url.replace(/:\d+$/, ':9');
    expect((await rejection(client(closedPort).send({ method: 'GET', path: '/' }))).code).toBe('E4200');
  });

  it('maps a hang before the first byte to E4201', async () => {
    const url = await listen(() => undefined);
    expect((await rejection(client(url, { firstByteMs: 50 }).send({ method: 'GET', path: '/' }))).code).toBe('E4201');
  });

  it('maps a stall between chunks to E4201 while reading', async () => {
    const url = await listen((_request, response) => {
      response.writeHead(200);
      response.write('first');
    });
    const response = await client(url, { chunkGapMs: 50 }).send({ method: 'GET', path: '/' });
    const reading = (async () => {
      for await (const _chunk of response.chunks()) {
        // keep reading until the stall
      }
    })();
    expect((await rejection(reading)).code).toBe('E4201');
  });

  it("ends with the caller's E4510 when its deadline is the nearest bound, and with E4201 when a provider bound is", async () => {
    const url = await listen((_request, response) => {
      setTimeout(() => response.end('{}'), 300).unref();
    });
    const byDeadline = await rejection(client(url).send({ method: 'GET', path: '/', deadlineAt: Date.now() + 50 }));
    expect(byDeadline.code).toBe('E4510');
    expect((await rejection(client(url, { totalMs: 50 }).send({ method: 'GET', path: '/', deadlineAt: Date.now() + 5_000 }))).code).toBe('E4201');
    expect((await rejection(client(url, { firstByteMs: 50 }).send({ method: 'GET', path: '/', deadlineAt: Date.now() + 5_000 }))).code).toBe('E4201');
    expect((await rejection(client(url).send({ method: 'GET', path: '/', deadlineAt: Date.now() - 1 }))).code).toBe('E4510');
  });

  it('sends health checks on a connection of their own, so a pool held by a hung call does not delay them', async () => {
    const url = await listen((request, response) => {
      if (request.url === '/hang') return;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"ok":true}');
    });
    const upstream = client(url, {}, 1);
    // The hung call holds the one traffic connection longer than the queued call's bound.
    const hung = upstream.send({ method: 'GET', path: '/hang', totalTimeoutMs: 500 });
    hung.catch(() => undefined);
    const queued = rejection(upstream.send({ method: 'GET', path: '/ok', totalTimeoutMs: 300 }));
    const check = await upstream.send({ method: 'GET', path: '/ok', channel: 'health', totalTimeoutMs: 300 });
    expect(await check.json()).toEqual({ ok: true });
    // The same request on the traffic pool waits behind the hung call until its bound.
    expect((await queued).code).toBe('E4201');
  });

  it('maps a body that is not JSON to E4600 and a caller abort to E4507', async () => {
    const url = await listen((_request, response) => {
      response.writeHead(200);
      response.end('<html>');
    });
    const response = await client(url).send({ method: 'GET', path: '/' });
    expect((await rejection(response.json())).code).toBe('E4600');
    const controller = new AbortController();
    controller.abort();
    expect((await rejection(client(url).send({ method: 'GET', path: '/', signal: controller.signal }))).code).toBe('E4507');
  });
});

describe('wire helpers', () => {
  it('parses SSE with CRLF, comments and multi-line data', async () => {
    const bytes = new TextEncoder().encode(': ping\r\nevent: delta\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata: [DONE]\n\n');
    const events = [];
    for await (const event of parseSse(
      (async function* () {
        yield bytes.slice(0, 17);
        yield bytes.slice(17);
      })(),
    ))
      events.push(event);
    expect(events).toEqual([
      { event: 'delta', data: '{"a":\n1}' },
      { event: 'message', data: '[DONE]' },
    ]);
  });

  it('parses NDJSON across chunk boundaries', async () => {
    const values = [];
    for await (const value of parseNdjson(
      (async function* () {
        yield new TextEncoder().encode('{"a":1}\n{"b"');
        yield new TextEncoder().encode(':2}\n');
      })(),
      'fixture',
    ))
      values.push(value);
    expect(values).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it('maps statuses to E-codes and reads Retry-After', () => {
    expect(mapHttpError('p', 500, {}).code).toBe('E4202');
    expect(mapHttpError('p', 401, {}).code).toBe('E4203');
    expect(mapHttpError('p', 403, {}).code).toBe('E4203');
    expect(mapHttpError('p', 400, {}).code).toBe('E4206');
    expect(mapHttpError('p', 529, {}).code).toBe('E4205');
    const limited = mapHttpError('p', 429, { 'retry-after': '7' });
    expect(limited.code).toBe('E4204');
    expect(limited.retryAfterMs).toBe(7000);
    expect(parseRetryAfter({ 'retry-after-ms': '250' })).toBe(250);
    expect(mapHttpError('p', 400, {}, { contextLengthExceeded: true }).code).toBe('E4207');
  });
});
