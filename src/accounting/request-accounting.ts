/**
 * The one place a finished request is observed: one ledger row, the metrics, the spend of the API
 * key, and one log line (request id, agent, tenant, model, provider, attempts, cache result, tokens,
 * cost, latency, E-code). Requests refused before they reached the gateway (bad body, unknown
 * route, failed authentication) are counted here too, through `recordRefusal`. Prompts and
 * completions are logged only when `logging.log_content` is on.
 */
import type { GatewayError } from '../models/error-codes.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { outcomeLabels } from '../observability/metrics.js';
import { logFlat } from '../observability/logger.js';
import type { FlatValue, Logger } from '../observability/logger.js';
import type { Exchange, Outcome } from '../pipeline/exchange.js';
import type { SpendTracker } from '../limits/spend-tracker.js';
import type { Clock } from '../util/clock.js';
import type { ActivityWindow } from '../observability/activity-window.js';
import type { UsageLedger } from './usage-ledger.js';

/** Options of `RequestAccounting`. */
export interface RequestAccountingOptions {
  metrics: GatewayMetrics;
  logger: Logger;
  ledger: UsageLedger;
  spend: SpendTracker;
  clock: Clock;
  logContent: boolean;
  /** The dashboard's live figures; fed one entry per finished request. */
  activity?: ActivityWindow;
}

/** The refusals counted under `l04_rate_limited_total`, by code. */
const RATE_LIMITED: Partial<Record<string, [scope: 'agent' | 'spend', kind: 'requests' | 'tokens' | 'budget']>> = {
  E4400: ['agent', 'requests'],
  E4401: ['agent', 'tokens'],
  E4403: ['spend', 'budget'],
};

/** Records outcomes. Never throws: accounting must not fail a request that already succeeded. */
export class RequestAccounting {
  private readonly options: RequestAccountingOptions;

  constructor(options: RequestAccountingOptions) {
    this.options = options;
  }

  /** Records one finished request. */
  record(exchange: Exchange, outcome: Outcome): void {
    const { metrics, ledger, spend, logger } = this.options;
    const { response, error, usage } = outcome;
    const model = outcome.model?.id ?? 'none';
    const provider = outcome.model?.provider ?? 'none';
    const cost = outcome.costCents;
    const latencyMs = Math.max(0, this.options.clock.now() - exchange.arrivalAt);
    const labels = { model, provider };

    metrics.recordRequest({ model, provider, cache: exchange.cache, ...outcomeLabels(error) }, latencyMs / 1000);
    metrics.observeOverhead(Math.max(0, latencyMs - exchange.providerMs) / 1000);
    if (outcome.timeToFirstTokenMs !== undefined) metrics.observeTimeToFirstToken(labels, outcome.timeToFirstTokenMs / 1000);
    const limited = error === undefined ? undefined : RATE_LIMITED[error.code];
    if (limited !== undefined) metrics.rateLimited(...limited);
    if (usage !== undefined) {
      metrics.addTokens(labels, usage.input_tokens, usage.output_tokens, { read: usage.cache_read_input_tokens, write: usage.cache_creation_input_tokens });
      if (cost > 0) metrics.addCost(labels, cost);
    }
    if (cost > 0) void spend.add(exchange.caller, cost);

    ledger.record({
      request_id: exchange.request.request_id,
      client_request_id: exchange.request.client_request_id ?? null,
      agent_did: exchange.caller.agent_did,
      tenant: exchange.caller.tenant,
      model_id: outcome.model?.id ?? '',
      provider: outcome.model?.provider ?? '',
      input_tokens: usage?.input_tokens ?? 0,
      output_tokens: usage?.output_tokens ?? 0,
      cost_cents: cost,
      latency_ms: latencyMs,
      cached: response?.cached ?? false,
      status: outcome.status,
      error_code: error?.code ?? null,
      created_at: exchange.arrivalAt,
    });

    this.options.activity?.record(
      {
        endedAt: exchange.arrivalAt + latencyMs,
        cache: exchange.cache,
        ...(error === undefined ? {} : { error }),
        request: exchange.request,
        caller: exchange.caller,
      },
      { latencyMs, model, provider },
    );

    const line: Record<string, FlatValue> = {
      request_id: exchange.request.request_id,
      agent: exchange.caller.agent_did,
      tenant: exchange.caller.tenant,
      operation: exchange.operation,
      stream: exchange.stream,
      model,
      provider,
      attempts: exchange.attempts.map((attempt) => `${attempt.model_id}:${attempt.outcome}${attempt.code === undefined ? '' : `:${attempt.code}`}`),
      cache: exchange.cache,
      status: outcome.status,
      input_tokens: usage?.input_tokens ?? 0,
      output_tokens: usage?.output_tokens ?? 0,
      cache_read_input_tokens: usage?.cache_read_input_tokens,
      cache_creation_input_tokens: usage?.cache_creation_input_tokens,
      cost_cents: cost,
      latency_ms: latencyMs,
      code: error?.code,
    };
    if (error !== undefined) {
      line.error_message = error.message;
      line.http_status = error.httpStatus;
      if (error.logDetail !== undefined) line.upstream_detail = error.logDetail;
    }
    const level = error === undefined ? 'info' : 'warn';
    const message = error === undefined ? 'request completed' : 'request failed';
    // The line of every request: flat, written without pino's generic walk (`logFlat`), unless it carries content.
    if (!this.options.logContent) logFlat(logger, level, line, message);
    else logger[level]({ ...line, prompt: exchange.request.logical_prompt, ...(response === undefined ? {} : { completion: response.content }) }, message);
  }

  /** Counts a request refused before it reached the gateway's chain (bad body, unknown route, authentication). */
  recordRefusal(error: GatewayError, durationS: number): void {
    this.options.metrics.recordRequest({ model: 'none', provider: 'none', cache: 'bypass', ...outcomeLabels(error) }, durationS);
  }
}
