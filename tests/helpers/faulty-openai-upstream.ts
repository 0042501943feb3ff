/**
 * An OpenAI-compatible upstream whose faults a test turns on and off while traffic runs: a latency
 * on every answer (chat, models, embeddings), a delay between streamed events, an error status, a
 * hang that never answers, and a freeze that holds every request until `thaw()` and then answers
 * them all — a stalled process that resumes. It serves the recorded payloads of
 * `tests/fixtures/openai/` (the real wire protocol) and counts what it received.
 */
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import { onCleanup } from './cleanup.js';
import { closeServer, listenLocal } from './local-server.js';
import { readOpenAIFixture } from './openai-fixture-server.js';

/** How the upstream answers chat calls: normally, with a 500, with a 429 (`Retry-After: 20`), or never. */
export type UpstreamMode = 'ok' | 'error-500' | 'error-429' | 'hang';

/** A running faulty upstream. */
export interface FaultyUpstream {
  /** Base URL ending in `/v1`. */
  readonly url: string;
  /** Chat calls received (at arrival). */
  readonly chatCalls: number;
  /** `GET /models` calls received (the health checks). */
  readonly modelCalls: number;
  /** Chat calls answered with 200. */
  readonly chatAnswered: number;
  mode(mode: UpstreamMode): void;
  /** Delay before every answer, in milliseconds. */
  latency(ms: number): void;
  /** Delay between the events of a streamed answer, in milliseconds. */
  chunkDelay(ms: number): void;
  /** Holds every request (accepted, unanswered) until `thaw`. */
  freeze(): void;
  /** Answers every held request, and every later one, as the current mode says. */
  thaw(): void;
}

/** Starts the upstream on 127.0.0.1, port 0; closed after the test. */
export async function startFaultyUpstream(): Promise<FaultyUpstream> {
  let mode: UpstreamMode = 'ok';
  let latencyMs = 0;
  let chunkDelayMs = 0;
  let frozen = false;
  const held: Array<() => void> = [];
  const counts = { chat: 0, models: 0, answered: 0 };

  const answer = (path: string, body: { stream?: boolean } | undefined, response: ServerResponse): void => {
    if (response.destroyed) return;
    if (path.endsWith('/models')) return send(response, 200, readOpenAIFixture('models.json'));
    if (path.endsWith('/embeddings')) return send(response, 200, readOpenAIFixture('embeddings.json'));
    if (mode === 'hang') return;
    if (mode === 'error-500') return send(response, 500, readOpenAIFixture('error-500.json'));
    if (mode === 'error-429') return send(response, 429, readOpenAIFixture('error-429.json'), { 'retry-after': '20' });
    counts.answered++;
    if (body?.stream !== true) return send(response, 200, readOpenAIFixture('chat-completion.json'));
    response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    const events = readOpenAIFixture('chat-completion.sse').split(/(?<=\n\n)/);
    const next = (index: number): void => {
      if (response.destroyed) return;
      if (index >= events.length) return void response.end();
      response.write(events[index]);
      setTimeout(() => next(index + 1), chunkDelayMs).unref();
    };
    next(0);
  };

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = (request.url ?? '/').split('?')[0] ?? '/';
      const raw = Buffer.concat(chunks).toString('utf8');
      const body = raw === '' ? undefined : (JSON.parse(raw) as { stream?: boolean });
      if (path.endsWith('/chat/completions')) counts.chat++;
      if (path.endsWith('/models')) counts.models++;
      // A frozen upstream holds what it has not answered yet, including requests still in their latency.
      const reply = (): void => {
        if (frozen) held.push(reply);
        else answer(path, body, response);
      };
      const respond = (): void => {
        if (latencyMs === 0) reply();
        else setTimeout(reply, latencyMs).unref();
      };
      if (frozen) held.push(respond);
      else respond();
    });
  });
  const port = await listenLocal(server);
  onCleanup(() => closeServer(server));
  return {
    url: `http://127.0.0.1:${port}/v1`,
    get chatCalls() {
      return counts.chat;
    },
    get modelCalls() {
      return counts.models;
    },
    get chatAnswered() {
      return counts.answered;
    },
    mode(next) {
      mode = next;
    },
    latency(ms) {
      latencyMs = ms;
    },
    chunkDelay(ms) {
      chunkDelayMs = ms;
    },
    freeze() {
      frozen = true;
    },
    thaw() {
      frozen = false;
      for (const resume of held.splice(0)) resume();
    },
  };
}

function send(response: ServerResponse, status: number, payload: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(payload);
}
