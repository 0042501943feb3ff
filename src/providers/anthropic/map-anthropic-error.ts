/**
 * Anthropic failures → `GatewayError`, from the HTTP status and the structured `error.type` only
 * (never the message text). Error types: https://docs.anthropic.com/en/api/errors.
 *
 * HTTP errors go through the shared `mapHttpError`: 401/403 → E4203, 429 → E4204 (Retry-After
 * kept), 529 `overloaded_error` → E4205 (retryable), 404 `not_found_error` on a model call → E4210,
 * other 5xx → E4202, other 4xx → E4206. An `error` event in the middle of a stream has no status of
 * its own, so its `error.type` stands in for the status Anthropic uses for that type.
 */
import type { GatewayError } from '../../models/error-codes.js';
import { mapHttpError } from '../http/map-http-error.js';
import type { UpstreamErrorInfo } from '../http/map-http-error.js';
import { AnthropicErrorBodySchema, AnthropicErrorObjectSchema } from './anthropic-api.js';

/** The HTTP status Anthropic documents for each error type. */
export const ANTHROPIC_ERROR_STATUS: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** Where the failing call went: a 404 on `/v1/messages` means the model does not exist upstream. */
export type AnthropicErrorContext = 'model-call' | 'other';

/**
 * Maps an HTTP error response. `body` is the raw body text (or parsed JSON); a body that is not
 * Anthropic's error shape is mapped from the status alone.
 */
export function mapAnthropicError(
  provider: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: unknown,
  context: AnthropicErrorContext = 'model-call',
): GatewayError {
  const parsed = AnthropicErrorBodySchema.safeParse(typeof body === 'string' ? parseJson(body) : body);
  const error = parsed.success ? parsed.data.error : undefined;
  const info: UpstreamErrorInfo = { ...(error === undefined ? {} : { type: error.type, message: error.message }) };
  if (error?.type === 'overloaded_error') info.overloaded = true;
  if (context === 'model-call' && status === 404 && (error === undefined || error.type === 'not_found_error')) info.modelMissing = true;
  return mapHttpError(provider, status, headers, info);
}

/** Maps the payload of an `error` stream event (`{"type":"error","error":{…}}` or the bare object). */
export function mapAnthropicStreamError(provider: string, payload: unknown): GatewayError {
  const envelope = AnthropicErrorBodySchema.safeParse(payload);
  const bare = AnthropicErrorObjectSchema.safeParse(payload);
  const error = envelope.success ? envelope.data.error : bare.success ? bare.data : undefined;
  const status = (error === undefined ? undefined : ANTHROPIC_ERROR_STATUS[error.type]) ?? 500;
  const gatewayError = mapAnthropicError(provider, status, {}, error === undefined ? undefined : { type: 'error', error }, 'other');
  gatewayError.details.mid_stream = true;
  return gatewayError;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
