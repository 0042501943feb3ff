/**
 * The gateway: one request through the brief's steps — validate → agent rate limit → cache →
 * route → breaker-protected execution with fallbacks (each attempt through its provider's queue) →
 * cache store → accounting. It wires services together and holds no policy of its own: what each
 * step decides lives in that step's service.
 */
import { parseConfig } from '../config/load-config.js';
import type { GatewayConfig, GatewayConfigInput } from '../config/config-schema.js';
import { GatewayError, ValidationError, toGatewayError } from '../models/error-codes.js';
import type { InferenceRequest, InferenceRequestInput } from '../models/inference-request.js';
import type { InferenceResponse } from '../models/inference-response.js';
import type { ProviderHealth } from '../models/provider-config.js';
import type { ProviderAdapter, ProviderCall } from '../providers/base.js';
import { attemptAttributes, resultAttributes, tracedAttempt } from '../routing/attempt-tracing.js';
import { GENAI, recordSpanError, runInSpan, startSpan, withSpan } from '../observability/tracing.js';
import type { CacheLookup, CacheMiss } from '../cache/semantic-cache.js';
import type { AgentAdmission } from '../limits/rate-limiter.js';
import type { UsageQuery, UsageSummary } from '../accounting/usage-ledger.js';
import type { RegisteredModel } from '../routing/model-registry.js';
import { buildRuntime } from './build-runtime.js';
import { outcomeLabels } from '../observability/metrics.js';
import type { GatewayDependencies, GatewayRuntime } from './build-runtime.js';
import type { CacheResult, CallContext, GatewayStreamEvent } from '../models/gateway-events.js';
import { buildResponse, cachedResponse, embeddingModel, parseEmbeddingInputs, prepareCall } from './gateway-helpers.js';
import { readinessOf } from './readiness.js';
import type { Readiness } from './readiness.js';
import { relayCommitted, replayCached } from './stream-relay.js';
import type { StreamOutcome } from './stream-relay.js';
import type { CommittedStream } from '../routing/fallback-executor.js';
import type { RoutingDecision } from '../models/routing-config.js';
import type { PreparedCall } from './gateway-helpers.js';
import { dashboardSnapshot } from './dashboard-snapshot.js';
import type { DashboardSnapshot } from './dashboard-snapshot.js';

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

/** The L04 model gateway: `new ModelGateway(config)`, then `complete`, `stream`, `completeBatch`, `embed`. */
export class ModelGateway {
  /** The validated configuration, defaults applied. */
  readonly config: GatewayConfig;
  private readonly dependencies: GatewayDependencies;
  private runtime: GatewayRuntime | undefined;
  private starting: Promise<GatewayRuntime> | undefined;
  private closed = false;
  /** Errors whose request was already accounted (metrics, ledger, log line) by `finish`. */
  private readonly accounted = new WeakSet<GatewayError>();

  /** Validates the config (E4000 listing every bad path); nothing connects until `start()` or the first call. */
  constructor(config: GatewayConfigInput | GatewayConfig, dependencies: GatewayDependencies = {}) {
    this.config = parseConfig(config);
    this.dependencies = dependencies;
  }

  /** Connects state (Redis when configured and answering), the ledger, and starts health checks. Idempotent. */
  async start(): Promise<GatewayRuntime> {
    if (this.runtime !== undefined) return this.runtime;
    if (this.closed) throw new GatewayError('E4509');
    this.starting ??= buildRuntime(this.config, this.dependencies, (provider, model, texts, signal) => this.embedForCache(provider, model, texts, signal)).then(
      (runtime) => {
        this.runtime = runtime;
        return runtime;
      },
    );
    return this.starting;
  }

  /** Answers one request. Throws a `GatewayError` (E4xxx) on failure. */
  async complete(input: InferenceRequestInput, context: CallContext = {}): Promise<InferenceResponse> {
    const runtime = this.runtime ?? (await this.start());
    const call = this.prepare(runtime, input, context);
    return withSpan('l04.request', { 'l04.request_id': call.request.request_id, [GENAI.OPERATION_NAME]: 'chat' }, async () => {
      let admission: Extract<AgentAdmission, { allowed: true }> | undefined;
      let cache: CacheResult = 'bypass';
      let providerMs = 0;
      let attempts: InferenceResponse['metadata']['attempts'] = [];
      try {
        let lookup: CacheLookup | undefined;
        ({ admission, lookup } = await this.admitAndLookUp(runtime, call));
        cache = cacheResultOf(lookup);
        if (lookup !== undefined && lookup.hit !== false) {
          const response = cachedResponse(lookup.response, call, runtime.clock.now(), admission.info);
          void admission.reservation.settle(0); // off the response path; never throws
          this.finish(runtime, call, { response, cache, attempts, providerMs });
          return response;
        }
        const { decision, candidates } = this.route(runtime, call);
        const execution = await runtime.executor.complete(
          candidates,
          this.plan(call),
          (model, signal) =>
            withSpan('l04.provider.attempt', attemptAttributes(model, call), async (span) => {
              const result = await this.adapterFor(runtime, model).complete(this.providerCall(call, model, signal));
              span.setAttributes(resultAttributes(result.finishReason, result.usage));
              return result;
            }),
          (result) => result.usage.total_tokens,
        );
        attempts = execution.attempts;
        providerMs = execution.providerMs;
        const result = execution.value;
        const response = buildResponse(call, execution.model, result, { attempts, decision, cache, now: runtime.clock.now(), rateLimit: admission.info });
        void admission.reservation.settle(response.token_usage.total_tokens); // off the response path; never throws
        if (lookup !== undefined && lookup.hit === false) void runtime.cache?.store(lookup.miss, response);
        this.finish(runtime, call, { response, cache, attempts, providerMs });
        return response;
      } catch (error) {
        const gatewayError = toGatewayError(error);
        await admission?.reservation.release();
        this.finish(runtime, call, { error: gatewayError, cache, attempts: attemptsOf(gatewayError, attempts), providerMs });
        throw gatewayError;
      } finally {
        call.dispose();
      }
    });
  }

  /**
   * Streams one answer as typed events (see `GatewayStreamEvent`). Failures before the first
   * content reject the first `next()`; later ones arrive as one `error` event.
   */
  stream(input: InferenceRequestInput, context: CallContext = {}): AsyncIterable<GatewayStreamEvent> {
    return this.streamEvents(input, context);
  }

  private async *streamEvents(input: InferenceRequestInput, context: CallContext): AsyncGenerator<GatewayStreamEvent> {
    const runtime = this.runtime ?? (await this.start());
    const call = this.prepare(runtime, input, context);
    // A stream's request span lives until its last event; the steps before the commit nest under it.
    const span = startSpan('l04.request', { 'l04.request_id': call.request.request_id, 'l04.stream': true, [GENAI.OPERATION_NAME]: 'chat' });
    const finish = (outcome: StreamOutcome): void => {
      if (outcome.error !== undefined) recordSpanError(span, outcome.error);
      this.finish(runtime, call, outcome, true);
    };
    let admission: Extract<AgentAdmission, { allowed: true }> | undefined;
    let cache: CacheResult = 'bypass';
    try {
      // Everything up to the commit may still fail as a plain error (and fall back).
      let committed:
        { stream: CommittedStream; decision: RoutingDecision; miss: CacheMiss | undefined } | { hit: Extract<CacheLookup, { hit: 'exact' | 'semantic' }> };
      try {
        committed = await runInSpan(span, async () => {
          let lookup: CacheLookup | undefined;
          ({ admission, lookup } = await this.admitAndLookUp(runtime, call));
          cache = cacheResultOf(lookup);
          if (lookup !== undefined && lookup.hit !== false) return { hit: lookup };
          const { decision, candidates } = this.route(runtime, call);
          const stream = await runtime.executor.stream(candidates, this.plan(call), (model, signal) =>
            tracedAttempt(model, call, this.adapterFor(runtime, model).stream(this.providerCall(call, model, signal))),
          );
          return { stream, decision, miss: lookup?.miss };
        });
      } catch (error) {
        const gatewayError = toGatewayError(error);
        await admission?.reservation.release();
        finish({ error: gatewayError, cache, attempts: attemptsOf(gatewayError, []), providerMs: 0 });
        throw gatewayError;
      }
      // Assigned inside the closure above (TypeScript cannot see it): a commit implies an admission.
      const base = { runtime, call, admission: admission as Extract<AgentAdmission, { allowed: true }>, finish };
      if ('hit' in committed) yield* replayCached({ ...base, hit: committed.hit });
      else yield* relayCommitted({ ...base, ...committed, cache });
    } finally {
      call.dispose();
      span.end();
    }
  }

  /** Answers many requests, each with its own priority and deadline; results in input order. */
  async completeBatch(inputs: InferenceRequestInput[], context: CallContext = {}): Promise<BatchItemResult[]> {
    if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > MAX_BATCH_SIZE) {
      throw new ValidationError('E4500', `Invalid request: requests must hold 1 to ${MAX_BATCH_SIZE} items`, { param: 'requests' });
    }
    return Promise.all(
      inputs.map(async (input, index): Promise<BatchItemResult> => {
        try {
          return { index, ok: true, response: await this.complete(input, context) };
        } catch (error) {
          return { index, ok: false, error: toGatewayError(error).toJSON() };
        }
      }),
    );
  }

  /** Embeds texts with an embedding model, through the agent's limits, the breaker and micro-batching. */
  async embed(modelId: string, inputs: unknown, context: CallContext & { agent_did?: string; request_id?: string } = {}): Promise<EmbeddingResult> {
    const runtime = this.runtime ?? (await this.start());
    const texts = parseEmbeddingInputs(inputs);
    const model = embeddingModel(runtime.registry, modelId);
    const call = this.prepare(
      runtime,
      {
        ...(context.request_id === undefined ? {} : { request_id: context.request_id }),
        agent_did: context.caller?.agent_did ?? context.agent_did ?? 'did:l04:anonymous',
        logical_prompt: { messages: [{ role: 'user', content: texts.join('\n') }] },
        requirements: { max_output_tokens: 1 },
      },
      context,
    );
    let admission: Extract<AgentAdmission, { allowed: true }> | undefined;
    try {
      admission = await this.admit(runtime, call);
      const execution = await runtime.executor.complete(
        [model],
        this.plan(call),
        (target, signal) => runtime.batcher.embed(target.provider, target.provider_model, texts, signal),
        (value) => value.usage.input_tokens,
      );
      void admission.reservation.settle(execution.value.usage.input_tokens);
      const result = { request_id: call.request.request_id, model_id: model.id, provider: model.provider, ...execution.value };
      const response = buildResponse(
        call,
        model,
        {
          content: '',
          toolCalls: [],
          finishReason: 'stop',
          rawFinishReason: undefined,
          usage: { input_tokens: result.usage.input_tokens, output_tokens: 0, total_tokens: result.usage.input_tokens },
        },
        { attempts: execution.attempts, decision: undefined, cache: 'bypass', now: runtime.clock.now(), rateLimit: admission.info },
      );
      this.finish(runtime, call, { response, cache: 'bypass', attempts: execution.attempts, providerMs: execution.providerMs }, false, 'embeddings');
      return result;
    } catch (error) {
      const gatewayError = toGatewayError(error);
      await admission?.reservation.release();
      this.finish(runtime, call, { error: gatewayError, cache: 'bypass', attempts: attemptsOf(gatewayError, []), providerMs: 0 }, false, 'embeddings');
      throw gatewayError;
    } finally {
      call.dispose();
    }
  }

  /** Every registered model with its availability. */
  async listModels(): Promise<RegisteredModel[]> {
    return (this.runtime ?? (await this.start())).registry.list();
  }

  /** Each provider's health, circuit state and live-traffic signals. */
  async providerHealth(): Promise<ReturnType<GatewayRuntime['health']['snapshot']>> {
    return (this.runtime ?? (await this.start())).health.snapshot();
  }

  /** Runs every provider's health check now (the CLI's `check`). */
  async checkProviders(): Promise<ProviderHealth[]> {
    return (this.runtime ?? (await this.start())).health.checkNow();
  }

  /** Whether requests can be served, and the state of each dependency (Redis, ledger, providers). */
  async readiness(): Promise<Readiness> {
    return readinessOf(this.runtime ?? (await this.start()), this.closed);
  }

  /** Prometheus text; queue depths are sampled at scrape time. */
  async metrics(): Promise<{ contentType: string; body: string }> {
    const runtime = this.runtime ?? (await this.start());
    for (const [provider, queue] of runtime.queues) {
      for (const [priority, depth] of Object.entries(queue.depth())) runtime.metrics.setQueueDepth(provider, priority as InferenceRequest['priority'], depth);
    }
    return { contentType: runtime.metrics.contentType, body: await runtime.metrics.metrics() };
  }

  /** Deletes a tenant's cache entries; returns how many. */
  async purgeCache(tenant: string): Promise<number> {
    const runtime = this.runtime ?? (await this.start());
    return runtime.cache === undefined ? 0 : runtime.cache.purge(tenant);
  }

  /** Spend and tokens from the usage ledger. */
  async usage(query: UsageQuery): Promise<UsageSummary> {
    return (this.runtime ?? (await this.start())).ledger.query(query);
  }

  // ---- Operator dashboard -------------------------------------------------------------------
  /**
   * The operator dashboard's figures in one call: each provider's health, latency, circuit state
   * and queue depth; requests, errors, latency percentiles, cache results and refusals over the
   * last 15 minutes, with the latest errors; and today's spend and tokens per tenant, agent and
   * model from the ledger (an unreadable ledger is reported inside `usage`, not thrown).
   */
  async dashboard(): Promise<DashboardSnapshot> {
    return dashboardSnapshot(this.runtime ?? (await this.start()));
  }
  // ---------------------------------------------------------------------------------------------

  /** Stops health checks, flushes the ledger (or spools it) and closes connections. */
  async close(): Promise<void> {
    this.closed = true;
    const runtime = this.runtime ?? (this.starting === undefined ? undefined : await this.starting);
    await runtime?.close();
  }

  /** Validates and stamps a request (see `prepareCall`); refuses new work once closed. */
  private prepare(runtime: GatewayRuntime, input: InferenceRequestInput, context: CallContext): PreparedCall {
    if (this.closed) throw new GatewayError('E4509');
    return prepareCall(input, context, runtime.clock, runtime.idGenerator);
  }

  /** Spend budget, then the agent's request and token limits (E4403, E4400, E4401). */
  private async admit(runtime: GatewayRuntime, call: PreparedCall): Promise<Extract<AgentAdmission, { allowed: true }>> {
    return withSpan('l04.rate_limit', {}, async () => {
      const caller = call.caller;
      if (caller.daily_budget_cents !== undefined) {
        try {
          await runtime.spend.check(caller);
        } catch (error) {
          runtime.metrics.rateLimited('spend', 'budget');
          throw error;
        }
      }
      const admission = await runtime.limiter.admitAgent(caller.agent_did, call.estimatedTokens, { rpm: caller.rpm, tpm: caller.tpm });
      if (!admission.allowed) {
        runtime.metrics.rateLimited('agent', admission.error.code === 'E4401' ? 'tokens' : 'requests');
        throw admission.error;
      }
      return admission;
    });
  }

  /**
   * The brief's first two steps, rate limit then cache, with their Redis round trips overlapped:
   * the lookup has no effect of its own, so it runs beside the admission and its result is used
   * (and counted) only once the request is admitted.
   */
  private async admitAndLookUp(
    runtime: GatewayRuntime,
    call: PreparedCall,
  ): Promise<{ admission: Extract<AgentAdmission, { allowed: true }>; lookup: CacheLookup | undefined }> {
    const pending = this.lookupCache(runtime, call);
    const admission = await this.admit(runtime, call);
    const lookup = await pending;
    if (lookup !== undefined) runtime.metrics.cacheLookup(lookup.hit === false ? (lookup.reason === 'miss' ? 'miss' : lookup.reason) : lookup.hit);
    return { admission, lookup };
  }

  /** The cache lookup, or `undefined` when the cache is off. Never throws. */
  private async lookupCache(runtime: GatewayRuntime, call: PreparedCall): Promise<CacheLookup | undefined> {
    const cache = runtime.cache;
    if (cache === undefined) return undefined;
    return withSpan('l04.cache.lookup', {}, () => cache.lookup(call.request, { tenant: call.caller.tenant, agent: call.caller.agent_did }));
  }

  private route(runtime: GatewayRuntime, call: PreparedCall): { decision: ReturnType<GatewayRuntime['router']['route']>; candidates: RegisteredModel[] } {
    const span = startSpan('l04.route', { [GENAI.OPERATION_NAME]: 'chat' });
    try {
      const selection = runInSpan(span, () => runtime.router.select(call.request, call.promptTokens));
      span.setAttribute(GENAI.REQUEST_MODEL, selection.decision.model_id);
      return selection;
    } catch (error) {
      recordSpanError(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  private plan(call: PreparedCall): { priority: InferenceRequest['priority']; deadlineAt: number; tokens: number; signal: AbortSignal } {
    return { priority: call.request.priority, deadlineAt: call.deadlineAt, tokens: call.estimatedTokens, signal: call.signal };
  }

  private providerCall(call: PreparedCall, model: RegisteredModel, signal: AbortSignal): ProviderCall {
    return {
      requestId: call.request.request_id,
      model,
      prompt: call.request.logical_prompt,
      maxOutputTokens: Math.min(call.request.requirements.max_output_tokens, model.max_output_tokens),
      minContextLength: call.request.requirements.min_context_length,
      signal,
      deadlineAt: call.deadlineAt,
    };
  }

  private adapterFor(runtime: GatewayRuntime, model: RegisteredModel): ProviderAdapter {
    const adapter = runtime.adapters.get(model.provider);
    if (adapter === undefined) throw new GatewayError('E4004', `No adapter for provider "${model.provider}"`);
    return adapter;
  }

  /** The provider-layer embedding path the semantic cache uses: breaker and micro-batching, no agent limits. */
  private async embedForCache(provider: string, model: string, texts: string[], signal?: AbortSignal): Promise<number[][]> {
    const runtime = this.runtime ?? (await this.start());
    const target = runtime.registry.list().find((entry) => entry.provider === provider && (entry.provider_model === model || entry.id === model));
    const synthetic: RegisteredModel = target ?? { ...embeddingModelDefaults, id: `${provider}/${model}`, provider, provider_model: model };
    const deadlineAt = runtime.clock.now() + (this.config.providers[provider]?.timeout_ms ?? 30_000);
    const execution = await runtime.executor.complete(
      [synthetic],
      { priority: 'high', deadlineAt, tokens: 0, signal: signal ?? new AbortController().signal },
      (entry, attemptSignal) => runtime.batcher.embed(entry.provider, entry.provider_model, texts, attemptSignal),
    );
    return execution.value.embeddings;
  }

  /** Counts a request the HTTP layer refused before the gateway accounted it (bad body, route, auth); a no-op for accounted errors. */
  recordRefusal(error: GatewayError, durationS: number): void {
    if (this.accounted.has(error)) return;
    this.runtime?.metrics.recordRequest({ model: 'none', provider: 'none', cache: 'bypass', ...outcomeLabels(error) }, durationS);
  }

  private finish(runtime: GatewayRuntime, call: PreparedCall, outcome: StreamOutcome, stream = false, operation = 'chat'): void {
    if (outcome.error !== undefined) this.accounted.add(outcome.error);
    runtime.accounting.record({
      ...outcome,
      request: call.request,
      caller: call.caller,
      arrivalAt: call.arrivalAt,
      endedAt: runtime.clock.now(),
      stream,
      operation,
    });
  }
}

const embeddingModelDefaults: Omit<RegisteredModel, 'id' | 'provider' | 'provider_model'> = {
  capabilities: ['embeddings'],
  context_length: 8192,
  max_output_tokens: 1,
  input_cost_per_1k_cents: 0,
  output_cost_per_1k_cents: 0,
  expected_latency_ms: 1000,
  quality: 50,
  available: true,
};

function cacheResultOf(lookup: CacheLookup | undefined): CacheResult {
  if (lookup === undefined) return 'bypass';
  if (lookup.hit !== false) return lookup.hit;
  return lookup.reason === 'miss' ? 'miss' : 'bypass';
}

function attemptsOf(error: GatewayError, fallback: InferenceResponse['metadata']['attempts']): InferenceResponse['metadata']['attempts'] {
  const attempts = error.details.attempts;
  return Array.isArray(attempts) ? (attempts as InferenceResponse['metadata']['attempts']) : fallback;
}
