/**
 * The Anthropic Messages face, with the official `@anthropic-ai/sdk` as the caller, in front of
 * fixture upstreams of every provider type.
 */
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { startFacesGateway } from './helpers/faces.js';
import { postJson } from './helpers/post-json.js';

async function setup(overrides: Parameters<typeof startFacesGateway>[0] = {}) {
  const started = await startFacesGateway(overrides);
  const client = new Anthropic({ baseURL: started.url, apiKey: 'unused-key', maxRetries: 0, timeout: 5_000 });
  return { ...started, client };
}

const question = [{ role: 'user' as const, content: 'Why is the sky blue?' }];

describe('POST /v1/messages (JSON)', () => {
  it.each([
    ['claude', 'anthropic', 'Hi! My name is Claude.'],
    ['gpt', 'openai', 'The sky looks blue because air scatters'],
    ['llama', 'ollama', 'The sky is blue because of Rayleigh scattering.'],
    ['mock-1', 'mock', 'Mock answer: Why is the sky blue?'],
  ])('answers through %s (%s) as an Anthropic message', async (model, provider, text) => {
    const { client } = await setup();
    const { data: message, response } = await client.messages.create({ model, max_tokens: 256, messages: question }).withResponse();
    expect(message.type).toBe('message');
    expect(message.role).toBe('assistant');
    expect(message.content[0]?.type).toBe('text');
    expect(message.content[0]?.type === 'text' ? message.content[0].text : '').toContain(text);
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage.output_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-l04-provider')).toBe(provider);
  });

  it('serves a model by its alias, accepts ?beta=true and Bearer auth', async () => {
    const { client, url, anthropic } = await setup();
    const message = await client.beta.messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      messages: question,
      betas: ['context-management-2025-06-27'],
    });
    expect(message.content[0]?.type).toBe('text');
    expect(anthropic.requests[0]?.headers['anthropic-beta']).toBe('context-management-2025-06-27');
    const bearer = await postJson(
      `${url}/v1/messages?beta=true`,
      { model: 'claude-haiku-4-5', max_tokens: 50, messages: question },
      { authorization: 'Bearer x' },
    );
    expect(bearer.status).toBe(200);
    expect(bearer.headers.get('x-l04-model')).toBe('llama');
  });

  it('passes thinking, context_management, cache_control, metadata and the beta header intact to Anthropic', async () => {
    const { url, anthropic } = await setup();
    const body = {
      model: 'claude-thinking',
      max_tokens: 32_000,
      system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Prove it.', cache_control: { type: 'ephemeral', ttl: '1h' } }] }],
      tools: [
        {
          name: 'Bash',
          description: 'Run a command',
          input_schema: { type: 'object', properties: { command: { type: 'string' } } },
          cache_control: { type: 'ephemeral' },
        },
        // One of Anthropic's own tools: it has a type and no input schema.
        { type: 'web_search_20250305', name: 'web_search', max_uses: 5 },
      ],
      thinking: { type: 'enabled', budget_tokens: 31_999 },
      context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
      metadata: { user_id: 'user_42' },
    };
    const answer = await postJson(`${url}/v1/messages`, body, {
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'context-management-2025-06-27,interleaved-thinking-2025-05-14',
    });
    expect(answer.status).toBe(200);
    const sent = anthropic.requests[0]!;
    expect(sent.headers['anthropic-beta']).toBe('context-management-2025-06-27,interleaved-thinking-2025-05-14');
    expect(sent.body).toMatchObject({
      model: 'thinking',
      max_tokens: 32_000,
      system: body.system,
      messages: body.messages,
      tools: body.tools,
      thinking: body.thinking,
      context_management: body.context_management,
      metadata: body.metadata,
    });
    const message = answer.body as { content: Array<Record<string, unknown>>; usage: Record<string, number> };
    expect(message.content.map((block) => block.type)).toEqual(['thinking', 'redacted_thinking', 'text']);
    expect(message.content[0]?.signature).toBe('WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEczmEsUjavL....');
    expect(message.usage).toEqual({ input_tokens: 412, output_tokens: 96, cache_creation_input_tokens: 2048, cache_read_input_tokens: 10240 });
  });

  it('sends thinking blocks of earlier turns back with their signatures', async () => {
    const { client, anthropic } = await setup();
    const first = await client.messages.create({
      model: 'claude-thinking',
      max_tokens: 4_000,
      thinking: { type: 'enabled', budget_tokens: 2_000 },
      messages: question,
    });
    await client.messages.create({
      model: 'claude-thinking',
      max_tokens: 4_000,
      thinking: { type: 'enabled', budget_tokens: 2_000 },
      messages: [...question, { role: 'assistant', content: first.content }, { role: 'user', content: 'And at sunset?' }],
    });
    const resent = (anthropic.requests[1]?.body as { messages: Array<{ content: unknown }> }).messages[1]?.content;
    expect(resent).toEqual(
      first.content.map((block) => (block.type === 'thinking' ? { type: 'thinking', thinking: block.thinking, signature: block.signature } : block)),
    );
  });

  it('prices prompt-cache reads and writes at their configured prices, and counts them in the metrics', async () => {
    const { client, gateway } = await setup();
    const message = await client.messages.create({
      model: 'claude-thinking',
      max_tokens: 4_000,
      thinking: { type: 'enabled', budget_tokens: 2_000 },
      messages: question,
    });
    const l04 = (message as unknown as { l04: { cost_cents: number } }).l04;
    // 412 uncached × 0.3 + 2048 written × 0.375 + 10240 read × 0.03 + 96 out × 1.5, per 1,000 tokens.
    expect(l04.cost_cents).toBeCloseTo((412 * 0.3 + 2048 * 0.375 + 10240 * 0.03 + 96 * 1.5) / 1000, 10);
    const metrics = (await gateway.metrics()).body;
    expect(metrics).toContain('l04_tokens_total{model="claude-thinking",provider="anthropic",direction="cache_read"} 10240');
    expect(metrics).toContain('l04_tokens_total{model="claude-thinking",provider="anthropic",direction="cache_write"} 2048');
    expect(metrics).toContain('l04_tokens_total{model="claude-thinking",provider="anthropic",direction="input"} 12700');
  });

  it('drops Anthropic-only features for another provider and names them in x-l04-ignored-params', async () => {
    const { url, openai } = await setup();
    const answer = await postJson(`${url}/v1/messages`, {
      model: 'gpt',
      max_tokens: 1_000,
      system: [{ type: 'text', text: 'sys', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'hi' }],
      thinking: { type: 'enabled', budget_tokens: 500 },
      context_management: { edits: [] },
      top_k: 5,
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-l04-ignored-params')).toBe('cache_control,context_management,thinking,top_k');
    const sent = openai.requests[0]?.body as Record<string, unknown>;
    expect(sent).not.toHaveProperty('thinking');
    expect(sent).not.toHaveProperty('top_k');
    expect(sent.messages).toEqual([
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'hi' },
    ]);
  });

  it('translates tool use and tool results both ways', async () => {
    const { client, openai } = await setup();
    const tools = [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object' as const, properties: { location: { type: 'string' } } } }];
    const message = await client.messages.create({ model: 'claude-tools', max_tokens: 500, tools, messages: question });
    const call = message.content.find((block) => block.type === 'tool_use');
    expect(call).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { location: 'San Francisco, CA', unit: 'celsius' } });
    expect(message.stop_reason).toBe('tool_use');
    await client.messages.create({
      model: 'gpt',
      max_tokens: 500,
      tools,
      messages: [
        ...question,
        { role: 'assistant', content: message.content },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: call?.type === 'tool_use' ? call.id : '', content: '15 degrees' },
            { type: 'text', text: 'So?' },
          ],
        },
      ],
    });
    const sent = openai.requests[0]?.body as { messages: unknown[] };
    expect(sent.messages).toEqual([
      { role: 'user', content: 'Why is the sky blue?' },
      expect.objectContaining({
        role: 'assistant',
        tool_calls: [expect.objectContaining({ function: { name: 'get_weather', arguments: '{"location":"San Francisco, CA","unit":"celsius"}' } })],
      }),
      { role: 'tool', tool_call_id: 'toolu_01A09q90qw90lq917835lq9', content: '15 degrees' },
      { role: 'user', content: [{ type: 'text', text: 'So?' }] },
    ]);
  });
});

describe('POST /v1/messages (SSE)', () => {
  it.each(['claude', 'gpt', 'llama', 'mock-1'])('streams the exact event sequence through %s', async (model) => {
    const { client } = await setup();
    const stream = client.messages.stream({ model, max_tokens: 256, messages: question });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    const final = await stream.finalMessage();
    expect(types[0]).toBe('message_start');
    expect(types.at(-2)).toBe('message_delta');
    expect(types.at(-1)).toBe('message_stop');
    expect(types.filter((type) => type === 'content_block_start')).toHaveLength(1);
    expect(types.filter((type) => type === 'content_block_stop')).toHaveLength(1);
    expect(final.content[0]?.type === 'text' ? final.content[0].text.length : 0).toBeGreaterThan(10);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.output_tokens).toBeGreaterThan(0);
  });

  it('streams thinking with its signature, then text, with prompt-cache usage in message_delta', async () => {
    const { url } = await setup();
    const answer = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({
        model: 'claude-thinking',
        max_tokens: 4_000,
        stream: true,
        thinking: { type: 'enabled', budget_tokens: 2_000 },
        messages: question,
      }),
    });
    const text = await answer.text();
    const events = text
      .split('\n\n')
      .filter(Boolean)
      .map((block) => ({ event: /^event: (.*)$/m.exec(block)?.[1], data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? '{}') as Record<string, unknown> }));
    expect(events.map((event) => event.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(events[2]?.data.content_block).toEqual({ type: 'thinking', thinking: '', signature: '' });
    expect(events[5]?.data.delta).toEqual({ type: 'signature_delta', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...' });
    expect(events[10]?.data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { input_tokens: 412, output_tokens: 96, cache_creation_input_tokens: 2048, cache_read_input_tokens: 10240 },
    });
  });

  it('streams tool calls as tool_use blocks with input_json_delta', async () => {
    const { client } = await setup();
    const stream = client.messages.stream({
      model: 'claude-tools',
      max_tokens: 500,
      tools: [{ name: 'get_weather', input_schema: { type: 'object' } }],
      messages: question,
    });
    const final = await stream.finalMessage();
    expect(final.content.filter((block) => block.type === 'tool_use').map((block) => (block.type === 'tool_use' ? block.name : ''))).toEqual([
      'get_weather',
      'get_time',
    ]);
    expect(final.stop_reason).toBe('tool_use');
  });

  it('ends a stream cut after its start with an error event of Anthropic shape', async () => {
    const { client } = await setup({ providers: { mock: { type: 'mock', stream_chunks: 4 } } });
    const stream = client.messages.stream({ model: 'mock-1', max_tokens: 256, messages: [{ role: 'user', content: 'a long question [[mock:cut:2]]' }] });
    const error = await stream.finalMessage().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(String((error as Error).message)).toContain('"type":"api_error"');
    expect(String((error as Error).message)).toContain('E4208');
  });

  it('commits early and sends pings while the first token is slow', async () => {
    const { url } = await setup({ server: { sse_ping_interval_ms: 20 }, providers: { mock: { type: 'mock', latency_ms: 150, stream_chunks: 1 } } });
    const answer = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-1', max_tokens: 100, stream: true, messages: question }),
    });
    const events = (await answer.text()).match(/^event: .*$/gm) ?? [];
    expect(events[0]).toBe('event: message_start');
    expect(events.filter((event) => event === 'event: ping').length).toBeGreaterThan(1);
    expect(events.at(-1)).toBe('event: message_stop');
  });

  it('reports a failure after an early commit as an error event', async () => {
    const { url } = await setup({ server: { sse_ping_interval_ms: 20 }, providers: { mock: { type: 'mock', latency_ms: 150 } } });
    const answer = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-1', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'x [[mock:fail:529]]' }] }),
    });
    expect(answer.status).toBe(200);
    const text = await answer.text();
    expect(text.startsWith('event: message_start')).toBe(true);
    expect(text).toContain('event: error\ndata: {"type":"error","error":{"type":"overloaded_error"');
    expect(text).not.toContain('message_stop');
  });
});

describe('Anthropic errors and count_tokens', () => {
  it('answers errors in Anthropic shape with its status mapping', async () => {
    const { client, url } = await setup();
    const unknown = await client.messages.create({ model: 'nope', max_tokens: 10, messages: question }).catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(Anthropic.NotFoundError);
    expect((unknown as InstanceType<typeof Anthropic.NotFoundError>).error).toMatchObject({ type: 'error', error: { type: 'not_found_error', code: 'E4102' } });
    const overloaded = await postJson(`${url}/v1/messages`, { model: 'mock-1', max_tokens: 10, messages: [{ role: 'user', content: 'x [[mock:fail:529]]' }] });
    expect(overloaded.status).toBe(529);
    expect(overloaded.body).toMatchObject({ type: 'error', error: { type: 'overloaded_error', code: 'E4205' } });
    const invalid = await postJson(`${url}/v1/messages`, { model: 'mock-1', messages: question });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', code: 'E4500' } });
  });

  it('answers 401 authentication_error for a missing key when keys are configured', async () => {
    const { url } = await setup({ auth: { api_keys: [{ key: 'sk-l04-test-key-000001', agent_did: 'did:example:a', tenant: 't' }] } });
    const client = new Anthropic({ baseURL: url, apiKey: 'sk-wrong-key-0000000', maxRetries: 0 });
    const error = await client.messages.create({ model: 'mock-1', max_tokens: 10, messages: question }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.AuthenticationError);
    const ok = new Anthropic({ baseURL: url, apiKey: 'sk-l04-test-key-000001', maxRetries: 0 });
    expect((await ok.messages.create({ model: 'mock-1', max_tokens: 10, messages: question })).type).toBe('message');
  });

  it('counts tokens with the gateway estimate', async () => {
    const { client } = await setup();
    const counted = await client.messages.countTokens({ model: 'claude-sonnet-4-5', system: 'Be brief.', messages: question });
    expect(counted.input_tokens).toBe(Math.ceil('Be brief.'.length / 4) + 4 + Math.ceil('Why is the sky blue?'.length / 4) + 4);
  });
});

describe('model names', () => {
  it('lists and gets models in Anthropic shape when asked with anthropic-version, aliases included', async () => {
    const { client, url } = await setup();
    const listed = [];
    for await (const model of client.models.list()) listed.push(model.id);
    expect(listed).toEqual(expect.arrayContaining(['claude', 'claude-sonnet-4-5', 'gpt-4o', 'llama']));
    const one = await client.models.retrieve('claude-sonnet-4-5');
    expect(one).toMatchObject({ type: 'model', id: 'claude-sonnet-4-5', l04: { alias_of: 'claude', provider: 'anthropic' } });
    const openAIShape = await fetch(`${url}/v1/models/gpt-4o`);
    expect(await openAIShape.json()).toMatchObject({ id: 'gpt-4o', object: 'model', owned_by: 'openai' });
    const missing = await fetch(`${url}/v1/models/none`, { headers: { 'anthropic-version': '2023-06-01' } });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });
});
