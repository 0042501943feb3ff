/**
 * OpenAI error answers → `GatewayError`, from the HTTP status and the structured `error.type` /
 * `error.code` fields only (https://platform.openai.com/docs/guides/error-codes), never from text.
 *
 * - `context_length_exceeded` (OpenAI, vLLM) and `exceed_context_size_error` (llama.cpp) → E4207.
 * - `model_not_found` → E4210 (configured, but not served upstream).
 * - 401/403 → E4203; 429 → E4204 with `Retry-After` / `retry-after-ms`; 5xx → E4202; other 4xx → E4206.
 * - `insufficient_quota` (429; `type` or `code`) stays E4204 so that the gateway falls back to another
 *   provider, but carries no `retryAfterMs` and `details.quota_exhausted: true`: OpenAI documents that
 *   waiting does not lift it (credits must be added), so the same provider must not be retried soon.
 */
import { ProviderError } from '../../models/error-codes.js';
import { mapHttpError } from '../http/map-http-error.js';
import type { UpstreamErrorInfo } from '../http/map-http-error.js';
import { OpenAIErrorBodySchema } from './openai-api.js';
import type { OpenAIErrorObject } from './openai-api.js';

type Headers = Record<string, string | string[] | undefined>;

const CONTEXT_CODES = new Set(['context_length_exceeded', 'exceed_context_size_error']);
const QUOTA_CODES = new Set(['insufficient_quota']);

/** Maps an error status and its body (parsed JSON, or `undefined` when it was not JSON). */
export function mapOpenAIError(provider: string, status: number, headers: Headers, body: unknown): ProviderError {
  const parsed = OpenAIErrorBodySchema.safeParse(body);
  return mapOpenAIErrorObject(provider, status, headers, parsed.success ? parsed.data.error : undefined);
}

/**
 * Maps an error sent inside a stream (`data: {"error": {…}}`), where no HTTP status tells the class:
 * the status is inferred from the structured type (rate limits 429, request errors 400, else 500).
 */
export function mapOpenAIStreamError(provider: string, error: OpenAIErrorObject): ProviderError {
  const kind = `${error.type ?? ''} ${typeof error.code === 'string' ? error.code : ''}`;
  const status = typeof error.code === 'number' ? error.code : /rate_limit|requests|tokens/.test(kind) ? 429 : /invalid_request/.test(kind) ? 400 : 500;
  return mapOpenAIErrorObject(provider, status, {}, error);
}

function mapOpenAIErrorObject(provider: string, status: number, headers: Headers, error: OpenAIErrorObject | undefined): ProviderError {
  const type = error?.type ?? undefined;
  const code = typeof error?.code === 'string' ? error.code : undefined;
  const info: UpstreamErrorInfo = {
    type: code ?? type,
    contextLengthExceeded: isOneOf(CONTEXT_CODES, code, type),
    modelMissing: code === 'model_not_found',
  };
  if (error?.message != null) info.message = error.message;
  const mapped = mapHttpError(provider, status, headers, info);
  if (status === 429 && isOneOf(QUOTA_CODES, code, type)) {
    return new ProviderError('E4204', mapped.message, {
      details: { ...mapped.details, quota_exhausted: true },
      ...(mapped.logDetail === undefined ? {} : { logDetail: mapped.logDetail }),
    });
  }
  return mapped;
}

function isOneOf(set: Set<string>, code: string | undefined, type: string | undefined): boolean {
  return (code !== undefined && set.has(code)) || (type !== undefined && set.has(type));
}
