import { describe, expect, it } from 'vitest';
import { CircuitOpenError, GatewayError, RoutingError } from '../src/models/error-codes.js';
import { parseInferenceRequest } from '../src/models/inference-request.js';
import type { InferenceRequest, InferenceRequestInput } from '../src/models/inference-request.js';
import type { HealthStatus } from '../src/models/provider-config.js';
import type { RoutingStrategy } from '../src/models/routing-config.js';
import type { ProviderAdapter } from '../src/providers/base.js';
import { MockAdapter } from '../src/providers/mock-adapter.js';
import { CircuitBreakerRegistry } from '../src/resilience/circuit-breaker.js';
import type { CircuitStateName } from '../src/resilience/circuit-breaker.js';
import { LLMRouter, requiredCapabilities } from '../src/routing/llm-router.js';
import { ModelRegistry } from '../src/routing/model-registry.js';
import { ProviderHealthMonitor } from '../src/resilience/provider-health.js';
import { FakeClock } from './helpers/fake-clock.js';

class FakeHealth {
  statuses = new Map<string, HealthStatus>();
  latencies = new Map<string, number>();
  status(provider: string): HealthStatus {
    return this.statuses.get(provider) ?? 'healthy';
  }
  observedLatencyMs(modelId: string): number | undefined {
    return this.latencies.get(modelId);
  }
}

class FakeBreakers {
  states = new Map<string, { state: CircuitStateName; probeInFlight?: boolean }>();
  get(provider: string): { state: CircuitStateName; probeInFlight?: boolean } {
    return this.states.get(provider) ?? { state: 'closed', probeInFlight: false };
  }
}

function catalogue(): ModelRegistry {
  const registry = new ModelRegistry(['ollama', 'openai', 'anthropic']);
  registry.register({
    id: 'local',
    provider: 'ollama',
    provider_model: 'llama3.2:latest',
    capabilities: ['tool_use'],
    context_length: 131_072,
    max_output_tokens: 4096,
    expected_latency_ms: 2_000,
    quality: 40,
  });
  registry.register({
    id: 'mini',
    provider: 'openai',
    provider_model: 'gpt-4o-mini',
    capabilities: ['vision', 'tool_use', 'json_mode'],
    context_length: 128_000,
    max_output_tokens: 16_384,
    input_cost_per_1k_cents: 0.015,
    output_cost_per_1k_cents: 0.06,
    expected_latency_ms: 800,
    quality: 70,
  });
  registry.register({
    id: 'claude',
    provider: 'anthropic',
    provider_model: 'claude-sonnet',
    capabilities: ['vision', 'tool_use', 'long_context'],
    context_length: 200_000,
    max_output_tokens: 8192,
    input_cost_per_1k_cents: 0.3,
    output_cost_per_1k_cents: 1.5,
    expected_latency_ms: 1_200,
    quality: 90,
  });
  registry.register({ id: 'nomic', provider: 'ollama', provider_model: 'nomic-embed-text', capabilities: ['embeddings'], context_length: 8192 });
  return registry;
}

function setup(strategy: RoutingStrategy = 'cost', registry = catalogue()) {
  const health = new FakeHealth();
  const breakers = new FakeBreakers();
  return { registry, health, breakers, router: new LLMRouter({ registry, strategy, health, breakers }) };
}

function request(input: Partial<InferenceRequestInput> = {}): InferenceRequest {
  return parseInferenceRequest({ agent_did: 'did:key:agent', logical_prompt: { messages: [{ role: 'user', content: 'hi' }] }, ...input });
}

function routeError(router: LLMRouter, routed: InferenceRequest): GatewayError {
  try {
    router.route(routed);
  } catch (error) {
    if (error instanceof RoutingError || error instanceof CircuitOpenError) return error;
    throw error;
  }
  throw new Error('expected a routing error');
}

describe('LLMRouter', () => {
  it('chooses the cheapest model under the cost strategy and ranks the rest as fallbacks', () => {
    const decision = setup('cost').router.route(request());
    expect(decision).toMatchObject({
      model_id: 'local',
      provider: 'ollama',
      strategy: 'cost',
      fallbacks: ['mini', 'claude'],
      estimated_cost_cents: 0,
      estimated_input_tokens: 5,
    });
    expect(decision.excluded).toEqual([{ model_id: 'nomic', reason: 'capability', detail: 'embeddings-only model, cannot chat' }]);
  });

  it('chooses the fastest model under the latency strategy', () => {
    expect(setup('latency').router.route(request())).toMatchObject({ model_id: 'mini', fallbacks: ['claude', 'local'] });
  });

  it('prefers observed latency over the configured one', () => {
    const context = setup('latency');
    context.health.latencies.set('local', 150);
    expect(context.router.route(request())).toMatchObject({ model_id: 'local', fallbacks: ['mini', 'claude'] });
  });

  it('chooses the best model under the quality strategy', () => {
    expect(setup('quality').router.route(request())).toMatchObject({ model_id: 'claude', fallbacks: ['mini', 'local'] });
  });

  it('breaks ties by quality, then by model id', () => {
    const registry = new ModelRegistry(['a', 'b']);
    registry.register({ id: 'zeta', provider: 'a', provider_model: 'z', quality: 50 });
    registry.register({ id: 'alpha', provider: 'b', provider_model: 'a', quality: 50 });
    registry.register({ id: 'best', provider: 'b', provider_model: 'b', quality: 60 });
    const router = setup('cost', registry).router;
    expect(router.route(request())).toMatchObject({ model_id: 'best', fallbacks: ['alpha', 'zeta'] });
    expect(router.route(request())).toEqual(router.route(request()));
  });

  it('answers a vision request with a vision model and says why the others were left out', () => {
    const decision = setup().router.route(request({ requirements: { capabilities: ['vision'] } }));
    expect(decision).toMatchObject({ model_id: 'mini', fallbacks: ['claude'] });
    expect(decision.excluded).toEqual([
      { model_id: 'local', reason: 'capability', detail: 'lacks vision' },
      { model_id: 'nomic', reason: 'capability', detail: 'embeddings-only model, cannot chat' },
    ]);
  });

  it('derives the capabilities a prompt implies', () => {
    const withImage = request({
      logical_prompt: {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'what is this' },
              { type: 'image', url: 'https://example.test/cat.png' },
            ],
          },
        ],
      },
    });
    expect(requiredCapabilities(withImage)).toEqual(['vision']);
    const withTools = request({ logical_prompt: { messages: [{ role: 'user', content: 'weather?' }], tools: [{ name: 'get_weather' }] } });
    expect(requiredCapabilities(withTools)).toEqual(['tool_use']);
    const withToolHistory = request({
      logical_prompt: {
        messages: [
          { role: 'user', content: 'weather?' },
          { role: 'assistant', content: '', tool_calls: [{ id: 'c1', name: 'get_weather', arguments: '{}' }] },
          { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
        ],
      },
    });
    expect(requiredCapabilities(withToolHistory)).toEqual(['tool_use']);
    const withJson = request({
      requirements: { capabilities: ['json_mode', 'json_mode'] },
      logical_prompt: { messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_object' } },
    });
    expect(requiredCapabilities(withJson)).toEqual(['json_mode']);
  });

  it('routes an image prompt to a vision model without being told', () => {
    const decision = setup().router.route(
      request({ logical_prompt: { messages: [{ role: 'user', content: [{ type: 'image', url: 'data:image/png;base64,AAAA' }] }] } }),
    );
    expect(decision.model_id).toBe('mini');
  });

  it('treats text and streaming as given for every model that is not embeddings-only', () => {
    const decision = setup().router.route(request({ requirements: { capabilities: ['text', 'streaming'] } }));
    expect(decision).toMatchObject({ model_id: 'local', fallbacks: ['mini', 'claude'] });
  });

  it('excludes models whose context window is below min_context_length', () => {
    const decision = setup().router.route(request({ requirements: { min_context_length: 150_000 } }));
    expect(decision.model_id).toBe('claude');
    expect(decision.excluded).toContainEqual({ model_id: 'mini', reason: 'context', detail: 'context window 128000 < min_context_length 150000' });
  });

  it('excludes models too small for the estimated prompt plus max_output_tokens', () => {
    const longPrompt = 'x'.repeat(4 * 130_000);
    const decision = setup().router.route(
      request({ logical_prompt: { messages: [{ role: 'user', content: longPrompt }] }, requirements: { max_output_tokens: 4096 } }),
    );
    expect(decision.model_id).toBe('claude');
    expect(decision.excluded).toContainEqual({
      model_id: 'local',
      reason: 'context',
      detail: 'context window 131072 < estimated prompt 130004 + max_output_tokens 4096 tokens',
    });
  });

  it('excludes models whose output limit is below max_output_tokens', () => {
    const decision = setup().router.route(request({ requirements: { max_output_tokens: 10_000, min_context_length: 4096 } }));
    expect(decision).toMatchObject({ model_id: 'mini', fallbacks: [] });
    expect(decision.excluded).toContainEqual({ model_id: 'claude', reason: 'max_output', detail: 'max_output_tokens 10000 > model limit 8192' });
  });

  it('excludes models whose estimated cost is over max_cost_cents', () => {
    const decision = setup('quality').router.route(request({ constraints: { max_cost_cents: 1 } }));
    expect(decision).toMatchObject({ model_id: 'mini', fallbacks: ['local'] });
    expect(decision.excluded).toContainEqual({ model_id: 'claude', reason: 'cost', detail: 'estimated cost 6.1455¢ > max_cost_cents 1' });
  });

  it('excludes models whose expected latency is over max_latency_ms unless traffic showed them faster', () => {
    const context = setup();
    const decision = context.router.route(request({ constraints: { max_latency_ms: 1_000 } }));
    expect(decision).toMatchObject({ model_id: 'mini', fallbacks: [] });
    expect(decision.excluded).toContainEqual({ model_id: 'local', reason: 'latency', detail: 'expected latency 2000 ms > max_latency_ms 1000' });
    context.health.latencies.set('local', 400);
    expect(context.router.route(request({ constraints: { max_latency_ms: 1_000 } })).model_id).toBe('local');
  });

  it('puts preferred providers first, in the order given', () => {
    const decision = setup().router.route(request({ constraints: { preferred_providers: ['anthropic', 'openai'] } }));
    expect(decision).toMatchObject({ model_id: 'claude', fallbacks: ['mini', 'local'] });
  });

  it('ranks degraded providers after healthy ones', () => {
    const context = setup();
    context.health.statuses.set('ollama', 'degraded');
    expect(context.router.route(request())).toMatchObject({ model_id: 'mini', fallbacks: ['claude', 'local'] });
  });

  it('excludes unhealthy providers, open circuits and unavailable models', () => {
    const context = setup();
    context.health.statuses.set('ollama', 'unhealthy');
    context.breakers.states.set('openai', { state: 'open' });
    const decision = context.router.route(request());
    expect(decision).toMatchObject({ model_id: 'claude', fallbacks: [] });
    expect(decision.excluded).toEqual([
      { model_id: 'local', reason: 'health', detail: 'provider ollama is unhealthy' },
      { model_id: 'mini', reason: 'circuit', detail: 'circuit open for provider openai' },
      { model_id: 'nomic', reason: 'capability', detail: 'embeddings-only model, cannot chat' },
    ]);
    context.registry.setAvailability('claude', false, 'not found on provider anthropic: claude-sonnet');
    expect(routeError(context.router, request()).details.excluded).toContainEqual({
      model_id: 'claude',
      reason: 'unavailable',
      detail: 'not found on provider anthropic: claude-sonnet',
    });
  });

  it('ranks a half-open circuit last while its probe is out', () => {
    const context = setup();
    context.breakers.states.set('ollama', { state: 'half_open', probeInFlight: true });
    expect(context.router.route(request())).toMatchObject({ model_id: 'mini', fallbacks: ['claude', 'local'] });
    context.breakers.states.set('ollama', { state: 'half_open' });
    expect(context.router.route(request())).toMatchObject({ model_id: 'mini', fallbacks: ['claude', 'local'] });
  });

  it('ranks a half-open circuit waiting for its probe normally, even when its provider reads unhealthy', () => {
    const context = setup();
    context.breakers.states.set('ollama', { state: 'half_open', probeInFlight: false });
    context.health.statuses.set('ollama', 'unhealthy');
    expect(context.router.route(request())).toMatchObject({ model_id: 'local', fallbacks: ['mini', 'claude'] });
  });

  it('fails with E4100 naming every model and its reason when no model has a capability', () => {
    const registry = catalogue();
    registry.register({ id: 'chat-only', provider: 'openai', provider_model: 'x', capabilities: ['text'] });
    const error = routeError(setup('cost', registry).router, request({ requirements: { capabilities: ['vision', 'json_mode', 'long_context'] } }));
    expect(error.code).toBe('E4100');
    expect(error.httpStatus).toBe(422);
    expect(error.message).toBe(
      'No model satisfies the requirements (local: lacks vision, json_mode, long_context; mini: lacks long_context; claude: lacks json_mode; ' +
        'nomic: embeddings-only model, cannot chat; chat-only: lacks vision, json_mode, long_context)',
    );
    expect(error.details.excluded).toHaveLength(5);
  });

  it('fails with E4100 when no models are registered', () => {
    const error = routeError(setup('cost', new ModelRegistry([])).router, request());
    expect(error.code).toBe('E4100');
    expect(error.message).toContain('no models are registered');
  });

  it('fails with E4101 when every model that could serve is unavailable right now', () => {
    const context = setup();
    context.breakers.states.set('openai', { state: 'open' });
    context.health.statuses.set('anthropic', 'unhealthy');
    const error = routeError(context.router, request({ requirements: { capabilities: ['vision'] } }));
    expect(error.code).toBe('E4101');
    expect(error.httpStatus).toBe(503);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(
      'Every model that could serve the request is unavailable right now (mini: circuit open for provider openai; claude: provider anthropic is unhealthy)',
    );
    expect(error.details.excluded).toHaveLength(4);
  });

  it('fails with E4100, not E4101, when the only unavailable models could not serve anyway', () => {
    const context = setup();
    context.health.statuses.set('ollama', 'unhealthy');
    const error = routeError(context.router, request({ requirements: { capabilities: ['vision'] }, constraints: { max_cost_cents: 0.1 } }));
    expect(error.code).toBe('E4100');
    expect(error.details.excluded).toContainEqual({ model_id: 'local', reason: 'capability', detail: 'lacks vision' });
  });

  it('treats a model that is only too slow right now as unavailable, not unsatisfiable', () => {
    const context = setup();
    context.health.latencies.set('mini', 5_000);
    const error = routeError(context.router, request({ requirements: { capabilities: ['json_mode'] }, constraints: { max_latency_ms: 1_000 } }));
    expect(error.code).toBe('E4101');
    expect(error.message).toContain('mini: observed latency 5000 ms > max_latency_ms 1000');
  });

  it('returns the registered models of the decision in attempt order', () => {
    const { router, registry } = setup();
    const selection = router.select(request());
    expect(selection.candidates).toEqual([registry.get('local'), registry.get('mini'), registry.get('claude')]);
  });

  describe('with a pinned model', () => {
    it('bypasses selection and constraints, without fallbacks', () => {
      const decision = setup().router.route(request({ model_id: 'claude', constraints: { max_cost_cents: 0 } }));
      expect(decision).toMatchObject({ model_id: 'claude', provider: 'anthropic', fallbacks: [], excluded: [] });
      expect(decision.estimated_cost_cents).toBeCloseTo(6.1455, 4);
    });

    it('fails with E4102 for an unknown model', () => {
      const error = routeError(setup().router, request({ model_id: 'gpt-9' }));
      expect(error.code).toBe('E4102');
      expect(error.httpStatus).toBe(404);
    });

    it('fails with E4100 when the model lacks a capability the request needs', () => {
      const error = routeError(setup().router, request({ model_id: 'local', requirements: { capabilities: ['vision'] } }));
      expect(error.code).toBe('E4100');
      expect(error.message).toBe('Model "local" cannot serve this request: lacks vision');
      expect(routeError(setup().router, request({ model_id: 'nomic' })).message).toContain('embeddings-only');
    });

    it('fails with E4700 when its circuit is open (a pinned model has no fallback)', () => {
      const context = setup();
      context.breakers.states.set('anthropic', { state: 'open' });
      const error = routeError(context.router, request({ model_id: 'claude' }));
      expect(error.code).toBe('E4700');
      expect(error.message).toContain('circuit for provider anthropic is open');
    });

    it('fails with E4101 when its provider is unhealthy or the model unavailable', () => {
      const context = setup();
      context.health.statuses.set('openai', 'unhealthy');
      expect(routeError(context.router, request({ model_id: 'mini' })).code).toBe('E4101');
      context.registry.setAvailability('local', false, 'not pulled: ollama pull llama3.2:latest');
      expect(routeError(context.router, request({ model_id: 'local' })).message).toBe(
        'Model "local" is unavailable right now: not pulled: ollama pull llama3.2:latest',
      );
    });

    it('lets a half-open circuit decide on its probe', () => {
      const context = setup();
      context.breakers.states.set('anthropic', { state: 'half_open', probeInFlight: true });
      expect(context.router.route(request({ model_id: 'claude' })).model_id).toBe('claude');
    });
  });
});

describe('routing with live breakers and health', () => {
  /** Two providers serving the same need; the primary is cheaper. */
  function liveSetup(options: { windowS?: number; threshold?: number } = {}) {
    const clock = new FakeClock();
    const primary = new MockAdapter({ id: 'primary', latency_ms: 0, stream_chunks: 1 }, { clock });
    const secondary = new MockAdapter({ id: 'secondary', latency_ms: 0, stream_chunks: 1 }, { clock });
    const adapters = new Map<string, ProviderAdapter>([
      ['primary', primary],
      ['secondary', secondary],
    ]);
    const registry = new ModelRegistry(adapters.keys());
    registry.register({ id: 'cheap', provider: 'primary', provider_model: 'cheap' });
    registry.register({ id: 'dear', provider: 'secondary', provider_model: 'dear', input_cost_per_1k_cents: 0.1, output_cost_per_1k_cents: 0.1 });
    const breakers = new CircuitBreakerRegistry({ failureThreshold: options.threshold ?? 3, cooldownMs: 60_000, probeTimeoutMs: 5_000, clock });
    // The monitor subscribes to the breakers' transitions itself.
    const monitor = new ProviderHealthMonitor({
      adapters,
      expectedModels: () => [],
      config: {
        enabled: true,
        window_s: options.windowS ?? 60,
        degraded_error_rate: 0.2,
        unhealthy_error_rate: 0.5,
        check_timeout_ms: 5_000,
        latency_factor: 3,
        recovery_interval_s: 2,
      },
      intervalMs: () => 30_000,
      clock,
      random: () => 0.5,
      breakers,
    });
    const health = monitor;
    const router = new LLMRouter({ registry, strategy: 'cost', health, breakers });

    /** A minimal fallback loop, as the gateway's executor runs it: each candidate through its breaker. */
    async function serve(): Promise<string> {
      const routed = request();
      for (const model of router.select(routed).candidates) {
        const permit = await breakers.get(model.provider).tryAcquire();
        if (!permit.allowed) continue;
        const adapter = adapters.get(model.provider)!;
        try {
          await adapter.complete({
            requestId: 'r',
            model,
            prompt: routed.logical_prompt,
            maxOutputTokens: 64,
            minContextLength: 4096,
            signal: permit.signal,
            deadlineAt: clock.now() + 30_000,
          });
          permit.success();
          health.recordSuccess(model.provider, model.id, 10);
          return model.id;
        } catch (error) {
          permit.failure(error);
          health.recordFailure(model.provider, model.id, error);
          if (!(error instanceof GatewayError) || !error.retryable) throw error;
        }
      }
      throw new Error('no candidate answered');
    }
    return { clock, primary, secondary, breakers, health, serve };
  }

  it('serves every request while the primary is down, and stops sending it traffic after the threshold', async () => {
    const context = liveSetup();
    context.primary.injectFailure({ kind: 'status', status: 503 });
    const answers: string[] = [];
    for (let index = 0; index < 10; index++) answers.push(await context.serve());
    expect(answers).toEqual(Array(10).fill('dear'));
    expect(context.primary.calls).toBe(3);
    await context.clock.advance(59_999);
    for (let index = 0; index < 5; index++) await context.serve();
    expect(context.primary.calls).toBe(3);
  });

  it('sends exactly one probe after the cooldown and returns to the primary when it succeeds', async () => {
    const context = liveSetup();
    context.primary.injectFailure({ kind: 'status', status: 503 });
    for (let index = 0; index < 5; index++) await context.serve();
    await context.clock.advance(60_000);
    context.primary.clearFailures();
    expect(await context.serve()).toBe('cheap');
    expect(context.primary.calls).toBe(4);
    expect(context.breakers.states()).toEqual({ primary: 'closed', secondary: 'closed' });
    expect(await context.serve()).toBe('cheap');
  });

  it('spends one probe per cooldown on a primary that stays down, and callers still see successes', async () => {
    const context = liveSetup();
    context.primary.injectFailure({ kind: 'status', status: 503 });
    for (let index = 0; index < 5; index++) await context.serve();
    for (let round = 0; round < 3; round++) {
      await context.clock.advance(60_000);
      for (let index = 0; index < 5; index++) expect(await context.serve()).toBe('dear');
    }
    expect(context.primary.calls).toBe(3 + 3);
  });

  it('probes a provider that still reads unhealthy from live traffic, and trusts it again after the probe', async () => {
    const context = liveSetup({ windowS: 600, threshold: 5 });
    context.primary.injectFailure({ kind: 'status', status: 502 });
    for (let index = 0; index < 8; index++) await context.serve();
    expect(context.primary.calls).toBe(5);
    await context.clock.advance(60_000);
    expect(context.health.status('primary')).toBe('unhealthy');
    context.primary.clearFailures();
    expect(await context.serve()).toBe('cheap');
    expect(context.health.status('primary')).toBe('healthy');
    expect(await context.serve()).toBe('cheap');
    expect(context.primary.calls).toBe(7);
  });
});
