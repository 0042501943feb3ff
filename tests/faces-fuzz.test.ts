/**
 * The Messages and Responses faces under malformed input: every answer is a success or a 4xx in
 * the face's own error shape with an E-code — never a 5xx, never an internal error.
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from './helpers/fuzz-cases.js';
import { mockConfig, startTestServer } from './helpers/gateway.js';

const SEED = 1404;
const CASES = 400;

function validMessages(): Record<string, unknown> {
  return {
    model: 'mock-1',
    max_tokens: 64,
    system: [{ type: 'text', text: 'sys', cache_control: { type: 'ephemeral' } }],
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'hello' }] },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 't', signature: 's' },
          { type: 'tool_use', id: 'tu1', name: 'f', input: {} },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu1', content: 'ok' }] },
    ],
    tools: [{ name: 'f', input_schema: { type: 'object' } }],
  };
}

function validResponses(): Record<string, unknown> {
  return {
    model: 'mock-1',
    input: [
      { role: 'user', content: [{ type: 'input_text', text: 'hello' }] },
      { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
      { type: 'function_call_output', call_id: 'c1', output: 'ok' },
    ],
    tools: [{ type: 'function', name: 'f', parameters: { type: 'object' } }],
  };
}

const ODD_VALUES: unknown[] = [
  null,
  0,
  -1,
  1e30,
  '',
  'x'.repeat(300),
  true,
  [],
  {},
  [null],
  [[]],
  { type: 'nope' },
  [{ type: 'text' }],
  [{ type: 'image', source: { type: 'base64' } }],
];

/** Replaces one value at a random path of `value` (objects and arrays, up to a few levels deep). */
function mutate(value: Record<string, unknown>, random: () => number): Record<string, unknown> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  let node: unknown = value;
  for (let depth = 0; depth < 4; depth++) {
    const container = node as Record<string, unknown> | unknown[];
    const keys: Array<string | number> = Array.isArray(container) ? container.map((_, index) => index) : Object.keys(container);
    if (keys.length === 0) break;
    const key = pick(keys);
    const child = (container as Record<string | number, unknown>)[key];
    if (child !== null && typeof child === 'object' && random() < 0.6) {
      node = child;
      continue;
    }
    if (random() < 0.15 && !Array.isArray(container)) delete (container as Record<string, unknown>)[String(key)];
    else (container as Record<string | number, unknown>)[key] = pick(ODD_VALUES);
    break;
  }
  return value;
}

async function fuzz(path: string, valid: () => Record<string, unknown>, codeOf: (body: unknown) => unknown) {
  const { url, logs } = await startTestServer(mockConfig({ logging: { level: 'warn' } }));
  const random = seededRandom(SEED);
  const bad: Array<{ status: number; body: string; sent: string }> = [];
  const statuses: Record<number, number> = {};
  for (let index = 0; index < CASES; index++) {
    const body = JSON.stringify(mutate(valid(), random));
    const answer = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await answer.text();
    statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
    if (answer.status === 200) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const code = codeOf(parsed);
    if (answer.status < 400 || answer.status >= 500 || typeof code !== 'string' || !/^E4\d{3}$/.test(code))
      bad.push({ status: answer.status, body: text.slice(0, 200), sent: body.slice(0, 200) });
  }
  // Most mutations must be refused at the edge, or the test would not be exercising the error path.
  expect(statuses[400] ?? 0).toBeGreaterThan(CASES / 2);
  expect(bad.slice(0, 5), `seed ${SEED}: ${bad.length} bad answers`).toEqual([]);
  expect(logs.records().filter((record) => record.code === 'E4900')).toEqual([]);
}

describe('protocol faces under malformed input', () => {
  it('answers mutated Messages requests with success or a 4xx in Anthropic shape', async () => {
    await fuzz('/v1/messages', validMessages, (body) =>
      (body as { type?: string; error?: { code?: unknown } } | undefined)?.type === 'error' ? (body as { error?: { code?: unknown } }).error?.code : undefined,
    );
  });

  it('answers mutated Responses requests with success or a 4xx in OpenAI shape', async () => {
    await fuzz('/v1/responses', validResponses, (body) => (body as { error?: { code?: unknown } } | undefined)?.error?.code);
  });
});
