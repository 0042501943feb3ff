/**
 * The provider seam. An adapter translates between the gateway's provider-neutral shapes and one
 * provider's wire protocol, and nothing else: it never retries, sleeps, caches or counts. Timeouts,
 * breakers, queues and fallbacks are applied around it by the services.
 */
import type { Capability, LogicalPrompt, ReasoningPart, ToolCall } from '../models/inference-request.js';
import type { FinishReason, TokenUsage } from '../models/inference-response.js';
import type { ModelConfig } from '../models/model-config.js';
import type { GatewayError } from '../models/error-codes.js';
import type { ProviderHealth, ProviderType } from '../models/provider-config.js';

/** One call to a provider for one model. */
export interface ProviderCall {
  /** Gateway request id, forwarded where the provider accepts one. */
  requestId: string;
  /** The model as configured; the adapter sends `model.provider_model`. */
  model: ModelConfig;
  prompt: LogicalPrompt;
  /** Output token cap (`requirements.max_output_tokens`, bounded by the model's own). */
  maxOutputTokens: number;
  /** Context the caller needs (`requirements.min_context_length`); Ollama sizes `num_ctx` from it. */
  minContextLength: number;
  /** Aborted on client disconnect, deadline or breaker probe timeout. */
  signal: AbortSignal;
  /**
   * The caller's hard deadline, epoch milliseconds: bounds the whole-request timeout, and a call
   * it ends fails with E4510. Undefined: the provider's own timeouts alone bound the call.
   */
  deadlineAt: number | undefined;
}

/** A complete (non-streamed) answer. */
export interface ProviderResult {
  content: string;
  toolCalls: ToolCall[];
  /** Reasoning blocks, in order, when the provider returns them. */
  reasoning?: ReasoningPart[];
  finishReason: FinishReason;
  rawFinishReason: string | undefined;
  usage: TokenUsage;
}

/**
 * Parts of a streamed answer, in order. A stream ends with exactly one `finish` or one `error`;
 * an adapter never ends a cut-short stream with `finish`.
 */
export type StreamPart =
  | { type: 'text-delta'; text: string }
  /** A fragment of tool call `index`; `id` and `name` arrive on its first fragment. */
  | { type: 'tool-call-delta'; index: number; id?: string; name?: string; argumentsDelta: string }
  /** The provider's token counts so far, when it reports them before the end (Anthropic: the input, at the start). */
  | { type: 'usage'; usage: TokenUsage }
  /** Reasoning text, then the block's `signature` when it closes; `redacted` is a whole redacted block. */
  | { type: 'reasoning-delta'; text: string; signature?: string; redacted?: string }
  | { type: 'finish'; finishReason: FinishReason; rawFinishReason: string | undefined; usage: TokenUsage }
  | { type: 'error'; error: GatewayError };

/** A batch of texts to embed with one model. */
export interface EmbedCall {
  /** The provider's name for the embedding model. */
  model: string;
  inputs: string[];
  signal: AbortSignal;
  deadlineAt: number;
}

/** Embeddings in input order. */
export interface EmbedResult {
  embeddings: number[][];
  usage: { input_tokens: number };
}

/** Options of a health check. */
export interface HealthCheckOptions {
  signal?: AbortSignal;
  /** Provider model names the configuration expects to exist upstream. */
  expectedModels?: string[];
  /** Bound on the whole check, in milliseconds; the adapter's own default (2 s) when absent. */
  timeoutMs?: number;
}

/** What every provider adapter implements. */
export interface ProviderAdapter {
  /** The provider id from config (`ollama`, `openai-eu`). */
  readonly id: string;
  readonly type: ProviderType;
  /** Why the provider cannot be called at all (no credentials), or `undefined` when it can. */
  readonly unconfiguredReason?: string | undefined;
  /** Generates a complete answer. Throws a `GatewayError` (E42xx/E46xx) on failure. */
  complete(call: ProviderCall): Promise<ProviderResult>;
  /**
   * Streams an answer. Failures before the first part may throw; later ones arrive as an `error`
   * part. Breaking out of the iteration aborts the upstream request.
   */
  stream(call: ProviderCall): AsyncIterable<StreamPart>;
  /** Embeds texts. Throws E4209 when the provider has no embeddings API. */
  embed(call: EmbedCall): Promise<EmbedResult>;
  /** Checks the provider without spending tokens; never throws. */
  healthCheck(options?: HealthCheckOptions): Promise<ProviderHealth>;
  /** Whether the provider's API can serve this capability at all (the model's own list decides the rest). */
  supportsCapability(capability: Capability): boolean;
  /** Releases connections. */
  close(): Promise<void>;
}
