/** InferenceResponse and TokenUsage (brief §4): what the gateway answers, whichever provider served it. */
import type { ToolCall } from './inference-request.js';
import type { RoutingDecision } from './routing-config.js';
import type { ErrorCode } from './error-codes.js';

/** Tokens counted by the provider (or estimated where it reports none; see `estimated`). */
export interface TokenUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
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
  finish_reason: FinishReason;
  raw_finish_reason?: string;
  token_usage: TokenUsage;
  /** Wall time from arrival to the complete answer, in milliseconds. */
  latency_ms: number;
  cached: boolean;
  metadata: ResponseMetadata;
}

/** Builds a `TokenUsage`, total included. */
export function tokenUsage(input: number, output: number): TokenUsage {
  return { input_tokens: input, output_tokens: output, total_tokens: input + output };
}
