/**
 * `l04-gateway usage`: spend and tokens from the PostgreSQL ledger as a table (or the JSON of
 * `GET /v1/usage` with `--json`), grouped by agent unless `--group-by` says otherwise. Reads
 * only: it opens no spool and migrates nothing. A config without `usage.postgres_url` keeps usage
 * in the memory of the running gateway, which this command cannot reach: it says so (exit 1).
 */
import type { GatewayConfig } from '../config/config-schema.js';
import { PostgresUsageReader } from '../accounting/postgres-usage-query.js';
import type { UsageQuery, UsageSummary } from '../accounting/usage-ledger.js';
import { parseUsageQuery } from '../accounting/usage-query-params.js';
import { isGatewayError } from '../models/error-codes.js';
import { redactSecrets } from '../util/redact.js';
import { formatTable } from '../util/format-table.js';
import type { CliIo, CliValues } from './cli-support.js';

const FLAGS = { since: 'since', until: 'until', 'group-by': 'group_by', agent: 'agent', tenant: 'tenant', limit: 'limit' } as const;
const GROUP_TITLES = { agent: 'agent', tenant: 'tenant', model: 'model', day: 'day (UTC)' } as const;

/** Prints usage from the ledger; resolves with the exit code. */
export async function usage(config: GatewayConfig, values: CliValues, io: CliIo): Promise<number> {
  let query: UsageQuery;
  try {
    const params: Array<[string, string]> = [];
    for (const [flag, param] of Object.entries(FLAGS)) {
      const value = values[flag];
      if (typeof value === 'string') params.push([param, value]);
    }
    query = parseUsageQuery(params, io.now());
  } catch (error) {
    if (!isGatewayError(error)) throw error;
    const flag = Object.entries(FLAGS).find(([, param]) => param === error.param)?.[0] ?? error.param ?? '';
    io.stderr(`l04-gateway usage: --${flag}${error.message.replace(/^Invalid request: [^:]*/, '')}\n`);
    return 2;
  }
  query.group_by ??= 'agent';
  if (config.usage.postgres_url === '') {
    io.stderr(
      'l04-gateway usage: this config has no usage ledger (usage.postgres_url is empty), so usage lives in the memory of the running gateway; ask it with GET /v1/usage\n',
    );
    return 1;
  }
  const reader = new PostgresUsageReader({ url: config.usage.postgres_url, schema: config.usage.schema });
  try {
    const summary = await reader.query(query);
    io.stdout(values.json === true ? `${JSON.stringify(usageBody(query, summary), null, 2)}\n` : usageTable(query, summary));
    return 0;
  } catch (error) {
    io.stderr(`l04-gateway usage: ${describeFailure(error, config.usage.schema)}\n`);
    return 1;
  } finally {
    await reader.close().catch(() => undefined);
  }
}

function usageBody(query: UsageQuery, summary: UsageSummary): Record<string, unknown> {
  return {
    object: 'usage',
    since: new Date(query.since).toISOString(),
    ...(query.until === undefined ? {} : { until: new Date(query.until).toISOString() }),
    ...summary,
  };
}

/** The table: one row per group, a total, the refusals per E-code, and the period. */
export function usageTable(query: UsageQuery, summary: UsageSummary): string {
  const groupBy = query.group_by ?? 'agent';
  const groups = summary.groups ?? [];
  const cents = (value: number): string => value.toFixed(4);
  const rows = groups.map((group) => [
    group.key,
    String(group.requests),
    String(group.refusals),
    String(group.input_tokens),
    String(group.output_tokens),
    cents(group.cost_cents),
  ]);
  rows.push([
    'total',
    String(summary.requests),
    String(summary.refusals.requests),
    String(summary.input_tokens),
    String(summary.output_tokens),
    cents(summary.cost_cents),
  ]);
  const period = `${new Date(query.since).toISOString()} to ${query.until === undefined ? 'now' : new Date(query.until).toISOString()}`;
  const filters = [query.agent === undefined ? '' : `agent ${query.agent}`, query.tenant === undefined ? '' : `tenant ${query.tenant}`].filter(Boolean);
  const lines = [
    `usage ${period}${filters.length === 0 ? '' : ` (${filters.join(', ')})`}`,
    '',
    formatTable([GROUP_TITLES[groupBy], 'requests', 'refused', 'input tokens', 'output tokens', 'cost (cents)'], rows, { alignRight: [1, 2, 3, 4, 5] }),
  ];
  const groupCount = summary.group_count ?? groups.length;
  if (groupCount > groups.length) lines.push(`(${groups.length} of ${groupCount} rows, highest spend first; --limit shows more)`);
  const codes = Object.entries(summary.refusals.by_code).sort((a, b) => b[1] - a[1]);
  if (codes.length > 0) lines.push(`refused before any model: ${codes.map(([code, count]) => `${code} ${count}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

function describeFailure(error: unknown, schema: string): string {
  const cause = isGatewayError(error) ? (error as { cause?: unknown }).cause : error;
  const state = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  if (state === '42P01' || state === '3F000') return `the ledger has no table ${schema}.usage_records yet: has a gateway run with this config?`;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return `${isGatewayError(error) ? `${error.code} ` : ''}the usage ledger cannot be read: ${redactSecrets(reason)}`;
}
