/**
 * Spans for a request and each of its steps, through `@opentelemetry/api` only.
 *
 * With no SDK registered the API hands out non-recording spans with an invalid context; `withSpan`
 * then runs the function directly — no context switch, no try/finally bookkeeping — so tracing is
 * free in a gateway that is not traced. With an SDK, the span becomes the active one for everything
 * the function awaits, so step spans nest under `l04.request`.
 *
 * Attribute names follow the OpenTelemetry GenAI semantic conventions (`gen_ai.*`) where one exists;
 * gateway-specific ones are under `l04.*`. Prompts and completions are never recorded, and error
 * messages go through `redactText` before they reach a span.
 */
import { SpanKind, SpanStatusCode, context, isSpanContextValid, trace } from '@opentelemetry/api';
import type { Attributes, Span, Tracer, TracerProvider } from '@opentelemetry/api';
import { isGatewayError } from '../models/error-codes.js';
import { redactText } from './logger.js';

/** The instrumentation scope of the gateway's spans. */
export const TRACER_NAME = 'l04-model-gateway';

/** Span names of the pipeline. */
export const SPAN_NAMES = {
  REQUEST: 'l04.request',
  RATE_LIMIT: 'l04.rate_limit',
  CACHE_LOOKUP: 'l04.cache.lookup',
  ROUTE: 'l04.route',
  QUEUE: 'l04.queue',
  PROVIDER_ATTEMPT: 'l04.provider.attempt',
} as const;

/**
 * GenAI semantic-convention attribute names (opentelemetry.io/docs/specs/semconv/gen-ai/).
 * `SYSTEM` is the older name of `PROVIDER_NAME`; set both while backends migrate.
 */
export const GENAI = {
  SYSTEM: 'gen_ai.system',
  PROVIDER_NAME: 'gen_ai.provider.name',
  OPERATION_NAME: 'gen_ai.operation.name',
  REQUEST_MODEL: 'gen_ai.request.model',
  REQUEST_MAX_TOKENS: 'gen_ai.request.max_tokens',
  REQUEST_TEMPERATURE: 'gen_ai.request.temperature',
  REQUEST_TOP_P: 'gen_ai.request.top_p',
  REQUEST_STOP_SEQUENCES: 'gen_ai.request.stop_sequences',
  REQUEST_SEED: 'gen_ai.request.seed',
  RESPONSE_MODEL: 'gen_ai.response.model',
  RESPONSE_ID: 'gen_ai.response.id',
  RESPONSE_FINISH_REASONS: 'gen_ai.response.finish_reasons',
  USAGE_INPUT_TOKENS: 'gen_ai.usage.input_tokens',
  USAGE_OUTPUT_TOKENS: 'gen_ai.usage.output_tokens',
  OUTPUT_TYPE: 'gen_ai.output.type',
  /** General semconv: the class of error a span ended with (the E-code here). */
  ERROR_TYPE: 'error.type',
  /** General semconv: the upstream host of a provider attempt. */
  SERVER_ADDRESS: 'server.address',
} as const;

/** Values of `gen_ai.operation.name` the gateway emits. */
export const GENAI_OPERATIONS = { CHAT: 'chat', EMBEDDINGS: 'embeddings' } as const;

/** Gateway attributes without a semantic-convention equivalent. */
export const L04_ATTRIBUTES = {
  REQUEST_ID: 'l04.request_id',
  AGENT_DID: 'l04.agent_did',
  TENANT: 'l04.tenant',
  PRIORITY: 'l04.priority',
  STREAM: 'l04.stream',
  CACHE_RESULT: 'l04.cache.result',
  ROUTING_STRATEGY: 'l04.routing.strategy',
  ATTEMPT: 'l04.attempt',
  PROVIDER_ID: 'l04.provider.id',
  COST_CENTS: 'l04.cost_cents',
  ERROR_CODE: 'l04.error.code',
  QUEUE_WAIT_MS: 'l04.queue.wait_ms',
} as const;

// A provider attempt is a call out of the process; every other step is internal work.
const CLIENT_SPANS: ReadonlySet<string> = new Set([SPAN_NAMES.PROVIDER_ATTEMPT]);

let cachedProvider: TracerProvider | undefined;
let cachedTracer: Tracer | undefined;

// The global provider object changes only when tracing is registered or disabled; one tracer per provider.
function tracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (provider !== cachedProvider || cachedTracer === undefined) {
    cachedProvider = provider;
    cachedTracer = provider.getTracer(TRACER_NAME);
  }
  return cachedTracer;
}

/** Starts a span under the active one; the caller ends it (streams: when the last part is sent). */
export function startSpan(name: string, attributes?: Attributes): Span {
  return tracer().startSpan(name, { attributes, kind: CLIENT_SPANS.has(name) ? SpanKind.CLIENT : SpanKind.INTERNAL }, context.active());
}

/**
 * Runs `fn` inside a new span named `name` and ends the span when `fn` settles. On a throw the span
 * gets status ERROR, `error.type` and `l04.error.code` set to the E-code (E4900 for non-gateway
 * errors) and a redacted exception event; the error is rethrown unchanged.
 */
export function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  const span = startSpan(name, attributes);
  // No SDK: nothing to record and no context worth propagating; `fn`'s own promise, not a wrapper
  // around it (an async function returning a promise costs extra microtask turns on every step).
  if (!isSpanContextValid(span.spanContext())) {
    try {
      return fn(span);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
  return context.with(trace.setSpan(context.active(), span), async () => {
    try {
      return await fn(span);
    } catch (error) {
      recordSpanError(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Runs `fn` with `span` as the active span (children started inside nest under it); does not end it. */
export function runInSpan<T>(span: Span, fn: () => T): T {
  if (!isSpanContextValid(span.spanContext())) return fn();
  return context.with(trace.setSpan(context.active(), span), fn);
}

/** Marks `span` as failed with `error`: status ERROR, the E-code as `error.type` and `l04.error.code`, a redacted exception event. */
export function recordSpanError(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  const code = isGatewayError(error) ? error.code : 'E4900';
  const message = redactText(error instanceof Error ? error.message : String(error));
  span.setAttribute(GENAI.ERROR_TYPE, code);
  span.setAttribute(L04_ATTRIBUTES.ERROR_CODE, code);
  span.recordException({
    name: error instanceof Error ? error.name : 'Error',
    message,
    ...(error instanceof Error && error.stack !== undefined ? { stack: redactText(error.stack) } : {}),
  });
  span.setStatus({ code: SpanStatusCode.ERROR, message: `${code}: ${message}` });
}
