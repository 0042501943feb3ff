/**
 * The L04 error catalogue (E4000–E4999) and the `GatewayError` hierarchy.
 *
 * Codes are API: add, never rename. Every failure the gateway reports carries one of these codes,
 * a machine `type`, the HTTP status it maps to and whether retrying elsewhere can help.
 */

/** One row of the catalogue. */
export interface ErrorCodeSpec {
  readonly type: string;
  readonly httpStatus: number;
  readonly retryable: boolean;
  readonly message: string;
}

/** The whole catalogue, one table. The README's error table is generated from this object. */
export const ERROR_CODES = {
  // E4000–E4099 configuration
  E4000: { type: 'invalid_configuration', httpStatus: 500, retryable: false, message: 'Invalid configuration' },
  E4001: { type: 'duplicate_model', httpStatus: 409, retryable: false, message: 'A model with this id is already registered' },
  E4002: { type: 'unknown_provider_reference', httpStatus: 400, retryable: false, message: 'The model names a provider that is not configured' },
  E4003: { type: 'config_file_unreadable', httpStatus: 500, retryable: false, message: 'The configuration file cannot be read or parsed' },
  E4004: { type: 'unknown_provider_type', httpStatus: 500, retryable: false, message: 'No adapter exists for this provider type' },
  E4005: {
    type: 'unprotected_public_address',
    httpStatus: 500,
    retryable: false,
    message: 'Without API keys the service binds only a loopback address, unless server.allow_unauthenticated is true',
  },
  // E4100–E4199 routing
  E4100: { type: 'no_model_satisfies_requirements', httpStatus: 422, retryable: false, message: 'No model satisfies the requirements' },
  E4101: { type: 'all_candidates_unavailable', httpStatus: 503, retryable: true, message: 'Every model that could serve the request is unavailable right now' },
  E4102: { type: 'model_not_found', httpStatus: 404, retryable: false, message: 'Unknown model' },
  E4103: { type: 'attempts_exhausted', httpStatus: 502, retryable: true, message: 'Every attempt in the fallback chain failed' },
  E4104: { type: 'model_not_embedding_capable', httpStatus: 400, retryable: false, message: 'The model cannot produce embeddings' },
  // E4200–E4299 provider
  E4200: { type: 'provider_unreachable', httpStatus: 502, retryable: true, message: 'The provider could not be reached' },
  E4201: { type: 'provider_timeout', httpStatus: 504, retryable: true, message: 'The provider did not answer in time' },
  E4202: { type: 'provider_server_error', httpStatus: 502, retryable: true, message: 'The provider failed with a server error' },
  E4203: { type: 'provider_auth_failed', httpStatus: 502, retryable: false, message: 'The provider rejected the gateway credentials, or none are configured' },
  E4204: { type: 'provider_rate_limited', httpStatus: 503, retryable: true, message: 'The provider is rate limiting the gateway' },
  E4205: { type: 'provider_overloaded', httpStatus: 503, retryable: true, message: 'The provider is overloaded' },
  E4206: { type: 'provider_rejected_request', httpStatus: 400, retryable: false, message: 'The provider rejected the request as invalid' },
  E4207: { type: 'context_length_exceeded', httpStatus: 400, retryable: false, message: 'The prompt does not fit the model context window' },
  E4208: { type: 'provider_stream_interrupted', httpStatus: 502, retryable: true, message: 'The provider stream ended before it finished' },
  E4209: { type: 'capability_not_supported', httpStatus: 400, retryable: false, message: 'The provider does not support this operation' },
  E4210: { type: 'provider_model_missing', httpStatus: 503, retryable: true, message: 'The model is configured but not available on the provider' },
  // E4300–E4399 cache (never fatal: logged, counted, bypassed)
  E4300: { type: 'cache_backend_unavailable', httpStatus: 500, retryable: true, message: 'The cache backend is unavailable' },
  E4301: { type: 'cache_embedding_failed', httpStatus: 500, retryable: true, message: 'The prompt could not be embedded for the semantic cache' },
  E4302: { type: 'cache_entry_corrupt', httpStatus: 500, retryable: false, message: 'A cache entry could not be decoded' },
  E4303: { type: 'cache_write_failed', httpStatus: 500, retryable: true, message: 'The answer could not be stored in the cache' },
  // E4400–E4499 rate limits and budgets
  E4400: { type: 'agent_request_rate_exceeded', httpStatus: 429, retryable: true, message: 'Agent request rate limit exceeded' },
  E4401: { type: 'agent_token_rate_exceeded', httpStatus: 429, retryable: true, message: 'Agent token rate limit exceeded' },
  E4402: { type: 'provider_quota_exhausted', httpStatus: 503, retryable: true, message: 'The provider request or token quota of the gateway is exhausted' },
  E4403: { type: 'spend_budget_exceeded', httpStatus: 429, retryable: false, message: 'The daily spend budget of this API key is exhausted' },
  E4404: { type: 'queue_full', httpStatus: 503, retryable: true, message: 'The provider queue is full' },
  E4405: { type: 'rate_limiter_unavailable', httpStatus: 503, retryable: true, message: 'The rate limiter is unavailable and configured to fail closed' },
  // E4500–E4599 request validation
  E4500: { type: 'invalid_request', httpStatus: 400, retryable: false, message: 'Invalid request' },
  E4501: { type: 'unauthenticated', httpStatus: 401, retryable: false, message: 'Missing or invalid API key' },
  E4502: { type: 'deadline_exceeded', httpStatus: 504, retryable: false, message: 'The request deadline passed before it could be dispatched' },
  E4503: { type: 'payload_too_large', httpStatus: 413, retryable: false, message: 'The request body is too large' },
  E4504: { type: 'unsupported_media_type', httpStatus: 415, retryable: false, message: 'The request body must be application/json' },
  E4505: { type: 'route_not_found', httpStatus: 404, retryable: false, message: 'No such route' },
  E4506: { type: 'method_not_allowed', httpStatus: 405, retryable: false, message: 'Method not allowed on this route' },
  E4507: { type: 'request_cancelled', httpStatus: 499, retryable: false, message: 'The caller cancelled the request' },
  E4508: { type: 'forbidden', httpStatus: 403, retryable: false, message: 'The API key may not use this route' },
  E4509: { type: 'shutting_down', httpStatus: 503, retryable: true, message: 'The gateway is shutting down' },
  E4510: { type: 'deadline_exceeded_in_flight', httpStatus: 504, retryable: false, message: 'The request deadline passed while it was being served' },
  E4511: { type: 'usage_ledger_unavailable', httpStatus: 503, retryable: true, message: 'The usage ledger cannot be read right now' },
  E4512: {
    type: 'stored_state_unsupported',
    httpStatus: 400,
    retryable: false,
    message: 'The gateway keeps no conversation state: send the whole conversation instead of referring to a stored response or item',
  },
  E4513: { type: 'request_timeout', httpStatus: 408, retryable: true, message: 'The request headers and body did not arrive in time' },
  E4514: { type: 'headers_too_large', httpStatus: 431, retryable: false, message: 'The request headers are too large' },
  // E4600–E4699 response processing
  E4600: { type: 'malformed_provider_response', httpStatus: 502, retryable: true, message: 'The provider answered with a malformed response' },
  E4601: { type: 'provider_response_too_large', httpStatus: 502, retryable: true, message: 'The provider answer is larger than the configured limit' },
  E4602: { type: 'provider_stream_too_long', httpStatus: 502, retryable: true, message: 'The provider stream produced more text than the configured limit' },
  // E4700–E4799 circuit breaker
  E4700: { type: 'circuit_open', httpStatus: 503, retryable: true, message: 'The circuit for this provider is open' },
  E4701: {
    type: 'provider_cooling_down',
    httpStatus: 503,
    retryable: true,
    message: 'The provider asked the gateway to back off (429 with Retry-After, or overloaded); nothing is sent to it until the cool-down ends',
  },
  // E4900–E4999 internal
  E4900: { type: 'internal_error', httpStatus: 500, retryable: false, message: 'Internal gateway error' },
} as const satisfies Record<string, ErrorCodeSpec>;

/** Every code in the catalogue. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Options shared by every `GatewayError` constructor. */
export interface GatewayErrorOptions {
  /** Structured, caller-safe detail (field paths, excluded models, attempts). */
  details?: Record<string, unknown>;
  /** The request field at fault, reported as OpenAI's `param`. */
  param?: string;
  /** When retrying makes sense, how long to wait (milliseconds). Sent as `Retry-After`. */
  retryAfterMs?: number;
  /** Extra HTTP headers the error carries (rate-limit headers). */
  headers?: Record<string, string>;
  /** Overrides the catalogue's `retryable` for this instance (a rate limit that can never pass). */
  retryable?: boolean;
  /**
   * Text for the gateway's logs only, never sent to a caller: what an upstream said in its own
   * words (redacted before it is set), which may name internals or fragments of credentials.
   */
  logDetail?: string;
  cause?: unknown;
}

/** A failure with a stable E-code. Throw a subclass; catch this. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly type: string;
  readonly httpStatus: number;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;
  readonly param: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly headers: Record<string, string>;
  /** For logs only; see `GatewayErrorOptions.logDetail`. */
  readonly logDetail: string | undefined;

  constructor(code: ErrorCode, message?: string, options: GatewayErrorOptions = {}) {
    const spec: ErrorCodeSpec = ERROR_CODES[code];
    super(message ?? spec.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.type = spec.type;
    this.httpStatus = spec.httpStatus;
    this.retryable = options.retryable ?? spec.retryable;
    this.details = options.details ?? {};
    this.param = options.param;
    this.retryAfterMs = options.retryAfterMs;
    this.headers = options.headers ?? {};
    this.logDetail = options.logDetail;
  }

  /** The snake_case wire names, for logs and the native API. */
  toJSON(): { code: ErrorCode; type: string; message: string; http_status: number; retryable: boolean; details: Record<string, unknown> } {
    return { code: this.code, type: this.type, message: this.message, http_status: this.httpStatus, retryable: this.retryable, details: this.details };
  }
}

/** E4000–E4099. */
export class ConfigurationError extends GatewayError {}
/** E4100–E4199. */
export class RoutingError extends GatewayError {}
/** E4200–E4299: the provider failed or refused. */
export class ProviderError extends GatewayError {}
/** E4300–E4399: never surfaced to callers; the cache is bypassed. */
export class CacheError extends GatewayError {}
/** E4400–E4499. */
export class RateLimitError extends GatewayError {}
/** E4500, E4503–E4506, E4512, E4513: the request itself is malformed, too large or too slow. */
export class ValidationError extends GatewayError {}
/** E4501 unauthenticated, E4508 forbidden. */
export class AuthError extends GatewayError {}
/** E4502, E4510: the request's deadline passed. */
export class DeadlineError extends GatewayError {}
/** E4507: the caller went away. */
export class CancelledError extends GatewayError {}
/** E4600–E4699. */
export class ResponseError extends GatewayError {}
/** E4700–E4799. */
export class CircuitOpenError extends GatewayError {}
/** E4900: an unexpected failure; its message never reaches callers. */
export class InternalError extends GatewayError {}

/** True when `error` is a `GatewayError` with one of `codes` (any code when none given). */
export function isGatewayError(error: unknown, ...codes: ErrorCode[]): error is GatewayError {
  return error instanceof GatewayError && (codes.length === 0 || codes.includes(error.code));
}

/**
 * Why a request's signal aborted, as a `GatewayError`: the gateway's own reasons (E4507 caller gone,
 * E4510 deadline) as they are, anything else a caller aborted with as E4507.
 */
export function abortedBy(signal: AbortSignal): GatewayError {
  const reason: unknown = signal.reason;
  return reason instanceof GatewayError ? reason : new CancelledError('E4507', 'The caller cancelled the request', { cause: reason });
}

/** Wraps anything thrown into a `GatewayError`; unknown errors become E4900 with a generic message. */
export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  return new InternalError('E4900', undefined, { cause: error });
}

/** The OpenAI error body, with the E-code in `code`. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; code: string; param: string | null };
}

/** An error rendered for HTTP: status, headers and the OpenAI-shaped body. */
export interface HttpErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: OpenAIErrorBody;
}

/**
 * The HTTP headers of an error, whatever the body's shape: its own (rate-limit state), and what
 * tells a client whether to retry. Official OpenAI and Anthropic SDKs read `x-should-retry` before
 * anything else, and otherwise honour `retry-after-ms` / `retry-after`. A refusal that retrying
 * cannot fix says `x-should-retry: false` and sends no `Retry-After` (a budget that resets at
 * midnight would otherwise hold a client for hours); a retryable one says `true` and, when the
 * gateway knows it, how long to wait.
 */
export function errorHeaders(error: GatewayError): Record<string, string> {
  const headers: Record<string, string> = { ...error.headers, 'x-should-retry': String(error.retryable) };
  if (error.retryable && error.retryAfterMs !== undefined && Number.isFinite(error.retryAfterMs)) {
    const waitMs = Math.max(0, Math.ceil(error.retryAfterMs));
    headers['retry-after'] = String(Math.max(1, Math.ceil(waitMs / 1000)));
    headers['retry-after-ms'] = String(waitMs);
  }
  return headers;
}

/**
 * Turns any error into the OpenAI error shape. Internal errors keep their cause out of the body:
 * no stack trace or message of an unexpected error ever reaches a caller.
 */
export function toOpenAIError(error: unknown): HttpErrorResponse {
  const gatewayError = toGatewayError(error);
  return {
    status: gatewayError.httpStatus,
    headers: errorHeaders(gatewayError),
    body: {
      error: {
        message: gatewayError.message,
        type: gatewayError.type,
        code: gatewayError.code,
        param: gatewayError.param ?? null,
      },
    },
  };
}
