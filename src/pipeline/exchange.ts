/**
 * One request on its way through the chain: the validated request with everything the steps share
 * (caller, arrival, deadline, token estimates, one abort signal), the facts steps add as they go
 * (rate-limit state, cache result, routing decision, attempts), and the settlement: steps register
 * what must happen once the request has ended (`defer`), and the chain's terminal or the runner
 * reports that end exactly once (`settle`). A streamed answer ends at its last event, not when its
 * first one is sent, so the same steps serve complete answers and streams.
 */
import type { GatewayError } from '../models/error-codes.js';
import type { CacheResult, CallerIdentity } from '../models/gateway-events.js';
import type { InferenceRequest } from '../models/inference-request.js';
import type { AttemptRecord, InferenceResponse, RateLimitInfo, TokenUsage } from '../models/inference-response.js';
import type { RegisteredModel } from '../models/model-config.js';
import type { RoutingDecision } from '../models/routing-config.js';

/** What the chain is asked to produce. */
export type Operation = 'chat' | 'embeddings';

/**
 * A validated request: its id (the gateway's own) and tenant are always known; the id the client
 * sent, if any, is `client_request_id`.
 */
export type ValidatedRequest = InferenceRequest & { request_id: string; tenant: string; client_request_id?: string };

/**
 * How a request ended, as every deferred listener sees it.
 * - `ok`: a complete answer (possibly from the cache).
 * - `error`: it failed before any content reached the caller, or a complete call failed.
 * - `truncated`: a stream that had started was cut (provider failure, deadline).
 * - `cancelled`: the caller went away while its answer was being produced.
 */
export interface Outcome {
  status: 'ok' | 'error' | 'truncated' | 'cancelled';
  response?: InferenceResponse;
  error?: GatewayError;
  /** The model that served, or the last one a provider was asked for. */
  model?: { id: string; provider: string };
  /**
   * Provider tokens to bill: the answer's usage; for a cut or cancelled stream, the input plus the
   * output actually relayed. Undefined when no provider spent anything (cache hits, refusals).
   */
  usage?: TokenUsage;
  /** Price of `usage` in US cents (0 when there is none). */
  costCents: number;
  /** Time from arrival to the first streamed content, in milliseconds. */
  timeToFirstTokenMs?: number;
}

/** Runs once a request has ended. Listeners must not throw; one that does is reported and skipped. */
export type SettleListener = (outcome: Outcome, exchange: Exchange) => void;

/** Everything `Exchange` is built from (see `validateRequest`). */
export interface ExchangeInit {
  operation: Operation;
  /** True when the caller reads the answer as a stream. */
  stream: boolean;
  request: ValidatedRequest;
  caller: CallerIdentity;
  /** Epoch milliseconds. */
  arrivalAt: number;
  /** The caller's hard deadline, epoch milliseconds; undefined when it set none (provider timeouts bound the calls). */
  deadlineAt: number | undefined;
  /** Estimated prompt tokens. */
  promptTokens: number;
  /** Prompt estimate + max output tokens: what admission reserves against the agent's token rate. */
  estimatedTokens: number;
  /** Aborts on caller disconnect (E4507) or at the hard deadline, when there is one (E4510). */
  signal: AbortSignal;
  /** For `embeddings`: the model asked for and the texts. */
  embedding?: { modelId: string; texts: string[] };
  /** Releases the deadline timer and the caller-signal listener. */
  dispose: () => void;
  /** Where a throwing listener is reported. */
  onListenerError: (error: unknown) => void;
}

/** One request and its shared state; see the file comment. */
export class Exchange {
  readonly operation: Operation;
  readonly stream: boolean;
  readonly request: ValidatedRequest;
  readonly caller: CallerIdentity;
  readonly arrivalAt: number;
  readonly deadlineAt: number | undefined;
  readonly promptTokens: number;
  readonly estimatedTokens: number;
  readonly signal: AbortSignal;
  readonly embedding: { modelId: string; texts: string[] } | undefined;

  /** Set by the agent-limits step once admitted. */
  rateLimit: RateLimitInfo | undefined;
  /** Set by the cache step. */
  cache: CacheResult = 'bypass';
  /** Cosine similarity of a semantic hit. */
  similarity: number | undefined;
  /** Set by the route step for chat requests. */
  decision: RoutingDecision | undefined;
  /** The models to try, in order; set by the route step. */
  candidates: readonly RegisteredModel[] = [];
  /** Every attempt the execute step made or skipped, in order. */
  readonly attempts: AttemptRecord[] = [];
  /** Time spent waiting on providers, in milliseconds (excluded from the overhead metric). */
  providerMs = 0;

  private readonly listeners: SettleListener[] = [];
  private readonly dispose: () => void;
  private readonly onListenerError: (error: unknown) => void;
  private outcome: Outcome | undefined;

  constructor(init: ExchangeInit) {
    this.operation = init.operation;
    this.stream = init.stream;
    this.request = init.request;
    this.caller = init.caller;
    this.arrivalAt = init.arrivalAt;
    this.deadlineAt = init.deadlineAt;
    this.promptTokens = init.promptTokens;
    this.estimatedTokens = init.estimatedTokens;
    this.signal = init.signal;
    this.embedding = init.embedding;
    this.dispose = init.dispose;
    this.onListenerError = init.onListenerError;
  }

  /** Whether the request has ended. */
  get settled(): boolean {
    return this.outcome !== undefined;
  }

  /**
   * Runs `listener` once the request has ended. Listeners run last-registered first, like
   * `finally` blocks: the step nearest the provider settles first, the outermost step last.
   * Registering after the end runs the listener at once.
   */
  defer(listener: SettleListener): void {
    if (this.outcome !== undefined) this.run(listener, this.outcome);
    else this.listeners.push(listener);
  }

  /** Reports how the request ended; the first report wins, later ones are ignored. */
  settle(outcome: Outcome): void {
    if (this.outcome !== undefined) return;
    this.outcome = outcome;
    this.dispose();
    for (let index = this.listeners.length - 1; index >= 0; index--) this.run(this.listeners[index] as SettleListener, outcome);
    this.listeners.length = 0;
  }

  private run(listener: SettleListener, outcome: Outcome): void {
    try {
      listener(outcome, this);
    } catch (error) {
      this.onListenerError(error);
    }
  }
}
