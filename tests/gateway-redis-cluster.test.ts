/**
 * Two gateway instances on the run's real three-master Redis Cluster (one given a node's URL and
 * detecting the cluster, the other given every node as seeds), with enough agents and cache
 * partitions that keys live on every master: one shared truth for the agent limits, and cache
 * entries written by one instance answered by the other.
 */
import { describe, expect, it, vi } from 'vitest';
import { internalRuntime } from '../src/gateway/model-gateway.js';
import { escapeBucketId } from '../src/limits/rate-limit-store.js';
import type { RedisConnection } from '../src/state/redis-connection.js';
import { mockConfig } from './helpers/gateway.js';
import { postJson } from './helpers/post-json.js';
import { testRedis } from './helpers/redis.js';
import { sharedClusterNodes } from './helpers/redis-cluster.js';
import { startSharedRedisGateways } from './helpers/shared-redis-gateways.js';
import type { TestGateway } from './helpers/shared-redis-gateways.js';

/** The id of the master that owns `key`'s slot. */
async function ownerOf(connection: RedisConnection, key: string): Promise<string> {
  return String(await connection.call(key, ['CLUSTER', 'MYID']));
}

function chat(gateway: TestGateway, agent: string, messages: Array<{ role: string; content: string }>) {
  return postJson(`${gateway.url}/v1/chat/completions`, { model: 'mock-1', messages, max_tokens: 16 }, { 'x-agent-did': agent });
}

describe('two gateway instances on a Redis Cluster', () => {
  it("admit exactly each agent's limit across both instances, for agents on every master", async () => {
    const nodes = await sharedClusterNodes();
    const probe = await testRedis({ nodes });
    // Agents picked so that each master owns the buckets of two of them.
    const agentsByOwner = new Map<string, string[]>();
    for (let index = 0; [...agentsByOwner.values()].filter((agents) => agents.length >= 2).length < 3; index++) {
      const agent = `did:l04:cluster-agent-${index}`;
      const owner = await ownerOf(probe, `{agent:${escapeBucketId(agent)}}:rpm`);
      const agents = agentsByOwner.get(owner) ?? [];
      if (agents.length < 2) agentsByOwner.set(owner, [...agents, agent]);
    }
    const agents = [...agentsByOwner.values()].flat();
    expect(agents).toHaveLength(6);

    const LIMIT = 5;
    const { keyPrefix, gateways } = await startSharedRedisGateways(mockConfig({ rate_limits: { agent_default: { rpm: LIMIT, tpm: 10_000_000 } } }), {
      clusterNodes: nodes,
    });
    const replies = await Promise.all(
      agents.map(async (agent) =>
        Promise.all(Array.from({ length: 4 * LIMIT }, (_, index) => chat(gateways[index % 2]!, agent, [{ role: 'user', content: `${agent} ${index}` }]))),
      ),
    );
    for (const agentReplies of replies) {
      expect(agentReplies.filter((reply) => reply.status === 200)).toHaveLength(LIMIT);
      expect(agentReplies.filter((reply) => reply.status === 429).map((reply) => reply.body.error?.code)).toEqual(Array(3 * LIMIT).fill('E4400'));
    }
    for (const gateway of gateways) {
      const runtime = await internalRuntime(gateway.gateway);
      expect(runtime.limiter.currentMode()).toBe('primary');
      const readiness = await gateway.gateway.readiness();
      expect(readiness.dependencies.redis).toMatchObject({ status: 'up', mode: 'cluster', degraded: false });
      expect((readiness.dependencies.redis as { nodes: unknown[] }).nodes).toHaveLength(3);
    }
    // The buckets live where their hash tag says, on all three masters.
    const owners = new Set(await Promise.all(agents.map(async (agent) => ownerOf(probe, `${keyPrefix}{agent:${escapeBucketId(agent)}}:rpm`))));
    expect(owners.size).toBe(3);
  });

  it('answer on one instance from cache entries the other wrote, for partitions on every master', async () => {
    const nodes = await sharedClusterNodes();
    const config = mockConfig({ cache: { enabled: true, semantic: false } });
    const { keyPrefix, gateways } = await startSharedRedisGateways(config, { clusterNodes: nodes });
    const [writer, reader] = gateways as [TestGateway, TestGateway];
    // A different earlier turn per conversation: a different partition (hash tag) each.
    const conversations = Array.from({ length: 40 }, (_, index) => [
      { role: 'user', content: `conversation ${index}` },
      { role: 'assistant', content: 'Noted.' },
      { role: 'user', content: 'And the answer?' },
    ]);
    const first = await Promise.all(conversations.map(async (messages) => chat(writer, 'did:l04:cache-writer', messages)));
    expect(first.map((reply) => [reply.status, reply.headers.get('x-l04-cache')])).toEqual(Array(40).fill([200, 'miss']));

    // Stores run off the response path: wait until every partition is in Redis.
    const probe = await testRedis({ nodes });
    const partitions: string[] = [];
    await vi.waitFor(async () => {
      partitions.length = 0;
      for await (const keys of probe.scan(`${keyPrefix}cache:{*}:z`)) partitions.push(...keys);
      expect(partitions).toHaveLength(40);
    });
    const second = await Promise.all(conversations.map(async (messages) => chat(reader, 'did:l04:cache-reader', messages)));
    expect(second.map((reply) => [reply.status, reply.headers.get('x-l04-cache')])).toEqual(Array(40).fill([200, 'exact']));
    const answer = (reply: (typeof first)[number]) => (reply.body as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content;
    expect(second.map(answer)).toEqual(first.map(answer));
    const owners = new Set(await Promise.all(partitions.map(async (key) => ownerOf(probe, key))));
    expect(owners.size).toBe(3);
  });
});
