import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_PATH, loadConfigFile, parseConfigText } from '../src/config/load-config.js';
import type { GatewayError } from '../src/models/error-codes.js';
import { runCli } from '../src/cli/run-cli.js';
import type { CliIo } from '../src/cli/cli-support.js';

function failure(action: () => unknown): GatewayError {
  try {
    action();
  } catch (error) {
    return error as GatewayError;
  }
  throw new Error('expected a failure');
}

describe('configuration', () => {
  it('applies the brief defaults', () => {
    const config = parseConfigText('providers: {mock: {type: mock}}', {});
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080 });
    expect(config.cache).toMatchObject({ ttl_s: 3600, similarity_threshold: 0.85, scope: 'tenant' });
    expect(config.rate_limits.agent_default).toEqual({ rpm: 60, tpm: 100_000 });
    expect(config.circuit_breaker).toMatchObject({ failure_threshold: 5, cooldown_s: 60 });
    expect(config.state.redis_url).toBe('redis://localhost:6379');
  });

  it('interpolates ${VAR} and ${VAR:-default}, typing whole-string references', () => {
    const text = 'server: {port: "${PORT:-9000}", host: "${HOST}"}\nproviders: {openai: {type: openai, api_key: "${KEY:-}"}}';
    const config = parseConfigText(text, { HOST: '0.0.0.0' });
    expect(config.server.port).toBe(9000);
    expect(config.server.host).toBe('0.0.0.0');
    expect(config.providers.openai?.type === 'openai' && config.providers.openai.api_key).toBe('');
  });

  it('reports every bad path in one E4000', () => {
    const text = [
      'server: {port: 99999}',
      'providers: {local: {type: ollama, base_url: not-a-url}}',
      'models: {m1: {provider: nowhere}}',
      'cache: {similarity_threshold: 2}',
      'surprise: true',
    ].join('\n');
    const error = failure(() => parseConfigText(text, {}));
    expect(error.code).toBe('E4000');
    const paths = (error.details.issues as Array<{ path: string }>).map((issue) => issue.path);
    expect(paths).toEqual(expect.arrayContaining(['server.port', 'providers.local.base_url', 'cache.similarity_threshold', '(root)']));
    expect(error.message).toContain('server.port');
  });

  it('reports a model naming an unknown provider and a missing environment variable', () => {
    const error = failure(() => parseConfigText('providers: {mock: {type: mock}}\nmodels: {m1: {provider: ghost}}\nserver: {host: "${NOPE}"}', {}));
    const paths = (error.details.issues as Array<{ path: string }>).map((issue) => issue.path);
    expect(paths).toEqual(expect.arrayContaining(['models.m1.provider', 'server.host']));
  });

  it('reads JSON as well as YAML, and refuses duplicate keys', () => {
    expect(parseConfigText('{"providers": {"mock": {"type": "mock"}}}', {}).providers.mock?.type).toBe('mock');
    expect(failure(() => parseConfigText('providers: {}\nproviders: {}', {})).code).toBe('E4003');
  });

  it('loads the shipped default config', () => {
    const config = loadConfigFile(DEFAULT_CONFIG_PATH, {});
    expect(config.providers.ollama).toMatchObject({ type: 'ollama', base_url: 'http://localhost:11434' });
    expect(config.models['mock-1']?.provider).toBe('mock');
    expect(config.models['llama3.2']?.provider).toBe('ollama');
  });
});

describe('l04-gateway check', () => {
  /** The command in process (its entry point only maps the exit code; tests/e2e runs it as a process). */
  async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const io: CliIo = { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), now: () => Date.now() };
    const code = await runCli(argv, io);
    return { code, stdout, stderr };
  }

  it('exits non-zero on a broken config and names every bad path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'l04-config-'));
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'server: {port: -1}\nproviders: {p: {type: nope}}\nmodels: {m: {provider: ghost}}\n');
    const result = await run('check', '--config', file);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('E4000');
    expect(result.stderr).toContain('server.port');
    expect(result.stderr).toContain('providers.p.type');
    expect(result.stderr).toContain('models.m.provider');
  });

  it('prints the providers, models and health of a valid config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'l04-config-'));
    const file = join(dir, 'ok.yaml');
    writeFileSync(
      file,
      'state: {backend: memory}\nproviders: {mock: {type: mock}, ollama: {type: ollama, base_url: "http://127.0.0.1:9"}}\nmodels: {mock-1: {provider: mock}, llama3.2: {provider: ollama}}\ncache: {embedder: {provider: local}}\nlogging: {level: silent}\n',
    );
    const { code, stdout } = await run('check', '--config', file);
    expect(code).toBe(0);
    expect(stdout).toContain('valid');
    expect(stdout).toMatch(/mock-1\s+mock/);
    expect(stdout).toMatch(/ollama\s+unhealthy/);
    expect(stdout).toMatch(/mock\s+healthy/);
  });
});
