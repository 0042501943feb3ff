/**
 * Claude Code, installed from npm, completes a prompt through the gateway in print mode
 * (`claude -p … --model <alias>`), offline, once routed to an Anthropic upstream and once to an
 * OpenAI-compatible one. Every HTTP call it makes is recorded and must succeed.
 *
 * The package is installed into a cache folder (`$XDG_CACHE_HOME` or `~/.cache`, under
 * `l04-claude-code/<version>`) on first use; `L04_CLAUDE_BIN` points at another binary instead.
 * Claude Code runs with HOME and CLAUDE_CONFIG_DIR in a temporary folder, so nothing is written
 * into the user's home.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ANTHROPIC_FIXTURE_API_KEY, startAnthropicFixture } from '../helpers/anthropic-fixture-server.js';
import { onCleanup } from '../helpers/cleanup.js';
import { startTestServer } from '../helpers/gateway.js';
import { startOpenAIFixture } from '../helpers/openai-fixture-server.js';

const run = promisify(execFile);

/** The Claude Code release this test pins. */
const CLAUDE_CODE_VERSION = '2.1.332';

async function claudeBinary(): Promise<string> {
  const override = process.env.L04_CLAUDE_BIN;
  if (override !== undefined && override !== '') return override;
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'l04-claude-code', CLAUDE_CODE_VERSION);
  const binary = join(cache, 'node_modules', '@anthropic-ai', 'claude-code', 'bin', 'claude.exe');
  if (!existsSync(binary)) {
    await run('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', cache, `@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}`], {
      timeout: 300_000,
    });
  }
  return binary;
}

let claude = '';
beforeAll(async () => {
  claude = await claudeBinary();
}, 320_000);

interface Call {
  method: string;
  url: string;
  status: number;
}

async function gateway() {
  const anthropic = await startAnthropicFixture();
  const openai = await startOpenAIFixture();
  onCleanup(() => Promise.all([anthropic.close(), openai.close()]));
  const started = await startTestServer({
    state: { backend: 'memory' },
    providers: {
      anthropic: { type: 'anthropic', base_url: anthropic.url, api_key: ANTHROPIC_FIXTURE_API_KEY },
      openai: { type: 'openai', base_url: openai.url, api_key: 'sk-fixture-0123456789' },
    },
    models: {
      claude: {
        provider: 'anthropic',
        provider_model: 'text',
        capabilities: ['text', 'tool_use', 'vision', 'long_context'],
        context_length: 200_000,
        max_output_tokens: 64_000,
        aliases: ['claude-sonnet-4-5'],
      },
      gpt: {
        provider: 'openai',
        provider_model: 'plain',
        capabilities: ['text', 'tool_use', 'vision', 'long_context'],
        context_length: 200_000,
        max_output_tokens: 16_384,
        aliases: ['claude-opus-4-5'],
      },
    },
    auth: { api_keys: [{ key: 'sk-l04-claude-code-key-0001', agent_did: 'did:example:claude-code', tenant: 'ci' }] },
    cache: { enabled: false },
    health: { enabled: false },
    logging: { level: 'silent' },
  });
  const calls: Call[] = [];
  started.server.server.on(
    'request',
    (request: { method?: string; url?: string }, response: { statusCode: number; once(event: 'finish', listener: () => void): void }) => {
      response.once('finish', () => calls.push({ method: request.method ?? '', url: request.url ?? '', status: response.statusCode }));
    },
  );
  return { ...started, calls, anthropic, openai };
}

async function askClaude(url: string, model: string): Promise<{ stdout: string; stderr: string }> {
  const home = mkdtempSync(join(tmpdir(), 'l04-claude-home-'));
  const work = mkdtempSync(join(tmpdir(), 'l04-claude-work-'));
  onCleanup(() => {
    rmSync(home, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    CLAUDE_CONFIG_DIR: join(home, '.claude'),
    ANTHROPIC_BASE_URL: url,
    ANTHROPIC_API_KEY: 'sk-l04-claude-code-key-0001',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
  };
  return run(claude, ['-p', 'Why is the sky blue? Answer in one sentence.', '--model', model], { cwd: work, env, timeout: 90_000 });
}

describe('Claude Code through the gateway', () => {
  it('completes a prompt routed to an Anthropic upstream, with thinking and context management passed through', async () => {
    const { url, calls, anthropic } = await gateway();
    const { stdout } = await askClaude(url, 'claude-sonnet-4-5');
    expect(stdout).toContain('Hello! The sky is blue because of Rayleigh scattering.');
    // Every route Claude Code called (print mode: `POST /v1/messages?beta=true`), each answered with success.
    expect(calls.map((call) => `${call.method} ${call.url.split('?')[0]}`)).toContain('POST /v1/messages');
    expect(calls.filter((call) => call.status >= 400)).toEqual([]);
    expect(calls.some((call) => call.method === 'POST' && call.url.startsWith('/v1/messages'))).toBe(true);
    const upstream = anthropic.requests.find((request) => request.path === '/v1/messages');
    const body = upstream?.body as Record<string, unknown>;
    // What Claude Code sent reached Anthropic intact: its tools, system blocks and Anthropic-only fields.
    expect(Array.isArray(body.tools) && body.tools.length).toBeGreaterThan(3);
    expect(Array.isArray(body.system)).toBe(true);
    expect(body.stream).toBe(true);
    expect(upstream?.headers['anthropic-beta']).toBeTypeOf('string');
    expect(body.thinking).toMatchObject({ type: 'enabled' });
    expect(body.context_management).toBeTypeOf('object');
    expect(body.metadata).toBeTypeOf('object');
  });

  it('completes a prompt routed to an OpenAI-compatible upstream, Anthropic-only features dropped', async () => {
    const { url, calls, openai } = await gateway();
    const { stdout } = await askClaude(url, 'claude-opus-4-5');
    expect(stdout).toContain('The sky looks blue because air scatters short blue wavelengths of sunlight more than red ones.');
    expect(calls.filter((call) => call.status >= 400)).toEqual([]);
    const upstream = openai.requests.find((request) => request.path === '/v1/chat/completions');
    const body = upstream?.body as Record<string, unknown>;
    expect(body.model).toBe('plain');
    expect(body).not.toHaveProperty('thinking');
    expect(body).not.toHaveProperty('context_management');
    expect(Array.isArray(body.tools) && body.tools.length).toBeGreaterThan(3);
  });
});
