/**
 * Operating the gateway (issue 7 parts 2, 3 and 6) through its HTTP service: the Prometheus
 * metrics after real traffic, with bounded labels; the one log line per request; readiness versus
 * liveness; graceful shutdown with a request in flight. The gateway runs on a fake clock, so rate
 * windows never roll over and a "slow" provider is slow only until the test advances time.
 */
import { describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../src/config/config-schema.js';
import { createLogger } from '../src/observability/logger.js';
import { FakeClock, flushMicrotasks } from './helpers/fake-clock.js';
import { LogCapture, mockConfig, startTestServer } from './helpers/gateway.js';
import { callJson, errorCodeOf, streamChat } from './helpers/http-calls.js';

const PRICE_IN = 2;
const PRICE_OUT = 5;
const LIMITED = 'did:l04:obs-limited';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseMetrics(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (match === null) throw new Error(`not a Prometheus sample: ${line}`);
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1]!, pair[2]!]));
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

/** Sum of the samples named `name` whose labels include `labels`. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}

function config(overrides: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return mockConfig({
    models: {
      'mock-1': {
        provider: 'mock',
        capabilities: ['text', 'streaming'],
        context_length: 32768,
        input_cost_per_1k_cents: PRICE_IN,
        output_cost_per_1k_cents: PRICE_OUT,
      },
    },
    cache: { enabled: true, semantic: false },
    rate_limits: { agents: { [LIMITED]: { rpm: 1, tpm: 100_000 } } },
    circuit_breaker: { failure_threshold: 3, cooldown_s: 60 },
    ...overrides,
  });
}

async function observedServer(overrides: Partial<GatewayConfigInput> = {}, logContent = false) {
  const logs = new LogCapture();
  const clock = new FakeClock(Date.now());
  const started = await startTestServer(config(overrides), { clock, logger: createLogger({ level: 'info', destination: logs, logContent }) });
  return { ...started, logs, clock };
}

const as = (agent: string): Record<string, string> => ({ 'x-agent-did': agent });
const chat = (text: string): Record<string, unknown> => ({ model: 'mock-1', messages: [{ role: 'user', content: text }] });
type Usage = { prompt_tokens: number; completion_tokens: number };

describe('Prometheus metrics through HTTP', () => {
  it('counts answers, cache hits, rate limits and upstream failures with the labels that tell them apart', async () => {
    const { url } = await observedServer();
    const ids: string[] = [];
    const track = (id: string | null): void => void (id !== null && ids.push(id));

    const first = await callJson(url, '/v1/chat/completions', chat('what is observability'), as('did:l04:obs-1'));
    const hit = await callJson(url, '/v1/chat/completions', chat('what is observability'), as('did:l04:obs-2'));
    const stream = await streamChat(url, { ...chat('stream me an answer'), stream_options: { include_usage: true } }, as('did:l04:obs-1'));
    const allowed = await callJson(url, '/v1/chat/completions', chat('limited one'), as(LIMITED));
    const limited = await callJson(url, '/v1/chat/completions', chat('limited two'), as(LIMITED));
    const upstream = await callJson(url, '/v1/chat/completions', chat('[[mock:fail:503]]'), as('did:l04:obs-1'));
    for (const answer of [first, hit, stream, allowed, limited, upstream]) track(answer.headers.get('x-l04-request-id'));
    expect([first.status, hit.headers.get('x-l04-cache'), stream.status, allowed.status]).toEqual([200, 'exact', 200, 200]);
    expect([limited.status, errorCodeOf(limited.body), upstream.status, errorCodeOf(upstream.body)]).toEqual([429, 'E4400', 502, 'E4202']);

    const scrape = await callJson(url, '/metrics');
    expect(scrape.headers.get('content-type')).toContain('text/plain');
    const samples = parseMetrics(scrape.text);
    const requests = 'l04_requests_total';
    expect(total(samples, requests, { model: 'mock-1', provider: 'mock', status: 'ok', cache: 'miss', error_source: 'none', code: '' })).toBe(3);
    expect(total(samples, requests, { status: 'ok', cache: 'exact', error_source: 'none' })).toBe(1);
    expect(total(samples, requests, { status: '429', error_source: 'gateway', code: 'E4400' })).toBe(1);
    expect(total(samples, requests, { model: 'mock-1', provider: 'mock', status: '502', error_source: 'upstream', code: 'E4202' })).toBe(1);
    expect(total(samples, requests)).toBe(6);
    expect(total(samples, 'l04_request_duration_seconds_count')).toBe(6);
    expect(total(samples, 'l04_request_duration_seconds_bucket', { le: '+Inf', error_source: 'upstream' })).toBe(1);
    expect(total(samples, 'l04_time_to_first_token_seconds_count', { model: 'mock-1', provider: 'mock' })).toBe(1);
    expect(total(samples, 'l04_gateway_overhead_seconds_count')).toBe(6);

    // Tokens and spend of the three answers that reached the provider (the cache hit costs nothing).
    const usages = [
      first.body as { usage: Usage },
      allowed.body as { usage: Usage },
      stream.events.find((event) => typeof event === 'object' && event !== null && 'usage' in event) as { usage: Usage },
    ].map((item) => item.usage);
    const input = usages.reduce((sum, usage) => sum + usage.prompt_tokens, 0);
    const output = usages.reduce((sum, usage) => sum + usage.completion_tokens, 0);
    expect(total(samples, 'l04_tokens_total', { model: 'mock-1', provider: 'mock', direction: 'input' })).toBe(input);
    expect(total(samples, 'l04_tokens_total', { model: 'mock-1', provider: 'mock', direction: 'output' })).toBe(output);
    expect(total(samples, 'l04_cost_cents_total', { model: 'mock-1', provider: 'mock' })).toBeCloseTo((input * PRICE_IN + output * PRICE_OUT) / 1000, 9);
    expect(total(samples, 'l04_cache_lookups_total', { result: 'miss' })).toBe(4);
    expect(total(samples, 'l04_cache_lookups_total', { result: 'exact' })).toBe(1);
    expect(total(samples, 'l04_rate_limited_total', { scope: 'agent', kind: 'requests' })).toBe(1);
    expect(samples.find((sample) => sample.name === 'l04_circuit_state' && sample.labels.provider === 'mock')?.value).toBe(0);
    expect(samples.find((sample) => sample.name === 'l04_queue_depth' && sample.labels.provider === 'mock' && sample.labels.priority === 'normal')?.value).toBe(
      0,
    );
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect(
        samples.some((sample) => sample.name === name),
        name,
      ).toBe(true);
    }

    // Bounded labels: a fixed set of names, and no request id or agent id as a value.
    const allowedLabels = new Set(['model', 'provider', 'status', 'cache', 'error_source', 'code', 'direction', 'result', 'scope', 'kind', 'priority', 'le']);
    for (const sample of samples.filter((item) => item.name.startsWith('l04_'))) {
      for (const [label, value] of Object.entries(sample.labels)) {
        expect(allowedLabels.has(label), `${sample.name} label ${label}`).toBe(true);
        expect(value.includes('did:') || value.startsWith('req_') || ids.includes(value), `${sample.name}{${label}="${value}"}`).toBe(false);
      }
    }
    expect(ids.some((id) => scrape.text.includes(id))).toBe(false);
    expect(scrape.text.includes('did:l04:')).toBe(false);
  });

  it('shows an open circuit in l04_circuit_state and labels the refusals that follow as the gateway own', async () => {
    const { url } = await observedServer();
    for (let index = 0; index < 3; index++) expect((await callJson(url, '/v1/chat/completions', chat(`[[mock:fail:503]] ${index}`))).status).toBe(502);
    const refused = await callJson(url, '/v1/chat/completions', chat('after the breaker opened'));
    expect(refused.status).toBe(503);
    const samples = parseMetrics((await callJson(url, '/metrics')).text);
    expect(samples.find((sample) => sample.name === 'l04_circuit_state' && sample.labels.provider === 'mock')?.value).toBe(2);
    expect(total(samples, 'l04_requests_total', { status: '503', error_source: 'gateway', code: errorCodeOf(refused.body) ?? 'none' })).toBe(1);
  });

  it('reports l04_provider_up for every configured provider from the start', async () => {
    const { url } = await observedServer();
    const samples = parseMetrics((await callJson(url, '/metrics')).text);
    expect(samples.find((sample) => sample.name === 'l04_provider_up' && sample.labels.provider === 'mock')?.value).toBe(1);
  });

  it('counts requests refused at the edge (400, 404, 413) as client errors', async () => {
    const { url } = await observedServer({ server: { body_limit_bytes: 1024 } });
    await callJson(url, '/v1/chat/completions', { model: 'mock-1', messages: 'not a list' });
    await callJson(url, '/v1/nowhere');
    await callJson(url, '/v1/chat/completions', chat('x'.repeat(2048)));
    const samples = parseMetrics((await callJson(url, '/metrics')).text);
    expect(total(samples, 'l04_requests_total', { status: '400', error_source: 'client', code: 'E4500' })).toBe(1);
    expect(total(samples, 'l04_requests_total', { status: '404', error_source: 'client', code: 'E4505' })).toBe(1);
    expect(total(samples, 'l04_requests_total', { status: '413', error_source: 'client', code: 'E4503' })).toBe(1);
  });
});

describe('the log line of a request', () => {
  it('carries request id, agent, tenant, model, provider, attempts, cache, tokens, cost, latency and E-code, without content', async () => {
    const { url, logs } = await observedServer();
    const ok = await callJson(url, '/v1/chat/completions', chat('a private question about zebras'), as('did:l04:logged'));
    const failed = await callJson(url, '/v1/chat/completions', chat('a private failure [[mock:fail:503]]'), as('did:l04:logged'));
    const records = logs.records();
    const okLine = records.find((line) => line.request_id === ok.headers.get('x-l04-request-id'));
    const failedLine = records.find((line) => line.request_id === failed.headers.get('x-l04-request-id'));
    const usage = (ok.body as { usage: Usage }).usage;

    expect(okLine).toMatchObject({
      level: 'info',
      agent: 'did:l04:logged',
      tenant: 'default',
      model: 'mock-1',
      provider: 'mock',
      attempts: ['mock-1:success'],
      cache: 'miss',
      input_tokens: usage.prompt_tokens,
      output_tokens: usage.completion_tokens,
      latency_ms: expect.any(Number),
    });
    expect(okLine?.cost_cents).toBeCloseTo((usage.prompt_tokens * PRICE_IN + usage.completion_tokens * PRICE_OUT) / 1000, 9);
    expect(okLine?.code).toBeUndefined();
    expect(failedLine).toMatchObject({
      level: 'warn',
      agent: 'did:l04:logged',
      model: 'mock-1',
      provider: 'mock',
      attempts: ['mock-1:error:E4202'],
      code: 'E4202',
      http_status: 502,
      cost_cents: 0,
    });
    expect(logs.lines.filter((line) => line.includes(ok.headers.get('x-l04-request-id') ?? '?'))).toHaveLength(1);
    expect(logs.lines.some((line) => line.includes('zebras') || line.includes('private failure') || line.includes('Mock answer'))).toBe(false);
  });

  it('carries the prompt and the completion when logging.log_content is on', async () => {
    const { url, logs } = await observedServer({ logging: { level: 'info', log_content: true } }, true);
    const ok = await callJson(url, '/v1/chat/completions', chat('a question about zebras'), as('did:l04:logged'));
    const line = logs.records().find((record) => record.request_id === ok.headers.get('x-l04-request-id'));
    expect(JSON.stringify(line?.prompt)).toContain('zebras');
    expect(line?.completion).toBe('Mock answer: a question about zebras');
  });
});

describe('readiness and shutdown', () => {
  it('keeps /health at 200 while /health/ready names the provider whose circuit is open', async () => {
    const { url } = await observedServer();
    expect((await callJson(url, '/health/ready')).status).toBe(200);
    for (let index = 0; index < 3; index++) await callJson(url, '/v1/chat/completions', chat(`[[mock:fail:503]] ${index}`));
    const ready = await callJson(url, '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({
      ready: false,
      dependencies: { providers: { mock: { circuit_state: 'open', degraded: true } }, ledger: { degraded: false } },
    });
    expect((await callJson(url, '/health')).status).toBe(200);
  });

  it('lets a slow in-flight request finish on close, refuses new ones, and resolves', async () => {
    const { url, server, clock } = await observedServer({ providers: { mock: { type: 'mock', latency_ms: 5_000 } } });
    const slow = callJson(url, '/v1/chat/completions', chat('take your time'));
    // In flight once the mock's latency timer waits on the clock (no deadline timer: the request set none).
    for (let round = 0; round < 200 && clock.pending() < 1; round++) await flushMicrotasks(1);
    expect(clock.pending()).toBeGreaterThanOrEqual(1);

    let closed = false;
    const closing = server.close().then(() => (closed = true));
    await flushMicrotasks();
    const late = await callJson(url, '/v1/chat/completions', chat('too late')).catch((error: unknown) => error);
    expect(late instanceof Error || errorCodeOf((late as { body: unknown }).body) === 'E4509').toBe(true);
    expect(closed).toBe(false);

    await clock.advance(5_000);
    const answer = await slow;
    expect(answer.status).toBe(200);
    expect((answer.body as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content).toBe('Mock answer: take your time');
    await closing;
    expect(closed).toBe(true);
  });

  it('closes within shutdown_grace_ms when an in-flight request never finishes', async () => {
    const { url, server, clock } = await observedServer({ server: { shutdown_grace_ms: 200 } });
    const hung = callJson(url, '/v1/chat/completions', chat('never answers [[mock:hang]]')).catch((error: unknown) => error);
    for (let round = 0; round < 200 && clock.pending() < 1; round++) await flushMicrotasks(1);
    const started = Date.now();
    await server.close();
    // The bound is the grace period plus the ledger's flush; 2 s is far above both and far below a hang.
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await hung).toBeInstanceOf(Error);
  });
});
