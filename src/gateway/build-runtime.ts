/**
 * Builds every component of a gateway from a validated config: adapters, breakers, health monitor,
 * registry, router, limiter, queues, executor, cache, spend tracker, ledger, accounting, metrics
 * and logger. The state backend is chosen here (`auto`: Redis when it answers at start, else memory
 * with one loud warning). The request chain over these components is assembled in `request-chain.ts`.
 */
import { randomUUID } from 'node:crypto';
import type { GatewayConfig } from '../config/config-schema.js';
import { configSecrets } from '../config/config-secrets.js';
import { ConfigurationError } from '../models/error-codes.js';
import { createAdapter } from '../providers/create-adapter.js';
import type { ProviderAdapter } from '../providers/base.js';
import { systemClock } from '../util/clock.js';
import type { Clock, IdGenerator, Random } from '../util/clock.js';
import { randomRequestId } from '../util/ids.js';
import { RedisConnection } from '../state/redis-connection.js';
import { MemoryRateLimitStore } from '../limits/memory-rate-limit-store.js';
import { RedisRateLimitStore } from '../limits/redis-rate-limit-store.js';
import { MemoryCacheStore } from '../cache/memory-cache-store.js';
import { RedisCacheStore } from '../cache/redis-cache-store.js';
import { MemorySpendStore } from '../limits/memory-spend-store.js';
import { RedisSpendStore } from '../limits/redis-spend-store.js';
import { PostgresUsageLedger } from '../accounting/postgres-usage-ledger.js';
import { GatewayMetrics } from '../observability/metrics.js';
import { createLogger } from '../observability/logger.js';
import type { Logger } from '../observability/logger.js';
import { ModelRegistry } from '../routing/model-registry.js';
import { CircuitBreakerRegistry } from '../resilience/circuit-breaker.js';
import { RedisProviderStateStore } from '../resilience/redis-provider-state-store.js';
import { ProviderHealthMonitor } from '../resilience/provider-health.js';
import { LLMRouter } from '../routing/llm-router.js';
import { RateLimiter } from '../limits/rate-limiter.js';
import { RequestQueue } from '../resilience/request-queue.js';
import { EmbedBatcher } from '../routing/embed-batcher.js';
import { SemanticCache } from '../cache/semantic-cache.js';
import { LocalEmbedder } from '../cache/embedders/local-embedder.js';
import { ProviderEmbedder } from '../cache/embedders/provider-embedder.js';
import { CheckedEmbedder } from '../cache/embedders/embedder-check.js';
import type { Embedder } from '../cache/embedders/embedder.js';
import { SpendTracker } from '../limits/spend-tracker.js';
import { MemoryUsageLedger } from '../accounting/usage-ledger.js';
import type { UsageLedger } from '../accounting/usage-ledger.js';
import { FallbackExecutor } from '../routing/fallback-executor.js';
import { RequestAccounting } from '../accounting/request-accounting.js';
import { providerEmbedding } from '../routing/provider-embedding.js';
import type { ProviderEmbedFunction } from '../routing/provider-embedding.js';
import { ActivityWindow } from '../observability/activity-window.js';

/** What may be injected instead of being built from config (tests, embedding applications). */
export interface GatewayDependencies {
  clock?: Clock;
  random?: Random;
  idGenerator?: IdGenerator;
  logger?: Logger;
  metrics?: GatewayMetrics;
  /** Adapters by provider id, replacing those the config would build. */
  adapters?: ReadonlyMap<string, ProviderAdapter>;
  /** A connected Redis, instead of `state.redis_url`. */
  redis?: RedisConnection;
  ledger?: UsageLedger;
  /** Start active health checks (default true; tests may turn them off). */
  healthChecks?: boolean;
}

/** The built components. Internal: the facade hands none of them out. */
export interface GatewayRuntime {
  readonly config: GatewayConfig;
  readonly clock: Clock;
  readonly idGenerator: IdGenerator;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly adapters: ReadonlyMap<string, ProviderAdapter>;
  readonly registry: ModelRegistry;
  readonly breakers: CircuitBreakerRegistry;
  readonly health: ProviderHealthMonitor;
  readonly router: LLMRouter;
  readonly limiter: RateLimiter;
  readonly queues: ReadonlyMap<string, RequestQueue>;
  readonly batcher: EmbedBatcher;
  readonly executor: FallbackExecutor;
  readonly cache: SemanticCache | undefined;
  readonly spend: SpendTracker;
  readonly ledger: UsageLedger;
  readonly accounting: RequestAccounting;
  /** The last 15 minutes of requests, for the dashboard. */
  readonly activity: ActivityWindow;
  readonly redis: RedisConnection | undefined;
  /** `memory` or `redis`: where shared state lives. */
  readonly stateBackend: 'memory' | 'redis';
  /** Closes what the runtime owns. */
  close(): Promise<void>;
}

/** Builds the runtime, each component from the ones below it (no component calls back into a later one). */
export async function buildRuntime(config: GatewayConfig, dependencies: GatewayDependencies): Promise<GatewayRuntime> {
  const clock = dependencies.clock ?? systemClock;
  const random = dependencies.random ?? Math.random;
  const logger = dependencies.logger ?? createLogger({ level: config.logging.level, logContent: config.logging.log_content, secrets: configSecrets(config) });
  const metrics = dependencies.metrics ?? new GatewayMetrics({ collectDefault: true });
  const adapters =
    dependencies.adapters ?? new Map(Object.entries(config.providers).map(([id, provider]) => [id, createAdapter({ ...provider, id }, { clock })]));

  const redis = dependencies.redis ?? (await connectState(config, logger));
  const stateBackend = redis === undefined ? 'memory' : 'redis';
  const redisReady = (): boolean => redis?.isReady() ?? false;

  // Provider state (breakers, cool-downs, health-check leases and results): shared by the fleet on Redis.
  const providerState = buildProviderState(config, redis, redisReady);
  const breakers = new CircuitBreakerRegistry({
    ...providerState.breakerOptions,
    clock,
    onTransition: (provider, from, to) => {
      logger.warn({ provider, from, to }, 'circuit breaker transition');
      metrics.setCircuitState(provider, to);
    },
  });
  const expectedModels = modelsByProvider(config);
  const health = new ProviderHealthMonitor({
    adapters,
    expectedModels: (provider) => expectedModels.get(provider) ?? [],
    config: config.health,
    intervalMs: (provider) => (config.providers[provider]?.health_interval_s ?? 30) * 1000,
    providerTimeoutMs: (provider) => config.providers[provider]?.timeout_ms ?? Infinity,
    ...providerState.healthOptions,
    clock,
    random,
    breakers,
    onChange: (provider, from, to, snapshot) => {
      logger.warn({ provider, from, to, message: snapshot.message, hints: snapshot.hints }, 'provider health changed');
      metrics.setProviderUp(provider, to !== 'unhealthy');
    },
  });
  // A model is missing when its provider cannot be called at all (no key) or its last check did not list it.
  const registry = ModelRegistry.fromConfig(config, {
    missingReason: (model) => adapters.get(model.provider)?.unconfiguredReason ?? health.missingReason(model.provider, model.provider_model),
  });
  const router = new LLMRouter({ registry, strategy: config.routing.strategy, health, breakers });

  const limiter = new RateLimiter({
    store: redis === undefined ? new MemoryRateLimitStore({ clock }) : new RedisRateLimitStore({ connection: redis }),
    fallback: new MemoryRateLimitStore({ clock }),
    isPrimaryReady: redis === undefined ? undefined : redisReady,
    config: config.rate_limits,
    clock,
    onModeChange: (mode) =>
      logger.warn({ mode }, mode === 'fallback' ? 'rate limits decided per process: Redis unavailable' : 'rate limits shared through Redis again'),
  });
  const queues = new Map(
    Object.entries(config.providers).map(([id, provider]) => [
      id,
      new RequestQueue({
        provider: id,
        maxConcurrency: provider.max_concurrency,
        maxSize: config.queue.max_size,
        agingMs: config.queue.aging_ms,
        clock,
        ...(provider.rpm === undefined && provider.tpm === undefined
          ? {}
          : { quota: (tokens: number) => limiter.takeProvider(id, { rpm: provider.rpm, tpm: provider.tpm }, tokens) }),
      }),
    ]),
  );
  const batcher = new EmbedBatcher({
    windowMs: 2,
    maxBatch: 64,
    clock,
    embed: async (provider, model, inputs, signal) => {
      const adapter = adapters.get(provider);
      if (adapter === undefined) throw new ConfigurationError('E4004', `No adapter for provider "${provider}"`);
      return adapter.embed({ model, inputs, signal, deadlineAt: clock.now() + (config.providers[provider]?.timeout_ms ?? 30_000) });
    },
  });
  const executor = new FallbackExecutor({
    breakers,
    queueFor: (provider) => {
      const queue = queues.get(provider);
      if (queue === undefined) throw new ConfigurationError('E4004', `No queue for provider "${provider}"`);
      return queue;
    },
    observer: health,
    maxAttempts: config.routing.max_attempts,
    clock,
  });

  const embed = providerEmbedding({ executor, batcher, registry, clock, timeoutMs: (provider) => config.providers[provider]?.timeout_ms ?? 30_000 });
  const cache = config.cache.enabled
    ? new SemanticCache({
        store: redis === undefined ? new MemoryCacheStore() : new RedisCacheStore({ connection: redis }),
        embedder: config.cache.semantic
          ? new CheckedEmbedder(await buildEmbedder(config, adapters, logger, embed), { warn: (details, message) => logger.warn(details, message) })
          : undefined,
        config: config.cache,
        clock,
        // Lookups are counted by the cache step; this only logs what went wrong.
        onError: (error) => logger.warn({ code: error.code, err: error }, 'cache error: bypassed for this request'),
      })
    : undefined;

  const spend = new SpendTracker({
    store: redis === undefined ? new MemorySpendStore({ clock }) : new RedisSpendStore({ connection: redis }),
    fallback: new MemorySpendStore({ clock }),
    clock,
    isPrimaryReady: redis === undefined ? undefined : redisReady,
  });
  const ledger = dependencies.ledger ?? (await buildLedger(config, clock, logger));
  const activity = new ActivityWindow({ clock });
  const accounting = new RequestAccounting({ metrics, logger, ledger, spend, clock, logContent: config.logging.log_content, activity });

  for (const id of adapters.keys()) {
    metrics.setCircuitState(id, 'closed');
    metrics.setProviderUp(id, true);
  }
  if (dependencies.healthChecks !== false && config.health.enabled) health.start();

  return {
    config,
    clock,
    idGenerator: dependencies.idGenerator ?? randomRequestId,
    logger,
    metrics,
    adapters,
    registry,
    breakers,
    health,
    router,
    limiter,
    queues,
    batcher,
    executor,
    cache,
    spend,
    ledger,
    accounting,
    activity,
    redis,
    stateBackend,
    async close() {
      health.stop();
      breakers.stop();
      await ledger.close(3_000);
      await Promise.all([...adapters.values()].map((adapter) => adapter.close()));
      if (dependencies.redis === undefined) await redis?.close();
    },
  };
}

/** The breakers' options and the health monitor's shared store: Redis when the state is, else each process alone. */
function buildProviderState(config: GatewayConfig, redis: RedisConnection | undefined, isReady: () => boolean) {
  const section = config.circuit_breaker;
  const policy = { failureThreshold: section.failure_threshold, cooldownMs: section.cooldown_s * 1000, probeTimeoutMs: section.probe_timeout_ms };
  const instanceId = randomUUID();
  const shared = redis === undefined ? undefined : { store: new RedisProviderStateStore({ connection: redis, policy }), isReady };
  const withShared = shared === undefined ? {} : { shared };
  return {
    breakerOptions: {
      ...policy,
      overloadCooldownMs: section.overload_cooldown_ms,
      maxCooldownMs: section.max_cooldown_s * 1000,
      syncIntervalMs: section.sync_interval_ms,
      instanceId,
      ...withShared,
    },
    healthOptions: { instanceId, ...withShared },
  };
}

/** The provider model names configured on each provider (what active checks look for). */
function modelsByProvider(config: GatewayConfig): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [id, model] of Object.entries(config.models)) {
    const names = out.get(model.provider) ?? [];
    names.push(model.provider_model ?? id);
    out.set(model.provider, names);
  }
  return out;
}

/** `auto`: Redis when it answers at start, else memory with one loud warning. */
async function connectState(config: GatewayConfig, logger: Logger): Promise<RedisConnection | undefined> {
  if (config.state.backend === 'memory') return undefined;
  const state = config.state;
  const connection = new RedisConnection({
    url: state.redis_url,
    nodes: state.redis_nodes,
    keyPrefix: state.key_prefix,
    commandTimeoutMs: state.command_timeout_ms,
    connectTimeoutMs: state.connect_timeout_ms,
    watchdogIntervalMs: state.watchdog_interval_ms,
    watchdogTimeoutMs: state.watchdog_timeout_ms,
    onStateChange: (up) =>
      up
        ? logger.info({ redis: 'up', mode: connection.mode }, 'Redis connected')
        : logger.warn({ redis: 'down' }, 'Redis unavailable: shared state falls back per process'),
    onReconnect: (reason) => logger.warn({ redis: 'reconnecting', reason }, 'Redis stopped answering: the watchdog opened a fresh connection'),
  });
  if (await connection.connect()) return connection;
  if (config.state.backend === 'redis') {
    logger.warn(
      { redis_url: config.state.redis_url },
      'Redis is not answering; it is the configured backend, so the gateway keeps retrying and decides per process meanwhile',
    );
    return connection;
  }
  await connection.close();
  logger.warn(
    { redis_url: config.state.redis_url },
    'Redis is not answering: state is kept in memory, per process (limits and cache are not shared between instances)',
  );
  return undefined;
}

/** The default embedding model, used by `cache.embedder: {provider: auto}` when Ollama has it. */
const AUTO_EMBEDDING_MODEL = 'nomic-embed-text';

/** Chooses the cache embedder; `auto` asks the first Ollama provider whether nomic-embed-text is pulled. */
async function buildEmbedder(
  config: GatewayConfig,
  adapters: ReadonlyMap<string, ProviderAdapter>,
  logger: Logger,
  embed: ProviderEmbedFunction,
): Promise<Embedder> {
  const embedder = config.cache.embedder;
  if (embedder.provider === 'local') return new LocalEmbedder({ dimensions: 'dimensions' in embedder ? embedder.dimensions : undefined });
  if ('model' in embedder)
    return new ProviderEmbedder({
      id: `${embedder.provider}/${embedder.model}`,
      model: embedder.model,
      dimensions: embedder.dimensions,
      embed: (texts, signal) => embed(embedder.provider, embedder.model, texts, signal),
    });
  const ollama = Object.entries(config.providers).find(([, provider]) => provider.type === 'ollama')?.[0];
  const health = ollama === undefined ? undefined : await adapters.get(ollama)?.healthCheck({ expectedModels: [AUTO_EMBEDDING_MODEL] });
  if (ollama !== undefined && health?.models?.[AUTO_EMBEDDING_MODEL] === true) {
    logger.info({ embedder: `${ollama}/${AUTO_EMBEDDING_MODEL}` }, 'semantic cache embeds with Ollama');
    return new ProviderEmbedder({
      id: `${ollama}/${AUTO_EMBEDDING_MODEL}`,
      model: AUTO_EMBEDDING_MODEL,
      embed: (texts, signal) => embed(ollama, AUTO_EMBEDDING_MODEL, texts, signal),
    });
  }
  logger.info({ embedder: 'local' }, `semantic cache embeds locally (lexical): ${AUTO_EMBEDDING_MODEL} is not available on Ollama`);
  return new LocalEmbedder();
}

async function buildLedger(config: GatewayConfig, clock: Clock, logger: Logger): Promise<UsageLedger> {
  if (config.usage.postgres_url === '') return new MemoryUsageLedger();
  const ledger = new PostgresUsageLedger({
    url: config.usage.postgres_url,
    batchSize: config.usage.batch_size,
    flushIntervalMs: config.usage.flush_interval_ms,
    spoolDir: config.usage.spool_dir,
    spoolMaxRecords: config.usage.spool_max_records,
    schema: config.usage.schema,
    clock,
    onStateChange: (up) =>
      up
        ? logger.info({ postgres: 'up' }, 'usage ledger connected')
        : logger.warn({ postgres: 'down' }, 'usage ledger unreachable: records are spooled locally'),
    onDrop: (count) => logger.error({ dropped: count }, 'usage spool full: records dropped'),
  });
  await ledger.start();
  return ledger;
}
