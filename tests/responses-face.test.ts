/** The OpenAI Responses face, with the official `openai` client as the caller, in front of fixture upstreams of every provider type. */
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { startFacesGateway } from './helpers/faces.js';
import { postJson } from './helpers/post-json.js';

describe('POST /v1/responses', () => {
  it.each([
    ['claude', 'anthropic', 'Hi! My name is Claude.'],
    ['gpt', 'openai', 'The sky looks blue because air scatters'],
    ['llama', 'ollama', 'The sky is blue because of Rayleigh scattering.'],
    ['mock-1', 'mock', 'Mock answer: Why is the sky blue?'],
  ])('answers through %s (%s)', async (model, provider, text) => {
    const { client } = await startFacesGateway();
    const { data: response, response: raw } = await client.responses
      .create({ model, instructions: 'Be brief.', input: 'Why is the sky blue?', max_output_tokens: 300 })
      .withResponse();
    expect(response.object).toBe('response');
    expect(response.status).toBe('completed');
    expect(response.output_text).toContain(text);
    expect(response.usage?.output_tokens).toBeGreaterThan(0);
    expect(raw.headers.get('x-l04-provider')).toBe(provider);
  });

  it.each(['claude', 'gpt', 'llama', 'mock-1'])('streams the Responses event sequence through %s', async (model) => {
    const { client } = await startFacesGateway();
    const stream = await client.responses.create({ model, input: [{ role: 'user', content: 'Why is the sky blue?' }], stream: true });
    const types: string[] = [];
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    expect(types.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    expect(types.slice(-4)).toEqual(['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
    expect(completed?.output[0]).toMatchObject({ type: 'message', content: [{ type: 'output_text', text }] });
    expect(text.length).toBeGreaterThan(10);
  });

  it('calls function tools and takes function_call_output items back', async () => {
    const { client, anthropic } = await startFacesGateway();
    const tools: OpenAI.Responses.FunctionTool[] = [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} }, strict: false }];
    const first = await client.responses.create({ model: 'claude-tools', input: 'Weather in Paris?', tools });
    const call = first.output.find((item) => item.type === 'function_call');
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', call_id: 'toolu_01A09q90qw90lq917835lq9' });
    const stream = await client.responses.create({
      model: 'claude-tools',
      tools,
      stream: true,
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        ...(call === undefined ? [] : [call]),
        { type: 'function_call_output', call_id: 'toolu_01A09q90qw90lq917835lq9', output: '15 C' },
      ],
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types).toContain('response.function_call_arguments.delta');
    expect(types).toContain('response.function_call_arguments.done');
    const sent = anthropic.requests[1]?.body as { messages: Array<{ role: string; content: unknown }> };
    expect(sent.messages.map((message) => message.role)).toEqual(['user', 'assistant', 'user']);
    expect(sent.messages[2]?.content).toEqual([{ type: 'tool_result', tool_use_id: 'toolu_01A09q90qw90lq917835lq9', content: '15 C' }]);
  });

  it.each(['claude-json', 'llama'])('streams a JSON-schema answer from %s as output text', async (model) => {
    const { client } = await startFacesGateway();
    const schema = {
      type: 'object',
      properties: { city: { type: 'string' }, country: { type: 'string' }, population: { type: 'number' } },
      required: ['city', 'country', 'population'],
      additionalProperties: false,
    };
    const stream = await client.responses.create({
      model,
      input: 'The capital of France?',
      stream: true,
      text: { format: { type: 'json_schema', name: 'city', schema, strict: true } },
    });
    let text = '';
    for await (const event of stream) if (event.type === 'response.output_text.delta') text += event.delta;
    expect(JSON.parse(text)).toEqual({ city: 'Paris', country: 'France', population: 2102650 });
  });

  it('refuses previous_response_id and item references with a clear 400 E4512', async () => {
    const { client, url } = await startFacesGateway();
    const error = await client.responses.create({ model: 'mock-1', input: 'hi', previous_response_id: 'resp_123' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('E4512');
    const reference = await postJson(`${url}/v1/responses`, { model: 'mock-1', input: [{ type: 'item_reference', id: 'msg_1' }] });
    expect([reference.status, reference.body.error?.code, reference.body.error?.param]).toEqual([400, 'E4512', 'input[0]']);
  });

  it('names parameters without effect in x-l04-ignored-params', async () => {
    const { client } = await startFacesGateway();
    const { response } = await client.responses.create({ model: 'gpt', input: 'hi', store: true, metadata: { a: 'b' }, truncation: 'auto' }).withResponse();
    expect(response.headers.get('x-l04-ignored-params')).toBe('metadata,store,truncation');
  });
});
