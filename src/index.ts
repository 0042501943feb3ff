/**
 * L04 Model Gateway — the public API: the facade and its HTTP service, the configuration, the data
 * types, the errors, and the ports a user may implement (a provider adapter, a usage ledger, a
 * clock). Everything exported here is supported; anything else is internal and may change.
 */
export { ModelGateway, MAX_BATCH_SIZE } from './gateway/model-gateway.js';
export type { BatchItemResult, EmbeddingResult } from './gateway/model-gateway.js';
export type { Readiness } from './gateway/readiness.js';
export type { GatewayDependencies } from './gateway/build-runtime.js';
export type { ProviderHealthSnapshot } from './resilience/provider-health.js';
export { GatewayServer } from './server/http-server.js';
export type { GatewayServerOptions } from './server/http-server.js';
export { hashApiKey } from './server/auth.js';

export { DEFAULT_CONFIG_PATH, loadConfigFile, parseConfig, parseConfigText } from './config/load-config.js';
export { GatewayConfigSchema } from './config/config-schema.js';
export type { GatewayConfig, GatewayConfigInput } from './config/config-schema.js';

export * from './models/error-codes.js';
export type { CacheResult, CallContext, CallerIdentity, GatewayStreamEvent } from './models/gateway-events.js';
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
export type { AttemptRecord, FinishReason, InferenceResponse, RateLimitInfo, ResponseMetadata, TokenUsage } from './models/inference-response.js';
export { ModelConfigSchema, costCents } from './models/model-config.js';
export type { ModelCapabilities, ModelConfig, RegisteredModel } from './models/model-config.js';
export type { HealthStatus, ProviderConfig, ProviderHealth, ProviderType } from './models/provider-config.js';
export type { ExcludedCandidate, RoutingDecision, RoutingStrategy } from './models/routing-config.js';

// Ports: implement these to plug in a provider, a ledger or a clock (see `GatewayDependencies`).
export type { EmbedCall, EmbedResult, HealthCheckOptions, ProviderAdapter, ProviderCall, ProviderResult, StreamPart } from './providers/base.js';
export { MockAdapter } from './providers/mock-adapter.js';
export type { MockFailure } from './providers/mock-adapter.js';
export type {
  UsageByModel,
  UsageGroup,
  UsageGroupBy,
  UsageLedger,
  UsageLedgerHealth,
  UsageQuery,
  UsageRecord,
  UsageRefusals,
  UsageSummary,
  UsageTotals,
} from './accounting/usage-ledger.js';
export { systemClock } from './util/clock.js';
export type { Clock, IdGenerator, Random, TimerHandle } from './util/clock.js';
export type { DashboardProvider, DashboardSnapshot, DashboardUsage } from './gateway/dashboard-snapshot.js';
export type { ActivityBucket, ActivitySnapshot, LatencyPercentiles, RecentError } from './observability/activity-window.js';
