/**
 * The embedding path the semantic cache uses: a provider's embedding model through its circuit
 * breaker, queue and the micro-batcher — the provider layer's protections without an agent's limits
 * (the request being cached was admitted already).
 */
import type { RegisteredModel } from '../models/model-config.js';
import type { Clock } from '../util/clock.js';
import { LightAbort, asAbortSignal } from '../util/light-abort.js';
import type { EmbedBatcher } from './embed-batcher.js';
import type { FallbackExecutor } from './fallback-executor.js';
import type { ModelRegistry } from './model-registry.js';

/** Embeds `texts` with `model` on `provider`; the vectors in input order. */
export type ProviderEmbedFunction = (provider: string, model: string, texts: string[], signal?: AbortSignal) => Promise<number[][]>;

/** What `providerEmbedding` works with. */
export interface ProviderEmbeddingOptions {
  executor: FallbackExecutor;
  batcher: EmbedBatcher;
  registry: ModelRegistry;
  clock: Clock;
  /** Bound on one embedding call of `provider`, in milliseconds (its `timeout_ms`). */
  timeoutMs: (provider: string) => number;
}

/** Defaults of an embedding model the registry does not list (the cache's embedder may be any model the provider has). */
const UNLISTED_MODEL: Omit<RegisteredModel, 'id' | 'provider' | 'provider_model'> = {
  capabilities: ['embeddings'],
  context_length: 8192,
  max_output_tokens: 1,
  input_cost_per_1k_cents: 0,
  output_cost_per_1k_cents: 0,
  expected_latency_ms: 1000,
  quality: 50,
  auto: false,
  available: true,
};

/** The cache's provider embedding function. */
export function providerEmbedding(options: ProviderEmbeddingOptions): ProviderEmbedFunction {
  return async (provider, model, texts, signal) => {
    const listed = options.registry.list().find((entry) => entry.provider === provider && (entry.provider_model === model || entry.id === model));
    const target: RegisteredModel = listed ?? { ...UNLISTED_MODEL, id: `${provider}/${model}`, provider, provider_model: model };
    const plan = {
      priority: 'high' as const,
      deadlineAt: options.clock.now() + options.timeoutMs(provider),
      tokens: 0,
      signal: signal ?? asAbortSignal(new LightAbort()),
      attempts: [],
    };
    const execution = await options.executor.complete([target], plan, (entry, attemptSignal) =>
      options.batcher.embed(entry.provider, entry.provider_model, texts, attemptSignal),
    );
    return execution.value.embeddings;
  };
}
