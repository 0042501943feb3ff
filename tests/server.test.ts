import OpenAI from 'openai';
import { describe, expect, it, vi } from 'vitest';
import { mockConfig, startTestServer } from './helpers/gateway.js';
import { onCleanup } from './helpers/cleanup.js';

describe('HTTP service with the official openai client', () => {
  it('creates a chat completion against mock-1', async () => {
    const { client } = await startTestServer();
    const completion = await client.chat.completions.create({ model: 'mock-1', messages: [{ role: 'user', content: 'hello there' }] });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('mock-1');
    expect(completion.choices[0]?.message.content).toBe('Mock answer: hello there');
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.usage?.total_tokens).toBe((completion.usage?.prompt_tokens ?? 0) + (completion.usage?.completion_tokens ?? 0));
    expect(completion.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('streams a completion in several chunks with usage at the end', async () => {
    const { client } = await startTestServer();
    const stream = await client.chat.completions.create({
      model: 'mock-1',
      messages: [{ role: 'user', content: 'stream this answer please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const deltas: string[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (choice?.delta.content) deltas.push(choice.delta.content);
      if (choice?.finish_reason) finish = choice.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('Mock answer: stream this answer please');
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('lists models in the OpenAI list shape', async () => {
    const { client } = await startTestServer();
    const models = [];
    for await (const model of client.models.list()) models.push(model);
    expect(models.map((model) => model.id)).toEqual(['mock-1']);
    expect(models[0]?.owned_by).toBe('mock');
  });

  it('answers a malformed body with 400 and E4500 naming the field', async () => {
    const { client } = await startTestServer();
    const error = await client.chat.completions.create({ model: 'mock-1', messages: 'not a list' as never }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('E4500');
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('messages');
  });

  it('answers an unknown model with 404 and E4102', async () => {
    const { client } = await startTestServer();
    const error = await client.chat.completions
      .create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('E4102');
  });

  it('passes tool calls through in both directions', async () => {
    const { client } = await startTestServer();
    const tools: OpenAI.ChatCompletionTool[] = [
      {
        type: 'function',
        function: { name: 'lookup', description: 'Look something up', parameters: { type: 'object', properties: { input: { type: 'string' } } } },
      },
    ];
    const completion = await client.chat.completions.create({
      model: 'mock-1',
      messages: [{ role: 'user', content: 'find order 7' }],
      tools,
      tool_choice: 'required',
    });
    const call = completion.choices[0]?.message.tool_calls?.[0];
    expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call?.type === 'function' ? call.function.name : undefined).toBe('lookup');
    expect(call?.type === 'function' ? JSON.parse(call.function.arguments) : undefined).toEqual({ input: 'find order 7' });
  });
});

describe('HTTP service edges', () => {
  it('puts a request id on every response, errors included', async () => {
    const { url } = await startTestServer();
    const ok = await fetch(`${url}/health`);
    const missing = await fetch(`${url}/nowhere`);
    expect(ok.headers.get('x-l04-request-id')).toMatch(/^req_/);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-l04-request-id')).toMatch(/^req_/);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('E4505');
  });

  it('answers a plain JSON chat request with the x-l04 headers', async () => {
    const { url } = await startTestServer();
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-1', messages: [{ role: 'user', content: 'curl me' }] }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-l04-model')).toBe('mock-1');
    expect(response.headers.get('x-l04-provider')).toBe('mock');
    expect(response.headers.get('x-l04-cache')).toBe('bypass');
    const body = (await response.json()) as { choices: Array<{ message: { content: string } }> };
    expect(body.choices[0]?.message.content).toBe('Mock answer: curl me');
  });

  it('refuses a body over the size limit with 413 and E4503', async () => {
    const { url } = await startTestServer(mockConfig({ server: { body_limit_bytes: 1024 } }));
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-1', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }),
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('E4503');
  });

  it('refuses a body that is not JSON with 415 or 400', async () => {
    const { url } = await startTestServer();
    const wrongType = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    const badJson = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' });
    expect(wrongType.status).toBe(415);
    expect(((await wrongType.json()) as { error: { code: string } }).error.code).toBe('E4504');
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as { error: { code: string } }).error.code).toBe('E4500');
  });

  it('answers a wrong method with 405 and E4506', async () => {
    const { url } = await startTestServer();
    const response = await fetch(`${url}/v1/chat/completions`);
    expect(response.status).toBe(405);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('E4506');
  });

  it('serves the native inference route', async () => {
    const { url } = await startTestServer();
    const response = await fetch(`${url}/v1/inference`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agent_did: 'did:example:agent', model_id: 'mock-1', logical_prompt: { messages: [{ role: 'user', content: 'native' }] } }),
    });
    const body = (await response.json()) as {
      content: string;
      model_id: string;
      provider: string;
      token_usage: { total_tokens: number };
      cached: boolean;
      latency_ms: number;
    };
    expect(response.status).toBe(200);
    expect(body).toMatchObject({ content: 'Mock answer: native', model_id: 'mock-1', provider: 'mock', cached: false });
    expect(body.token_usage.total_tokens).toBeGreaterThan(0);
  });

  it('ends a stream cut after commit with an error event, never a normal stop', async () => {
    const { client } = await startTestServer();
    const stream = await client.chat.completions.create({
      model: 'mock-1',
      messages: [{ role: 'user', content: 'a long answer [[mock:cut:2]]' }],
      stream: true,
    });
    const seen: string[] = [];
    const error = await (async () => {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.finish_reason) seen.push(`finish:${chunk.choices[0].finish_reason}`);
        if (chunk.choices[0]?.delta.content) seen.push('content');
      }
    })().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('E4208');
    expect(seen).toContain('content');
    expect(seen.some((entry) => entry.startsWith('finish'))).toBe(false);
  });
});

describe('client disconnects', () => {
  /** A gateway whose model `model` is the OpenAI fixture's scenario `scenario`, and a client request to it that the test can abort. */
  async function callThatOnlyTheClientCanEnd(model: string, scenario: 'stall' | 'hang', stream: boolean) {
    const { startOpenAIFixture } = await import('./helpers/openai-fixture-server.js');
    const fixture = await startOpenAIFixture();
    onCleanup(() => fixture.close());
    const config = mockConfig({
      providers: { upstream: { type: 'openai', base_url: fixture.url } },
      models: { [model]: { provider: 'upstream', provider_model: scenario } },
    });
    const { url, logs } = await startTestServer(config);
    const controller = new AbortController();
    const answered = fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'an answer only the client can end' }] }),
      signal: controller.signal,
    });
    const failed = () => logs.records().find((record) => record.msg === 'request failed');
    return { fixture, controller, answered, failed };
  }

  it('aborts the provider call when the client goes away mid-stream, and accounts it as cancelled', async () => {
    // `stall`: the upstream sends its first events, then nothing: only a disconnect can end the call.
    const { fixture, controller, answered, failed } = await callThatOnlyTheClientCanEnd('stalls', 'stall', true);
    const response = await answered;
    expect(response.status).toBe(200);
    await response.body!.getReader().read();
    controller.abort();
    expect(await fixture.requests[0]!.closed).toBe('aborted');
    await vi.waitFor(() => expect(failed()).toMatchObject({ code: 'E4507', stream: true, model: 'stalls' }));
  });

  it('aborts the provider call when the client goes away before a JSON answer, and accounts it as cancelled', async () => {
    // `hang`: the upstream never answers: only the client leaving can end the call before its timeouts.
    const { fixture, controller, answered, failed } = await callThatOnlyTheClientCanEnd('hangs', 'hang', false);
    await vi.waitFor(() => expect(fixture.requests).toHaveLength(1));
    controller.abort();
    await expect(answered).rejects.toThrow();
    expect(await fixture.requests[0]!.closed).toBe('aborted');
    await vi.waitFor(() => expect(failed()).toMatchObject({ code: 'E4507', stream: false, model: 'hangs' }));
  });
});
