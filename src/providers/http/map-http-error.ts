/**
 * Provider HTTP error statuses → E42xx, from the status and the structured error fields only
 * (never from message text). Adapters pass what they parsed of their provider's error body.
 */
import { ERROR_CODES, ProviderError } from '../../models/error-codes.js';
import type { ErrorCode } from '../../models/error-codes.js';
import { redactSecrets } from '../../util/redact.js';

/** What an adapter understood of an error body. */
export interface UpstreamErrorInfo {
  /** The provider's machine type or code (`rate_limit_error`, `context_length_exceeded`). */
  type?: string;
  message?: string;
  /** Set by the adapter when the structured fields say the prompt is too long. */
  contextLengthExceeded?: boolean;
  /** Set by the adapter when the structured fields say the provider is overloaded. */
  overloaded?: boolean;
  /** Set by the adapter when the structured fields say the model does not exist upstream. */
  modelMissing?: boolean;
}

/**
 * Maps an HTTP error status to a `ProviderError`. Its message is the gateway's own, with the
 * provider, the status and the structured error type; the upstream's text goes to `logDetail`
 * (redacted), because it is written for the gateway's operator, not for the gateway's tenants.
 */
export function mapHttpError(
  provider: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  info: UpstreamErrorInfo = {},
): ProviderError {
  const code = codeFor(status, info);
  const upstreamMessage = info.message === undefined ? undefined : redactSecrets(info.message).slice(0, 500);
  const retryAfterMs = code === 'E4204' || code === 'E4205' ? parseRetryAfter(headers) : undefined;
  const message = `${ERROR_CODES[code].message} (${provider} answered ${status}${info.type === undefined ? '' : `, ${info.type}`})`;
  return new ProviderError(code, message, {
    details: { provider, upstream_status: status, upstream_type: info.type },
    retryAfterMs,
    ...(upstreamMessage === undefined ? {} : { logDetail: upstreamMessage }),
  });
}

function codeFor(status: number, info: UpstreamErrorInfo): ErrorCode {
  if (info.contextLengthExceeded) return 'E4207';
  if (info.overloaded || status === 529) return 'E4205';
  if (info.modelMissing) return 'E4210';
  if (status === 401 || status === 403) return 'E4203';
  if (status === 408) return 'E4201';
  if (status === 429) return 'E4204';
  if (status >= 500) return 'E4202';
  return 'E4206';
}

/** `Retry-After` (seconds or an HTTP date) or `retry-after-ms`, in milliseconds. */
export function parseRetryAfter(headers: Record<string, string | string[] | undefined>, now = Date.now()): number | undefined {
  const first = (name: string): string | undefined => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const ms = Number(first('retry-after-ms'));
  if (Number.isFinite(ms) && ms >= 0 && first('retry-after-ms') !== undefined) return ms;
  const raw = first('retry-after');
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
