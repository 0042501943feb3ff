/** What every route handler receives. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BatchItemResult, EmbeddingResult, ModelGateway } from '../gateway/model-gateway.js';
import type { CallerIdentity, GatewayStreamEvent } from '../models/gateway-events.js';
import type { InferenceRequestInput } from '../models/inference-request.js';
import type { InferenceResponse } from '../models/inference-response.js';

/**
 * One HTTP request on its way through a route. A face hands its translated request to the gateway
 * through `complete`, `stream`, `completeBatch` or `embed`, which carry the caller and the client's
 * abort signal; from then on the gateway accounts the request, and the server counts only refusals
 * raised before it (`dispatched` false).
 */
export interface RouteContext {
  /** For the routes that read the gateway's state (models, usage, health, admin). */
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
  /** True once the request was handed to the gateway. */
  readonly dispatched: boolean;
  complete(request: InferenceRequestInput): Promise<InferenceResponse>;
  stream(request: InferenceRequestInput): AsyncIterable<GatewayStreamEvent>;
  completeBatch(requests: InferenceRequestInput[]): Promise<BatchItemResult[]>;
  embed(model: string, input: unknown): Promise<EmbeddingResult>;
}
