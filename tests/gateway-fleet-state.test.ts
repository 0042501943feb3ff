/**
 * Provider state shared by a fleet: two gateway instances, each with its own HTTP server and Redis
 * connection, on one key prefix of the real Redis, in front of one OpenAI-compatible upstream that
 * fails on command. Every request is answered (a mock provider is the fallback); what is counted is
 * what reaches the upstream.
 */
import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../src/config/config-schema.js';
import { FakeClock } from './helpers/fake-clock.js';
import { startFaultyUpstream } from './helpers/faulty-openai-upstream.js';
import { startRedisServer } from './helpers/redis-server.js';
import { startSharedRedisGateways } from './helpers/shared-redis-gateways.js';
import type { TestGateway } from './helpers/shared-redis-gateways.js';

const THRESHOLD = 3;

function fleetConfig(upstreamUrl: string, overrides: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return {
    providers: {
      up: { type: 'openai', base_url: upstreamUrl, api_key: 'sk-test-0123456789', health_interval_s: 30 },
      backup: { type: 'mock' },
    },
    models: {
      cheap: { provider: 'up', provider_model: 'gpt-4o-mini', capabilities: ['text'], input_cost_per_1k_cents: 0.1, output_cost_per_1k_cents: 0.1 },
      dear: { provider: 'backup', auto: true, capabilities: ['text'], input_cost_per_1k_cents: 1, output_cost_per_1k_cents: 1 },
    },
    circuit_breaker: { failure_threshold: THRESHOLD, cooldown_s: 60 },
    health: { enabled: false, recovery_interval_s: 2 },
    rate_limits: { agent_default: { rpm: 100_000, tpm: 100_000_000 } },
    cache: { enabled: false },
    logging: { level: 'silent' },
    ...overrides,
  };
}

async function ask(gateway: TestGateway): Promise<string> {
  const answer = await gateway.client.chat.completions.create({
    model: 'auto',
    messages: [{ role: 'user', content: 'Why is the sky blue?' }],
  } as OpenAI.ChatCompletionCreateParamsNonStreaming);
  return answer.model;
}

async function circuitOf(gateway: TestGateway): Promise<string | undefined> {
  const body = (await (await fetch(`${gateway.url}/health/providers`)).json()) as { data: Array<{ provider: string; circuit_state?: string }> };
  return body.data.find((row) => row.provider === 'up')?.circuit_state;
}

describe('provider state shared by two instances on Redis', () => {
  it('spends one breaker threshold for the fleet: at most threshold + 1 failed calls reach a dead provider', async () => {
    const upstream = await startFaultyUpstream();
    upstream.mode('error-500');
    const { gateways } = await startSharedRedisGateways(fleetConfig(upstream.url));
    const models: string[] = [];
    for (let index = 0; index < 20; index++) models.push(await ask(gateways[index % 2]!));
    expect(models).toEqual(new Array(20).fill('dear'));
    expect(upstream.chatCalls).toBeGreaterThanOrEqual(THRESHOLD);
    expect(upstream.chatCalls).toBeLessThanOrEqual(THRESHOLD + 1);
    expect(await Promise.all(gateways.map(circuitOf))).toEqual(['open', 'open']);
  });

  it('shares a cool-down: after one 429 with Retry-After, neither instance sends the provider anything', async () => {
    const upstream = await startFaultyUpstream();
    upstream.mode('error-429');
    const { gateways } = await startSharedRedisGateways(fleetConfig(upstream.url));
    for (let index = 0; index < 10; index++) expect(await ask(gateways[index % 2]!)).toBe('dear');
    expect(upstream.chatCalls).toBe(1);
    const body = (await (await fetch(`${gateways[1]!.url}/health/providers`)).json()) as { data: Array<{ provider: string; circuit_state?: string }> };
    expect(body.data.find((row) => row.provider === 'up')).toMatchObject({ circuit_state: 'closed' });
  });

  it('runs one health check per interval across both instances, and both read its result', async () => {
    const upstream = await startFaultyUpstream();
    const clock = new FakeClock(Date.now());
    const { gateways } = await startSharedRedisGateways(fleetConfig(upstream.url, { health: { enabled: true } }), {
      dependencies: () => ({ clock, random: () => 0.5, healthChecks: true }),
    });
    await Promise.all(gateways.map((gateway) => gateway.gateway.start()));
    await settled(() => upstream.modelCalls, 1);
    for (let interval = 1; interval <= 4; interval++) {
      await clock.advance(30_000);
      await settled(() => upstream.modelCalls, 1 + interval);
    }
    // The instance that did not check re-reads the shared result within one recovery interval.
    await clock.advance(2_000);
    await settled(() => upstream.modelCalls, 5);
    const rows = await Promise.all(gateways.map((gateway) => gateway.gateway.providerHealth()));
    const checkedAt = rows.map((instance) => instance.find((row) => row.provider === 'up')?.checked_at);
    expect(checkedAt[0]).toBeGreaterThan(0);
    expect(checkedAt[1]).toBe(checkedAt[0]);
  });

  it('elects one half-open probe for the fleet once a check sees the provider back, and both instances return to it', async () => {
    const upstream = await startFaultyUpstream();
    upstream.mode('error-500');
    const clock = new FakeClock(Date.now());
    const { gateways } = await startSharedRedisGateways(fleetConfig(upstream.url, { health: { enabled: true } }), {
      dependencies: () => ({ clock, random: () => 0.5, healthChecks: true }),
    });
    await Promise.all(gateways.map((gateway) => gateway.gateway.start()));
    for (let index = 0; index < 8; index++) await ask(gateways[index % 2]!);
    const failedCalls = upstream.chatCalls;
    expect(failedCalls).toBeLessThanOrEqual(THRESHOLD + 1);
    upstream.mode('ok');
    // Well inside the 60 s cooldown: a recovery check sees the provider answer and lets one probe through.
    await clock.advance(2_000);
    await settled(() => upstream.modelCalls, 2);
    await clock.advance(500);
    const answers = await Promise.all([ask(gateways[0]!), ask(gateways[1]!), ask(gateways[0]!), ask(gateways[1]!)]);
    expect(upstream.chatCalls).toBe(failedCalls + 1);
    expect(answers.filter((model) => model === 'cheap')).toHaveLength(1);
    await clock.advance(1_000);
    expect(await Promise.all([ask(gateways[0]!), ask(gateways[1]!)])).toEqual(['cheap', 'cheap']);
  });

  it('decides per process while Redis is down: each instance spends its own threshold, and every request is answered', async () => {
    const redis = await startRedisServer();
    const upstream = await startFaultyUpstream();
    upstream.mode('error-500');
    const { gateways } = await startSharedRedisGateways(fleetConfig(upstream.url), { redisUrl: redis.url });
    expect(await ask(gateways[0]!)).toBe('dear');
    await redis.stop();
    await until(async () => (await Promise.all(gateways.map((gateway) => gateway.gateway.readiness()))).every((ready) => redisDown(ready.dependencies)));
    for (let index = 0; index < 20; index++) expect(await ask(gateways[index % 2]!)).toBe('dear');
    expect(upstream.chatCalls).toBeGreaterThan(THRESHOLD + 1);
    // The failure before the outage went to the shared record; from then on each instance counts its own.
    expect(upstream.chatCalls).toBeLessThanOrEqual(1 + 2 * THRESHOLD);
    expect(await Promise.all(gateways.map(circuitOf))).toEqual(['open', 'open']);
  });
});

function redisDown(dependencies: Record<string, unknown>): boolean {
  return (dependencies.redis as { status?: string } | undefined)?.status === 'down';
}

async function until(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Waits until `count()` reaches `expected` (requests the test does not control travel over real
 * sockets), then a little longer to see that it stays there; bounded.
 */
async function settled(count: () => number, expected: number): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (count() < expected) {
    if (Date.now() > deadline) throw new Error(`expected ${expected}, got ${count()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(count()).toBe(expected);
}
