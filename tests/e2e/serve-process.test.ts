/**
 * `l04-gateway serve` as a real process: a taken port is one line and exit 1; a request's log
 * line is on standard output when its answer arrives (so a crash right after loses nothing); a
 * clean shutdown on SIGTERM with Redis state raises no "Redis unavailable" alarm.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';

const CLI = ['--import', 'tsx', join(import.meta.dirname, '..', '..', 'src', 'cli.ts')];
const MEMORY_CONFIG =
  'state: {backend: memory}\nproviders: {mock: {type: mock}}\nmodels: {mock-1: {provider: mock}}\ncache: {enabled: false}\nhealth: {enabled: false}\n';

interface Serving {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function configFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'l04-serve-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, yaml);
  return file;
}

function startServe(args: string[]): Serving {
  const child = spawn(process.execPath, [...CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** The service's URL, from the line `serve` prints once it listens. */
async function servingUrl(serving: Serving): Promise<string> {
  for (;;) {
    const match = /serving \d+ models on (http:\/\/\S+) /.exec(serving.stderr());
    if (match?.[1] !== undefined) return match[1];
    if (serving.child.exitCode !== null) throw new Error(`serve exited: ${serving.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('l04-gateway serve (a real process)', () => {
  it('exits 1 with one clear line when the port is already in use', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const port = (holder.address() as AddressInfo).port;
    const serving = startServe(['--config', configFile(MEMORY_CONFIG), '--port', String(port)]);
    expect(await serving.exited).toBe(1);
    const lines = serving.stderr().trim().split('\n');
    expect(lines).toEqual([
      `l04-gateway: cannot listen on 127.0.0.1:${port}: the port is already in use (EADDRINUSE); stop the process that holds it, or pass --port`,
    ]);
  });

  it('has written the request’s log line when the answer arrives, so a crash right after loses nothing', async () => {
    const serving = startServe(['--config', configFile(MEMORY_CONFIG), '--port', '0', '--log-format', 'json']);
    const url = await servingUrl(serving);
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-1', messages: [{ role: 'user', content: 'hello' }] }),
    });
    expect(response.status).toBe(200);
    const requestId = response.headers.get('x-l04-request-id');
    serving.child.kill('SIGKILL'); // no shutdown, no flush
    await serving.exited;
    const lines = serving
      .stdout()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'request completed', request_id: requestId, model: 'mock-1' }));
  });

  it('shuts down cleanly on SIGTERM without reporting Redis unavailable', async () => {
    const prefix = `l04-serve-test-${randomBytes(4).toString('hex')}:`;
    const config = MEMORY_CONFIG.replace('state: {backend: memory}', `state: {backend: redis, redis_url: "redis://127.0.0.1:6379", key_prefix: "${prefix}"}`);
    const serving = startServe(['--config', configFile(config), '--port', '0', '--log-format', 'json']);
    await servingUrl(serving);
    serving.child.kill('SIGTERM');
    expect(await serving.exited).toBe(0);
    expect(serving.stdout()).toContain('Redis connected');
    expect(serving.stdout()).not.toContain('Redis unavailable');
    expect(serving.stderr()).toContain('SIGTERM: finishing in-flight requests');
  });
});
