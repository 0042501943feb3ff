/**
 * A local server that speaks the OpenAI Chat Completions, Embeddings and Models wire protocol,
 * serving the recorded payloads in `tests/fixtures/openai/` byte for byte.
 *
 * Scenario selection, first match wins:
 * 1. the last `scenario(name)` call (sticky until `scenario(undefined)`), for every path;
 * 2. the request body's `model` when it names a scenario (`{"model": "error-429"}`), so that
 *    concurrent tests (and service-level tests going through the gateway) can pick one per request;
 * 3. the path's default: `plain` for `/chat/completions`, `embeddings`, `models`.
 * `stream: true` in a chat request selects the scenario's `.sse` payload.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { LogicalPromptSchema } from '../../src/models/inference-request.js';
import type { LogicalPrompt } from '../../src/models/inference-request.js';
import type { ModelConfig } from '../../src/models/model-config.js';
import { OpenAIProviderSchema } from '../../src/models/provider-config.js';
import type { OpenAIProviderConfig } from '../../src/models/provider-config.js';
import type { ProviderCall, StreamPart } from '../../src/providers/base.js';
import { OpenAIAdapter } from '../../src/providers/openai-adapter.js';
import type { OpenAIAdapterOptions } from '../../src/providers/openai-adapter.js';
import { onCleanup } from './cleanup.js';
import { closeServer, listenLocal } from './local-server.js';

const FIXTURES = new URL('../fixtures/openai/', import.meta.url);

/** Reads a fixture file as text. */
export function readOpenAIFixture(name: string): string {
  return readFileSync(new URL(name, FIXTURES), 'utf8');
}

/** What the server answers in one scenario. */
interface Scenario {
  status?: number;
  /** Fixture answered to a non-streamed request (JSON unless `contentType` says otherwise). */
  json?: string;
  /** Fixture answered to a streamed chat request. */
  sse?: string;
  headers?: Record<string, string>;
  contentType?: string;
  /** `hang`: never answer; `stall`/`reset`: send the first events (or bytes), then stop or reset. */
  fault?: 'hang' | 'stall' | 'reset';
  /** The request must carry an `image_url` part (answered 400 otherwise). */
  requiresImage?: boolean;
}

const RATE_LIMIT_HEADERS = { 'x-ratelimit-limit-requests': '3', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '20s' };

/** Every scenario by name (`plain`, `tool-call`, `error-429`, `hang` …). */
export const OPENAI_SCENARIOS = {
  plain: { json: 'chat-completion.json', sse: 'chat-completion.sse' },
  'tool-call': { json: 'chat-tool-call.json', sse: 'chat-tool-call.sse' },
  vision: { json: 'chat-vision.json', sse: 'chat-completion.sse', requiresImage: true },
  'json-schema': { json: 'chat-json-schema.json', sse: 'chat-completion.sse' },
  length: { json: 'chat-length.json', sse: 'chat-completion.sse' },
  embeddings: { json: 'embeddings.json' },
  'embeddings-unordered': { json: 'embeddings-unordered.json' },
  models: { json: 'models.json' },
  'error-400': { status: 400, json: 'error-400.json' },
  'error-401': { status: 401, json: 'error-401.json' },
  'error-403': { status: 403, json: 'error-403.json' },
  'error-404': { status: 404, json: 'error-404.json' },
  'error-429': { status: 429, json: 'error-429.json', headers: { 'retry-after': '20', ...RATE_LIMIT_HEADERS } },
  'error-429-ms': { status: 429, json: 'error-429.json', headers: { 'retry-after-ms': '1500', ...RATE_LIMIT_HEADERS } },
  'error-429-quota': { status: 429, json: 'error-429-quota.json' },
  'error-500': { status: 500, json: 'error-500.json' },
  'error-503': { status: 503, json: 'error-503.json' },
  'error-context-length': { status: 400, json: 'error-context-length.json' },
  'proxy-502': { status: 502, json: 'not-json.html', contentType: 'text/html' },
  'not-json': { json: 'chat-not-json.txt' },
  'bad-shape': { json: 'chat-bad-shape.json' },
  'stream-cut': { json: 'chat-completion.json', sse: 'chat-stream-cut.sse' },
  'stream-error': { json: 'chat-completion.json', sse: 'chat-stream-error.sse' },
  /** A compatible server (older vLLM) that ignores `stream_options.include_usage`. */
  'stream-no-usage': { json: 'chat-completion.json', sse: 'chat-stream-no-usage.sse' },
  'stream-malformed': { json: 'chat-completion.json', sse: 'chat-stream-malformed.sse' },
  hang: { fault: 'hang' },
  stall: { json: 'chat-completion.json', sse: 'chat-completion.sse', fault: 'stall' },
  reset: { json: 'chat-completion.json', sse: 'chat-completion.sse', fault: 'reset' },
} as const satisfies Record<string, Scenario>;

/** A scenario name. */
export type OpenAIScenarioName = keyof typeof OPENAI_SCENARIOS;

/** One request the server received. */
export interface RecordedRequest {
  method: string;
  /** Path and query (`/v1/chat/completions`). */
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (`undefined` for a GET). */
  body: unknown;
  scenario: OpenAIScenarioName;
  /** Settles when the response closes: `completed`, or `aborted` when the client went away first. */
  closed: Promise<'completed' | 'aborted'>;
}

/** A running fixture server. */
export interface OpenAIFixture {
  /** Base URL ending in `/v1`, as the provider config expects (`http://127.0.0.1:PORT/v1`). */
  url: string;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** Forces a scenario for every following request; `undefined` returns to per-request selection. */
  scenario(name: OpenAIScenarioName | undefined): void;
  /** Closes the server and every open connection (hung and stalled ones included). */
  close(): Promise<void>;
}

/** How many SSE events (or JSON bytes) `stall` and `reset` send before they stop. */
const EVENTS_BEFORE_FAULT = 3;

/** Starts the server on 127.0.0.1, port 0. */
export async function startOpenAIFixture(): Promise<OpenAIFixture> {
  const requests: RecordedRequest[] = [];
  let forced: OpenAIScenarioName | undefined;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const body: unknown = raw === '' ? undefined : JSON.parse(raw);
      const path = request.url ?? '/';
      const name = forced ?? pickScenario(path, body);
      const closed = new Promise<'completed' | 'aborted'>((resolve) =>
        response.on('close', () => resolve(response.writableFinished ? 'completed' : 'aborted')),
      );
      requests.push({ method: request.method ?? 'GET', path, headers: request.headers, body, scenario: name, closed });
      answer(request, response, path, body, OPENAI_SCENARIOS[name]);
    });
  });
  const port = await listenLocal(server);
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    scenario(name) {
      forced = name;
    },
    close: () => closeServer(server),
  };
}

function pickScenario(path: string, body: unknown): OpenAIScenarioName {
  const model = typeof body === 'object' && body !== null && 'model' in body ? (body as { model: unknown }).model : undefined;
  if (typeof model === 'string' && Object.hasOwn(OPENAI_SCENARIOS, model)) return model as OpenAIScenarioName;
  if (path.endsWith('/embeddings')) return 'embeddings';
  if (path.endsWith('/models')) return 'models';
  return 'plain';
}

function answer(request: IncomingMessage, response: ServerResponse, path: string, body: unknown, scenario: Scenario): void {
  if (!/^\/v1\/(chat\/completions|embeddings|models)$/.test(path.split('?')[0] ?? '')) {
    sendJson(
      response,
      404,
      JSON.stringify({ error: { message: `Invalid URL (${request.method} ${path})`, type: 'invalid_request_error', param: null, code: null } }),
    );
    return;
  }
  if (scenario.fault === 'hang') return; // Headers never come; the client's first-byte timeout or abort ends it.
  if (scenario.requiresImage === true && !JSON.stringify(body).includes('"image_url"')) {
    sendJson(response, 400, readOpenAIFixture('error-400.json'));
    return;
  }
  const streamed = path.endsWith('/chat/completions') && (body as { stream?: unknown } | undefined)?.stream === true;
  if (streamed && scenario.sse !== undefined && (scenario.status ?? 200) === 200) {
    sendSse(response, readOpenAIFixture(scenario.sse), scenario.fault);
    return;
  }
  let payload = readOpenAIFixture(scenario.json ?? 'chat-completion.json');
  if (path.endsWith('/embeddings') && (body as { encoding_format?: unknown }).encoding_format === 'base64') payload = toBase64Embeddings(payload);
  if (scenario.fault !== undefined) {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) });
    response.write(payload.slice(0, 100));
    if (scenario.fault === 'reset') response.socket?.destroy();
    return;
  }
  sendJson(response, scenario.status ?? 200, payload, { ...scenario.headers }, scenario.contentType);
}

function sendJson(response: ServerResponse, status: number, payload: string, headers: Record<string, string> = {}, contentType = 'application/json'): void {
  response.writeHead(status, { 'content-type': contentType, 'x-request-id': 'req_fixture', 'openai-processing-ms': '42', ...headers });
  response.end(payload);
}

/** Writes the events one by one, as OpenAI flushes them; `stall` stops and `reset` destroys after a few. */
function sendSse(response: ServerResponse, payload: string, fault: Scenario['fault']): void {
  response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': 'req_fixture' });
  const events = payload.split(/(?<=\n\n)/);
  const limit = fault === undefined ? events.length : EVENTS_BEFORE_FAULT;
  let index = 0;
  const next = (): void => {
    if (response.destroyed) return;
    if (index < limit) {
      response.write(events[index++]);
      setImmediate(next);
      return;
    }
    if (fault === 'reset') response.socket?.destroy();
    else if (fault === undefined) response.end();
  };
  next();
}

/** The embeddings payload with each vector as base64 little-endian float32, as the API sends it. */
function toBase64Embeddings(payload: string): string {
  const parsed = JSON.parse(payload) as { data: { embedding: number[] }[] };
  for (const item of parsed.data) (item as { embedding: unknown }).embedding = Buffer.from(new Float32Array(item.embedding).buffer).toString('base64');
  return JSON.stringify(parsed);
}

// ---------------------------------------------------------------- builders for tests driving an adapter

/** A validated OpenAI provider config (defaults applied) with id `openai`. */
export function openAIConfig(input: Partial<OpenAIProviderConfig> & { base_url: string }): OpenAIProviderConfig {
  return { ...OpenAIProviderSchema.parse({ type: 'openai', api_key: 'sk-test-0123456789', ...input }), id: input.id ?? 'openai' };
}

/** An adapter closed after the test. */
export function openAIAdapter(input: Partial<OpenAIProviderConfig> & { base_url: string }, options: OpenAIAdapterOptions = {}): OpenAIAdapter {
  const adapter = new OpenAIAdapter(openAIConfig(input), options);
  onCleanup(() => adapter.close());
  return adapter;
}

/** A model whose provider name selects the fixture scenario. */
export function modelNamed(providerModel: string): ModelConfig {
  return {
    id: `m-${providerModel}`,
    provider: 'openai',
    provider_model: providerModel,
    capabilities: [],
    context_length: 128_000,
    max_output_tokens: 4096,
    input_cost_per_1k_cents: 0,
    output_cost_per_1k_cents: 0,
    expected_latency_ms: 1000,
    quality: 50,
    auto: true,
  };
}

/** A call to `providerModel` (a fixture scenario) with the given prompt fields. */
export function callFor(providerModel: string, prompt: Partial<LogicalPrompt> = {}, overrides: Partial<ProviderCall> = {}): ProviderCall {
  return {
    requestId: 'req_test_1',
    model: modelNamed(providerModel),
    prompt: LogicalPromptSchema.parse({ messages: [{ role: 'user', content: 'Why is the sky blue?' }], ...prompt }),
    maxOutputTokens: 256,
    minContextLength: 4096,
    signal: new AbortController().signal,
    deadlineAt: Date.now() + 5_000,
    ...overrides,
  };
}

/** Every part of a stream. */
export async function collect(parts: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const out: StreamPart[] = [];
  for await (const part of parts) out.push(part);
  return out;
}

/** The error a promise rejects with. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** A base URL on which nothing listens (a port taken, then released). */
export async function refusedBaseUrl(): Promise<string> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/v1`;
}
