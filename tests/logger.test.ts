import { describe, expect, it } from 'vitest';
import { ProviderError, ValidationError } from '../src/models/error-codes.js';
import { pino } from 'pino';
import { OMITTED, REDACTED, REDACT_PATHS, createLogger, logFlat, redactText } from '../src/observability/logger.js';
import type { FlatValue } from '../src/observability/logger.js';
import type { CreateLoggerOptions, Logger } from '../src/observability/logger.js';

// Every canary carries the marker; no captured line may contain it.
const MARKER = 'CANARY7Q';
const PROVIDER_KEY = `sk-canary-${MARKER}xxxxxxxxxxxx`;
const ANTHROPIC_KEY = `sk-ant-api03-${MARKER}yyyyyyyyyyyy`;
const GATEWAY_KEY = `l04_canary_${MARKER}zzzzzzzzzzzz`;
// Shaped like no known key format: only the `secrets` option or a key name can catch it.
const PLAIN_SECRET = `plain${MARKER}secretvalue`;

function capture(options: Partial<CreateLoggerOptions> = {}): { logger: Logger; lines: () => Array<Record<string, unknown>>; raw: string[] } {
  const raw: string[] = [];
  const logger = createLogger({ level: 'trace', destination: { write: (line: string) => void raw.push(line) }, ...options });
  return { logger, raw, lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it('writes one JSON line per call with level names and ISO time', () => {
    const { logger, lines } = capture();
    logger.info({ request_id: 'req_1' }, 'hello');
    const [line] = lines();
    expect(line).toMatchObject({ level: 'info', msg: 'hello', request_id: 'req_1' });
    expect(String(line?.time)).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('writes nothing below its level', () => {
    const { logger, raw } = capture({ level: 'warn' });
    logger.info('quiet');
    logger.debug({ a: 1 }, 'quieter');
    logger.warn('loud');
    expect(raw).toHaveLength(1);
  });

  it('never writes a canary key, whatever shape it is logged in', () => {
    const { logger, raw, lines } = capture({ secrets: [PLAIN_SECRET] });
    const upstreamBody = JSON.stringify({ error: { message: `Incorrect API key provided: ${PROVIDER_KEY}`, api_key: PLAIN_SECRET } });
    const withCause = new Error(`retry failed for ${GATEWAY_KEY}`, { cause: new Error(`cause carries ${ANTHROPIC_KEY}`) });
    const providerError = new ProviderError('E4203', `Upstream 401 with key ${PROVIDER_KEY}`, {
      details: { body: upstreamBody, url: `https://api.example.test/v1?key=${PLAIN_SECRET}` },
    });
    const circular: Record<string, unknown> = { api_key: PROVIDER_KEY };
    circular.self = circular;
    const calls: Array<() => void> = [
      () => logger.info({ headers: { authorization: `Bearer ${GATEWAY_KEY}`, 'x-api-key': PROVIDER_KEY, 'content-type': 'application/json' } }, 'request'),
      () => logger.info({ req: { headers: { Authorization: `Bearer ${GATEWAY_KEY}`, 'X-Api-Key': [ANTHROPIC_KEY] } } }, 'request'),
      () => logger.info({ request: { headers: { authorization: `Bearer ${PLAIN_SECRET}` } } }, 'request'),
      () => logger.error(new Error(`upstream rejected ${PROVIDER_KEY}`)),
      () => logger.error({ err: new Error(`upstream rejected ${ANTHROPIC_KEY}`) }, 'provider failed'),
      () => logger.error({ error: providerError }, 'provider failed'),
      () => logger.error(withCause),
      () => logger.warn(`GET https://generativelanguage.example.test/v1/models?key=${PLAIN_SECRET}&alt=sse failed`),
      () => logger.warn({ url: new URL(`https://api.example.test/v1/chat?api_key=${PLAIN_SECRET}`) }, 'url object'),
      () => logger.info('calling %s with %s and %o', `https://x.test/?token=${PLAIN_SECRET}`, `Bearer ${GATEWAY_KEY}`, { apiKey: PROVIDER_KEY }),
      () =>
        logger.info(
          {
            config: {
              providers: { openai: { type: 'openai', api_key: PROVIDER_KEY }, anthropic: { api_key: PLAIN_SECRET } },
              auth: { api_keys: [{ key: GATEWAY_KEY, agent_did: 'did:l04:a', tenant: 't' }] },
            },
          },
          'config loaded',
        ),
      () => logger.info({ a: { b: { c: { d: { e: { note: `deep ${PROVIDER_KEY}`, password: PLAIN_SECRET } } } } } }, 'deep'),
      () => logger.info({ body: upstreamBody, raw_headers: `authorization: Bearer ${GATEWAY_KEY}\r\nx-api-key: ${PLAIN_SECRET}` }, 'upstream answer'),
      () => logger.info({ keys: [PROVIDER_KEY, GATEWAY_KEY], api_keys: [PLAIN_SECRET] }, 'arrays'),
      () => logger.info(circular, 'circular'),
      () => logger.child({ provider: 'openai', apiKey: PLAIN_SECRET, endpoint: `https://x.test/?key=${PLAIN_SECRET}` }).info(`child says ${PROVIDER_KEY}`),
      () => logger.error({ err: new ValidationError('E4501', 'Invalid API key') }, `rejected ${GATEWAY_KEY}`),
    ];
    for (const call of calls) call();
    expect(raw).toHaveLength(calls.length);
    for (const line of raw) expect(line).not.toContain(MARKER);
    const parsed = lines();
    expect(parsed[0]?.headers).toEqual({ authorization: REDACTED, 'x-api-key': REDACTED, 'content-type': 'application/json' });
    // Errors keep their useful parts: type, code and the redacted message and stack.
    expect(parsed[3]).toMatchObject({ msg: `upstream rejected ${REDACTED}`, err: { type: 'Error', message: `upstream rejected ${REDACTED}` } });
    expect(String((parsed[3]?.err as { stack: string }).stack)).toContain('logger.test.ts');
    expect(parsed[5]?.error).toMatchObject({ type: 'ProviderError', code: 'E4203', httpStatus: 502 });
    expect(parsed[7]?.msg).toContain('&alt=sse');
  });

  it('drops prompts and completions unless logContent is set', () => {
    const prompt = { system: 'be brief', messages: [{ role: 'user', content: 'my medical history' }] };
    const quiet = capture();
    quiet.logger.info({ request_id: 'req_1', logical_prompt: prompt, completion: 'diagnosis', choices: [{ delta: { content: 'x' } }] }, 'request');
    const [line] = quiet.lines();
    expect(line).toMatchObject({ request_id: 'req_1', logical_prompt: OMITTED, completion: OMITTED, choices: OMITTED });
    expect(quiet.raw[0]).not.toContain('medical');
    const verbose = capture({ logContent: true });
    verbose.logger.info({ logical_prompt: prompt, completion: `diagnosis for ${PROVIDER_KEY}` }, 'request');
    expect(verbose.lines()[0]).toMatchObject({ logical_prompt: prompt, completion: `diagnosis for ${REDACTED}` });
  });

  it('does not touch the objects it is given', () => {
    const { logger } = capture();
    const headers = { authorization: `Bearer ${GATEWAY_KEY}` };
    const error = new Error(`bad ${PROVIDER_KEY}`);
    logger.info({ headers, err: error });
    expect(headers.authorization).toBe(`Bearer ${GATEWAY_KEY}`);
    expect(error.message).toBe(`bad ${PROVIDER_KEY}`);
  });

  it('keeps token counts that only sound like secrets', () => {
    const { logger, lines } = capture();
    logger.info(
      { request_id: 'req_1', agent: 'did:l04:a', tenant: 't', latency_ms: 5, input_tokens: 12, output_tokens: 3, cost_cents: 0.1 },
      'request completed',
    );
    expect(lines()[0]).toMatchObject({ input_tokens: 12, output_tokens: 3 });
  });

  it('cleans the bindings of grandchild loggers and children made with options', () => {
    const { logger, raw } = capture();
    logger.child({ a: PROVIDER_KEY }).child({ b: GATEWAY_KEY }, { level: 'info' }).info('grandchild');
    expect(raw).toHaveLength(1);
    expect(raw[0]).not.toContain(MARKER);
    expect(JSON.parse(raw[0]!)).toMatchObject({ a: REDACTED, b: REDACTED });
  });

  it('lists the redact paths pino censors', () => {
    expect(REDACT_PATHS).toEqual(expect.arrayContaining(['headers.authorization', 'headers["x-api-key"]', 'api_key', 'key', 'providers.*.api_key']));
  });
});

describe('logFlat', () => {
  // Records of every kind a flat line may hold: plain values, secrets in text and under
  // credential-like keys, content fields, lists, values without a JSON form, and odd key names.
  const records: Array<Record<string, FlatValue>> = [
    { request_id: 'req_1', agent: 'did:l04:a', stream: false, attempts: ['m:ok', 'n:failed:E4200'], input_tokens: 12, cost_cents: 0.0125, code: undefined },
    { agent: `did:x:${GATEWAY_KEY}`, note: `Bearer ${PROVIDER_KEY}`, plain: `has ${PLAIN_SECRET} inside`, list: [ANTHROPIC_KEY, 'fine'] },
    { api_key: PLAIN_SECRET, authorization: ['a', 'b'], password: 42, access_token: true, key: 'k' },
    { content: 'hello', messages: ['a'], prompt: '', completion: undefined },
    { nan: Number.NaN, infinite: Number.POSITIVE_INFINITY, negative: -0, 'quote"key': 'line\nbreak', é: 'ünïcode' },
    {},
  ];

  it.each([false, true])('writes the same line as logger.info, secrets and content removed alike (logContent %s)', (logContent) => {
    const generic = capture({ secrets: [PLAIN_SECRET], logContent });
    const flat = capture({ secrets: [PLAIN_SECRET], logContent });
    const children = [
      generic.logger.child({ component: 'accounting', token: PLAIN_SECRET }),
      flat.logger.child({ component: 'accounting', token: PLAIN_SECRET }),
    ] as const;
    for (const record of records) {
      generic.logger.info(record, `request ${PROVIDER_KEY} completed`);
      logFlat(flat.logger, 'info', record, `request ${PROVIDER_KEY} completed`);
      children[0].warn(record, 'request failed');
      logFlat(children[1], 'warn', record, 'request failed');
    }
    const withoutTime = (lines: string[]) => lines.map((line) => line.replace(/"time":"[^"]+"/, '"time":"T"'));
    expect(withoutTime(flat.raw)).toEqual(withoutTime(generic.raw));
    expect(flat.raw).toHaveLength(records.length * 2);
    expect(flat.raw.join('')).not.toContain(MARKER);
  });

  it('respects the level, and falls back to the ordinary call for loggers it did not make', () => {
    const quiet = capture({ level: 'warn' });
    logFlat(quiet.logger, 'info', { a: 1 }, 'dropped');
    logFlat(quiet.logger, 'warn', { a: 1 }, 'kept');
    expect(quiet.lines().map((line) => line.msg)).toEqual(['kept']);
    const raw: string[] = [];
    const foreign = pino({ base: undefined, timestamp: false }, { write: (line: string) => void raw.push(line) });
    logFlat(foreign, 'info', { a: 1, list: ['x'] }, 'plain pino');
    expect(raw.map((line) => JSON.parse(line) as unknown)).toEqual([{ level: 30, a: 1, list: ['x'], msg: 'plain pino' }]);
  });
});

describe('redactText', () => {
  it('removes gateway, provider and query-string keys without throwing', () => {
    expect(redactText(`k=${GATEWAY_KEY} and ${PROVIDER_KEY} at https://x.test/?key=abc&x=1`)).toBe(
      `k=${REDACTED} and ${REDACTED} at https://x.test/?key=${REDACTED}&x=1`,
    );
    expect(redactText('{"api_key": "abc123", "model": "m"}')).toBe(`{"api_key": "${REDACTED}", "model": "m"}`);
  });
});
