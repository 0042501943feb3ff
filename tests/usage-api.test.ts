/**
 * `GET /v1/usage` over HTTP: `since` defaults to 00:00 UTC today, `group_by=agent` breaks spend
 * down per agent with refusals counted apart (against the memory ledger and the real PostgreSQL
 * ledger), non-admin keys see only their tenant, and every bad parameter is a 400 E4500 naming it.
 */
import { Pool } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../src/config/config-schema.js';
import type { UsageGroup, UsageLedger } from '../src/accounting/usage-ledger.js';
import { MemoryUsageLedger } from '../src/accounting/usage-ledger.js';
import { startOfUtcDay } from '../src/accounting/usage-query-params.js';
import { mockConfig, startTestServer } from './helpers/gateway.js';
import { callJson } from './helpers/http-calls.js';
import type { OpenAIErrorShape } from './helpers/http-calls.js';
import { PG_URL, spoolDir, startLedger, testSchema } from './helpers/ledger-db.js';

const admin = new Pool({ connectionString: PG_URL, max: 2 });
afterAll(() => admin.end());

const LIMITED = 'did:l04:usage-limited';
const pricedConfig = (overrides: Partial<GatewayConfigInput> = {}): GatewayConfigInput =>
  mockConfig({
    models: { 'mock-1': { provider: 'mock', capabilities: ['text'], context_length: 32768, input_cost_per_1k_cents: 5, output_cost_per_1k_cents: 10 } },
    rate_limits: { agents: { [LIMITED]: { rpm: 1, tpm: 100_000 } } },
    ...overrides,
  });

const chat = (url: string, agent: string, text: string, headers: Record<string, string> = {}) =>
  callJson(url, '/v1/chat/completions', { model: 'mock-1', messages: [{ role: 'user', content: text }] }, { 'x-agent-did': agent, ...headers });

interface UsageBody {
  since: string;
  requests: number;
  cost_cents: number;
  refusals: { requests: number; by_code: Record<string, number> };
  group_by: string;
  groups: UsageGroup[];
}

/** Two answered requests for agent a, one for b, and one answered plus two refused for the limited agent. */
async function traffic(url: string): Promise<void> {
  for (const [agent, text] of [
    ['did:l04:usage-a', 'first question'],
    ['did:l04:usage-a', 'second question, a longer one'],
    ['did:l04:usage-b', 'third'],
    [LIMITED, 'fourth'],
    [LIMITED, 'fifth'],
    [LIMITED, 'sixth'],
  ] as const) {
    await chat(url, agent, text);
  }
}

async function expectGroupedByAgent(ledger: UsageLedger): Promise<void> {
  const dayBefore = startOfUtcDay(Date.now());
  const { url } = await startTestServer(pricedConfig(), { ledger });
  await traffic(url);
  await ledger.flush();
  const answer = await callJson(url, '/v1/usage?group_by=agent');
  expect(answer.status).toBe(200);
  const body = answer.body as UsageBody;
  expect([dayBefore, startOfUtcDay(Date.now())]).toContain(Date.parse(body.since));
  expect(body).toMatchObject({ group_by: 'agent', requests: 4, refusals: { requests: 2, by_code: { E4400: 2 } } });
  const byAgent = new Map(body.groups.map((group) => [group.key, group]));
  expect([...byAgent.keys()].sort()).toEqual([LIMITED, 'did:l04:usage-a', 'did:l04:usage-b'].sort());
  expect(byAgent.get('did:l04:usage-a')).toMatchObject({ requests: 2, refusals: 0 });
  expect(byAgent.get('did:l04:usage-b')).toMatchObject({ requests: 1, refusals: 0 });
  expect(byAgent.get(LIMITED)).toMatchObject({ requests: 1, refusals: 2 });
  // Highest spend first: agent a asked twice, so it spent the most.
  expect(body.groups[0]?.key).toBe('did:l04:usage-a');
  expect(body.groups[0]!.cost_cents).toBeGreaterThan(byAgent.get('did:l04:usage-b')!.cost_cents);
  expect(body.cost_cents).toBeCloseTo(
    body.groups.reduce((total, group) => total + group.cost_cents, 0),
    9,
  );
}

describe('GET /v1/usage', () => {
  it('groups today’s usage by agent, refusals apart, with the memory ledger', async () => {
    await expectGroupedByAgent(new MemoryUsageLedger());
  });

  it('groups today’s usage by agent, refusals apart, with the PostgreSQL ledger', async () => {
    await expectGroupedByAgent(await startLedger({ url: PG_URL, schema: testSchema(admin), spoolDir: await spoolDir() }));
  });

  it('answers without any parameter: today, in total and per model', async () => {
    const { url } = await startTestServer(pricedConfig(), { ledger: new MemoryUsageLedger() });
    await chat(url, 'did:l04:usage-a', 'hello');
    const answer = await callJson(url, '/v1/usage');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ object: 'usage', requests: 1, by_model: [{ model_id: 'mock-1', requests: 1 }], refusals: { requests: 0 } });
    expect(answer.body).not.toHaveProperty('groups');
  });

  it('shows a non-admin key only its own tenant, whatever tenant it asks for', async () => {
    const keys = [
      { key: 'usage-key-acme-0001', agent_did: 'did:l04:acme-agent', tenant: 'acme' },
      { key: 'usage-key-globex-01', agent_did: 'did:l04:globex-agent', tenant: 'globex' },
      { key: 'usage-key-admin-001', agent_did: 'did:l04:ops', tenant: 'ops', admin: true },
    ];
    const { url } = await startTestServer(pricedConfig({ auth: { api_keys: keys } }), { ledger: new MemoryUsageLedger() });
    const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
    await chat(url, 'ignored', 'from acme', bearer(keys[0]!.key));
    await chat(url, 'ignored', 'from globex', bearer(keys[1]!.key));
    const own = (await callJson(url, '/v1/usage?group_by=tenant&tenant=globex', undefined, bearer(keys[0]!.key))).body as UsageBody;
    expect(own.groups.map((group) => group.key)).toEqual(['acme']);
    const all = (await callJson(url, '/v1/usage?group_by=tenant', undefined, bearer(keys[2]!.key))).body as UsageBody;
    expect(all.groups.map((group) => group.key).sort()).toEqual(['acme', 'globex']);
  });

  it.each([
    ['since=yesterday-ish', 'since'],
    ['until=not-a-time', 'until'],
    ['since=2026-11-27&until=2026-11-26', 'until'],
    ['group_by=week', 'group_by'],
    ['limit=0', 'limit'],
    ['limit=5000', 'limit'],
    ['bogus=1', 'bogus'],
    ['agent=a&agent=b', 'agent'],
  ])('refuses %s with a 400 E4500 naming %s', async (query, param) => {
    const { url } = await startTestServer(pricedConfig(), { ledger: new MemoryUsageLedger() });
    const answer = await callJson(url, `/v1/usage?${query}`);
    expect(answer.status).toBe(400);
    const { error } = answer.body as OpenAIErrorShape;
    expect(error).toMatchObject({ code: 'E4500', param });
    expect(error.message).toContain(`${param}:`);
    expect(error.message).not.toContain('query.');
  });

  it('takes spans back from now and epoch milliseconds for times', async () => {
    const { url } = await startTestServer(pricedConfig(), { ledger: new MemoryUsageLedger() });
    await chat(url, 'did:l04:usage-a', 'hello');
    const before = Date.now();
    const span = (await callJson(url, '/v1/usage?since=1h')).body as UsageBody;
    expect(Date.parse(span.since)).toBeGreaterThanOrEqual(before - 3_600_000 - 1_000);
    expect(Date.parse(span.since)).toBeLessThanOrEqual(Date.now() - 3_600_000);
    expect(span.requests).toBe(1);
    expect(((await callJson(url, `/v1/usage?since=${Date.now() + 60_000}`)).body as UsageBody).requests).toBe(0);
  });
});
