/** No silent drops on Chat Completions: every parameter a provider supports reaches it, and the rest are named in `x-l04-ignored-params`. */
import { describe, expect, it } from 'vitest';
import { startFacesGateway } from './helpers/faces.js';

const parameters = {
  messages: [{ role: 'user' as const, content: 'Why is the sky blue?' }],
  tools: [{ type: 'function' as const, function: { name: 'f', parameters: { type: 'object' } } }],
  tool_choice: 'none' as const,
  presence_penalty: 0.5,
  frequency_penalty: 0.25,
  seed: 7,
  user: 'end-user-1',
  parallel_tool_calls: false,
  reasoning_effort: 'low' as const,
  metadata: { run: 'r1' },
  store: true,
  logprobs: true,
  top_logprobs: 2,
};

describe('Chat Completions parameters', () => {
  it('passes every parameter OpenAI supports to an OpenAI upstream, and names only logprobs as ignored', async () => {
    const { client, openai } = await startFacesGateway();
    const { response } = await client.chat.completions.create({ model: 'gpt', ...parameters }).withResponse();
    expect(response.headers.get('x-l04-ignored-params')).toBe('logprobs,top_logprobs');
    expect(openai.requests[0]?.body).toMatchObject({
      presence_penalty: 0.5,
      frequency_penalty: 0.25,
      seed: 7,
      user: 'end-user-1',
      parallel_tool_calls: false,
      reasoning_effort: 'low',
      metadata: { run: 'r1' },
      store: true,
    });
    expect(openai.requests[0]?.body).not.toHaveProperty('logprobs');
  });

  it('maps what Anthropic supports and names the rest', async () => {
    const { client, anthropic } = await startFacesGateway();
    const { response } = await client.chat.completions.create({ model: 'claude', max_tokens: 20_000, ...parameters }).withResponse();
    expect(response.headers.get('x-l04-ignored-params')).toBe('frequency_penalty,logprobs,metadata,presence_penalty,seed,store,top_logprobs');
    expect(anthropic.requests[0]?.body).toMatchObject({
      metadata: { user_id: 'end-user-1' },
      tool_choice: { type: 'none', disable_parallel_tool_use: true },
      thinking: { type: 'enabled', budget_tokens: 2048 },
    });
  });

  it('maps what Ollama supports and names the rest', async () => {
    const { client, ollama } = await startFacesGateway();
    const { response } = await client.chat.completions.create({ model: 'llama', ...parameters, tool_choice: 'auto' }).withResponse();
    expect(response.headers.get('x-l04-ignored-params')).toBe('logprobs,metadata,parallel_tool_calls,reasoning_effort,store,top_logprobs,user');
    expect(ollama.requests.at(-1)?.body).toMatchObject({ options: { presence_penalty: 0.5, frequency_penalty: 0.25, seed: 7 } });
  });
});
