/**
 * A private `redis-server` for fault tests: started on a free port (no persistence), stopped and
 * restarted mid-test, always killed in cleanup. Plus a TCP proxy in front of a Redis that can
 * swallow replies and cut the connection, to simulate a connection lost mid-command.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { onCleanup } from './cleanup.js';

/** A Redis process the test owns. */
export interface PrivateRedisServer {
  readonly port: number;
  readonly url: string;
  /** Kills the server (SIGKILL: like a crash) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: nothing is persisted) and waits until it answers PING. */
  start(): Promise<void>;
}

/** Starts `redis-server --port N --save "" --appendonly no` (DEBUG allowed locally) on a free port; killed after the test. */
export async function startRedisServer(): Promise<PrivateRedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const server: PrivateRedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      const running = child;
      child = undefined;
      if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      running.kill('SIGKILL');
      await exited;
    },
    async start() {
      if (child !== undefined) return;
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--enable-debug-command', 'local'], {
        stdio: 'ignore',
      });
      await waitForPong(port);
    },
  };
  onCleanup(() => server.stop());
  await server.start();
  return server;
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/** Polls with a raw PING until the server answers (bounded at 3 s). */
async function waitForPong(port: number): Promise<void> {
  const giveUpAt = performance.now() + 3_000;
  while (performance.now() < giveUpAt) {
    if (await ping(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`redis-server on port ${port} did not start`);
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setTimeout(200);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** A TCP proxy to a Redis; `cutNextReply()` makes it swallow the next reply and drop the connection. */
export interface RedisProxy {
  readonly url: string;
  /** The next reply from Redis is discarded and the client connection is cut: the command ran, the caller never learns. */
  cutNextReply(): void;
  /** Every chunk the clients sent, in order (one socket write of the client arrives as one chunk on loopback). */
  readonly sent: Buffer[];
}

/** Starts a proxy on a free port in front of `127.0.0.1:targetPort`; closed after the test. */
export async function startRedisProxy(targetPort: number): Promise<RedisProxy> {
  let cut = false;
  const sent: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (data: Buffer) => {
      sent.push(data);
      upstream.write(data);
    });
    upstream.on('data', (data) => {
      if (cut) {
        cut = false;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(data);
    });
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  onCleanup(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  });
  return {
    url: `redis://127.0.0.1:${address.port}`,
    cutNextReply() {
      cut = true;
    },
    sent,
  };
}

/** The commands (each an array of its arguments as strings) in a run of RESP bytes a client sent; a partial command at the end is left out. */
export function respCommands(bytes: Buffer): string[][] {
  const commands: string[][] = [];
  let offset = 0;
  const line = (): string | undefined => {
    const end = bytes.indexOf('\r\n', offset);
    if (end < 0) return undefined;
    const text = bytes.subarray(offset, end).toString('latin1');
    offset = end + 2;
    return text;
  };
  while (offset < bytes.length) {
    const header = line();
    if (header === undefined || !header.startsWith('*')) break;
    const args: string[] = [];
    for (let index = Number(header.slice(1)); index > 0; index--) {
      const size = line();
      if (size === undefined || !size.startsWith('$') || offset + Number(size.slice(1)) + 2 > bytes.length) return commands;
      args.push(bytes.subarray(offset, offset + Number(size.slice(1))).toString('latin1'));
      offset += Number(size.slice(1)) + 2;
    }
    commands.push(args);
  }
  return commands;
}
