/**
 * The usage ledger port: one record per request (tokens, cost, latency, outcome), written off the
 * hot path, and the sums that `GET /v1/usage` answers from. `MemoryUsageLedger` is the in-process
 * backend; `PostgresUsageLedger` (postgres-usage-ledger.ts) is the durable one.
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
}

/** Spend and tokens of one model over a query's records. */
export interface UsageByModel {
  model_id: string;
  provider: string;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cost_cents: number;
}

/** Spend and tokens over a query's records, in total and per model (highest spend first). */
export interface UsageSummary {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cost_cents: number;
  by_model: UsageByModel[];
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

/** Totals `groups` into a summary, ordering the groups by spend (highest first), then model id. */
export function summarizeUsage(groups: UsageByModel[]): UsageSummary {
  const by_model = [...groups].sort((a, b) => b.cost_cents - a.cost_cents || a.model_id.localeCompare(b.model_id) || a.provider.localeCompare(b.provider));
  const summary: UsageSummary = { requests: 0, input_tokens: 0, output_tokens: 0, cost_cents: 0, by_model };
  for (const group of by_model) {
    summary.requests += group.requests;
    summary.input_tokens += group.input_tokens;
    summary.output_tokens += group.output_tokens;
    summary.cost_cents += group.cost_cents;
  }
  return summary;
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
    const groups = new Map<string, UsageByModel>();
    for (const record of this.ring) {
      if (record === undefined || !matchesUsageQuery(record, query)) continue;
      const key = `${record.model_id}\u0000${record.provider}`;
      let group = groups.get(key);
      if (group === undefined) {
        group = { model_id: record.model_id, provider: record.provider, requests: 0, input_tokens: 0, output_tokens: 0, cost_cents: 0 };
        groups.set(key, group);
      }
      group.requests += 1;
      group.input_tokens += record.input_tokens;
      group.output_tokens += record.output_tokens;
      group.cost_cents += record.cost_cents;
    }
    return summarizeUsage([...groups.values()]);
  }

  async flush(): Promise<void> {}

  async close(_timeoutMs?: number): Promise<void> {}

  health(): UsageLedgerHealth {
    return { backend: 'memory', healthy: true, spooled: 0, pending: 0 };
  }
}
