/**
 * The HTTP service over a `ModelGateway`: node:http, a small route table, one place
 * where errors become OpenAI-shaped responses, a request id on every response, authentication
 * before any other work, and graceful shutdown (stop accepting, let in-flight requests finish
 * within a bound, then close the gateway).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthError, CancelledError, ConfigurationError, GatewayError, toGatewayError, ValidationError } from '../models/error-codes.js';
import type { BatchItemResult, EmbeddingResult, ModelGateway } from '../gateway/model-gateway.js';
import type { InferenceRequestInput } from '../models/inference-request.js';
import type { InferenceResponse } from '../models/inference-response.js';
import { randomRequestId } from '../util/ids.js';
import { LightAbort, asAbortSignal } from '../util/light-abort.js';
import type { IdGenerator } from '../util/clock.js';
import type { Logger } from '../observability/logger.js';
import { ApiKeyAuthenticator } from './auth.js';
import { handleChatCompletions } from './openai/chat-route.js';
import { handleHealth, handleMetrics, handleProviderHealth, handleReady } from './health-routes.js';
import { deadlineFromHeaders, sendError } from './http-io.js';
import type { ErrorShape } from './http-io.js';
import { handleCountTokens, handleMessages } from './anthropic/messages-route.js';
import { errorShapeOf, handleModel, handleModelList } from './anthropic/models-route.js';
import { handleResponses } from './responses/responses-route.js';
import { handleCachePurge, handleEmbeddings, handleInference, handleInferenceBatch, handleUsage } from './native/native-routes.js';
import type { RouteContext } from './route-context.js';
import type { CallContext, GatewayStreamEvent } from '../models/gateway-events.js';
import { handleDashboardPage, handleDashboardScript, handleDashboardSnapshot, handleDashboardStyle } from './dashboard/dashboard-routes.js';
import { clientErrorResponse, responseStarted, serverOptions } from './server-limits.js';

type Handler = (context: RouteContext) => Promise<void>;

const ROOT_URL = new URL('http://gateway/');

interface Route {
  handler: Handler;
  /** Needs a caller identity (every /v1 route). */
  authenticated: boolean;
  /** Needs an admin key; without keys configured, a loopback caller. */
  admin?: boolean;
  /** Shows other tenants' data to admins: without keys configured, loopback callers only. */
  operator?: boolean;
  /** Shape of the route's errors (OpenAI's by default), or how to choose it from the request. */
  errors?: ErrorShape | ((request: IncomingMessage) => ErrorShape);
}

const ROUTES: Record<string, Record<string, Route>> = {
  '/v1/chat/completions': { POST: { handler: handleChatCompletions, authenticated: true } },
  '/v1/embeddings': { POST: { handler: handleEmbeddings, authenticated: true } },
  '/v1/models': { GET: { handler: handleModelList, authenticated: true, errors: errorShapeOf } },
  // A trailing `/*` matches the rest of the path (model ids may hold `/`).
  '/v1/models/*': { GET: { handler: handleModel, authenticated: true, errors: errorShapeOf } },
  '/v1/messages': { POST: { handler: handleMessages, authenticated: true, errors: 'anthropic' } },
  '/v1/messages/count_tokens': { POST: { handler: handleCountTokens, authenticated: true, errors: 'anthropic' } },
  '/v1/responses': { POST: { handler: handleResponses, authenticated: true } },
  '/v1/inference': { POST: { handler: handleInference, authenticated: true } },
  '/v1/inference/batch': { POST: { handler: handleInferenceBatch, authenticated: true } },
  '/v1/usage': { GET: { handler: handleUsage, authenticated: true, operator: true } },
  '/v1/admin/cache/purge': { POST: { handler: handleCachePurge, authenticated: true, admin: true, operator: true } },
  '/health': { GET: { handler: handleHealth, authenticated: false } },
  '/health/providers': { GET: { handler: handleProviderHealth, authenticated: false } },
  '/health/ready': { GET: { handler: handleReady, authenticated: false } },
  '/metrics': { GET: { handler: handleMetrics, authenticated: false } },
  '/dashboard': { GET: { handler: handleDashboardPage, authenticated: false } },
  '/dashboard/dashboard.js': { GET: { handler: handleDashboardScript, authenticated: false } },
  '/dashboard/dashboard.css': { GET: { handler: handleDashboardStyle, authenticated: false } },
  '/dashboard/api/snapshot': { GET: { handler: handleDashboardSnapshot, authenticated: true, admin: true, operator: true } },
};

/** Options of a `GatewayServer`; defaults come from the gateway's `server:` config. */
export interface GatewayServerOptions {
  host?: string;
  port?: number;
  logger?: Logger;
  idGenerator?: IdGenerator;
}

/** The OpenAI-compatible HTTP service. */
export class GatewayServer {
  readonly server: Server;
  private readonly gateway: ModelGateway;
  private readonly authenticator: ApiKeyAuthenticator;
  private readonly options: GatewayServerOptions;
  private readonly idGenerator: IdGenerator;
  private inFlight = 0;
  private draining = false;
  private idle: (() => void) | undefined;

  constructor(gateway: ModelGateway, options: GatewayServerOptions = {}) {
    this.gateway = gateway;
    this.options = options;
    this.idGenerator = options.idGenerator ?? randomRequestId;
    this.authenticator = new ApiKeyAuthenticator(gateway.config.auth);
    this.server = createServer(serverOptions(gateway.config.server), (request, response) => {
      void this.handle(request, response);
    });
    this.server.maxConnections = gateway.config.server.max_connections;
    // Requests Node's parser cannot read (or that arrive too slowly) get the OpenAI error shape too, not a bare status line.
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      if (!socket.writable || error.code === 'ECONNRESET' || responseStarted(socket)) {
        socket.destroy();
        return;
      }
      socket.end(clientErrorResponse(error));
    });
  }

  /**
   * Starts the gateway and listens; resolves with the bound address. Without API keys it refuses
   * (E4005) to bind anything but a loopback address, unless `server.allow_unauthenticated` says so,
   * and then warns loudly: every caller could name any agent and tenant.
   */
  async listen(): Promise<{ host: string; port: number; url: string }> {
    const host = this.options.host ?? this.gateway.config.server.host;
    const port = this.options.port ?? this.gateway.config.server.port;
    if (!this.authenticator.required && !isLoopbackHost(host)) {
      if (!this.gateway.config.server.allow_unauthenticated) {
        throw new ConfigurationError(
          'E4005',
          `No API keys are configured (auth.api_keys) and server.host is ${host}: anyone who reaches it could act as any agent or tenant. Configure keys, bind 127.0.0.1, or set server.allow_unauthenticated: true`,
          { details: { host } },
        );
      }
      this.options.logger?.warn(
        { host, auth: 'none' },
        'UNAUTHENTICATED on a non-loopback address: any caller can act as any agent or tenant (server.allow_unauthenticated is true); usage and admin routes answer loopback callers only',
      );
    }
    await this.gateway.start();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return { host: address.address, port: address.port, url: `http://${shownHost}:${address.port}` };
  }

  /**
   * Graceful shutdown: stops accepting, waits up to `server.shutdown_grace_ms` for in-flight
   * requests, closes what is left, then closes the gateway (ledger flushed or spooled).
   */
  async close(): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    if (this.inFlight > 0) {
      const graceMs = this.gateway.config.server.shutdown_grace_ms;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        timer.unref();
        this.idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.server.closeAllConnections();
    await closed;
    await this.gateway.close();
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const startedAt = Date.now();
    const requestId = this.idGenerator();
    response.setHeader('x-l04-request-id', requestId);
    this.inFlight++;
    // A light signal: an AbortController costs 7 µs a request on Node 20 (see util/light-abort.ts).
    const controller = new LightAbort<CancelledError>();
    let context: RouteContext | undefined;
    let route: Route | undefined;
    response.once('close', () => {
      if (!response.writableFinished) controller.abort(new CancelledError('E4507', 'The client closed the connection'));
    });
    try {
      if (this.draining) throw new GatewayError('E4509');
      const target = request.url ?? '/';
      const queryAt = target.indexOf('?');
      route = this.resolve(request.method ?? 'GET', queryAt === -1 ? target : target.slice(0, queryAt));
      // Only routes that read a query string pay for a full URL parse.
      const url = queryAt === -1 ? ROOT_URL : new URL(target, 'http://gateway');
      const caller = route.authenticated
        ? this.authenticate(request, route)
        : { agent_did: 'did:l04:anonymous', tenant: 'default', key_id: 'anonymous', admin: false };
      context = this.routeContext(request, response, url, requestId, caller, asAbortSignal(controller));
      await route.handler(context);
    } catch (error) {
      const gatewayError = toGatewayError(error);
      // Requests handed to the gateway are accounted there; count only what was refused before.
      if (context?.dispatched !== true) this.gateway.recordRefusal(gatewayError, (Date.now() - startedAt) / 1000);
      if (gatewayError.code === 'E4900') this.options.logger?.error({ err: error, request_id: requestId }, 'unexpected error');
      const shape = typeof route?.errors === 'function' ? route.errors(request) : (route?.errors ?? 'openai');
      if (!response.writableEnded) sendError(response, gatewayError, {}, shape);
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) this.idle?.();
    }
  }

  private routeContext(
    request: IncomingMessage,
    response: ServerResponse,
    url: URL,
    requestId: string,
    caller: RouteContext['caller'],
    signal: AbortSignal,
  ): RouteContext {
    return new HttpRouteContext(this.gateway, request, response, url, requestId, caller, signal);
  }

  private resolve(method: string, path: string): Route {
    const exact = path.length > 1 ? path.replace(/\/+$/, '') : path;
    const routes = ROUTES[exact] ?? wildcardRoutes(exact);
    if (routes === undefined) throw new ValidationError('E4505', `No route ${path}`);
    const route = routes[method];
    if (route === undefined) throw new ValidationError('E4506', `${method} is not allowed on ${path}; use ${Object.keys(routes).join(', ')}`);
    return route;
  }

  private authenticate(request: IncomingMessage, route: Route): RouteContext['caller'] {
    const principal = this.authenticator.authenticate(request.headers);
    // Without API keys there is no operator to tell apart: routes that show other tenants' data or
    // change shared state answer loopback callers only.
    if (route.operator === true && !this.authenticator.required && !isLoopback(request.socket.remoteAddress)) {
      throw new AuthError('E4508', 'This route needs an API key, or a loopback caller when no keys are configured');
    }
    return principal;
  }
}

/** The routes of the longest `<prefix>/*` entry that covers `path` (only looked up when no exact route matches). */
function wildcardRoutes(path: string): Record<string, Route> | undefined {
  for (let slash = path.lastIndexOf('/'); slash > 0; slash = path.lastIndexOf('/', slash - 1)) {
    if (slash === path.length - 1) continue;
    const routes = ROUTES[`${path.slice(0, slash)}/*`];
    if (routes !== undefined) return routes;
  }
  return undefined;
}

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

/** Whether binding `host` exposes the service to this machine only. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * The `RouteContext` of one request. A class, not an object literal: a literal with a getter and
 * four closures is built through V8's slow path on every request (about 1 µs on Node 20).
 */
class HttpRouteContext implements RouteContext {
  readonly bodyLimitBytes: number;
  /** True once the request was handed to the gateway. */
  dispatched = false;

  constructor(
    readonly gateway: ModelGateway,
    readonly request: IncomingMessage,
    readonly response: ServerResponse,
    readonly url: URL,
    readonly requestId: string,
    readonly caller: RouteContext['caller'],
    readonly signal: AbortSignal,
  ) {
    this.bodyLimitBytes = gateway.config.server.body_limit_bytes;
  }

  now(): number {
    return Date.now();
  }

  complete(input: InferenceRequestInput): Promise<InferenceResponse> {
    return this.gateway.complete(input, this.callContext());
  }

  stream(input: InferenceRequestInput): AsyncIterable<GatewayStreamEvent> {
    return this.gateway.stream(input, this.callContext());
  }

  completeBatch(inputs: InferenceRequestInput[]): Promise<BatchItemResult[]> {
    return this.gateway.completeBatch(inputs, this.callContext());
  }

  embed(model: string, input: unknown): Promise<EmbeddingResult> {
    return this.gateway.embed(model, input, this.callContext());
  }

  /** The gateway's view of the call; the deadline header is read only by routes that hand a request to the gateway. */
  private callContext(): CallContext {
    const context: CallContext = { caller: this.caller, signal: this.signal, requestId: this.requestId, ...deadlineFromHeaders(this.request.headers) };
    this.dispatched = true;
    return context;
  }
}
