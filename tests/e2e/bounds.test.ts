/**
 * Chaos: an upstream that answers 300 MB, streams 500 MB, streams forever, trickles or hangs, and a
 * client that trickles its request — through the real HTTP service, called with the official
 * `openai` client. Every fault must end in a bounded time with a clear E-code, with the gateway's
 * memory flat, and a caller's own deadline must never count against the provider.
 */
import { connect } from 'node:net';
import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../../src/config/config-schema.js';
import { onCleanup } from '../helpers/cleanup.js';
import { startFaultUpstream } from '../helpers/fault-upstream.js';
import type { FaultUpstream } from '../helpers/fault-upstream.js';
import { mockConfig, startTestServer } from '../helpers/gateway.js';

const MB = 1024 * 1024;
/** Growth of this process's RSS tolerated while an oversized answer is refused (the old gateway grew by 600 MB to 5.7 GB). */
const RSS_GROWTH_BOUND_MB = 200;

const MODELS = {
  'huge-json': 'huge-json:300',
  'huge-json-chunked': 'huge-json-chunked:300',
  'huge-stream': 'huge-stream:500',
  endless: 'endless',
  'one-line': 'one-line:100',
  trickle: 'trickle:50',
  hang: 'hang',
  slow: 'slow:1500',
  ok: 'ok',
} as const;
type FixtureModel = keyof typeof MODELS;

async function gatewayOver(upstream: FaultUpstream, provider: Record<string, unknown> = {}, overrides: Partial<GatewayConfigInput> = {}) {
  const config = mockConfig({
    providers: { upstream: { type: 'openai', base_url: upstream.url, ...provider } },
    models: Object.fromEntries(
      Object.entries(MODELS).map(([id, providerModel]) => [
        id,
        { provider: 'upstream', provider_model: providerModel, capabilities: ['text', 'streaming'], expected_latency_ms: 100 },
      ]),
    ),
    routing: { max_attempts: 1 },
    rate_limits: { agent_default: { rpm: 100_000, tpm: 1_000_000_000 } },
    ...overrides,
  });
  return startTestServer(config);
}

async function upstreamFixture(): Promise<FaultUpstream> {
  const upstream = await startFaultUpstream();
  onCleanup(() => upstream.close());
  return upstream;
}

/** Runs `work` while sampling this process's RSS; resolves with its result and the growth in MB. */
async function rssGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growthMb: number }> {
  const before = process.memoryUsage.rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
  try {
    const result = await work();
    return { result, growthMb: (Math.max(peak, process.memoryUsage.rss()) - before) / MB };
  } finally {
    clearInterval(sampler);
  }
}

const ask = (model: FixtureModel, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user' as const, content: `a question for ${model}` }],
  ...extra,
});

/** The error a call failed with, or the call's result. */
async function outcome<T>(call: Promise<T>): Promise<T | { status?: number; code?: string | null }> {
  return call.catch((error: unknown) => error as { status?: number; code?: string | null });
}

/** Reads a whole stream: its text and the error event that ended it, if any. */
async function readStream(client: OpenAI, model: FixtureModel, options: { headers?: Record<string, string>; extra?: Record<string, unknown> } = {}) {
  let text = '';
  let error: { code?: string | null; status?: number } | undefined;
  try {
    const stream = await client.chat.completions.create(
      { ...ask(model, options.extra), stream: true },
      options.headers === undefined ? {} : { headers: options.headers },
    );
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  } catch (caught) {
    error = caught as typeof error;
  }
  return { text, error };
}

describe('bounded upstream answers', () => {
  it('refuses a 300 MB JSON answer with 502 E4601 while RSS stays low, declared or chunked', async () => {
    const upstream = await upstreamFixture();
    const { client } = await gatewayOver(upstream);
    for (const model of ['huge-json', 'huge-json-chunked'] as const) {
      const { result, growthMb } = await rssGrowth(() => outcome(client.chat.completions.create(ask(model))));
      expect(result).toMatchObject({ status: 502, code: 'E4601' });
      expect(growthMb).toBeLessThan(RSS_GROWTH_BOUND_MB);
    }
    await expect.poll(() => upstream.aborted).toBe(2);
  });

  it('ends a 500 MB stream with an E4602 error event while RSS stays low, and caches nothing of it', async () => {
    const upstream = await upstreamFixture();
    const { client } = await gatewayOver(upstream, {}, { cache: { enabled: true, embedder: { provider: 'local' } } });
    const { result, growthMb } = await rssGrowth(() => readStream(client, 'huge-stream'));
    expect(result.error).toMatchObject({ code: 'E4602' });
    expect(result.text.length).toBeLessThanOrEqual(4_000_000);
    expect(growthMb).toBeLessThan(RSS_GROWTH_BOUND_MB);
    await expect.poll(() => upstream.aborted).toBe(1);
    // Asked again, the upstream is asked again: the cut answer was not cached.
    await readStream(client, 'huge-stream');
    expect(upstream.requests.filter((model) => model === 'huge-stream:500')).toHaveLength(2);
  });

  it('ends an endless stream at max_stream_text_chars, and one endless line at max_response_bytes', async () => {
    const upstream = await upstreamFixture();
    const { client } = await gatewayOver(upstream, { max_stream_text_chars: 1_000_000, max_response_bytes: 4 * MB });
    const endless = await readStream(client, 'endless');
    expect(endless.error).toMatchObject({ code: 'E4602' });
    expect(endless.text.length).toBeGreaterThan(0);
    expect(endless.text.length).toBeLessThanOrEqual(1_000_000);
    // Nothing was relayed before the line grew too long, so the refusal comes before the stream opens.
    expect(await outcome(client.chat.completions.create({ ...ask('one-line'), stream: true }))).toMatchObject({ status: 502, code: 'E4601' });
  });
});

describe('bounded upstream time', () => {
  it("cuts a trickling stream at the provider's timeout_ms with E4201", async () => {
    const upstream = await upstreamFixture();
    const { client } = await gatewayOver(upstream, { timeout_ms: 1_500, chunk_gap_timeout_ms: 1_000 });
    const started = Date.now();
    const { text, error } = await readStream(client, 'trickle');
    expect(text.length).toBeGreaterThan(0);
    expect(error).toMatchObject({ code: 'E4201' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
  });

  it('ends a hanging upstream at first_byte_timeout_ms with 504 E4201', async () => {
    const upstream = await upstreamFixture();
    const { client } = await gatewayOver(upstream, { first_byte_timeout_ms: 500 });
    expect(await outcome(client.chat.completions.create(ask('hang')))).toMatchObject({ status: 504, code: 'E4201' });
  });

  it('lets a healthy stream run past max_latency_ms: the preference is not a deadline', async () => {
    const upstream = await upstreamFixture();
    const { client } = await gatewayOver(upstream);
    const { text, error } = await readStream(client, 'slow', { extra: { l04: { max_latency_ms: 300 } } });
    expect(error).toBeUndefined();
    expect(text.length).toBe(20 * 64);
  });

  it("reports the caller's deadline as E4510, and never opens the circuit for it", async () => {
    const upstream = await upstreamFixture();
    const { client, url } = await gatewayOver(upstream, {}, { circuit_breaker: { failure_threshold: 2, cooldown_s: 60 } });
    for (let index = 0; index < 4; index++) {
      const cut = await readStream(client, 'trickle', { headers: { 'x-l04-deadline-ms': '300' } });
      expect(cut.error).toMatchObject({ code: 'E4510' });
      expect(await outcome(client.chat.completions.create(ask('hang', { l04: { deadline_ms: 200 } })))).toMatchObject({ status: 504, code: 'E4510' });
    }
    const health = (await (await fetch(`${url}/health/providers`)).json()) as { data: Array<{ provider: string; circuit_state: string }> };
    expect(health.data.find((entry) => entry.provider === 'upstream')?.circuit_state).toBe('closed');
    expect(await client.chat.completions.create(ask('ok'))).toMatchObject({ object: 'chat.completion' });
  });
});

describe('bounded request arrival', () => {
  /** Sends `head`, then one byte of `body` every `gapMs`; resolves with what the server answered and how long it held on. */
  function trickle(url: string, head: string, body: string, gapMs: number): Promise<{ reply: string; heldMs: number }> {
    const started = Date.now();
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    onCleanup(() => socket.destroy());
    let reply = '';
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < body.length && socket.writable) socket.write(body[sent++]!);
    }, gapMs);
    onCleanup(() => clearInterval(timer));
    socket.write(head);
    return new Promise((resolve) => {
      socket.on('data', (chunk: Buffer) => (reply += chunk.toString('utf8')));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(timer);
        resolve({ reply, heldMs: Date.now() - started });
      });
    });
  }

  it('answers a trickling request body with 408 E4513 at request_timeout_ms and closes the connection', async () => {
    const { url } = await startTestServer(mockConfig({ server: { request_timeout_ms: 1_000, headers_timeout_ms: 500 } }));
    const body = JSON.stringify(ask('ok' as FixtureModel));
    const head = `POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`;
    const { reply, heldMs } = await trickle(url, head, body, 100);
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(reply).toContain('"code":"E4513"');
    // Cut at the bound (checked every 500 ms here), not when the body would have ended (about 10 s).
    expect(heldMs).toBeLessThan(body.length * 100);
  });

  it('closes a connection whose headers trickle, at headers_timeout_ms', async () => {
    const { url } = await startTestServer(mockConfig({ server: { request_timeout_ms: 2_000, headers_timeout_ms: 500 } }));
    const { reply, heldMs } = await trickle(url, 'GET /health HTTP/1.1\r\n', 'x-slow: '.padEnd(200, 'a'), 100);
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(heldMs).toBeLessThan(200 * 100);
  });
});
