/**
 * Chain step, the terminal: executes the routing decision. Fallback over the candidates, each
 * attempt through its provider's circuit breaker and queue (`FallbackExecutor`), then the adapter:
 * a complete answer, a stream (committed at its first content, then relayed by `relayStream`), or
 * embeddings through the micro-batcher.
 */
import { ConfigurationError } from '../models/error-codes.js';
import type { RegisteredModel } from '../models/model-config.js';
import { withSpan } from '../observability/tracing.js';
import type { ProviderAdapter, ProviderCall } from '../providers/base.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { Reply } from '../pipeline/reply.js';
import { buildResponse } from '../pipeline/responses.js';
import type { Step } from '../pipeline/compose.js';
import type { Clock } from '../util/clock.js';
import { attemptAttributes, resultAttributes, tracedAttempt } from './attempt-tracing.js';
import type { EmbedBatcher } from './embed-batcher.js';
import type { AttemptPlan, FallbackExecutor } from './fallback-executor.js';
import { relayStream } from './relay-stream.js';

/** What the execute step works with. */
export interface ExecuteStepOptions {
  executor: FallbackExecutor;
  adapters: ReadonlyMap<string, ProviderAdapter>;
  batcher: EmbedBatcher;
  clock: Clock;
}

/** The execute step. */
export function executeStep(options: ExecuteStepOptions): Step {
  return {
    name: 'execute',
    run: (exchange) => {
      if (exchange.operation === 'embeddings') return embed(exchange, options);
      return exchange.stream ? stream(exchange, options) : complete(exchange, options);
    },
  };
}

async function complete(exchange: Exchange, { executor, adapters, clock }: ExecuteStepOptions): Promise<Reply> {
  const execution = await executor.complete(
    exchange.candidates,
    planOf(exchange),
    (model, signal) =>
      withSpan('l04.provider.attempt', attemptAttributes(model, exchange), async (span) => {
        const result = await adapterFor(adapters, model).complete(providerCall(exchange, model, signal));
        span.setAttributes(resultAttributes(result.finishReason, result.usage));
        return result;
      }),
    (result) => result.usage.total_tokens,
  );
  exchange.providerMs += execution.providerMs;
  return { type: 'response', response: buildResponse(exchange, execution.model, execution.value, clock.now()) };
}

async function stream(exchange: Exchange, { executor, adapters, clock }: ExecuteStepOptions): Promise<Reply> {
  const committed = await executor.stream(exchange.candidates, planOf(exchange), (model, signal) =>
    tracedAttempt(model, exchange, adapterFor(adapters, model).stream(providerCall(exchange, model, signal))),
  );
  return { type: 'stream', model: committed.model, events: relayStream(exchange, committed, clock) };
}

async function embed(exchange: Exchange, { executor, batcher }: ExecuteStepOptions): Promise<Reply> {
  const texts = exchange.embedding?.texts ?? [];
  const execution = await executor.complete(
    exchange.candidates,
    planOf(exchange),
    (model, signal) => batcher.embed(model.provider, model.provider_model, texts, signal),
    (value) => value.usage.input_tokens,
  );
  exchange.providerMs += execution.providerMs;
  const inputTokens = execution.value.usage.input_tokens;
  return {
    type: 'embeddings',
    model: execution.model,
    embeddings: execution.value.embeddings,
    usage: { input_tokens: inputTokens, output_tokens: 0, total_tokens: inputTokens },
  };
}

function planOf(exchange: Exchange): AttemptPlan {
  return {
    priority: exchange.request.priority,
    deadlineAt: exchange.deadlineAt,
    quotaWaitUntil: exchange.arrivalAt + exchange.request.constraints.max_latency_ms,
    tokens: exchange.estimatedTokens,
    signal: exchange.signal,
    attempts: exchange.attempts,
  };
}

function providerCall(exchange: Exchange, model: RegisteredModel, signal: AbortSignal): ProviderCall {
  const { request } = exchange;
  return {
    requestId: request.request_id,
    model,
    prompt: request.logical_prompt,
    maxOutputTokens: Math.min(request.requirements.max_output_tokens, model.max_output_tokens),
    minContextLength: request.requirements.min_context_length,
    signal,
    deadlineAt: exchange.deadlineAt,
  };
}

function adapterFor(adapters: ReadonlyMap<string, ProviderAdapter>, model: RegisteredModel): ProviderAdapter {
  const adapter = adapters.get(model.provider);
  if (adapter === undefined) throw new ConfigurationError('E4004', `No adapter for provider "${model.provider}"`);
  return adapter;
}
