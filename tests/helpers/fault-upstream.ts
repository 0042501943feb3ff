/**
 * An OpenAI-compatible upstream (`POST /v1/chat/completions`, JSON and SSE, and `GET /v1/models`)
 * whose answers are generated rather than recorded, so that it can misbehave at any size: the
 * request's `model` picks the behaviour, with its numbers after colons.
 *
 * - `ok` — a short answer at once; `slow:<ms>` — the same spread over `ms` (a stream in 20 events,
 *   a JSON answer after `ms`); `tokens:<count>:<ms>` — a stream of `count` events of one short word
 *   each (as a model streams tokens), spread over `ms`.
 * - `huge-json:<MB>` — a valid `chat.completion` whose content is `MB` megabytes, with its
 *   `content-length`; `huge-json-chunked:<MB>` — the same without a length.
 * - `huge-stream:<MB>` — a valid SSE stream carrying `MB` megabytes of text, then `[DONE]`.
 * - `endless` — SSE text events that never end.
 * - `one-line:<MB>` — one SSE line of `MB` megabytes that never ends.
 * - `trickle:<ms>` — an SSE stream that sends one small event every `ms`, forever.
 * - `hang` — never answers.
 *
 * Everything is written as the socket drains (never buffered whole), and generation stops when the
 * client goes away, so the fixture holds no more memory than one chunk. Run it as a process with
 * `node --import tsx bench/fault-upstream.ts PORT`.
 */
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import { closeServer, listenLocal } from './local-server.js';

const MB = 1024 * 1024;
/** One generated piece of content: 1 KiB of words. */
const PIECE = 'lorem ipsum dolor sit amet consectetur '.repeat(27).slice(0, 1024);

/** A running fault upstream. */
export interface FaultUpstream {
  /** Base URL ending in `/v1`, as an OpenAI provider's `base_url`. */
  url: string;
  server: Server;
  /** Requests that arrived, by model. */
  readonly requests: string[];
  /** Responses the client closed before their end. */
  readonly aborted: number;
  close(): Promise<void>;
}

/** Starts the upstream on 127.0.0.1 (port 0 unless given). */
export async function startFaultUpstream(port = 0): Promise<FaultUpstream> {
  const requests: string[] = [];
  let aborted = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      response.on('close', () => {
        if (!response.writableFinished) aborted++;
      });
      if (request.url?.endsWith('/models')) {
        sendJson(response, { object: 'list', data: [{ id: 'ok', object: 'model', created: 0, owned_by: 'fixture' }] });
        return;
      }
      let body: { model?: unknown; stream?: unknown } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        sendJson(response, { error: { message: 'body is not JSON', type: 'invalid_request_error' } }, 400);
        return;
      }
      const model = typeof body.model === 'string' ? body.model : 'ok';
      requests.push(model);
      void answer(response, model, body.stream === true);
    });
  });
  server.keepAliveTimeout = 60_000;
  const boundPort = await listenLocal(server, port);
  return {
    url: `http://127.0.0.1:${boundPort}/v1`,
    server,
    requests,
    get aborted() {
      return aborted;
    },
    close: () => closeServer(server),
  };
}

async function answer(response: ServerResponse, model: string, stream: boolean): Promise<void> {
  const [kind = 'ok', arg = '0', second = '0'] = model.split(':');
  const amount = Number(arg);
  switch (kind) {
    case 'hang':
      return;
    case 'huge-json':
    case 'huge-json-chunked':
      await hugeJson(response, model, amount * MB, kind === 'huge-json');
      return;
    case 'huge-stream':
      await sseText(response, model, amount * MB, 0);
      return;
    case 'endless':
      await sseText(response, model, Infinity, 0);
      return;
    case 'trickle':
      await sseText(response, model, Infinity, amount, 16);
      return;
    case 'one-line':
      startSse(response);
      await writeAll(
        response,
        `data: {"id":"chatcmpl-line","object":"chat.completion.chunk","created":1,"model":"${model}","choices":[{"index":0,"delta":{"content":"`,
        amount * MB,
      );
      return;
    case 'tokens':
      await sseText(response, model, amount * 4, Number(second) / amount, 4);
      return;
    case 'slow':
    case 'ok':
      if (stream) await sseText(response, model, 20 * 64, kind === 'slow' ? amount / 20 : 0, 64);
      else {
        if (kind === 'slow') await sleep(amount);
        sendJson(response, completion(model, PIECE.slice(0, 600)));
      }
      return;
    default:
      sendJson(response, { error: { message: `unknown fixture model ${model}`, type: 'invalid_request_error', code: 'model_not_found' } }, 404);
  }
}

/** A `chat.completion` whose content is `bytes` long, written piece by piece. */
async function hugeJson(response: ServerResponse, model: string, bytes: number, withLength: boolean): Promise<void> {
  const answer = JSON.stringify(completion(model, '\u0000'));
  const [head = '', tail = ''] = answer.split('\\u0000');
  response.writeHead(200, {
    'content-type': 'application/json',
    ...(withLength ? { 'content-length': String(Buffer.byteLength(head) + bytes + Buffer.byteLength(tail)) } : {}),
  });
  if (!(await write(response, head))) return;
  if (!(await writeAll(response, '', bytes))) return;
  response.end(tail);
}

/** An SSE stream of text events, `bytes` of text in all (Infinity: forever), one event per `gapMs`, then usage and `[DONE]`. */
async function sseText(response: ServerResponse, model: string, bytes: number, gapMs: number, eventBytes = 4096): Promise<void> {
  startSse(response);
  const text = PIECE.repeat(Math.ceil(eventBytes / PIECE.length)).slice(0, eventBytes);
  const event = `data: ${JSON.stringify(chunk(model, { content: text }, null))}\n\n`;
  for (let sent = 0; sent < bytes; sent += text.length) {
    if (gapMs > 0) await sleep(gapMs);
    if (!(await write(response, event))) return;
  }
  await write(response, `data: ${JSON.stringify(chunk(model, {}, 'stop'))}\n\n`);
  await write(
    response,
    `data: ${JSON.stringify({ ...chunk(model, {}, null), choices: [], usage: { prompt_tokens: 5, completion_tokens: Math.ceil(bytes / 4), total_tokens: 5 + Math.ceil(bytes / 4) } })}\n\n`,
  );
  response.end('data: [DONE]\n\n');
}

function startSse(response: ServerResponse): void {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  response.flushHeaders();
}

/** Writes `prefix`, then `bytes` of content in 64 KiB pieces as the socket drains. False when the client went away. */
async function writeAll(response: ServerResponse, prefix: string, bytes: number): Promise<boolean> {
  if (prefix !== '' && !(await write(response, prefix))) return false;
  const piece = PIECE.repeat(64);
  for (let sent = 0; sent < bytes; sent += piece.length) {
    if (!(await write(response, sent + piece.length <= bytes ? piece : piece.slice(0, bytes - sent)))) return false;
  }
  return true;
}

/** Writes and waits for the socket to drain when it asks to. False when the response is closed. */
function write(response: ServerResponse, data: string): Promise<boolean> {
  if (response.destroyed || response.writableEnded) return Promise.resolve(false);
  if (response.write(data)) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => () => {
      response.off('drain', onDrain);
      response.off('close', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    response.once('drain', onDrain);
    response.once('close', onClose);
  });
}

function completion(model: string, content: string): Record<string, unknown> {
  return {
    id: 'chatcmpl-fault',
    object: 'chat.completion',
    created: 1741569952,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: 150, total_tokens: 155 },
  };
}

function chunk(model: string, delta: Record<string, unknown>, finishReason: string | null): Record<string, unknown> {
  return {
    id: 'chatcmpl-fault',
    object: 'chat.completion.chunk',
    created: 1741569952,
    model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  };
}

function sendJson(response: ServerResponse, body: unknown, status = 200): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
