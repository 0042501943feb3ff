/** Pieces the protocol faces rely on: model aliases, prompt-cache pricing, the mock's schema values, ignored-parameter lists. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load-config.js';
import type { GatewayError } from '../src/models/error-codes.js';
import { usageCostCents } from '../src/models/model-config.js';
import { tokenUsage } from '../src/models/inference-response.js';
import { exampleFromSchema } from '../src/providers/mock/example-from-schema.js';
import { ignoredParameters } from '../src/providers/ignored-parameters.js';
import { ModelRegistry } from '../src/routing/model-registry.js';

describe('model aliases', () => {
  it('resolves an alias to its model and forgets it with the model', () => {
    const registry = new ModelRegistry(['p']);
    registry.register({ id: 'llama', provider: 'p', provider_model: 'llama3.2', aliases: ['claude-sonnet-4-5', 'gpt-4o'] });
    expect(registry.get('claude-sonnet-4-5').id).toBe('llama');
    expect(registry.find('gpt-4o')?.id).toBe('llama');
    expect(() => registry.register({ id: 'gpt-4o', provider: 'p', provider_model: 'x' })).toThrow(/already names/);
    registry.unregister('llama');
    expect(registry.find('gpt-4o')).toBeUndefined();
  });

  it('refuses a config whose alias names another model or alias, with the path', () => {
    let error: GatewayError | undefined;
    try {
      parseConfig({
        providers: { p: { type: 'mock' } },
        models: { a: { provider: 'p', aliases: ['b'] }, b: { provider: 'p' }, c: { provider: 'p', aliases: ['x', 'x'] } },
      });
    } catch (caught) {
      error = caught as GatewayError;
    }
    expect(error?.code).toBe('E4000');
    expect(error?.message).toContain('models.a.aliases[0]: "b" already names model "b"');
    expect(error?.message).toContain('models.c.aliases[1]: "x" already names an alias of model "c"');
  });
});

describe('usageCostCents', () => {
  const model = { input_cost_per_1k_cents: 1, output_cost_per_1k_cents: 2 };
  it('prices cache reads and writes at their own prices, or at the input price when none is configured', () => {
    const usage = tokenUsage(1000, 100, { creation: 200, read: 500 });
    expect(usageCostCents(model, usage)).toBeCloseTo((1000 * 1 + 100 * 2) / 1000, 12);
    expect(usageCostCents({ ...model, cache_write_cost_per_1k_cents: 1.25, cache_read_cost_per_1k_cents: 0.1 }, usage)).toBeCloseTo(
      (300 * 1 + 200 * 1.25 + 500 * 0.1 + 100 * 2) / 1000,
      12,
    );
  });
});

describe('exampleFromSchema', () => {
  it('builds a value valid against refs, unions, intersections, enums, formats and bounds', () => {
    const schema = {
      $defs: { item: { type: 'object', properties: { qty: { type: 'integer', minimum: 3, multipleOf: 2 } } } },
      type: 'object',
      properties: {
        items: { type: 'array', items: { $ref: '#/$defs/item' }, minItems: 2 },
        when: { type: 'string', format: 'date-time' },
        kind: { enum: ['a', 'b'] },
        maybe: { anyOf: [{ type: 'null' }, { type: 'number', exclusiveMinimum: 5 }] },
        both: {
          allOf: [
            { type: 'object', properties: { x: { const: 1 } } },
            { type: 'object', properties: { y: { type: 'boolean' } } },
          ],
        },
        code: { type: 'string', minLength: 12 },
      },
    };
    expect(exampleFromSchema(schema, 'seed')).toEqual({
      items: [{ qty: 4 }, { qty: 4 }],
      when: '2025-01-01T00:00:00Z',
      kind: 'a',
      maybe: 6,
      both: { x: 1, y: true },
      code: 'seed code...',
    });
  });
});

describe('ignoredParameters', () => {
  it('lists prompt fields a provider type drops and options meant for other providers', () => {
    const prompt = {
      messages: [
        { role: 'user' as const, content: [{ type: 'text' as const, text: 'x', provider_options: { anthropic: { cache_control: { type: 'ephemeral' } } } }] },
      ],
      top_k: 3,
      seed: 1,
      parallel_tool_calls: true,
      provider_options: { anthropic: { thinking: {}, 'anthropic-beta': 'b' }, openai: { store: true } },
    };
    expect(ignoredParameters('openai', prompt)).toEqual(['cache_control', 'thinking', 'top_k']);
    expect(ignoredParameters('anthropic', prompt)).toEqual(['seed', 'store']);
    expect(ignoredParameters('ollama', prompt)).toEqual(['cache_control', 'store', 'thinking']);
  });
});
