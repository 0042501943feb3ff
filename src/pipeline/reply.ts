/**
 * What the request chain answers, and the outcome each kind of answer settles with. A complete
 * answer or embeddings settle the exchange as soon as the chain returns them; a stream settles
 * itself at its last event (see `routing/relay-stream.ts`).
 */
import { toGatewayError } from '../models/error-codes.js';
import type { GatewayError } from '../models/error-codes.js';
import type { GatewayStreamEvent } from '../models/gateway-events.js';
import type { InferenceResponse, TokenUsage } from '../models/inference-response.js';
import type { RegisteredModel } from '../models/model-config.js';
import { usageCostCents } from '../models/model-config.js';
import type { Exchange, Outcome } from './exchange.js';

/** The chain's answer. */
export type Reply =
  /** A complete answer, from a provider or the cache. */
  | { type: 'response'; response: InferenceResponse }
  /** A committed stream: its first content has arrived; it settles the exchange when it ends. */
  | { type: 'stream'; model: RegisteredModel; events: AsyncIterable<GatewayStreamEvent> }
  /** Embeddings in input order. */
  | { type: 'embeddings'; model: RegisteredModel; embeddings: number[][]; usage: TokenUsage };

/** The outcome of a reply that is complete when returned (responses and embeddings). */
export function completedOutcome(reply: Exclude<Reply, { type: 'stream' }>, exchange: Exchange): Outcome {
  if (reply.type === 'embeddings') {
    const { model, usage } = reply;
    return { status: 'ok', model: { id: model.id, provider: model.provider }, usage, costCents: usageCostCents(model, usage) };
  }
  const { response } = reply;
  const model = { id: response.model_id, provider: response.provider };
  // A cache hit spent no provider tokens: it is billed as nothing. Replayed as a stream, its first token came at once.
  if (response.cached) return { status: 'ok', response, model, costCents: 0, ...(exchange.stream ? { timeToFirstTokenMs: response.latency_ms } : {}) };
  return { status: 'ok', response, model, usage: response.token_usage, costCents: response.metadata.cost_cents };
}

/** The outcome of a request that failed before any answer: nothing billed, attributed to the last model a provider was asked for. */
export function failedOutcome(exchange: Exchange, error: unknown): Outcome {
  const gatewayError: GatewayError = toGatewayError(error);
  const last = lastAttempted(exchange);
  return { status: gatewayError.code === 'E4507' ? 'cancelled' : 'error', error: gatewayError, ...(last === undefined ? {} : { model: last }), costCents: 0 };
}

/** The last model of the exchange that a provider was asked for (skipped candidates do not count). */
export function lastAttempted(exchange: Exchange): { id: string; provider: string } | undefined {
  for (let index = exchange.attempts.length - 1; index >= 0; index--) {
    const attempt = exchange.attempts[index];
    if (attempt !== undefined && attempt.outcome !== 'skipped') return { id: attempt.model_id, provider: attempt.provider };
  }
  return undefined;
}
