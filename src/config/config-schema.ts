/**
 * The configuration schema. Every key, its default and its unit live here; the README's
 * config reference follows this file.
 */
import { z } from 'zod';
import { ModelConfigSchema } from '../models/model-config.js';
import { ProviderConfigSchema } from '../models/provider-config.js';
import { RoutingStrategySchema } from '../models/routing-config.js';

const RateSchema = z.object({ rpm: z.number().int().positive(), tpm: z.number().int().positive() }).strict();

export const ServerConfigSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    /** Largest accepted request body, in bytes. */
    body_limit_bytes: z
      .number()
      .int()
      .positive()
      .default(4 * 1024 * 1024),
    /**
     * Anthropic streams: how long the face waits for the first token before it commits the stream
     * and sends `ping` events, and the longest silence between events after that, in milliseconds.
     */
    sse_ping_interval_ms: z.number().int().positive().default(10_000),
    /** How long shutdown waits for in-flight requests, in milliseconds. */
    shutdown_grace_ms: z.number().int().nonnegative().default(5_000),
    /**
     * Serve without API keys on a non-loopback address. Every caller then names its own agent and
     * tenant; off by default, when such a bind refuses to start (E4005).
     */
    allow_unauthenticated: z.boolean().default(false),
    /** A request's headers and body must both have arrived this long after it began, in milliseconds (else 408 E4513). */
    request_timeout_ms: z.number().int().positive().default(30_000),
    /** A request's headers must have arrived this long after it began, in milliseconds (at most `request_timeout_ms`). */
    headers_timeout_ms: z.number().int().positive().default(10_000),
    /** How long an idle keep-alive connection stays open, in milliseconds (longer than a load balancer's idle timeout). */
    keep_alive_timeout_ms: z.number().int().positive().default(65_000),
    /** Open connections per process; more are closed at once. */
    max_connections: z.number().int().positive().default(2048),
    /** Largest request head (request line and headers), in bytes (else 431 E4514). */
    max_header_bytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024)
      .default(16 * 1024),
    /** Old-space bound of every serving process, in MiB (`--max-old-space-size`); 0 leaves Node's default (a quarter of the machine's memory, up to 4 GB). */
    max_heap_mb: z.union([z.literal(0), z.number().int().min(64)]).default(512),
    /** Processes serving the port (node:cluster): a count, or `auto` for one per core. More than one needs Redis state. */
    workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default(1),
  })
  .strict()
  .refine((server) => server.headers_timeout_ms <= server.request_timeout_ms, {
    message: 'headers_timeout_ms must not exceed request_timeout_ms',
    path: ['headers_timeout_ms'],
  });

export const StateConfigSchema = z
  .object({
    /** `auto` uses Redis when it answers at start, else memory with one warning. */
    backend: z.enum(['auto', 'memory', 'redis']).default('auto'),
    /** A standalone Redis, or any node of a Redis Cluster (detected at start). */
    redis_url: z.string().default('redis://localhost:6379'),
    /** Seed nodes of a Redis Cluster; when given, the gateway connects as a cluster client and `redis_url` is not used. */
    redis_nodes: z
      .array(z.string().regex(/^rediss?:\/\/[^\s]+$/, 'a redis:// or rediss:// URL'))
      .max(64)
      .default([]),
    key_prefix: z.string().default('l04:'),
    /**
     * Longest silence of a Redis node while a command waits on it, in milliseconds: counted from the
     * write, judged after pending replies are read, extended while replies flow. Then the caller
     * falls back (or refuses, per `rate_limits.failure_mode`).
     */
    command_timeout_ms: z.number().int().positive().default(250),
    /** Bound on connecting to Redis (and on its first answer), in milliseconds. */
    connect_timeout_ms: z.number().int().positive().default(1_000),
    /** How often the watchdog PINGs every Redis node, in milliseconds; 0 turns it off. */
    watchdog_interval_ms: z.number().int().min(0).default(1_000),
    /** A node silent this long while a watchdog PING waits on it gets a fresh connection; also the longest wait of any command, in milliseconds. */
    watchdog_timeout_ms: z.number().int().positive().default(1_000),
  })
  .strict();

export const RoutingSectionSchema = z
  .object({
    strategy: RoutingStrategySchema.default('cost'),
    /** Most attempts (first try plus fallbacks) one request may make. */
    max_attempts: z.number().int().min(1).max(10).default(3),
  })
  .strict();

/**
 * `{provider: auto}`: Ollama's `nomic-embed-text` (the default) when an Ollama provider is
 * configured and has that model pulled at start, else the local lexical embedder.
 * `{provider: local}`: the local embedder. `{provider: <id>, model: <name>}`: that provider's model.
 */
export const EmbedderConfigSchema = z.union([
  z.object({ provider: z.literal('auto') }).strict(),
  z.object({ provider: z.literal('local'), dimensions: z.number().int().min(64).max(4096).default(512) }).strict(),
  /** `dimensions`: the vector length the model must return (checked at start); learned at start when absent. */
  z.object({ provider: z.string().min(1), model: z.string().min(1), dimensions: z.number().int().min(1).max(65_536).optional() }).strict(),
]);

export const CacheConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    scope: z.enum(['tenant', 'agent', 'global']).default('tenant'),
    ttl_s: z.number().int().positive().default(3600),
    similarity_threshold: z.number().min(0).max(1).default(0.85),
    /** Per-embedder thresholds, by `local`, model name or `<provider>/<model>`; `similarity_threshold` for the rest. */
    similarity_thresholds: z.record(z.string().min(1), z.number().min(0).max(1)).default({}),
    /** Semantic matching on or off (exact matching stays on). */
    semantic: z.boolean().default(true),
    /** Entries kept per partition before the oldest are evicted. */
    max_entries_per_partition: z.number().int().positive().default(10_000),
    /** Largest answer stored, in bytes of its serialized entry; larger answers are served but never cached. */
    max_entry_bytes: z
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
    embedder: EmbedderConfigSchema.default({ provider: 'auto' }),
  })
  .strict();

export const RateLimitsConfigSchema = z
  .object({
    agent_default: RateSchema.default({ rpm: 60, tpm: 100_000 }),
    /** Per-agent overrides, keyed by agent DID. */
    agents: z.record(z.string(), RateSchema).default({}),
    /** On a Redis failure: `open` decides with a per-process limiter, `closed` refuses with E4405. */
    failure_mode: z.enum(['open', 'closed']).default('open'),
  })
  .strict();

export const QueueConfigSchema = z
  .object({
    /** Requests waiting per provider before new ones get 503 E4404. */
    max_size: z.number().int().positive().default(1000),
    /** A waiting request gains one priority level per this many milliseconds (no starvation). */
    aging_ms: z.number().int().positive().default(10_000),
  })
  .strict();

export const CircuitBreakerConfigSchema = z
  .object({
    failure_threshold: z.number().int().positive().default(5),
    cooldown_s: z.number().positive().default(60),
    /** A half-open probe that takes longer than this fails, in milliseconds. */
    probe_timeout_ms: z.number().int().positive().default(30_000),
    /** Cool-down of a provider that says it is overloaded (529, Ollama busy) without a Retry-After, in milliseconds. */
    overload_cooldown_ms: z.number().int().positive().default(5_000),
    /** The longest cool-down a provider's Retry-After can impose, in seconds. */
    max_cooldown_s: z.number().positive().default(300),
    /** Redis backend: how often an instance with traffic re-reads the fleet's breaker state, in milliseconds. */
    sync_interval_ms: z.number().int().positive().default(250),
  })
  .strict();

export const HealthConfigSchema = z
  .object({
    /** Active checks on (`false` relies on live traffic only). */
    enabled: z.boolean().default(true),
    /** Window of the passive error rate, in seconds. */
    window_s: z.number().positive().default(60),
    /** Error rate at or above which a provider is degraded. */
    degraded_error_rate: z.number().min(0).max(1).default(0.2),
    /** Error rate at or above which a provider is unhealthy. */
    unhealthy_error_rate: z.number().min(0).max(1).default(0.5),
    /**
     * Bound on one active check, in milliseconds; stretched to `latency_factor` × the provider's
     * observed latency when that is longer, and never past the provider's `timeout_ms`.
     */
    check_timeout_ms: z.number().int().positive().default(5_000),
    /** How many times the provider's observed latency a check may take before it counts as no answer. */
    latency_factor: z.number().min(1).default(3),
    /** Seconds between checks while the provider's circuit is open or its last check failed. */
    recovery_interval_s: z.number().positive().default(2),
  })
  .strict();

export const ApiKeyConfigSchema = z
  .object({
    /** The key itself, or `sha256:<hex>` of it; only the hash is kept in memory. */
    key: z.string().min(16, 'API keys are at least 16 characters'),
    agent_did: z.string().min(1),
    tenant: z.string().min(1),
    rpm: z.number().int().positive().optional(),
    tpm: z.number().int().positive().optional(),
    /** Spend allowed per UTC day, in cents. */
    daily_budget_cents: z.number().nonnegative().optional(),
    /** May call admin routes (cache purge). */
    admin: z.boolean().default(false),
  })
  .strict();

export const AuthConfigSchema = z.object({ api_keys: z.array(ApiKeyConfigSchema).default([]) }).strict();

export const UsageConfigSchema = z
  .object({
    postgres_url: z.string().default(''),
    /** PostgreSQL schema of the ledger tables (created or migrated at start). */
    schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lowercase SQL identifier')
      .default('l04_usage'),
    /** Records per ledger insert. */
    batch_size: z.number().int().positive().default(200),
    /** Longest a record waits before its batch is written, in milliseconds. */
    flush_interval_ms: z.number().int().positive().default(1_000),
    /** Where records wait while PostgreSQL is unreachable. */
    spool_dir: z.string().default('.l04-spool'),
    /** Most records the spool holds. */
    spool_max_records: z.number().int().positive().default(1_000_000),
  })
  .strict();

export const LoggingConfigSchema = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Log prompts and completions (off by default: they may hold personal data). */
    log_content: z.boolean().default(false),
  })
  .strict();

/** The whole file. `providers` and `models` are maps keyed by id. */
export const GatewayConfigSchema = z
  .object({
    server: ServerConfigSchema.prefault({}),
    state: StateConfigSchema.prefault({}),
    providers: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'provider ids are lowercase letters, digits, _ or -'), ProviderConfigSchema).default({}),
    models: z
      .record(
        z.string().min(1).max(256),
        ModelConfigSchema.omit({ id: true }).extend({ provider_model: z.string().min(1).optional(), auto: z.boolean().optional() }),
      )
      .default({}),
    routing: RoutingSectionSchema.prefault({}),
    cache: CacheConfigSchema.prefault({}),
    rate_limits: RateLimitsConfigSchema.prefault({}),
    queue: QueueConfigSchema.prefault({}),
    circuit_breaker: CircuitBreakerConfigSchema.prefault({}),
    health: HealthConfigSchema.prefault({}),
    auth: AuthConfigSchema.prefault({}),
    usage: UsageConfigSchema.prefault({}),
    logging: LoggingConfigSchema.prefault({}),
  })
  .strict()
  // A mock model answers `model: auto` only when its config says `auto: true`: a canned answer must
  // never stand in for a real model by accident.
  .transform((config) => ({
    ...config,
    models: Object.fromEntries(
      Object.entries(config.models).map(([id, model]) => [id, { ...model, auto: model.auto ?? config.providers[model.provider]?.type !== 'mock' }]),
    ),
  }));

/** A config file as written. */
export type GatewayConfigInput = z.input<typeof GatewayConfigSchema>;
/** A validated config, defaults applied. */
export type GatewayConfig = z.output<typeof GatewayConfigSchema>;
export type CacheConfig = GatewayConfig['cache'];
export type RateLimitsConfig = GatewayConfig['rate_limits'];
export type CircuitBreakerConfig = GatewayConfig['circuit_breaker'];
export type QueueConfig = GatewayConfig['queue'];
export type HealthConfig = GatewayConfig['health'];
export type AuthConfig = GatewayConfig['auth'];
export type ApiKeyConfig = GatewayConfig['auth']['api_keys'][number];
export type UsageConfig = GatewayConfig['usage'];
export type StateConfig = GatewayConfig['state'];
export type LoggingConfig = GatewayConfig['logging'];
