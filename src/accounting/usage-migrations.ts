/**
 * The usage ledger's PostgreSQL table: its columns, how a record maps onto them, and the schema
 * as numbered migrations recorded in `schema_migrations`. Applying them is idempotent and safe when several gateway instances start at once: the whole
 * run is one transaction holding a transaction-scoped advisory lock keyed on the schema name, so
 * a second instance waits, then finds every version applied. Migrations are append-only: never
 * edit one that has shipped, add the next version.
 */
import type { PoolClient } from 'pg';
import type { UsageRecord } from './usage-ledger.js';

/** One schema change; `sql` receives the quoted schema name. */
export interface UsageMigration {
  version: number;
  name: string;
  sql: (schema: string) => string;
}

/** The ledger table name inside the schema. */
export const USAGE_TABLE = 'usage_records';

/** Longest values the ledger accepts; longer ones violate a CHECK and are dead-lettered. */
export const USAGE_LIMITS = { request_id: 200, client_request_id: 200, agent_did: 512, tenant: 200, model_id: 200, provider: 100, error_code: 16 } as const;

/** Every migration, in order. */
export const USAGE_MIGRATIONS: readonly UsageMigration[] = [
  {
    version: 1,
    name: 'create usage_records',
    sql: (schema) => `
      CREATE TABLE ${schema}.${USAGE_TABLE} (
        request_id    text PRIMARY KEY CHECK (length(request_id) BETWEEN 1 AND ${USAGE_LIMITS.request_id}),
        agent_did     text NOT NULL CHECK (length(agent_did) <= ${USAGE_LIMITS.agent_did}),
        tenant        text NOT NULL CHECK (length(tenant) <= ${USAGE_LIMITS.tenant}),
        model_id      text NOT NULL CHECK (length(model_id) <= ${USAGE_LIMITS.model_id}),
        provider      text NOT NULL CHECK (length(provider) <= ${USAGE_LIMITS.provider}),
        input_tokens  bigint NOT NULL CHECK (input_tokens >= 0),
        output_tokens bigint NOT NULL CHECK (output_tokens >= 0),
        cost_cents    numeric NOT NULL CHECK (cost_cents >= 0 AND cost_cents < 'Infinity'::numeric),
        latency_ms    integer NOT NULL CHECK (latency_ms >= 0),
        cached        boolean NOT NULL,
        status        text NOT NULL CHECK (status IN ('ok', 'error')),
        error_code    text CHECK (length(error_code) <= ${USAGE_LIMITS.error_code}),
        created_at    timestamptz NOT NULL,
        recorded_at   timestamptz NOT NULL DEFAULT now()
      )`,
  },
  {
    version: 2,
    name: 'index usage_records by time, agent and tenant',
    sql: (schema) => `
      CREATE INDEX ${USAGE_TABLE}_created_at_idx ON ${schema}.${USAGE_TABLE} (created_at);
      CREATE INDEX ${USAGE_TABLE}_agent_created_at_idx ON ${schema}.${USAGE_TABLE} (agent_did, created_at);
      CREATE INDEX ${USAGE_TABLE}_tenant_created_at_idx ON ${schema}.${USAGE_TABLE} (tenant, created_at)`,
  },
  {
    version: 3,
    name: 'client request ids apart from the gateway id; truncated and cancelled outcomes',
    sql: (schema) => `
      ALTER TABLE ${schema}.${USAGE_TABLE}
        ADD COLUMN client_request_id text CHECK (length(client_request_id) <= ${USAGE_LIMITS.client_request_id});
      ALTER TABLE ${schema}.${USAGE_TABLE} DROP CONSTRAINT IF EXISTS ${USAGE_TABLE}_status_check;
      ALTER TABLE ${schema}.${USAGE_TABLE}
        ADD CONSTRAINT ${USAGE_TABLE}_status_check CHECK (status IN ('ok', 'error', 'truncated', 'cancelled'))`,
  },
];

/** The columns a ledger insert writes, with their PostgreSQL types, in `toUsageColumns` order. */
export const USAGE_COLUMNS = [
  ['request_id', 'text'],
  ['client_request_id', 'text'],
  ['agent_did', 'text'],
  ['tenant', 'text'],
  ['model_id', 'text'],
  ['provider', 'text'],
  ['input_tokens', 'bigint'],
  ['output_tokens', 'bigint'],
  ['cost_cents', 'numeric'],
  ['latency_ms', 'integer'],
  ['cached', 'boolean'],
  ['status', 'text'],
  ['error_code', 'text'],
  ['created_at', 'timestamptz'],
] as const;

/**
 * An insert's parameters: one array per column of `USAGE_COLUMNS`. Latency is rounded to whole
 * milliseconds; non-finite numbers become NULL. Values the table refuses are passed on for
 * PostgreSQL to refuse, so that the ledger dead-letters exactly the bad rows.
 */
export function toUsageColumns(records: readonly UsageRecord[]): unknown[][] {
  const columns: unknown[][] = USAGE_COLUMNS.map(() => []);
  for (const record of records) {
    const row: unknown[] = [
      record.request_id,
      record.client_request_id ?? null,
      record.agent_did,
      record.tenant,
      record.model_id,
      record.provider,
      finiteOrNull(record.input_tokens),
      finiteOrNull(record.output_tokens),
      finiteOrNull(record.cost_cents),
      typeof record.latency_ms === 'number' && Number.isFinite(record.latency_ms) ? Math.round(record.latency_ms) : null,
      record.cached,
      record.status,
      record.error_code ?? null,
      isUsageTimestamp(record.created_at) ? new Date(record.created_at).toISOString() : null,
    ];
    row.forEach((value, index) => columns[index]?.push(value));
  }
  return columns;
}

/** True for epoch milliseconds a JavaScript `Date` (and so `timestamptz`) can hold. */
export function isUsageTimestamp(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && Math.abs(value) <= 8.64e15;
}

function finiteOrNull(value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Quotes a schema name after checking it is a plain lower-case identifier. */
export function quoteSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new RangeError(`schema should be a lower-case identifier of at most 63 characters, got ${JSON.stringify(schema)}`);
  }
  return `"${schema}"`;
}

/**
 * Creates the schema and applies the migrations it lacks, in one transaction. Returns the
 * versions applied by this call (empty when the schema was already current). Throws what
 * PostgreSQL throws; the transaction is then rolled back and nothing is half-applied.
 */
export async function migrateUsageSchema(client: PoolClient, schema: string, migrations: readonly UsageMigration[] = USAGE_MIGRATIONS): Promise<number[]> {
  const quoted = quoteSchemaName(schema);
  await client.query('BEGIN');
  try {
    // Serialises concurrent starters; released at COMMIT or ROLLBACK, even if the connection dies.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`l04_usage_ledger:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${quoted}.schema_migrations (
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const result = await client.query<{ version: number }>(`SELECT version FROM ${quoted}.schema_migrations`);
    const done = new Set(result.rows.map((row) => row.version));
    const applied: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(migration.version)) continue;
      await client.query(migration.sql(quoted));
      await client.query(`INSERT INTO ${quoted}.schema_migrations (version, name) VALUES ($1, $2)`, [migration.version, migration.name]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
