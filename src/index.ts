/**
 * L04 Model Gateway — the public API. Everything exported here is supported; anything else is
 * internal and may change.
 */
export { ModelGateway, MAX_BATCH_SIZE } from './gateway/model-gateway.js';
export type { BatchItemResult, EmbeddingResult } from './gateway/model-gateway.js';
export type { Readiness } from './gateway/readiness.js';
export type { GatewayDependencies } from './gateway/build-runtime.js';
export type { CacheResult, CallContext, CallerIdentity, GatewayStreamEvent } from './models/gateway-events.js';
export { GatewayServer } from './server/http-server.js';
export type { GatewayServerOptions } from './server/http-server.js';
export { ApiKeyAuthenticator, hashApiKey } from './server/auth.js';
export type { Principal } from './server/auth.js';

export { DEFAULT_CONFIG_PATH, loadConfigFile, parseConfig, parseConfigText } from './config/load-config.js';
export { GatewayConfigSchema } from './config/config-schema.js';
export type { GatewayConfig, GatewayConfigInput } from './config/config-schema.js';

export * from './models/error-codes.js';
export {
  InferenceRequestSchema,
  LogicalPromptSchema,
  ModelRequirementsSchema,
  RequestConstraintsSchema,
  parseInferenceRequest,
  CAPABILITIES,
  PRIORITIES,
} from './models/inference-request.js';
export type {
  Capability,
  ContentPart,
  InferenceRequest,
  InferenceRequestInput,
  LogicalPrompt,
  Message,
  ModelRequirements,
  Priority,
  RequestConstraints,
  ToolCall,
  ToolDefinition,
} from './models/inference-request.js';
export type { AttemptRecord, FinishReason, InferenceResponse, ResponseMetadata, TokenUsage } from './models/inference-response.js';
export { ModelConfigSchema, costCents } from './models/model-config.js';
export type { ModelCapabilities, ModelConfig } from './models/model-config.js';
export type { HealthStatus, ProviderConfig, ProviderHealth, ProviderType } from './models/provider-config.js';
export type { ExcludedCandidate, RoutingDecision, RoutingStrategy } from './models/routing-config.js';

export type { EmbedCall, EmbedResult, ProviderAdapter, ProviderCall, ProviderResult, StreamPart } from './providers/base.js';
export { MockAdapter } from './providers/mock-adapter.js';
export type { MockFailure } from './providers/mock-adapter.js';
export { OllamaAdapter } from './providers/ollama-adapter.js';
export { OpenAIAdapter } from './providers/openai-adapter.js';
export { AnthropicAdapter } from './providers/anthropic-adapter.js';
export { createAdapter } from './providers/create-adapter.js';

export { ModelRegistry } from './routing/model-registry.js';
export type { RegisteredModel } from './routing/model-registry.js';
export { LLMRouter } from './routing/llm-router.js';
export { CircuitBreaker, CircuitBreakerRegistry } from './resilience/circuit-breaker.js';
export { ProviderHealthMonitor } from './resilience/provider-health.js';
export { RateLimiter, rateLimitHeaders } from './limits/rate-limiter.js';
export { RequestQueue } from './resilience/request-queue.js';
export { SemanticCache } from './cache/semantic-cache.js';
export { GatewayMetrics } from './observability/metrics.js';
export { createLogger } from './observability/logger.js';
export { systemClock } from './util/clock.js';
export type { Clock, TimerHandle } from './util/clock.js';
export type { DashboardProvider, DashboardSnapshot, DashboardUsage } from './gateway/dashboard-snapshot.js';
export type { ActivityBucket, ActivitySnapshot, LatencyPercentiles, RecentError } from './observability/activity-window.js';
export type { UsageByModel, UsageGroup, UsageGroupBy, UsageQuery, UsageRefusals, UsageSummary, UsageTotals } from './accounting/usage-ledger.js';
