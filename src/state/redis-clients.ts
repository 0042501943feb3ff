/**
 * Builds the node-redis clients behind a `RedisConnection`: one standalone client, or one cluster
 * client (which keeps a connection to every master and follows MOVED/ASK redirections by itself).
 * Every client is built the same way:
 * - no offline queue: while disconnected, commands fail at once and callers fall back;
 * - no node-redis command timeout: the connection bounds waits itself (`reply-deadline.ts`), from
 *   the write and judged after pending replies are read, and aborts what it gives up on;
 * - reconnects forever with capped backoff until the connection is closed.
 */
import { createClient, createCluster } from '@redis/client';
import type { RedisArgument } from '@redis/client';
import { keySlot } from './key-slot.js';

/** What every client needs. */
export interface ClientSettings {
  connectTimeoutMs: number;
  /** False once the connection is closed: no more reconnects. */
  shouldReconnect: () => boolean;
}

/** A standalone node-redis client as this module builds it. */
export type StandaloneClient = ReturnType<typeof createStandaloneClient>;
/** A cluster node-redis client as this module builds it. */
export type ClusterClient = ReturnType<typeof createClusterClient>;

/**
 * node-redis stops writing its queue once the socket holds a high-water mark of bytes and resumes
 * only on 'drain', from a later turn of the event loop. With Node's default mark (16 KiB) a busy
 * gateway (cache payloads, a hundred requests per turn) keeps commands waiting in the process for
 * several turns. A larger mark sends each batch in one write; the kernel takes what it can and
 * libuv flushes the rest without waiting for the event loop. The queue is bounded by the requests
 * in flight either way.
 */
const WRITE_HIGH_WATER_MARK = 4 * 1024 * 1024;

function socketOptions(settings: ClientSettings) {
  return {
    writableHighWaterMark: WRITE_HIGH_WATER_MARK,
    connectTimeout: settings.connectTimeoutMs,
    // Capped backoff; between attempts commands fail fast (no offline queue).
    reconnectStrategy: (retries: number) => (settings.shouldReconnect() ? Math.min(50 * 2 ** retries, 1_000) : false),
  } as const;
}

/**
 * The client-wide command options. node-redis merges them into every command's own options with
 * `{ ...clientOptions, ...commandOptions }`; on Node 20 (V8 11.3) a spread that then adds keys the
 * first object lacks takes V8's slow path: 3.3 µs a command against 1.7 µs (`scripts/redis-command-cost.ts`).
 * Declaring, unset, every key the connection passes per command (and the slot a cluster adds)
 * makes each merge overwrite keys instead, as cheap as sending no options.
 * `timeout: 0` turns node-redis's own per-command timer off (its default is 5 s since v6).
 */
export const COMMAND_OPTIONS = { timeout: 0, typeMapping: undefined, abortSignal: undefined, slotNumber: undefined } as const;

const COMMON = {
  disableOfflineQueue: true,
  commandOptions: COMMAND_OPTIONS,
  // Redis Enterprise maintenance notifications are of no use against open-source Redis.
  maintNotifications: 'disabled',
} as const;

/** A standalone client for `url` (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS). */
export function createStandaloneClient(url: string, settings: ClientSettings) {
  return createClient({ ...COMMON, url, socket: socketOptions(settings) });
}

/**
 * A cluster client seeded by `urls` (any nodes of the cluster). Credentials and TLS come from the
 * first URL and apply to every node: the seeds only serve to discover the topology.
 */
export function createClusterClient(urls: readonly string[], settings: ClientSettings) {
  const first = new URL(urls[0] ?? 'redis://localhost:6379');
  const credentials = {
    ...(first.username === '' ? {} : { username: decodeURIComponent(first.username) }),
    ...(first.password === '' ? {} : { password: decodeURIComponent(first.password) }),
  };
  const tls = first.protocol === 'rediss:';
  return createCluster({
    rootNodes: urls.map((url) => ({ url })),
    defaults: { ...COMMON, ...credentials, socket: { ...socketOptions(settings), ...(tls ? { tls: true as const } : {}) } },
    commandOptions: COMMAND_OPTIONS,
    useReplicas: false,
  });
}

/** `host:port` of a Redis URL, for health reports (never the credentials). */
export function addressOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port === '' ? '6379' : parsed.port}`;
  } catch (_error) {
    return 'invalid url';
  }
}

/** Whether an `INFO cluster` reply says the server runs in cluster mode. */
export function isClusterEnabled(info: unknown): boolean {
  return /^cluster_enabled:1\s*$/m.test(String(info));
}

/** The client behind a connection: one standalone server, or a cluster. */
export type Backend = { kind: 'standalone'; client: StandaloneClient; address: string } | { kind: 'cluster'; cluster: ClusterClient };

/** One master, with a way to send to it directly (watchdog PINGs, SCAN, script loading). */
export interface MasterNode {
  address: string;
  connected: boolean;
  send(args: readonly RedisArgument[], signal: AbortSignal): Promise<unknown>;
}

/** Every master of a backend (standalone: the one server). */
export function mastersOf(backend: Backend | undefined): MasterNode[] {
  if (backend === undefined) return [];
  if (backend.kind === 'standalone') {
    const client = backend.client;
    return [{ address: backend.address, connected: client.isReady, send: (args, signal) => client.sendCommand(args, { abortSignal: signal }) }];
  }
  const cluster = backend.cluster;
  return cluster.masters.map((master) => ({
    address: master.address,
    connected: master.client?.isReady ?? false,
    send: async (args: readonly RedisArgument[], signal: AbortSignal) => (await cluster.nodeClient(master)).sendCommand(args, { abortSignal: signal }),
  }));
}

/** The address of the master that owns `key` (standalone: the server), for per-node bookkeeping. */
export function addressOfKey(backend: Backend, key: string | undefined): string {
  if (backend.kind === 'standalone') return backend.address;
  if (key === undefined) return 'any';
  return backend.cluster.slots[keySlot(key)]?.master.address ?? 'unknown';
}

/**
 * Closes gracefully when connected (pending replies arrive, for at most `graceMs`), else — or
 * after the grace, or with `destroy` — drops the connection at once, failing what is pending.
 */
export async function closeBackend(backend: Backend, destroy = false, graceMs = 1_000): Promise<void> {
  const client = backend.kind === 'standalone' ? backend.client : backend.cluster;
  try {
    if (!destroy && client.isReady) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
        timer.unref();
      });
      const closed = await Promise.race([client.close().then(() => true), grace]).finally(() => clearTimeout(timer));
      if (closed) return;
    }
    // Idempotent in node-redis, and escalates a close still draining.
    client.destroy();
  } catch (_error) {
    // Already closed or broken: nothing more to release.
  }
}
