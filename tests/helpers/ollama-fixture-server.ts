/**
 * A local stand-in for Ollama: node:http on 127.0.0.1, port 0, speaking Ollama's wire protocol
 * (`/api/chat` JSON and NDJSON, `/api/embed`, `/api/tags`, `/api/version`, `/api/show`) with the
 * payloads in `tests/fixtures/ollama/`, served byte for byte.
 *
 * Scenarios: `scenario(name)` sets the behaviour of every later request (default `ok`); a request
 * whose `model` is `scenario/<name>` (e.g. `scenario/hang`) gets that scenario whatever the
 * default, so one server can serve a healthy model and a failing one side by side. In `ok`,
 * `/api/chat` answers with the tool-call fixture when the request offers tools, the vision
 * fixture when a message carries images, a JSON object (`chat-format*.`) when `format` holds a
 * JSON schema, and the plain answer otherwise (JSON or NDJSON after
 * `stream`); `/api/embed` returns as many vectors as inputs (the fixture's rows, cycled).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/** Everything the fixture can do; errors are Ollama's own bodies with their statuses. */
export const OLLAMA_SCENARIOS = [
  'ok',
  /** `done_reason: "length"`. */
  'length',
  'bad-request',
  'unauthorized',
  'forbidden',
  /** 404 with Ollama's "model not found, try pulling it first". */
  'model-not-found',
  /** 404 of an unknown route (plain Go mux text, not JSON). */
  'route-not-found',
  /** 429 with `Retry-After: 7`. */
  'rate-limited',
  'server-error',
  /** 503 "server busy" (Ollama's queue is full). */
  'overloaded',
  /** Accepts the request and never answers (a hang before the first byte). */
  'hang',
  /** Sends the status and the first lines (or half the body), then goes silent. */
  'stall',
  /** Sends the first lines (or half the body), then resets the TCP connection. */
  'reset',
  /** A body that is not JSON (a stream line that is not JSON), on every endpoint. */
  'malformed',
  /** JSON that is not a chat answer. */
  'schema-mismatch',
  /** A stream that ends cleanly without its `done` line (a JSON answer cut in half). */
  'truncated',
  /** A stream that reports `{"error": ...}` after it started. */
  'stream-error',
] as const;
/** One fixture scenario. */
export type OllamaScenario = (typeof OLLAMA_SCENARIOS)[number];

/** One request the fixture received. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body (`undefined` for GET). */
  body: unknown;
  scenario: OllamaScenario;
  /** Resolves when the response is over: `true` if the client went away before it finished. */
  closed: Promise<boolean>;
}

/** A running fixture server. */
export interface OllamaFixture {
  /** Base URL, e.g. `http://127.0.0.1:40123` (use as `base_url` or the `ollama` client's host). */
  url: string;
  requests: RecordedRequest[];
  /** Resolves with the next request the fixture receives (as soon as its body has arrived). */
  nextRequest(): Promise<RecordedRequest>;
  /** Sets the scenario of every later request that does not name one by model. */
  scenario(name: OllamaScenario): void;
  /** Closes the server and destroys every open connection (hung and stalled ones too). */
  close(): Promise<void>;
}

const FIXTURES = fileURLToPath(new URL('../fixtures/ollama/', import.meta.url));
const JSON_TYPE = 'application/json; charset=utf-8';
const NDJSON_TYPE = 'application/x-ndjson';

/** Reads one fixture file as Ollama would send it. */
export function ollamaFixture(name: string): string {
  return readFileSync(FIXTURES + name, 'utf8');
}

const ERROR_SCENARIOS: Partial<Record<OllamaScenario, { status: number; file: string; headers?: Record<string, string>; type?: string }>> = {
  'bad-request': { status: 400, file: 'error-400.json' },
  unauthorized: { status: 401, file: 'error-401.json' },
  forbidden: { status: 403, file: 'error-403.json' },
  'model-not-found': { status: 404, file: 'error-404-model.json' },
  'route-not-found': { status: 404, file: 'error-404-route.json', type: 'text/plain' },
  'rate-limited': { status: 429, file: 'error-429.json', headers: { 'retry-after': '7' } },
  'server-error': { status: 500, file: 'error-500.json' },
  overloaded: { status: 503, file: 'error-503.json' },
};

/** Starts a fixture server on 127.0.0.1, port 0. */
export async function startOllamaFixture(initial: OllamaScenario = 'ok'): Promise<OllamaFixture> {
  let current: OllamaScenario = initial;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let waiters: Array<(request: RecordedRequest) => void> = [];
  const server = createServer((request, response) => {
    void handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': JSON_TYPE });
      response.end(JSON.stringify({ error: String(error) }));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const raw = await readBody(request);
    const closed = new Promise<boolean>((resolve) => response.on('close', () => resolve(!response.writableFinished)));
    let body: unknown;
    if (raw !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        sendJson(response, 400, JSON.stringify({ error: 'invalid character in request body' }) + '\n');
        return;
      }
    }
    const model = isRecord(body) && typeof body['model'] === 'string' ? body['model'] : '';
    const named = model.startsWith('scenario/') ? (model.slice('scenario/'.length) as OllamaScenario) : undefined;
    const scenario = named !== undefined && OLLAMA_SCENARIOS.includes(named) ? named : current;
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const recorded: RecordedRequest = { method: request.method ?? 'GET', path, headers: request.headers, body, scenario, closed };
    requests.push(recorded);
    const pending = waiters;
    waiters = [];
    for (const resolve of pending) resolve(recorded);

    const failure = ERROR_SCENARIOS[scenario];
    if (failure !== undefined) {
      response.writeHead(failure.status, { 'content-type': failure.type ?? JSON_TYPE, ...failure.headers });
      response.end(ollamaFixture(failure.file));
      return;
    }
    if (scenario === 'hang') return;
    const answer = route(request.method ?? 'GET', path, body, scenario);
    if (answer === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end('404 page not found');
      return;
    }
    if (answer.status !== 200) {
      sendJson(response, answer.status, answer.body);
      return;
    }
    send(response, answer.body, answer.ndjson, scenario);
  }

  /** Picks the payload of a request; `undefined` for an unknown route. */
  function route(method: string, path: string, body: unknown, scenario: OllamaScenario): { status: number; body: string; ndjson: boolean } | undefined {
    const request = isRecord(body) ? body : {};
    const chat = method === 'POST' && path === '/api/chat';
    if (scenario === 'malformed' && !chat && path.startsWith('/api/')) return ok(ollamaFixture('chat-malformed.txt'));
    if (method === 'GET' && path === '/api/tags') return ok(ollamaFixture('tags.json'));
    if (method === 'GET' && path === '/api/version') return ok(ollamaFixture('version.json'));
    if (method === 'POST' && path === '/api/show') return ok(ollamaFixture('show.json'));
    if (method === 'POST' && path === '/api/embed') return ok(embedAnswer(request['input']));
    if (!chat) return undefined;
    if (typeof request['model'] !== 'string' || request['model'] === '')
      return { status: 400, body: JSON.stringify({ error: 'model is required' }) + '\n', ndjson: false };
    const invalidImage = findInvalidImage(request['messages']);
    if (invalidImage) return { status: 400, body: JSON.stringify({ error: 'illegal base64 data at input byte 0' }) + '\n', ndjson: false };
    const stream = request['stream'] !== false; // Ollama streams unless told otherwise
    if (!stream && scenario === 'stream-error') return { status: 500, body: ollamaFixture('error-500.json'), ndjson: false };
    return { status: 200, body: ollamaFixture(chatFixture(request, stream, scenario)), ndjson: stream };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    nextRequest() {
      return new Promise((resolve) => waiters.push(resolve));
    },
    scenario(name) {
      current = name;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function ok(body: string): { status: number; body: string; ndjson: boolean } {
  return { status: 200, body, ndjson: false };
}

function chatFixture(request: Record<string, unknown>, stream: boolean, scenario: OllamaScenario): string {
  if (scenario === 'malformed') return stream ? 'chat-stream-malformed.ndjson' : 'chat-malformed.txt';
  if (scenario === 'schema-mismatch') return 'chat-schema-mismatch.json';
  if (scenario === 'truncated') return stream ? 'chat-stream-truncated.ndjson' : 'chat-malformed.txt';
  if (scenario === 'stream-error') return 'chat-stream-error.ndjson';
  if (scenario === 'length') return stream ? 'chat-stream-length.ndjson' : 'chat-length.json';
  // Structured outputs: `format` holding a JSON schema gets an answer in that shape.
  if (isRecord(request['format'])) return stream ? 'chat-format-stream.ndjson' : 'chat-format.json';
  const tools = request['tools'];
  if (Array.isArray(tools) && tools.length > 0) return stream ? 'chat-tools-stream.ndjson' : 'chat-tools.json';
  const messages = Array.isArray(request['messages']) ? request['messages'] : [];
  const withImages = messages.some((message) => isRecord(message) && Array.isArray(message['images']) && message['images'].length > 0);
  if (withImages) return stream ? 'chat-vision-stream.ndjson' : 'chat-vision.json';
  return stream ? 'chat-stream.ndjson' : 'chat.json';
}

/** The embed fixture with one vector per input (its rows cycled), as Ollama answers a batch. */
function embedAnswer(input: unknown): string {
  const fixture = JSON.parse(ollamaFixture('embed.json')) as { embeddings: number[][] } & Record<string, unknown>;
  const count = Array.isArray(input) ? input.length : 1;
  if (count === fixture.embeddings.length) return ollamaFixture('embed.json');
  const embeddings = Array.from({ length: count }, (_, index) => fixture.embeddings[index % fixture.embeddings.length]);
  return JSON.stringify({ ...fixture, embeddings });
}

/** Ollama decodes `images` as base64 bytes and answers 400 when one is not. */
function findInvalidImage(messages: unknown): boolean {
  if (!Array.isArray(messages)) return false;
  return messages.some(
    (message) =>
      isRecord(message) &&
      Array.isArray(message['images']) &&
      message['images'].some((image) => typeof image !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(image) || image.length % 4 !== 0),
  );
}

/** Writes a 200 answer, whole or damaged as the scenario says. */
function send(response: ServerResponse, body: string, ndjson: boolean, scenario: OllamaScenario): void {
  const headers = ndjson ? { 'content-type': NDJSON_TYPE, 'transfer-encoding': 'chunked' } : { 'content-type': JSON_TYPE };
  if (scenario !== 'stall' && scenario !== 'reset') {
    response.writeHead(200, ndjson ? headers : { ...headers, 'content-length': Buffer.byteLength(body) });
    if (!ndjson) {
      response.end(body);
      return;
    }
    // One write per line, as Ollama flushes each generated token.
    for (const line of body.split(/(?<=\n)/)) response.write(line);
    response.end();
    return;
  }
  response.writeHead(200, headers);
  const head = ndjson
    ? body
        .split(/(?<=\n)/)
        .slice(0, 2)
        .join('')
    : body.slice(0, Math.floor(body.length / 2));
  response.write(head, () => {
    if (scenario !== 'reset') return;
    // Let the client read what was sent before the RST discards anything in flight.
    setTimeout(() => response.socket?.resetAndDestroy(), 20).unref();
  });
}

function sendJson(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'content-type': JSON_TYPE });
  response.end(body);
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
