/**
 * `l04-gateway` in-process (every command but a running `serve`): help for every command, wrong
 * usage, and `usage` reading the real PostgreSQL ledger that a gateway wrote.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { UsageRecord } from '../src/accounting/usage-ledger.js';
import { COMMANDS } from '../src/cli/cli-commands.js';
import { runCli } from '../src/cli/run-cli.js';
import type { CliIo } from '../src/cli/cli-support.js';
import { onCleanup } from './helpers/cleanup.js';
import { PG_URL, spoolDir, startLedger, testSchema } from './helpers/ledger-db.js';

const admin = new Pool({ connectionString: PG_URL, max: 2 });
afterAll(() => admin.end());

const NOW = Date.UTC(2026, 10, 27, 15, 30);

async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), now: () => NOW };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

function configFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'l04-cli-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, yaml);
  return file;
}

describe('l04-gateway --help', () => {
  it.each([['--help'], ['-h'], ['help']])('lists every command for %s, exit 0', async (flag) => {
    const { code, stdout } = await run(flag);
    expect(code).toBe(0);
    for (const command of COMMANDS) expect(stdout).toMatch(new RegExp(`^  ${command.name} +${command.summary.slice(0, 20)}`, 'm'));
  });

  it.each(COMMANDS.map((command) => [command.name]))('gives the options of %s with --help and with help <command>', async (name) => {
    const command = COMMANDS.find((item) => item.name === name)!;
    for (const argv of [
      [name, '--help'],
      [name, '-h'],
      ['help', name],
    ]) {
      const { code, stdout } = await run(...argv);
      expect(code).toBe(0);
      expect(stdout).toContain(`usage: l04-gateway ${name} [options]`);
      for (const option of Object.keys(command.options)) expect(stdout).toContain(`--${option}`);
    }
  });

  it('answers wrong usage with exit 2 and the help on stderr', async () => {
    expect(await run()).toMatchObject({ code: 2, stdout: '' });
    const unknown = await run('servee');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "servee"');
    const option = await run('models', '--bogus');
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("'--bogus'");
    expect(option.stderr).toContain('usage: l04-gateway models');
    expect((await run('help', 'nope')).code).toBe(2);
  });

  it('refuses a bad --log-level, --log-format or --port before starting anything', async () => {
    const file = configFile('state: {backend: memory}\nproviders: {mock: {type: mock}}\nmodels: {mock-1: {provider: mock}}\n');
    for (const [flag, value] of [
      ['--log-level', 'loud'],
      ['--log-format', 'xml'],
      ['--port', '70000'],
    ] as const) {
      const { code, stderr } = await run('serve', '--config', file, flag, value);
      expect(code).toBe(2);
      expect(stderr).toContain(`${flag} must be`);
    }
  });
});

describe('l04-gateway usage', () => {
  async function ledgerWith(records: UsageRecord[]): Promise<string> {
    const schema = testSchema(admin);
    const ledger = await startLedger({ url: PG_URL, schema, spoolDir: await spoolDir() });
    for (const item of records) ledger.record(item);
    await ledger.flush();
    return configFile(
      `state: {backend: memory}\nproviders: {mock: {type: mock}}\nmodels: {mock-1: {provider: mock}}\nusage: {postgres_url: "${PG_URL}", schema: ${schema}}\n`,
    );
  }

  const row = (id: string, agent: string, cost: number, fields: Partial<UsageRecord> = {}): UsageRecord => ({
    request_id: id,
    agent_did: agent,
    tenant: 'acme',
    model_id: 'mock-1',
    provider: 'mock',
    input_tokens: 100,
    output_tokens: 20,
    cost_cents: cost,
    latency_ms: 5,
    cached: false,
    status: 'ok',
    error_code: null,
    created_at: NOW - 60_000,
    ...fields,
  });

  it('prints today’s spend per agent from the ledger, highest first, with the total and the refusals', async () => {
    const file = await ledgerWith([
      row('u1', 'did:l04:cheap', 0.25),
      row('u2', 'did:l04:dear', 2.5),
      row('u3', 'did:l04:dear', 1.25),
      row('u4', 'did:l04:cheap', 0, { model_id: '', provider: '', input_tokens: 0, output_tokens: 0, status: 'error', error_code: 'E4400' }),
      row('u5', 'did:l04:yesterday', 9, { created_at: NOW - 86_400_000 }),
    ]);
    const { code, stdout, stderr } = await run('usage', '--config', file);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toBe('usage 2026-11-27T00:00:00.000Z to now');
    expect(lines[2]).toMatch(/^agent\s+requests\s+refused\s+input tokens\s+output tokens\s+cost \(cents\)$/);
    expect(lines[4]).toMatch(/^did:l04:dear\s+2\s+0\s+200\s+40\s+3\.7500$/);
    expect(lines[5]).toMatch(/^did:l04:cheap\s+1\s+1\s+100\s+20\s+0\.2500$/);
    expect(lines[6]).toMatch(/^total\s+3\s+1\s+300\s+60\s+4\.0000$/);
    expect(stdout).toContain('refused before any model: E4400 1');
    expect(stdout).not.toContain('did:l04:yesterday');
  });

  it('groups by day over a span, and prints the JSON of GET /v1/usage with --json', async () => {
    const file = await ledgerWith([row('d1', 'did:l04:a', 1), row('d2', 'did:l04:a', 2, { created_at: NOW - 86_400_000 })]);
    const table = await run('usage', '--config', file, '--since', '7d', '--group-by', 'day');
    expect(table.stdout).toMatch(/^2026-11-26\s+1\s+0\s+100\s+20\s+2\.0000$/m);
    expect(table.stdout).toMatch(/^2026-11-27\s+1\s+0\s+100\s+20\s+1\.0000$/m);
    const json = await run('usage', '--config', file, '--since', '7d', '--json', '-g', 'model');
    expect(JSON.parse(json.stdout)).toMatchObject({ object: 'usage', group_by: 'model', requests: 2, groups: [{ key: 'mock-1', requests: 2 }] });
  });

  it('names the flag that is wrong, exit 2', async () => {
    const file = await ledgerWith([]);
    const since = await run('usage', '--config', file, '--since', 'last tuesday');
    expect(since.code).toBe(2);
    expect(since.stderr).toMatch(/^l04-gateway usage: --since: must be/);
    const groupBy = await run('usage', '--config', file, '--group-by', 'week');
    expect(groupBy.stderr).toMatch(/^l04-gateway usage: --group-by: must be one of agent, tenant, model, day/);
  });

  it('says where usage is when the config has no ledger, exit 1', async () => {
    const file = configFile('state: {backend: memory}\nproviders: {mock: {type: mock}}\nmodels: {mock-1: {provider: mock}}\n');
    const { code, stderr } = await run('usage', '--config', file);
    expect(code).toBe(1);
    expect(stderr).toContain('usage.postgres_url is empty');
    expect(stderr).toContain('GET /v1/usage');
  });

  it('says so when no gateway has written the ledger yet, or PostgreSQL cannot be reached, exit 1', async () => {
    const missing = configFile(
      `providers: {mock: {type: mock}}\nmodels: {mock-1: {provider: mock}}\nusage: {postgres_url: "${PG_URL}", schema: l04_cli_never_created}\n`,
    );
    const never = await run('usage', '--config', missing);
    expect(never.code).toBe(1);
    expect(never.stderr).toContain('no table l04_cli_never_created.usage_records yet');
    const unreachable = configFile(
      'providers: {mock: {type: mock}}\nmodels: {mock-1: {provider: mock}}\nusage: {postgres_url: "postgres://u:secretpw@127.0.0.1:1/x"}\n',
    );
    const down = await run('usage', '--config', unreachable);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('E4511');
    expect(down.stderr).not.toContain('secretpw');
  });
});
