/**
 * The Anthropic provider: Claude models through the Messages API (`POST {base_url}/v1/messages`,
 * JSON and SSE), health from `GET /v1/models`. Translates only: no retries, sleeps, caching or
 * counting. Its parts live in `./anthropic/` (wire schemas, request conversion, finish-reason and
 * error mapping, stream translation).
 *
 * Decisions worth knowing:
 * - JSON mode: served by a forced tool (see `convertToAnthropicRequest`); the tool's input is the
 *   answer's text (streamed as text deltas) and the finish reason is `stop`.
 * - Thinking blocks come back as `reasoning` parts with their signatures.
 * - Embeddings: Anthropic has no embeddings API; `embed` throws E4209.
 * - No API key: every call fails fast with E4203 without a network call; the health check reports
 *   `unhealthy` "not configured (no api_key)".
 * - Input usage counts cached prompt tokens too (`input_tokens` + cache creation + cache read), and
 *   the cache counts are kept apart for pricing.
 */
import type { Dispatcher } from 'undici';
import { ProviderError, ResponseError } from '../models/error-codes.js';
import type { GatewayError } from '../models/error-codes.js';
import type { Capability, ReasoningPart, ToolCall } from '../models/inference-request.js';
import { tokenUsage } from '../models/inference-response.js';
import type { AnthropicProviderConfig, ProviderHealth } from '../models/provider-config.js';
import { systemClock } from '../util/clock.js';
import type { Clock } from '../util/clock.js';
import { parseSse } from './http/sse.js';
import { limitStreamText } from './http/stream-bounds.js';
import { UpstreamClient } from './http/upstream-client.js';
import type { UpstreamResponse } from './http/upstream-client.js';
import type { EmbedCall, EmbedResult, HealthCheckOptions, ProviderAdapter, ProviderCall, ProviderResult, StreamPart } from './base.js';
import { AnthropicMessageSchema, AnthropicModelListSchema } from './anthropic/anthropic-api.js';
import type { AnthropicMessage } from './anthropic/anthropic-api.js';
import { toAnthropicStreamParts } from './anthropic/anthropic-stream-parts.js';
import { convertToAnthropicRequest } from './anthropic/convert-to-anthropic-messages.js';
import { mapAnthropicError } from './anthropic/map-anthropic-error.js';
import { mapAnthropicFinishReason } from './anthropic/map-anthropic-finish-reason.js';

/** Options of an `AnthropicAdapter`. */
export interface AnthropicAdapterOptions {
  /** Replaces the pooled undici agent (tests). */
  dispatcher?: Dispatcher;
  /** Time source of health checks (`checked_at`, `latency_ms`); the system clock by default. */
  clock?: Clock;
}

/** Whole-request bound of a health check, in milliseconds (a shorter configured `timeout_ms` wins). */
export const ANTHROPIC_HEALTH_TIMEOUT_MS = 2_000;

const CAPABILITIES: ReadonlySet<Capability> = new Set<Capability>(['text', 'vision', 'tool_use', 'long_context', 'streaming', 'json_mode']);

/** Anthropic Messages API adapter. */
export class AnthropicAdapter implements ProviderAdapter {
  readonly id: string;
  readonly type = 'anthropic' as const;
  private readonly config: AnthropicProviderConfig;
  private readonly client: UpstreamClient;
  private readonly clock: Clock;

  /** Why the provider cannot be called: no `api_key`. */
  get unconfiguredReason(): string | undefined {
    return this.config.api_key === '' ? 'not configured (no api_key)' : undefined;
  }

  constructor(config: AnthropicProviderConfig, options: AnthropicAdapterOptions = {}) {
    this.id = config.id;
    this.config = config;
    this.clock = options.clock ?? systemClock;
    this.client = UpstreamClient.forProvider(config, config.base_url, options.dispatcher);
  }

  /** Sends a non-streamed `/v1/messages` call. Throws E4203 (no key, 401/403), E4204, E4205, E4600… */
  async complete(call: ProviderCall): Promise<ProviderResult> {
    const { response, jsonTool } = await this.post(call, false);
    const body = await response.json();
    const parsed = AnthropicMessageSchema.safeParse(body);
    if (!parsed.success) throw this.malformed('an answer that does not match the Messages API schema');
    return toResult(parsed.data, jsonTool);
  }

  /** Streams a `/v1/messages` call (SSE). Failures before the first event throw from the first `next()`. */
  async *stream(call: ProviderCall): AsyncGenerator<StreamPart> {
    const { response, jsonTool } = await this.post(call, true);
    const events = parseSse(response.chunks(), { provider: this.id, maxEventChars: this.client.maxResponseBytes });
    yield* limitStreamText(toAnthropicStreamParts(events, this.id, jsonTool), this.config.max_stream_text_chars, this.id);
  }

  /** Always throws E4209: Anthropic has no embeddings API. */
  async embed(_call: EmbedCall): Promise<EmbedResult> {
    throw new ProviderError('E4209', `${this.id}: Anthropic has no embeddings API`, { details: { provider: this.id, capability: 'embeddings' } });
  }

  /**
   * Lists models (`GET /v1/models`, authenticated, on the health-check connection, bounded by `options.timeoutMs` or 2 s; spends no tokens). Reachable and
   * authorized → healthy, with each expected model marked found or missing. 429/529 → degraded;
   * anything else → unhealthy with the reason. Never throws.
   */
  async healthCheck(options: HealthCheckOptions = {}): Promise<ProviderHealth> {
    const started = this.clock.now();
    const report = (fields: Omit<ProviderHealth, 'provider' | 'checked_at'>): ProviderHealth => ({ provider: this.id, checked_at: started, ...fields });
    if (this.config.api_key === '') return report({ status: 'unhealthy', message: 'not configured (no api_key)' });
    try {
      const response = await this.client.send({
        method: 'GET',
        path: '/v1/models?limit=1000',
        headers: this.headers(),
        totalTimeoutMs: options.timeoutMs ?? Math.min(ANTHROPIC_HEALTH_TIMEOUT_MS, this.config.timeout_ms),
        channel: 'health',
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      const latencyMs = this.clock.now() - started;
      if (response.status !== 200) {
        const error = mapAnthropicError(this.id, response.status, response.headers, await response.errorText(), 'other');
        const busy = error.code === 'E4204' || error.code === 'E4205';
        return report({ status: busy ? 'degraded' : 'unhealthy', latency_ms: latencyMs, message: error.message });
      }
      const parsed = AnthropicModelListSchema.safeParse(await response.json());
      if (!parsed.success)
        return report({ status: 'unhealthy', latency_ms: latencyMs, message: 'GET /v1/models answered with a body that is not a model list' });
      const listed = parsed.data.data.map((model) => model.id);
      const models = Object.fromEntries((options.expectedModels ?? []).map((name) => [name, isListed(name, listed)]));
      const missing = Object.entries(models)
        .filter(([, found]) => !found)
        .map(([name]) => name);
      return report({
        status: 'healthy',
        latency_ms: latencyMs,
        models,
        ...(missing.length === 0
          ? {}
          : {
              message: `models not offered to this API key: ${missing.join(', ')}`,
              hints: missing.map((name) => `check the model name '${name}' against GET /v1/models`),
            }),
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return report({ status: 'unhealthy', latency_ms: this.clock.now() - started, message });
    }
  }

  /** Everything but `embeddings`. */
  supportsCapability(capability: Capability): boolean {
    return CAPABILITIES.has(capability);
  }

  /** Closes the pooled connections. */
  async close(): Promise<void> {
    await this.client.close();
  }

  /** Sends the call; resolves with a 200 response or throws the mapped error. */
  private async post(call: ProviderCall, stream: boolean): Promise<{ response: UpstreamResponse; jsonTool: string | undefined }> {
    if (this.config.api_key === '') throw this.notConfigured();
    const request = convertToAnthropicRequest({ model: call.model.provider_model, prompt: call.prompt, maxOutputTokens: call.maxOutputTokens, stream });
    const response = await this.client.send({
      method: 'POST',
      path: '/v1/messages',
      // The caller's anthropic-version and anthropic-beta (from provider_options) replace the configured version.
      headers: { ...this.headers(), ...request.headers, ...(stream ? { accept: 'text/event-stream' } : {}) },
      body: request.body,
      signal: call.signal,
      deadlineAt: call.deadlineAt,
    });
    if (response.status === 200) return { response, jsonTool: request.jsonTool };
    throw mapAnthropicError(this.id, response.status, response.headers, await response.errorText());
  }

  private headers(): Record<string, string> {
    return { 'x-api-key': this.config.api_key, 'anthropic-version': this.config.anthropic_version };
  }

  private notConfigured(): GatewayError {
    return new ProviderError('E4203', `${this.id}: not configured (no api_key)`, { details: { provider: this.id, reason: 'no_api_key' } });
  }

  private malformed(what: string): GatewayError {
    return new ResponseError('E4600', `${this.id} answered with ${what}`, { details: { provider: this.id } });
  }
}

/**
 * A parsed answer → the gateway's result: text blocks joined, tool_use blocks as tool calls
 * (the forced JSON tool's input as the text), thinking blocks as reasoning.
 */
function toResult(message: AnthropicMessage, jsonTool: string | undefined): ProviderResult {
  let content = '';
  const toolCalls: ToolCall[] = [];
  const reasoning: ReasoningPart[] = [];
  let answeredInJson = false;
  for (const block of message.content) {
    if (block.type === 'text' && 'text' in block && typeof block.text === 'string') content += block.text;
    if (block.type === 'thinking' && 'thinking' in block && typeof block.thinking === 'string') {
      const signature = 'signature' in block && typeof block.signature === 'string' ? block.signature : undefined;
      reasoning.push({ type: 'reasoning', text: block.thinking, ...(signature === undefined ? {} : { signature }) });
    }
    if (block.type === 'redacted_thinking' && 'data' in block && typeof block.data === 'string')
      reasoning.push({ type: 'redacted_reasoning', data: block.data });
    if (block.type === 'tool_use' && 'id' in block && typeof block.id === 'string' && 'name' in block && typeof block.name === 'string') {
      const input = JSON.stringify(('input' in block ? block.input : undefined) ?? {});
      if (jsonTool !== undefined && block.name === jsonTool) {
        // The forced tool's input is the answer; text the model wrote beside it is not part of the JSON.
        content = input;
        answeredInJson = true;
      } else toolCalls.push({ id: block.id, name: block.name, arguments: input });
    }
  }
  const usage = message.usage;
  const creation = usage.cache_creation_input_tokens ?? 0;
  const read = usage.cache_read_input_tokens ?? 0;
  const finishReason = answeredInJson && message.stop_reason === 'tool_use' ? 'stop' : mapAnthropicFinishReason(message.stop_reason);
  return {
    content,
    toolCalls,
    ...(reasoning.length === 0 ? {} : { reasoning }),
    finishReason,
    rawFinishReason: message.stop_reason ?? undefined,
    usage: tokenUsage(usage.input_tokens + creation + read, usage.output_tokens, { creation, read }),
  };
}

/**
 * Whether `/v1/models` lists `name`: exactly, or as an alias of a dated id
 * (`claude-sonnet-4-5` of `claude-sonnet-4-5-20250929`, `…-latest` of the newest dated id).
 */
function isListed(name: string, listed: string[]): boolean {
  if (listed.includes(name)) return true;
  const stem = name.endsWith('-latest') ? name.slice(0, -'-latest'.length) : name;
  return listed.some((id) => id.startsWith(`${stem}-`) && /^\d{8}$/.test(id.slice(stem.length + 1)));
}
