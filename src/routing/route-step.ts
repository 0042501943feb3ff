/**
 * Chain step: chooses the models to try. A chat request is routed by need (or to its pinned model)
 * by the `LLMRouter`; an embeddings request names its model, which must be able to embed.
 */
import { RoutingError } from '../models/error-codes.js';
import type { RegisteredModel } from '../models/model-config.js';
import { GENAI, recordSpanError, runInSpan, startSpan } from '../observability/tracing.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { Step } from '../pipeline/compose.js';
import type { LLMRouter } from './llm-router.js';
import type { ModelRegistry } from './model-registry.js';

/** The route step over `router` (chat) and `registry` (embeddings). */
export function routeStep(router: LLMRouter, registry: ModelRegistry): Step {
  return {
    name: 'route',
    run: (exchange, next) => {
      if (exchange.operation === 'embeddings') exchange.candidates = [embeddingModel(registry, exchange.embedding?.modelId ?? '')];
      else routeChat(router, exchange);
      return next();
    },
  };
}

function routeChat(router: LLMRouter, exchange: Exchange): void {
  const span = startSpan('l04.route', { [GENAI.OPERATION_NAME]: 'chat' });
  try {
    const selection = runInSpan(span, () => router.select(exchange.request, exchange.promptTokens));
    span.setAttribute(GENAI.REQUEST_MODEL, selection.decision.model_id);
    exchange.decision = selection.decision;
    exchange.candidates = selection.candidates;
  } catch (error) {
    recordSpanError(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** The model, which must exist (E4102), embed (E4104) and be available (E4101). */
export function embeddingModel(registry: ModelRegistry, modelId: string): RegisteredModel {
  const model = registry.get(modelId);
  if (!model.capabilities.includes('embeddings')) throw new RoutingError('E4104', `Model "${modelId}" cannot produce embeddings`, { param: 'model' });
  if (!model.available) {
    throw new RoutingError('E4101', `Model "${modelId}" is unavailable: ${model.unavailable_reason ?? 'unknown reason'}`, { param: 'model' });
  }
  return model;
}
