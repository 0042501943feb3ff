/**
 * What the operator dashboard shows, gathered from a running gateway in one call: each provider's
 * health, latency, circuit state and queue; the last 15 minutes of requests (`ActivityWindow`);
 * and today's spend and tokens per tenant, agent and model from the ledger. A ledger that cannot
 * be read leaves the rest of the snapshot intact and reports its error in `usage`.
 */
import type { UsageGroup, UsageLedgerHealth, UsageQuery, UsageRefusals, UsageTotals } from '../accounting/usage-ledger.js';
import { startOfUtcDay } from '../accounting/usage-query-params.js';
import { toGatewayError } from '../models/error-codes.js';
import type { ActivitySnapshot } from '../observability/activity-window.js';
import type { ProviderHealthSnapshot } from '../resilience/provider-health.js';
import type { GatewayRuntime } from './build-runtime.js';

/** Groups per breakdown in the dashboard's usage tables. */
export const DASHBOARD_USAGE_ROWS = 20;

/** One provider row of the dashboard. */
export type DashboardProvider = ProviderHealthSnapshot & {
  /** Requests waiting in the provider's queue, by priority, and dispatched now. */
  queue: { high: number; normal: number; low: number; waiting: number; in_flight: number };
};

/** Today's usage (since 00:00 UTC), refusals apart, with the top groups by spend. */
export interface DashboardUsage extends UsageTotals {
  /** ISO 8601 start of the period. */
  since: string;
  refusals: UsageRefusals;
  by_tenant: UsageGroup[];
  by_agent: UsageGroup[];
  by_model: UsageGroup[];
}

/** The dashboard's figures (`GET /dashboard/api/snapshot`). */
export interface DashboardSnapshot {
  object: 'dashboard.snapshot';
  /** ISO 8601 time of the snapshot. */
  generated_at: string;
  /** Where shared state lives. */
  state_backend: 'memory' | 'redis';
  providers: DashboardProvider[];
  /** Requests waiting in every provider queue. */
  queue_depth: number;
  activity: ActivitySnapshot;
  ledger: UsageLedgerHealth;
  usage: DashboardUsage | { error: { code: string; message: string } };
}

/** Gathers the dashboard's figures from `runtime`. Never throws for a ledger that cannot be read. */
export async function dashboardSnapshot(runtime: GatewayRuntime): Promise<DashboardSnapshot> {
  const now = runtime.clock.now();
  const providers = runtime.health.snapshot().map((row): DashboardProvider => {
    const queue = runtime.queues.get(row.provider);
    const depth = queue?.depth() ?? { high: 0, normal: 0, low: 0 };
    return { ...row, queue: { ...depth, waiting: depth.high + depth.normal + depth.low, in_flight: queue?.active() ?? 0 } };
  });
  return {
    object: 'dashboard.snapshot',
    generated_at: new Date(now).toISOString(),
    state_backend: runtime.stateBackend,
    providers,
    queue_depth: providers.reduce((total, row) => total + row.queue.waiting, 0),
    activity: runtime.activity.snapshot(),
    ledger: runtime.ledger.health(),
    usage: await todaysUsage(runtime, now),
  };
}

async function todaysUsage(runtime: GatewayRuntime, now: number): Promise<DashboardSnapshot['usage']> {
  const since = startOfUtcDay(now);
  const query = (group_by: UsageQuery['group_by']): Promise<Awaited<ReturnType<GatewayRuntime['ledger']['query']>>> =>
    runtime.ledger.query({ since, group_by, limit: DASHBOARD_USAGE_ROWS });
  try {
    const [tenants, agents, models] = await Promise.all([query('tenant'), query('agent'), query('model')]);
    return {
      since: new Date(since).toISOString(),
      requests: tenants.requests,
      input_tokens: tenants.input_tokens,
      output_tokens: tenants.output_tokens,
      cost_cents: tenants.cost_cents,
      refusals: tenants.refusals,
      by_tenant: tenants.groups ?? [],
      by_agent: agents.groups ?? [],
      by_model: models.groups ?? [],
    };
  } catch (error) {
    const gatewayError = toGatewayError(error);
    return { error: { code: gatewayError.code, message: gatewayError.message } };
  }
}
