/**
 * The usage ledger port: one record per request (tokens, cost, latency, outcome), written off the
 * hot path, and the sums that `GET /v1/usage`, the dashboard and `l04-gateway usage` answer from.
 * `MemoryUsageLedger` is the in-process backend; `PostgresUsageLedger` (postgres-usage-ledger.ts)
 * is the durable one. Both reduce their records to `UsageTotalsRow`s and groups, ranked and
 * summarised by the shared functions here, so that they answer every query alike.
 *
 * A refusal is a record without a model (`model_id` `''`): the request was turned away before any
 * model was chosen (rate limit, budget, validation, no candidate). Refusals are counted apart
 * (`refusals`), never as model usage.
 */

/** One request's accounting, as it is stored (snake_case wire names). */
export interface UsageRecord {
  /**
   * The gateway's own id of the request, unique: the ledger writes each id once (a replay after an
   * outage is not a second row). Never chosen by a client.
   */
  request_id: string;
  /**
   * The id the client sent (`request_id` of a native request), if any: kept for the client's own
   * correlation, never unique — every call is billed, whatever id it carries.
   */
  client_request_id?: string | null;
  agent_did: string;
  tenant: string;
  /** The model that served the request; `''` when none was chosen (refused before routing). */
  model_id: string;
  provider: string;
  input_tokens: number;
  output_tokens: number;
  /** Spend in cents (fractions allowed). */
  cost_cents: number;
  /** Wall time of the request, in milliseconds (stored rounded to whole milliseconds). */
  latency_ms: number;
  cached: boolean;
  /** `ok` complete; `error` failed before any answer; `truncated` a started stream was cut; `cancelled` the caller left. */
  status: 'ok' | 'error' | 'truncated' | 'cancelled';
  /** The E-code of a failed request, `null` when it succeeded. */
  error_code: string | null;
  /** When the request arrived, epoch milliseconds. */
  created_at: number;
}

/** Dimensions a usage query can break its totals down by. */
export const USAGE_GROUP_BY = ['agent', 'tenant', 'model', 'day'] as const;
/** `agent` (DID), `tenant`, `model` (model id) or `day` (UTC, `yyyy-mm-dd`). */
export type UsageGroupBy = (typeof USAGE_GROUP_BY)[number];

/** Default and largest number of groups a query returns. */
export const USAGE_GROUP_LIMIT = { default: 100, max: 1_000 } as const;

/** Which records a usage query sums. */
export interface UsageQuery {
  /** Only this agent DID. */
  agent?: string;
  /** Only this tenant. */
  tenant?: string;
  /** Records created at or after this instant, epoch milliseconds. */
  since: number;
  /** Records created before this instant, epoch milliseconds; no upper bound when absent. */
  until?: number;
  /** Also break the totals down by this dimension (`UsageSummary.groups`). */
  group_by?: UsageGroupBy;
  /** Most groups returned, 1 to 1000; default 100. The totals always cover every record. */
  limit?: number;
}

/** Requests, tokens and spend of a set of records. */
export interface UsageTotals {
  /** Requests that reached a model (answered, cached, or failed upstream); refusals are counted apart. */
  requests: number;
  input_tokens: number;
  output_tokens: number;
  /** Spend in cents (fractions allowed). */
  cost_cents: number;
}

/** Spend and tokens of one model over a query's records. */
export interface UsageByModel extends UsageTotals {
  model_id: string;
  provider: string;
}

/** Requests refused before any model was chosen (rate limits, budgets, validation, no model). */
export interface UsageRefusals {
  requests: number;
  /** Refusals per E-code. */
  by_code: Record<string, number>;
}

/** One group of a query with `group_by`. */
export interface UsageGroup extends UsageTotals {
  /** The agent DID, tenant, model id or UTC day (`yyyy-mm-dd`) of the group. */
  key: string;
  /** Requests of this group refused before any model was chosen. */
  refusals: number;
}

/**
 * Spend and tokens over a query's records: totals and per model (highest spend first), the
 * refusals apart, and with `group_by` the groups (highest spend first; days in calendar order,
 * the latest `limit` of them).
 */
export interface UsageSummary extends UsageTotals {
  by_model: UsageByModel[];
  refusals: UsageRefusals;
  group_by?: UsageGroupBy;
  groups?: UsageGroup[];
  /** Groups before `limit` was applied. */
  group_count?: number;
}

/**
 * One line of a ledger's totals: a model's figures, or (model id `''`) the refusals of one E-code.
 * Both ledgers reduce their records to these and `summarizeUsage` builds the summary.
 */
export interface UsageTotalsRow extends UsageTotals {
  model_id: string;
  provider: string;
  /** For refusal rows, the E-code (`'none'` when the record has none). */
  refusal_code: string | null;
  /** Every record of the line, refusals included. */
  records: number;
}

/** What a ledger reports to `/health/ready`. */
export interface UsageLedgerHealth {
  backend: 'memory' | 'postgres';
  /** False while the backing store cannot be written (records then wait in the spool). */
  healthy: boolean;
  /** Records waiting in the local spool for the store to come back. */
  spooled: number;
  /** Records buffered in memory, not yet written anywhere durable. */
  pending: number;
  /** Why the ledger is unhealthy, when it is. */
  message?: string;
}

/** Where per-request usage goes. */
export interface UsageLedger {
  /** Accepts one record; never blocks, never throws (work happens in the background). */
  record(record: UsageRecord): void;
  /** Sums spend and tokens over the records the query selects. */
  query(query: UsageQuery): Promise<UsageSummary>;
  /** Writes everything accepted so far (to the store, or to the spool when the store is down). */
  flush(): Promise<void>;
  /** Flushes and releases resources within `timeoutMs` (default 3000 ms); idempotent. */
  close(timeoutMs?: number): Promise<void>;
  /** The ledger's state, for readiness checks. */
  health(): UsageLedgerHealth;
}

/** Options of a `MemoryUsageLedger`. */
export interface MemoryUsageLedgerOptions {
  /** Most records kept; the oldest are forgotten past it (a ring). Default 100 000. */
  maxRecords?: number;
}

/** True when `record` falls inside `query` (time window, agent, tenant). */
export function matchesUsageQuery(record: UsageRecord, query: UsageQuery): boolean {
  if (record.created_at < query.since) return false;
  if (query.until !== undefined && record.created_at >= query.until) return false;
  if (query.agent !== undefined && record.agent_did !== query.agent) return false;
  if (query.tenant !== undefined && record.tenant !== query.tenant) return false;
  return true;
}

/** True for a record of a request refused before any model was chosen. */
export function isRefusal(record: Pick<UsageRecord, 'model_id'>): boolean {
  return record.model_id === '';
}

/** The UTC day of an epoch-milliseconds instant, `yyyy-mm-dd`. */
export function usageDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/** Builds a summary from totals rows: refusal rows go to `refusals`, the others to `by_model` (highest spend first). */
export function summarizeUsage(rows: readonly UsageTotalsRow[]): UsageSummary {
  const by_model: UsageByModel[] = [];
  const refusals: UsageRefusals = { requests: 0, by_code: {} };
  const summary: UsageSummary = { requests: 0, input_tokens: 0, output_tokens: 0, cost_cents: 0, by_model, refusals };
  for (const row of rows) {
    if (row.model_id === '') {
      const code = row.refusal_code ?? 'none';
      refusals.requests += row.records;
      refusals.by_code[code] = (refusals.by_code[code] ?? 0) + row.records;
    } else {
      by_model.push({
        model_id: row.model_id,
        provider: row.provider,
        requests: row.requests,
        input_tokens: row.input_tokens,
        output_tokens: row.output_tokens,
        cost_cents: row.cost_cents,
      });
      summary.requests += row.requests;
    }
    summary.input_tokens += row.input_tokens;
    summary.output_tokens += row.output_tokens;
    summary.cost_cents += row.cost_cents;
  }
  by_model.sort((a, b) => b.cost_cents - a.cost_cents || b.requests - a.requests || compareText(a.model_id, b.model_id) || compareText(a.provider, b.provider));
  return summary;
}

/**
 * Orders groups and applies the limit: by spend, then requests, then refusals (highest first),
 * then key; days in calendar order, keeping the latest `limit`. PostgreSQL sorts the same way
 * (keys in byte order, `COLLATE "C"`).
 */
export function rankUsageGroups(groups: UsageGroup[], groupBy: UsageGroupBy, limit: number): UsageGroup[] {
  if (groupBy === 'day') return groups.sort((a, b) => compareText(a.key, b.key)).slice(-limit);
  return groups.sort((a, b) => b.cost_cents - a.cost_cents || b.requests - a.requests || b.refusals - a.refusals || compareText(a.key, b.key)).slice(0, limit);
}

/** The group key of `record` under `groupBy`; `undefined` when the record has none (a refusal has no model). */
export function usageGroupKey(record: UsageRecord, groupBy: UsageGroupBy): string | undefined {
  switch (groupBy) {
    case 'agent':
      return record.agent_did;
    case 'tenant':
      return record.tenant;
    case 'model':
      return isRefusal(record) ? undefined : record.model_id;
    case 'day':
      return usageDay(record.created_at);
  }
}

/** Code-unit order, the order of PostgreSQL's `COLLATE "C"` for the text a ledger holds. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The in-process ledger: a bounded ring of the latest `maxRecords` records, idempotent on
 * request id while the earlier record is still in the ring. Nothing survives a restart.
 */
export class MemoryUsageLedger implements UsageLedger {
  private readonly maxRecords: number;
  private readonly ring: Array<UsageRecord | undefined>;
  private readonly ids = new Set<string>();
  private next = 0;

  constructor(options: MemoryUsageLedgerOptions = {}) {
    const maxRecords = options.maxRecords ?? 100_000;
    if (!Number.isInteger(maxRecords) || maxRecords <= 0) {
      throw new RangeError(`maxRecords should be a positive integer, got ${maxRecords}`);
    }
    this.maxRecords = maxRecords;
    this.ring = new Array<UsageRecord | undefined>(maxRecords);
  }

  record(record: UsageRecord): void {
    if (this.ids.has(record.request_id)) return;
    const evicted = this.ring[this.next];
    if (evicted !== undefined) this.ids.delete(evicted.request_id);
    this.ring[this.next] = { ...record };
    this.ids.add(record.request_id);
    this.next = (this.next + 1) % this.maxRecords;
  }

  async query(query: UsageQuery): Promise<UsageSummary> {
    const rows = new Map<string, UsageTotalsRow>();
    const groups = new Map<string, UsageGroup>();
    const groupBy = query.group_by;
    for (const record of this.ring) {
      if (record === undefined || !matchesUsageQuery(record, query)) continue;
      const refusal = isRefusal(record);
      const refusalCode = refusal ? (record.error_code ?? 'none') : null;
      const key = `${record.model_id}\u0000${record.provider}\u0000${refusalCode ?? ''}`;
      let row = rows.get(key);
      if (row === undefined) {
        row = { model_id: record.model_id, provider: record.provider, refusal_code: refusalCode, records: 0, ...emptyTotals() };
        rows.set(key, row);
      }
      row.records += 1;
      addRecord(row, record);
      const groupKey = groupBy === undefined ? undefined : usageGroupKey(record, groupBy);
      if (groupKey === undefined) continue;
      let group = groups.get(groupKey);
      if (group === undefined) {
        group = { key: groupKey, refusals: 0, ...emptyTotals() };
        groups.set(groupKey, group);
      }
      if (refusal) group.refusals += 1;
      addRecord(group, record);
    }
    const summary = summarizeUsage([...rows.values()]);
    if (groupBy === undefined) return summary;
    return {
      ...summary,
      group_by: groupBy,
      groups: rankUsageGroups([...groups.values()], groupBy, query.limit ?? USAGE_GROUP_LIMIT.default),
      group_count: groups.size,
    };
  }

  async flush(): Promise<void> {}

  async close(_timeoutMs?: number): Promise<void> {}

  health(): UsageLedgerHealth {
    return { backend: 'memory', healthy: true, spooled: 0, pending: 0 };
  }
}

function emptyTotals(): UsageTotals {
  return { requests: 0, input_tokens: 0, output_tokens: 0, cost_cents: 0 };
}

function addRecord(totals: UsageTotals, record: UsageRecord): void {
  if (!isRefusal(record)) totals.requests += 1;
  totals.input_tokens += record.input_tokens;
  totals.output_tokens += record.output_tokens;
  totals.cost_cents += record.cost_cents;
}
