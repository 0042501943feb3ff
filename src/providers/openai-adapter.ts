/**
 * The OpenAI provider: Chat Completions (JSON and SSE), Embeddings and Models, against OpenAI or any
 * OpenAI-compatible base URL (vLLM, llama.cpp's server, LM Studio, Ollama's /v1). `base_url` ends in
 * `/v1` by config convention. Translates only: no retries, sleeps, caching or counting.
 */
import type { Dispatcher } from 'undici';
import { ProviderError, ResponseError, toGatewayError } from '../models/error-codes.js';
import type { Capability } from '../models/inference-request.js';
import { tokenUsage } from '../models/inference-response.js';
import type { OpenAIProviderConfig, ProviderHealth } from '../models/provider-config.js';
import { systemClock } from '../util/clock.js';
import type { Clock } from '../util/clock.js';
import { estimatePromptTokens, estimateTextTokens } from '../util/token-estimate.js';
import type { EmbedCall, EmbedResult, HealthCheckOptions, ProviderAdapter, ProviderCall, ProviderResult, StreamPart } from './base.js';
import { limitStreamText } from './http/stream-bounds.js';
import { UpstreamClient } from './http/upstream-client.js';
import type { UpstreamRequest, UpstreamResponse } from './http/upstream-client.js';
import { buildOpenAIChatRequest } from './openai/build-openai-chat-request.js';
import type { MaxTokensField } from './openai/build-openai-chat-request.js';
import { mapOpenAIError } from './openai/map-openai-error.js';
import { mapOpenAIFinishReason } from './openai/map-openai-finish-reason.js';
import { OpenAIEmbeddingResponseSchema, OpenAIModelListSchema, parseChatResponse } from './openai/openai-api.js';
import type { OpenAIEmbeddingRequest } from './openai/openai-api.js';
import { parseOpenAIStream } from './openai/parse-openai-stream.js';
import { merged } from '../util/merged.js';

/** Health checks are bounded to this (or `timeout_ms` when shorter), in milliseconds. */
export const OPENAI_HEALTH_TIMEOUT_MS = 2_000;

const OFFICIAL_HOST = 'api.openai.com';

/** Options of an `OpenAIAdapter`. */
export interface OpenAIAdapterOptions {
  /** Replaces the pooled undici agent (tests: a `MockAgent`, or a shared pool). */
  dispatcher?: Dispatcher;
  /** Time source of health checks (`checked_at`, `latency_ms`). Default: the system clock. */
  clock?: Clock;
  /**
   * Field of the output cap. Default `max_tokens` (what vLLM, llama.cpp and LM Studio understand),
   * except `max_completion_tokens` on api.openai.com, whose reasoning models reject `max_tokens`.
   */
  maxTokensField?: MaxTokensField;
}

/** Adapter for OpenAI and OpenAI-compatible servers. */
export class OpenAIAdapter implements ProviderAdapter {
  readonly id: string;
  readonly type = 'openai' as const;
  private readonly client: UpstreamClient;
  private readonly clock: Clock;
  private readonly headers: Record<string, string>;
  private readonly maxTokensField: MaxTokensField;
  private readonly healthTimeoutMs: number;
  private readonly maxStreamTextChars: number;
  /** Set when the provider cannot be called at all (api.openai.com without a key). */
  /** `not configured (no api_key)` for api.openai.com without a key; other OpenAI-compatible servers need none. */
  readonly unconfiguredReason: string | undefined;

  constructor(config: OpenAIProviderConfig, options: OpenAIAdapterOptions = {}) {
    this.id = config.id;
    this.clock = options.clock ?? systemClock;
    const official = new URL(config.base_url).hostname === OFFICIAL_HOST;
    this.maxTokensField = options.maxTokensField ?? (official ? 'max_completion_tokens' : 'max_tokens');
    // Local compatible servers often need no key: without one, send no auth header at all.
    this.unconfiguredReason = official && config.api_key === '' ? 'not configured (no api_key)' : undefined;
    this.healthTimeoutMs = Math.min(OPENAI_HEALTH_TIMEOUT_MS, config.timeout_ms);
    this.maxStreamTextChars = config.max_stream_text_chars;
    this.headers = {};
    if (config.api_key !== '') this.headers.authorization = `Bearer ${config.api_key}`;
    if (config.organization !== undefined && config.organization !== '') this.headers['openai-organization'] = config.organization;
    this.client = UpstreamClient.forProvider(config, config.base_url, options.dispatcher);
  }

  /** Generates a complete answer. Throws E4203 (no key), E42xx from the upstream, E4600 on a malformed body. */
  async complete(call: ProviderCall): Promise<ProviderResult> {
    const response = await this.post('/chat/completions', buildOpenAIChatRequest(call, { stream: false, maxTokensField: this.maxTokensField }), call);
    const data = parseChatResponse(await response.json());
    if (!data.success) throw this.malformed('chat.completion', data.error.issues);
    const choice = data.data.choices[0]!;
    const message = choice.message;
    const content = message.content ?? message.refusal ?? '';
    const toolCalls = (message.tool_calls ?? []).map((toolCall) => ({ id: toolCall.id, name: toolCall.function.name, arguments: toolCall.function.arguments }));
    const usage = data.data.usage;
    return {
      content,
      toolCalls,
      ...mapOpenAIFinishReason(choice.finish_reason),
      usage:
        usage == null
          ? tokenUsage(estimatePromptTokens(call.prompt), estimateTextTokens(content + toolCalls.map((toolCall) => toolCall.arguments).join('')))
          : tokenUsage(usage.prompt_tokens, usage.completion_tokens, { read: usage.prompt_tokens_details?.cached_tokens ?? 0 }),
    };
  }

  /**
   * Streams an answer over SSE. Failures before the stream opens (no key, HTTP error status,
   * connection refused, first-byte timeout) are thrown; later ones end the stream with an `error`
   * part. Breaking out of the iteration destroys the upstream body.
   */
  async *stream(call: ProviderCall): AsyncGenerator<StreamPart> {
    const response = await this.post('/chat/completions', buildOpenAIChatRequest(call, { stream: true, maxTokensField: this.maxTokensField }), call);
    const parts = parseOpenAIStream(response.chunks(), {
      provider: this.id,
      fallbackUsage: (outputText) => tokenUsage(estimatePromptTokens(call.prompt), estimateTextTokens(outputText)),
      maxEventChars: this.client.maxResponseBytes,
    });
    yield* limitStreamText(parts, this.maxStreamTextChars, this.id);
  }

  /** Embeds texts with `POST /embeddings`, in input order (sorted by `index`). */
  async embed(call: EmbedCall): Promise<EmbedResult> {
    const body: OpenAIEmbeddingRequest = { model: call.model, input: call.inputs };
    const response = await this.post('/embeddings', body, call);
    const parsed = OpenAIEmbeddingResponseSchema.safeParse(await response.json());
    if (!parsed.success) throw this.malformed('embedding list', parsed.error.issues);
    const embeddings = new Array<number[] | undefined>(call.inputs.length);
    for (const item of parsed.data.data) if (item.index < embeddings.length) embeddings[item.index] = item.embedding;
    const missing = embeddings.findIndex((embedding) => embedding === undefined);
    if (missing !== -1 || parsed.data.data.length !== call.inputs.length) {
      throw new ResponseError('E4600', `${this.id} returned ${parsed.data.data.length} embeddings for ${call.inputs.length} inputs`, {
        details: { provider: this.id },
      });
    }
    const promptTokens = parsed.data.usage?.prompt_tokens ?? call.inputs.reduce((sum, input) => sum + estimateTextTokens(input), 0);
    return { embeddings: embeddings as number[][], usage: { input_tokens: promptTokens } };
  }

  /**
   * Lists `GET /models` (authenticated, on the health-check connection, bounded by `options.timeoutMs`, else 2 s or `timeout_ms`). Unhealthy when unreachable, refused or not
   * configured; degraded when an expected model is not listed, or when the server answers /models
   * with no model list at all (compatible servers may not list everything they serve). Never throws.
   */
  async healthCheck(options: HealthCheckOptions = {}): Promise<ProviderHealth> {
    const started = this.clock.now();
    const report = (health: Omit<ProviderHealth, 'provider' | 'checked_at' | 'latency_ms'>, timed = true): ProviderHealth => ({
      provider: this.id,
      checked_at: started,
      ...(timed ? { latency_ms: Math.max(0, this.clock.now() - started) } : {}),
      ...health,
    });
    if (this.unconfiguredReason !== undefined) return report({ status: 'unhealthy', message: this.unconfiguredReason }, false);
    try {
      const response = await this.send({
        method: 'GET',
        path: '/models',
        totalTimeoutMs: options.timeoutMs ?? this.healthTimeoutMs,
        channel: 'health',
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      const parsed = OpenAIModelListSchema.safeParse(await response.json());
      if (!parsed.success) throw this.malformed('model list', parsed.error.issues);
      const listed = new Set(parsed.data.data.map((model) => model.id));
      const expected = options.expectedModels ?? [];
      const models = Object.fromEntries(expected.map((name) => [name, listed.has(name)]));
      const missing = expected.filter((name) => !listed.has(name));
      if (missing.length === 0) return report({ status: 'healthy', ...(expected.length > 0 ? { models } : {}) });
      return report({ status: 'degraded', models, message: `models not listed by ${this.id}: ${missing.join(', ')}` });
    } catch (error) {
      const gatewayError = toGatewayError(error);
      // Compatible servers (llama.cpp, proxies) may answer /models with something else, or 404:
      // the server is reachable and accepts the key, so it can still serve; nothing is known about its models.
      if (gatewayError.code === 'E4600' || gatewayError.code === 'E4206' || gatewayError.code === 'E4210') {
        return report({ status: 'degraded', message: `reachable, but GET /models gave no model list (${gatewayError.code})` });
      }
      return report({ status: 'unhealthy', message: `${gatewayError.code}: ${gatewayError.message}` });
    }
  }

  /** Every capability: vision, tools, JSON mode, streaming and embeddings are all in the API (the model's own list decides). */
  supportsCapability(_capability: Capability): boolean {
    return true;
  }

  /** Closes the pooled connections. */
  async close(): Promise<void> {
    await this.client.close();
  }

  private post(path: string, body: unknown, call: { signal: AbortSignal; deadlineAt: number | undefined; requestId?: string }): Promise<UpstreamResponse> {
    // OpenAI logs `X-Client-Request-Id` beside its own id; compatible servers ignore it.
    const headers = call.requestId === undefined ? this.headers : merged(this.headers, { 'x-client-request-id': call.requestId });
    return this.send({ method: 'POST', path, body, headers, signal: call.signal, deadlineAt: call.deadlineAt });
  }

  /** Sends with the auth headers; fails fast with E4203 when not configured; maps error statuses. */
  private async send(request: UpstreamRequest): Promise<UpstreamResponse> {
    if (this.unconfiguredReason !== undefined) throw new ProviderError('E4203', `${this.id}: ${this.unconfiguredReason}`, { details: { provider: this.id } });
    const response = await this.client.send(request.headers === undefined ? merged(request, { headers: this.headers }) : request);
    if (response.status >= 200 && response.status < 300) return response;
    const raw = await response.errorText();
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      body = undefined; // An HTML page from a proxy: the status alone decides.
    }
    throw mapOpenAIError(this.id, response.status, response.headers, body);
  }

  private malformed(what: string, issues: readonly { path: PropertyKey[]; message: string }[]): ResponseError {
    return new ResponseError('E4600', `${this.id} answered with a body that is not a valid ${what}`, {
      details: { provider: this.id, issues: issues.slice(0, 3).map((issue) => `${issue.path.map(String).join('.')}: ${issue.message}`) },
    });
  }
}
