/**
 * The real PostgreSQL ledger for gateway tests: a private schema and spool directory per test,
 * dropped and deleted afterwards, and a reader of the rows the gateway wrote.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { PostgresUsageLedger } from '../../src/accounting/postgres-usage-ledger.js';
import type { PostgresUsageLedgerOptions } from '../../src/accounting/postgres-usage-ledger.js';
import type { UsageRecord } from '../../src/accounting/usage-ledger.js';
import { onCleanup } from './cleanup.js';

/** The test database (trust auth). */
export const PG_URL = process.env.L04_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** `PG_URL` with its port replaced (a TCP proxy in front of the same server). */
export function pgUrlThrough(port: number): string {
  const url = new URL(PG_URL);
  url.port = String(port);
  return url.toString();
}

/** A fresh schema name, dropped (with its tables) after the test. */
export function testSchema(admin: Pool): string {
  const schema = `l04_gw_test_${randomBytes(5).toString('hex')}`;
  onCleanup(() => admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
  return schema;
}

/** A fresh spool directory, deleted after the test. */
export async function spoolDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'l04-gw-spool-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** One ledger row as the test reads it back (numbers as numbers; status as stored, unchecked). */
export type LedgerRow = Omit<UsageRecord, 'latency_ms' | 'created_at' | 'status'> & { status: string };

/** Every row of the schema's ledger table, by request id. */
export async function ledgerRows(admin: Pool, schema: string): Promise<Map<string, LedgerRow>> {
  const result = await admin.query<LedgerRow>(
    `SELECT request_id, client_request_id, agent_did, tenant, model_id, provider, input_tokens::float8 AS input_tokens, output_tokens::float8 AS output_tokens,
            cost_cents::float8 AS cost_cents, cached, status, error_code
       FROM "${schema}".usage_records`,
  );
  return new Map(result.rows.map((row) => [row.request_id, row]));
}

/**
 * A started `PostgresUsageLedger` for one gateway. The flush timer is long so that the test decides
 * when batches go (`flush()`), except that every `batchSize` records start one on their own.
 */
export async function startLedger(
  options: Pick<PostgresUsageLedgerOptions, 'url' | 'schema' | 'spoolDir'> & Partial<PostgresUsageLedgerOptions>,
): Promise<PostgresUsageLedger> {
  const ledger = new PostgresUsageLedger({ batchSize: 4, flushIntervalMs: 60_000, spoolMaxRecords: 10_000, connectTimeoutMs: 500, ...options });
  onCleanup(() => ledger.close(1_000));
  await ledger.start();
  return ledger;
}
