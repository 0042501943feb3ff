/**
 * A local stand-in for Anthropic's Messages API: node:http on 127.0.0.1, port 0, speaking the real
 * wire protocol (`POST /v1/messages` as JSON or SSE, `GET /v1/models`, Anthropic's error bodies and
 * headers) and serving the recorded payloads in `tests/fixtures/anthropic/` byte for byte.
 *
 * Scenario selection, per request, first match wins:
 * 1. a request whose `model` is a scenario name (`"model": "tool-use"`) gets that scenario — so a
 *    service-level test can pick one through `provider_model` in its config;
 * 2. otherwise the scenario last set with `fixture.scenario(name)` (default `text`).
 *
 * Like the real API, every request is checked first: a missing/wrong `x-api-key` (or
 * `Authorization: Bearer`, which SDK 1.x sends) → 401
 * `authentication_error`; no `anthropic-version` → 400; a `/v1/messages` body without `model`,
 * a positive integer `max_tokens` or non-empty, role-alternating `messages` → 400
 * `invalid_request_error`. The `vision` scenario also answers 400 unless the last user turn holds
 * an image block.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { closeServer, listenLocal } from './local-server.js';

/** The key the fixture accepts in `x-api-key` unless `startAnthropicFixture({ apiKey })` says otherwise. */
export const ANTHROPIC_FIXTURE_API_KEY = 'sk-ant-api03-fixture-key-0000000000';

/** Every scenario the fixture plays. */
export const ANTHROPIC_FIXTURE_SCENARIOS = [
  /** message-text.json / stream-text.sse */
  'text',
  /** message-tool-use.json / stream-tool-use.sse (two tool calls, the second without arguments) */
  'tool-use',
  /** message-vision.json / stream-text.sse; 400 unless the last user turn has an image block */
  'vision',
  /** message-max-tokens.json (stop_reason max_tokens) / stream-text.sse */
  'max-tokens',
  /** message-thinking.json (signed thinking, redacted thinking, text; prompt-cache usage) / stream-thinking.sse; 400 unless `thinking` is enabled */
  'thinking',
  /** message-json-tool.json / stream-json-tool.sse: the forced `json_response` tool; 400 unless the request forces that tool */
  'json-tool',
  'error-400',
  'error-401',
  'error-403',
  /** not_found_error for the model */
  'error-404',
  /** request_too_large */
  'error-413',
  /** rate_limit_error with `retry-after: 7` */
  'error-429',
  'error-500',
  /** overloaded_error */
  'error-529',
  /** streams: text, then an `error` event with overloaded_error; JSON: 529 */
  'stream-overloaded',
  /** never sends a status line */
  'hang',
  /** sends the status, headers and the first part of the body, then nothing */
  'stall',
  /** sends the first part of the body, then resets the connection */
  'reset',
  /** sends the first part of the stream, then ends the response cleanly without message_stop */
  'truncated',
  /** JSON: a body that is not JSON; SSE: an event whose data is not JSON */
  'malformed',
  /** JSON: valid JSON that is not a Message; SSE: as `malformed` */
  'malformed-shape',
] as const;

/** A scenario name. */
export type AnthropicFixtureScenario = (typeof ANTHROPIC_FIXTURE_SCENARIOS)[number];

/** One request the fixture received. */
export interface RecordedRequest {
  method: string;
  /** Path and query. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The JSON body, or `undefined` when there was none. */
  body: unknown;
  /** The scenario that answered it. */
  scenario: AnthropicFixtureScenario;
  /** The client's port: two requests with the same one shared a pooled connection. */
  remotePort: number | undefined;
  /** Settles when the exchange is over: answered in full, or the connection closed by either side. */
  closed: Promise<void>;
}

/** A running fixture server. */
export interface AnthropicFixture {
  /** `http://127.0.0.1:<port>`: the adapter's `base_url` and the SDK's `baseURL`. */
  url: string;
  /** Requests received so far, in order. */
  requests: RecordedRequest[];
  /** Sets the scenario of the following requests (those whose model is no scenario name). */
  scenario(name: AnthropicFixtureScenario): void;
  /** Stops listening and destroys every open connection (hung and stalled ones included). */
  close(): Promise<void>;
}

const FIXTURE_DIR = new URL('../fixtures/anthropic/', import.meta.url);

/** The bytes of a fixture file, as served. */
export function readAnthropicFixture(name: string): string {
  return readFileSync(new URL(name, FIXTURE_DIR), 'utf8');
}

/** A JSON fixture file, parsed (tests compare against it). */
export function loadAnthropicFixture(name: string): unknown {
  return JSON.parse(readAnthropicFixture(name)) as unknown;
}

const ERROR_STATUSES: Partial<Record<AnthropicFixtureScenario, number>> = {
  'error-400': 400,
  'error-401': 401,
  'error-403': 403,
  'error-404': 404,
  'error-413': 413,
  'error-429': 429,
  'error-500': 500,
  'error-529': 529,
};

const JSON_ANSWERS: Partial<Record<AnthropicFixtureScenario, string>> = {
  text: 'message-text.json',
  'tool-use': 'message-tool-use.json',
  vision: 'message-vision.json',
  'max-tokens': 'message-max-tokens.json',
  thinking: 'message-thinking.json',
  'json-tool': 'message-json-tool.json',
};

const SSE_ANSWERS: Partial<Record<AnthropicFixtureScenario, string>> = {
  text: 'stream-text.sse',
  'tool-use': 'stream-tool-use.sse',
  vision: 'stream-text.sse',
  'max-tokens': 'stream-text.sse',
  thinking: 'stream-thinking.sse',
  'json-tool': 'stream-json-tool.sse',
  'stream-overloaded': 'stream-overloaded.sse',
  malformed: 'stream-malformed.sse',
  'malformed-shape': 'stream-malformed.sse',
};

/** Starts a fixture server on 127.0.0.1, port 0. */
export async function startAnthropicFixture(options: { apiKey?: string } = {}): Promise<AnthropicFixture> {
  const apiKey = options.apiKey ?? ANTHROPIC_FIXTURE_API_KEY;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let current: AnthropicFixtureScenario = 'text';

  const server = createServer((request, response) => {
    void handle(request, response).catch(() => response.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const raw = await readBody(request);
    let body: unknown;
    try {
      body = raw === '' ? undefined : (JSON.parse(raw) as unknown);
    } catch {
      body = undefined;
    }
    const model = isRecord(body) && typeof body.model === 'string' ? body.model : undefined;
    const scenario = isScenario(model) ? model : current;
    const path = request.url ?? '/';
    const closed = new Promise<void>((resolve) => response.once('close', () => resolve()));
    requests.push({ method: request.method ?? 'GET', path, headers: request.headers, body, scenario, remotePort: request.socket.remotePort, closed });

    const route = `${request.method} ${path.split('?')[0]}`;
    if (route !== 'POST /v1/messages' && route !== 'GET /v1/models') return sendError(response, 404, 'not_found_error', `${route} not found`);
    // API version 2023-06-01 authenticates with x-api-key; SDK 1.x (API 2026-10-21) sends a Bearer token.
    if (request.headers['x-api-key'] !== apiKey && request.headers.authorization !== `Bearer ${apiKey}`) return sendFile(response, 401, 'error-401.json');
    if (typeof request.headers['anthropic-version'] !== 'string')
      return sendError(response, 400, 'invalid_request_error', 'anthropic-version: header is required');
    if (route === 'POST /v1/messages') {
      const problem = raw !== '' && body === undefined ? 'body: not valid JSON' : validateMessagesBody(body, scenario);
      if (problem !== undefined) return sendError(response, 400, 'invalid_request_error', problem);
    }
    const stream = route === 'POST /v1/messages' && isRecord(body) && body.stream === true;
    play(response, scenario, route === 'GET /v1/models' ? 'models' : stream ? 'sse' : 'json');
  }

  const port = await listenLocal(server);
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    scenario(name) {
      current = name;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await closeServer(server);
    },
  };
}

/** Answers one request as `scenario` says. */
function play(response: ServerResponse, scenario: AnthropicFixtureScenario, kind: 'json' | 'sse' | 'models'): void {
  const status = ERROR_STATUSES[scenario];
  if (status !== undefined) return sendFile(response, status, `error-${status}.json`, status === 429 ? RATE_LIMIT_HEADERS : {});
  switch (scenario) {
    case 'hang':
      return; // Never answers; close() destroys the socket.
    case 'stall':
    case 'reset':
    case 'truncated':
      return sendPartial(
        response,
        scenario,
        kind === 'sse' ? readAnthropicFixture('stream-cut.sse') : halfOf(readAnthropicFixture('message-text.json')),
        kind === 'sse',
      );
    default:
      break;
  }
  if (kind === 'models') {
    if (scenario === 'malformed' || scenario === 'malformed-shape') return sendRaw(response, 200, JSON_TYPE, readAnthropicFixture('malformed-body.txt'));
    return sendFile(response, 200, 'models.json');
  }
  if (kind === 'sse') return sendSse(response, SSE_ANSWERS[scenario] ?? 'stream-text.sse');
  if (scenario === 'stream-overloaded') return sendFile(response, 529, 'error-529.json');
  if (scenario === 'malformed') return sendRaw(response, 200, JSON_TYPE, readAnthropicFixture('malformed-body.txt'));
  if (scenario === 'malformed-shape') return sendFile(response, 200, 'malformed-shape.json');
  return sendFile(response, 200, JSON_ANSWERS[scenario] ?? 'message-text.json');
}

const JSON_TYPE = 'application/json';
const COMMON_HEADERS = { 'request-id': 'req_011CSHoEeqs5C35K2UUqR7Fy', 'anthropic-organization-id': '00000000-0000-4000-8000-000000000000' };
const RATE_LIMIT_HEADERS = {
  'retry-after': '7',
  'anthropic-ratelimit-requests-limit': '50',
  'anthropic-ratelimit-requests-remaining': '0',
  'anthropic-ratelimit-requests-reset': '2025-01-01T00:00:07Z',
};

function sendFile(response: ServerResponse, status: number, file: string, headers: Record<string, string> = {}): void {
  sendRaw(response, status, JSON_TYPE, readAnthropicFixture(file), headers);
}

function sendRaw(response: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...COMMON_HEADERS, ...headers });
  response.end(body);
}

function sendError(response: ServerResponse, status: number, type: string, message: string): void {
  sendRaw(response, status, JSON_TYPE, JSON.stringify({ type: 'error', error: { type, message }, request_id: COMMON_HEADERS['request-id'] }));
}

function sseHead(response: ServerResponse): void {
  response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', ...COMMON_HEADERS });
}

/** Writes the stream one event per write, as the API flushes them. */
function sendSse(response: ServerResponse, file: string): void {
  sseHead(response);
  for (const event of readAnthropicFixture(file).split(/(?<=\n\n)/)) response.write(event);
  response.end();
}

/** Sends the start of an answer, then stalls, resets the connection or ends early. */
function sendPartial(response: ServerResponse, scenario: 'stall' | 'reset' | 'truncated', prefix: string, sse: boolean): void {
  if (sse) sseHead(response);
  else response.writeHead(200, { 'content-type': JSON_TYPE, ...COMMON_HEADERS });
  response.write(prefix, () => {
    if (scenario === 'reset') response.socket?.resetAndDestroy();
    if (scenario === 'truncated') response.end();
  });
}

function halfOf(text: string): string {
  return text.slice(0, Math.floor(text.length / 2));
}

/** What the real API would reject with 400 (the checks a converter bug would trip). */
function validateMessagesBody(body: unknown, scenario: AnthropicFixtureScenario): string | undefined {
  if (!isRecord(body)) return 'body: expected an object';
  if (typeof body.model !== 'string' || body.model === '') return 'model: Field required';
  if (typeof body.max_tokens !== 'number' || !Number.isInteger(body.max_tokens) || body.max_tokens < 1) return 'max_tokens: Field required';
  if (!Array.isArray(body.messages) || body.messages.length === 0) return 'messages: at least one message is required';
  let previous: unknown;
  for (const [index, message] of body.messages.entries()) {
    if (!isRecord(message) || (message.role !== 'user' && message.role !== 'assistant')) return `messages.${index}.role: Input should be 'user' or 'assistant'`;
    if (message.role === previous) return 'messages: roles must alternate between "user" and "assistant"';
    previous = message.role;
    if (typeof message.content !== 'string' && !Array.isArray(message.content)) return `messages.${index}.content: Field required`;
  }
  if (scenario === 'thinking' && !(isRecord(body.thinking) && body.thinking.type === 'enabled' && typeof body.thinking.budget_tokens === 'number')) {
    return 'thinking: the thinking scenario needs thinking enabled with a budget';
  }
  if (isRecord(body.thinking) && typeof body.thinking.budget_tokens === 'number' && body.thinking.budget_tokens >= body.max_tokens) {
    return 'max_tokens: must be greater than thinking.budget_tokens';
  }
  if (scenario === 'json-tool') {
    const choice = body.tool_choice;
    const tools = Array.isArray(body.tools) ? body.tools : [];
    if (
      !isRecord(choice) ||
      choice.type !== 'tool' ||
      choice.name !== 'json_response' ||
      !tools.some((tool) => isRecord(tool) && tool.name === 'json_response')
    ) {
      return 'json-tool: the request does not force the json_response tool';
    }
  }
  for (const [index, message] of body.messages.entries()) {
    const content = isRecord(message) && Array.isArray(message.content) ? message.content : [];
    for (const block of content) {
      if (isRecord(block) && block.type === 'thinking' && (typeof block.signature !== 'string' || block.signature === ''))
        return `messages.${index}: thinking block without signature`;
    }
  }
  if (scenario === 'vision') {
    const last = [...body.messages].reverse().find((message) => isRecord(message) && message.role === 'user');
    const content = isRecord(last) ? last.content : undefined;
    if (!Array.isArray(content) || !content.some((block) => isRecord(block) && block.type === 'image'))
      return 'vision: the last user turn holds no image block';
  }
  return undefined;
}

function isScenario(value: unknown): value is AnthropicFixtureScenario {
  return typeof value === 'string' && (ANTHROPIC_FIXTURE_SCENARIOS as readonly string[]).includes(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}
