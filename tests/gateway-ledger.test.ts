/**
 * The usage ledger through the whole gateway and its HTTP service, against the real PostgreSQL on
 * this machine (issue 7, "Done when" 1): every request that reaches the gateway — answered,
 * streamed, cached, failed upstream, cut mid-stream, rate limited — is exactly one row with the
 * tokens and cost the caller saw; with PostgreSQL unreachable for part of the run (a TCP proxy the
 * test stops and restarts) and across a shutdown, the ledger still ends with exactly those rows.
 * Each test writes to its own schema and spool directory.
 */
import { Pool } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../src/config/config-schema.js';
import type { UsageLedger } from '../src/accounting/usage-ledger.js';
import { mockConfig, startTestServer } from './helpers/gateway.js';
import { callJson, errorCodeOf, streamChat } from './helpers/http-calls.js';
import { PG_URL, ledgerRows, pgUrlThrough, spoolDir, startLedger, testSchema } from './helpers/ledger-db.js';
import type { LedgerRow } from './helpers/ledger-db.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { FakeClock } from './helpers/fake-clock.js';
import { estimatePromptTokens, estimateTextTokens } from '../src/util/token-estimate.js';

const admin = new Pool({ connectionString: PG_URL, max: 2 });
afterAll(() => admin.end());

const PRICE_IN = 3;
const PRICE_OUT = 7;
const LIMITED_AGENT = 'did:l04:ledger-limited';

/** Cents of a request at the test model's prices (per 1k tokens), computed independently of the gateway. */
const priced = (input: number, output: number): number => (input * PRICE_IN + output * PRICE_OUT) / 1000;

function pricedConfig(overrides: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return mockConfig({
    models: {
      'mock-1': {
        provider: 'mock',
        capabilities: ['text', 'streaming', 'embeddings'],
        context_length: 32768,
        input_cost_per_1k_cents: PRICE_IN,
        output_cost_per_1k_cents: PRICE_OUT,
      },
    },
    cache: { enabled: true, semantic: false },
    rate_limits: { agents: { [LIMITED_AGENT]: { rpm: 1, tpm: 100_000 } } },
    ...overrides,
  });
}

/** A row the test expects; `model_id`/`provider` left undefined are not compared (see the attribution test). */
type Expected = Omit<LedgerRow, 'model_id' | 'provider'> & { model_id: string | undefined; provider: string | undefined };

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
}

const as = (agent: string): Record<string, string> => ({ 'x-agent-did': agent });
const messages = (text: string): Array<{ role: string; content: string }> => [{ role: 'user', content: text }];

function row(id: string | null, agent: string, fields: Partial<Expected>): Expected {
  if (id === null) throw new Error('the answer has no x-l04-request-id');
  return {
    request_id: id,
    agent_did: agent,
    tenant: 'default',
    model_id: 'mock-1',
    provider: 'mock',
    input_tokens: 0,
    output_tokens: 0,
    cost_cents: 0,
    cached: false,
    status: 'ok',
    error_code: null,
    ...fields,
  };
}

function answered(id: string | null, agent: string, usage: Usage, cached: boolean): Expected {
  // A cache hit costs nothing and spends no tokens upstream.
  if (cached) return row(id, agent, { cached: true });
  return row(id, agent, {
    input_tokens: usage.prompt_tokens,
    output_tokens: usage.completion_tokens,
    cost_cents: priced(usage.prompt_tokens, usage.completion_tokens),
  });
}

/** A failed request; which model it names is asserted once, in its own test, not in every mix. */
function failed(id: string | null, agent: string, code: string): Expected {
  return row(id, agent, { status: 'error', error_code: code, model_id: undefined, provider: undefined });
}

/**
 * One round of mixed traffic: plain and streamed answers, cache hits, an upstream failure, a stream
 * cut after its first chunk, the native route, a rate-limited call, and one malformed
 * body (refused at the edge, before the gateway: it has no row). Returns the rows it must produce.
 */
async function mixedTraffic(url: string, tag: string): Promise<Expected[]> {
  const a = `did:l04:ledger-a-${tag}`;
  const b = `did:l04:ledger-b-${tag}`;
  const expected: Expected[] = [];

  for (const [agent, text] of [
    [a, `${tag} plain question`],
    [b, `${tag} plain question`],
  ] as const) {
    const answer = await callJson(url, '/v1/chat/completions', { model: 'mock-1', messages: messages(text) }, as(agent));
    expect(answer.status).toBe(200);
    const body = answer.body as { usage: Usage; l04: { cached: boolean; cost_cents: number } };
    if (!body.l04.cached) expect(body.l04.cost_cents).toBeCloseTo(priced(body.usage.prompt_tokens, body.usage.completion_tokens), 10);
    expected.push(answered(answer.headers.get('x-l04-request-id'), agent, body.usage, body.l04.cached));
  }

  for (const [agent, text] of [
    [a, `${tag} streamed question`],
    [b, `${tag} streamed question`],
    [a, `${tag} another streamed one`],
  ] as const) {
    const stream = await streamChat(url, { model: 'mock-1', messages: messages(text), stream_options: { include_usage: true } }, as(agent));
    expect(stream.status).toBe(200);
    expect(stream.events.at(-1)).toBe('[DONE]');
    const usage = (stream.events.find((event) => typeof event === 'object' && event !== null && 'usage' in event) as { usage: Usage }).usage;
    expected.push(answered(stream.headers.get('x-l04-request-id'), agent, usage, stream.headers.get('x-l04-cache') === 'exact'));
  }

  const failure = await callJson(url, '/v1/chat/completions', { model: 'mock-1', messages: messages(`${tag} [[mock:fail:503]]`) }, as(b));
  expect([failure.status, errorCodeOf(failure.body)]).toEqual([502, 'E4202']);
  expected.push(failed(failure.headers.get('x-l04-request-id'), b, 'E4202'));

  const cutPrompt = messages(`${tag} a longer answer that is cut [[mock:cut:1]]`);
  const cut = await streamChat(url, { model: 'mock-1', messages: cutPrompt }, as(a));
  expect(cut.status).toBe(200);
  expect(errorCodeOf(cut.events.at(-1))).toBe('E4208');
  // A cut stream is billed for what was delivered: the input (estimated: the mock reports no usage
  // before it finishes) and the output tokens of the text the caller received.
  const deliveredText = cut.events.map((event) => (event as { choices?: Array<{ delta?: { content?: string } }> }).choices?.[0]?.delta?.content ?? '').join('');
  expect(deliveredText).not.toBe('');
  const billedIn = estimatePromptTokens({ messages: cutPrompt as Array<{ role: 'user'; content: string }> });
  const billedOut = estimateTextTokens(deliveredText);
  expected.push({
    ...failed(cut.headers.get('x-l04-request-id'), a, 'E4208'),
    status: 'truncated',
    input_tokens: billedIn,
    output_tokens: billedOut,
    cost_cents: priced(billedIn, billedOut),
  });

  const native = await callJson(
    url,
    '/v1/inference',
    { agent_did: 'did:l04:ignored-in-favour-of-the-header', model_id: 'mock-1', logical_prompt: { messages: messages(`${tag} native`) } },
    as(b),
  );
  expect(native.status).toBe(200);
  const nativeBody = native.body as { token_usage: { input_tokens: number; output_tokens: number }; cached: boolean };
  expected.push(
    answered(
      native.headers.get('x-l04-request-id'),
      b,
      { prompt_tokens: nativeBody.token_usage.input_tokens, completion_tokens: nativeBody.token_usage.output_tokens },
      nativeBody.cached,
    ),
  );

  // rpm 1: the first call of the test passes, every later one is refused — and still accounted.
  const limited = await callJson(url, '/v1/chat/completions', { model: 'mock-1', messages: messages(`${tag} limited`) }, as(LIMITED_AGENT));
  if (limited.status === 200) {
    const body = limited.body as { usage: Usage; l04: { cached: boolean } };
    expected.push(answered(limited.headers.get('x-l04-request-id'), LIMITED_AGENT, body.usage, body.l04.cached));
  } else {
    expect([limited.status, errorCodeOf(limited.body)]).toEqual([429, 'E4400']);
    expected.push({ ...failed(limited.headers.get('x-l04-request-id'), LIMITED_AGENT, 'E4400'), model_id: '', provider: '' });
  }

  const malformed = await callJson(url, '/v1/chat/completions', { model: 'mock-1', messages: 'not a list' }, as(a));
  expect([malformed.status, errorCodeOf(malformed.body)]).toEqual([400, 'E4500']);
  return expected;
}

function expectRows(rows: Map<string, LedgerRow>, expected: Expected[]): void {
  expect(new Set(expected.map((item) => item.request_id)).size).toBe(expected.length);
  expect([...rows.keys()].sort()).toEqual(expected.map((item) => item.request_id).sort());
  for (const item of expected) {
    const actual = rows.get(item.request_id);
    const { model_id: model, provider, ...rest } = item;
    expect(actual, item.request_id).toMatchObject({
      ...rest,
      cost_cents: expect.any(Number),
      ...(model === undefined ? {} : { model_id: model }),
      ...(provider === undefined ? {} : { provider }),
    });
    expect(actual?.cost_cents, `cost of ${item.request_id}`).toBeCloseTo(item.cost_cents, 9);
  }
}

/** A gateway on a fake clock (rate-limit windows never roll over mid-test) writing to `ledger`. */
async function gatewayWithLedger(ledger: UsageLedger, overrides: Partial<GatewayConfigInput> = {}) {
  const clock = new FakeClock(Date.now());
  return { clock, ...(await startTestServer(pricedConfig(overrides), { ledger, clock })) };
}

describe('usage ledger through the gateway (real PostgreSQL)', () => {
  it('writes exactly one row per request with the tokens and cost the caller saw, streams and failures included', async () => {
    const schema = testSchema(admin);
    const ledger = await startLedger({ url: PG_URL, schema, spoolDir: await spoolDir() });
    const { url } = await gatewayWithLedger(ledger);

    const expected = [...(await mixedTraffic(url, 'r1')), ...(await mixedTraffic(url, 'r2'))];
    await ledger.flush();

    expect(expected.filter((item) => item.cached).length).toBeGreaterThan(0);
    expect(expected.filter((item) => item.error_code === 'E4400').length).toBeGreaterThan(0);
    expectRows(await ledgerRows(admin, schema), expected);
    expect(ledger.health()).toMatchObject({ healthy: true, spooled: 0, pending: 0 });
  });

  it('writes an embeddings request under the request id of its answer, priced by its input tokens', async () => {
    const schema = testSchema(admin);
    const ledger = await startLedger({ url: PG_URL, schema, spoolDir: await spoolDir() });
    // The system clock here: embeddings are micro-batched on a timer of the gateway's clock.
    const { url } = await startTestServer(pricedConfig(), { ledger });
    const agent = 'did:l04:ledger-embedder';

    const embedding = await callJson(url, '/v1/embeddings', { model: 'mock-1', input: ['embed me', 'and me too'] }, as(agent));
    expect(embedding.status).toBe(200);
    const inputTokens = (embedding.body as { usage: { prompt_tokens: number } }).usage.prompt_tokens;
    await ledger.flush();

    expectRows(await ledgerRows(admin, schema), [
      answered(embedding.headers.get('x-l04-request-id'), agent, { prompt_tokens: inputTokens, completion_tokens: 0 }, false),
    ]);
  });

  it('names the model and provider that were tried in the row of a failed request', async () => {
    const schema = testSchema(admin);
    const ledger = await startLedger({ url: PG_URL, schema, spoolDir: await spoolDir() });
    const { url } = await gatewayWithLedger(ledger);
    const agent = 'did:l04:ledger-failures';

    const upstream = await callJson(url, '/v1/chat/completions', { model: 'mock-1', messages: messages('[[mock:fail:503]]') }, as(agent));
    const cut = await streamChat(url, { model: 'mock-1', messages: messages('a longer answer that is cut [[mock:cut:1]]') }, as(agent));
    await ledger.flush();

    const rows = await ledgerRows(admin, schema);
    expect(rows.get(upstream.headers.get('x-l04-request-id') ?? '')).toMatchObject({ model_id: 'mock-1', provider: 'mock', error_code: 'E4202' });
    expect(rows.get(cut.headers.get('x-l04-request-id') ?? '')).toMatchObject({ model_id: 'mock-1', provider: 'mock', error_code: 'E4208' });
  });

  it('answers GET /v1/usage with the spend and tokens of one agent since a time', async () => {
    const schema = testSchema(admin);
    const ledger = await startLedger({ url: PG_URL, schema, spoolDir: await spoolDir() });
    const { url, clock } = await gatewayWithLedger(ledger);
    const since = new Date(clock.now()).toISOString();

    const expected = await mixedTraffic(url, 'u1');
    await ledger.flush();

    for (const agent of ['did:l04:ledger-a-u1', 'did:l04:ledger-b-u1']) {
      const mine = expected.filter((item) => item.agent_did === agent);
      const usage = await callJson(url, `/v1/usage?agent=${encodeURIComponent(agent)}&since=${encodeURIComponent(since)}`, undefined, as(agent));
      expect(usage.status).toBe(200);
      const body = usage.body as {
        object: string;
        requests: number;
        input_tokens: number;
        output_tokens: number;
        cost_cents: number;
        by_model: Array<{ model_id: string; requests: number }>;
      };
      expect(body).toMatchObject({
        object: 'usage',
        requests: mine.length,
        input_tokens: sum(mine, 'input_tokens'),
        output_tokens: sum(mine, 'output_tokens'),
      });
      expect(body.cost_cents).toBeGreaterThan(0);
      expect(body.cost_cents).toBeCloseTo(sum(mine, 'cost_cents'), 9);
      expect(body.by_model.reduce((total, group) => total + group.requests, 0)).toBe(mine.length);
      expect(body.by_model[0]).toMatchObject({ model_id: 'mock-1', provider: 'mock' });
    }
    const later = await callJson(url, `/v1/usage?agent=did:l04:ledger-a-u1&since=${clock.now() + 1}`, undefined, as('did:l04:ledger-a-u1'));
    expect(later.body).toMatchObject({ requests: 0, input_tokens: 0, output_tokens: 0, cost_cents: 0 });
  });

  it('still ends with exactly one row per request when PostgreSQL is unreachable for part of the run', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
    const schema = testSchema(admin);
    const ledger = await startLedger({ url: pgUrlThrough(proxy.port), schema, spoolDir: await spoolDir() });
    const { url } = await gatewayWithLedger(ledger);

    const before = await mixedTraffic(url, 'o1');
    await ledger.flush();
    expect((await ledgerRows(admin, schema)).size).toBe(before.length);

    await proxy.stop();
    const during = await mixedTraffic(url, 'o2');
    await ledger.flush();
    expect(ledger.health()).toMatchObject({ healthy: false, spooled: during.length, pending: 0 });
    // Liveness stays green while readiness names the degraded ledger.
    expect((await callJson(url, '/health')).status).toBe(200);
    const ready = await callJson(url, '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      ready: true,
      dependencies: { ledger: { backend: 'postgres', healthy: false, degraded: true, spooled: during.length } },
    });
    expect((await ledgerRows(admin, schema)).size).toBe(before.length);

    await proxy.start();
    const after = await mixedTraffic(url, 'o3');
    await ledger.flush();
    expectRows(await ledgerRows(admin, schema), [...before, ...during, ...after]);
    expect(ledger.health()).toMatchObject({ healthy: true, spooled: 0, pending: 0 });
    expect((await callJson(url, '/health/ready')).body).toMatchObject({ dependencies: { ledger: { degraded: false } } });
  });

  it('spools at shutdown while PostgreSQL is away and writes those rows once on the next start', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
    const schema = testSchema(admin);
    const dir = await spoolDir();
    const ledgerUrl = pgUrlThrough(proxy.port);
    const first = await startLedger({ url: ledgerUrl, schema, spoolDir: dir });
    const { url, server } = await gatewayWithLedger(first);

    const before = await mixedTraffic(url, 's1');
    await first.flush();
    await proxy.stop();
    // Not flushed: these records are still in memory when the gateway shuts down.
    const unflushed = await mixedTraffic(url, 's2');
    const closing = Date.now();
    await server.close();
    expect(Date.now() - closing).toBeLessThan(3_500);
    expect(first.health().spooled).toBe(unflushed.length);

    await proxy.start();
    const second = await startLedger({ url: ledgerUrl, schema, spoolDir: dir });
    await second.flush();
    expectRows(await ledgerRows(admin, schema), [...before, ...unflushed]);
    expect(second.health()).toMatchObject({ healthy: true, spooled: 0 });
  });
});

function sum(items: Expected[], field: 'input_tokens' | 'output_tokens' | 'cost_cents'): number {
  return items.reduce((total, item) => total + item[field], 0);
}
