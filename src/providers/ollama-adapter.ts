/**
 * The Ollama adapter (primary, local-first provider): `/api/chat` (JSON and NDJSON streaming),
 * `/api/embed`, and `/api/tags` + `/api/version` for health, `/api/show` for model metadata.
 * It translates only; retries, breakers and budgets are applied around it.
 * API reference: https://github.com/ollama/ollama/blob/main/docs/api.md
 */
import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import { ProviderError, toGatewayError } from '../models/error-codes.js';
import type { GatewayError } from '../models/error-codes.js';
import { CAPABILITIES } from '../models/inference-request.js';
import type { Capability } from '../models/inference-request.js';
import type { OllamaProviderConfig, ProviderHealth } from '../models/provider-config.js';
import { systemClock } from '../util/clock.js';
import type { Clock } from '../util/clock.js';
import { estimateTextTokens } from '../util/token-estimate.js';
import type { EmbedCall, EmbedResult, HealthCheckOptions, ProviderAdapter, ProviderCall, ProviderResult, StreamPart } from './base.js';
import { parseNdjson } from './http/ndjson.js';
import { limitStreamText } from './http/stream-bounds.js';
import { UpstreamClient } from './http/upstream-client.js';
import type { UpstreamRequest, UpstreamResponse } from './http/upstream-client.js';
import { convertOllamaChatResponse, convertOllamaChatStream } from './ollama/convert-from-ollama-response.js';
import { convertToOllamaChatRequest } from './ollama/convert-to-ollama-messages.js';
import { mapOllamaError } from './ollama/map-ollama-error.js';
import { matchOllamaModels } from './ollama/match-ollama-models.js';
import {
  OllamaChatResponseSchema,
  OllamaEmbedResponseSchema,
  OllamaShowResponseSchema,
  OllamaTagsResponseSchema,
  OllamaVersionResponseSchema,
} from './ollama/ollama-api.js';
import type { OllamaEmbedRequest } from './ollama/ollama-api.js';

/** Bound on a health check and on the metadata calls (`/api/tags`, `/api/version`, `/api/show`), in milliseconds. */
export const OLLAMA_HEALTH_TIMEOUT_MS = 2_000;

/** Options of an `OllamaAdapter`. */
export interface OllamaAdapterOptions {
  /** Replaces the pooled undici agent (tests, custom pools). */
  dispatcher?: Dispatcher;
  /** Time source for `checked_at` and `latency_ms` of health checks. Default: the system clock. */
  clock?: Clock;
  /** Overrides the 2-second bound on health checks and metadata calls, in milliseconds. */
  healthTimeoutMs?: number;
}

/** What `/api/show` says about a model. */
export interface OllamaModelInfo {
  name: string;
  /** The model's trained context length (`<architecture>.context_length`), in tokens. */
  contextLength?: number;
  /** Ollama's capability names (`completion`, `vision`, `tools`, `embedding`…); empty on old versions. */
  capabilities: string[];
  family?: string;
  parameterSize?: string;
  quantizationLevel?: string;
}

/** Options of the metadata calls. */
export interface OllamaMetadataOptions {
  signal?: AbortSignal;
  /** Bound on the call, in milliseconds (default 2 s). */
  timeoutMs?: number;
  /** `health`: the client's health-check connection, apart from the traffic pool. */
  channel?: 'traffic' | 'health';
}

/** Talks to one Ollama server. */
export class OllamaAdapter implements ProviderAdapter {
  readonly id: string;
  readonly type = 'ollama' as const;
  private readonly baseUrl: string;
  private readonly keepAlive: string | number | undefined;
  private readonly client: UpstreamClient;
  private readonly clock: Clock;
  private readonly healthTimeoutMs: number;
  private readonly maxStreamTextChars: number;

  constructor(config: OllamaProviderConfig, options: OllamaAdapterOptions = {}) {
    this.id = config.id;
    this.baseUrl = config.base_url.replace(/\/+$/, '');
    this.keepAlive = config.keep_alive;
    this.clock = options.clock ?? systemClock;
    this.healthTimeoutMs = options.healthTimeoutMs ?? OLLAMA_HEALTH_TIMEOUT_MS;
    this.maxStreamTextChars = config.max_stream_text_chars;
    this.client = UpstreamClient.forProvider(config, this.baseUrl, options.dispatcher);
  }

  /** `POST /api/chat` with `stream: false`. Throws E4200/E4201/E4202/E4203/E4204/E4206/E4210/E4600/E4507. */
  async complete(call: ProviderCall): Promise<ProviderResult> {
    const body = convertToOllamaChatRequest(call, { stream: false, provider: this.id, keepAlive: this.keepAlive });
    const response = await this.send({ method: 'POST', path: '/api/chat', body, signal: call.signal, deadlineAt: call.deadlineAt });
    const parsed = this.parse(OllamaChatResponseSchema, await response.json(), '/api/chat');
    return convertOllamaChatResponse(parsed, call.prompt);
  }

  /**
   * `POST /api/chat` streaming NDJSON. Request and HTTP failures throw from the first `next()`;
   * once the answer has started, failures end the stream with an `error` part.
   */
  async *stream(call: ProviderCall): AsyncGenerator<StreamPart> {
    const body = convertToOllamaChatRequest(call, { stream: true, provider: this.id, keepAlive: this.keepAlive });
    const response = await this.send({ method: 'POST', path: '/api/chat', body, signal: call.signal, deadlineAt: call.deadlineAt });
    // Returning early (the consumer breaks) closes parseNdjson and then chunks(), whose finally
    // destroys the body: the upstream request is aborted.
    const parts = convertOllamaChatStream(parseNdjson(response.chunks(), this.id, this.client.maxResponseBytes), { provider: this.id, prompt: call.prompt });
    yield* limitStreamText(parts, this.maxStreamTextChars, this.id);
  }

  /** `POST /api/embed` with the whole batch as `input`. Throws as `complete`; E4600 when the vector count differs. */
  async embed(call: EmbedCall): Promise<EmbedResult> {
    const body: OllamaEmbedRequest = { model: call.model, input: call.inputs };
    if (this.keepAlive !== undefined) body.keep_alive = this.keepAlive;
    const response = await this.send({ method: 'POST', path: '/api/embed', body, signal: call.signal, deadlineAt: call.deadlineAt });
    const parsed = this.parse(OllamaEmbedResponseSchema, await response.json(), '/api/embed');
    if (parsed.embeddings.length !== call.inputs.length) {
      throw new ProviderError('E4600', `${this.id} returned ${parsed.embeddings.length} embeddings for ${call.inputs.length} inputs`, {
        details: { provider: this.id },
      });
    }
    const inputTokens = parsed.prompt_eval_count ?? call.inputs.reduce((sum, input) => sum + estimateTextTokens(input), 0);
    return { embeddings: parsed.embeddings, usage: { input_tokens: inputTokens } };
  }

  /**
   * `GET /api/tags` (+ `/api/version`) on the health-check connection, bounded by `options.timeoutMs` or 2 s. Healthy when reachable with every expected
   * model pulled; degraded when some are missing (each with a hint `ollama pull <name>`);
   * unhealthy when unreachable or failing. Never throws.
   */
  async healthCheck(options: HealthCheckOptions = {}): Promise<ProviderHealth> {
    const startedAt = this.clock.now();
    const expected = options.expectedModels ?? [];
    const check = { ...options, timeoutMs: options.timeoutMs ?? this.healthTimeoutMs, channel: 'health' as const };
    const [tags, version] = await Promise.allSettled([this.listModels(check), this.version(check)]);
    const latencyMs = Math.max(0, this.clock.now() - startedAt);
    const base = { provider: this.id, checked_at: startedAt, latency_ms: latencyMs, ...(version.status === 'fulfilled' ? { version: version.value } : {}) };
    if (tags.status === 'rejected') return { ...base, status: 'unhealthy', message: this.describeFailure(toGatewayError(tags.reason)) };
    const match = matchOllamaModels(expected, tags.value);
    if (match.missing.length === 0) return { ...base, status: 'healthy', models: match.models };
    return {
      ...base,
      status: 'degraded',
      models: match.models,
      message: `Ollama at ${this.baseUrl} has not pulled ${match.missing.join(', ')}`,
      hints: match.missing.map((name) => `ollama pull ${name}`),
    };
  }

  /** Names of the models pulled on this Ollama (`GET /api/tags`). Throws like `complete`. */
  async listModels(options: OllamaMetadataOptions = {}): Promise<string[]> {
    const response = await this.send({ method: 'GET', path: '/api/tags', ...metadataRequest(options, this.healthTimeoutMs) });
    const parsed = this.parse(OllamaTagsResponseSchema, await response.json(), '/api/tags');
    return parsed.models.map((model) => model.name);
  }

  /** The Ollama server version (`GET /api/version`). Throws like `complete`. */
  async version(options: OllamaMetadataOptions = {}): Promise<string> {
    const response = await this.send({ method: 'GET', path: '/api/version', ...metadataRequest(options, this.healthTimeoutMs) });
    return this.parse(OllamaVersionResponseSchema, await response.json(), '/api/version').version;
  }

  /** Model metadata (`POST /api/show`), e.g. its context length. Throws E4210 when the model is not pulled. */
  async showModel(name: string, options: OllamaMetadataOptions = {}): Promise<OllamaModelInfo> {
    const response = await this.send({
      method: 'POST',
      path: '/api/show',
      body: { model: name },
      signal: options.signal,
      totalTimeoutMs: this.healthTimeoutMs,
    });
    const parsed = this.parse(OllamaShowResponseSchema, await response.json(), '/api/show');
    const info = parsed.model_info ?? {};
    const architecture = info['general.architecture'];
    let contextLength = typeof architecture === 'string' ? info[`${architecture}.context_length`] : undefined;
    if (typeof contextLength !== 'number')
      contextLength = Object.entries(info).find(([key, value]) => key.endsWith('.context_length') && typeof value === 'number')?.[1];
    const details = parsed.details;
    return {
      name,
      ...(typeof contextLength === 'number' ? { contextLength } : {}),
      capabilities: parsed.capabilities ?? [],
      ...(details?.family === undefined ? {} : { family: details.family }),
      ...(details?.parameter_size === undefined ? {} : { parameterSize: details.parameter_size }),
      ...(details?.quantization_level === undefined ? {} : { quantizationLevel: details.quantization_level }),
    };
  }

  /** Ollama serves every capability the gateway knows: text, vision, tools, JSON, streaming, embeddings, long context. */
  supportsCapability(capability: Capability): boolean {
    return (CAPABILITIES as readonly string[]).includes(capability);
  }

  /** Closes the pooled connections. */
  async close(): Promise<void> {
    await this.client.close();
  }

  /** Sends a request; an error status is read, mapped and thrown. */
  private async send(request: UpstreamRequest): Promise<UpstreamResponse> {
    const response = await this.client.send(request);
    if (response.status < 400) return response;
    // An error body that cannot be read (or is too large) reads as '': the status alone decides the code.
    throw mapOllamaError(this.id, response.status, response.headers, await response.errorText());
  }

  /** Parses a response body with its wire schema; a mismatch is E4600. */
  private parse<T>(schema: z.ZodType<T>, json: unknown, path: string): T {
    const result = schema.safeParse(json);
    if (result.success) return result.data;
    throw new ProviderError('E4600', `${this.id} answered ${path} with a body that does not match Ollama's API`, {
      details: { provider: this.id, path, issues: result.error.issues.slice(0, 3) },
    });
  }

  private describeFailure(error: GatewayError): string {
    if (error.code === 'E4200') {
      const cause = error.details['cause_code'];
      return cause === 'ECONNREFUSED'
        ? `Ollama is not running at ${this.baseUrl} (connection refused)`
        : `Ollama at ${this.baseUrl} is unreachable: ${error.message}`;
    }
    if (error.code === 'E4201') return `Ollama at ${this.baseUrl} did not answer in time: ${error.message}`;
    return `Ollama at ${this.baseUrl} failed its health check: ${error.message}`;
  }
}

/** The signal, bound and channel of a metadata call. */
function metadataRequest(options: OllamaMetadataOptions, defaultTimeoutMs: number): Pick<UpstreamRequest, 'signal' | 'totalTimeoutMs' | 'channel'> {
  return { signal: options.signal, totalTimeoutMs: options.timeoutMs ?? defaultTimeoutMs, channel: options.channel ?? 'traffic' };
}
