/**
 * `l04-gateway serve --workers 2` as a real process tree: a node:cluster primary and two workers
 * (each with the heap bound) sharing one port and their state in the real Redis (a private key
 * prefix), answering requests, `/metrics` summed over both workers, and SIGTERM stopping every process.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { mockConfig } from '../helpers/gateway.js';
import { REDIS_URL, testRedis } from '../helpers/redis.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

/** One HTTP exchange on a connection of its own, so that the primary hands each to the next worker. */
function call(url: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const outgoing = request(
      `${url}${path}`,
      { method: payload === undefined ? 'GET' : 'POST', agent: false, headers: payload === undefined ? {} : { 'content-type': 'application/json' } },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}

/** The worker pids of `pid` (Linux: its children). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts `serve --workers 2`; resolves once the primary says every worker listens. */
async function serveWithWorkers(keyPrefix: string): Promise<{ primary: ChildProcess; url: string; output: () => string }> {
  const dir = mkdtempSync(join(tmpdir(), 'l04-workers-'));
  const file = join(dir, 'workers.json');
  writeFileSync(
    file,
    JSON.stringify(
      mockConfig({
        server: { host: '127.0.0.1', port: 0 },
        state: { backend: 'redis', redis_url: REDIS_URL, key_prefix: keyPrefix },
        logging: { level: 'warn' },
      }),
    ),
  );
  const primary = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--workers', '2', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  primary.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  primary.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  onCleanup(() => {
    for (const pid of childrenOf(primary.pid ?? 0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    if (primary.exitCode === null) primary.kill('SIGKILL');
  });
  const url = await new Promise<string>((resolve, reject) => {
    const check = setInterval(() => {
      const match = /2 workers serving \d+ models on (http:\/\/[\d.:]+)/.exec(output);
      if (match?.[1] !== undefined) {
        clearInterval(check);
        resolve(match[1]);
      } else if (primary.exitCode !== null) {
        clearInterval(check);
        reject(new Error(`serve --workers 2 exited: ${output}`));
      }
    }, 20);
  });
  return { primary, url, output: () => output };
}

describe('serve --workers 2', () => {
  it('answers from two workers, sums /metrics over both, and stops every process on SIGTERM', async () => {
    const redis = await testRedis();
    const { primary, url, output } = await serveWithWorkers(redis.keyPrefix);
    const workers = childrenOf(primary.pid!);
    expect(workers).toHaveLength(2);
    // Each worker runs with the heap bound (server.max_heap_mb, 512 by default).
    for (const pid of workers)
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toEqual(
        expect.arrayContaining(['--max-old-space-size=512', '--max-semi-space-size=16']),
      );

    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        call(url, '/v1/chat/completions', { model: 'mock-1', messages: [{ role: 'user', content: `question ${index}` }] }),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 8 }, () => 200));

    // Each scrape lands on one worker; each must count the requests both workers served.
    for (let scrape = 0; scrape < 2; scrape++) {
      const metrics = await call(url, '/metrics');
      expect(metrics.status).toBe(200);
      const served = [...metrics.text.matchAll(/^l04_requests_total\{[^}]*status="ok"[^}]*\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
      expect(served).toBe(8);
    }

    const exited = new Promise<number | null>((resolve) => primary.once('exit', (code) => resolve(code)));
    primary.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(workers.filter(alive)).toEqual([]);
    expect(output()).toContain('SIGTERM: stopping 2 workers');
  });

  it('refuses more than one worker with the memory backend: one line, exit 1, no worker forked', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'l04-workers-'));
    const file = join(dir, 'memory.json');
    writeFileSync(file, JSON.stringify(mockConfig({ server: { port: 0 } })));
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--workers', '2', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([expect.stringContaining('E4000 2 workers need shared state in Redis: state.backend is memory')]);
  });
});
