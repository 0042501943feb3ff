import { describe, expect, it } from 'vitest';
import { CircuitOpenError, InternalError, ProviderError, RateLimitError, ResponseError, RoutingError, ValidationError } from '../src/models/error-codes.js';
import { GatewayMetrics, errorSource, outcomeLabels } from '../src/observability/metrics.js';
import type { RequestLabels } from '../src/observability/metrics.js';

const ok: RequestLabels = { model: 'llama3.2', provider: 'ollama', status: 'ok', cache: 'miss', error_source: 'none', code: '' };

/** The value of one sample of a metric, found by its labels (and `metricName` for histogram series). */
async function sample(metrics: GatewayMetrics, name: string, labels: Record<string, string>, metricName = name): Promise<number | undefined> {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const found = values.find(
    (value) =>
      ((value as { metricName?: string }).metricName ?? name) === metricName &&
      Object.entries(labels).every(([key, expected]) => String(value.labels[key]) === expected) &&
      Object.keys(value.labels).length === Object.keys(labels).length,
  );
  return found?.value;
}

describe('GatewayMetrics', () => {
  it('exposes every metric the issue names, with its type', async () => {
    const text = await new GatewayMetrics({ collectDefault: false }).metrics();
    const types: Record<string, string> = {
      l04_requests_total: 'counter',
      l04_request_duration_seconds: 'histogram',
      l04_time_to_first_token_seconds: 'histogram',
      l04_gateway_overhead_seconds: 'histogram',
      l04_tokens_total: 'counter',
      l04_cost_cents_total: 'counter',
      l04_cache_lookups_total: 'counter',
      l04_rate_limited_total: 'counter',
      l04_circuit_state: 'gauge',
      l04_queue_depth: 'gauge',
      l04_provider_up: 'gauge',
    };
    for (const [name, type] of Object.entries(types)) expect(text).toContain(`# TYPE ${name} ${type}`);
    expect(text).not.toContain('process_cpu');
  });

  it("collects Node's default process metrics on its own registry", async () => {
    const metrics = new GatewayMetrics({ collectDefault: true });
    const text = await metrics.metrics();
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(text).toContain('nodejs_heap_size_used_bytes');
    expect(metrics.contentType).toContain('text/plain');
  });

  it('keeps gateways apart: each has its own registry', async () => {
    const first = new GatewayMetrics({ collectDefault: false });
    const second = new GatewayMetrics({ collectDefault: false });
    first.recordRequest(ok, 0.5);
    expect(await sample(first, 'l04_requests_total', { ...ok })).toBe(1);
    expect(await sample(second, 'l04_requests_total', { ...ok })).toBeUndefined();
  });

  it('counts requests by model, provider, status, cache, error source and code', async () => {
    const metrics = new GatewayMetrics({ collectDefault: false });
    metrics.recordRequest(ok, 0.2);
    metrics.recordRequest(ok, 0.3);
    metrics.recordRequest({ ...ok, cache: 'exact' }, 0.004);
    const refused = { model: 'none', provider: 'none', cache: 'bypass' as const, ...outcomeLabels(new RateLimitError('E4400')) };
    metrics.recordRequest(refused, 0.0001);
    const upstream = { ...ok, ...outcomeLabels(new ProviderError('E4202')) };
    metrics.recordRequest(upstream, 1.5);
    expect(await sample(metrics, 'l04_requests_total', { ...ok })).toBe(2);
    expect(await sample(metrics, 'l04_requests_total', { ...ok, cache: 'exact' })).toBe(1);
    expect(
      await sample(metrics, 'l04_requests_total', { model: 'none', provider: 'none', status: '429', cache: 'bypass', error_source: 'gateway', code: 'E4400' }),
    ).toBe(1);
    expect(await sample(metrics, 'l04_requests_total', { ...ok, status: '502', error_source: 'upstream', code: 'E4202' })).toBe(1);
    const text = await metrics.metrics();
    expect(text).toContain('l04_requests_total{model="llama3.2",provider="ollama",status="ok",cache="miss",error_source="none",code=""} 2');
  });

  it('observes request durations in LLM-sized buckets from 5 ms to 120 s', async () => {
    const metrics = new GatewayMetrics({ collectDefault: false });
    metrics.recordRequest(ok, 0.2);
    metrics.recordRequest(ok, 90);
    const labels = { model: 'llama3.2', provider: 'ollama', cache: 'miss', error_source: 'none' };
    expect(await sample(metrics, 'l04_request_duration_seconds', { ...labels, le: '0.005' }, 'l04_request_duration_seconds_bucket')).toBe(0);
    expect(await sample(metrics, 'l04_request_duration_seconds', { ...labels, le: '0.25' }, 'l04_request_duration_seconds_bucket')).toBe(1);
    expect(await sample(metrics, 'l04_request_duration_seconds', { ...labels, le: '120' }, 'l04_request_duration_seconds_bucket')).toBe(2);
    expect(await sample(metrics, 'l04_request_duration_seconds', labels, 'l04_request_duration_seconds_sum')).toBeCloseTo(90.2);
  });

  it('observes time to first token and sub-millisecond gateway overhead', async () => {
    const metrics = new GatewayMetrics({ collectDefault: false });
    metrics.observeTimeToFirstToken({ model: 'gpt-4o-mini', provider: 'openai' }, 0.35);
    metrics.observeOverhead(0.0002);
    metrics.observeOverhead(0.0008);
    expect(
      await sample(metrics, 'l04_time_to_first_token_seconds', { model: 'gpt-4o-mini', provider: 'openai' }, 'l04_time_to_first_token_seconds_count'),
    ).toBe(1);
    expect(await sample(metrics, 'l04_gateway_overhead_seconds', { le: '0.0001' }, 'l04_gateway_overhead_seconds_bucket')).toBe(0);
    expect(await sample(metrics, 'l04_gateway_overhead_seconds', { le: '0.00025' }, 'l04_gateway_overhead_seconds_bucket')).toBe(1);
    expect(await sample(metrics, 'l04_gateway_overhead_seconds', { le: '0.001' }, 'l04_gateway_overhead_seconds_bucket')).toBe(2);
  });

  it('adds tokens by direction and cost in cents', async () => {
    const metrics = new GatewayMetrics({ collectDefault: false });
    const labels = { model: 'gpt-4o-mini', provider: 'openai' };
    metrics.addTokens(labels, 120, 30);
    metrics.addTokens(labels, 10, 0);
    metrics.addCost(labels, 0.0375);
    metrics.addCost(labels, 0.0125);
    expect(await sample(metrics, 'l04_tokens_total', { ...labels, direction: 'input' })).toBe(130);
    expect(await sample(metrics, 'l04_tokens_total', { ...labels, direction: 'output' })).toBe(30);
    expect(await sample(metrics, 'l04_cost_cents_total', labels)).toBeCloseTo(0.05);
  });

  it('counts cache lookups and rate-limit refusals', async () => {
    const metrics = new GatewayMetrics({ collectDefault: false });
    metrics.cacheLookup('exact');
    metrics.cacheLookup('miss');
    metrics.cacheLookup('miss');
    metrics.cacheLookup('error');
    metrics.rateLimited('agent', 'requests');
    metrics.rateLimited('spend', 'budget');
    metrics.rateLimited('spend', 'budget');
    expect(await sample(metrics, 'l04_cache_lookups_total', { result: 'miss' })).toBe(2);
    expect(await sample(metrics, 'l04_cache_lookups_total', { result: 'error' })).toBe(1);
    expect(await sample(metrics, 'l04_rate_limited_total', { scope: 'agent', kind: 'requests' })).toBe(1);
    expect(await sample(metrics, 'l04_rate_limited_total', { scope: 'spend', kind: 'budget' })).toBe(2);
  });

  it('reports circuit state as 0 closed, 1 half-open, 2 open, plus queue depth and provider up', async () => {
    const metrics = new GatewayMetrics({ collectDefault: false });
    metrics.setCircuitState('openai', 'open');
    metrics.setCircuitState('ollama', 'half_open');
    metrics.setCircuitState('mock', 'closed');
    metrics.setQueueDepth('openai', 'high', 3);
    metrics.setQueueDepth('openai', 'low', -1);
    metrics.setProviderUp('openai', false);
    metrics.setProviderUp('ollama', true);
    expect(await sample(metrics, 'l04_circuit_state', { provider: 'openai' })).toBe(2);
    expect(await sample(metrics, 'l04_circuit_state', { provider: 'ollama' })).toBe(1);
    expect(await sample(metrics, 'l04_circuit_state', { provider: 'mock' })).toBe(0);
    expect(await sample(metrics, 'l04_queue_depth', { provider: 'openai', priority: 'high' })).toBe(3);
    expect(await sample(metrics, 'l04_queue_depth', { provider: 'openai', priority: 'low' })).toBe(0);
    expect(await sample(metrics, 'l04_provider_up', { provider: 'openai' })).toBe(0);
    expect(await sample(metrics, 'l04_provider_up', { provider: 'ollama' })).toBe(1);
  });

  it('bounds label values: models past the cap read other, empty reads none, malformed status and code read other', async () => {
    const metrics = new GatewayMetrics({ collectDefault: false, maxLabelValues: 2 });
    metrics.recordRequest({ ...ok, model: 'a' }, 0.1);
    metrics.recordRequest({ ...ok, model: 'b' }, 0.1);
    metrics.recordRequest({ ...ok, model: 'c' }, 0.1);
    metrics.recordRequest({ ...ok, model: 'd' }, 0.1);
    metrics.recordRequest({ ...ok, model: '' }, 0.1);
    metrics.recordRequest({ ...ok, model: 'a', status: 'req_123', code: 'agent did:l04:x' }, 0.1);
    expect(await sample(metrics, 'l04_requests_total', { ...ok, model: 'a' })).toBe(1);
    expect(await sample(metrics, 'l04_requests_total', { ...ok, model: 'other' })).toBe(2);
    expect(await sample(metrics, 'l04_requests_total', { ...ok, model: 'none' })).toBe(1);
    expect(await sample(metrics, 'l04_requests_total', { ...ok, model: 'a', status: 'other', code: 'other' })).toBe(1);
    expect(await metrics.metrics()).not.toMatch(/model="[cd]"/);
  });

  it('ignores negative and non-finite observations', async () => {
    const metrics = new GatewayMetrics({ collectDefault: false });
    metrics.recordRequest(ok, Number.NaN);
    metrics.observeOverhead(-1);
    metrics.addTokens({ model: 'm', provider: 'p' }, Number.POSITIVE_INFINITY, -3);
    expect(await sample(metrics, 'l04_requests_total', { ...ok })).toBe(1);
    expect(
      await sample(
        metrics,
        'l04_request_duration_seconds',
        { model: 'llama3.2', provider: 'ollama', cache: 'miss', error_source: 'none' },
        'l04_request_duration_seconds_count',
      ),
    ).toBeUndefined();
    expect(await sample(metrics, 'l04_gateway_overhead_seconds', {}, 'l04_gateway_overhead_seconds_count')).toBe(0);
    expect(await sample(metrics, 'l04_tokens_total', { model: 'm', provider: 'p', direction: 'input' })).toBeUndefined();
    expect(await sample(metrics, 'l04_tokens_total', { model: 'm', provider: 'p', direction: 'output' })).toBeUndefined();
  });

  it('names metrics with a custom prefix', async () => {
    const text = await new GatewayMetrics({ collectDefault: false, prefix: 'gw_' }).metrics();
    expect(text).toContain('# TYPE gw_requests_total counter');
    expect(text).not.toContain('l04_requests_total');
  });

  it('rejects a prefix that is not a metric name, saying what it got', () => {
    expect(() => new GatewayMetrics({ collectDefault: false, prefix: 'bad-prefix' })).toThrow('prefix should be a valid metric name prefix, got "bad-prefix"');
  });
});

describe('errorSource', () => {
  it('tells upstream failures, client mistakes and the gateway own refusals apart', () => {
    expect(errorSource(new ProviderError('E4201'))).toBe('upstream');
    expect(errorSource(new ProviderError('E4204'))).toBe('upstream');
    expect(errorSource(new ResponseError('E4600'))).toBe('upstream');
    expect(errorSource(new RoutingError('E4103'))).toBe('upstream');
    expect(errorSource(new ValidationError('E4500'))).toBe('client');
    expect(errorSource(new ValidationError('E4501'))).toBe('client');
    expect(errorSource(new RateLimitError('E4400'))).toBe('gateway');
    expect(errorSource(new RateLimitError('E4403'))).toBe('gateway');
    expect(errorSource(new CircuitOpenError('E4700'))).toBe('gateway');
    expect(errorSource(new RoutingError('E4100'))).toBe('gateway');
    expect(errorSource(new InternalError('E4900'))).toBe('gateway');
    expect(errorSource(new Error('boom'))).toBe('gateway');
  });
});

describe('outcomeLabels', () => {
  it('labels success ok with no error source, and errors by their HTTP status and code', () => {
    expect(outcomeLabels()).toEqual({ status: 'ok', error_source: 'none', code: '' });
    expect(outcomeLabels(new ProviderError('E4201'))).toEqual({ status: '504', error_source: 'upstream', code: 'E4201' });
    expect(outcomeLabels(new TypeError('x'))).toEqual({ status: '500', error_source: 'gateway', code: 'E4900' });
  });
});
