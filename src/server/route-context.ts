/** What every route handler receives. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ModelGateway } from '../gateway/model-gateway.js';
import type { CallerIdentity } from '../models/gateway-events.js';

/** One HTTP request on its way through a route. */
export interface RouteContext {
  gateway: ModelGateway;
  request: IncomingMessage;
  response: ServerResponse;
  /** Parsed URL (path and query). */
  url: URL;
  /** The id in `x-l04-request-id`, also the gateway's request id. */
  requestId: string;
  /** The authenticated caller (API key, or `x-agent-did` in development mode). */
  caller: CallerIdentity & { admin: boolean };
  /** Aborts when the client disconnects before the answer is complete. */
  signal: AbortSignal;
  bodyLimitBytes: number;
  /** Epoch milliseconds (the gateway's clock). */
  now(): number;
}
