/**
 * Issue 5 "Done when", batch half, through the real gateway and its HTTP service on an injected
 * clock: `completeBatch` and `POST /v1/inference/batch` serve items by priority and deadline behind
 * one provider slot and answer in input order with per-item errors; concurrent `POST /v1/embeddings`
 * calls within the batching window reach the provider as one upstream call.
 */
import { describe, expect, it, vi } from 'vitest';
import { internalRuntime } from '../src/gateway/model-gateway.js';
import { MockAdapter, mockEmbedding } from '../src/providers/mock-adapter.js';
import type { ProviderCall, ProviderResult } from '../src/providers/base.js';
import type { InferenceRequestInput } from '../src/models/inference-request.js';
import type { BatchItemResult } from '../src/gateway/model-gateway.js';
import { estimateTextTokens, lastUserText } from '../src/util/token-estimate.js';
import { mockConfig, startTestServer } from './helpers/gateway.js';
import { FakeClock } from './helpers/fake-clock.js';
import { postJson } from './helpers/post-json.js';
import { onCleanup } from './helpers/cleanup.js';

/** A mock provider that records the order in which it served prompts. */
class RecordingMockAdapter extends MockAdapter {
  readonly served: string[] = [];
  override async complete(call: ProviderCall): Promise<ProviderResult> {
    this.served.push(lastUserText(call.prompt));
    return super.complete(call);
  }
}

const LATENCY_MS = 100;

/** One mock provider with one slot (max_concurrency 1) and 100 ms answers on a fake clock. */
async function oneSlotGateway() {
  const clock = new FakeClock();
  const adapter = new RecordingMockAdapter({ id: 'mock', latency_ms: LATENCY_MS, stream_chunks: 4 }, { clock });
  const config = mockConfig({
    providers: { mock: { type: 'mock', max_concurrency: 1 } },
    // Expected latency under the shortest deadline of the batch, so that routing keeps the model.
    models: { 'mock-1': { provider: 'mock', auto: true, capabilities: ['text'], context_length: 32768, expected_latency_ms: 50 } },
  });
  const started = await startTestServer(config, { clock, adapters: new Map([['mock', adapter]]) });
  // Runs out every deadline, so that a failed assertion never leaves a request for the server to wait on.
  onCleanup(() => clock.advance(3_600_000));
  const queue = (await internalRuntime(started.gateway)).queues.get('mock')!;
  return { ...started, clock, adapter, queue };
}

type Item = { content: string; priority?: 'high' | 'normal' | 'low'; deadline_ms?: number };

function item({ content, priority, deadline_ms }: Item): InferenceRequestInput {
  return {
    agent_did: 'did:l04:batcher',
    logical_prompt: { messages: [{ role: 'user', content }] },
    requirements: { max_output_tokens: 64 },
    ...(priority === undefined ? {} : { priority }),
    ...(deadline_ms === undefined ? {} : { constraints: { deadline_ms } }),
  };
}

/**
 * The batch every test sends: the first item takes the only slot; the rest queue and are served
 * high (earliest deadline first), then normal, then low. `low-expires` passes its deadline while
 * queued; item 2 is malformed (no messages); item 4 fails upstream with 400.
 */
const BATCH: Array<InferenceRequestInput | Record<string, unknown>> = [
  item({ content: 'first' }),
  item({ content: 'low-late', priority: 'low', deadline_ms: 60_000 }),
  { agent_did: 'did:l04:batcher', logical_prompt: { messages: [] } },
  item({ content: 'high-late', priority: 'high', deadline_ms: 50_000 }),
  item({ content: 'fails [[mock:fail:400]]' }),
  item({ content: 'high-soon', priority: 'high', deadline_ms: 20_000 }),
  item({ content: 'low-expires', priority: 'low', deadline_ms: 250 }),
  item({ content: 'normal' }),
];
const SERVED_ORDER = ['first', 'high-soon', 'high-late', 'fails [[mock:fail:400]]', 'normal', 'low-late'];

/** Waits until the first item holds the slot and the other six queue, then runs the clock. */
async function drive(setup: Awaited<ReturnType<typeof oneSlotGateway>>): Promise<void> {
  await vi.waitFor(
    () => {
      expect(setup.adapter.served).toEqual(['first']);
      expect(setup.queue.depth()).toEqual({ high: 2, normal: 2, low: 2 });
    },
    { interval: 2 },
  );
  await setup.clock.advance(10 * LATENCY_MS);
}

/** Each item's outcome: the answer's content, or the error's code. */
function outcomes(results: Array<Pick<BatchItemResult, 'index' | 'ok'> & { response?: { content: string }; error?: { code: string } }>) {
  return results.map((result) => [result.index, result.ok ? result.response?.content : result.error?.code]);
}

const EXPECTED = [
  [0, 'Mock answer: first'],
  [1, 'Mock answer: low-late'],
  [2, 'E4500'],
  [3, 'Mock answer: high-late'],
  [4, 'E4206'],
  [5, 'Mock answer: high-soon'],
  [6, 'E4502'],
  [7, 'Mock answer: normal'],
];

describe('ModelGateway batches', () => {
  it('serves completeBatch items by priority and deadline and answers in input order with per-item errors', async () => {
    const setup = await oneSlotGateway();
    const pending = setup.gateway.completeBatch(BATCH as InferenceRequestInput[]);
    await drive(setup);
    const results = await pending;
    expect(outcomes(results)).toEqual(EXPECTED);
    expect(setup.adapter.served).toEqual(SERVED_ORDER);
    const malformed = results[2]!;
    expect(malformed.ok === false && malformed.error).toMatchObject({ code: 'E4500', http_status: 400 });
  });

  it('answers POST /v1/inference/batch in input order with per-item errors', async () => {
    const setup = await oneSlotGateway();
    const pending = postJson<{ object: string; data: BatchItemResult[] }>(
      `${setup.url}/v1/inference/batch`,
      { requests: BATCH },
      { 'x-agent-did': 'did:l04:http-batcher' },
    );
    await drive(setup);
    const reply = await pending;
    expect(reply.status).toBe(200);
    expect(reply.body.object).toBe('list');
    expect(outcomes(reply.body.data)).toEqual(EXPECTED);
    expect(setup.adapter.served).toEqual(SERVED_ORDER);
    // The caller's identity replaces each item's agent; each item gets its own request id.
    const ids = reply.body.data.flatMap((result) => (result.ok ? [result.response.request_id] : []));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("reports an item that is not an object as that item's error, not the whole batch's", async () => {
    const { url } = await startTestServer();
    const reply = await postJson<{ data: BatchItemResult[] }>(`${url}/v1/inference/batch`, {
      requests: [item({ content: 'fine' }), 'not a request', item({ content: 'also fine' })],
    });
    expect(reply.status).toBe(200);
    expect(outcomes(reply.body.data)).toEqual([
      [0, 'Mock answer: fine'],
      [1, 'E4500'],
      [2, 'Mock answer: also fine'],
    ]);
  });
});

describe('ModelGateway embedding micro-batching', () => {
  it('sends concurrent POST /v1/embeddings calls within the window upstream as one call', async () => {
    const clock = new FakeClock();
    const adapter = new MockAdapter({ id: 'mock', latency_ms: 0, stream_chunks: 4 }, { clock });
    const { url, gateway } = await startTestServer(mockConfig(), { clock, adapters: new Map([['mock', adapter]]) });
    const queue = (await internalRuntime(gateway)).queues.get('mock')!;
    const inputs: Array<string | string[]> = ['alpha beta', 'gamma', ['delta epsilon', 'zeta'], 'eta theta iota', 'kappa'];
    type Embeddings = { data: Array<{ index: number; embedding: number[] }>; usage: { prompt_tokens: number } };
    const calls = inputs.map((input) => postJson<Embeddings>(`${url}/v1/embeddings`, { model: 'mock-1', input }));
    // Every call holds a provider slot while it waits in the open batch; the window has not ended.
    await vi.waitFor(() => expect(queue.active()).toBe(inputs.length), { interval: 2 });
    expect(adapter.embedCalls).toEqual([]);
    await clock.advance(2);
    const replies = await Promise.all(calls);

    // One upstream call carried all six texts.
    expect(adapter.embedCalls).toHaveLength(1);
    expect([...adapter.embedCalls[0]!].sort()).toEqual(inputs.flat().sort());
    replies.forEach((reply, index) => {
      const texts = ([] as string[]).concat(inputs[index]!);
      expect(reply.status).toBe(200);
      // Each caller gets its own vectors back, in its own order, and its share of the usage.
      expect(reply.body.data.map((entry) => entry.embedding)).toEqual(texts.map((text) => mockEmbedding(text)));
      expect(reply.body.usage.prompt_tokens).toBe(texts.reduce((sum, text) => sum + estimateTextTokens(text), 0));
    });

    // A call after the window opens a new batch: a second upstream call.
    const later = postJson<Embeddings>(`${url}/v1/embeddings`, { model: 'mock-1', input: 'omega' });
    await vi.waitFor(() => expect(queue.active()).toBe(1), { interval: 2 });
    await clock.advance(2);
    expect((await later).status).toBe(200);
    expect(adapter.embedCalls).toEqual([expect.any(Array), ['omega']]);
  });
});
