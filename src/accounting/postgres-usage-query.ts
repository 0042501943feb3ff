/**
 * The read side of the PostgreSQL ledger: the sums behind `GET /v1/usage`, the dashboard and
 * `l04-gateway usage`. `PostgresUsageLedger.query` runs them on its pool; `PostgresUsageReader`
 * runs them on a pool of its own for a process that only reads (the CLI), without the ledger's
 * spool, timers or migrations.
 *
 * Two statements per query, both over the `created_at` index: the totals per model (refusals per
 * E-code), and with `group_by` the ranked groups with their count before the limit.
 */
import { Pool } from 'pg';
import { GatewayError, ValidationError } from '../models/error-codes.js';
import type { UsageGroup, UsageGroupBy, UsageQuery, UsageSummary, UsageTotalsRow } from './usage-ledger.js';
import { summarizeUsage, USAGE_GROUP_LIMIT } from './usage-ledger.js';
import { isUsageTimestamp, quoteSchemaName, USAGE_TABLE } from './usage-migrations.js';

/** What runs a statement: a `pg` Pool or client. */
export interface UsageQueryRunner {
  query<Row extends object>(sql: string, values: unknown[]): Promise<{ rows: Row[] }>;
}

// Group keys as SQL over the ledger's columns; a refusal has no model, so it has no model group.
const GROUP_KEYS: Record<UsageGroupBy, { key: string; where?: string }> = {
  agent: { key: 'agent_did' },
  tenant: { key: 'tenant' },
  model: { key: 'model_id', where: "model_id <> ''" },
  day: { key: `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')` },
};

// float8 so that pg hands back numbers; exact far beyond any realistic token or cent total.
const TOTALS = `count(*) FILTER (WHERE model_id <> '')::float8 AS requests,
  coalesce(sum(input_tokens), 0)::float8 AS input_tokens,
  coalesce(sum(output_tokens), 0)::float8 AS output_tokens,
  coalesce(sum(cost_cents), 0)::float8 AS cost_cents`;

/**
 * Sums the records of `table` (schema-qualified, quoted) that `query` selects. Throws E4500 for
 * times outside what PostgreSQL can hold, and E4511 when the statement fails.
 */
export async function queryUsageTable(runner: UsageQueryRunner, table: string, query: UsageQuery): Promise<UsageSummary> {
  for (const [name, value] of [
    ['since', query.since],
    ['until', query.until],
  ] as const) {
    if (value !== undefined && !isUsageTimestamp(value)) throw new ValidationError('E4500', `${name} should be epoch milliseconds`, { param: name });
  }
  const values: unknown[] = [new Date(query.since).toISOString()];
  const conditions = ['created_at >= $1::timestamptz'];
  const add = (sql: string, value: unknown): void => {
    values.push(value);
    conditions.push(`${sql} $${values.length}`);
  };
  if (query.until !== undefined) add('created_at <', new Date(query.until).toISOString());
  if (query.agent !== undefined) add('agent_did =', query.agent);
  if (query.tenant !== undefined) add('tenant =', query.tenant);
  try {
    const totals = runner.query<UsageTotalsRow>(
      `SELECT model_id, provider, CASE WHEN model_id = '' THEN coalesce(error_code, 'none') END AS refusal_code,
              count(*)::float8 AS records, ${TOTALS}
         FROM ${table} WHERE ${conditions.join(' AND ')} GROUP BY 1, 2, 3`,
      values,
    );
    // Both statements in flight at once; Promise.all so that a failure of either is handled.
    const [totalsResult, groups] = await Promise.all([
      totals,
      query.group_by === undefined ? undefined : queryGroups(runner, table, query.group_by, conditions, values, query.limit),
    ]);
    const summary = summarizeUsage(totalsResult.rows);
    if (groups === undefined || query.group_by === undefined) return summary;
    return { ...summary, group_by: query.group_by, ...groups };
  } catch (error) {
    throw new GatewayError('E4511', undefined, { cause: error });
  }
}

async function queryGroups(
  runner: UsageQueryRunner,
  table: string,
  groupBy: UsageGroupBy,
  conditions: readonly string[],
  values: readonly unknown[],
  limit: number = USAGE_GROUP_LIMIT.default,
): Promise<{ groups: UsageGroup[]; group_count: number }> {
  const { key, where } = GROUP_KEYS[groupBy];
  // Days: the latest `limit` of them, put back in calendar order below.
  const order = groupBy === 'day' ? 'key COLLATE "C" DESC' : 'cost_cents DESC, requests DESC, refusals DESC, key COLLATE "C" ASC';
  const result = await runner.query<UsageGroup & { group_count: number }>(
    `SELECT *, count(*) OVER ()::float8 AS group_count FROM (
       SELECT ${key} AS key, count(*) FILTER (WHERE model_id = '')::float8 AS refusals, ${TOTALS}
         FROM ${table} WHERE ${[...conditions, ...(where === undefined ? [] : [where])].join(' AND ')} GROUP BY 1) AS grouped
      ORDER BY ${order} LIMIT $${values.length + 1}`,
    [...values, limit],
  );
  const groups = result.rows.map(({ key: groupKey, refusals, requests, input_tokens, output_tokens, cost_cents }) => ({
    key: groupKey,
    requests,
    refusals,
    input_tokens,
    output_tokens,
    cost_cents,
  }));
  if (groupBy === 'day') groups.reverse();
  return { groups, group_count: result.rows[0]?.group_count ?? 0 };
}

/** Options of a `PostgresUsageReader`. */
export interface PostgresUsageReaderOptions {
  /** `postgres://…` connection string (`usage.postgres_url`). */
  url: string;
  /** Schema of the ledger tables (`usage.schema`); default `l04_usage`. */
  schema?: string;
  /** Bound on opening a connection, in milliseconds; default 2000. */
  connectTimeoutMs?: number;
  /** Bound on one statement, in milliseconds; default 10 000. */
  statementTimeoutMs?: number;
}

/** Reads usage from a ledger that a gateway writes; creates, migrates and writes nothing. */
export class PostgresUsageReader {
  private readonly pool: Pool;
  private readonly table: string;

  constructor(options: PostgresUsageReaderOptions) {
    this.table = `${quoteSchemaName(options.schema ?? 'l04_usage')}.${USAGE_TABLE}`;
    const statementTimeoutMs = options.statementTimeoutMs ?? 10_000;
    this.pool = new Pool({
      connectionString: options.url,
      max: 2,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 2_000,
      statement_timeout: statementTimeoutMs,
      query_timeout: statementTimeoutMs + 1_000,
      allowExitOnIdle: true,
      application_name: 'l04-usage-reader',
    });
    this.pool.on('error', () => undefined); // an idle connection dropped by the server; the next query reports it
  }

  /** Sums the records `query` selects (see `queryUsageTable`). */
  query(query: UsageQuery): Promise<UsageSummary> {
    return queryUsageTable(this.pool, this.table, query);
  }

  /** Closes the pool. */
  async close(): Promise<void> {
    await this.pool.end();
  }
}
