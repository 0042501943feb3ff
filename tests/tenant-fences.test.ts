/**
 * What a tenant who wants something for free, and a new user with an official SDK, meet: every
 * token billed (cut and abandoned streams included), ledger identity owned by the gateway, refusals
 * that SDKs do not retry, no open service on a public address by accident, `auto` never answered by
 * a mock, prompts too long for a pinned model refused before any call, and upstream error text kept
 * for the logs. Against the real PostgreSQL ledger and Redis, with the official `openai` client.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { Pool } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../src/config/config-schema.js';
import { DEFAULT_CONFIG_PATH, loadConfigFile } from '../src/config/load-config.js';
import { ModelGateway, internalRuntime } from '../src/gateway/model-gateway.js';
import { createLogger } from '../src/observability/logger.js';
import { hashApiKey } from '../src/server/auth.js';
import { GatewayServer } from '../src/server/http-server.js';
import { estimatePromptTokens, estimateTextTokens } from '../src/util/token-estimate.js';
import { onCleanup } from './helpers/cleanup.js';
import { LogCapture, mockConfig, startTestServer } from './helpers/gateway.js';
import { callJson, errorCodeOf, streamChat } from './helpers/http-calls.js';
import { PG_URL, ledgerRows, spoolDir, startLedger, testSchema } from './helpers/ledger-db.js';
import { refusedBaseUrl, startOpenAIFixture } from './helpers/openai-fixture-server.js';
import { testRedis } from './helpers/redis.js';

const admin = new Pool({ connectionString: PG_URL, max: 2 });
afterAll(() => admin.end());

const TENANT_A_KEY = 'l04_fence_tenant_a_0000000001';
const TENANT_B_KEY = 'l04_fence_tenant_b_0000000002';
const BUDGET_KEY = 'l04_fence_budget_00000000003';
const PRICE_PER_1K = 100;
const priced = (input: number, output: number): number => ((input + output) * PRICE_PER_1K) / 1000;
const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
const user = (content: string): Array<{ role: 'user'; content: string }> => [{ role: 'user', content }];

/** A keyed gateway whose mock streams slowly enough to be abandoned mid-way (30 chunks over 3 s). */
function fencedConfig(overrides: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return mockConfig({
    providers: { mock: { type: 'mock', latency_ms: 3_000, stream_chunks: 30 }, fast: { type: 'mock' } },
    models: {
      'slow-1': { provider: 'mock', capabilities: ['text', 'streaming'], input_cost_per_1k_cents: PRICE_PER_1K, output_cost_per_1k_cents: PRICE_PER_1K },
      'mock-1': { provider: 'fast', capabilities: ['text', 'streaming'], input_cost_per_1k_cents: PRICE_PER_1K, output_cost_per_1k_cents: PRICE_PER_1K },
    },
    auth: {
      api_keys: [
        { key: TENANT_A_KEY, agent_did: 'did:l04:fence-a', tenant: 'acme' },
        { key: TENANT_B_KEY, agent_did: 'did:l04:fence-b', tenant: 'globex' },
        // One request at these prices costs more than the whole budget.
        { key: BUDGET_KEY, agent_did: 'did:l04:fence-budget', tenant: 'acme', daily_budget_cents: 0.5 },
      ],
    },
    ...overrides,
  });
}

/** An official client with its default retry policy, counting the HTTP attempts it makes. */
function defaultRetryingClient(url: string, apiKey: string): { client: OpenAI; attempts: () => number } {
  let attempts = 0;
  const client = new OpenAI({
    baseURL: `${url}/v1`,
    apiKey,
    fetch: (input, init) => {
      attempts++;
      return fetch(input, init);
    },
  });
  return { client, attempts: () => attempts };
}

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 3_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('every token billed', () => {
  it('bills a stream the provider cut for what was delivered, and charges it to the key budget and the ledger', async () => {
    const schema = testSchema(admin);
    const ledger = await startLedger({ url: PG_URL, schema, spoolDir: await spoolDir() });
    const { url, gateway } = await startTestServer(fencedConfig(), { ledger, redis: await testRedis() });

    const prompt = user('a long story that the provider cuts [[mock:cut:2]]');
    const cut = await streamChat(url, { model: 'mock-1', messages: prompt }, bearer(BUDGET_KEY));
    expect(errorCodeOf(cut.events.at(-1))).toBe('E4208');
    const delivered = cut.events.map((event) => (event as { choices?: Array<{ delta?: { content?: string } }> }).choices?.[0]?.delta?.content ?? '').join('');
    expect(delivered).not.toBe('');

    await ledger.flush();
    const row = (await ledgerRows(admin, schema)).get(cut.headers.get('x-l04-request-id') ?? '');
    const input = estimatePromptTokens({ messages: prompt });
    const output = estimateTextTokens(delivered);
    expect(row).toMatchObject({ status: 'truncated', error_code: 'E4208', input_tokens: input, output_tokens: output, model_id: 'mock-1' });
    expect(row?.cost_cents).toBeCloseTo(priced(input, output), 9);

    // The spend reached the key's budget on Redis: the next request is refused.
    const spend = (await internalRuntime(gateway)).spend;
    expect(
      await eventually(
        () => spend.spentToday(hashApiKey(BUDGET_KEY).slice(0, 12)),
        (cents) => cents > 0,
      ),
    ).toBeCloseTo(priced(input, output), 9);
    const next = await callJson(url, '/v1/chat/completions', { model: 'mock-1', messages: user('and now?') }, bearer(BUDGET_KEY));
    expect([next.status, errorCodeOf(next.body)]).toEqual([429, 'E4403']);
  });

  it('bills a stream the caller abandoned for the output it had received, as cancelled', async () => {
    const schema = testSchema(admin);
    const ledger = await startLedger({ url: PG_URL, schema, spoolDir: await spoolDir() });
    const { url } = await startTestServer(fencedConfig(), { ledger, redis: await testRedis() });
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: TENANT_A_KEY, maxRetries: 0 });

    const stream = await client.chat.completions.create({ model: 'slow-1', messages: user('tell me everything'), stream: true }).withResponse();
    const requestId = stream.response.headers.get('x-l04-request-id') ?? '';
    let received = '';
    let chunks = 0;
    for await (const chunk of stream.data) {
      received += chunk.choices[0]?.delta.content ?? '';
      if (++chunks === 3) break; // leaving the loop aborts the HTTP request
    }

    const row = await eventually(
      async () => {
        await ledger.flush();
        return (await ledgerRows(admin, schema)).get(requestId);
      },
      (found) => found !== undefined,
    );
    expect(row).toMatchObject({ status: 'cancelled', error_code: 'E4507', model_id: 'slow-1' });
    // At least what the caller read was billed, and never the whole answer it did not read.
    expect(row!.output_tokens).toBeGreaterThanOrEqual(estimateTextTokens(received));
    expect(row!.output_tokens).toBeLessThan(estimateTextTokens(received) * 10);
    expect(row!.input_tokens).toBe(estimatePromptTokens({ messages: user('tell me everything') }));
    expect(row!.cost_cents).toBeGreaterThan(0);
  });
});

describe('ledger identity', () => {
  it('bills two tenants that send one client request id twice, each under the gateway’s own id', async () => {
    const schema = testSchema(admin);
    const ledger = await startLedger({ url: PG_URL, schema, spoolDir: await spoolDir() });
    const { url } = await startTestServer(fencedConfig(), { ledger });
    const body = { agent_did: 'did:l04:ignored', request_id: 'same-client-id', model_id: 'mock-1', logical_prompt: { messages: user('hello') } };

    const answers = [await callJson(url, '/v1/inference', body, bearer(TENANT_A_KEY)), await callJson(url, '/v1/inference', body, bearer(TENANT_B_KEY))];
    for (let index = 0; index < 20; index++) answers.push(await callJson(url, '/v1/inference', body, bearer(TENANT_A_KEY)));
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    const ids = answers.map((answer) => answer.headers.get('x-l04-request-id'));
    expect(answers.map((answer) => (answer.body as { request_id: string }).request_id)).toEqual(ids);

    await ledger.flush();
    const rows = [...(await ledgerRows(admin, schema)).values()];
    expect(rows).toHaveLength(22);
    expect(new Set(rows.map((row) => row.request_id)).size).toBe(22);
    expect(rows.every((row) => row.client_request_id === 'same-client-id')).toBe(true);
    expect(rows.filter((row) => row.tenant === 'globex')).toHaveLength(1);
    expect(rows.every((row) => row.cost_cents > 0)).toBe(true);
  });
});

describe('refusals the official SDKs do not retry', () => {
  it('returns a spent budget to a default-retrying client with one attempt, no Retry-After and x-should-retry false', async () => {
    const { url } = await startTestServer(fencedConfig());
    const { client, attempts } = defaultRetryingClient(url, BUDGET_KEY);
    await client.chat.completions.create({ model: 'mock-1', messages: user('spend it all') });
    const spentAt = attempts();

    const refused = await eventually(
      () => callJson(url, '/v1/chat/completions', { model: 'mock-1', messages: user('probe') }, bearer(BUDGET_KEY)),
      (answer) => answer.status === 429,
    );
    expect([errorCodeOf(refused.body), refused.headers.get('x-should-retry'), refused.headers.get('retry-after')]).toEqual(['E4403', 'false', null]);

    const error = await client.chat.completions.create({ model: 'mock-1', messages: user('once more') }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(429);
    expect(attempts() - spentAt).toBe(1);
  });

  it("returns a spent budget to a default-retrying Anthropic client in one attempt, in Anthropic's error shape", async () => {
    const { url } = await startTestServer(fencedConfig());
    let attempts = 0;
    const client = new Anthropic({
      baseURL: url,
      apiKey: BUDGET_KEY,
      fetch: (input, init) => {
        attempts++;
        return fetch(input, init);
      },
    });
    await client.messages.create({ model: 'mock-1', max_tokens: 64, messages: user('spend it all') });
    await eventually(
      () => callJson(url, '/v1/chat/completions', { model: 'mock-1', messages: user('probe') }, bearer(BUDGET_KEY)),
      (answer) => answer.status === 429,
    );
    const before = attempts;
    const error = await client.messages.create({ model: 'mock-1', max_tokens: 64, messages: user('once more') }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.RateLimitError);
    expect((error as InstanceType<typeof Anthropic.APIError>).headers?.get('x-should-retry')).toBe('false');
    expect(attempts - before).toBe(1);
  });

  it('tells clients not to retry a request that can never fit the token limit, and to retry a passing rate limit soon', async () => {
    const { url } = await startTestServer(fencedConfig({ rate_limits: { agent_default: { rpm: 1, tpm: 10_000 } } }));
    const { client, attempts } = defaultRetryingClient(url, TENANT_A_KEY);
    const tooBig = await client.chat.completions.create({ model: 'mock-1', messages: user('x'), max_tokens: 20_000 }).catch((caught: unknown) => caught);
    expect((tooBig as InstanceType<typeof OpenAI.APIError>).status).toBe(429);
    expect(attempts()).toBe(1);

    await callJson(url, '/v1/chat/completions', { model: 'mock-1', messages: user('first') }, bearer(TENANT_B_KEY));
    const limited = await callJson(url, '/v1/chat/completions', { model: 'mock-1', messages: user('second') }, bearer(TENANT_B_KEY));
    expect([limited.status, errorCodeOf(limited.body), limited.headers.get('x-should-retry')]).toEqual([429, 'E4400', 'true']);
    const waitS = Number(limited.headers.get('retry-after'));
    expect(waitS).toBeGreaterThan(0);
    expect(waitS).toBeLessThanOrEqual(60);
    expect(Number(limited.headers.get('retry-after-ms'))).toBeLessThanOrEqual(60_000);
  });
});

describe('protected mode', () => {
  it('refuses to serve without keys on a non-loopback address', async () => {
    const gateway = new ModelGateway(mockConfig({ server: { host: '0.0.0.0', port: 0 } }), { healthChecks: false });
    onCleanup(() => gateway.close());
    const server = new GatewayServer(gateway);
    await expect(server.listen()).rejects.toMatchObject({ code: 'E4005' });
  });

  it('serves open when told to, warns loudly, and answers usage only to loopback callers', async () => {
    const logs = new LogCapture();
    const logger = createLogger({ level: 'info', destination: logs });
    const gateway = new ModelGateway(mockConfig({ server: { host: '0.0.0.0', port: 0, allow_unauthenticated: true } }), { healthChecks: false, logger });
    const server = new GatewayServer(gateway, { logger });
    const { port } = await server.listen();
    onCleanup(() => server.close());
    expect(logs.records().some((line) => line.level === 'warn' && String(line.msg).includes('UNAUTHENTICATED'))).toBe(true);

    const external = (await import('node:os')).networkInterfaces();
    const outside = Object.values(external)
      .flat()
      .find((address) => address !== undefined && address.family === 'IPv4' && !address.internal)?.address;
    const local = await callJson(`http://127.0.0.1:${port}`, '/v1/usage?since=0');
    expect(local.status).toBe(200);
    if (outside !== undefined) {
      const remote = await callJson(`http://${outside}:${port}`, '/v1/usage?since=0');
      expect([remote.status, errorCodeOf(remote.body)]).toEqual([403, 'E4508']);
      const chat = await callJson(`http://${outside}:${port}`, '/v1/chat/completions', { model: 'mock-1', messages: user('hi') });
      expect(chat.status).toBe(200);
    }
  });
});

describe('honest routing', () => {
  it('never answers auto from the mock of the built-in config, and says why per model', async () => {
    const ollama = (await refusedBaseUrl()).replace(/\/v1$/, '');
    const config = loadConfigFile(DEFAULT_CONFIG_PATH, {
      ...process.env,
      OLLAMA_BASE_URL: ollama,
      OPENAI_API_KEY: '',
      ANTHROPIC_API_KEY: '',
      L04_STATE_BACKEND: 'memory',
    });
    const { url, gateway } = await startTestServer({ ...config, logging: { level: 'silent', log_content: false } });
    await gateway.checkProviders();

    const auto = await callJson(url, '/v1/chat/completions', { model: 'auto', messages: user('who answers?') });
    expect(auto.text).not.toContain('Mock answer');
    expect([auto.status, errorCodeOf(auto.body)]).toEqual([503, 'E4101']);
    const message = (auto.body as { error: { message: string } }).error.message;
    expect(message).toContain('not configured (no api_key)');
    expect(message).toContain('unhealthy');

    const pinned = await callJson(url, '/v1/chat/completions', { model: 'mock-1', messages: user('pinned') });
    expect(pinned.status).toBe(200);

    const models = (await callJson(url, '/v1/models')).body as {
      data: Array<{ id: string; owned_by: string; l04: { available: boolean; unavailable_reason?: string } }>;
    };
    for (const model of models.data.filter((entry) => entry.owned_by === 'openai' || entry.owned_by === 'anthropic')) {
      expect(model.l04).toMatchObject({ available: false, unavailable_reason: 'not configured (no api_key)' });
    }
    expect(models.data.find((model) => model.id === 'mock-1')?.l04.available).toBe(true);
  });

  it('refuses a prompt too long for a pinned model before calling it', async () => {
    const { url, gateway } = await startTestServer(mockConfig({ models: { small: { provider: 'mock', capabilities: ['text'], context_length: 8192 } } }));
    const long = 'word '.repeat(50_000);
    const answer = await callJson(url, '/v1/chat/completions', { model: 'small', messages: user(long) });
    expect([answer.status, errorCodeOf(answer.body)]).toEqual([400, 'E4207']);
    expect((answer.body as { error: { message: string } }).error.message).toContain('8192');
    const runtime = await internalRuntime(gateway);
    expect(runtime.breakers.get('mock').state).toBe('closed');
    expect((runtime.adapters.get('mock') as unknown as { calls: number }).calls).toBe(0);
  });
});

describe('upstream error text', () => {
  it("gives the tenant the gateway's message with the provider's status and type, and keeps the upstream's words for the log", async () => {
    const fixture = await startOpenAIFixture();
    onCleanup(() => fixture.close());
    const { url, logs } = await startTestServer(
      mockConfig({
        providers: { upstream: { type: 'openai', base_url: fixture.url, api_key: 'sk-gateway-secret-0123456789' } },
        models: { refused: { provider: 'upstream', provider_model: 'error-401', capabilities: ['text'] } },
      }),
    );
    const answer = await callJson(url, '/v1/chat/completions', { model: 'refused', messages: user('hi') });
    expect(errorCodeOf(answer.body)).toBe('E4203');
    const message = (answer.body as { error: { message: string } }).error.message;
    expect(message).toContain('401');
    expect(message).toContain('invalid_api_key');
    expect(message).not.toContain('Incorrect API key');
    expect(answer.text).not.toContain('sk-wrong');
    const line = logs.records().find((record) => record.request_id === answer.headers.get('x-l04-request-id'));
    expect(String(line?.upstream_detail)).toContain('Incorrect API key');
    expect(logs.lines.join('\n')).not.toContain('sk-gateway-secret-0123456789');
  });
});
