/**
 * The gateway's facade: `new ModelGateway(config)`, then `complete`, `stream`, `completeBatch`,
 * `embed`. Every request is validated into an exchange and run through the one request chain
 * (`request-chain.ts`); the facade holds no policy of its own and hands out no internal component:
 * what it returns are values and snapshots.
 */
import { parseConfig } from '../config/load-config.js';
import type { GatewayConfig, GatewayConfigInput } from '../config/config-schema.js';
import { GatewayError, InternalError, ValidationError, toGatewayError } from '../models/error-codes.js';
import type { CallContext, GatewayStreamEvent } from '../models/gateway-events.js';
import type { InferenceRequest, InferenceRequestInput } from '../models/inference-request.js';
import type { InferenceResponse } from '../models/inference-response.js';
import type { RegisteredModel } from '../models/model-config.js';
import type { ProviderHealth } from '../models/provider-config.js';
import { GENAI, recordSpanError, runInSpan, startSpan } from '../observability/tracing.js';
import type { Chain } from '../pipeline/compose.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { Reply } from '../pipeline/reply.js';
import { replayResponse } from '../pipeline/replay.js';
import type { ProviderHealthSnapshot } from '../resilience/provider-health.js';
import type { UsageQuery, UsageSummary } from '../accounting/usage-ledger.js';
import { buildRuntime } from './build-runtime.js';
import type { GatewayDependencies, GatewayRuntime } from './build-runtime.js';
import { readinessOf } from './readiness.js';
import type { Readiness } from './readiness.js';
import { buildRequestChain } from './request-chain.js';
import { validateEmbedding, validateRequest } from './validate-request.js';
import type { ValidationContext } from './validate-request.js';
import { dashboardSnapshot } from './dashboard-snapshot.js';
import type { DashboardSnapshot } from './dashboard-snapshot.js';
import { merged } from '../util/merged.js';

/** One item of `completeBatch`: the answer or the error, in input order. */
export type BatchItemResult =
  { index: number; ok: true; response: InferenceResponse } | { index: number; ok: false; error: ReturnType<GatewayError['toJSON']> };

/** The result of `embed`. */
export interface EmbeddingResult {
  request_id: string;
  model_id: string;
  provider: string;
  embeddings: number[][];
  usage: { input_tokens: number };
}

/** Most requests one `completeBatch` call may carry. */
export const MAX_BATCH_SIZE = 100;

interface Started {
  runtime: GatewayRuntime;
  chain: Chain;
  validation: ValidationContext;
}

/** The L04 model gateway: `new ModelGateway(config)`, then `complete`, `stream`, `completeBatch`, `embed`. */
export class ModelGateway {
  /** The validated configuration, defaults applied (frozen). */
  readonly config: GatewayConfig;
  private readonly dependencies: GatewayDependencies;
  private started: Started | undefined;
  private starting: Promise<Started> | undefined;
  private closed = false;

  /** Validates the config (E4000 listing every bad path); nothing connects until `start()` or the first call. */
  constructor(config: GatewayConfigInput | GatewayConfig, dependencies: GatewayDependencies = {}) {
    this.config = deepFreeze(parseConfig(config));
    this.dependencies = dependencies;
  }

  /** Connects state (Redis when configured and answering), the ledger, and starts health checks. Idempotent. */
  async start(): Promise<void> {
    await this.ready();
  }

  /** Answers one request. Throws a `GatewayError` (E4xxx) on failure. */
  async complete(input: InferenceRequestInput, context: CallContext = {}): Promise<InferenceResponse> {
    // Once started, the request is stamped synchronously: its arrival is the moment of the call.
    const started = this.started ?? (await this.ready());
    const exchange = this.validate(started, () => validateRequest(input, context, merged(started.validation, { stream: false })));
    const reply = await this.run(started, exchange);
    return expect(reply, 'response').response;
  }

  /**
   * Streams one answer as typed events (see `GatewayStreamEvent`). Failures before the first
   * content reject the first `next()`; later ones arrive as one `error` event.
   */
  stream(input: InferenceRequestInput, context: CallContext = {}): AsyncIterable<GatewayStreamEvent> {
    return this.streamEvents(input, context);
  }

  /** Answers many requests, each with its own priority and deadline; results in input order. */
  async completeBatch(inputs: InferenceRequestInput[], context: CallContext = {}): Promise<BatchItemResult[]> {
    const started = await this.ready();
    if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > MAX_BATCH_SIZE) {
      throw this.refuse(started, new ValidationError('E4500', `Invalid request: requests must hold 1 to ${MAX_BATCH_SIZE} items`, { param: 'requests' }));
    }
    return Promise.all(
      inputs.map(async (input, index): Promise<BatchItemResult> => {
        // Each item is a request of its own: a front end's id becomes one id per item.
        const itemContext = context.requestId === undefined ? context : { ...context, requestId: `${context.requestId}-${index}` };
        try {
          return { index, ok: true, response: await this.complete(input, itemContext) };
        } catch (error) {
          return { index, ok: false, error: toGatewayError(error).toJSON() };
        }
      }),
    );
  }

  /** Embeds texts with an embedding model, through the agent's limits, the breaker and micro-batching. */
  async embed(modelId: string, inputs: unknown, context: CallContext & { agent_did?: string } = {}): Promise<EmbeddingResult> {
    const started = this.started ?? (await this.ready());
    const exchange = this.validate(started, () => validateEmbedding(modelId, inputs, context, started.validation));
    const reply = expect(await this.run(started, exchange), 'embeddings');
    return {
      request_id: exchange.request.request_id,
      model_id: reply.model.id,
      provider: reply.model.provider,
      embeddings: reply.embeddings,
      usage: { input_tokens: reply.usage.input_tokens },
    };
  }

  /** Every registered model with its availability now — credentials, provider health, circuit state (snapshots). */
  async listModels(): Promise<RegisteredModel[]> {
    return (await this.ready()).runtime.router.models();
  }

  /** Each provider's health, circuit state and live-traffic signals. */
  async providerHealth(): Promise<ProviderHealthSnapshot[]> {
    return (await this.ready()).runtime.health.snapshot();
  }

  /** Runs every provider's health check now (the CLI's `check`). */
  async checkProviders(): Promise<ProviderHealth[]> {
    return (await this.ready()).runtime.health.checkNow();
  }

  /** Whether requests can be served, and the state of each dependency (Redis, ledger, providers). */
  async readiness(): Promise<Readiness> {
    return readinessOf((await this.ready()).runtime, this.closed);
  }

  /** Prometheus text; queue depths are sampled at scrape time. */
  async metrics(): Promise<{ contentType: string; body: string }> {
    const { runtime } = await this.ready();
    for (const [provider, queue] of runtime.queues) {
      for (const [priority, depth] of Object.entries(queue.depth())) runtime.metrics.setQueueDepth(provider, priority as InferenceRequest['priority'], depth);
    }
    return { contentType: runtime.metrics.contentType, body: await runtime.metrics.metrics() };
  }

  /** Deletes a tenant's cache entries; returns how many. */
  async purgeCache(tenant: string): Promise<number> {
    const { runtime } = await this.ready();
    return runtime.cache === undefined ? 0 : runtime.cache.purge(tenant);
  }

  /** Spend and tokens from the usage ledger. */
  async usage(query: UsageQuery): Promise<UsageSummary> {
    return (await this.ready()).runtime.ledger.query(query);
  }

  /**
   * Counts a request that a front end (the HTTP service, or your own) refused before handing it to
   * the gateway: a malformed body, an unknown route, a failed authentication. Requests that reached
   * `complete`, `stream`, `completeBatch` or `embed` are counted by the gateway itself.
   */
  recordRefusal(error: GatewayError, durationS: number): void {
    this.started?.runtime.accounting.recordRefusal(error, durationS);
  }

  /**
   * The operator dashboard's figures in one call: each provider's health, latency, circuit state
   * and queue depth; requests, errors, latency percentiles, cache results and refusals over the
   * last 15 minutes, with the latest errors; and today's spend and tokens per tenant, agent and
   * model from the ledger (an unreadable ledger is reported inside `usage`, not thrown).
   */
  async dashboard(): Promise<DashboardSnapshot> {
    return dashboardSnapshot((await this.ready()).runtime);
  }

  /** Stops health checks, flushes the ledger (or spools it) and closes connections. */
  async close(): Promise<void> {
    this.closed = true;
    const started = this.started ?? (this.starting === undefined ? undefined : await this.starting);
    await started?.runtime.close();
  }

  private async *streamEvents(input: InferenceRequestInput, context: CallContext): AsyncGenerator<GatewayStreamEvent> {
    const started = this.started ?? (await this.ready());
    const exchange = this.validate(started, () => validateRequest(input, context, merged(started.validation, { stream: true })));
    const reply = await this.run(started, exchange);
    // A complete answer (a cache hit) is told as a stream; it was settled when the chain returned it.
    if (reply.type === 'response') yield* replayResponse(reply.response, exchange.cache, exchange.similarity);
    else yield* expect(reply, 'stream').events;
  }

  private async ready(): Promise<Started> {
    if (this.started !== undefined) return this.started;
    if (this.closed) throw new GatewayError('E4509');
    this.starting ??= buildRuntime(this.config, this.dependencies).then((runtime) => {
      const started: Started = {
        runtime,
        chain: buildRequestChain(runtime),
        validation: {
          clock: runtime.clock,
          idGenerator: runtime.idGenerator,
          onListenerError: (error) => runtime.logger.error({ err: error }, 'a settle listener threw; the request is accounted without it'),
        },
      };
      this.started = started;
      return started;
    });
    return this.starting;
  }

  /** Validation, the chain's first step; a refusal here is counted like every other. */
  private validate(started: Started, build: () => Exchange): Exchange {
    try {
      if (this.closed) throw new GatewayError('E4509');
      return build();
    } catch (error) {
      throw this.refuse(started, toGatewayError(error));
    }
  }

  private refuse(started: Started, error: GatewayError): GatewayError {
    started.runtime.accounting.recordRefusal(error, 0);
    return error;
  }

  /** Runs the chain under the request's span, which ends when the request has (streams: at their last event). */
  private run(started: Started, exchange: Exchange): Promise<Reply> {
    const span = startSpan('l04.request', {
      'l04.request_id': exchange.request.request_id,
      ...(exchange.stream ? { 'l04.stream': true } : {}),
      [GENAI.OPERATION_NAME]: exchange.operation,
    });
    exchange.defer((outcome) => {
      if (outcome.error !== undefined) recordSpanError(span, outcome.error);
      span.end();
    });
    return runInSpan(span, () => started.chain(exchange));
  }
}

/**
 * The runtime behind a gateway, started if need be. Internal: for the gateway's own tests and
 * benchmarks; not exported from the package.
 */
export function internalRuntime(gateway: ModelGateway): Promise<GatewayRuntime> {
  return gateway['ready']().then((started) => started.runtime);
}

function expect<T extends Reply['type']>(reply: Reply, type: T): Extract<Reply, { type: T }> {
  if (reply.type !== type) throw new InternalError('E4900', `The request chain answered ${reply.type} where ${type} was expected`);
  return reply as Extract<Reply, { type: T }>;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
