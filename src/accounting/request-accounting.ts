/**
 * The end of every request: one ledger row, the metrics, the spend of the API key, and one log line
 * (request id, agent, tenant, model, provider, attempts, cache result, tokens, cost, latency, E-code).
 * Prompts and completions are logged only when `logging.log_content` is on.
 */
import type { GatewayError } from '../models/error-codes.js';
import type { AttemptRecord, InferenceResponse } from '../models/inference-response.js';
import type { InferenceRequest } from '../models/inference-request.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { errorSource } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';
import type { UsageLedger } from './usage-ledger.js';
import type { SpendTracker } from '../limits/spend-tracker.js';
import type { CacheResult, CallerIdentity } from '../models/gateway-events.js';
import type { ActivityWindow } from '../observability/activity-window.js';

/** Everything known about a finished request. */
export interface RequestOutcome {
  request: InferenceRequest & { request_id: string };
  caller: CallerIdentity;
  /** Epoch milliseconds of arrival. */
  arrivalAt: number;
  /** Epoch milliseconds of the end. */
  endedAt: number;
  response?: InferenceResponse;
  error?: GatewayError;
  cache: CacheResult;
  attempts: AttemptRecord[];
  /** Time spent waiting on providers, in milliseconds (excluded from the overhead metric). */
  providerMs: number;
  /** Time to the first streamed content, in milliseconds. */
  timeToFirstTokenMs?: number;
  stream: boolean;
  /** `chat`, `embeddings` or `inference`. */
  operation: string;
}

/** Options of `RequestAccounting`. */
export interface RequestAccountingOptions {
  metrics: GatewayMetrics;
  logger: Logger;
  ledger: UsageLedger;
  spend: SpendTracker;
  logContent: boolean;
  /** The dashboard's live figures; fed one entry per finished request. */
  activity?: ActivityWindow;
}

/** Records outcomes. Never throws: accounting must not fail a request that already succeeded. */
export class RequestAccounting {
  private readonly options: RequestAccountingOptions;

  constructor(options: RequestAccountingOptions) {
    this.options = options;
  }

  /** Records one finished request. */
  record(outcome: RequestOutcome): void {
    const { metrics, ledger, spend, logger } = this.options;
    const response = outcome.response;
    // A failed request is attributed to the last model it reached, if any.
    const served = response ?? lastAttempted(outcome.attempts);
    const model = served?.model_id ?? 'none';
    const provider = served?.provider ?? 'none';
    // A cache hit spent no provider tokens: it is billed (ledger, metrics, spend, log) as zero.
    const billed = response !== undefined && !response.cached;
    const usage = billed ? response.token_usage : NO_USAGE;
    const cost = billed ? response.metadata.cost_cents : 0;
    const latencyMs = Math.max(0, outcome.endedAt - outcome.arrivalAt);
    const error = outcome.error;
    const labels = { model, provider };

    metrics.recordRequest(
      {
        ...labels,
        status: error === undefined ? 'ok' : String(error.httpStatus),
        cache: outcome.cache,
        error_source: error === undefined ? 'none' : errorSource(error),
        code: error?.code ?? '',
      },
      latencyMs / 1000,
    );
    metrics.observeOverhead(Math.max(0, latencyMs - outcome.providerMs) / 1000);
    if (outcome.timeToFirstTokenMs !== undefined) metrics.observeTimeToFirstToken(labels, outcome.timeToFirstTokenMs / 1000);
    if (billed) {
      metrics.addTokens(labels, usage.input_tokens, usage.output_tokens);
      if (cost > 0) metrics.addCost(labels, cost);
    }
    if (cost > 0) void spend.add(outcome.caller, cost);

    ledger.record({
      request_id: outcome.request.request_id,
      agent_did: outcome.caller.agent_did,
      tenant: outcome.caller.tenant,
      model_id: served?.model_id ?? '',
      provider: served?.provider ?? '',
      input_tokens: usage.input_tokens,
      output_tokens: usage.output_tokens,
      cost_cents: cost,
      latency_ms: latencyMs,
      cached: response?.cached ?? false,
      status: error === undefined ? 'ok' : 'error',
      error_code: error?.code ?? null,
      created_at: outcome.arrivalAt,
    });

    this.options.activity?.record(outcome, { latencyMs, model, provider });

    const line: Record<string, unknown> = {
      request_id: outcome.request.request_id,
      agent: outcome.caller.agent_did,
      tenant: outcome.caller.tenant,
      operation: outcome.operation,
      stream: outcome.stream,
      model,
      provider,
      attempts: outcome.attempts.map((attempt) => `${attempt.model_id}:${attempt.outcome}${attempt.code === undefined ? '' : `:${attempt.code}`}`),
      cache: outcome.cache,
      input_tokens: usage.input_tokens,
      output_tokens: usage.output_tokens,
      cost_cents: cost,
      latency_ms: latencyMs,
      code: error?.code,
    };
    if (this.options.logContent) {
      line.prompt = outcome.request.logical_prompt;
      if (response !== undefined) line.completion = response.content;
    }
    if (error === undefined) logger.info(line, 'request completed');
    else logger.warn({ ...line, error_message: error.message, http_status: error.httpStatus }, 'request failed');
  }
}

const NO_USAGE = { input_tokens: 0, output_tokens: 0, total_tokens: 0 } as const;

function lastAttempted(attempts: AttemptRecord[]): AttemptRecord | undefined {
  for (let index = attempts.length - 1; index >= 0; index--) {
    const attempt = attempts[index];
    if (attempt !== undefined && attempt.outcome !== 'skipped') return attempt;
  }
  return undefined;
}
