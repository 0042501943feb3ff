/**
 * Request bodies in, JSON and errors out: the one place where the HTTP layer reads bodies (size
 * limit → 413 E4503, content type → 415 E4504, JSON → E4500) and turns errors into responses.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { CancelledError, toOpenAIError, ValidationError } from '../models/error-codes.js';
import { toAnthropicError } from './anthropic/anthropic-errors.js';
import { MAX_DEADLINE_MS } from '../models/inference-request.js';
import { merged } from '../util/merged.js';

// RFC 8259 §8.1: JSON exchanged between systems is UTF-8; malformed bytes are refused, not replaced with U+FFFD.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Reads and parses a JSON body of at most `limitBytes`. */
export async function readJsonBody(request: IncomingMessage, limitBytes: number): Promise<unknown> {
  const type = request.headers['content-type'];
  if (type !== undefined && !/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
    throw new ValidationError('E4504', `The request body must be application/json, got ${type.slice(0, 100)}`);
  }
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) throw tooLarge(limitBytes);
  // Events rather than `for await`: the async iterator costs several microseconds per request.
  const { chunks, size } = await new Promise<{ chunks: Buffer[]; size: number }>((resolve, reject) => {
    const parts: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limitBytes) {
        request.off('data', onData);
        request.pause();
        reject(tooLarge(limitBytes));
        return;
      }
      parts.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => resolve({ chunks: parts, size: total }));
    request.once('error', reject);
    request.once('aborted', () => reject(new CancelledError('E4507', 'The client closed the connection')));
  });
  if (size === 0) throw new ValidationError('E4500', 'Invalid request: the body is empty', { param: '(root)' });
  let text: string;
  try {
    text = UTF8.decode(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  } catch {
    throw new ValidationError('E4500', 'Invalid request: the body is not valid UTF-8', { param: '(root)' });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError('E4500', 'Invalid request: the body is not valid JSON', { param: '(root)' });
  }
}

function tooLarge(limitBytes: number): ValidationError {
  return new ValidationError('E4503', `The request body is larger than ${limitBytes} bytes`);
}

/** Sends a JSON answer. */
export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, merged(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }));
  response.end(text);
}

/** The wire shape of a route's errors: OpenAI's (every route by default) or Anthropic's. */
export type ErrorShape = 'openai' | 'anthropic';

/** Sends any error in the route's shape with its E-code (internal errors without their details). */
export function sendError(response: ServerResponse, error: unknown, headers: Record<string, string> = {}, shape: ErrorShape = 'openai'): void {
  const rendered = shape === 'anthropic' ? toAnthropicError(error) : toOpenAIError(error);
  if (response.headersSent) {
    response.destroy();
    return;
  }
  // A body we stopped reading (413) would otherwise be drained into a dead keep-alive connection.
  const close: Record<string, string> = rendered.status === 413 ? { connection: 'close' } : {};
  sendJson(response, rendered.status, rendered.body, Object.assign({}, headers, rendered.headers, close));
}

/** The first value of a header. */
export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The request header that sets a hard deadline, in milliseconds from arrival. */
export const DEADLINE_HEADER = 'x-l04-deadline-ms';

/**
 * The hard deadline a caller set with `x-l04-deadline-ms` (an integer of milliseconds, 1 to one
 * hour), as `CallContext` fields; none when the header is absent. Any other value is E4500.
 */
export function deadlineFromHeaders(headers: IncomingHttpHeaders): { deadlineMs?: number } {
  const raw = headerValue(headers[DEADLINE_HEADER]);
  if (raw === undefined) return {};
  const deadlineMs = /^\d{1,7}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!(deadlineMs >= 1 && deadlineMs <= MAX_DEADLINE_MS)) {
    throw new ValidationError('E4500', `Header ${DEADLINE_HEADER} must be an integer of milliseconds from 1 to ${MAX_DEADLINE_MS}`, {
      param: DEADLINE_HEADER,
      details: { header: DEADLINE_HEADER },
    });
  }
  return { deadlineMs };
}
