/**
 * Fuzzing the HTTP service (issue 7, "Done when" 2): a few thousand malformed bodies, headers,
 * methods, paths and query strings, drawn from a seeded PRNG (set L04_FUZZ_SEED to replay another
 * run), sent to every route. Every answer must be a 4xx with an E-code in the OpenAI error shape —
 * never a 5xx, never a dropped connection, never a hang — and the heap must stay flat.
 *
 * Memory: the heap is measured after a forced collection. Vitest's workers are not started with
 * --expose-gc, so the test turns the flag on at run time (v8.setFlagsFromString) and takes `gc`
 * from a fresh context, which is how Node exposes it after start-up.
 */
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/observability/logger.js';
import { FuzzCaseGenerator, validChat } from './helpers/fuzz-cases.js';
import type { FuzzCase } from './helpers/fuzz-cases.js';
import { LogCapture, mockConfig, startTestServer } from './helpers/gateway.js';
import { errorCodeOf, isOpenAIError } from './helpers/http-calls.js';
import { onCleanup } from './helpers/cleanup.js';

const SEED = Number(process.env.L04_FUZZ_SEED ?? 0x1704);
const BODY_LIMIT_BYTES = 16 * 1024;
const CONCURRENCY = 8;
/** A request not answered within this long counts as a hang (the mock answers in well under 1 ms). */
const HANG_MS = 3_000;
const API_KEY = 'l04_fuzz_right_key_0123456789';

interface Outcome {
  index: number;
  kind: string;
  request: string;
  status: number | 'hang' | 'connection error';
  code: string | undefined;
}

const forceGc = ((): (() => void) => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

function heapAfterGc(): number {
  forceGc();
  forceGc();
  return process.memoryUsage().heapUsed;
}

async function fuzzServer(keys: boolean) {
  const logs = new LogCapture();
  // Only errors are logged: the server logs an unexpected failure (E4900) at error level.
  const logger = createLogger({ level: 'error', destination: logs });
  const { url } = await startTestServer(
    mockConfig({
      server: { body_limit_bytes: BODY_LIMIT_BYTES },
      rate_limits: { agent_default: { rpm: 1_000_000, tpm: 1_000_000_000 } },
      ...(keys ? { auth: { api_keys: [{ key: API_KEY, agent_did: 'did:l04:fuzz', tenant: 'fuzz' }] } } : {}),
    }),
    { logger },
  );
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  onCleanup(() => agent.destroy());
  return { url: new URL(url), logs, agent };
}

function send(target: URL, agent: Agent, fuzz: FuzzCase): Promise<{ status: number | 'hang' | 'connection error'; body: string }> {
  return new Promise((resolve) => {
    const headers: Record<string, string | string[] | number> = { ...fuzz.headers };
    if (fuzz.body !== undefined) headers['content-length'] = fuzz.body.length;
    const outgoing = httpRequest({ host: target.hostname, port: target.port, method: fuzz.method, path: fuzz.path, headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', () => resolve({ status: 'connection error', body: '' }));
    });
    outgoing.setTimeout(HANG_MS, () => {
      outgoing.destroy();
      resolve({ status: 'hang', body: '' });
    });
    outgoing.on('error', () => resolve({ status: 'connection error', body: '' }));
    outgoing.end(fuzz.body);
  });
}

/** Sends `count` cases, `CONCURRENCY` at a time; returns every answer that is not a 4xx with an E-code. */
async function run(
  target: URL,
  agent: Agent,
  cases: () => FuzzCase,
  count: number,
  offset: number,
): Promise<{ bad: Outcome[]; statuses: Map<number | string, number> }> {
  const bad: Outcome[] = [];
  const statuses = new Map<number | string, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = offset + next++;
      const fuzz = cases();
      const answer = await send(target, agent, fuzz);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      let body: unknown;
      try {
        body = JSON.parse(answer.body) as unknown;
      } catch {
        body = undefined;
      }
      const ok = typeof answer.status === 'number' && answer.status >= 400 && answer.status < 500 && isOpenAIError(body);
      if (!ok)
        bad.push({
          index,
          kind: fuzz.kind,
          request: `${fuzz.method} ${fuzz.path.slice(0, 80)} ${fuzz.body?.subarray(0, 120).toString('latin1') ?? ''}`,
          status: answer.status,
          code: errorCodeOf(body),
        });
    }
  };
  // Cases are drawn in order by one generator, so a seed replays the same sequence.
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { bad, statuses };
}

describe('HTTP service under malformed input', () => {
  it('answers thousands of malformed requests with a 4xx and an E-code, and keeps the heap flat', async () => {
    const { url, logs, agent } = await fuzzServer(false);
    const generator = new FuzzCaseGenerator(SEED, BODY_LIMIT_BYTES);
    const cases = (): FuzzCase => generator.next();

    const warmUp = await run(url, agent, cases, 300, 0);
    const heapBefore = heapAfterGc();
    const main = await run(url, agent, cases, 2_200, 300);
    const heapAfter = heapAfterGc();

    const bad = [...warmUp.bad, ...main.bad];
    expect(bad.slice(0, 10), `seed ${SEED}: ${bad.length} bad answers`).toEqual([]);
    // Every malformed request is refused at the edge; none reaches a provider or fails inside.
    expect([...main.statuses.keys()].every((status) => typeof status === 'number' && status >= 400 && status < 500)).toBe(true);
    expect(logs.lines).toEqual([]);
    // 2,200 requests carrying up to 20 KiB each: a per-request leak of even 2 KiB would show.
    expect(heapAfter - heapBefore).toBeLessThan(4 * 1024 * 1024);
  });

  it('answers malformed, missing and wrong API keys with a 4xx and an E-code on every /v1 route', async () => {
    const { url, agent } = await fuzzServer(true);
    const generator = new FuzzCaseGenerator(SEED + 1, BODY_LIMIT_BYTES);
    const { bad, statuses } = await run(url, agent, () => generator.nextUnauthenticated(), 600, 0);
    expect(bad.slice(0, 10), `seed ${SEED + 1}: ${bad.length} bad answers`).toEqual([]);
    expect(statuses.get(401)).toBeGreaterThan(300);
  });

  it('refuses a body that is not valid UTF-8 with 400 and E4500', async () => {
    const { url, agent } = await fuzzServer(false);
    const json = Buffer.from(JSON.stringify({ model: 'mock-1', messages: [{ role: 'user', content: 'caf#' }] }));
    // A lone 0xE9 (Latin-1 "é") where UTF-8 needs a two-byte sequence.
    const body = Buffer.from(json.toString('latin1').replace('#', '\u00e9'), 'latin1');
    const answer = await send(url, agent, {
      kind: 'invalid UTF-8',
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect([answer.status, errorCodeOf(JSON.parse(answer.body))]).toEqual([400, 'E4500']);
  });

  it('refuses a usage window that is neither ISO 8601 nor epoch milliseconds', async () => {
    const { url, agent } = await fuzzServer(false);
    for (const since of ['-1', 'May 5', '1']) {
      const answer = await send(url, agent, { kind: 'lenient date', method: 'GET', path: `/v1/usage?since=${encodeURIComponent(since)}`, headers: {} });
      const expected = since === '1' ? 200 : 400;
      expect([since, answer.status], answer.body).toEqual([since, expected]);
    }
  });

  it('answers a request the HTTP parser cannot read with 400 and an E-code, not a bare status line', async () => {
    const { url } = await fuzzServer(false);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => socket.end('GET /health HTTP/1.1\r\nHost: x\r\nBad\u0001Header: y\r\n\r\n'));
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
      socket.on('error', reject);
      socket.setTimeout(HANG_MS, () => socket.destroy(new Error('no answer')));
    });
    expect(raw.startsWith('HTTP/1.1 400')).toBe(true);
    const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
    expect(errorCodeOf(JSON.parse(body || 'null'))).toBe('E4500');
  });

  it('still answers a valid request after the fuzzing', async () => {
    const { url, agent } = await fuzzServer(false);
    const generator = new FuzzCaseGenerator(SEED + 2, BODY_LIMIT_BYTES);
    await run(url, agent, () => generator.next(), 200, 0);
    const answer = await send(url, agent, {
      kind: 'valid',
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify(validChat())),
    });
    expect(answer.status).toBe(200);
  });
});
