/**
 * What the cache keeps of an answer — the response without its per-request fields — and how a
 * cached answer becomes the response to a later request. Payloads are parsed with a schema on the
 * way out: a store is shared state, and a malformed entry must be a miss (E4302), not a crash.
 */
import { z } from 'zod';
import { ReasoningPartSchema, ToolCallSchema } from '../models/inference-request.js';
import type { FinishReason, InferenceResponse } from '../models/inference-response.js';

const CachedAnswerSchema = z.object({
  v: z.literal(1),
  model_id: z.string(),
  provider: z.string(),
  content: z.string(),
  tool_calls: z.array(ToolCallSchema).optional(),
  /** Reasoning blocks (with their signatures) of the original answer. */
  reasoning: z.array(ReasoningPartSchema).optional(),
  finish_reason: z.enum(['stop', 'length', 'tool_calls', 'content_filter', 'other']),
  raw_finish_reason: z.string().optional(),
  token_usage: z.object({ input_tokens: z.number(), output_tokens: z.number(), total_tokens: z.number() }),
  /** Latency of the original answer, in milliseconds. */
  latency_ms: z.number(),
  /** Cost of the original answer, in cents. */
  cost_cents: z.number(),
  /** When it was stored, epoch milliseconds. */
  cached_at: z.number(),
});

/** A stored answer. */
export type CachedAnswer = z.infer<typeof CachedAnswerSchema>;

/** Finish reasons of complete answers: the only ones the cache stores. */
export const STORABLE_FINISH_REASONS: ReadonlySet<FinishReason> = new Set<FinishReason>(['stop', 'length', 'tool_calls']);

/** Why `response` must not be stored, or `undefined` when it may be. */
export function refusalReason(response: InferenceResponse): string | undefined {
  if (response.cached) return 'already a cached answer';
  if (!STORABLE_FINISH_REASONS.has(response.finish_reason)) return `finish_reason ${response.finish_reason}`;
  const toolCalls = response.tool_calls ?? [];
  if (response.finish_reason === 'tool_calls' && toolCalls.length === 0) return 'tool_calls finish without tool calls';
  if (response.content.length === 0 && toolCalls.length === 0) return 'empty answer';
  if (response.metadata.error !== undefined || response.metadata.partial === true) return 'error or partial answer';
  return undefined;
}

/** The storable part of `response`, serialised. */
export function encodeCachedAnswer(response: InferenceResponse, cachedAt: number): string {
  const answer: CachedAnswer = {
    v: 1,
    model_id: response.model_id,
    provider: response.provider,
    content: response.content,
    tool_calls: response.tool_calls === undefined || response.tool_calls.length === 0 ? undefined : response.tool_calls,
    reasoning: response.reasoning === undefined || response.reasoning.length === 0 ? undefined : response.reasoning,
    finish_reason: response.finish_reason,
    raw_finish_reason: response.raw_finish_reason,
    token_usage: response.token_usage,
    latency_ms: response.latency_ms,
    cost_cents: response.metadata.cost_cents,
    cached_at: cachedAt,
  };
  return JSON.stringify(answer);
}

/** Parses a stored payload; `undefined` when it is not a valid cached answer. */
export function decodeCachedAnswer(payload: string): CachedAnswer | undefined {
  try {
    const parsed = CachedAnswerSchema.safeParse(JSON.parse(payload));
    return parsed.success ? parsed.data : undefined;
  } catch (_error) {
    return undefined;
  }
}

/** Context of the request a cached answer is served to. */
export interface CacheHitContext {
  requestId: string;
  result: 'exact' | 'semantic';
  similarity: number;
  /** Time the lookup took, in milliseconds. */
  latencyMs: number;
}

/**
 * The response to serve from `answer`: `cached: true`, no cost, no attempts, and
 * `metadata.cache = {result, similarity}`. Token usage is the original answer's, for reference.
 */
export function responseFromCache(answer: CachedAnswer, context: CacheHitContext): InferenceResponse {
  return {
    request_id: context.requestId,
    model_id: answer.model_id,
    provider: answer.provider,
    content: answer.content,
    ...(answer.tool_calls === undefined ? {} : { tool_calls: answer.tool_calls }),
    ...(answer.reasoning === undefined ? {} : { reasoning: answer.reasoning }),
    finish_reason: answer.finish_reason,
    ...(answer.raw_finish_reason === undefined ? {} : { raw_finish_reason: answer.raw_finish_reason }),
    token_usage: { ...answer.token_usage },
    latency_ms: context.latencyMs,
    cached: true,
    metadata: {
      cost_cents: 0,
      attempts: [],
      cache: { result: context.result, similarity: context.similarity },
      cached_at: answer.cached_at,
      original_latency_ms: answer.latency_ms,
      original_cost_cents: answer.cost_cents,
    },
  };
}
