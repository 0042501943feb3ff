import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GatewayConfigSchema } from '../src/config/config-schema.js';
import { clientErrorFor, serverOptions } from '../src/server/server-limits.js';
import { parseWorkersFlag, workerCount } from '../src/server/workers.js';
import { heapBoundFlags } from '../src/server/heap-bound.js';
import { runCli } from '../src/cli/run-cli.js';
import type { CliIo } from '../src/cli/cli-support.js';
import { onCleanup } from './helpers/cleanup.js';
import { mockConfig, startTestServer } from './helpers/gateway.js';

/** Opens a raw connection and resolves with everything the server sends until it closes. */
function rawExchange(url: string, request: string): { socket: Socket; reply: Promise<string> } {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  onCleanup(() => socket.destroy());
  const reply = new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    socket.on('close', () => resolve(text));
    socket.on('error', () => undefined);
  });
  socket.write(request);
  return { socket, reply };
}

describe('server bounds', () => {
  it('turns server.* into node:http options, with timeouts checked every second at most', () => {
    const { server } = GatewayConfigSchema.parse({ server: { request_timeout_ms: 20_000, headers_timeout_ms: 500, max_header_bytes: 8_192 } });
    expect(serverOptions(server)).toEqual({
      requestTimeout: 20_000,
      headersTimeout: 500,
      keepAliveTimeout: 65_000,
      maxHeaderSize: 8_192,
      connectionsCheckingInterval: 500,
    });
    expect(server).toMatchObject({ max_connections: 2048, workers: 1 });
  });

  it('refuses a header timeout longer than the request timeout, and a workers value that is neither a count nor auto', () => {
    expect(GatewayConfigSchema.safeParse({ server: { request_timeout_ms: 1_000, headers_timeout_ms: 2_000 } }).success).toBe(false);
    expect(GatewayConfigSchema.safeParse({ server: { workers: 0 } }).success).toBe(false);
    expect(GatewayConfigSchema.parse({ server: { workers: 'auto' } }).server.workers).toBe('auto');
  });

  it('maps what Node gives up on to E4513 (too slow), E4514 (head too large) or E4500', () => {
    const error = (code: string) => Object.assign(new Error(code), { code });
    expect(clientErrorFor(error('ERR_HTTP_REQUEST_TIMEOUT'))).toMatchObject({ code: 'E4513', httpStatus: 408 });
    expect(clientErrorFor(error('HPE_HEADER_OVERFLOW'))).toMatchObject({ code: 'E4514', httpStatus: 431 });
    expect(clientErrorFor(error('HPE_INVALID_METHOD'))).toMatchObject({ code: 'E4500', httpStatus: 400 });
  });

  it('answers a request head over max_header_bytes with 431 E4514 and closes the connection', async () => {
    const { url } = await startTestServer(mockConfig({ server: { max_header_bytes: 2_048 } }));
    const { reply } = rawExchange(url, `GET /health HTTP/1.1\r\nhost: gateway\r\nx-padding: ${'a'.repeat(4_096)}\r\n\r\n`);
    const text = await reply;
    expect(text).toMatch(/^HTTP\/1\.1 431 /);
    expect(text).toContain('"code":"E4514"');
  });

  it('closes connections beyond max_connections at once', async () => {
    const { url, server } = await startTestServer(mockConfig({ server: { max_connections: 2 } }));
    const held = [rawExchange(url, ''), rawExchange(url, '')];
    const connections = () => new Promise<number>((resolve) => server.server.getConnections((_error, count) => resolve(count)));
    await expect.poll(connections, { interval: 5 }).toBe(2);
    const extra = rawExchange(url, 'GET /health HTTP/1.1\r\nhost: gateway\r\n\r\n');
    expect(await extra.reply).toBe('');
    const [first] = held;
    first!.socket.write('GET /health HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\n\r\n');
    expect(await first!.reply).toMatch(/^HTTP\/1\.1 200 /);
  });
});

describe('heap bound', () => {
  it('asks for the bound when the heap limit is above server.max_heap_mb, and not when it fits or the bound is off', () => {
    const MB = 1024 * 1024;
    expect(GatewayConfigSchema.parse({}).server.max_heap_mb).toBe(512);
    expect(heapBoundFlags(512, 4_144 * MB)).toEqual(['--max-old-space-size=512', '--max-semi-space-size=16']);
    // Started with both flags, Node reports 512 + 3 × 16 MB; Node 24 with the old-space flag alone reports 704 MB.
    expect(heapBoundFlags(512, 560 * MB)).toBeUndefined();
    expect(heapBoundFlags(512, 704 * MB)).toHaveLength(2);
    expect(heapBoundFlags(0, 4_144 * MB)).toBeUndefined();
    expect(GatewayConfigSchema.safeParse({ server: { max_heap_mb: 32 } }).success).toBe(false);
  });
});

describe('serve --workers', () => {
  it('reads --workers as a count or auto', () => {
    expect(parseWorkersFlag('2')).toBe(2);
    expect(parseWorkersFlag('auto')).toBe('auto');
    for (const bad of ['0', '-1', 'two', '1.5', '257', '']) expect(parseWorkersFlag(bad)).toBeUndefined();
    expect(workerCount('auto')).toBeGreaterThanOrEqual(1);
    expect(workerCount(3)).toBe(3);
  });

  it('refuses more than one worker with the memory backend, with E4000, before forking any', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'l04-workers-'));
    onCleanup(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'memory.json');
    writeFileSync(file, JSON.stringify(mockConfig({ server: { port: 0 } })));
    const io: CliIo = { stdout: () => undefined, stderr: () => undefined, now: () => Date.now() };
    // In process: a forked worker would run this test file again. The command's entry point prints
    // the error as one line and exits 1 (tests/e2e/workers.test.ts runs it as a process).
    await expect(runCli(['serve', '--workers', '2', '--config', file], io)).rejects.toMatchObject({
      code: 'E4000',
      message: expect.stringContaining('2 workers need shared state in Redis: state.backend is memory'),
    });
  });
});
