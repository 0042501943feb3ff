/** ModelConfig and ModelCapabilities: one entry of the model catalogue. */
import { z } from 'zod';
import { CapabilitySchema } from './inference-request.js';
import type { TokenUsage } from './inference-response.js';

/** A model's capabilities as a list (`['vision', 'tool_use']`). */
export const ModelCapabilitiesSchema = z.array(CapabilitySchema);
export type ModelCapabilities = z.infer<typeof ModelCapabilitiesSchema>;

/** A model as configured under `models.<id>`; `id` comes from the key. */
export const ModelConfigSchema = z
  .object({
    id: z.string().min(1).max(256),
    provider: z.string().min(1).max(64),
    /** The name the provider knows the model by (Ollama tag, OpenAI model name). Defaults to `id`. */
    provider_model: z.string().min(1).max(256),
    capabilities: ModelCapabilitiesSchema.default([]),
    context_length: z.number().int().positive().default(8192),
    max_output_tokens: z.number().int().positive().default(4096),
    /** Price of 1,000 input tokens, in US cents. */
    input_cost_per_1k_cents: z.number().nonnegative().default(0),
    /** Price of 1,000 output tokens, in US cents. */
    output_cost_per_1k_cents: z.number().nonnegative().default(0),
    /** Price of 1,000 prompt tokens written to the provider's prompt cache, in US cents (default: the input price). */
    cache_write_cost_per_1k_cents: z.number().nonnegative().optional(),
    /** Price of 1,000 prompt tokens read from the provider's prompt cache, in US cents (default: the input price). */
    cache_read_cost_per_1k_cents: z.number().nonnegative().optional(),
    /** Other names clients may send for this model (`claude-sonnet-4-5`, `gpt-4o`, a dated id). */
    aliases: z.array(z.string().min(1).max(256)).max(64).optional(),
    /** Latency assumed for routing before any traffic has been observed, in milliseconds. */
    expected_latency_ms: z.number().int().positive().default(1000),
    /** Quality rank used as a tie-break (higher is better). */
    quality: z.number().min(0).max(100).default(50),
    /**
     * Whether `model: auto` may choose this model. Models of a mock provider default to false
     * (they answer only requests that name them); every other model defaults to true.
     */
    auto: z.boolean().default(true),
  })
  .strict();
export type ModelConfig = z.infer<typeof ModelConfigSchema>;
export type ModelConfigInput = z.input<typeof ModelConfigSchema>;

/** A registered model and whether it can be used right now (a snapshot: changing it changes nothing). */
export interface RegisteredModel extends ModelConfig {
  available: boolean;
  /** Why the model is unavailable (`not pulled: run ollama pull llama3.2`). */
  unavailable_reason?: string;
}

/** The cost of a call in cents, from the model's per-1k prices. */
export function costCents(model: Pick<ModelConfig, 'input_cost_per_1k_cents' | 'output_cost_per_1k_cents'>, inputTokens: number, outputTokens: number): number {
  return (inputTokens * model.input_cost_per_1k_cents + outputTokens * model.output_cost_per_1k_cents) / 1000;
}

/**
 * The cost of an answer in cents from its real usage: uncached prompt tokens at the input price,
 * prompt-cache writes and reads at their own prices (the input price when not configured),
 * output tokens at the output price.
 */
export function usageCostCents(
  model: Pick<ModelConfig, 'input_cost_per_1k_cents' | 'output_cost_per_1k_cents' | 'cache_write_cost_per_1k_cents' | 'cache_read_cost_per_1k_cents'>,
  usage: TokenUsage,
): number {
  const written = usage.cache_creation_input_tokens ?? 0;
  const read = usage.cache_read_input_tokens ?? 0;
  const uncached = Math.max(0, usage.input_tokens - written - read);
  const input = model.input_cost_per_1k_cents;
  return (
    (uncached * input +
      written * (model.cache_write_cost_per_1k_cents ?? input) +
      read * (model.cache_read_cost_per_1k_cents ?? input) +
      usage.output_tokens * model.output_cost_per_1k_cents) /
    1000
  );
}
