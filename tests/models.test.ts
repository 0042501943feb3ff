import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { GatewayError } from '../src/models/error-codes.js';
import { ERROR_CODES, InternalError, ProviderError, toOpenAIError } from '../src/models/error-codes.js';
import { parseInferenceRequest } from '../src/models/inference-request.js';
import { ModelConfigSchema, costCents } from '../src/models/model-config.js';
import { merged } from '../src/util/merged.js';

const minimal = { agent_did: 'did:example:a', logical_prompt: { messages: [{ role: 'user', content: 'hi' }] } };

describe('InferenceRequest', () => {
  it('applies the brief defaults', () => {
    const request = parseInferenceRequest(minimal);
    expect(request.requirements).toEqual({ capabilities: [], min_context_length: 4096, max_output_tokens: 4096 });
    expect(request.constraints).toEqual({ max_latency_ms: 30_000, max_cost_cents: 100, preferred_providers: [] });
    expect(request.priority).toBe('normal');
    expect(request.metadata).toEqual({});
  });

  it('rejects a bad field with E4500 naming it', () => {
    const bad = { ...minimal, logical_prompt: { messages: [{ role: 'robot', content: 'hi' }] } };
    const error = (() => {
      try {
        parseInferenceRequest(bad);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })() as GatewayError;
    expect(error.code).toBe('E4500');
    expect(error.httpStatus).toBe(400);
    expect(error.param).toBe('logical_prompt.messages[0].role');
    expect(error.message).toContain('logical_prompt.messages[0].role');
  });

  it('rejects unknown fields, empty prompts and unknown capabilities', () => {
    expect(() => parseInferenceRequest({ ...minimal, surprise: 1 })).toThrow(/E4500|Invalid request/);
    expect(() => parseInferenceRequest({ ...minimal, logical_prompt: { messages: [] } })).toThrow(/messages/);
    expect(() => parseInferenceRequest({ ...minimal, requirements: { capabilities: ['telepathy'] } })).toThrow(/requirements.capabilities\[0\]/);
  });

  it('bounds the nesting depth of tool parameters', () => {
    let deep: Record<string, unknown> = { type: 'string' };
    for (let level = 0; level < 40; level++) deep = { nested: deep };
    const request = { ...minimal, logical_prompt: { ...minimal.logical_prompt, tools: [{ name: 'deep', parameters: deep }] } };
    expect(() => parseInferenceRequest(request)).toThrow(/nesting deeper/);
  });

  it('accepts vision parts, tool calls and tool results', () => {
    const request = parseInferenceRequest({
      agent_did: 'did:example:a',
      logical_prompt: {
        system: 'be brief',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'what is this' },
              { type: 'image', url: 'data:image/png;base64,AAAA' },
            ],
          },
          { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', name: 'lookup', arguments: '{}' }] },
          { role: 'tool', tool_call_id: 'call_1', content: 'a cat' },
        ],
      },
    });
    expect(request.logical_prompt.messages).toHaveLength(3);
  });
});

describe('merged', () => {
  it('gives the own properties of a spread, in the same order, later ones winning, inputs untouched', () => {
    const base = { a: 1, b: 2, c: undefined };
    const extra = { b: 3, d: 4 };
    const result = merged(base, extra);
    expect(result).toEqual({ ...base, ...extra });
    expect(Object.keys(result)).toEqual(Object.keys({ ...base, ...extra }));
    expect(base).toEqual({ a: 1, b: 2, c: undefined });
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
  });

  it('is only given requests the schema has checked: a `__proto__` key is refused at every level it would reach', () => {
    // merged() runs the __proto__ setter where a spread would define a property (see util/merged.ts).
    const at = (body: string) => () => parseInferenceRequest(JSON.parse(body));
    const prompt = '"logical_prompt":{"messages":[{"role":"user","content":"hi"}]}';
    expect(at(`{"__proto__":{"tenant":"x"},"agent_did":"did:a:b",${prompt}}`)).toThrow(/Unrecognized key: "__proto__"/);
    expect(at('{"agent_did":"did:a:b","logical_prompt":{"messages":[{"role":"user","content":"hi","__proto__":{}}]}}')).toThrow(
      /messages\[0\]: Unrecognized key: "__proto__"/,
    );
    expect(at('{"agent_did":"did:a:b","logical_prompt":{"messages":[{"role":"user","content":[{"type":"text","text":"hi","__proto__":{}}]}]}}')).toThrow(
      /content\[0\]: Unrecognized key: "__proto__"/,
    );
  });
});

describe('error catalogue', () => {
  it('covers every range of the brief with a type, status and message', () => {
    const codes = Object.keys(ERROR_CODES);
    for (const prefix of ['E40', 'E41', 'E42', 'E43', 'E44', 'E45', 'E46', 'E47']) expect(codes.some((code) => code.startsWith(prefix))).toBe(true);
    for (const spec of Object.values(ERROR_CODES)) {
      expect(spec.type).toMatch(/^[a-z_]+$/);
      expect(spec.httpStatus).toBeGreaterThanOrEqual(400);
      expect(spec.message.length).toBeGreaterThan(0);
    }
  });

  it('is listed whole in the README, each code with its type and status', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const [code, spec] of Object.entries(ERROR_CODES)) expect(readme).toContain(`| ${code} | ${spec.type} | ${spec.httpStatus} |`);
  });

  it('renders a gateway error in the OpenAI shape with Retry-After', () => {
    const rendered = toOpenAIError(new ProviderError('E4204', 'slow down', { retryAfterMs: 1500, param: 'model' }));
    expect(rendered.status).toBe(503);
    expect(rendered.headers['retry-after']).toBe('2');
    expect(rendered.body).toEqual({ error: { message: 'slow down', type: 'provider_rate_limited', code: 'E4204', param: 'model' } });
  });

  it('never leaks the message or stack of an unexpected error', () => {
    const rendered = toOpenAIError(new TypeError('secret internals at /srv/app.js:12'));
    expect(rendered.status).toBe(500);
    expect(rendered.body.error.code).toBe('E4900');
    expect(JSON.stringify(rendered.body)).not.toContain('secret');
    expect(new InternalError('E4900').retryable).toBe(false);
  });
});

describe('ModelConfig', () => {
  it('prices a call from per-1k prices', () => {
    const model = ModelConfigSchema.parse({ id: 'm', provider: 'p', provider_model: 'm', input_cost_per_1k_cents: 0.5, output_cost_per_1k_cents: 1.5 });
    expect(costCents(model, 2000, 1000)).toBeCloseTo(2.5);
  });
});
