/**
 * Gateway errors in Anthropic's error shape, `{"type":"error","error":{"type","message"}}`, with
 * the HTTP status Anthropic uses for each type (https://docs.anthropic.com/en/api/errors). The
 * gateway's E-code rides along in `error.code`; clients ignore fields they do not know.
 */
import { errorHeaders, toGatewayError } from '../../models/error-codes.js';
// The status of each type, as Anthropic documents it: one table for the adapter and this face.
import { ANTHROPIC_ERROR_STATUS } from '../../providers/anthropic/map-anthropic-error.js';
import type { GatewayError } from '../../models/error-codes.js';

/** Anthropic's error types. */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

/** The body of an Anthropic error (also the data of an SSE `error` event). */
export interface AnthropicErrorBody {
  type: 'error';
  error: { type: AnthropicErrorType; message: string; code: string };
  request_id?: string;
}

/**
 * The Anthropic error type of a gateway error: by its HTTP status, except that every "try again
 * soon" condition (no capacity, open circuit, queue full, shutting down: the retryable 503s) is
 * `overloaded_error` (529), which Anthropic clients such as Claude Code retry with backoff.
 */
export function anthropicErrorType(error: GatewayError): AnthropicErrorType {
  const status = error.httpStatus;
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (error.code === 'E4204') return 'rate_limit_error';
  if (status === 503) return 'overloaded_error';
  if (status === 504) return 'timeout_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** An error rendered for HTTP in Anthropic's shape. */
export function toAnthropicError(error: unknown, requestId?: string): { status: number; headers: Record<string, string>; body: AnthropicErrorBody } {
  const gatewayError = toGatewayError(error);
  const type = anthropicErrorType(gatewayError);
  // The same retry advice as every other face: x-should-retry, and a wait only when it helps.
  const headers = errorHeaders(gatewayError);
  // Statuses Anthropic does not use (415, 422, 499) keep the gateway's own; the rest follow the type.
  const status = type === 'invalid_request_error' && gatewayError.httpStatus !== 400 ? gatewayError.httpStatus : (ANTHROPIC_ERROR_STATUS[type] ?? 500);
  return {
    status,
    headers,
    body: {
      type: 'error',
      error: { type, message: gatewayError.message, code: gatewayError.code },
      ...(requestId === undefined ? {} : { request_id: requestId }),
    },
  };
}
