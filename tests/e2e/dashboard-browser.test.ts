/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core (no downloaded
 * browser). A gateway with API keys, the real PostgreSQL ledger and two providers — the mock, and
 * an OpenAI-compatible upstream on port 0 that answers every call with a 500 — takes real traffic
 * from the official `openai` client: answers, cache hits, rate-limit refusals, and calls pinned
 * to the failing provider until its circuit opens. The test then opens /dashboard, enters the
 * admin key once, and asserts what the page shows: both providers, the open circuit, the three
 * charts drawn from the traffic, spend per agent equal to the ledger's, the refusals and the
 * recent errors with their E-codes. A reload keeps the key.
 *
 * With `L04_DASHBOARD_SCREENSHOT=<path>` the test also saves a full-page screenshot there (the
 * README's docs/dashboard.png), after spreading the traffic over a few minutes so the charts have
 * a shape: `L04_DASHBOARD_SCREENSHOT=docs/dashboard.png npx vitest run --config vitest.e2e.config.ts tests/e2e/dashboard-browser.test.ts`.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OpenAI from 'openai';
import { Pool } from 'pg';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { startTestServer } from '../helpers/gateway.js';
import { PG_URL, spoolDir, startLedger, testSchema } from '../helpers/ledger-db.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const SCREENSHOT = process.env.L04_DASHBOARD_SCREENSHOT;
/** Waves of traffic, 15 s apart (one dashboard bucket), when a screenshot is wanted. */
const WAVES = SCREENSHOT === undefined ? 1 : 8;

const admin = new Pool({ connectionString: PG_URL, max: 2 });
afterAll(() => admin.end());

const KEYS = {
  ops: { key: 'l04-dashboard-admin-key-0001', agent_did: 'did:l04:ops', tenant: 'ops', admin: true },
  researcher: { key: 'l04-dashboard-researcher-01', agent_did: 'did:l04:researcher', tenant: 'acme' },
  writer: { key: 'l04-dashboard-writer-000001', agent_did: 'did:l04:writer', tenant: 'acme' },
  planner: { key: 'l04-dashboard-planner-00001', agent_did: 'did:l04:planner', tenant: 'globex', rpm: 4 },
} as const;

/**
 * An OpenAI-compatible upstream that goes down: its model list answers until its first completion
 * is asked for (so the start-up health check passes and traffic reaches it), and from then on every
 * call fails the way OpenAI reports a server error — the recovery checks of an open circuit
 * included, so the circuit stays open rather than letting a probe through.
 */
async function failingUpstream(): Promise<string> {
  let down = false;
  const server = createServer((request, response) => {
    request.resume();
    if (request.method === 'GET' && request.url === '/v1/models' && !down) {
      const list = JSON.stringify({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 0, owned_by: 'system' }] });
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(list) });
      response.end(list);
      return;
    }
    if (request.method === 'POST') down = true;
    const body = JSON.stringify({
      error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null },
    });
    response.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  onCleanup(() => new Promise<void>((done) => server.close(() => done())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

type Client = OpenAI;
const ask = (client: Client, model: string, content: string) => client.chat.completions.create({ model, messages: [{ role: 'user', content }] });
const settle = async (call: Promise<unknown>): Promise<string> =>
  call.then(
    () => 'ok',
    (error: unknown) => (error instanceof OpenAI.APIError ? String((error.error as { code?: unknown } | undefined)?.code ?? error.status) : 'failed'),
  );

async function traffic(clients: Record<keyof typeof KEYS, Client>, wave: number): Promise<string[]> {
  const outcomes: string[] = [];
  const topics = ['tides', 'volcanoes', 'glaciers', 'monsoons', 'auroras'];
  for (const [index, topic] of topics.entries()) {
    outcomes.push(await settle(ask(clients.researcher, 'mock-1', `Summarise what is known about ${topic}, wave ${wave}, in ${3 + index} points.`)));
    outcomes.push(await settle(ask(clients.writer, 'mock-1', `Write a short paragraph about ${topic}.`))); // repeats across waves: cache hits
  }
  outcomes.push(await settle(ask(clients.writer, 'mock-1', 'Write a short paragraph about tides.'))); // an exact hit at once
  // Pinned to the failing provider: upstream 5xx until the circuit opens, then refused at once.
  for (let attempt = 0; attempt < (wave === 0 ? 7 : 2); attempt++)
    outcomes.push(await settle(ask(clients.researcher, 'gpt-flaky', `Plan step ${attempt}, wave ${wave}`)));
  // The planner's key allows 4 requests a minute: the rest are rate-limit refusals.
  for (let step = 0; step < 6; step++) outcomes.push(await settle(ask(clients.planner, 'mock-1', `Next move ${step}, wave ${wave}?`)));
  return outcomes;
}

describe('dashboard in Chromium', () => {
  it(
    'shows providers, an open circuit, the charts, refusals, errors and spend per agent after real traffic',
    { timeout: 90_000 + WAVES * 15_000 },
    async () => {
      expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`).toBe(true);
      const upstream = await failingUpstream();
      const ledger = await startLedger({ url: PG_URL, schema: testSchema(admin), spoolDir: await spoolDir(), flushIntervalMs: 200 });
      const { url } = await startTestServer(
        {
          state: { backend: 'memory' },
          providers: {
            mock: { type: 'mock', latency_ms: 25, stream_chunks: 4, health_interval_s: 3600 },
            flaky: { type: 'openai', base_url: upstream, api_key: 'sk-test-flaky-upstream-0000', health_interval_s: 3600 },
          },
          models: {
            'mock-1': {
              provider: 'mock',
              capabilities: ['text', 'streaming'],
              context_length: 32768,
              input_cost_per_1k_cents: 15,
              output_cost_per_1k_cents: 60,
            },
            'gpt-flaky': {
              provider: 'flaky',
              provider_model: 'gpt-4o-mini',
              capabilities: ['text'],
              context_length: 128000,
              input_cost_per_1k_cents: 1.5,
              output_cost_per_1k_cents: 6,
            },
          },
          cache: { enabled: true, semantic: false },
          circuit_breaker: { failure_threshold: 5, cooldown_s: 3600 },
          // The live error window spans the whole run, so the failing provider stays unhealthy between waves.
          health: { enabled: true, window_s: 900 },
          auth: { api_keys: Object.values(KEYS).map((entry) => ({ ...entry })) },
          logging: { level: 'silent' },
        },
        { ledger, healthChecks: true },
      );
      const clients = Object.fromEntries(
        Object.entries(KEYS).map(([name, entry]) => [name, new OpenAI({ baseURL: `${url}/v1`, apiKey: entry.key, maxRetries: 0, timeout: 10_000 })]),
      ) as Record<keyof typeof KEYS, Client>;

      const outcomes: string[] = [];
      for (let wave = 0; wave < WAVES; wave++) {
        if (wave > 0) await new Promise((done) => setTimeout(done, 15_000));
        outcomes.push(...(await traffic(clients, wave)));
      }
      expect(outcomes).toContain('E4202');
      expect(outcomes).toContain('E4700');
      expect(outcomes).toContain('E4400');
      await ledger.flush();
      const usage = (await (await fetch(`${url}/v1/usage?group_by=agent`, { headers: { authorization: `Bearer ${KEYS.ops.key}` } })).json()) as {
        groups: Array<{ key: string; cost_cents: number }>;
      };
      const spent = new Map(usage.groups.map((group) => [group.key, group.cost_cents]));
      expect(spent.get(KEYS.researcher.agent_did)).toBeGreaterThan(0);

      const profile = mkdtempSync(join(tmpdir(), 'l04-chromium-'));
      onCleanup(() => rm(profile, { recursive: true, force: true }));
      const browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1440, height: 1000 },
      });
      onCleanup(() => browser.close());
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));

      await page.goto(`${url}/dashboard`);
      // Keys are configured: the page asks for an admin key before it shows anything.
      await page.locator('#key-form').waitFor({ state: 'visible' });
      expect(await page.locator('#dashboard').isHidden()).toBe(true);
      await page.fill('#key-input', KEYS.ops.key);
      await page.click('#key-form button[type=submit]');
      await page.locator('#dashboard').waitFor({ state: 'visible' });

      // Providers: both rows, the failing one with its circuit open and unhealthy.
      const flaky = page.locator('#providers tr[data-provider="flaky"]');
      await flaky.waitFor();
      expect(await page.locator('#providers tbody tr').count()).toBe(2);
      expect(await page.locator('#providers tr[data-provider="mock"] .badge.circuit-closed').textContent()).toBe('closed');
      expect(await flaky.locator('.badge.circuit-open').textContent()).toBe('open');
      expect(await flaky.locator('.badge.health-unhealthy').textContent()).toBe('unhealthy');

      // Charts: one series in the rate and error charts, three in the latency chart, drawn from data.
      const points = (chart: string, series: string) => page.locator(`${chart} path[data-series="${series}"]`).getAttribute('data-points');
      expect(Number(await points('#chart-rate', 'rate'))).toBeGreaterThanOrEqual(WAVES);
      for (const series of ['p50', 'p95', 'p99']) expect(Number(await points('#chart-latency', series))).toBeGreaterThanOrEqual(WAVES);
      expect(Number(await points('#chart-errors', 'errors'))).toBeGreaterThanOrEqual(WAVES);
      expect(await page.locator('#chart-rate path.series').getAttribute('d')).toMatch(/^M[\d.]+,[\d.]+/);
      expect(await page.locator('#chart-latency circle.dot').count()).toBeGreaterThanOrEqual(3 * WAVES);

      // Figures, cache, refusals and recent errors.
      expect(Number(await page.locator('#fig-requests').textContent())).toBe(outcomes.length);
      expect(await page.locator('#fig-hit-rate').textContent()).toMatch(/^\d+(\.\d)? %$/);
      expect(await page.locator('#cache-legend li[data-part="exact"]').textContent()).toMatch(/^exact [1-9]/);
      expect(await page.locator('#refusals li[data-code="E4400"]').textContent()).toBe(`E4400: ${outcomes.filter((code) => code === 'E4400').length}`);
      expect(await page.locator('#errors tr[data-code="E4700"]').count()).toBeGreaterThan(0);
      expect(await page.locator('#errors tr[data-code="E4202"]').count()).toBeGreaterThan(0);
      expect(await page.locator('#error-codes li[data-code="E4202"]').textContent()).toBe(`E4202: ${outcomes.filter((code) => code === 'E4202').length}`);

      // Spend per agent: the page shows what the ledger says.
      for (const agent of [KEYS.researcher.agent_did, KEYS.writer.agent_did, KEYS.planner.agent_did]) {
        const row = page.locator(`#usage-agent tr[data-key="${agent}"]`);
        const shown = Number((await row.locator('td.spend').textContent())?.replace(/[^\d.]/g, ''));
        expect(shown, agent).toBeGreaterThan(0);
        expect(shown, agent).toBeCloseTo(spent.get(agent) ?? Number.NaN, 3);
      }
      expect(await page.locator(`#usage-agent tr[data-key="${KEYS.planner.agent_did}"] td`).nth(2).textContent()).toBe(
        String(outcomes.filter((code) => code === 'E4400').length),
      );
      expect(await page.locator('#usage-tenant tr[data-key="acme"]').count()).toBe(1);
      expect(await page.locator('#usage-model tr[data-key="mock-1"]').count()).toBe(1);

      // The key was entered once: a reload goes straight to the figures.
      await page.reload();
      await page.locator('#providers tr[data-provider="flaky"]').waitFor();
      expect(await page.locator('#key-form').isHidden()).toBe(true);
      expect(pageErrors).toEqual([]);

      if (SCREENSHOT !== undefined) await page.screenshot({ path: resolve(SCREENSHOT), fullPage: true });
    },
  );
});
