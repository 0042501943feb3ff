/**
 * Routing by need. For `model: auto` every registered model goes through five steps: (1) required capabilities, explicit and implied by the prompt; (2) context
 * window and output limit; (3) provider health, circuit state and model availability; (4) the
 * request's constraints — estimated cost, expected latency, preferred providers; (5) a sort by the
 * configured strategy with a deterministic tie-break. The answer is the chosen model, the rest of
 * the ranked candidates as its fallback chain, and every other model with the reason it was left out.
 *
 * The checks that do not change from one minute to the next (capability, context, output limit,
 * cost, configured latency) run before the ones that do (availability, health, circuit, observed
 * latency), so each excluded model is reported with its most lasting reason, and the two errors
 * mean what they say: E4100 (422) when no model could ever serve the request as asked, E4101 (503,
 * retryable) when some could but none can right now. The set of candidates is the same in any order.
 *
 * Synchronous and allocation-light: it runs on every request.
 */
import { CircuitOpenError, ProviderError, RoutingError } from '../models/error-codes.js';
import type { Capability, InferenceRequest, LogicalPrompt } from '../models/inference-request.js';
import { costCents } from '../models/model-config.js';
import type { HealthStatus } from '../models/provider-config.js';
import type { ExcludedCandidate, RoutingDecision, RoutingStrategy } from '../models/routing-config.js';
import { estimatePromptTokens } from '../util/token-estimate.js';
import type { CircuitStateName } from '../resilience/circuit-breaker.js';
import type { ModelRegistry, RegisteredModel } from './model-registry.js';
import { merged } from '../util/merged.js';

/** Options of an `LLMRouter`. */
export interface LLMRouterOptions {
  registry: ModelRegistry;
  /** `routing.strategy` from config. */
  strategy: RoutingStrategy;
  /** Usually the `ProviderHealthMonitor`. */
  health: { status(provider: string): HealthStatus; observedLatencyMs(modelId: string): number | undefined };
  /**
   * Usually the `CircuitBreakerRegistry`. `probeInFlight` (when the breaker reports it) tells a
   * half-open circuit waiting for its probe from one whose probe is out.
   */
  breakers: { get(provider: string): { state: CircuitStateName; probeInFlight?: boolean; coolDownMs?: number; snapshot?(): { retry_after_ms: number } } };
}

/** A decision together with the registered models it names, in attempt order (chosen model first). */
export interface RouteSelection {
  decision: RoutingDecision;
  candidates: RegisteredModel[];
}

/** What a request needs, computed once per request. */
interface Need {
  capabilities: Capability[];
  minContextLength: number;
  maxOutputTokens: number;
  inputTokens: number;
  maxCostCents: number;
  maxLatencyMs: number;
  preferredProviders: string[];
}

interface Candidate {
  model: RegisteredModel;
  costCents: number;
  latencyMs: number;
  halfOpen: number;
  /** Index in `preferred_providers`; their count for a provider not listed. */
  preference: number;
  degraded: number;
}

/** Chooses a model and its fallbacks for a request. */
export class LLMRouter {
  private readonly options: LLMRouterOptions;

  constructor(options: LLMRouterOptions) {
    this.options = options;
  }

  /**
   * The routing decision for `request`. Throws E4102 for an unknown pinned model, E4100 when no
   * model can satisfy the requirements (the message gives each model's reason), E4101 when some
   * could but all of those are unavailable right now.
   */
  route(request: InferenceRequest): RoutingDecision {
    return this.select(request).decision;
  }

  /**
   * Every registered model as routing sees it now (snapshots): available only when the registry
   * (operator, credentials, the provider's model list), the provider's health and its circuit all
   * allow it, with the reason when not.
   */
  models(): RegisteredModel[] {
    return this.options.registry.list().map((model) => {
      const breaker = this.options.breakers.get(model.provider);
      const exclusion = currentExclusion(model, this.options.health.status(model.provider), circuitView(breaker.state, breaker.probeInFlight), 0, ANY_LATENCY);
      return exclusion === undefined || !model.available ? model : merged(model, { available: false, unavailable_reason: exclusion.detail });
    });
  }

  /**
   * `route`, plus the registered models of the decision in attempt order (for the fallback
   * executor). `inputTokens` is the prompt estimate when the caller has already made it.
   */
  select(request: InferenceRequest, inputTokens?: number): RouteSelection {
    const need = needOf(request, inputTokens);
    if (request.model_id !== undefined) return this.pinned(request.model_id, need);
    const candidates: Candidate[] = [];
    const excluded: ExcludedCandidate[] = [];
    let unavailable: ExcludedCandidate[] | undefined; // models that could serve, but not right now
    for (const model of this.options.registry.list()) {
      if (!model.auto) {
        excluded.push({ model_id: model.id, reason: 'pinned_only', detail: 'answers only requests that name it (auto: false)' });
        continue;
      }
      const observedMs = this.options.health.observedLatencyMs(model.id);
      const cost = costCents(model, need.inputTokens, need.maxOutputTokens);
      const lasting = lastingExclusion(model, need, cost, observedMs);
      if (lasting !== undefined) {
        excluded.push(lasting);
        continue;
      }
      const latencyMs = observedMs ?? model.expected_latency_ms;
      const breaker = this.options.breakers.get(model.provider);
      const circuit = circuitView(breaker.state, breaker.probeInFlight, breaker.coolDownMs);
      const status = this.options.health.status(model.provider);
      const current = currentExclusion(model, status, circuit, latencyMs, need);
      if (current !== undefined) {
        excluded.push(current);
        (unavailable ??= []).push(current);
        continue;
      }
      const preference = need.preferredProviders.indexOf(model.provider);
      candidates.push({
        model,
        costCents: cost,
        latencyMs,
        halfOpen: circuit === 'probing' ? 1 : 0,
        preference: preference === -1 ? need.preferredProviders.length : preference,
        degraded: status === 'degraded' && circuit !== 'probe_due' ? 1 : 0,
      });
    }
    const first = candidates.sort(comparatorFor(this.options.strategy))[0];
    if (first === undefined) throw unavailable === undefined ? unsatisfiableError(excluded) : unavailableError(excluded, unavailable);
    const fallbacks: string[] = [];
    const models: RegisteredModel[] = [];
    for (const candidate of candidates) {
      models.push(candidate.model);
      if (candidate !== first) fallbacks.push(candidate.model.id);
    }
    return {
      decision: {
        model_id: first.model.id,
        provider: first.model.provider,
        strategy: this.options.strategy,
        fallbacks,
        excluded,
        estimated_cost_cents: first.costCents,
        estimated_input_tokens: need.inputTokens,
      },
      candidates: models,
    };
  }

  /**
   * A pinned model bypasses selection — no cost, latency or context filter, and no fallbacks: the
   * caller asked for this model, and silently answering with another (different price, quality or
   * data location) would be worse than failing. It does not bypass what makes it unable to serve:
   * a capability the request needs gives E4100 so the caller learns why; an unavailable model,
   * unhealthy provider gives E4101, and an open circuit E4700 with its Retry-After. A half-open circuit is let through: the
   * breaker decides whether this request is its probe (and an unhealthy provider due for a probe
   * is let through for the same reason as in auto routing; see `circuitView`).
   */
  private pinned(modelId: string, need: Need): RouteSelection {
    const model = this.options.registry.get(modelId);
    const capability = capabilityExclusion(model, need) ?? minContextExclusion(model, need);
    if (capability !== undefined) {
      throw new RoutingError('E4100', `Model "${modelId}" cannot serve this request: ${capability.detail}`, {
        param: 'model',
        details: { model_id: modelId, excluded: [capability] },
      });
    }
    // A prompt that cannot fit is refused before any call, with the numbers, not sent to fail upstream.
    if (need.inputTokens > model.context_length) {
      throw new ProviderError(
        'E4207',
        `The prompt (about ${need.inputTokens} tokens) does not fit the context window of model "${modelId}" (${model.context_length} tokens)`,
        { param: 'messages', details: { model_id: modelId, estimated_input_tokens: need.inputTokens, context_length: model.context_length } },
      );
    }
    const status = this.options.health.status(model.provider);
    const breaker = this.options.breakers.get(model.provider);
    if (breaker.state === 'open') {
      // The rule: while a circuit is open, requests go to fallbacks, or fail with E4700 when there are none.
      throw new CircuitOpenError('E4700', `The circuit for provider ${model.provider} is open, and pinned model "${modelId}" has no fallback`, {
        param: 'model',
        details: { model_id: modelId, provider: model.provider },
        retryAfterMs: breaker.snapshot?.().retry_after_ms,
      });
    }
    const coolDownMs = breaker.coolDownMs ?? 0;
    if (coolDownMs > 0) {
      throw new CircuitOpenError('E4701', `Provider ${model.provider} asked the gateway to back off, and pinned model "${modelId}" has no fallback`, {
        param: 'model',
        details: { model_id: modelId, provider: model.provider },
        retryAfterMs: coolDownMs,
      });
    }
    const current = currentExclusion(model, status, circuitView(breaker.state, breaker.probeInFlight), 0, need);
    if (current !== undefined) {
      throw new RoutingError('E4101', `Model "${modelId}" is unavailable right now: ${current.detail}`, {
        param: 'model',
        details: { model_id: modelId, excluded: [current] },
      });
    }
    const cost = costCents(model, need.inputTokens, Math.min(need.maxOutputTokens, model.max_output_tokens));
    return {
      decision: {
        model_id: model.id,
        provider: model.provider,
        strategy: this.options.strategy,
        fallbacks: [],
        excluded: [],
        estimated_cost_cents: cost,
        estimated_input_tokens: need.inputTokens,
      },
      candidates: [model],
    };
  }
}

/** Capabilities the request needs: those it lists, plus those its prompt implies. */
export function requiredCapabilities(request: Pick<InferenceRequest, 'requirements' | 'logical_prompt'>): Capability[] {
  const needed: Capability[] = [];
  for (const capability of request.requirements.capabilities) if (!needed.includes(capability)) needed.push(capability);
  const prompt = request.logical_prompt;
  if (!needed.includes('vision') && hasImage(prompt)) needed.push('vision');
  if (!needed.includes('tool_use') && usesTools(prompt)) needed.push('tool_use');
  const format = prompt.response_format?.type;
  if (!needed.includes('json_mode') && (format === 'json_object' || format === 'json_schema')) needed.push('json_mode');
  return needed;
}

function needOf(request: InferenceRequest, inputTokens = estimatePromptTokens(request.logical_prompt)): Need {
  return {
    capabilities: requiredCapabilities(request),
    minContextLength: request.requirements.min_context_length,
    maxOutputTokens: request.requirements.max_output_tokens,
    inputTokens,
    maxCostCents: request.constraints.max_cost_cents,
    maxLatencyMs: request.constraints.max_latency_ms,
    preferredProviders: request.constraints.preferred_providers,
  };
}

function hasImage(prompt: LogicalPrompt): boolean {
  for (const message of prompt.messages) {
    if (message.role !== 'user' || typeof message.content === 'string') continue;
    for (const part of message.content) if (part.type === 'image') return true;
  }
  return false;
}

/** Tool definitions, or a history with tool calls or results, need a model that speaks tools. */
function usesTools(prompt: LogicalPrompt): boolean {
  if (prompt.tools !== undefined && prompt.tools.length > 0) return true;
  for (const message of prompt.messages) {
    if (message.role === 'tool' || (message.role === 'assistant' && message.tool_calls !== undefined && message.tool_calls.length > 0)) return true;
  }
  return false;
}

/**
 * Whether `model` has `capability`. Every model that is not embeddings-only serves text and
 * streams (every adapter implements `stream`), so `text` and `streaming` need not be listed.
 */
function hasCapability(model: RegisteredModel, capability: Capability): boolean {
  if (model.capabilities.includes(capability)) return true;
  return (capability === 'text' || capability === 'streaming') && !isEmbeddingsOnly(model);
}

function isEmbeddingsOnly(model: RegisteredModel): boolean {
  return model.capabilities.includes('embeddings') && !model.capabilities.includes('text');
}

function capabilityExclusion(model: RegisteredModel, need: Need): ExcludedCandidate | undefined {
  if (isEmbeddingsOnly(model)) return { model_id: model.id, reason: 'capability', detail: 'embeddings-only model, cannot chat' };
  let missing: Capability[] | undefined;
  for (const capability of need.capabilities) {
    if (!hasCapability(model, capability)) (missing ??= []).push(capability);
  }
  return missing === undefined ? undefined : { model_id: model.id, reason: 'capability', detail: `lacks ${missing.join(', ')}` };
}

/**
 * Reasons that hold until the configuration or the request changes: capability, context, output
 * limit, cost, and a configured latency over the limit (unless traffic has shown the model faster).
 */
function minContextExclusion(model: RegisteredModel, need: Need): ExcludedCandidate | undefined {
  if (model.context_length >= need.minContextLength) return undefined;
  return { model_id: model.id, reason: 'context', detail: `context window ${model.context_length} < min_context_length ${need.minContextLength}` };
}

function lastingExclusion(model: RegisteredModel, need: Need, cost: number, observedMs: number | undefined): ExcludedCandidate | undefined {
  const capability = capabilityExclusion(model, need) ?? minContextExclusion(model, need);
  if (capability !== undefined) return capability;
  if (model.context_length < need.inputTokens + need.maxOutputTokens) {
    return {
      model_id: model.id,
      reason: 'context',
      detail: `context window ${model.context_length} < estimated prompt ${need.inputTokens} + max_output_tokens ${need.maxOutputTokens} tokens`,
    };
  }
  if (need.maxOutputTokens > model.max_output_tokens) {
    return { model_id: model.id, reason: 'max_output', detail: `max_output_tokens ${need.maxOutputTokens} > model limit ${model.max_output_tokens}` };
  }
  if (cost > need.maxCostCents) {
    return { model_id: model.id, reason: 'cost', detail: `estimated cost ${formatCents(cost)} > max_cost_cents ${need.maxCostCents}` };
  }
  if (model.expected_latency_ms > need.maxLatencyMs && (observedMs === undefined || observedMs > need.maxLatencyMs)) {
    return { model_id: model.id, reason: 'latency', detail: `expected latency ${model.expected_latency_ms} ms > max_latency_ms ${need.maxLatencyMs}` };
  }
  return undefined;
}

/**
 * How the router sees a circuit. A half-open circuit waiting for its probe (`probe_due`) ranks like
 * a closed one and is tried even when the provider reads unhealthy: the probe is how the gateway
 * learns the provider is back, it costs one request, and that request falls back if it fails.
 * Ranked last instead, it would only be probed once every better candidate failed — never, while
 * they are healthy — and the provider would never recover. A half-open circuit whose probe is out
 * (`probing`; also any half-open breaker that does not say) ranks last: it refuses everyone else.
 */
type CircuitView = 'closed' | 'open' | 'probe_due' | 'probing' | 'cooling_down';

/** A provider cooling down (it answered 429 with Retry-After, or is overloaded) is left out like an open circuit. */
function circuitView(state: CircuitStateName, probeInFlight: boolean | undefined, coolDownMs = 0): CircuitView {
  if (coolDownMs > 0) return 'cooling_down';
  if (state !== 'half_open') return state;
  return probeInFlight === false ? 'probe_due' : 'probing';
}

/** A need that accepts any latency: `models()` asks whether a model can serve at all. */
const ANY_LATENCY = { maxLatencyMs: Infinity } as Need;

/** Reasons that may pass by themselves: model not available, provider unhealthy, circuit open, observed latency. */
function currentExclusion(model: RegisteredModel, status: HealthStatus, circuit: CircuitView, latencyMs: number, need: Need): ExcludedCandidate | undefined {
  if (!model.available) return { model_id: model.id, reason: 'unavailable', detail: model.unavailable_reason ?? 'model unavailable' };
  if (status === 'unhealthy' && circuit !== 'probe_due') return { model_id: model.id, reason: 'health', detail: `provider ${model.provider} is unhealthy` };
  if (circuit === 'open') return { model_id: model.id, reason: 'circuit', detail: `circuit open for provider ${model.provider}` };
  if (circuit === 'cooling_down')
    return { model_id: model.id, reason: 'circuit', detail: `provider ${model.provider} asked the gateway to back off (cool-down)` };
  if (latencyMs > need.maxLatencyMs) {
    return { model_id: model.id, reason: 'latency', detail: `observed latency ${Math.round(latencyMs)} ms > max_latency_ms ${need.maxLatencyMs}` };
  }
  return undefined;
}

const COMPARATORS: Record<RoutingStrategy, (a: Candidate, b: Candidate) => number> = {
  cost: (a, b) => a.costCents - b.costCents,
  latency: (a, b) => a.latencyMs - b.latencyMs,
  quality: (a, b) => b.model.quality - a.model.quality,
};

/**
 * Half-open circuits whose probe is out last (they refuse every request but the probe), then the
 * caller's preferred providers in their order, then healthy before degraded, then the strategy,
 * then quality (higher first), cost, latency and model id, so that equal candidates always rank alike.
 */
function comparatorFor(strategy: RoutingStrategy): (a: Candidate, b: Candidate) => number {
  const byStrategy = COMPARATORS[strategy];
  return (a, b) =>
    a.halfOpen - b.halfOpen ||
    a.preference - b.preference ||
    a.degraded - b.degraded ||
    byStrategy(a, b) ||
    b.model.quality - a.model.quality ||
    a.costCents - b.costCents ||
    a.latencyMs - b.latencyMs ||
    (a.model.id < b.model.id ? -1 : a.model.id > b.model.id ? 1 : 0);
}

function unsatisfiableError(excluded: ExcludedCandidate[]): RoutingError {
  const reasons = excluded.length === 0 ? 'no models are registered' : excluded.map((item) => `${item.model_id}: ${item.detail}`).join('; ');
  return new RoutingError('E4100', `No model satisfies the requirements (${reasons})`, { details: { excluded } });
}

function unavailableError(excluded: ExcludedCandidate[], unavailable: ExcludedCandidate[]): RoutingError {
  const reasons = unavailable.map((item) => `${item.model_id}: ${item.detail}`).join('; ');
  return new RoutingError('E4101', `Every model that could serve the request is unavailable right now (${reasons})`, { details: { excluded } });
}

function formatCents(cents: number): string {
  return `${Number(cents.toFixed(4))}¢`;
}
