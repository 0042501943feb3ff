import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load-config.js';
import { ModelRegistry } from '../src/routing/model-registry.js';
import type { GatewayError } from '../src/models/error-codes.js';

function registry(): ModelRegistry {
  const r = new ModelRegistry(['ollama', 'openai']);
  r.register({ id: 'llama3.2', provider: 'ollama', provider_model: 'llama3.2:latest', capabilities: ['text', 'tool_use'], context_length: 131072 });
  r.register({ id: 'llava', provider: 'ollama', provider_model: 'llava', capabilities: ['text', 'vision'], context_length: 4096 });
  r.register({ id: 'gpt-4o-mini', provider: 'openai', provider_model: 'gpt-4o-mini', capabilities: ['text', 'vision', 'tool_use'], context_length: 128000 });
  return r;
}

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    return (error as GatewayError).code;
  }
  return undefined;
}

describe('ModelRegistry', () => {
  it('gets, lists and unregisters models', () => {
    const r = registry();
    expect(r.get('llava').provider).toBe('ollama');
    expect(r.list().map((model) => model.id)).toEqual(['llama3.2', 'llava', 'gpt-4o-mini']);
    expect(r.unregister('llava')).toBe(true);
    expect(r.find('llava')).toBeUndefined();
    expect(r.unregister('llava')).toBe(false);
  });

  it('lists by capability, by provider and by minimum context', () => {
    const r = registry();
    expect(r.listByCapability('vision').map((model) => model.id)).toEqual(['llava', 'gpt-4o-mini']);
    expect(r.listByCapability('vision', 'tool_use').map((model) => model.id)).toEqual(['gpt-4o-mini']);
    expect(r.listByProvider('ollama').map((model) => model.id)).toEqual(['llama3.2', 'llava']);
    expect(r.listByMinContext(100_000).map((model) => model.id)).toEqual(['llama3.2', 'gpt-4o-mini']);
  });

  it('rejects duplicates with E4001, dangling providers with E4002 and bad fields with E4000', () => {
    const r = registry();
    expect(codeOf(() => r.register({ id: 'llava', provider: 'ollama', provider_model: 'llava' }))).toBe('E4001');
    expect(codeOf(() => r.register({ id: 'claude', provider: 'anthropic', provider_model: 'claude' }))).toBe('E4002');
    expect(codeOf(() => r.register({ id: 'bad', provider: 'ollama', provider_model: 'bad', context_length: -1 }))).toBe('E4000');
    expect(codeOf(() => r.get('nope'))).toBe('E4102');
  });

  it('marks models unavailable and available again', () => {
    const r = registry();
    r.setAvailability('llava', false, 'not pulled: ollama pull llava');
    expect(r.get('llava')).toMatchObject({ available: false, unavailable_reason: 'not pulled: ollama pull llava' });
    r.setAvailability('llava', true);
    expect(r.get('llava').available).toBe(true);
    expect(r.get('llava').unavailable_reason).toBeUndefined();
  });

  it('loads from config, provider_model defaulting to the id', () => {
    const config = parseConfig({ providers: { mock: { type: 'mock' } }, models: { 'mock-1': { provider: 'mock' } } }, {});
    expect(ModelRegistry.fromConfig(config).get('mock-1')).toMatchObject({ provider: 'mock', provider_model: 'mock-1', context_length: 8192 });
  });
});
