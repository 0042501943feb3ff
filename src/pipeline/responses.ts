/** The `InferenceResponse` of a provider answer or of a cache hit, stamped for one exchange. */
import type { InferenceResponse } from '../models/inference-response.js';
import type { RegisteredModel } from '../models/model-config.js';
import { usageCostCents } from '../models/model-config.js';
import type { ProviderResult } from '../providers/base.js';
import type { Exchange } from './exchange.js';
import { merged } from '../util/merged.js';

/** The response to `exchange` from `model`'s answer, priced from its real usage. `now` is epoch milliseconds. */
export function buildResponse(exchange: Exchange, model: RegisteredModel, result: ProviderResult, now: number): InferenceResponse {
  return {
    request_id: exchange.request.request_id,
    model_id: model.id,
    provider: model.provider,
    content: result.content,
    ...(result.toolCalls.length > 0 ? { tool_calls: result.toolCalls } : {}),
    ...(result.reasoning === undefined || result.reasoning.length === 0 ? {} : { reasoning: result.reasoning }),
    finish_reason: result.finishReason,
    ...(result.rawFinishReason === undefined ? {} : { raw_finish_reason: result.rawFinishReason }),
    token_usage: result.usage,
    latency_ms: Math.max(0, now - exchange.arrivalAt),
    cached: false,
    metadata: {
      cost_cents: usageCostCents(model, result.usage),
      attempts: exchange.attempts,
      ...(exchange.decision === undefined ? {} : { routing: exchange.decision }),
      cache: { result: exchange.cache },
      ...(exchange.request.client_request_id === undefined ? {} : { client_request_id: exchange.request.client_request_id }),
      ...(exchange.rateLimit === undefined ? {} : { rate_limit: exchange.rateLimit }),
    },
  };
}

/** A cache hit re-stamped for `exchange`: its id, its latency, its rate-limit state, no cost, no attempts. */
export function cachedResponse(hit: InferenceResponse, exchange: Exchange, now: number): InferenceResponse {
  // The answer's first request is not this one: none of its ids carry over.
  const { client_request_id: _first, ...metadata } = hit.metadata;
  return merged(hit, {
    request_id: exchange.request.request_id,
    latency_ms: Math.max(0, now - exchange.arrivalAt),
    cached: true,
    metadata: merged(metadata, {
      cost_cents: 0,
      attempts: [],
      ...(exchange.rateLimit === undefined ? {} : { rate_limit: exchange.rateLimit }),
      ...(exchange.request.client_request_id === undefined ? {} : { client_request_id: exchange.request.client_request_id }),
    }),
  });
}
