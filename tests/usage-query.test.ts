/**
 * The read side of both ledgers, one suite run against the memory ledger and the PostgreSQL
 * ledger on the real PostgreSQL (a schema of its own per backend, dropped after the suite): totals with refusals apart, and the
 * breakdowns by agent, tenant, model and UTC day with their order and limit. The expected figures
 * are worked out by hand from the eight records below.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { UsageGroup, UsageLedger, UsageQuery, UsageRecord, UsageSummary } from '../src/accounting/usage-ledger.js';
import { MemoryUsageLedger } from '../src/accounting/usage-ledger.js';
import { PostgresUsageLedger } from '../src/accounting/postgres-usage-ledger.js';
import { PostgresUsageReader } from '../src/accounting/postgres-usage-query.js';
import { PG_URL } from './helpers/ledger-db.js';

const admin = new Pool({ connectionString: PG_URL, max: 2 });
afterAll(() => admin.end());

const DAY = 86_400_000;
const D0 = Date.UTC(2026, 10, 25);
const D1 = D0 + DAY;
const D2 = D1 + DAY;

function record(id: number, fields: Partial<UsageRecord>): UsageRecord {
  return {
    request_id: `q-${id}`,
    agent_did: 'did:l04:a1',
    tenant: 't1',
    model_id: 'gpt',
    provider: 'openai',
    input_tokens: 0,
    output_tokens: 0,
    cost_cents: 0,
    latency_ms: 10,
    cached: false,
    status: 'ok',
    error_code: null,
    created_at: D0,
    ...fields,
  };
}

const refused = (code: string): Partial<UsageRecord> => ({ model_id: '', provider: '', status: 'error', error_code: code });

const RECORDS: UsageRecord[] = [
  record(1, { input_tokens: 100, output_tokens: 50, cost_cents: 3, created_at: D0 + 36_000_000 }),
  record(2, { model_id: 'llama', provider: 'ollama', input_tokens: 200, output_tokens: 100, created_at: D1 + 1_000 }),
  record(3, { agent_did: 'did:l04:a2', input_tokens: 10, output_tokens: 5, cost_cents: 0.5, created_at: D1 + 2_000 }),
  record(4, { agent_did: 'did:l04:a2', tenant: 't2', input_tokens: 40, output_tokens: 20, cost_cents: 1.25, created_at: D2 + 1_000 }),
  record(5, { agent_did: 'did:l04:a3', tenant: 't2', ...refused('E4400'), created_at: D2 + 2_000 }),
  record(6, { agent_did: 'did:l04:a3', tenant: 't2', ...refused('E4400'), created_at: D2 + 3_000 }),
  record(7, { ...refused('E4403'), created_at: D2 + 4_000 }),
  record(8, { agent_did: 'did:l04:a3', tenant: 't2', model_id: 'llama', provider: 'ollama', status: 'error', error_code: 'E4202', created_at: D2 + 5_000 }),
];

const group = (key: string, requests: number, refusals: number, input_tokens: number, output_tokens: number, cost_cents: number): UsageGroup => ({
  key,
  requests,
  refusals,
  input_tokens,
  output_tokens,
  cost_cents,
});

/** PostgreSQL sums numeric cents exactly and JavaScript in floats: compare to a millionth of a cent. */
function rounded(summary: UsageSummary): UsageSummary {
  const cents = (value: number): number => Math.round(value * 1e6) / 1e6;
  return {
    ...summary,
    cost_cents: cents(summary.cost_cents),
    by_model: summary.by_model.map((row) => ({ ...row, cost_cents: cents(row.cost_cents) })),
    ...(summary.groups === undefined ? {} : { groups: summary.groups.map((row) => ({ ...row, cost_cents: cents(row.cost_cents) })) }),
  };
}

interface Backend {
  name: string;
  /** A ledger holding `records`, ready to be queried, and how to release it. */
  open(records: UsageRecord[]): Promise<{ ledger: Pick<UsageLedger, 'query'>; close: () => Promise<unknown> }>;
}

/** A schema of its own, written through the real ledger; dropped by `close`. */
async function writtenSchema(records: UsageRecord[]): Promise<{ ledger: PostgresUsageLedger; schema: string; close: () => Promise<unknown> }> {
  const schema = `l04_query_test_${randomBytes(5).toString('hex')}`;
  const spool = await mkdtemp(join(tmpdir(), 'l04-query-spool-'));
  const ledger = new PostgresUsageLedger({ url: PG_URL, schema, spoolDir: spool, batchSize: 50, flushIntervalMs: 60_000, spoolMaxRecords: 1_000 });
  await ledger.start();
  for (const item of records) ledger.record(item);
  await ledger.flush();
  const close = async (): Promise<void> => {
    await ledger.close(1_000);
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await rm(spool, { recursive: true, force: true });
  };
  return { ledger, schema, close };
}

const BACKENDS: Backend[] = [
  {
    name: 'MemoryUsageLedger',
    async open(records) {
      const ledger = new MemoryUsageLedger();
      for (const item of records) ledger.record(item);
      return { ledger, close: async () => undefined };
    },
  },
  {
    name: 'PostgresUsageLedger (real PostgreSQL)',
    open: writtenSchema,
  },
  {
    name: 'PostgresUsageReader over a ledger a gateway wrote (real PostgreSQL)',
    async open(records) {
      const written = await writtenSchema(records);
      const reader = new PostgresUsageReader({ url: PG_URL, schema: written.schema });
      return { ledger: reader, close: async () => Promise.all([reader.close(), written.close()]) };
    },
  },
];

describe.each(BACKENDS)('usage queries: $name', (backend) => {
  // The records never change: one ledger per backend serves every test of the suite.
  let opened: ReturnType<Backend['open']> | undefined;
  afterAll(async () => (await opened)?.close());
  const query = async (q: UsageQuery): Promise<UsageSummary> => {
    opened ??= backend.open(RECORDS);
    return rounded(await (await opened).ledger.query(q));
  };

  it('counts refusals apart from model usage, per E-code', async () => {
    expect(await query({ since: 0 })).toEqual({
      requests: 5,
      input_tokens: 350,
      output_tokens: 175,
      cost_cents: 4.75,
      by_model: [
        { model_id: 'gpt', provider: 'openai', requests: 3, input_tokens: 150, output_tokens: 75, cost_cents: 4.75 },
        { model_id: 'llama', provider: 'ollama', requests: 2, input_tokens: 200, output_tokens: 100, cost_cents: 0 },
      ],
      refusals: { requests: 3, by_code: { E4400: 2, E4403: 1 } },
    });
  });

  it('groups by agent, highest spend first, refusals per agent', async () => {
    const summary = await query({ since: 0, group_by: 'agent' });
    expect(summary.group_by).toBe('agent');
    expect(summary.group_count).toBe(3);
    expect(summary.groups).toEqual([group('did:l04:a1', 2, 1, 300, 150, 3), group('did:l04:a2', 2, 0, 50, 25, 1.75), group('did:l04:a3', 1, 2, 0, 0, 0)]);
  });

  it('groups by tenant', async () => {
    expect((await query({ since: 0, group_by: 'tenant' })).groups).toEqual([group('t1', 3, 1, 310, 155, 3.5), group('t2', 2, 2, 40, 20, 1.25)]);
  });

  it('groups by model, leaving refusals out of the model groups', async () => {
    const summary = await query({ since: 0, group_by: 'model' });
    expect(summary.groups).toEqual([group('gpt', 3, 0, 150, 75, 4.75), group('llama', 2, 0, 200, 100, 0)]);
    expect(summary.group_count).toBe(2);
    expect(summary.refusals.requests).toBe(3);
  });

  it('groups by UTC day in calendar order, keeping the latest days under a limit', async () => {
    expect((await query({ since: 0, group_by: 'day' })).groups).toEqual([
      group('2026-11-25', 1, 0, 100, 50, 3),
      group('2026-11-26', 2, 0, 210, 105, 0.5),
      group('2026-11-27', 2, 3, 40, 20, 1.25),
    ]);
    const limited = await query({ since: 0, group_by: 'day', limit: 2 });
    expect(limited.groups?.map((item) => item.key)).toEqual(['2026-11-26', '2026-11-27']);
    expect(limited.group_count).toBe(3);
  });

  it('applies the limit to the groups but not to the totals', async () => {
    const summary = await query({ since: 0, group_by: 'agent', limit: 1 });
    expect(summary.groups).toEqual([group('did:l04:a1', 2, 1, 300, 150, 3)]);
    expect(summary).toMatchObject({ group_count: 3, requests: 5, cost_cents: 4.75 });
  });

  it('breaks ties on spend by requests, then refusals, then key', async () => {
    const summary = await query({ since: D2, group_by: 'agent' });
    expect(summary.groups).toEqual([group('did:l04:a2', 1, 0, 40, 20, 1.25), group('did:l04:a3', 1, 2, 0, 0, 0), group('did:l04:a1', 0, 1, 0, 0, 0)]);
  });

  it('filters by tenant, agent and time before grouping', async () => {
    expect((await query({ since: 0, tenant: 't2', group_by: 'agent' })).groups).toEqual([
      group('did:l04:a2', 1, 0, 40, 20, 1.25),
      group('did:l04:a3', 1, 2, 0, 0, 0),
    ]);
    expect(await query({ since: 0, until: D1, agent: 'did:l04:a1' })).toMatchObject({ requests: 1, cost_cents: 3, refusals: { requests: 0, by_code: {} } });
    expect(await query({ since: D2 + 10_000, group_by: 'tenant' })).toMatchObject({ requests: 0, groups: [], group_count: 0 });
  });
});
