/**
 * The one HTTP client every adapter uses to reach its provider: a pooled undici agent per provider,
 * and four timeouts (connect, first byte, gap between body chunks, whole request bounded by the
 * request's deadline), all ending in one AbortSignal. Failures come out as `GatewayError`s:
 * E4200 unreachable, E4201 timeout, E4507 cancelled by the caller, E4510 the caller's deadline
 * passed first; HTTP error statuses are left to the adapter, which knows the provider's error body
 * (see `map-http-error.ts`).
 *
 * A timeout is the provider's fault only when a provider bound ran out. When the caller's deadline
 * is the nearer bound, the call ends with the caller's E4510 instead of E4201, so that breakers and
 * health never blame a provider for a deadline the caller chose.
 *
 * Health checks travel on a connection of their own (`channel: 'health'`): a pool saturated by
 * traffic — or by calls hanging on a stalled upstream — never makes a check wait for a socket.
 */
import { Agent, errors as undiciErrors, request as undiciRequest } from 'undici';
import type { Dispatcher } from 'undici';
import { CancelledError, DeadlineError, GatewayError, ProviderError } from '../../models/error-codes.js';

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
  /** Epoch milliseconds; the whole-request timeout never runs past it. */
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
  /** Reads the whole body as text. */
  text(): Promise<string>;
  /** Reads the whole body as JSON; a body that is not JSON throws E4600. */
  json(): Promise<unknown>;
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
}

/** Connections of the health-check channel: Ollama's check sends two requests at once. */
const HEALTH_CONNECTIONS = 2;

/** Pooled, timeout-bounded JSON-over-HTTP access to one provider. */
export class UpstreamClient {
  readonly provider: string;
  private readonly baseUrl: string;
  private readonly timeouts: UpstreamTimeouts;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  /** The health-check channel's agent, created on first use (the injected dispatcher when there is one). */
  private healthDispatcher: Dispatcher | undefined;

  constructor(options: UpstreamClientOptions) {
    this.provider = options.provider;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.timeouts = options.timeouts;
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
      ...(dispatcher === undefined ? {} : { dispatcher }),
    });
  }

  /** Sends the request and resolves once the status and headers have arrived. */
  async send(request: UpstreamRequest): Promise<UpstreamResponse> {
    const now = Date.now();
    const providerBoundMs = request.totalTimeoutMs ?? this.timeouts.totalMs;
    const deadlineMs = request.deadlineAt === undefined ? Infinity : request.deadlineAt - now;
    if (deadlineMs <= 0) throw this.deadlineError();
    if (request.signal?.aborted) throw abortReason(request.signal);
    // The nearer bound decides whose fault a timeout is: the provider's (E4201) or the caller's deadline (E4510).
    const deadlineFirst = deadlineMs <= providerBoundMs;
    const totalMs = Math.min(providerBoundMs, deadlineMs);

    const controller = new AbortController();
    const onCallerAbort = (): void => controller.abort(abortReason(request.signal));
    request.signal?.addEventListener('abort', onCallerAbort, { once: true });
    const timer = setTimeout(
      () => controller.abort(deadlineFirst ? this.deadlineError() : this.timeoutError(`no complete answer within ${Math.round(totalMs)} ms`)),
      totalMs,
    );
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
      response = await undiciRequest(this.baseUrl + request.path, {
        method: request.method,
        headers,
        body,
        signal: controller.signal,
        dispatcher: request.channel === 'health' ? this.healthChannel() : this.dispatcher,
      });
    } catch (error) {
      release();
      throw this.mapTransportError(error, controller.signal);
    }
    clearTimeout(firstByte);
    return this.wrapResponse(response, controller, release);
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

  private wrapResponse(response: Dispatcher.ResponseData, controller: AbortController, release: () => void): UpstreamResponse {
    const mapError = (error: unknown): GatewayError => this.mapTransportError(error, controller.signal);
    const provider = this.provider;
    const chunkGapMs = this.timeouts.chunkGapMs;
    const stalled = (): GatewayError => this.timeoutError(`stream stalled for ${chunkGapMs} ms`);
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      release();
    };
    const text = async (): Promise<string> => {
      try {
        return await response.body.text();
      } catch (error) {
        throw mapError(error);
      } finally {
        finish();
      }
    };
    return {
      status: response.statusCode,
      headers: response.headers,
      text,
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
              armGap();
              yield chunk as Uint8Array;
            }
          } catch (error) {
            throw mapError(error);
          } finally {
            clearTimeout(gap);
            // Reached on completion, on error and when the consumer stops early (return()).
            if (!response.body.destroyed) response.body.destroy();
            finish();
          }
        })();
      },
      dispose() {
        if (!response.body.destroyed) response.body.destroy();
        finish();
      },
    };
  }

  private deadlineError(): DeadlineError {
    return new DeadlineError('E4510', `The request deadline passed while ${this.provider} was answering`, { details: { provider: this.provider } });
  }

  private timeoutError(message: string): ProviderError {
    return new ProviderError('E4201', `${this.provider}: ${message}`, { details: { provider: this.provider } });
  }

  /** Maps undici and socket failures to E4200/E4201/E4507, keeping an abort's own reason. */
  private mapTransportError(error: unknown, signal: AbortSignal): GatewayError {
    if (error instanceof GatewayError) return error;
    if (signal.aborted && signal.reason instanceof GatewayError) return signal.reason;
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
