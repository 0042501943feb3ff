/**
 * Issue 5 "Done when", through the real gateway and its HTTP service: agent request and token
 * limits shared by two gateway instances over the real Redis (exact admission, settle-to-actual,
 * reservations given back), and the per-provider quota and queue in front of each attempt.
 */
import { describe, expect, it, vi } from 'vitest';
import { internalRuntime } from '../src/gateway/model-gateway.js';
import { APIError } from 'openai';
import { MockAdapter } from '../src/providers/mock-adapter.js';
import { startTestServer, mockConfig } from './helpers/gateway.js';
import { FakeClock } from './helpers/fake-clock.js';
import { postJson } from './helpers/post-json.js';
import { onCleanup } from './helpers/cleanup.js';
import { startSharedRedisGateways } from './helpers/shared-redis-gateways.js';
import type { TestGateway } from './helpers/shared-redis-gateways.js';

const API_KEY = 'rate-limit-test-key-0001';
const AGENT = 'did:l04:rate-limited-agent';

/** A config whose one API key names `AGENT` with its own limits. */
function keyedConfig(limits: { rpm?: number; tpm?: number }) {
  return mockConfig({ auth: { api_keys: [{ key: API_KEY, agent_did: AGENT, tenant: 'tenant-a', ...limits }] } });
}

const auth = { authorization: `Bearer ${API_KEY}` };

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Chat completion over fetch (headers and status of failures too). */
function chat(gateway: TestGateway, body: Record<string, unknown>) {
  return postJson(`${gateway.url}/v1/chat/completions`, { model: 'mock-1', ...body }, auth);
}

describe('ModelGateway agent limits shared through Redis by two instances', () => {
  it('admits exactly N of 4N concurrent requests and answers the rest 429 E4400 with rate-limit headers, in repeated runs', async () => {
    const N = 10;
    for (let run = 0; run < 3; run++) {
      const { keyPrefix, gateways } = await startSharedRedisGateways(keyedConfig({ rpm: N }), { apiKey: API_KEY });
      const calls = Array.from({ length: 4 * N }, (_, index) =>
        gateways[index % 2]!.client.chat.completions.create({
          model: 'mock-1',
          messages: [{ role: 'user', content: `run ${run} call ${index}` }],
          max_tokens: 16,
        }).withResponse(),
      );
      const settled = await Promise.allSettled(calls);
      const admitted = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
      const refused = settled.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));

      expect(admitted).toHaveLength(N);
      // Every admission came from one shared bucket: the remaining counts are N-1 … 0, each once.
      const remaining = admitted.map(({ response }) => Number(response.headers.get('x-ratelimit-remaining-requests'))).sort((a, b) => a - b);
      expect(remaining).toEqual(Array.from({ length: N }, (_, index) => index));
      for (const { response } of admitted) expect(response.headers.get('x-ratelimit-limit-requests')).toBe(String(N));

      expect(refused).toHaveLength(3 * N);
      for (const error of refused) {
        expect(error).toBeInstanceOf(APIError);
        const apiError = error as APIError;
        expect(apiError.status).toBe(429);
        expect(apiError.code).toBe('E4400');
        const headers = apiError.headers as Headers;
        // One request refills every 6 s at 10 rpm.
        expect(Number(headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(Number(headers.get('retry-after'))).toBeLessThanOrEqual(6);
        expect(headers.get('x-ratelimit-limit-requests')).toBe(String(N));
        expect(headers.get('x-ratelimit-remaining-requests')).toBe('0');
        expect(headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+m)?[\d.]+m?s$/);
        expect(headers.get('x-ratelimit-limit-tokens')).toBe('100000');
        expect(headers.get('x-ratelimit-remaining-tokens')).toMatch(/^\d+$/);
        expect(headers.get('x-ratelimit-reset-tokens')).toMatch(/^(\d+m)?[\d.]+m?s$/);
      }

      for (const gateway of gateways) {
        const runtime = await internalRuntime(gateway.gateway);
        expect(runtime.stateBackend).toBe('redis');
        // No decision fell back to a per-process limiter.
        expect(runtime.limiter.currentMode()).toBe('primary');
      }
      // The agent's buckets live under one hash tag (one Cluster slot). The token bucket may have
      // refilled to full and been deleted already (100,000 tpm refills 1.7 tokens a millisecond).
      const owner = (await internalRuntime(gateways[0]!.gateway)).redis!;
      const keys: string[] = [];
      for await (const batch of owner.scan(`${keyPrefix}{agent:*`)) keys.push(...batch);
      expect(keys).toContain(`${keyPrefix}{agent:${AGENT}}:rpm`);
      for (const key of keys) expect(key).toMatch(new RegExp(`^${escapeRegExp(keyPrefix)}\\{agent:${escapeRegExp(AGENT)}\\}:(rpm|tpm)$`));
    }
  });

  it('admits exactly the token budget of 4N concurrent requests across both instances and answers the rest 429 E4401', async () => {
    // A 12-character question with max_tokens 4: the estimate is 4 + 3 + 4 = 11 tokens, and the mock's
    // answer is cut at 16 characters, so its actual usage is 7 + 4 = 11 too — settling changes
    // nothing and the admitted count cannot depend on the order of completions.
    const N = 10;
    const perRequest = 11;
    const { gateways } = await startSharedRedisGateways(keyedConfig({ rpm: 1_000, tpm: N * perRequest }));
    const replies = await Promise.all(
      Array.from({ length: 4 * N }, (_, index) =>
        chat(gateways[index % 2]!, { messages: [{ role: 'user', content: `question ${String(index).padStart(3, '0')}` }], max_tokens: 4 }),
      ),
    );
    const admitted = replies.filter((reply) => reply.status === 200);
    expect(admitted).toHaveLength(N);
    for (const reply of admitted) {
      expect(reply.body.usage).toMatchObject({ total_tokens: perRequest });
      expect(Number(reply.headers.get('x-ratelimit-remaining-tokens'))).toBeLessThanOrEqual(N * perRequest - perRequest);
    }
    const refused = replies.filter((reply) => reply.status !== 200);
    expect(refused.map((reply) => [reply.status, reply.body.error?.code])).toEqual(Array(3 * N).fill([429, 'E4401']));
    for (const reply of refused) {
      expect(Number(reply.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(reply.headers.get('x-ratelimit-limit-tokens')).toBe(String(N * perRequest));
      expect(Number(reply.headers.get('x-ratelimit-remaining-tokens'))).toBeLessThan(perRequest);
    }
  });

  it('settles each reservation to the actual usage, to the token, across instances; a denial consumes nothing', async () => {
    // 30 tokens per minute: one token refills every 2 s, far longer than these few calls take.
    const [first, second] = (await startSharedRedisGateways(keyedConfig({ rpm: 100, tpm: 30 }))).gateways;
    const ask = { messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 }; // estimate 5 + 10 = 15; actual 5 + 4 = 9

    const one = await chat(first!, ask);
    expect(one.status).toBe(200);
    expect(one.body.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 });
    expect(one.headers.get('x-ratelimit-remaining-tokens')).toBe('15'); // 30 - 15 reserved

    // Settled to 9: 21 left, so the second instance admits 15 more and reports 6.
    const two = await chat(second!, ask);
    expect(two.status).toBe(200);
    expect(two.headers.get('x-ratelimit-remaining-tokens')).toBe('6');

    // 6 + 6 refunded = 12 < 15: refused, and the headers show exactly 12.
    const three = await chat(first!, ask);
    expect([three.status, three.body.error?.code]).toEqual([429, 'E4401']);
    expect(three.headers.get('x-ratelimit-remaining-tokens')).toBe('12');

    // The denial took nothing: an estimate of exactly 12 (5 + 7) still fits.
    const four = await chat(second!, { ...ask, max_tokens: 7 });
    expect(four.status).toBe(200);
    expect(four.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
    expect(four.headers.get('x-ratelimit-remaining-requests')).toBe('97'); // 100 - 3 admitted
  });

  it('gives the token reservation back when a request fails after admission, keeping the request counted', async () => {
    const [first, second] = (await startSharedRedisGateways(keyedConfig({ rpm: 10, tpm: 30 }))).gateways;
    // Routing fails (E4100): no model has a 10M-token context.
    const unroutable = await postJson(
      `${first!.url}/v1/chat/completions`,
      { model: 'auto', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, l04: { min_context_length: 10_000_000 } },
      auth,
    );
    expect([unroutable.status, unroutable.body.error?.code]).toEqual([422, 'E4100']);
    // The upstream rejects the request (400, not retryable: E4206).
    const rejected = await chat(second!, { messages: [{ role: 'user', content: 'hi [[mock:fail:400]]' }], max_tokens: 10 });
    expect([rejected.status, rejected.body.error?.code]).toEqual([400, 'E4206']);
    // The upstream is unreachable (retryable, but the only candidate: E4200).
    const unreachable = await chat(first!, { messages: [{ role: 'user', content: 'hi [[mock:unreachable]]' }], max_tokens: 10 });
    expect([unreachable.status, unreachable.body.error?.code]).toEqual([502, 'E4200']);

    // All three reservations came back: 30 - 15 for this one alone. The three requests still count.
    const after = await chat(second!, { messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 });
    expect(after.status).toBe(200);
    expect(after.headers.get('x-ratelimit-remaining-tokens')).toBe('15');
    expect(after.headers.get('x-ratelimit-remaining-requests')).toBe('6');
  });
});

describe('ModelGateway per-provider limits and queue', () => {
  /** One mock provider with the given limits, on a fake clock, its adapter injected to count calls. */
  async function providerGateway(limits: { rpm?: number; tpm?: number; max_concurrency?: number }, options: { latencyMs?: number; maxQueue?: number } = {}) {
    const clock = new FakeClock();
    const adapter = new MockAdapter({ id: 'mock', latency_ms: options.latencyMs ?? 0, stream_chunks: 4 }, { clock });
    const config = mockConfig({
      providers: { mock: { type: 'mock', ...limits } },
      ...(options.maxQueue === undefined ? {} : { queue: { max_size: options.maxQueue } }),
    });
    const started = await startTestServer(config, { clock, adapters: new Map([['mock', adapter]]) });
    const queue = (await internalRuntime(started.gateway)).queues.get('mock')!;
    // Runs out every deadline, so that a failed assertion never leaves a request for the server to wait on.
    onCleanup(() => clock.advance(3_600_000));
    return { ...started, clock, adapter, queue };
  }

  const ask = (content: string, extra: Record<string, unknown> = {}) => ({ model: 'mock-1', messages: [{ role: 'user', content }], max_tokens: 10, ...extra });

  it('makes a request wait for the provider rpm quota instead of failing', async () => {
    const { url, clock, adapter, queue } = await providerGateway({ rpm: 2 });
    expect((await postJson(`${url}/v1/chat/completions`, ask('one'))).status).toBe(200);
    expect((await postJson(`${url}/v1/chat/completions`, ask('two'))).status).toBe(200);
    let done = false;
    const third = postJson(`${url}/v1/chat/completions`, ask('three', { l04: { max_latency_ms: 60_000 } })).finally(() => {
      done = true;
    });
    await vi.waitFor(() => expect(queue.depth().normal).toBe(1), { interval: 5 });
    expect(adapter.calls).toBe(2);
    await clock.advance(29_000);
    expect(done).toBe(false);
    // 2 rpm: the next request fits 30 s after the bucket was emptied.
    await clock.advance(1_000);
    const reply = await third;
    expect(reply.status).toBe(200);
    expect(adapter.calls).toBe(3);
  });

  it('settles the provider token quota to actual usage, so the next request does not wait', async () => {
    // tpm 50: each request reserves 5 + 20 = 25 and uses 5 + 4 = 9. Settled, the third finds
    // 50 - 9 - 9 = 32 tokens; left at the estimates, it would find 0 and wait for the quota.
    const { url, clock, adapter, queue } = await providerGateway({ tpm: 50 });
    const outcomes: Array<[string, number, 'at once' | 'waited for the quota']> = [];
    for (const content of ['one', 'two', 'six']) {
      let done = false;
      const reply = postJson(`${url}/v1/chat/completions`, ask(content, { max_tokens: 20, l04: { max_latency_ms: 120_000 } })).finally(() => {
        done = true;
      });
      await vi.waitFor(() => expect(done || queue.depth().normal > 0).toBe(true), { interval: 2 });
      const waited = !done;
      // Lets a request stuck on the quota through, so that the test ends either way.
      if (waited) await clock.advance(60_000);
      outcomes.push([content, (await reply).status, waited ? 'waited for the quota' : 'at once']);
    }
    expect(outcomes).toEqual([
      ['one', 200, 'at once'],
      ['two', 200, 'at once'],
      ['six', 200, 'at once'],
    ]);
    expect(adapter.calls).toBe(3);
  });

  it('falls back to another provider when the first is at its quota (model auto)', async () => {
    const adapters = new Map([
      ['cheap', new MockAdapter({ id: 'cheap', latency_ms: 0, stream_chunks: 4 })],
      ['pricey', new MockAdapter({ id: 'pricey', latency_ms: 0, stream_chunks: 4 })],
    ]);
    const config = mockConfig({
      providers: { cheap: { type: 'mock', rpm: 1 }, pricey: { type: 'mock' } },
      models: {
        'cheap-1': { provider: 'cheap', auto: true, capabilities: ['text'], context_length: 32768 },
        'pricey-1': { provider: 'pricey', auto: true, capabilities: ['text'], context_length: 32768, input_cost_per_1k_cents: 1, output_cost_per_1k_cents: 1 },
      },
    });
    const { url } = await startTestServer(config, { adapters });
    const first = await postJson(`${url}/v1/chat/completions`, ask('first', { model: 'auto' }));
    expect([first.status, first.headers.get('x-l04-provider')]).toEqual([200, 'cheap']);
    // The cheap provider's next request slot is 60 s away, past this request's 5 s deadline.
    const second = await postJson(`${url}/v1/chat/completions`, ask('second', { model: 'auto', l04: { max_latency_ms: 5_000 } }));
    expect([second.status, second.headers.get('x-l04-provider')]).toEqual([200, 'pricey']);
    expect((second.body.l04 as { attempts: unknown[] }).attempts).toEqual([
      expect.objectContaining({ provider: 'cheap', outcome: 'skipped', code: 'E4402' }),
      expect.objectContaining({ provider: 'pricey', outcome: 'success' }),
    ]);
    expect([adapters.get('cheap')!.calls, adapters.get('pricey')!.calls]).toEqual([1, 1]);
  });

  it('answers 503 E4404 with Retry-After at once when the provider queue is full', async () => {
    const { url, clock, adapter, queue } = await providerGateway({ max_concurrency: 1 }, { latencyMs: 1_000, maxQueue: 1 });
    const running = postJson(`${url}/v1/chat/completions`, ask('running'));
    await vi.waitFor(() => expect(adapter.calls).toBe(1), { interval: 5 });
    const waiting = postJson(`${url}/v1/chat/completions`, ask('waiting'));
    await vi.waitFor(() => expect(queue.depth().normal).toBe(1), { interval: 5 });

    const full = await postJson(`${url}/v1/chat/completions`, ask('refused'));
    expect([full.status, full.body.error?.code]).toEqual([503, 'E4404']);
    expect(full.headers.get('retry-after')).toBe('1');
    // max_concurrency is the drain: still one in flight.
    expect(queue.active()).toBe(1);

    await clock.advance(1_000);
    expect((await running).status).toBe(200);
    await vi.waitFor(() => expect(adapter.calls).toBe(2), { interval: 5 });
    await clock.advance(1_000);
    expect((await waiting).status).toBe(200);
    expect(adapter.calls).toBe(2);
  });
});
