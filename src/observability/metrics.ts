/**
 * Prometheus metrics of one gateway, on a registry of its own so that many gateways
 * (tests, embedders) never collide in prom-client's global registry.
 *
 * Label values are bounded: model and provider are registered ids (`none` when no model was chosen);
 * past `maxLabelValues` distinct values a label reads `other`. Request and agent ids never become
 * labels. The hot path binds label children once per combination and reuses them.
 *
 * `status` of `l04_requests_total` is `ok` for an answered request and otherwise the HTTP status code
 * of the error (`429`, `502`…): a small, fixed set taken from the error catalogue, more useful to
 * alert on than a status class. Anything else reads `other`.
 * `error_source` tells the gateway's own refusals (`gateway`) from upstream failures (`upstream`)
 * and the caller's mistakes (`client`); `none` on success.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isGatewayError } from '../models/error-codes.js';

/** Where a failure came from, for the `error_source` label. */
export type ErrorSource = 'gateway' | 'upstream' | 'client';
/** The cache outcome of a request. */
export type CacheLabel = 'miss' | 'exact' | 'semantic' | 'bypass';
/** Labels of one finished request. */
export interface RequestLabels {
  model: string;
  provider: string;
  /** `ok`, or the error's HTTP status code as text (`429`, `502`); see `outcomeLabels`. */
  status: string;
  cache: CacheLabel;
  error_source: 'none' | ErrorSource;
  /** The E-code, or `''` on success. */
  code: string;
}
/** Labels that name a model on a provider. */
export interface ModelLabels {
  model: string;
  provider: string;
}
/** Options of `GatewayMetrics`. */
export interface GatewayMetricsOptions {
  /** Also collect Node's default process metrics on this registry (default true). */
  collectDefault?: boolean;
  /** Prefix of the gateway's own metric names (default `l04_`); Node's default metrics keep their standard names. */
  prefix?: string;
  /** Distinct model (and provider) label values kept before new ones read `other` (default 200). */
  maxLabelValues?: number;
}

/** Request duration buckets, seconds: 5 ms to 120 s, for LLM latencies from a cache hit to a long generation. */
export const LLM_LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120];
/** Gateway overhead buckets, seconds: 25 µs to 250 ms (the budget is 0.3 ms p50, 1 ms p99). */
export const OVERHEAD_BUCKETS_S = [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.25];

const STATUS_LABEL = /^(ok|[1-5]\d\d)$/;
const CODE_LABEL = /^(E\d{4})?$/;
const CIRCUIT_VALUES = { closed: 0, half_open: 1, open: 2 } as const;

/**
 * Where an error came from, by its E-code range: E42xx (provider) and E46xx (malformed provider
 * response) are `upstream`, E45xx (validation, auth) is `client`, everything else — rate limits,
 * budgets, queue, circuit open, routing, internal — is the gateway's own refusal. E4103 (every
 * attempt of the fallback chain failed) is `upstream` too: each attempt was an upstream failure.
 */
export function errorSource(error: unknown): ErrorSource {
  if (!isGatewayError(error)) return 'gateway';
  const code = error.code;
  if (code === 'E4103' || code.startsWith('E42') || code.startsWith('E46')) return 'upstream';
  if (code.startsWith('E45')) return 'client';
  return 'gateway';
}

/** The `status`, `error_source` and `code` labels of a request that ended with `error` (success when undefined). */
export function outcomeLabels(error?: unknown): Pick<RequestLabels, 'status' | 'error_source' | 'code'> {
  if (error === undefined) return { status: 'ok', error_source: 'none', code: '' };
  const status = isGatewayError(error) ? String(error.httpStatus) : '500';
  return { status, error_source: errorSource(error), code: isGatewayError(error) ? error.code : 'E4900' };
}

interface RequestChildren {
  count: Counter.Internal;
  duration: Histogram.Internal<string>;
}

/** The gateway's Prometheus metrics. */
export class GatewayMetrics {
  /** The registry `/metrics` serves. */
  readonly registry: Registry;
  /** `Content-Type` of `metrics()`. */
  readonly contentType: string;
  private readonly maxLabelValues: number;
  private readonly seen = { model: new Set<string>(), provider: new Set<string>() };
  private readonly requests: Counter<string>;
  private readonly duration: Histogram<string>;
  private readonly firstToken: Histogram<string>;
  private readonly overhead: Histogram<string>;
  private readonly tokens: Counter<string>;
  private readonly cost: Counter<string>;
  private readonly cacheLookups: Counter<string>;
  private readonly rateLimits: Counter<string>;
  private readonly circuitState: Gauge<string>;
  private readonly queueDepth: Gauge<string>;
  private readonly providerUp: Gauge<string>;
  private readonly requestChildren = new Map<string, RequestChildren>();
  private readonly modelChildren = new Map<
    string,
    {
      firstToken: Histogram.Internal<string>;
      input: Counter.Internal;
      output: Counter.Internal;
      cacheRead: Counter.Internal;
      cacheWrite: Counter.Internal;
      cost: Counter.Internal;
    }
  >();
  private readonly simpleChildren = new Map<string, Counter.Internal>();

  constructor(options: GatewayMetricsOptions = {}) {
    const prefix = options.prefix ?? 'l04_';
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) throw new RangeError(`prefix should be a valid metric name prefix, got "${prefix}"`);
    this.maxLabelValues = options.maxLabelValues ?? 200;
    if (!(this.maxLabelValues >= 1)) throw new RangeError(`maxLabelValues should be at least 1, got ${this.maxLabelValues}`);
    this.registry = new Registry();
    const registers = [this.registry];
    this.contentType = this.registry.contentType;
    if (options.collectDefault ?? true) collectDefaultMetrics({ register: this.registry });
    const name = (suffix: string): string => `${prefix}${suffix}`;
    this.requests = new Counter({
      name: name('requests_total'),
      help: 'Requests answered, by model, provider, HTTP status, cache outcome and error source',
      labelNames: ['model', 'provider', 'status', 'cache', 'error_source', 'code'],
      registers,
    });
    this.duration = new Histogram({
      name: name('request_duration_seconds'),
      help: 'Time from arrival to the last byte of the answer, in seconds',
      labelNames: ['model', 'provider', 'cache', 'error_source'],
      buckets: LLM_LATENCY_BUCKETS_S,
      registers,
    });
    this.firstToken = new Histogram({
      name: name('time_to_first_token_seconds'),
      help: 'Time from arrival to the first streamed token, in seconds',
      labelNames: ['model', 'provider'],
      buckets: LLM_LATENCY_BUCKETS_S,
      registers,
    });
    this.overhead = new Histogram({
      name: name('gateway_overhead_seconds'),
      help: "Time spent in the gateway itself (everything but the provider's time), in seconds",
      buckets: OVERHEAD_BUCKETS_S,
      registers,
    });
    this.tokens = new Counter({
      name: name('tokens_total'),
      help: 'Tokens processed, by direction (input or output; cache_read and cache_write are the parts of input served from or written to a provider prompt cache)',
      labelNames: ['model', 'provider', 'direction'],
      registers,
    });
    this.cost = new Counter({ name: name('cost_cents_total'), help: 'Spend, in cents', labelNames: ['model', 'provider'], registers });
    this.cacheLookups = new Counter({ name: name('cache_lookups_total'), help: 'Cache lookups, by result', labelNames: ['result'], registers });
    this.rateLimits = new Counter({
      name: name('rate_limited_total'),
      help: 'Requests refused or delayed by a limit, by scope and kind',
      labelNames: ['scope', 'kind'],
      registers,
    });
    this.circuitState = new Gauge({
      name: name('circuit_state'),
      help: 'Circuit breaker state per provider: 0 closed, 1 half-open, 2 open',
      labelNames: ['provider'],
      registers,
      // Summed over cluster workers a state would be meaningless: the worst worker's state is reported.
      aggregator: 'max',
    });
    this.queueDepth = new Gauge({
      name: name('queue_depth'),
      help: 'Requests waiting per provider and priority',
      labelNames: ['provider', 'priority'],
      registers,
    });
    this.providerUp = new Gauge({
      name: name('provider_up'),
      help: 'Whether a provider is healthy enough to take traffic (1) or not (0)',
      labelNames: ['provider'],
      registers,
      aggregator: 'min',
    });
  }

  /** Counts a finished request and observes its duration (arrival to last byte, seconds). */
  recordRequest(labels: RequestLabels, durationS: number): void {
    const model = this.bounded('model', labels.model);
    const provider = this.bounded('provider', labels.provider);
    const status = STATUS_LABEL.test(labels.status) ? labels.status : 'other';
    const code = CODE_LABEL.test(labels.code) ? labels.code : 'other';
    const key = `${model}\u0000${provider}\u0000${status}\u0000${labels.cache}\u0000${labels.error_source}\u0000${code}`;
    let children = this.requestChildren.get(key);
    if (children === undefined) {
      children = {
        count: this.requests.labels(model, provider, status, labels.cache, labels.error_source, code),
        duration: this.duration.labels(model, provider, labels.cache, labels.error_source),
      };
      this.requestChildren.set(key, children);
    }
    children.count.inc();
    if (Number.isFinite(durationS) && durationS >= 0) children.duration.observe(durationS);
  }

  /** Observes the time to the first streamed token, in seconds. */
  observeTimeToFirstToken(labels: ModelLabels, seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.modelChild(labels).firstToken.observe(seconds);
  }

  /** Observes the gateway's own time for one request (everything but the provider's), in seconds. */
  observeOverhead(seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.overhead.observe(seconds);
  }

  /** Adds input and output tokens of one request, and the prompt-cache parts of its input. */
  addTokens(labels: ModelLabels, input: number, output: number, cache: { read?: number; write?: number } = {}): void {
    const children = this.modelChild(labels);
    if (Number.isFinite(input) && input > 0) children.input.inc(input);
    if (Number.isFinite(output) && output > 0) children.output.inc(output);
    if (cache.read !== undefined && Number.isFinite(cache.read) && cache.read > 0) children.cacheRead.inc(cache.read);
    if (cache.write !== undefined && Number.isFinite(cache.write) && cache.write > 0) children.cacheWrite.inc(cache.write);
  }

  /** Adds the cost of one request, in cents. */
  addCost(labels: ModelLabels, cents: number): void {
    if (Number.isFinite(cents) && cents > 0) this.modelChild(labels).cost.inc(cents);
  }

  /** Counts one cache lookup by its result (`error`: the backend failed and the cache was bypassed). */
  cacheLookup(result: 'exact' | 'semantic' | 'miss' | 'bypass' | 'error'): void {
    this.simpleChild(this.cacheLookups, `cache\u0000${result}`, [result]).inc();
  }

  /** Counts one request refused (or queued) by a limit. */
  rateLimited(scope: 'agent' | 'provider' | 'spend', kind: 'requests' | 'tokens' | 'budget' | 'queue'): void {
    this.simpleChild(this.rateLimits, `limit\u0000${scope}\u0000${kind}`, [scope, kind]).inc();
  }

  /** Sets a provider's circuit state: 0 closed, 1 half-open, 2 open. */
  setCircuitState(provider: string, state: 'closed' | 'half_open' | 'open'): void {
    this.circuitState.labels(this.bounded('provider', provider)).set(CIRCUIT_VALUES[state]);
  }

  /** Sets how many requests wait for a provider at one priority. */
  setQueueDepth(provider: string, priority: 'high' | 'normal' | 'low', depth: number): void {
    this.queueDepth.labels(this.bounded('provider', provider), priority).set(Math.max(0, depth));
  }

  /** Sets whether a provider takes traffic (1) or not (0). */
  setProviderUp(provider: string, up: boolean): void {
    this.providerUp.labels(this.bounded('provider', provider)).set(up ? 1 : 0);
  }

  /** The Prometheus text exposition of every metric of this gateway. */
  async metrics(): Promise<string> {
    return this.registry.metrics();
  }

  private modelChild(labels: ModelLabels): {
    firstToken: Histogram.Internal<string>;
    input: Counter.Internal;
    output: Counter.Internal;
    cacheRead: Counter.Internal;
    cacheWrite: Counter.Internal;
    cost: Counter.Internal;
  } {
    const model = this.bounded('model', labels.model);
    const provider = this.bounded('provider', labels.provider);
    const key = `${model}\u0000${provider}`;
    let children = this.modelChildren.get(key);
    if (children === undefined) {
      children = {
        firstToken: this.firstToken.labels(model, provider),
        input: this.tokens.labels(model, provider, 'input'),
        output: this.tokens.labels(model, provider, 'output'),
        cacheRead: this.tokens.labels(model, provider, 'cache_read'),
        cacheWrite: this.tokens.labels(model, provider, 'cache_write'),
        cost: this.cost.labels(model, provider),
      };
      this.modelChildren.set(key, children);
    }
    return children;
  }

  private simpleChild(counter: Counter<string>, key: string, values: string[]): Counter.Internal {
    let child = this.simpleChildren.get(key);
    if (child === undefined) {
      child = counter.labels(...values);
      this.simpleChildren.set(key, child);
    }
    return child;
  }

  // Keeps a label's distinct values bounded: the first `maxLabelValues` pass, later ones read `other`.
  private bounded(label: 'model' | 'provider', value: string): string {
    const seen = this.seen[label];
    if (seen.has(value)) return value;
    if (value === '') return 'none';
    if (seen.size >= this.maxLabelValues) return 'other';
    seen.add(value);
    return value;
  }
}
