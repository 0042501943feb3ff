/**
 * The usage ledger: the memory ring, the local spool, the schema migrations, and the PostgreSQL
 * ledger against the real PostgreSQL on this machine (each test in its own schema and spool dir).
 *
 * Outages are staged with a TCP proxy in front of 127.0.0.1:5432 that the test stops and restarts
 * (tests/helpers/tcp-proxy.ts). A private PostgreSQL cluster per test would be the alternative, but
 * this machine runs as root, where initdb refuses to run.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Pool } from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { UsageRecord } from '../src/accounting/usage-ledger.js';
import { MemoryUsageLedger } from '../src/accounting/usage-ledger.js';
import { PostgresUsageLedger } from '../src/accounting/postgres-usage-ledger.js';
import type { PostgresUsageLedgerOptions } from '../src/accounting/postgres-usage-ledger.js';
import { migrateUsageSchema, USAGE_MIGRATIONS } from '../src/accounting/usage-migrations.js';
import { DEAD_LETTER_FILE, UsageSpool } from '../src/accounting/usage-spool.js';
import { onCleanup } from './helpers/cleanup.js';
import { FakeClock } from './helpers/fake-clock.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

const PG_URL = process.env.L04_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const T0 = 1_700_000_000_000;
const admin = new Pool({ connectionString: PG_URL, max: 3 });
afterAll(() => admin.end());

function record(index: number, overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    request_id: `req-${index}`,
    agent_did: `did:l04:agent-${index % 3}`,
    tenant: index % 2 === 0 ? 'acme' : 'globex',
    model_id: index % 4 === 0 ? 'gpt-4o-mini' : 'llama3.2',
    provider: index % 4 === 0 ? 'openai' : 'ollama',
    input_tokens: 10 + index,
    output_tokens: 2 * index,
    cost_cents: index / 8,
    latency_ms: 5 + index,
    cached: index % 5 === 0,
    status: index % 7 === 0 ? 'error' : 'ok',
    error_code: index % 7 === 0 ? 'E4202' : null,
    created_at: T0 + index * 1_000,
    ...overrides,
  };
}

const records = (from: number, to: number): UsageRecord[] => Array.from({ length: to - from }, (_, i) => record(from + i));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'l04-spool-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function testSchema(): string {
  const schema = `l04_usage_test_${randomBytes(5).toString('hex')}`;
  onCleanup(() => admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
  return schema;
}

async function rows(schema: string): Promise<Array<{ request_id: string; input_tokens: string; output_tokens: string; cost_cents: string }>> {
  const result = await admin.query(`SELECT request_id, input_tokens, output_tokens, cost_cents FROM "${schema}".usage_records ORDER BY request_id`);
  return result.rows;
}

interface LedgerSetup {
  ledger: PostgresUsageLedger;
  schema: string;
  spoolDir: string;
  clock: FakeClock;
  drops: number[];
  states: boolean[];
}

async function newLedger(overrides: Partial<PostgresUsageLedgerOptions> = {}): Promise<LedgerSetup> {
  const clock = new FakeClock(T0);
  const drops: number[] = [];
  const states: boolean[] = [];
  const schema = overrides.schema ?? testSchema();
  const spoolDir = overrides.spoolDir ?? (await tempDir());
  const ledger = new PostgresUsageLedger({
    url: PG_URL,
    batchSize: 50,
    flushIntervalMs: 1_000,
    spoolMaxRecords: 10_000,
    clock,
    onDrop: (count) => drops.push(count),
    onStateChange: (up) => states.push(up),
    ...overrides,
    schema,
    spoolDir,
  });
  onCleanup(() => ledger.close(500));
  return { ledger, schema, spoolDir, clock, drops, states };
}

describe('MemoryUsageLedger', () => {
  it('sums tokens and cost per model inside the window, filtered by agent and tenant', async () => {
    const ledger = new MemoryUsageLedger();
    for (const item of records(0, 20)) ledger.record(item);
    const expected = records(0, 20).filter((item) => item.created_at >= T0 + 4_000 && item.created_at < T0 + 16_000 && item.tenant === 'acme');
    const summary = await ledger.query({ since: T0 + 4_000, until: T0 + 16_000, tenant: 'acme' });
    expect(summary.requests).toBe(expected.length);
    expect(summary.input_tokens).toBe(expected.reduce((sum, item) => sum + item.input_tokens, 0));
    expect(summary.cost_cents).toBeCloseTo(expected.reduce((sum, item) => sum + item.cost_cents, 0));
    expect(summary.by_model.map((group) => group.model_id).sort()).toEqual(['gpt-4o-mini', 'llama3.2']);
    const agentOnly = await ledger.query({ since: 0, agent: 'did:l04:agent-1' });
    expect(agentOnly.requests).toBe(records(0, 20).filter((item) => item.agent_did === 'did:l04:agent-1').length);
    expect(ledger.health()).toEqual({ backend: 'memory', healthy: true, spooled: 0, pending: 0 });
  });

  it('records a request id once', async () => {
    const ledger = new MemoryUsageLedger();
    ledger.record(record(1));
    ledger.record(record(1, { input_tokens: 999 }));
    expect(await ledger.query({ since: 0 })).toMatchObject({ requests: 1, input_tokens: 11 });
  });

  it('forgets the oldest records past maxRecords', async () => {
    const ledger = new MemoryUsageLedger({ maxRecords: 5 });
    for (const item of records(0, 8)) ledger.record(item);
    expect((await ledger.query({ since: 0 })).requests).toBe(5);
    expect((await ledger.query({ since: T0 + 3_000 })).requests).toBe(5);
    ledger.record(record(0));
    expect((await ledger.query({ since: 0 })).requests).toBe(5);
  });

  it('rejects a maxRecords that is not a positive integer, naming what it got', () => {
    expect(() => new MemoryUsageLedger({ maxRecords: 0 })).toThrow('maxRecords should be a positive integer, got 0');
  });
});

describe('UsageSpool', () => {
  it('refuses records past maxRecords and reports them as drops', async () => {
    const drops: number[] = [];
    const spool = new UsageSpool({ dir: await tempDir(), maxRecords: 10, now: () => T0, onDrop: (count) => drops.push(count) });
    await spool.open();
    expect(await spool.append(records(0, 7))).toBe(7);
    expect(await spool.append(records(7, 12))).toBe(3);
    expect(drops).toEqual([2]);
    expect(spool.count()).toBe(10);
    const [first, second] = await spool.list();
    expect((await spool.read(second!)).records.map((item) => item.request_id)).toEqual(['req-7', 'req-8', 'req-9']);
    await spool.remove(first!);
    expect(spool.count()).toBe(3);
  });

  it('counts files another process left, and reads hand-edited lines as unreadable', async () => {
    const dir = await tempDir();
    const earlier = new UsageSpool({ dir, maxRecords: 100, now: () => T0 });
    await earlier.open();
    await earlier.append(records(0, 4));
    await writeFile(join(dir, 'usage-1-1-0-2.jsonl'), `${JSON.stringify(record(9))}\nnot json\n`);
    await writeFile(join(dir, 'notes.txt'), 'ignored');
    const later = new UsageSpool({ dir, maxRecords: 100, now: () => T0 });
    await later.open();
    expect(later.count()).toBe(6);
    const files = await later.list();
    expect(files[0]!.name).toBe('usage-1-1-0-2.jsonl');
    expect(await later.read(files[0]!)).toEqual({ records: [record(9)], unreadable: ['not json'] });
  });
});

describe('migrateUsageSchema', () => {
  it('applies each migration once when two instances start at once', async () => {
    const schema = testSchema();
    const [a, b] = [await admin.connect(), await admin.connect()];
    try {
      const applied = await Promise.all([migrateUsageSchema(a, schema), migrateUsageSchema(b, schema)]);
      expect(applied.map((versions) => versions.length).sort()).toEqual([0, USAGE_MIGRATIONS.length]);
      expect(await migrateUsageSchema(a, schema)).toEqual([]);
    } finally {
      a.release();
      b.release();
    }
    const versions = await admin.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
    expect(versions.rows.map((row: { version: number }) => row.version)).toEqual(USAGE_MIGRATIONS.map((migration) => migration.version));
  });
});

describe('PostgresUsageLedger', () => {
  it('writes N records as exactly N rows with their tokens and cost', async () => {
    const { ledger, schema, states } = await newLedger();
    await ledger.start();
    const written = records(0, 237);
    for (const item of written) ledger.record(item);
    await ledger.flush();
    const stored = await rows(schema);
    expect(stored).toHaveLength(237);
    const byId = new Map(written.map((item) => [item.request_id, item]));
    for (const row of stored) {
      const source = byId.get(row.request_id)!;
      expect([Number(row.input_tokens), Number(row.output_tokens), Number(row.cost_cents)]).toEqual([
        source.input_tokens,
        source.output_tokens,
        source.cost_cents,
      ]);
    }
    expect(states).toEqual([true]);
    expect(ledger.health()).toEqual({ backend: 'postgres', healthy: true, spooled: 0, pending: 0 });
  });

  it('writes a duplicated request id once, within a batch and across batches', async () => {
    const { ledger, schema } = await newLedger();
    await ledger.start();
    for (const item of [...records(0, 10), record(3), record(4, { input_tokens: 1 })]) ledger.record(item);
    await ledger.flush();
    for (const item of records(5, 15)) ledger.record(item);
    await ledger.flush();
    const stored = await rows(schema);
    expect(stored).toHaveLength(15);
    expect(Number(stored.find((row) => row.request_id === 'req-4')!.input_tokens)).toBe(14);
  });

  it('dead-letters bad rows and writes the rest', async () => {
    const { ledger, schema, spoolDir } = await newLedger();
    await ledger.start();
    const batch = records(0, 40);
    batch[6] = record(6, { input_tokens: -1 });
    batch[31] = record(31, { agent_did: 'x'.repeat(600) });
    batch[35] = record(35, { created_at: Number.NaN });
    for (const item of batch) ledger.record(item);
    await ledger.flush();
    expect((await rows(schema)).map((row) => row.request_id)).not.toContain('req-6');
    expect(await rows(schema)).toHaveLength(37);
    const deadLetters = (await readFile(join(spoolDir, DEAD_LETTER_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { error: { code: string }; record: UsageRecord });
    expect(deadLetters.map((entry) => [entry.record.request_id, entry.error.code])).toEqual([
      ['req-6', '23514'],
      ['req-31', '23514'],
      ['req-35', '23502'],
    ]);
    expect(ledger.health()).toMatchObject({ healthy: true, spooled: 0, pending: 0 });
  });

  it('flushes every flushIntervalMs and as soon as batchSize records wait', async () => {
    const { ledger, schema, clock } = await newLedger({ batchSize: 20 });
    await ledger.start();
    for (const item of records(0, 5)) ledger.record(item);
    expect(ledger.health().pending).toBe(5);
    await clock.advance(1_000);
    await vi.waitFor(async () => expect(await rows(schema)).toHaveLength(5));
    for (const item of records(5, 25)) ledger.record(item);
    await vi.waitFor(async () => expect(await rows(schema)).toHaveLength(25));
  });

  it('ends with exactly N rows when PostgreSQL is unreachable for part of the run', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
    await proxy.stop();
    const { ledger, schema, states } = await newLedger({ url: `postgres://postgres@127.0.0.1:${proxy.port}/test` });
    await ledger.start(); // PostgreSQL is down at start: it must not throw
    for (const item of records(0, 100)) ledger.record(item);
    await ledger.flush();
    expect(ledger.health()).toMatchObject({ healthy: false, spooled: 100, pending: 0 });

    await proxy.start();
    for (const item of records(100, 200)) ledger.record(item);
    await ledger.flush();
    expect(await rows(schema)).toHaveLength(200);
    expect(ledger.health()).toMatchObject({ healthy: true, spooled: 0 });

    await proxy.stop();
    for (const item of [...records(150, 300)]) ledger.record(item); // 150–199 again: replays must not double them
    await ledger.flush();
    expect(ledger.health()).toMatchObject({ healthy: false, spooled: 150 });

    await proxy.start();
    for (const item of records(300, 320)) ledger.record(item);
    await ledger.flush();
    const stored = await rows(schema);
    expect(stored).toHaveLength(320);
    expect(stored.reduce((sum, row) => sum + Number(row.output_tokens), 0)).toBe(records(0, 320).reduce((sum, item) => sum + item.output_tokens, 0));
    expect(states).toEqual([false, true, false, true]);
    expect(ledger.health()).toEqual({ backend: 'postgres', healthy: true, spooled: 0, pending: 0 });
  });

  it('replays the spool files another instance left, at start', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
    await proxy.stop();
    const first = await newLedger({ url: `postgres://postgres@127.0.0.1:${proxy.port}/test` });
    await first.ledger.start();
    for (const item of records(0, 60)) first.ledger.record(item);
    await first.ledger.close();
    expect(await readdir(first.spoolDir)).toHaveLength(1);

    await writeFile(join(first.spoolDir, 'usage-1-1-0-2.jsonl'), `${JSON.stringify(record(70))}\n{"truncated":\n`);

    const second = await newLedger({ spoolDir: first.spoolDir, schema: first.schema });
    await second.ledger.start();
    await second.ledger.flush();
    expect(await rows(first.schema)).toHaveLength(61);
    expect(await readdir(first.spoolDir)).toEqual([DEAD_LETTER_FILE]);
    const deadLetter = JSON.parse(await readFile(join(first.spoolDir, DEAD_LETTER_FILE), 'utf8')) as { record: unknown; error: { code: string } };
    expect(deadLetter).toMatchObject({ record: '{"truncated":', error: { code: 'unreadable' } });
  });

  it('spools what was recorded before start() when closed unstarted', async () => {
    const { ledger, spoolDir } = await newLedger();
    for (const item of records(0, 3)) ledger.record(item);
    await ledger.close();
    const spool = new UsageSpool({ dir: spoolDir, maxRecords: 10, now: () => T0 });
    await spool.open();
    expect(spool.count()).toBe(3);
  });

  it('starts unhealthy without throwing when PostgreSQL hangs, within the connect timeout', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
    proxy.stall();
    const { ledger, states } = await newLedger({ url: `postgres://postgres@127.0.0.1:${proxy.port}/test`, connectTimeoutMs: 100 });
    await ledger.start();
    expect(states).toEqual([false]);
    expect(ledger.health()).toMatchObject({ backend: 'postgres', healthy: false, message: expect.stringMatching(/timeout/i) });
  });

  it('rejects a query with E4511 while PostgreSQL is unreachable, and a bad since with E4500', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
    await proxy.stop();
    const { ledger } = await newLedger({ url: `postgres://postgres@127.0.0.1:${proxy.port}/test` });
    await ledger.start();
    await expect(ledger.query({ since: 0 })).rejects.toMatchObject({ code: 'E4511', httpStatus: 503 });
    await expect(ledger.query({ since: Number.NaN })).rejects.toMatchObject({ code: 'E4500', param: 'since' });
  });

  it('refuses records past spoolMaxRecords while PostgreSQL is down and counts them as drops', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
    await proxy.stop();
    const { ledger, drops } = await newLedger({ url: `postgres://postgres@127.0.0.1:${proxy.port}/test`, spoolMaxRecords: 30 });
    await ledger.start();
    for (const item of records(0, 45)) ledger.record(item);
    await ledger.flush();
    expect(drops).toEqual([15]);
    expect(ledger.health()).toMatchObject({ spooled: 30, pending: 0 });
  });

  it('spools what it could not write within the close() bound when PostgreSQL hangs', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
    const { ledger, clock, spoolDir, schema } = await newLedger({ url: `postgres://postgres@127.0.0.1:${proxy.port}/test` });
    await ledger.start();
    proxy.stall();
    for (const item of records(0, 70)) ledger.record(item); // one batch goes in flight and hangs
    let closed = false;
    const closing = ledger.close(3_000).then(() => {
      closed = true;
    });
    await clock.advance(2_499);
    expect(closed).toBe(false);
    await clock.advance(1); // the flush budget ends: what is buffered or in flight goes to the spool
    const spooled = new UsageSpool({ dir: spoolDir, maxRecords: 1_000, now: () => T0 });
    await vi.waitFor(async () => {
      await spooled.open();
      expect(spooled.count()).toBe(70);
    });
    await clock.advance(500); // the hard bound: close() resolves although the pool still waits on PostgreSQL
    await closing;
    expect(closed).toBe(true);
    ledger.record(record(99));
    expect(ledger.health().pending).toBe(0);
    await proxy.stop();
    expect(await rows(schema)).toHaveLength(0);
  });

  it('sums spend and tokens per model since a time, filtered by agent and tenant', async () => {
    const { ledger } = await newLedger();
    await ledger.start();
    const written = records(0, 30);
    for (const item of written) ledger.record(item);
    await ledger.flush();
    const memory = new MemoryUsageLedger();
    for (const item of written) memory.record(item);
    for (const query of [{ since: 0 }, { since: T0 + 10_000, agent: 'did:l04:agent-2' }, { since: T0, until: T0 + 20_000, tenant: 'globex' }]) {
      const [stored, expected] = [await ledger.query(query), await memory.query(query)];
      expect({ ...stored, cost_cents: Math.round(stored.cost_cents * 1e6) }).toEqual({ ...expected, cost_cents: Math.round(expected.cost_cents * 1e6) });
    }
    expect(await ledger.query({ since: T0 + 1_000_000 })).toEqual({
      requests: 0,
      input_tokens: 0,
      output_tokens: 0,
      cost_cents: 0,
      by_model: [],
      refusals: { requests: 0, by_code: {} },
    });
  });
});

describe('PostgresUsageLedger schema', () => {
  it('creates the schema with its constraints at start', async () => {
    const { ledger, schema } = await newLedger();
    await ledger.start();
    const client = new Client({ connectionString: PG_URL });
    await client.connect();
    onCleanup(() => client.end());
    const checks = await client.query(
      `SELECT count(*)::int AS n FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1 AND c.contype = 'c'`,
      [schema],
    );
    expect(checks.rows[0].n).toBeGreaterThanOrEqual(8);
  });
});
