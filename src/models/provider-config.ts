/** ProviderConfig (one entry of `providers:`) and ProviderHealth (what a health check reports). */
import { z } from 'zod';

const TimeoutsShape = {
  /** Whole-request bound, in milliseconds; a caller's hard deadline (`deadline_ms`) may cut it shorter. */
  timeout_ms: z.number().int().positive().default(120_000),
  /** TCP/TLS connect bound, in milliseconds. */
  connect_timeout_ms: z.number().int().positive().default(5_000),
  /** Bound on the wait for response headers and the first body byte, in milliseconds. */
  first_byte_timeout_ms: z.number().int().positive().default(60_000),
  /** Longest allowed silence between two stream chunks, in milliseconds. */
  chunk_gap_timeout_ms: z.number().int().positive().default(30_000),
  /** Requests in flight to this provider at once; more wait in its queue. */
  max_concurrency: z.number().int().positive().default(64),
  /** Requests per minute the gateway may send this provider (unset: unlimited). */
  rpm: z.number().int().positive().optional(),
  /** Tokens per minute the gateway may send this provider (unset: unlimited). */
  tpm: z.number().int().positive().optional(),
  /** Seconds between active health checks (jittered ±20%). */
  health_interval_s: z.number().positive().default(30),
  /** Largest JSON body (an answer, a model list, one stream event) read from the provider, in bytes; more is E4601. */
  max_response_bytes: z
    .number()
    .int()
    .min(1024)
    .default(32 * 1024 * 1024),
  /** Most text (content and tool-call arguments) one streamed answer may carry, in characters; more is E4602. */
  max_stream_text_chars: z.number().int().min(1024).default(4_000_000),
};

export const OllamaProviderSchema = z
  .object({
    type: z.literal('ollama'),
    base_url: z.url().default('http://localhost:11434'),
    /** Ollama `keep_alive` (e.g. `5m`, `-1`), sent with every call when set. */
    keep_alive: z.union([z.string(), z.number()]).optional(),
    ...TimeoutsShape,
  })
  .strict();

export const OpenAIProviderSchema = z
  .object({
    type: z.literal('openai'),
    base_url: z.url().default('https://api.openai.com/v1'),
    api_key: z.string().default(''),
    organization: z.string().optional(),
    ...TimeoutsShape,
  })
  .strict();

export const AnthropicProviderSchema = z
  .object({
    type: z.literal('anthropic'),
    base_url: z.url().default('https://api.anthropic.com'),
    api_key: z.string().default(''),
    anthropic_version: z.string().default('2023-06-01'),
    ...TimeoutsShape,
  })
  .strict();

export const MockProviderSchema = z
  .object({
    type: z.literal('mock'),
    /** Simulated latency of every call, in milliseconds (spread over chunks when streaming). */
    latency_ms: z.number().int().nonnegative().default(0),
    /** Number of chunks a streamed answer is cut into. */
    stream_chunks: z.number().int().positive().default(4),
    ...TimeoutsShape,
  })
  .strict();

/** One provider; `id` comes from its key under `providers:`. */
export const ProviderConfigSchema = z.discriminatedUnion('type', [OllamaProviderSchema, OpenAIProviderSchema, AnthropicProviderSchema, MockProviderSchema]);
export type ProviderConfig = z.infer<typeof ProviderConfigSchema> & { id: string };
export type ProviderType = ProviderConfig['type'];
export type OllamaProviderConfig = z.infer<typeof OllamaProviderSchema> & { id: string };
export type OpenAIProviderConfig = z.infer<typeof OpenAIProviderSchema> & { id: string };
export type AnthropicProviderConfig = z.infer<typeof AnthropicProviderSchema> & { id: string };
export type MockProviderConfig = z.infer<typeof MockProviderSchema> & { id: string };

/** Health as judged from active checks and live traffic. */
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/** What a provider health check reports. */
export interface ProviderHealth {
  provider: string;
  status: HealthStatus;
  /** Epoch milliseconds of the check. */
  checked_at: number;
  latency_ms?: number;
  /** Human-readable reason when not healthy (`not configured`, `connection refused`). */
  message?: string;
  /** Provider version where the API reports one. */
  version?: string;
  /** Configured provider models found (`true`) or missing (`false`) upstream. */
  models?: Record<string, boolean>;
  /** What to run to fix a missing model (`ollama pull llama3.2`). */
  hints?: string[];
}
