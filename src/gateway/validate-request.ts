/**
 * The chain's first step: validates and stamps a request into an `Exchange` — its id, its caller
 * (an API key's identity replaces the body's `agent_did`), arrival, deadline, token estimates, and
 * one abort signal for caller disconnect (E4507) and the deadline (E4510). Throws E4500 naming the
 * offending field. Every later step takes the exchange this returns.
 */
import { setMaxListeners } from 'node:events';
import { CancelledError, DeadlineError, ValidationError } from '../models/error-codes.js';
import type { CallContext, CallerIdentity } from '../models/gateway-events.js';
import { parseCommonRequest } from '../models/common-request.js';
import { parseInferenceRequest } from '../models/inference-request.js';
import type { InferenceRequestInput } from '../models/inference-request.js';
import { Exchange } from '../pipeline/exchange.js';
import type { Operation } from '../pipeline/exchange.js';
import type { Clock, IdGenerator } from '../util/clock.js';
import { estimatePromptTokens } from '../util/token-estimate.js';
import { merged } from '../util/merged.js';
import { LightAbort, asAbortSignal } from '../util/light-abort.js';

/** What validation needs besides the request. */
export interface ValidationContext {
  clock: Clock;
  idGenerator: IdGenerator;
  onListenerError: (error: unknown) => void;
}

/** Validates a chat request into an exchange. */
export function validateRequest(
  input: InferenceRequestInput,
  context: CallContext,
  options: ValidationContext & { operation?: Operation; stream: boolean; embedding?: { modelId: string; texts: string[] } },
): Exchange {
  // The common shape is checked by hand (same result, a fraction of the time); the schema decides the rest.
  const parsed = parseCommonRequest(input) ?? parseInferenceRequest(input);
  const caller: CallerIdentity = context.caller ?? { agent_did: parsed.agent_did, tenant: parsed.tenant ?? 'default', key_id: 'library' };
  const request = merged(parsed, {
    agent_did: caller.agent_did,
    tenant: caller.tenant,
    request_id: context.requestId ?? options.idGenerator(),
    ...(parsed.request_id === undefined ? {} : { client_request_id: parsed.request_id }),
  });
  const arrivalAt = options.clock.now();
  // Only a hard deadline ends the request; `max_latency_ms` is the router's preference.
  const deadlineMs = earliest(request.constraints.deadline_ms, context.deadlineMs);
  const promptTokens = estimatePromptTokens(request.logical_prompt);
  const { signal, dispose } = deadlineMs === undefined ? callerOnly(context.signal) : withDeadline(context.signal, deadlineMs, options.clock);
  return new Exchange({
    operation: options.operation ?? 'chat',
    stream: options.stream,
    request,
    caller,
    arrivalAt,
    deadlineAt: deadlineMs === undefined ? undefined : arrivalAt + deadlineMs,
    promptTokens,
    estimatedTokens: promptTokens + request.requirements.max_output_tokens,
    signal,
    ...(options.embedding === undefined ? {} : { embedding: options.embedding }),
    dispose,
    onListenerError: options.onListenerError,
  });
}

/**
 * A signal nothing aborts: the request of a caller that can neither leave nor set a deadline.
 * Shared by every such request in flight, each adding (and removing) its listeners: no listener
 * bound, or 11 concurrent library calls would print Node's "possible memory leak" warning.
 */
const NEVER_ABORTED = new AbortController().signal;
setMaxListeners(0, NEVER_ABORTED);

/** Without a deadline the caller's own signal is the request's (no controller, no listener per request). */
function callerOnly(signal: AbortSignal | undefined): { signal: AbortSignal; dispose: () => void } {
  return { signal: signal ?? NEVER_ABORTED, dispose: () => undefined };
}

/** One signal for the caller leaving (its reason, else E4507) and the deadline passing (E4510). */
function withDeadline(callerSignal: AbortSignal | undefined, deadlineMs: number, clock: Clock): { signal: AbortSignal; dispose: () => void } {
  const controller = new LightAbort<unknown>();
  const onAbort = (): void => controller.abort(callerSignal?.reason ?? new CancelledError('E4507'));
  callerSignal?.addEventListener('abort', onAbort, { once: true });
  if (callerSignal?.aborted === true) onAbort();
  const timer = clock.setTimer(() => controller.abort(new DeadlineError('E4510', `The request deadline of ${deadlineMs} ms passed`)), deadlineMs);
  return {
    signal: asAbortSignal(controller),
    dispose: () => {
      timer.cancel();
      callerSignal?.removeEventListener('abort', onAbort);
    },
  };
}

function earliest(first: number | undefined, second: number | undefined): number | undefined {
  if (first === undefined) return second;
  return second === undefined ? first : Math.min(first, second);
}

/** Most texts one embeddings call may carry, and the longest text. */
export const EMBEDDING_LIMITS = { maxInputs: 2048, maxChars: 100_000 } as const;

/** Validates an embeddings call into an exchange: a string or 1 to 2,048 non-empty strings (E4500 naming `input`). */
export function validateEmbedding(modelId: string, input: unknown, context: CallContext & { agent_did?: string }, options: ValidationContext): Exchange {
  const texts = parseEmbeddingInputs(input);
  const request: InferenceRequestInput = {
    agent_did: context.caller?.agent_did ?? context.agent_did ?? 'did:l04:anonymous',
    logical_prompt: { messages: [{ role: 'user', content: texts.join('\n') }] },
    requirements: { max_output_tokens: 1 },
  };
  return validateRequest(request, context, { ...options, operation: 'embeddings', stream: false, embedding: { modelId, texts } });
}

function parseEmbeddingInputs(input: unknown): string[] {
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
