/** InferenceResponse and TokenUsage (brief §4): what the gateway answers, whichever provider served it. */
import type { ReasoningPart, ToolCall } from './inference-request.js';
import type { RoutingDecision } from './routing-config.js';
import type { ErrorCode } from './error-codes.js';

/** Tokens counted by the provider (or estimated where it reports none; see `estimated`). */
export interface TokenUsage {
  /** Every prompt token, cached ones included (the cache counts below are parts of it). */
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  /** Prompt tokens written to the provider's prompt cache (Anthropic `cache_creation_input_tokens`). */
  cache_creation_input_tokens?: number;
  /** Prompt tokens read from the provider's prompt cache (Anthropic `cache_read_input_tokens`, OpenAI `cached_tokens`). */
  cache_read_input_tokens?: number;
}

/** Unified finish reasons; the provider's own value is kept in `raw_finish_reason`. */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'other';

/** One attempt of the fallback chain, successful or not. */
export interface AttemptRecord {
  model_id: string;
  provider: string;
  outcome: 'success' | 'error' | 'skipped';
  code?: ErrorCode;
  message?: string;
  latency_ms: number;
}

/** The agent's rate-limit state after admission, as the `x-ratelimit-*` headers report it. Durations in milliseconds. */
export interface RateLimitInfo {
  limitRequests: number;
  remainingRequests: number;
  resetRequestsMs: number;
  limitTokens: number;
  remainingTokens: number;
  resetTokensMs: number;
}

/** What `metadata` carries on every response. */
export interface ResponseMetadata {
  cost_cents: number;
  attempts: AttemptRecord[];
  routing?: RoutingDecision;
  cache?: { result: 'miss' | 'exact' | 'semantic' | 'bypass'; similarity?: number };
  rate_limit?: RateLimitInfo;
  [key: string]: unknown;
}

/** The answer to one inference request. */
export interface InferenceResponse {
  request_id: string;
  model_id: string;
  provider: string;
  content: string;
  tool_calls?: ToolCall[];
  /** The model's reasoning, when the provider returns it (Anthropic thinking blocks with their signatures). */
  reasoning?: ReasoningPart[];
  finish_reason: FinishReason;
  raw_finish_reason?: string;
  token_usage: TokenUsage;
  /** Wall time from arrival to the complete answer, in milliseconds. */
  latency_ms: number;
  cached: boolean;
  metadata: ResponseMetadata;
}

/** Builds a `TokenUsage`, total included; cache counts are kept when non-zero. */
export function tokenUsage(input: number, output: number, cache: { creation?: number; read?: number } = {}): TokenUsage {
  const usage: TokenUsage = { input_tokens: input, output_tokens: output, total_tokens: input + output };
  if (cache.creation !== undefined && cache.creation > 0) usage.cache_creation_input_tokens = cache.creation;
  if (cache.read !== undefined && cache.read > 0) usage.cache_read_input_tokens = cache.read;
  return usage;
}
