/**
 * The HTTP server's own bounds, from `server.*`: how long a request's headers and body may take to
 * arrive, how long an idle keep-alive connection stays, how large a request head may be and how
 * many connections one process holds. A client that trickles its request is cut off with 408 at
 * `request_timeout_ms` instead of holding its connection forever.
 */
import type { ServerOptions } from 'node:http';
import type { GatewayConfig } from '../config/config-schema.js';
import { ValidationError, toOpenAIError } from '../models/error-codes.js';
import type { GatewayError } from '../models/error-codes.js';

/** How often Node checks connections for the header and request timeouts, in milliseconds. */
export const CONNECTIONS_CHECK_INTERVAL_MS = 1_000;

/** `createServer` options for `server`. */
export function serverOptions(server: GatewayConfig['server']): ServerOptions {
  return {
    requestTimeout: server.request_timeout_ms,
    headersTimeout: server.headers_timeout_ms,
    keepAliveTimeout: server.keep_alive_timeout_ms,
    maxHeaderSize: server.max_header_bytes,
    // Node checks the two timeouts on this interval (30 s by default), which would let a slow request live twice as long.
    connectionsCheckingInterval: Math.min(CONNECTIONS_CHECK_INTERVAL_MS, server.headers_timeout_ms),
  };
}

/** The error for a request Node's parser gave up on: too slow (E4513), head too large (E4514), or unreadable (E4500). */
export function clientErrorFor(error: NodeJS.ErrnoException): GatewayError {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new ValidationError('E4513', 'The request headers and body did not arrive in time');
  if (error.code === 'HPE_HEADER_OVERFLOW') return new ValidationError('E4514');
  return new ValidationError('E4500', 'Invalid request: the HTTP request could not be parsed');
}

/** Whether a response has begun on `socket` (Node's own 408 path checks the same): then no raw answer may be written. */
export function responseStarted(socket: object): boolean {
  const current: unknown = (socket as { _httpMessage?: unknown })._httpMessage;
  return typeof current === 'object' && current !== null && (current as { headersSent?: unknown }).headersSent === true;
}

/** The raw HTTP/1.1 response written to the socket of a request that never reached a handler. */
export function clientErrorResponse(error: NodeJS.ErrnoException): string {
  const rendered = toOpenAIError(clientErrorFor(error));
  const body = JSON.stringify(rendered.body);
  const reason = { 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }[rendered.status] ?? 'Bad Request';
  return `HTTP/1.1 ${rendered.status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}
