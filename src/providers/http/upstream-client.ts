/**
 * The one HTTP client every adapter uses to reach its provider: a pooled undici agent per provider,
 * and four timeouts (connect, first byte, gap between body chunks, whole request), all ending in one
 * abort signal per call (`LightAbort`). The whole-request bound is the provider's `timeout_ms`, cut
 * shorter by the caller's hard deadline when there is one. Bodies are read incrementally under a
 * byte cap, never buffered whole. Failures come out as `GatewayError`s: E4200 unreachable, E4201
 * the provider's timeout, E4510 the caller's deadline, E4507 cancelled by the caller, E4601 a body
 * over the cap; HTTP error statuses are left to the adapter, which knows the provider's error body
 * (see `map-http-error.ts`).
 *
 * A timeout is the provider's fault only when a provider bound ran out. When the caller's deadline
 * is the nearer bound, the call ends with the caller's E4510 instead of E4201, so that breakers and
 * health never blame a provider for a deadline the caller chose.
 *
 * Health checks travel on a connection of their own (`channel: 'health'`): a pool saturated by
 * traffic — or by calls hanging on a stalled upstream — never makes a check wait for a socket.
 *
 * Past 400 lines: the four timeouts, the byte caps and the mapping of transport errors act on one
 * call's abort signal and must agree on whose fault each ending is.
 */
import { Agent, errors as undiciErrors } from 'undici';
import type { Dispatcher } from 'undici';
import { CancelledError, DeadlineError, GatewayError, ProviderError, ResponseError } from '../../models/error-codes.js';
import { LightAbort, asAbortSignal } from '../../util/light-abort.js';

/** Default largest body read from a provider, in bytes (`providers.<id>.max_response_bytes`). */
export const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
/** Most of an error body an adapter reads to learn the provider's error type, in bytes. */
export const ERROR_BODY_LIMIT_BYTES = 64 * 1024;

/** The four bounds of one upstream call, in milliseconds. */
export interface UpstreamTimeouts {
  connectMs: number;
  firstByteMs: number;
  chunkGapMs: number;
  totalMs: number;
}

/** One upstream request. */
export interface UpstreamRequest {
  method: 'GET' | 'POST';
  /** Path and query, appended to the client's base URL. */
  path: string;
  headers?: Record<string, string>;
  /** Serialized as JSON when present. */
  body?: unknown;
  signal?: AbortSignal;
  /**
   * The caller's hard deadline, epoch milliseconds: the whole-request timeout never runs past it,
   * and when it is what ends the call the failure is the caller's deadline (E4510), not a provider
   * timeout. Undefined: only the provider's own timeouts bound the call.
   */
  deadlineAt?: number;
  /** Overrides the client's whole-request bound (health checks use a short one). */
  totalTimeoutMs?: number;
  /**
   * `health`: sent on the client's own health-check connection instead of the traffic pool, so
   * that it never queues behind traffic. Default `traffic`.
   */
  channel?: 'traffic' | 'health';
}

/** A response whose status is known and whose body has not been read yet. */
export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Reads the whole body as text; a body over the client's `maxResponseBytes` throws E4601 (and is not read further). */
  text(): Promise<string>;
  /** Reads the whole body as JSON; E4601 as `text()`, and a body that is not JSON throws E4600. */
  json(): Promise<unknown>;
  /**
   * Reads an error body for its structured fields: at most `ERROR_BODY_LIMIT_BYTES`; a larger or
   * unreadable body reads as `''` (the status alone then decides the error). Never throws.
   */
  errorText(): Promise<string>;
  /** The body as chunks; timeouts and resets surface as `GatewayError`s while iterating. */
  chunks(): AsyncIterable<Uint8Array>;
  /** Discards the body and releases the connection (and the timers). */
  dispose(): void;
}

/** Options of an `UpstreamClient`. */
export interface UpstreamClientOptions {
  /** Provider id, named in errors. */
  provider: string;
  baseUrl: string;
  timeouts: UpstreamTimeouts;
  /** Pooled connections per origin. */
  connections?: number;
  /** Largest body `text()`/`json()` read, in bytes (default `DEFAULT_MAX_RESPONSE_BYTES`). */
  maxResponseBytes?: number;
  /** Replaces the pooled agent (tests). */
  dispatcher?: Dispatcher;
}

/** The provider settings an upstream client is built from (every provider type has them). */
export interface UpstreamProviderSettings {
  id: string;
  connect_timeout_ms: number;
  first_byte_timeout_ms: number;
  chunk_gap_timeout_ms: number;
  timeout_ms: number;
  max_concurrency: number;
  max_response_bytes: number;
}

/** Connections of the health-check channel: Ollama's check sends two requests at once. */
const HEALTH_CONNECTIONS = 2;

/** Pooled, timeout-bounded JSON-over-HTTP access to one provider. */
export class UpstreamClient {
  readonly provider: string;
  /** Largest body read, in bytes; stream parsers bound one event by it too. */
  readonly maxResponseBytes: number;
  /** `scheme://host:port` of the base URL: the pool's key. */
  private readonly origin: string;
  /** The base URL's path without a trailing slash (`/v1`), prefixed to every request's path. */
  private readonly basePath: string;
  private readonly timeouts: UpstreamTimeouts;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  /** The health-check channel's agent, created on first use (the injected dispatcher when there is one). */
  private healthDispatcher: Dispatcher | undefined;

  constructor(options: UpstreamClientOptions) {
    this.provider = options.provider;
    // Split once: undici's top-level `request(url)` would parse the URL again on every call.
    const base = new URL(options.baseUrl);
    this.origin = base.origin;
    this.basePath = `${base.pathname.replace(/\/+$/, '')}${base.search}`;
    this.timeouts = options.timeouts;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ??
      new Agent({
        connections: options.connections ?? 128,
        connect: { timeout: options.timeouts.connectMs },
        headersTimeout: options.timeouts.firstByteMs,
        bodyTimeout: options.timeouts.chunkGapMs,
        keepAliveTimeout: 10_000,
      });
  }

  /** The client of a configured provider: its timeouts, and a pool of `max_concurrency` connections. */
  static forProvider(config: UpstreamProviderSettings, baseUrl: string, dispatcher?: Dispatcher): UpstreamClient {
    return new UpstreamClient({
      provider: config.id,
      baseUrl,
      timeouts: {
        connectMs: config.connect_timeout_ms,
        firstByteMs: config.first_byte_timeout_ms,
        chunkGapMs: config.chunk_gap_timeout_ms,
        totalMs: config.timeout_ms,
      },
      connections: config.max_concurrency,
      maxResponseBytes: config.max_response_bytes,
      ...(dispatcher === undefined ? {} : { dispatcher }),
    });
  }

  /** Sends the request and resolves once the status and headers have arrived. */
  async send(request: UpstreamRequest): Promise<UpstreamResponse> {
    const providerMs = request.totalTimeoutMs ?? this.timeouts.totalMs;
    const untilDeadlineMs = request.deadlineAt === undefined ? Infinity : request.deadlineAt - Date.now();
    // Whichever bound is nearer ends the call, and names who set it: the caller's deadline is not a provider fault.
    const deadlineBinds = untilDeadlineMs <= providerMs;
    const totalMs = deadlineBinds ? untilDeadlineMs : providerMs;
    // While a streamed body waits for its consumer (a client that stopped reading), the time is not the provider's.
    const reading = { blockedByConsumer: false };
    const expired = (): GatewayError => {
      if (deadlineBinds) return this.deadlineError();
      if (reading.blockedByConsumer) return this.consumerStalled(totalMs);
      return this.timeoutError(`no complete answer within ${Math.round(totalMs)} ms`);
    };
    if (totalMs <= 0) throw expired();
    if (request.signal?.aborted) throw abortReason(request.signal);

    // What ends the call (caller gone, a timeout, a stalled stream), with the first reason.
    const controller = new LightAbort<GatewayError>();
    const onCallerAbort = (): void => controller.abort(abortReason(request.signal));
    request.signal?.addEventListener('abort', onCallerAbort, { once: true });
    const timer = setTimeout(() => controller.abort(expired()), totalMs);
    timer.unref();
    // undici's own header and body timeouts tick at about 0.5-1 s resolution; these native timers are
    // exact. A first-byte bound at or past the whole-request bound is left to the latter.
    const firstByte =
      this.timeouts.firstByteMs < totalMs
        ? setTimeout(() => controller.abort(this.timeoutError(`no response within ${this.timeouts.firstByteMs} ms`)), this.timeouts.firstByteMs)
        : undefined;
    firstByte?.unref();
    const release = (): void => {
      clearTimeout(timer);
      clearTimeout(firstByte);
      request.signal?.removeEventListener('abort', onCallerAbort);
    };

    const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
    let body: string | undefined;
    if (request.body !== undefined) {
      body = JSON.stringify(request.body);
      headers['content-type'] = 'application/json';
    }
    let response: Dispatcher.ResponseData;
    try {
      const dispatcher = request.channel === 'health' ? this.healthChannel() : this.dispatcher;
      response = await dispatcher.request({
        origin: this.origin,
        path: this.basePath + request.path,
        method: request.method,
        headers,
        body,
        signal: asAbortSignal(controller),
      });
    } catch (error) {
      release();
      throw this.mapTransportError(error, controller);
    }
    clearTimeout(firstByte);
    return this.wrapResponse(response, controller, release, reading);
  }

  /** Closes the pooled connections and the health-check connection. */
  async close(): Promise<void> {
    if (!this.ownsDispatcher) return;
    await Promise.all([this.dispatcher.close(), this.healthDispatcher?.close()]);
  }

  /** The health-check channel: a small agent of its own, apart from the traffic pool. */
  private healthChannel(): Dispatcher {
    if (!this.ownsDispatcher) return this.dispatcher;
    this.healthDispatcher ??= new Agent({
      connections: HEALTH_CONNECTIONS,
      connect: { timeout: this.timeouts.connectMs },
      headersTimeout: this.timeouts.firstByteMs,
      bodyTimeout: this.timeouts.chunkGapMs,
      keepAliveTimeout: 10_000,
    });
    return this.healthDispatcher;
  }

  private wrapResponse(
    response: Dispatcher.ResponseData,
    controller: LightAbort<GatewayError>,
    release: () => void,
    reading: { blockedByConsumer: boolean },
  ): UpstreamResponse {
    const mapError = (error: unknown): GatewayError => this.mapTransportError(error, controller);
    const provider = this.provider;
    const chunkGapMs = this.timeouts.chunkGapMs;
    const stalled = (): GatewayError => this.timeoutError(`stream stalled for ${chunkGapMs} ms`);
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      release();
    };
    const maxBytes = this.maxResponseBytes;
    const tooLarge = (declaredBytes?: number): ResponseError =>
      new ResponseError(
        'E4601',
        declaredBytes === undefined
          ? `${provider} answered with a body over the ${maxBytes}-byte limit`
          : `${provider} declared a body of ${declaredBytes} bytes, over the ${maxBytes}-byte limit`,
        { details: { provider, status: response.statusCode, limit_bytes: maxBytes } },
      );
    const text = async (): Promise<string> => {
      try {
        const declared = Number(response.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(declared);
        const read = await readCapped(response.body, maxBytes);
        if (read === undefined) throw tooLarge();
        return read.toString('utf8');
      } catch (error) {
        throw mapError(error);
      } finally {
        if (!response.body.readableEnded) discard(response.body);
        finish();
      }
    };
    return {
      status: response.statusCode,
      headers: response.headers,
      text,
      async errorText() {
        try {
          const declared = Number(response.headers['content-length']);
          const read = Number.isFinite(declared) && declared > ERROR_BODY_LIMIT_BYTES ? undefined : await readCapped(response.body, ERROR_BODY_LIMIT_BYTES);
          return read === undefined ? '' : read.toString('utf8');
        } catch {
          return '';
        } finally {
          if (!response.body.readableEnded) discard(response.body);
          finish();
        }
      },
      async json() {
        const raw = await text();
        try {
          return JSON.parse(raw) as unknown;
        } catch {
          throw new ProviderError('E4600', `${provider} answered with a body that is not JSON`, { details: { provider, status: response.statusCode } });
        }
      },
      chunks() {
        const gapMs = chunkGapMs;
        return (async function* iterate(): AsyncGenerator<Uint8Array> {
          let gap: NodeJS.Timeout | undefined;
          const armGap = (): void => {
            clearTimeout(gap);
            gap = setTimeout(() => controller.abort(stalled()), gapMs);
            gap.unref();
          };
          try {
            armGap();
            for await (const chunk of response.body) {
              // The gap measures the provider's silence, not a consumer slow to ask for the next chunk.
              clearTimeout(gap);
              reading.blockedByConsumer = true;
              yield chunk as Uint8Array;
              reading.blockedByConsumer = false;
              armGap();
            }
          } catch (error) {
            throw mapError(error);
          } finally {
            clearTimeout(gap);
            // Reached on completion, on error and when the consumer stops early (return()).
            discard(response.body);
            finish();
          }
        })();
      },
      dispose() {
        discard(response.body);
        finish();
      },
    };
  }

  private timeoutError(message: string): ProviderError {
    return new ProviderError('E4201', `${this.provider}: ${message}`, { details: { provider: this.provider } });
  }

  /** The whole-request bound ran out while the caller was not reading: its own doing, never counted against the provider. */
  private consumerStalled(totalMs: number): CancelledError {
    return new CancelledError('E4507', `The caller stopped reading the stream from ${this.provider}; it was ended after ${Math.round(totalMs)} ms`, {
      details: { provider: this.provider },
    });
  }

  private deadlineError(): DeadlineError {
    return new DeadlineError('E4510', `The request deadline passed while ${this.provider} was answering`, { details: { provider: this.provider } });
  }

  /** Maps undici and socket failures to E4200/E4201/E4507, keeping an abort's own reason. */
  private mapTransportError(error: unknown, signal: LightAbort<GatewayError>): GatewayError {
    if (error instanceof GatewayError) return error;
    if (signal.reason !== undefined) return signal.reason;
    const details = { provider: this.provider };
    if (error instanceof undiciErrors.ConnectTimeoutError) {
      return new ProviderError('E4201', `${this.provider}: connect timed out after ${this.timeouts.connectMs} ms`, { details, cause: error });
    }
    if (error instanceof undiciErrors.HeadersTimeoutError) {
      return new ProviderError('E4201', `${this.provider}: no response within ${this.timeouts.firstByteMs} ms`, { details, cause: error });
    }
    if (error instanceof undiciErrors.BodyTimeoutError) {
      return new ProviderError('E4201', `${this.provider}: stream stalled for ${this.timeouts.chunkGapMs} ms`, { details, cause: error });
    }
    const code = errorCode(error);
    const text =
      code === 'ECONNREFUSED'
        ? 'connection refused'
        : code === 'UND_ERR_SOCKET' || code === 'ECONNRESET'
          ? 'connection reset'
          : `request failed (${code ?? 'unknown'})`;
    return new ProviderError('E4200', `${this.provider}: ${text}`, { details: { ...details, cause_code: code }, cause: error });
  }
}

/** The reason an abort carries: a `GatewayError` as given, anything else a caller cancellation. */
export function abortReason(signal: AbortSignal | undefined): GatewayError {
  const reason: unknown = signal?.reason;
  if (reason instanceof GatewayError) return reason;
  return new CancelledError('E4507', 'The caller cancelled the request');
}

/**
 * Stops reading `body` and releases its connection. undici reports a destroyed body as an `error`
 * event (RequestAbortedError); nobody is reading any more, so that error is expected and dropped.
 */
function discard(body: Dispatcher.ResponseData['body']): void {
  if (body.destroyed) return;
  body.on('error', () => undefined);
  body.destroy();
}

/**
 * Reads `body` to its end, keeping at most `limitBytes`: resolves with the bytes, or `undefined`
 * (and destroys the body) as soon as more arrive, so an oversized answer is never held in memory.
 */
function readCapped(body: Dispatcher.ResponseData['body'], limitBytes: number): Promise<Buffer | undefined> {
  return new Promise<Buffer | undefined>((resolve, reject) => {
    const parts: Buffer[] = [];
    let total = 0;
    let done = false;
    const settle = (outcome: () => void): void => {
      if (done) return;
      done = true;
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
      outcome();
    };
    // Events rather than `for await`: the async iterator costs several microseconds per answer.
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total <= limitBytes) parts.push(chunk);
      else
        settle(() => {
          parts.length = 0;
          discard(body);
          resolve(undefined);
        });
    };
    const onEnd = (): void => settle(() => resolve(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, total)));
    const onError = (error: unknown): void => settle(() => reject(error));
    const onClose = (): void => settle(() => reject(Object.assign(new Error('the body closed before its end'), { code: 'UND_ERR_SOCKET' })));
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
    body.once('close', onClose);
  });
}

/** The most specific `code` of a Node or undici error (`ECONNREFUSED` over `UND_ERR_SOCKET`). */
function errorCode(error: unknown): string | undefined {
  const codes: string[] = [];
  const collect = (value: unknown, depth: number): void => {
    if (depth > 5 || value === null || typeof value !== 'object') return;
    const record = value as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof record.code === 'string') codes.push(record.code);
    if (Array.isArray(record.errors)) for (const inner of record.errors) collect(inner, depth + 1);
    collect(record.cause, depth + 1);
  };
  collect(error, 0);
  return codes.find((code) => code.startsWith('E')) ?? codes[0];
}
