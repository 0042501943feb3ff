import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, context, isSpanContextValid, trace } from '@opentelemetry/api';
import type {
  Attributes,
  AttributeValue,
  Context,
  ContextManager,
  Exception,
  Span,
  SpanContext,
  SpanOptions,
  SpanStatus,
  Tracer,
  TracerProvider,
} from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../src/models/error-codes.js';
import { GENAI, L04_ATTRIBUTES, SPAN_NAMES, recordSpanError, runInSpan, startSpan, withSpan } from '../src/observability/tracing.js';
import { onCleanup } from './helpers/cleanup.js';

/** A span that remembers what was done to it. */
class RecordedSpan implements Span {
  readonly attributes: Record<string, AttributeValue | undefined> = {};
  readonly exceptions: Exception[] = [];
  status: SpanStatus = { code: SpanStatusCode.UNSET };
  ended = false;

  constructor(
    readonly name: string,
    readonly kind: SpanKind | undefined,
    readonly parentSpanId: string | undefined,
    private readonly context: SpanContext,
  ) {}

  spanContext(): SpanContext {
    return this.context;
  }
  setAttribute(key: string, value: AttributeValue): this {
    this.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.attributes, attributes);
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.status = status;
    return this;
  }
  updateName(): this {
    return this;
  }
  end(): void {
    this.ended = true;
  }
  isRecording(): boolean {
    return !this.ended;
  }
  recordException(exception: Exception): void {
    this.exceptions.push(exception);
  }
}

/** An in-memory tracer provider against the API interfaces (no SDK). `sampled: false` hands out non-recording spans with valid contexts, as a sampler would. */
class RecordingProvider implements TracerProvider, Tracer {
  readonly spans: RecordedSpan[] = [];

  constructor(private readonly sampled = true) {}

  getTracer(): Tracer {
    return this;
  }

  startSpan(name: string, options: SpanOptions = {}, parentContext: Context = context.active()): Span {
    const parent = options.root === true ? undefined : trace.getSpanContext(parentContext);
    const spanContext: SpanContext = {
      traceId: parent?.traceId ?? randomBytes(16).toString('hex'),
      spanId: randomBytes(8).toString('hex'),
      traceFlags: this.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    };
    if (!this.sampled) return trace.wrapSpanContext(spanContext);
    const span = new RecordedSpan(name, options.kind, parent?.spanId, spanContext);
    span.setAttributes(options.attributes ?? {});
    this.spans.push(span);
    return span;
  }

  startActiveSpan(): never {
    throw new Error('the gateway does not use startActiveSpan');
  }

  byName(name: string): RecordedSpan {
    const span = this.spans.find((candidate) => candidate.name === name);
    if (span === undefined) throw new Error(`no span ${name}`);
    return span;
  }
}

/** Context propagation across awaits, as @opentelemetry/context-async-hooks provides it. */
class AsyncLocalContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(activeContext: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.storage.run(activeContext, () => fn.call(thisArg, ...args));
  }
  bind<T>(_context: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.storage.disable();
    return this;
  }
}

function registerTracing(sampled = true): RecordingProvider {
  const provider = new RecordingProvider(sampled);
  expect(context.setGlobalContextManager(new AsyncLocalContextManager())).toBe(true);
  expect(trace.setGlobalTracerProvider(provider)).toBe(true);
  onCleanup(() => {
    trace.disable();
    context.disable();
  });
  return provider;
}

describe('tracing without an SDK', () => {
  it('returns the function value through a non-recording span', async () => {
    let seen: Span | undefined;
    const value = await withSpan(SPAN_NAMES.REQUEST, { [GENAI.REQUEST_MODEL]: 'auto' }, async (span) => {
      seen = span;
      return 42;
    });
    expect(value).toBe(42);
    expect(seen?.isRecording()).toBe(false);
    expect(isSpanContextValid(seen!.spanContext())).toBe(false);
  });

  it('rethrows the same error untouched', async () => {
    const error = new ProviderError('E4201');
    await expect(withSpan(SPAN_NAMES.PROVIDER_ATTEMPT, {}, async () => Promise.reject(error))).rejects.toBe(error);
    // A function that throws before returning its promise still yields a rejected promise, never a throw.
    const pending = withSpan(SPAN_NAMES.PROVIDER_ATTEMPT, {}, () => {
      throw error;
    });
    await expect(pending).rejects.toBe(error);
  });

  it('hands out non-recording spans from startSpan and runs runInSpan directly', () => {
    const span = startSpan(SPAN_NAMES.REQUEST);
    expect(span.isRecording()).toBe(false);
    expect(runInSpan(span, () => 'ran')).toBe('ran');
    recordSpanError(span, new Error('ignored'));
    span.end();
  });
});

describe('tracing with a registered provider', () => {
  it('records a span with its name, attributes and kind, and ends it', async () => {
    const provider = registerTracing();
    const attributes = { [GENAI.OPERATION_NAME]: 'chat', [GENAI.REQUEST_MODEL]: 'gpt-4o-mini', [L04_ATTRIBUTES.REQUEST_ID]: 'req_1' };
    const value = await withSpan(SPAN_NAMES.REQUEST, attributes, async (span) => {
      span.setAttribute(GENAI.USAGE_INPUT_TOKENS, 120);
      return 'done';
    });
    expect(value).toBe('done');
    const span = provider.byName('l04.request');
    expect(span).toMatchObject({ kind: SpanKind.INTERNAL, ended: true, status: { code: SpanStatusCode.UNSET }, parentSpanId: undefined });
    expect(span.attributes).toEqual({ ...attributes, 'gen_ai.usage.input_tokens': 120 });
  });

  it('nests every pipeline step under the request span', async () => {
    const provider = registerTracing();
    await withSpan(SPAN_NAMES.REQUEST, {}, async () => {
      await withSpan(SPAN_NAMES.RATE_LIMIT, {}, async () => undefined);
      await withSpan(SPAN_NAMES.CACHE_LOOKUP, { [L04_ATTRIBUTES.CACHE_RESULT]: 'miss' }, async () => undefined);
      await withSpan(SPAN_NAMES.ROUTE, {}, async () => undefined);
      await withSpan(SPAN_NAMES.QUEUE, {}, async () => undefined);
      await withSpan(SPAN_NAMES.PROVIDER_ATTEMPT, { [GENAI.PROVIDER_NAME]: 'openai', [L04_ATTRIBUTES.ATTEMPT]: 1 }, async () => undefined);
    });
    const request = provider.byName('l04.request');
    const steps = ['l04.rate_limit', 'l04.cache.lookup', 'l04.route', 'l04.queue', 'l04.provider.attempt'].map((name) => provider.byName(name));
    for (const step of steps) {
      expect(step.parentSpanId).toBe(request.spanContext().spanId);
      expect(step.spanContext().traceId).toBe(request.spanContext().traceId);
      expect(step.ended).toBe(true);
    }
    expect(provider.byName('l04.provider.attempt').kind).toBe(SpanKind.CLIENT);
    expect(provider.byName('l04.route').kind).toBe(SpanKind.INTERNAL);
  });

  it('keeps concurrent requests in their own traces', async () => {
    const provider = registerTracing();
    const request = (id: string): Promise<void> =>
      withSpan(SPAN_NAMES.REQUEST, { [L04_ATTRIBUTES.REQUEST_ID]: id }, async () => {
        await new Promise<void>((resolve) => setImmediate(resolve));
        await withSpan(SPAN_NAMES.ROUTE, { [L04_ATTRIBUTES.REQUEST_ID]: id }, async () => undefined);
      });
    await Promise.all([request('a'), request('b')]);
    for (const id of ['a', 'b']) {
      const parent = provider.spans.find((span) => span.name === 'l04.request' && span.attributes['l04.request_id'] === id)!;
      const child = provider.spans.find((span) => span.name === 'l04.route' && span.attributes['l04.request_id'] === id)!;
      expect(child.parentSpanId).toBe(parent.spanContext().spanId);
    }
  });

  it('marks a failed span ERROR with the E-code and a redacted exception, then rethrows', async () => {
    const provider = registerTracing();
    const error = new ProviderError('E4203', 'upstream refused key sk-canary-0123456789abcdef');
    await expect(withSpan(SPAN_NAMES.PROVIDER_ATTEMPT, {}, async () => Promise.reject(error))).rejects.toBe(error);
    const span = provider.byName('l04.provider.attempt');
    expect(span.ended).toBe(true);
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'E4203: upstream refused key [REDACTED]' });
    expect(span.attributes).toMatchObject({ 'error.type': 'E4203', 'l04.error.code': 'E4203' });
    expect(JSON.stringify(span.exceptions)).not.toContain('sk-canary');
    expect(span.exceptions[0]).toMatchObject({ name: 'ProviderError', message: 'upstream refused key [REDACTED]' });
  });

  it('labels errors that are not gateway errors E4900', async () => {
    const provider = registerTracing();
    await expect(withSpan(SPAN_NAMES.ROUTE, {}, async () => Promise.reject(new TypeError('bug')))).rejects.toThrow(TypeError);
    expect(provider.byName('l04.route').attributes['l04.error.code']).toBe('E4900');
  });

  it('lets a stream span started by the caller parent its steps until the caller ends it', async () => {
    const provider = registerTracing();
    const span = startSpan(SPAN_NAMES.REQUEST, { [L04_ATTRIBUTES.STREAM]: true });
    await runInSpan(span, () => withSpan(SPAN_NAMES.PROVIDER_ATTEMPT, {}, async () => undefined));
    expect(provider.byName('l04.request').ended).toBe(false);
    recordSpanError(span, new ProviderError('E4208'));
    span.end();
    const request = provider.byName('l04.request');
    expect(request).toMatchObject({ ended: true, status: { code: SpanStatusCode.ERROR } });
    expect(provider.byName('l04.provider.attempt').parentSpanId).toBe(request.spanContext().spanId);
  });

  it('keeps sampled-out requests in one trace so that their steps are not traced as new roots', async () => {
    registerTracing(false);
    let parentTrace = '';
    let childTrace = '';
    await withSpan(SPAN_NAMES.REQUEST, {}, async (span) => {
      parentTrace = span.spanContext().traceId;
      await withSpan(SPAN_NAMES.ROUTE, {}, async (child) => {
        childTrace = child.spanContext().traceId;
      });
    });
    expect(childTrace).toBe(parentTrace);
  });

  it('follows the provider when tracing is registered again', async () => {
    const first = registerTracing();
    await withSpan(SPAN_NAMES.ROUTE, {}, async () => undefined);
    trace.disable();
    context.disable();
    const second = registerTracing();
    await withSpan(SPAN_NAMES.QUEUE, {}, async () => undefined);
    expect(first.spans.map((span) => span.name)).toEqual(['l04.route']);
    expect(second.spans.map((span) => span.name)).toEqual(['l04.queue']);
  });
});

describe('GENAI', () => {
  it('uses the semantic-convention attribute names', () => {
    expect(GENAI).toMatchObject({
      SYSTEM: 'gen_ai.system',
      PROVIDER_NAME: 'gen_ai.provider.name',
      OPERATION_NAME: 'gen_ai.operation.name',
      REQUEST_MODEL: 'gen_ai.request.model',
      RESPONSE_MODEL: 'gen_ai.response.model',
      REQUEST_MAX_TOKENS: 'gen_ai.request.max_tokens',
      REQUEST_TEMPERATURE: 'gen_ai.request.temperature',
      USAGE_INPUT_TOKENS: 'gen_ai.usage.input_tokens',
      USAGE_OUTPUT_TOKENS: 'gen_ai.usage.output_tokens',
      RESPONSE_FINISH_REASONS: 'gen_ai.response.finish_reasons',
    });
  });
});

describe('spans of a request through the gateway', () => {
  async function gateway() {
    const { ModelGateway } = await import('../src/gateway/model-gateway.js');
    const instance = new ModelGateway(
      {
        state: { backend: 'memory' },
        providers: { mock: { type: 'mock' } },
        models: { 'mock-1': { provider: 'mock', auto: true, capabilities: ['text', 'streaming'] } },
        cache: { enabled: true, embedder: { provider: 'local' } },
        health: { enabled: false },
        logging: { level: 'silent' },
      },
      { healthChecks: false },
    );
    onCleanup(() => instance.close());
    await instance.start();
    return instance;
  }
  const request = { agent_did: 'did:test:traced', logical_prompt: { messages: [{ role: 'user' as const, content: 'trace me' }] } };

  it('records one span per step, each a child of the request span', async () => {
    const instance = await gateway();
    const provider = registerTracing();
    await instance.complete(request);
    const root = provider.byName('l04.request');
    for (const name of ['l04.rate_limit', 'l04.cache.lookup', 'l04.route', 'l04.queue', 'l04.provider.attempt']) {
      expect(provider.byName(name).parentSpanId).toBe(root.spanContext().spanId);
      expect(provider.byName(name).ended).toBe(true);
    }
    expect(provider.byName('l04.provider.attempt').attributes).toMatchObject({ [GENAI.REQUEST_MODEL]: 'mock-1', [GENAI.OPERATION_NAME]: 'chat' });
    expect(root.ended).toBe(true);
  });

  it('keeps a stream request span open until its last event, with its steps nested', async () => {
    const instance = await gateway();
    const provider = registerTracing();
    const events = instance.stream({ ...request, logical_prompt: { messages: [{ role: 'user', content: 'stream and trace me' }] } })[Symbol.asyncIterator]();
    const first = await events.next();
    expect(first.value).toMatchObject({ type: 'start' });
    const root = provider.byName('l04.request');
    expect(root.attributes['l04.stream']).toBe(true);
    expect(root.ended).toBe(false);
    expect(provider.byName('l04.provider.attempt').parentSpanId).toBe(root.spanContext().spanId);
    while ((await events.next()).done !== true) {
      // drain the stream
    }
    expect(root.ended).toBe(true);
  });
});
