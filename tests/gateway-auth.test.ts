/**
 * API keys through the HTTP service (issue 7 part 1): refusal before any other work, the key's
 * identity over the body's, per-key limits and budgets, admin routes — and the canary test: a
 * gateway key and a provider key sent through every path a secret can take, found in no log line.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../src/config/config-schema.js';
import { createLogger } from '../src/observability/logger.js';
import { FakeClock } from './helpers/fake-clock.js';
import { LogCapture, mockConfig, startTestServer } from './helpers/gateway.js';
import { callJson, errorCodeOf, streamChat } from './helpers/http-calls.js';
import type { HttpAnswer } from './helpers/http-calls.js';
import { onCleanup } from './helpers/cleanup.js';

const AGENT_KEY = 'l04_agent_key_a_000000000001';
const SECOND_KEY = 'l04_agent_key_b_000000000002';
const BUDGET_KEY = 'l04_budget_key_000000000003';
const ADMIN_KEY = 'l04_admin_key_0000000000004';
const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
const chat = (text: string): Record<string, unknown> => ({ model: 'mock-1', messages: [{ role: 'user', content: text }] });

function keyedConfig(overrides: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return mockConfig({
    models: {
      'mock-1': {
        provider: 'mock',
        auto: true,
        capabilities: ['text', 'streaming'],
        context_length: 32768,
        input_cost_per_1k_cents: 100,
        output_cost_per_1k_cents: 100,
      },
    },
    cache: { enabled: true, semantic: false },
    auth: {
      api_keys: [
        { key: AGENT_KEY, agent_did: 'did:l04:key-a', tenant: 'acme', rpm: 3 },
        { key: SECOND_KEY, agent_did: 'did:l04:key-b', tenant: 'acme' },
        { key: BUDGET_KEY, agent_did: 'did:l04:key-budget', tenant: 'globex', daily_budget_cents: 1 },
        { key: ADMIN_KEY, agent_did: 'did:l04:operator', tenant: 'ops', admin: true },
      ],
    },
    ...overrides,
  });
}

/** A server on a fake clock, so that rate-limit windows and the budget day never roll over mid-test. */
async function keyedServer(overrides: Partial<GatewayConfigInput> = {}) {
  const logs = new LogCapture();
  const started = await startTestServer(keyedConfig(overrides), {
    clock: new FakeClock(Date.now()),
    logger: createLogger({ level: 'info', destination: logs }),
  });
  return { ...started, logs };
}

function expectError(answer: HttpAnswer, status: number, code: string): void {
  expect([answer.status, errorCodeOf(answer.body)], answer.text).toEqual([status, code]);
}

async function metricValue(url: string, pattern: RegExp): Promise<number> {
  const text = (await callJson(url, '/metrics')).text;
  return text
    .split('\n')
    .filter((line) => pattern.test(line))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('API keys through HTTP', () => {
  it('refuses a missing or wrong key with 401 E4501 before the rate limiter or the cache is touched', async () => {
    const { url } = await keyedServer();
    const warm = await callJson(url, '/v1/chat/completions', chat('warm the cache'), bearer(AGENT_KEY));
    expect(warm.status).toBe(200);
    const lookupsBefore = await metricValue(url, /^l04_cache_lookups_total/);

    for (const headers of [
      {},
      bearer('l04_wrong_key_000000000000'),
      { 'x-api-key': 'l04_wrong_key_000000000000' },
      { authorization: AGENT_KEY },
      { 'x-agent-did': 'did:l04:key-a' },
    ]) {
      for (let attempt = 0; attempt < 5; attempt++) {
        const refused = await callJson(url, '/v1/chat/completions', chat('warm the cache'), headers);
        expectError(refused, 401, 'E4501');
        expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="l04"');
        expect(refused.headers.get('x-l04-cache')).toBeNull();
      }
    }
    const native = await callJson(
      url,
      '/v1/inference',
      { agent_did: 'did:l04:key-a', model_id: 'mock-1', logical_prompt: { messages: [{ role: 'user', content: 'x' }] } },
      bearer('l04_wrong_key_000000000000'),
    );
    expectError(native, 401, 'E4501');

    expect(await metricValue(url, /^l04_cache_lookups_total/)).toBe(lookupsBefore);
    expect(await metricValue(url, /^l04_rate_limited_total/)).toBe(0);
    // rpm 3 for key A: one used by the warm-up, so two more pass — the flood of 26 consumed nothing.
    expect((await callJson(url, '/v1/chat/completions', chat('second'), bearer(AGENT_KEY))).status).toBe(200);
    expect((await callJson(url, '/v1/chat/completions', chat('third'), { 'x-api-key': AGENT_KEY })).status).toBe(200);
  });

  it("uses the key's agent and tenant whatever the body and headers say", async () => {
    const { url, gateway, logs } = await keyedServer();
    const native = await callJson(
      url,
      '/v1/inference',
      { agent_did: 'did:l04:impostor', tenant: 'evil-corp', model_id: 'mock-1', logical_prompt: { messages: [{ role: 'user', content: 'who am i' }] } },
      { ...bearer(SECOND_KEY), 'x-agent-did': 'did:l04:impostor', 'x-l04-tenant': 'evil-corp' },
    );
    expect(native.status).toBe(200);
    const chatAnswer = await callJson(
      url,
      '/v1/chat/completions',
      { ...chat('who am i, again'), user: 'did:l04:impostor' },
      { ...bearer(SECOND_KEY), 'x-agent-did': 'did:l04:impostor' },
    );
    expect(chatAnswer.status).toBe(200);

    const ids = [native.headers.get('x-l04-request-id'), chatAnswer.headers.get('x-l04-request-id')];
    const lines = logs.records().filter((line) => ids.includes(line.request_id as string));
    expect(lines.map((line) => [line.agent, line.tenant])).toEqual([
      ['did:l04:key-b', 'acme'],
      ['did:l04:key-b', 'acme'],
    ]);
    expect(logs.lines.some((line) => line.includes('impostor') || line.includes('evil-corp'))).toBe(false);
    expect(await gateway.usage({ since: 0, agent: 'did:l04:impostor' })).toMatchObject({ requests: 0 });
    expect(await gateway.usage({ since: 0, agent: 'did:l04:key-b', tenant: 'acme' })).toMatchObject({ requests: 2 });
  });

  it("applies the key's own rpm, and only to that key", async () => {
    const { url } = await keyedServer();
    for (let index = 0; index < 3; index++) expect((await callJson(url, '/v1/chat/completions', chat(`a ${index}`), bearer(AGENT_KEY))).status).toBe(200);
    const limited = await callJson(url, '/v1/chat/completions', chat('a 4'), bearer(AGENT_KEY));
    expectError(limited, 429, 'E4400');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    for (let index = 0; index < 5; index++) expect((await callJson(url, '/v1/chat/completions', chat(`b ${index}`), bearer(SECOND_KEY))).status).toBe(200);
    expect(await metricValue(url, /^l04_rate_limited_total\{scope="agent",kind="requests"\}/)).toBe(1);
  });

  it('refuses a key whose daily budget is spent with 429 E4403', async () => {
    const { url } = await keyedServer();
    // At 100 cents per 1k tokens, one answer costs more than the 1-cent budget.
    const first = await callJson(url, '/v1/chat/completions', chat('spend my whole budget on this question'), bearer(BUDGET_KEY));
    expect(first.status).toBe(200);
    expect((first.body as { l04: { cost_cents: number } }).l04.cost_cents).toBeGreaterThan(1);
    const refused = await callJson(url, '/v1/chat/completions', chat('and one more'), bearer(BUDGET_KEY));
    expectError(refused, 429, 'E4403');
    // The budget resets at midnight: clients are told not to retry, with no hours-long Retry-After.
    expect([refused.headers.get('x-should-retry'), refused.headers.get('retry-after')]).toEqual(['false', null]);
    const stream = await streamChat(url, chat('a stream too'), bearer(BUDGET_KEY));
    expect([stream.status, errorCodeOf(JSON.parse(stream.text))]).toEqual([429, 'E4403']);
    expect((await callJson(url, '/v1/chat/completions', chat('others still pass'), bearer(SECOND_KEY))).status).toBe(200);
    expect(await metricValue(url, /^l04_rate_limited_total\{scope="spend",kind="budget"\}/)).toBe(2);
  });

  it('refuses the admin route to non-admin keys with 403 E4508 and serves admin keys', async () => {
    const { url } = await keyedServer();
    expectError(await callJson(url, '/v1/admin/cache/purge', { tenant: 'acme' }, bearer(AGENT_KEY)), 403, 'E4508');
    expectError(await callJson(url, '/v1/admin/cache/purge', { tenant: 'acme' }), 401, 'E4501');
    const purged = await callJson(url, '/v1/admin/cache/purge', { tenant: 'acme' }, bearer(ADMIN_KEY));
    expect(purged.status).toBe(200);
    expect(purged.body).toMatchObject({ tenant: 'acme', purged: expect.any(Number) });
  });
});

describe('canary keys', () => {
  it('finds a gateway key and a provider key sent through every path in no log line', async () => {
    const canary = `l04_canary_${'c4'.repeat(12)}`;
    const wrongCanary = `l04_canary_${'w7'.repeat(12)}`;
    const providerKey = `sk-canary-${'p9'.repeat(12)}`;
    const echoKey = `sk-canary-${'e3'.repeat(12)}`;
    const needles = [canary, wrongCanary, providerKey, echoKey].map((secret) => secret.slice(-20));
    // An upstream that answers 401 quoting the key it got, as OpenAI's "Incorrect API key provided" does.
    const upstream = createServer((request, response) => {
      const key = request.headers.authorization ?? '';
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          error: {
            message: `Incorrect API key provided: ${key}. See ?key=${echoKey}`,
            type: 'invalid_request_error',
            code: 'invalid_api_key',
            api_key: echoKey,
          },
        }),
      );
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
    const refused = createServer();
    await new Promise<void>((resolve) => refused.listen(0, '127.0.0.1', resolve));
    const refusedPort = (refused.address() as AddressInfo).port;
    await new Promise<void>((resolve) => refused.close(() => resolve()));

    const logs = new LogCapture();
    // The most talkative logger: debug level, prompts and completions included.
    const logger = createLogger({ level: 'debug', destination: logs, logContent: true });
    const { url } = await startTestServer(
      mockConfig({
        providers: {
          mock: { type: 'mock' },
          refused: { type: 'openai', base_url: `http://127.0.0.1:${refusedPort}/v1?key=${providerKey}`, api_key: providerKey, connect_timeout_ms: 500 },
          echo: { type: 'openai', base_url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`, api_key: echoKey },
        },
        models: {
          'mock-1': { provider: 'mock', capabilities: ['text', 'streaming'], context_length: 32768 },
          'gpt-refused': { provider: 'refused', capabilities: ['text', 'streaming'], context_length: 32768 },
          'gpt-echo': { provider: 'echo', capabilities: ['text', 'streaming'], context_length: 32768 },
        },
        auth: { api_keys: [{ key: canary, agent_did: 'did:l04:canary', tenant: 'acme' }] },
        logging: { level: 'debug', log_content: true },
      }),
      { logger },
    );

    const answers: HttpAnswer[] = [];
    const send = async (path: string, body: unknown, headers: Record<string, string>): Promise<void> => {
      answers.push(await callJson(url, path, body, headers));
    };
    await send('/v1/chat/completions', chat(`my key is ${canary}, and the provider's is ${providerKey}`), bearer(canary));
    answers.push({ ...(await streamChat(url, chat(`stream with ${canary}`), bearer(canary))), body: undefined });
    await send('/v1/chat/completions', chat('hello'), { 'x-api-key': canary });
    await send('/v1/chat/completions', chat('hello'), bearer(wrongCanary));
    await send('/v1/chat/completions', chat('hello'), { authorization: `Basic ${canary}` });
    await send('/v1/chat/completions', chat('hello'), { 'x-api-key': wrongCanary });
    await send(`/v1/usage?since=0&key=${canary}`, undefined, bearer(canary));
    await send(`/v1/usage?since=0&api_key=${wrongCanary}`, undefined, {});
    await send(`/v1/models?key=${canary}`, undefined, bearer(canary));
    await send('/v1/chat/completions', { ...chat('hi'), model: canary }, bearer(canary));
    await send('/v1/chat/completions', { ...chat('hi'), user: canary, l04: { api_key: canary } }, bearer(canary));
    await send(
      '/v1/inference',
      {
        agent_did: canary,
        model_id: 'mock-1',
        metadata: { api_key: canary, note: providerKey },
        logical_prompt: { messages: [{ role: 'user', content: canary }] },
      },
      bearer(canary),
    );
    await send('/v1/chat/completions', chat('through a refused provider'), bearer(canary));
    await send('/v1/chat/completions', { ...chat('through a refused provider'), model: 'gpt-refused' }, bearer(canary));
    answers.push({ ...(await streamChat(url, { ...chat('stream to the echo'), model: 'gpt-echo' }, bearer(canary))), body: undefined });
    await send('/v1/chat/completions', { ...chat('through the echo'), model: 'gpt-echo' }, bearer(canary));

    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 401, 401, 401, 400, 401, 200, 404, 400, 200, 200, 502, 502, 502]);
    const requestLines = logs.records().filter((line) => line.request_id !== undefined);
    expect(requestLines.length).toBeGreaterThanOrEqual(8);
    expect(logs.lines.some((line) => line.includes('E4203'))).toBe(true);
    // The secrets did reach the logger (prompts, error bodies) and were taken out there.
    expect(logs.lines.filter((line) => line.includes('[REDACTED]')).length).toBeGreaterThanOrEqual(5);
    for (const line of logs.lines) for (const needle of needles) expect(line.includes(needle), line).toBe(false);
    // Refusals never echo a presented key back either.
    for (const answer of answers.filter((item) => item.status === 401)) for (const needle of needles) expect(answer.text.includes(needle)).toBe(false);
  });
});
