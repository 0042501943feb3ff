/** Builds the adapter of one configured provider. */
import type { ProviderConfig } from '../models/provider-config.js';
import type { Clock } from '../util/clock.js';
import { AnthropicAdapter } from './anthropic-adapter.js';
import type { ProviderAdapter } from './base.js';
import { MockAdapter } from './mock-adapter.js';
import { OllamaAdapter } from './ollama-adapter.js';
import { OpenAIAdapter } from './openai-adapter.js';

/** The adapter for `config.type`. */
export function createAdapter(config: ProviderConfig, options: { clock?: Clock } = {}): ProviderAdapter {
  switch (config.type) {
    case 'ollama':
      return new OllamaAdapter(config);
    case 'openai':
      return new OpenAIAdapter(config);
    case 'anthropic':
      return new AnthropicAdapter(config);
    case 'mock':
      return new MockAdapter(config, options);
    default: {
      const exhaustive: never = config;
      throw new Error(`unknown provider type ${JSON.stringify(exhaustive)}`);
    }
  }
}
