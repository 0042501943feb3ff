/**
 * A TCP proxy a test starts in front of a real server (PostgreSQL) and then stops and restarts on
 * the same port, to stage an outage without touching the server itself. `stop()` closes the
 * listener and destroys every open connection, as a crashed or unplugged server would; `stall()`
 * keeps connections open but forwards nothing, as a hung one would.
 */
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { onCleanup } from './cleanup.js';

/** A running proxy; `port` stays the same across `stop()` / `start()`. */
export interface TcpProxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Listens again on the same port (and forwards again after `stall()`). */
  start(): Promise<void>;
  /** Closes the listener and destroys every open connection. */
  stop(): Promise<void>;
  /** Keeps connections open but forwards nothing more, as a hung server would. */
  stall(): void;
}

/** Starts a proxy on 127.0.0.1 (a free port) forwarding to `target`; stopped in cleanup. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let accepted = 0;
  let stalled = false;

  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };

  const listen = async (): Promise<void> => {
    const next = createServer((client) => {
      accepted += 1;
      const upstream = connect(target.port, target.host);
      track(client);
      track(upstream);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      // Forwarded by hand rather than piped, so that `stall()` can hold traffic mid-connection.
      client.on('data', (chunk: Buffer) => {
        if (!stalled) upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        if (!stalled) client.write(chunk);
      });
    });
    await new Promise<void>((resolve, reject) => {
      next.once('error', reject);
      next.listen(port, '127.0.0.1', () => {
        next.off('error', reject);
        resolve();
      });
    });
    const address = next.address();
    if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address');
    port = address.port;
    server = next;
  };

  const stop = async (): Promise<void> => {
    const current = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (current !== undefined) await new Promise<void>((resolve) => current.close(() => resolve()));
  };

  await listen();
  onCleanup(stop);
  return {
    get port() {
      return port;
    },
    get accepted() {
      return accepted;
    },
    start: async () => {
      stalled = false;
      if (server === undefined) await listen();
    },
    stop,
    stall: () => {
      stalled = true;
    },
  };
}
