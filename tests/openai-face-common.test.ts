/**
 * The OpenAI face's hand-written check of the common chat request (`common-chat-request.ts`)
 * against `ChatCompletionRequestSchema`: on thousands of generated requests — valid ones of the
 * common shape, with the extra fields real clients send, and each broken or stretched one field at
 * a time — a body it passes must pass the schema too, and the native request the face builds from
 * the body as it is must equal, field for field and in order, the one it builds from the schema's
 * result.
 */
import { describe, expect, it } from 'vitest';
import { isCommonChatRequest } from '../src/server/openai/common-chat-request.js';
import { ChatCompletionRequestSchema, translateChat } from '../src/server/openai/openai-chat.js';
import { seededRandom } from './helpers/fuzz-cases.js';
import { difference, slotsOf } from './helpers/generated-inputs.js';

const SEED = Number(process.env.L04_FUZZ_SEED ?? 0xface);
const DIRECTIVES = { noCache: false, noStore: false };

function generator(seed: number) {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const chance = (probability: number): boolean => random() < probability;

  const valid = (): Record<string, unknown> => {
    const messages: Array<Record<string, unknown>> = [];
    if (chance(0.4)) messages.push({ role: pick(['system', 'developer']), content: pick(['Be brief.', '', null]) });
    const turns = 1 + Math.floor(random() * 3);
    for (let turn = 0; turn < turns; turn++) {
      messages.push(chance(0.2) ? { role: 'user', content: 'Hi', name: 'alice' } : { role: 'user', content: pick(['Say hello.', 'What is 2+2?', '', null]) });
      if (turn < turns - 1)
        messages.push(
          pick([
            { role: 'assistant', content: 'Sure.' },
            { role: 'assistant', content: null },
            { role: 'assistant' },
            { role: 'assistant', content: '', refusal: null },
          ]),
        );
    }
    const body: Record<string, unknown> = { model: pick(['mock-1', 'auto', 'gpt-4o-mini']), messages };
    const optional: Array<[string, () => unknown]> = [
      ['stream', () => pick([true, false])],
      ['stream_options', () => pick([null, {}, { include_usage: true }, { include_usage: false, extra: 1 }])],
      ['max_tokens', () => pick([null, 1, 256])],
      ['max_completion_tokens', () => pick([null, 64])],
      ['temperature', () => pick([null, 0, 0.7, 2])],
      ['top_p', () => pick([null, 0, 1])],
      ['stop', () => pick([null, 'END', [], ['a', 'b']])],
      ['seed', () => pick([null, 0, -3, 42])],
      ['n', () => pick([null, 1])],
      ['user', () => pick(['', 'user-7'])],
      ['presence_penalty', () => pick([null, -2, 0.5])],
      ['frequency_penalty', () => pick([null, 2])],
      ['parallel_tool_calls', () => pick([null, true, false])],
      ['reasoning_effort', () => pick([null, 'minimal', 'high'])],
      // What real clients add: passed on to OpenAI (`store`, `metadata`), or ignored and named.
      ['store', () => pick([true, false])],
      ['metadata', () => ({ team: 'a' })],
      ['logprobs', () => false],
      ['modalities', () => ['text']],
    ];
    for (const [key, value] of optional) if (chance(0.3)) body[key] = value();
    return body;
  };

  const odd: Array<() => unknown> = [
    () => undefined,
    () => null,
    () => NaN,
    () => -1,
    () => 0,
    () => 1.5,
    () => 2.5,
    () => 3,
    () => 2 ** 60,
    () => '',
    () => 'x'.repeat(257),
    () => 'x'.repeat(1025),
    () => 'tool',
    () => 'assistant',
    () => 'high',
    () => 'urgent',
    () => true,
    () => [],
    () => ['a'],
    () => Array.from({ length: 9 }, () => 's'),
    () => [{ type: 'text', text: 'part' }],
    () => [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }],
    () => ({}),
    () => ({ include_usage: 'yes' }),
    () => [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
    () => [{ type: 'function', function: { name: 'f' } }],
    () => ({ type: 'json_object' }),
    () => ({ priority: 'high' }),
    () => ({ role: 'tool', tool_call_id: 'c1', content: 'r' }),
  ];
  const extraKeys = ['tools', 'tool_choice', 'response_format', 'l04', 'tool_calls', 'content', 'role', 'n', 'stream', 'user', 'include_usage'];

  const mutated = (body: Record<string, unknown>): unknown => {
    const copy = structuredClone(body);
    const [target, key] = pick(slotsOf(copy, extraKeys));
    target[key] = pick(odd)();
    return copy;
  };
  return { valid, mutated };
}

/** Checks one body; returns whether the hand-written check passed it. */
function compare(body: unknown): boolean {
  if (!isCommonChatRequest(body)) return false;
  const schema = ChatCompletionRequestSchema.safeParse(body);
  if (!schema.success) throw new Error(`passed by hand, refused by the schema (${schema.error.issues[0]?.message}): ${JSON.stringify(body)}`);
  const raw = body as Record<string, unknown>;
  const fromBody = translateChat(body, raw, 'did:l04:anonymous', DIRECTIVES);
  const fromSchema = translateChat(schema.data, raw, 'did:l04:anonymous', DIRECTIVES);
  const found = difference(fromBody, fromSchema);
  if (found !== undefined) throw new Error(`the native requests differ at ${found}: ${JSON.stringify(body)}`);
  return true;
}

describe('the OpenAI face on common chat requests', () => {
  it('reads every generated valid request of the common shape as the schema would', () => {
    const cases = generator(SEED);
    let passed = 0;
    for (let index = 0; index < 3_000; index++) if (compare(cases.valid())) passed++;
    expect(passed).toBe(3_000);
  });

  it('never passes what the schema refuses, with one field broken or stretched', () => {
    const cases = generator(SEED + 1);
    let passed = 0;
    let refused = 0;
    for (let index = 0; index < 6_000; index++) {
      const body = cases.mutated(cases.valid());
      if (!ChatCompletionRequestSchema.safeParse(body).success) refused++;
      if (compare(body)) passed++;
    }
    expect(refused).toBeGreaterThan(1_500);
    expect(passed).toBeGreaterThan(1_500);
  });
});
