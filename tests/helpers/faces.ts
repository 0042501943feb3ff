/** A gateway in front of a fixture upstream of every provider type, for the protocol faces' tests. */
import type { GatewayConfigInput } from '../../src/config/config-schema.js';
import { ANTHROPIC_FIXTURE_API_KEY, startAnthropicFixture } from './anthropic-fixture-server.js';
import { onCleanup } from './cleanup.js';
import { startTestServer } from './gateway.js';
import { startOllamaFixture } from './ollama-fixture-server.js';
import { startOpenAIFixture } from './openai-fixture-server.js';

const ALL = ['text', 'tool_use', 'vision', 'json_mode', 'streaming', 'long_context'] as const;

/**
 * Models: `claude` (Anthropic fixture, plain text; alias `claude-sonnet-4-5`; prompt-cache prices),
 * `claude-thinking`, `claude-json` (the forced-tool scenario), `gpt` (OpenAI fixture; alias
 * `gpt-4o`), `llama` (Ollama fixture; alias `claude-haiku-4-5`), `mock-1`.
 */
export async function startFacesGateway(overrides: Partial<GatewayConfigInput> = {}) {
  const anthropic = await startAnthropicFixture();
  const openai = await startOpenAIFixture();
  const ollama = await startOllamaFixture();
  onCleanup(() => Promise.all([anthropic.close(), openai.close(), ollama.close()]));
  const config: GatewayConfigInput = {
    state: { backend: 'memory' },
    models: {
      claude: {
        provider: 'anthropic',
        provider_model: 'text',
        capabilities: [...ALL],
        context_length: 200_000,
        max_output_tokens: 64_000,
        aliases: ['claude-sonnet-4-5'],
        input_cost_per_1k_cents: 0.3,
        output_cost_per_1k_cents: 1.5,
        cache_write_cost_per_1k_cents: 0.375,
        cache_read_cost_per_1k_cents: 0.03,
      },
      'claude-thinking': {
        provider: 'anthropic',
        provider_model: 'thinking',
        capabilities: [...ALL],
        context_length: 200_000,
        max_output_tokens: 64_000,
        input_cost_per_1k_cents: 0.3,
        output_cost_per_1k_cents: 1.5,
        cache_write_cost_per_1k_cents: 0.375,
        cache_read_cost_per_1k_cents: 0.03,
      },
      'claude-tools': { provider: 'anthropic', provider_model: 'tool-use', capabilities: [...ALL], context_length: 200_000, max_output_tokens: 64_000 },
      'claude-json': { provider: 'anthropic', provider_model: 'json-tool', capabilities: [...ALL], context_length: 200_000, max_output_tokens: 64_000 },
      gpt: { provider: 'openai', provider_model: 'plain', capabilities: [...ALL], context_length: 128_000, max_output_tokens: 16_384, aliases: ['gpt-4o'] },
      'gpt-json': { provider: 'openai', provider_model: 'json-schema', capabilities: [...ALL], context_length: 128_000, max_output_tokens: 16_384 },
      llama: { provider: 'ollama', provider_model: 'llama3.2:latest', capabilities: [...ALL], context_length: 131_072, aliases: ['claude-haiku-4-5'] },
      'mock-1': { provider: 'mock', capabilities: [...ALL], context_length: 32_768 },
    },
    cache: { enabled: false },
    health: { enabled: false },
    logging: { level: 'silent' },
    ...overrides,
    providers: {
      anthropic: { type: 'anthropic', base_url: anthropic.url, api_key: ANTHROPIC_FIXTURE_API_KEY },
      openai: { type: 'openai', base_url: openai.url, api_key: 'sk-fixture-0123456789' },
      ollama: { type: 'ollama', base_url: ollama.url },
      mock: { type: 'mock' },
      ...overrides.providers,
    },
  };
  const started = await startTestServer(config);
  return { ...started, anthropic, openai, ollama };
}
