/**
 * Malformed HTTP requests for the gateway fuzz test, drawn from a seeded PRNG so that a failing case
 * reproduces from its seed and index. Every case is invalid by construction — a broken body, header,
 * method, path or query string — so the only right answer is a 4xx with an E-code.
 */

/** One request to send. `body` is raw bytes so that broken UTF-8 and broken JSON survive. */
export interface FuzzCase {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body?: Buffer;
}

/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same cases. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Draws malformed requests for a gateway whose body limit is `bodyLimitBytes`. */
export class FuzzCaseGenerator {
  private readonly random: () => number;
  private readonly bodyLimitBytes: number;

  constructor(seed: number, bodyLimitBytes: number) {
    this.random = seededRandom(seed);
    this.bodyLimitBytes = bodyLimitBytes;
  }

  /** The next case for a gateway without API keys (development mode). */
  next(): FuzzCase {
    const kinds: Array<() => FuzzCase> = [
      () => this.post('chat: mutated field', '/v1/chat/completions', this.mutatedChat()),
      () => this.post('chat: mutated field', '/v1/chat/completions', this.mutatedChat()),
      () => this.post('native: mutated field', '/v1/inference', this.mutatedNative()),
      () => this.post('embeddings: mutated field', '/v1/embeddings', this.mutatedEmbeddings()),
      () => this.post('batch: bad envelope', '/v1/inference/batch', this.pick([{}, { requests: [] }, { requests: 'all' }, { requests: [{}], extra: 1 }, []])),
      () => this.post('purge: bad body', '/v1/admin/cache/purge', this.pick([{}, { tenant: '' }, { tenant: 7 }, { tenant: 'acme', all: true }, 'acme'])),
      () => this.rawBody('body: not JSON'),
      () => this.post('body: random JSON value', this.bodyRoute(), this.randomJson(4)),
      () => this.post('body: deep nesting', this.bodyRoute(), this.deeplyNested()),
      () => this.post('body: huge string near the limit', this.bodyRoute(), this.nearLimit()),
      () => this.overLimit(),
      () => this.post('body: invalid UTF-8 in a broken body', this.bodyRoute(), this.mutatedChat(), { breakUtf8: true }),
      () => ({
        ...this.post('content-type: wrong', this.bodyRoute(), validChat()),
        headers: {
          'content-type': this.pick([
            'text/plain',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
            'application/xml',
            'json',
            'text/json',
          ]),
        },
      }),
      () => ({
        ...this.post('x-agent-did: bad', '/v1/chat/completions', validChat()),
        headers: { 'content-type': 'application/json', ...this.badIdentityHeader('x-agent-did', 256) },
      }),
      () => ({
        ...this.post('x-l04-tenant: bad', '/v1/chat/completions', validChat()),
        headers: { 'content-type': 'application/json', ...this.badIdentityHeader('x-l04-tenant', 128) },
      }),
      () => this.wrongMethod(),
      () => ({ kind: 'path: no such route', method: this.pick(['GET', 'POST']), path: this.oddPath(), headers: {} }),
      () => ({ kind: 'usage: bad query', method: 'GET', path: `/v1/usage?${this.badUsageQuery()}`, headers: {} }),
    ];
    return this.pick(kinds)();
  }

  /** The next case for a gateway with API keys: a valid body with a missing, malformed or wrong key. */
  nextUnauthenticated(): FuzzCase {
    const route = this.pick(['/v1/chat/completions', '/v1/inference', '/v1/embeddings', '/v1/models', '/v1/usage?since=0', '/v1/admin/cache/purge']);
    const method = route === '/v1/models' || route.startsWith('/v1/usage') ? 'GET' : 'POST';
    const body =
      method === 'GET'
        ? undefined
        : Buffer.from(
            JSON.stringify(
              route === '/v1/inference'
                ? validNative()
                : route === '/v1/embeddings'
                  ? { model: 'mock-1', input: 'hi' }
                  : route.includes('purge')
                    ? { tenant: 'acme' }
                    : validChat(),
            ),
          );
    const key = `l04_${this.token(this.int(4, 40))}`;
    const authorization = this.pick<Record<string, string | string[]>>([
      {},
      { authorization: `Bearer ${key}` },
      { authorization: key },
      { authorization: 'Bearer' },
      { authorization: `Basic ${Buffer.from(`user:${key}`).toString('base64')}` },
      { authorization: `Bearer ${key} extra` },
      { authorization: `Bearer ${'k'.repeat(this.int(530, 2000))}` },
      { authorization: `Bearer ${key}\u00e9` },
      { authorization: [`Bearer ${key}`, `Bearer ${key}x`] },
      { 'x-api-key': key },
      { 'x-api-key': `${key} spaced` },
      { 'x-api-key': 'x'.repeat(this.int(513, 1500)) },
    ]);
    return {
      kind: 'auth: bad key',
      method,
      path: route,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...authorization },
      ...(body === undefined ? {} : { body }),
    };
  }

  private post(kind: string, path: string, value: unknown, options: { breakUtf8?: boolean } = {}): FuzzCase {
    let body = Buffer.from(JSON.stringify(value) ?? 'null', 'utf8');
    if (options.breakUtf8) body = Buffer.concat([body.subarray(0, Math.max(1, body.length - 2)), Buffer.from([0xc3, 0x28, 0xff, 0xfe])]);
    return {
      kind,
      method: 'POST',
      path,
      headers: { 'content-type': this.pick(['application/json', 'application/json; charset=utf-8', 'application/vnd.api+json']) },
      body,
    };
  }

  private bodyRoute(): string {
    return this.pick(['/v1/chat/completions', '/v1/inference', '/v1/embeddings', '/v1/inference/batch', '/v1/admin/cache/purge']);
  }

  private mutatedChat(): unknown {
    const body: Record<string, unknown> = validChat();
    const message = (body.messages as Array<Record<string, unknown>>)[0]!;
    const mutations: Array<() => void> = [
      () => (body.model = this.pick([42, null, true, [], {}, '', 'm'.repeat(257)])),
      () => delete body.model,
      () => (body.messages = this.pick([null, 'hello', 7, {}, [], [null], [[]]])),
      () => delete body.messages,
      () => (message.role = this.pick(['wizard', '', 'USER', 5, null])),
      () => (message.content = this.pick([5, true, { text: 'x' }, [{ type: 'audio', data: 'x' }], [{ type: 'text' }], [1, 2]])),
      () => (body.temperature = this.pick([2.5, -1, 'hot', [], 1e9])),
      () => (body.top_p = this.pick([1.5, -0.1, 'all'])),
      () => (body.max_tokens = this.pick([0, -5, 1.5, '10', 1e30])),
      () => (body.n = this.pick([2, 0, 'one'])),
      () => (body.stream = this.pick(['true', 1, {}])),
      () => (body.stop = this.pick([5, Array.from({ length: 9 }, () => 'x'), [1]])),
      () => (body.l04 = this.pick([{ surprise: 1 }, { priority: 'urgent' }, { capabilities: ['telepathy'] }, { max_latency_ms: -1 }, 'fast'])),
      () =>
        (body.tools = this.pick(['all', [{ type: 'function' }], Array.from({ length: 129 }, (_, i) => ({ type: 'function', function: { name: `t${i}` } }))])),
      () => (body.messages = Array.from({ length: 1025 }, () => ({ role: 'user', content: 'x' }))),
      () => (body.tools = [{ type: 'function', function: { name: 'deep', parameters: nest(this.int(33, 400)) } }]),
      () => (body.response_format = this.pick([{ type: 'yaml' }, 'json', { type: 'json_schema' }])),
    ];
    this.pick(mutations)();
    return body;
  }

  private mutatedNative(): unknown {
    const body: Record<string, unknown> = validNative();
    const prompt = body.logical_prompt as Record<string, unknown>;
    const mutations: Array<() => void> = [
      () => delete body.logical_prompt,
      () => (body.logical_prompt = this.pick([null, 'hi', [], 5])),
      () => (prompt.messages = this.pick([[], 'hi', [{ role: 'system', content: 'x' }], [{ role: 'user' }]])),
      () => (body.priority = this.pick(['urgent', 1, null])),
      () => (body.requirements = this.pick([{ capabilities: ['telepathy'] }, { min_context_length: -1 }, { max_output_tokens: 0 }, 'all'])),
      () => (body.constraints = this.pick([{ max_latency_ms: -5 }, { max_cost_cents: 'free' }, { preferred_providers: 'mock' }])),
      () => (body.model_id = this.pick([5, '', {}])),
      () => (prompt.tools = [{ name: 'deep', parameters: nest(this.int(33, 400)) }]),
    ];
    this.pick(mutations)();
    return body;
  }

  private mutatedEmbeddings(): unknown {
    return this.pick([
      {},
      { model: 'mock-1' },
      { input: 'x' },
      { model: 'mock-1', input: 5 },
      { model: 'mock-1', input: [[1, 2]] },
      { model: 'mock-1', input: 'x', dimensions: 8 },
      { model: 'mock-1', input: 'x', encoding_format: 'hex' },
      { model: 7, input: 'x' },
    ]);
  }

  /** Bytes that are not a JSON document: empty, truncated, random, or binary. */
  private rawBody(kind: string): FuzzCase {
    const valid = JSON.stringify(validChat());
    const body = this.pick([
      () => Buffer.alloc(0),
      () => Buffer.from(valid.slice(0, this.int(1, valid.length - 1))),
      () => Buffer.from(Array.from({ length: this.int(1, 400) }, () => this.int(0, 255))),
      () => Buffer.from(`{"model": "mock-1", "messages": [${'{'.repeat(this.int(1, 50))}`),
      () => Buffer.from(valid.replace('"model"', "'model'")),
      () => Buffer.concat([Buffer.from('{"model": "mock-1", "messages": '), Buffer.from([0xff, 0xfe, 0xfd]), Buffer.from(' }')]),
      () => Buffer.from('\ufeff' + valid.slice(0, -1)),
    ])();
    return { kind, method: 'POST', path: this.bodyRoute(), headers: { 'content-type': 'application/json' }, body };
  }

  private deeplyNested(): unknown {
    const depth = this.int(40, Math.floor(this.bodyLimitBytes / 4));
    return this.pick([
      () => ({ ...validChat(), messages: nest(depth) }),
      () => nest(depth),
      () => ({ model: 'mock-1', messages: [{ role: 'user', content: nest(depth) }] }),
    ])();
  }

  private nearLimit(): unknown {
    const room = this.bodyLimitBytes - 200;
    return this.pick([
      () => ({ ...validChat(), model: 'm'.repeat(room) }),
      () => ({ ...validChat(), stream: 'x'.repeat(room) }),
      () => ({ model: 'mock-1', input: 'x', encoding_format: 'e'.repeat(room) }),
      () => ({ tenant: 't'.repeat(room) }),
    ])();
  }

  private overLimit(): FuzzCase {
    const padding = 'p'.repeat(this.bodyLimitBytes + this.int(1, 4096));
    return this.post('body: over the limit', this.bodyRoute(), { ...validChat(), padding });
  }

  private badIdentityHeader(name: string, maxLength: number): Record<string, string | string[]> {
    return {
      [name]: this.pick<string | string[]>(['did:l04:has space', `did:l04:${'a'.repeat(maxLength)}`, 'did:l04:caf\u00e9', ['did:l04:one', 'did:l04:two']]),
    };
  }

  private wrongMethod(): FuzzCase {
    const posts = ['/v1/chat/completions', '/v1/embeddings', '/v1/inference', '/v1/inference/batch', '/v1/admin/cache/purge'];
    const gets = ['/v1/models', '/v1/usage', '/health', '/health/ready', '/health/providers', '/metrics'];
    const path = this.pick([...posts, ...gets]);
    const method = posts.includes(path) ? this.pick(['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) : this.pick(['POST', 'PUT', 'DELETE', 'PATCH']);
    return { kind: 'method: not allowed', method, path, headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') };
  }

  private oddPath(): string {
    return this.pick([
      () => `/v1/chat/completions/${this.token(this.int(1, 12))}`,
      () => `/V1/models`,
      () => `/v1//models`,
      () => `/v1/chat%2Fcompletions`,
      () => `/%00${this.token(4)}`,
      () => `/${this.token(this.int(1, 30))}`,
      () => `/v1/${'x'.repeat(this.int(100, 4000))}`,
      () => `/v2/chat/completions?model=mock-1`,
      () => `/metrics.json`,
      () => `/health/${this.token(5)}`,
    ])();
  }

  private badUsageQuery(): string {
    return this.pick([
      () => `group_by=${this.pick(['week', '', 'AGENT', 'agent,day'])}`,
      () => `limit=${this.pick(['0', '-1', '1001', 'x', '1e3'])}`,
      () => `since=${this.pick(['yesterday', 'NaN', '1e99', '2024-13-45T99:00:00Z', ''])}`,
      () => `since=0&until=${this.pick(['soon', 'tomorrow', ''])}`,
      () => `since=0&${this.token(5)}=1`,
      () => `since=${'9'.repeat(65)}`,
      () => `since=0&agent=${'a'.repeat(513)}`,
      () => `since=0&agent=`,
      () => `since=%ff%fe`,
    ])();
  }

  private randomJson(depth: number): unknown {
    const roll = this.random();
    if (depth <= 0 || roll < 0.3)
      return this.pick([null, true, false, this.int(-1e6, 1e6), this.random() * 1e10, this.token(this.int(0, 20)), '\u0000\ud800', -0]);
    if (roll < 0.6) return Array.from({ length: this.int(0, 5) }, () => this.randomJson(depth - 1));
    return Object.fromEntries(
      Array.from({ length: this.int(0, 5) }, () => [
        this.pick(['role', 'content', 'messages', this.token(6), '__proto__', 'constructor']),
        this.randomJson(depth - 1),
      ]),
    );
  }

  private token(length: number): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-';
    return Array.from({ length }, () => alphabet[this.int(0, alphabet.length - 1)]).join('');
  }

  private int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }
}

/** A valid chat request (mutations make it invalid). */
export function validChat(): Record<string, unknown> {
  return { model: 'mock-1', messages: [{ role: 'user', content: 'hello' }] };
}

/** A valid native request (mutations make it invalid). */
export function validNative(): Record<string, unknown> {
  return { agent_did: 'did:l04:fuzz', model_id: 'mock-1', logical_prompt: { messages: [{ role: 'user', content: 'hello' }] } };
}

/** `{"a": {"a": … 1}}` nested `depth` levels deep. */
function nest(depth: number): unknown {
  let value: unknown = 1;
  for (let level = 0; level < depth; level++) value = level % 2 === 0 ? { a: value } : [value];
  return value;
}
