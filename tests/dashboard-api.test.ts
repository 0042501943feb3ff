/**
 * The dashboard over HTTP: the page and its assets, the snapshot after real traffic through the
 * gateway, who may read it (admin keys; loopback callers when no keys are configured), and a
 * ledger that cannot be read leaving the rest of the snapshot intact.
 */
import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../src/config/config-schema.js';
import type { DashboardSnapshot, DashboardUsage } from '../src/gateway/dashboard-snapshot.js';
import { MemoryUsageLedger } from '../src/accounting/usage-ledger.js';
import { mockConfig, startTestServer } from './helpers/gateway.js';
import { callJson } from './helpers/http-calls.js';
import type { OpenAIErrorShape } from './helpers/http-calls.js';
import { spoolDir, startLedger } from './helpers/ledger-db.js';

const LIMITED = 'did:l04:dash-limited';
const config = (overrides: Partial<GatewayConfigInput> = {}): GatewayConfigInput =>
  mockConfig({
    models: { 'mock-1': { provider: 'mock', capabilities: ['text'], context_length: 32768, input_cost_per_1k_cents: 5, output_cost_per_1k_cents: 10 } },
    cache: { enabled: true, semantic: false },
    rate_limits: { agents: { [LIMITED]: { rpm: 1, tpm: 100_000 } } },
    ...overrides,
  });

const chat = (url: string, agent: string, text: string, headers: Record<string, string> = {}) =>
  callJson(url, '/v1/chat/completions', { model: 'mock-1', messages: [{ role: 'user', content: text }] }, { 'x-agent-did': agent, ...headers });

describe('GET /dashboard', () => {
  it('serves the page, its script and its style sheet, locked to its own origin', async () => {
    const { url } = await startTestServer(config());
    for (const [path, type, marker] of [
      ['/dashboard', 'text/html', '<script type="module" src="/dashboard/dashboard.js">'],
      ['/dashboard/', 'text/html', 'data-testid="providers"'],
      ['/dashboard/dashboard.js', 'text/javascript', '/dashboard/api/snapshot'],
      ['/dashboard/dashboard.css', 'text/css', '.badge.circuit-open'],
    ] as const) {
      const answer = await callJson(url, path);
      expect(answer.status, path).toBe(200);
      expect(answer.headers.get('content-type')).toContain(type);
      expect(answer.text).toContain(marker);
      expect(answer.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
      const again = await fetch(`${url}${path}`, { headers: { 'if-none-match': answer.headers.get('etag') ?? '' } });
      expect(again.status).toBe(304);
    }
  });

  it('reports providers, the last minutes, refusals, cache results, spend per agent and recent errors after traffic', async () => {
    const { url } = await startTestServer(config(), { ledger: new MemoryUsageLedger() });
    await chat(url, 'did:l04:dash-a', 'what is the capital of France');
    await chat(url, 'did:l04:dash-a', 'what is the capital of France'); // exact cache hit
    await chat(url, 'did:l04:dash-b', 'and what is the capital of Spain, and of Portugal? '.repeat(20)); // the longest prompt: the most spend
    await chat(url, 'did:l04:dash-b', 'fail please [[mock:fail:503]]');
    await chat(url, LIMITED, 'one');
    const refused = await chat(url, LIMITED, 'two');
    expect(refused.status).toBe(429);

    const answer = await callJson(url, '/dashboard/api/snapshot');
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const snapshot = answer.body as DashboardSnapshot;
    expect(snapshot.object).toBe('dashboard.snapshot');
    expect(snapshot.providers).toEqual([
      expect.objectContaining({ provider: 'mock', circuit_state: 'closed', queue: { high: 0, normal: 0, low: 0, waiting: 0, in_flight: 0 } }),
    ]);
    expect(snapshot.queue_depth).toBe(0);
    const { activity } = snapshot;
    expect(activity.totals).toMatchObject({ requests: 6, errors: 2 });
    expect(activity.buckets).toHaveLength(60);
    expect(activity.buckets.at(-1)?.requests).toBeGreaterThan(0);
    expect(activity.totals.latency_ms.p50).not.toBeNull();
    expect(activity.cache).toMatchObject({ exact: 1, miss: 4 });
    expect(activity.refusals).toEqual({ total: 1, by_code: { E4400: 1 } });
    expect(activity.errors_by_code).toEqual({ E4202: 1, E4400: 1 });
    expect(activity.recent_errors.map((error) => error.code)).toEqual(['E4202']);
    expect(activity.recent_errors[0]).toMatchObject({ agent_did: 'did:l04:dash-b', model: 'mock-1', provider: 'mock', http_status: 502 });

    const usage = snapshot.usage as DashboardUsage;
    expect(usage.refusals).toEqual({ requests: 1, by_code: { E4400: 1 } });
    expect(usage.by_agent.map((group) => group.key)).toEqual(['did:l04:dash-b', 'did:l04:dash-a', LIMITED]);
    expect(usage.by_agent.find((group) => group.key === LIMITED)).toMatchObject({ requests: 1, refusals: 1 });
    expect(usage.by_tenant).toEqual([expect.objectContaining({ key: 'default', requests: 5, refusals: 1 })]);
    expect(usage.by_model).toEqual([expect.objectContaining({ key: 'mock-1', requests: 5 })]);
    expect(usage.cost_cents).toBeGreaterThan(0);
  });

  it('needs an admin key when keys are configured; the page itself needs none', async () => {
    const keys = [
      { key: 'dashboard-admin-key-1', agent_did: 'did:l04:ops', tenant: 'ops', admin: true },
      { key: 'dashboard-agent-key-1', agent_did: 'did:l04:agent', tenant: 'acme' },
    ];
    const { url } = await startTestServer(config({ auth: { api_keys: keys } }));
    expect((await callJson(url, '/dashboard')).status).toBe(200);
    const anonymous = await callJson(url, '/dashboard/api/snapshot');
    expect(anonymous.status).toBe(401);
    expect((anonymous.body as OpenAIErrorShape).error.code).toBe('E4501');
    const agent = await callJson(url, '/dashboard/api/snapshot', undefined, { authorization: `Bearer ${keys[1]!.key}` });
    expect(agent.status).toBe(403);
    expect((agent.body as OpenAIErrorShape).error.code).toBe('E4508');
    expect((await callJson(url, '/dashboard/api/snapshot', undefined, { authorization: `Bearer ${keys[0]!.key}` })).status).toBe(200);
  });

  it('answers loopback callers only when no keys are configured', async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address !== undefined && address.family === 'IPv4' && !address.internal)?.address;
    expect(external, 'this test needs a non-loopback IPv4 address on the machine').toBeDefined();
    // Serving without keys beyond loopback must be asked for explicitly.
    const { gateway } = await startTestServer(config({ server: { allow_unauthenticated: true } }));
    const { GatewayServer } = await import('../src/server/http-server.js');
    const server = new GatewayServer(gateway, { host: '0.0.0.0', port: 0 });
    const { port } = await server.listen();
    try {
      expect((await callJson(`http://127.0.0.1:${port}`, '/dashboard/api/snapshot')).status).toBe(200);
      const remote = await callJson(`http://${external!}:${port}`, '/dashboard/api/snapshot');
      expect(remote.status).toBe(403);
      expect((remote.body as OpenAIErrorShape).error.code).toBe('E4508');
    } finally {
      await new Promise<void>((resolve) => server.server.close(() => resolve()));
    }
  });

  it('keeps the live figures when the ledger cannot be read, and says why in usage', async () => {
    const ledger = await startLedger({
      url: 'postgres://postgres@127.0.0.1:1/test',
      schema: 'l04_dash_unreachable',
      spoolDir: await spoolDir(),
      connectTimeoutMs: 200,
    });
    const { url } = await startTestServer(config(), { ledger });
    await chat(url, 'did:l04:dash-a', 'hello');
    const snapshot = (await callJson(url, '/dashboard/api/snapshot')).body as DashboardSnapshot;
    expect(snapshot.activity.totals.requests).toBe(1);
    expect(snapshot.usage).toEqual({ error: { code: 'E4511', message: expect.any(String) as string } });
    expect(snapshot.ledger).toMatchObject({ backend: 'postgres', healthy: false });
  });
});
