/**
 * The hand-written fast path of request validation (`src/models/common-request.ts`) against the
 * schema it stands in for: on thousands of generated requests — valid ones of every common shape,
 * and each of them broken or stretched one field at a time — it must return exactly what
 * `InferenceRequestSchema` returns (same fields in the same order, same values) or step aside, and
 * it must step aside for everything the schema refuses.
 */
import { describe, expect, it } from 'vitest';
import { parseCommonRequest } from '../src/models/common-request.js';
import { InferenceRequestSchema, REQUEST_LIMITS } from '../src/models/inference-request.js';
import { toInferenceRequest } from '../src/server/openai/openai-chat.js';
import { seededRandom } from './helpers/fuzz-cases.js';
import { difference, slotsOf } from './helpers/generated-inputs.js';

const SEED = Number(process.env.L04_FUZZ_SEED ?? 0x0c0de);

/** Generated requests: the common shapes, then the same broken or stretched one field at a time. */
class RequestCases {
  private readonly random: () => number;

  constructor(seed: number) {
    this.random = seededRandom(seed);
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  private chance(probability: number): boolean {
    return this.random() < probability;
  }

  /** A valid request of the common shape, some optional fields set, some present as `undefined`. */
  valid(): Record<string, unknown> {
    const turns = 1 + Math.floor(this.random() * 4);
    const messages = Array.from({ length: turns }, (_, index) =>
      index % 2 === 1
        ? this.chance(0.2)
          ? { role: 'assistant' }
          : { role: 'assistant', content: this.pick(['', 'Sure.', 'It is 4.']) }
        : { role: 'user', content: this.pick(['Say hello.', 'What is 2+2?', '', 'ünïcödé 🙂']) },
    );
    const prompt: Record<string, unknown> = { messages };
    const optional: Array<[string, () => unknown]> = [
      ['system', () => this.pick(['You are terse.', ''])],
      ['temperature', () => this.pick([0, 0.7, 2])],
      ['top_p', () => this.pick([0, 0.5, 1])],
      ['stop', () => this.pick([[], ['END'], ['a', 'b']])],
      ['seed', () => this.pick([0, -5, 42, Number.MAX_SAFE_INTEGER])],
      ['top_k', () => this.pick([1, 40, 1_000_000])],
      ['presence_penalty', () => this.pick([-2, 0, 1.5])],
      ['frequency_penalty', () => this.pick([-2, 0, 2])],
      ['user', () => this.pick(['u', 'agent-7'])],
      ['parallel_tool_calls', () => this.pick([true, false])],
      ['reasoning_effort', () => this.pick(['minimal', 'low', 'medium', 'high'])],
    ];
    for (const [key, value] of optional) if (this.chance(0.3)) prompt[key] = this.chance(0.15) ? undefined : value();
    const request: Record<string, unknown> = { agent_did: this.pick(['did:l04:anonymous', 'did:example:agent-1', 'a']), logical_prompt: prompt };
    const fields: Array<[string, () => unknown]> = [
      ['request_id', () => this.pick(['req-1', 'a.b:c_d-e'])],
      ['tenant', () => this.pick(['default', 'acme'])],
      ['model_id', () => this.pick(['mock-1', 'auto'])],
      ['priority', () => this.pick(['high', 'normal', 'low'])],
      ['metadata', () => ({})],
      ['requirements', () => this.requirements()],
      ['constraints', () => this.constraints()],
      ['cache', () => this.cacheControl()],
    ];
    for (const [key, value] of fields) if (this.chance(0.4)) request[key] = this.chance(0.15) ? undefined : value();
    return this.chance(0.5) ? shuffled(request, this.random) : request;
  }

  private requirements(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (this.chance(0.5)) out.capabilities = this.pick([[], ['text'], ['text', 'vision', 'tool_use']]);
    if (this.chance(0.5)) out.min_context_length = this.pick([1, 8192, 100_000_000]);
    if (this.chance(0.5)) out.max_output_tokens = this.pick([1, 256, 1_000_000]);
    return out;
  }

  private constraints(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (this.chance(0.5)) out.max_latency_ms = this.pick([1, 5_000, 3_600_000]);
    if (this.chance(0.5)) out.deadline_ms = this.pick([1, 60_000, 3_600_000, undefined]);
    if (this.chance(0.5)) out.max_cost_cents = this.pick([0, 0.5, 1_000_000]);
    if (this.chance(0.5)) out.preferred_providers = this.pick([[], ['openai'], ['a', 'b']]);
    return out;
  }

  private cacheControl(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (this.chance(0.5)) out.read = this.pick([true, false]);
    if (this.chance(0.5)) out.write = this.pick([true, false]);
    if (this.chance(0.5)) out.min_similarity = this.pick([0, 0.9, 1, undefined]);
    return out;
  }

  /** `request` with one value, somewhere in it, replaced by a bad, borderline or uncommon one. */
  mutated(request: Record<string, unknown>): unknown {
    const copy = structuredClone(request);
    const [target, key] = this.pick(slotsOf(copy, EXTRA_KEYS));
    target[key] = this.pick(ODD_VALUES)();
    return copy;
  }
}

const EXTRA_KEYS = ['tools', 'tool_calls', 'metadata', 'role', 'content', 'unknown_field', 'provider_options', 'system', 'cache', 'deadline_ms', 'read'];

const ODD_VALUES: Array<() => unknown> = [
  () => undefined,
  () => null,
  () => NaN,
  () => Infinity,
  () => -0,
  () => -1,
  () => 0,
  () => -0.5,
  () => 1.01,
  () => 1.5,
  () => 2.5,
  () => 3,
  () => 1_000_001,
  () => 3_600_001,
  () => 100_000_001,
  () => 2 ** 60,
  () => '',
  () => ' ',
  () => 'x'.repeat(65),
  () => 'x'.repeat(129),
  () => 'x'.repeat(257),
  () => 'x'.repeat(513),
  () => 'has space',
  () => 'x'.repeat(1025),
  () => 'tool',
  () => 'system',
  () => 'user',
  () => 'assistant',
  () => 'vision',
  () => 'urgent',
  () => 'high',
  () => true,
  () => [],
  () => [''],
  () => ['text', 'text', 'text', 'text', 'text', 'text', 'text', 'text'],
  () => Array.from({ length: REQUEST_LIMITS.maxStopSequences + 1 }, () => 's'),
  () => [{ type: 'text', text: 'part' }],
  () => ({}),
  () => ({ a: 1 }),
  () => JSON.parse('{"__proto__": {"polluted": true}}') as unknown,
  () => Object.create(null) as unknown,
  () => new (class Odd {})(),
  () => new Date(0),
  () => ({ role: 'tool', tool_call_id: 'c', content: 'r' }),
  () => ({ role: 'user', content: [{ type: 'text', text: 'x' }] }),
];

function shuffled(record: Record<string, unknown>, random: () => number): Record<string, unknown> {
  const entries = Object.entries(record);
  for (let index = entries.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [entries[index], entries[other]] = [entries[other]!, entries[index]!];
  }
  return Object.fromEntries(entries);
}

/** Runs both parsers on `input`; fails on any disagreement. Returns whether the fast path answered. */
function compare(input: unknown): boolean {
  const schema = InferenceRequestSchema.safeParse(input);
  const fast = parseCommonRequest(input);
  if (fast === undefined) return false;
  if (!schema.success) throw new Error(`the fast path accepted what the schema refuses (${schema.error.issues[0]?.message}): ${JSON.stringify(input)}`);
  const found = difference(fast, schema.data);
  if (found !== undefined) throw new Error(`the fast path and the schema differ at ${found}: ${JSON.stringify(input)}`);
  return true;
}

describe('the common-request fast path', () => {
  it('returns what the schema returns, for every generated valid request of the common shape', () => {
    const cases = new RequestCases(SEED);
    let answered = 0;
    for (let index = 0; index < 3_000; index++) if (compare(cases.valid())) answered++;
    // The generator draws only common shapes: the fast path must take every one.
    expect(answered).toBe(3_000);
  });

  it('never accepts what the schema refuses, and agrees on whatever it accepts, with one field broken or stretched', () => {
    const cases = new RequestCases(SEED + 1);
    let answered = 0;
    let refused = 0;
    for (let index = 0; index < 6_000; index++) {
      const input = cases.mutated(cases.valid());
      if (!InferenceRequestSchema.safeParse(input).success) refused++;
      if (compare(input)) answered++;
    }
    // Both kinds were drawn: most refused by the schema (5,374 with the default seed), some still
    // valid and of the common shape, taken by the fast path (279); the rest valid but uncommon.
    expect(refused).toBeGreaterThan(4_000);
    expect(answered).toBeGreaterThan(150);
  });

  it('takes what the OpenAI face builds from a plain chat request, and steps aside for tools, images and tool results', () => {
    const directives = { noCache: false, noStore: false };
    const plain = toInferenceRequest(
      {
        model: 'mock-1',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hello' },
        ],
        temperature: 0.2,
        max_tokens: 64,
        stop: 'END',
      },
      'did:l04:anonymous',
      directives,
    ).request;
    expect(compare(plain)).toBe(true);
    const withTools = toInferenceRequest(
      {
        model: 'mock-1',
        messages: [{ role: 'user', content: 'Weather?' }],
        tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object' } } }],
      },
      'did:l04:anonymous',
      directives,
    ).request;
    expect(parseCommonRequest(withTools)).toBeUndefined();
    const withImage = { agent_did: 'a', logical_prompt: { messages: [{ role: 'user', content: [{ type: 'image', url: 'https://example.com/a.png' }] }] } };
    expect(parseCommonRequest(withImage)).toBeUndefined();
    expect(InferenceRequestSchema.safeParse(withImage).success).toBe(true);
  });

  it('builds fresh defaults: changing one request never changes the next', () => {
    const first = parseCommonRequest({ agent_did: 'a', logical_prompt: { messages: [{ role: 'user', content: 'x' }] } });
    first?.requirements.capabilities.push('vision');
    const second = parseCommonRequest({ agent_did: 'a', logical_prompt: { messages: [{ role: 'user', content: 'x' }] } });
    expect(second?.requirements.capabilities).toEqual([]);
  });
});
