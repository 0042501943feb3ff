/** Small pure pieces of the gateway pipeline: the prepared call, response building, embedding input checks. */
import { GatewayError, RoutingError, ValidationError } from '../models/error-codes.js';
import { parseInferenceRequest } from '../models/inference-request.js';
import type { InferenceRequestInput } from '../models/inference-request.js';
import { estimatePromptTokens } from '../util/token-estimate.js';
import type { Clock, IdGenerator } from '../util/clock.js';
import type { InferenceRequest } from '../models/inference-request.js';
import type { AttemptRecord, InferenceResponse } from '../models/inference-response.js';
import { usageCostCents } from '../models/model-config.js';
import type { RoutingDecision } from '../models/routing-config.js';
import type { ProviderResult } from '../providers/base.js';
import type { CacheResult, CallContext, CallerIdentity } from '../models/gateway-events.js';
import type { ModelRegistry, RegisteredModel } from '../routing/model-registry.js';
import type { RateLimitInfo } from '../limits/rate-limiter.js';

/** A validated request with everything the steps share. */
export interface PreparedCall {
  request: InferenceRequest & { request_id: string; tenant: string };
  caller: CallerIdentity;
  /** Epoch milliseconds. */
  arrivalAt: number;
  /** Epoch milliseconds: arrival + max_latency_ms. */
  deadlineAt: number;
  /** Estimated prompt tokens (routing's context and cost filters). */
  promptTokens: number;
  /** Prompt estimate + max_output_tokens: reserved against the agent's tpm at admission. */
  estimatedTokens: number;
  /** Aborts on caller disconnect (E4507) or at the deadline (E4510). */
  signal: AbortSignal;
  /** Cancels the deadline timer and the caller-signal listener. */
  dispose(): void;
}

/**
 * Validates and stamps a request: its id, its caller (an API key's identity replaces the body's
 * `agent_did`), arrival, deadline, and one abort signal for caller disconnect (E4507) and the
 * deadline (E4510). Throws E4500 naming the offending field.
 */
export function prepareCall(input: InferenceRequestInput, context: CallContext, clock: Clock, idGenerator: IdGenerator): PreparedCall {
  const parsed = parseInferenceRequest(input);
  const caller: CallerIdentity = context.caller ?? { agent_did: parsed.agent_did, tenant: parsed.tenant ?? 'default', key_id: 'library' };
  const request = { ...parsed, agent_did: caller.agent_did, tenant: caller.tenant, request_id: parsed.request_id ?? idGenerator() };
  const arrivalAt = clock.now();
  const deadlineAt = arrivalAt + request.constraints.max_latency_ms;
  const promptTokens = estimatePromptTokens(request.logical_prompt);
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(context.signal?.reason ?? new ValidationError('E4507'));
  context.signal?.addEventListener('abort', onAbort, { once: true });
  if (context.signal?.aborted) onAbort();
  const timer = clock.setTimer(
    () => controller.abort(new GatewayError('E4510', `The request deadline of ${request.constraints.max_latency_ms} ms passed`)),
    deadlineAt - arrivalAt,
  );
  return {
    request,
    caller,
    arrivalAt,
    deadlineAt,
    promptTokens,
    estimatedTokens: promptTokens + request.requirements.max_output_tokens,
    signal: controller.signal,
    dispose: () => {
      timer.cancel();
      context.signal?.removeEventListener('abort', onAbort);
    },
  };
}

/** What a response records beyond the provider's answer. */
export interface ResponseContext {
  attempts: AttemptRecord[];
  decision: RoutingDecision | undefined;
  cache: CacheResult;
  /** Epoch milliseconds of completion. */
  now: number;
  rateLimit: RateLimitInfo | undefined;
}

/** Builds the `InferenceResponse` of a provider answer, priced from its real usage. */
export function buildResponse(call: PreparedCall, model: RegisteredModel, result: ProviderResult, context: ResponseContext): InferenceResponse {
  return {
    request_id: call.request.request_id,
    model_id: model.id,
    provider: model.provider,
    content: result.content,
    ...(result.toolCalls.length > 0 ? { tool_calls: result.toolCalls } : {}),
    ...(result.reasoning === undefined || result.reasoning.length === 0 ? {} : { reasoning: result.reasoning }),
    finish_reason: result.finishReason,
    ...(result.rawFinishReason === undefined ? {} : { raw_finish_reason: result.rawFinishReason }),
    token_usage: result.usage,
    latency_ms: Math.max(0, context.now - call.arrivalAt),
    cached: false,
    metadata: {
      cost_cents: usageCostCents(model, result.usage),
      attempts: context.attempts,
      ...(context.decision === undefined ? {} : { routing: context.decision }),
      cache: { result: context.cache },
      ...(context.rateLimit === undefined ? {} : { rate_limit: context.rateLimit }),
    },
  };
}

/** A cache hit re-stamped for this request: its id, its latency, no cost. */
export function cachedResponse(hit: InferenceResponse, call: PreparedCall, now: number, rateLimit: RateLimitInfo | undefined): InferenceResponse {
  return {
    ...hit,
    request_id: call.request.request_id,
    latency_ms: Math.max(0, now - call.arrivalAt),
    cached: true,
    metadata: { ...hit.metadata, cost_cents: 0, attempts: [], ...(rateLimit === undefined ? {} : { rate_limit: rateLimit }) },
  };
}

/** Most texts one embeddings call may carry, and the longest text. */
export const EMBEDDING_LIMITS = { maxInputs: 2048, maxChars: 100_000 } as const;

/** Validates embedding input: a string or a non-empty array of strings (E4500 naming `input`). */
export function parseEmbeddingInputs(input: unknown): string[] {
  const texts = typeof input === 'string' ? [input] : input;
  if (!Array.isArray(texts) || texts.length === 0 || texts.length > EMBEDDING_LIMITS.maxInputs) {
    throw new ValidationError('E4500', `Invalid request: input must be a string or 1 to ${EMBEDDING_LIMITS.maxInputs} strings`, { param: 'input' });
  }
  texts.forEach((text: unknown, index) => {
    if (typeof text !== 'string' || text.length === 0 || text.length > EMBEDDING_LIMITS.maxChars) {
      throw new ValidationError('E4500', `Invalid request: input[${index}] must be a non-empty string of at most ${EMBEDDING_LIMITS.maxChars} characters`, {
        param: `input[${index}]`,
      });
    }
  });
  return texts as string[];
}

/** The model, which must have the `embeddings` capability (E4102, E4104). */
export function embeddingModel(registry: ModelRegistry, modelId: string): RegisteredModel {
  const model = registry.get(modelId);
  if (!model.capabilities.includes('embeddings')) throw new RoutingError('E4104', `Model "${modelId}" cannot produce embeddings`, { param: 'model' });
  if (!model.available)
    throw new RoutingError('E4101', `Model "${modelId}" is unavailable: ${model.unavailable_reason ?? 'unknown reason'}`, { param: 'model' });
  return model;
}
