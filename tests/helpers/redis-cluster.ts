/**
 * A throwaway Redis Cluster of three masters for integration tests: `redis-server
 * --cluster-enabled yes` on free ports (each with its cluster bus port free too), joined by
 * `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`, ready once every node reports
 * `cluster_state:ok`; torn down by killing the processes and removing the temporary folder.
 *
 * The fast suite starts one cluster per run in `tests/global-setup.ts` and hands its URLs to the
 * test files (`sharedClusterNodes()`); joining takes `redis-cli` about three seconds, so the global
 * setup does not wait for it — the first test that needs the cluster waits, while other files run.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Seed URLs of the run's Redis Cluster (every master), from tests/global-setup.ts. */
    redisClusterNodes: string[];
    /** Where `redis-cli --cluster create` writes its output, for error messages. */
    redisClusterLog: string;
  }
}

/** A running cluster. */
export interface RedisClusterProcesses {
  readonly ports: number[];
  /** `redis://127.0.0.1:<port>` of every master. */
  readonly urls: string[];
  /** The `redis-cli --cluster create` output. */
  readonly logFile: string;
  /** Resolves once every node reports `cluster_state:ok` (bounded by `timeoutMs`). */
  ready(timeoutMs?: number): Promise<void>;
  /** Kills every process (SIGKILL) and removes the temporary folder. */
  stop(): Promise<void>;
}

/** Starts `masters` cluster-enabled servers and joins them in the background (see `ready()`). */
export async function startRedisCluster(masters = 3): Promise<RedisClusterProcesses> {
  const dir = mkdtempSync(join(tmpdir(), 'l04-redis-cluster-'));
  const ports: number[] = [];
  while (ports.length < masters) {
    const port = await freeClusterPort();
    if (!ports.includes(port)) ports.push(port);
  }
  const children: ChildProcess[] = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--cluster-enabled',
        'yes',
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ],
      { stdio: 'ignore' },
    ),
  );
  const logFile = join(dir, 'cluster-create.log');
  const stop = async (): Promise<void> => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(ports.map(async (port) => waitUntil(async () => (await ask(port, 'PING')).startsWith('+PONG'), 3_000, `redis-server on ${port}`)));
  } catch (error) {
    await stop();
    throw error;
  }
  const log = openSync(logFile, 'w');
  const create = spawn('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'], {
    stdio: ['ignore', log, log],
  });
  children.push(create);
  create.once('exit', () => closeSync(log));
  return {
    ports,
    urls: ports.map((port) => `redis://127.0.0.1:${port}`),
    logFile,
    ready: (timeoutMs = 15_000) => waitForClusterOk(ports, timeoutMs, logFile),
    stop,
  };
}

/** Waits until every node answers `CLUSTER INFO` with `cluster_state:ok`. */
export async function waitForClusterOk(ports: readonly number[], timeoutMs: number, logFile?: string): Promise<void> {
  try {
    await waitUntil(
      async () => (await Promise.all(ports.map(async (port) => (await ask(port, 'CLUSTER INFO')).includes('cluster_state:ok')))).every(Boolean),
      timeoutMs,
      `cluster on ${ports.join(', ')}`,
    );
  } catch (error) {
    const output = logFile === undefined ? '' : readLog(logFile);
    throw new Error(`${error instanceof Error ? error.message : String(error)}${output === '' ? '' : `; redis-cli said: ${output}`}`, { cause: error });
  }
}

let shared: Promise<string[]> | undefined;

/** The run's cluster (tests/global-setup.ts), once it is ok: the seed URLs of its three masters. */
export function sharedClusterNodes(): Promise<string[]> {
  shared ??= (async () => {
    const nodes = inject('redisClusterNodes');
    await waitForClusterOk(
      nodes.map((url) => Number(new URL(url).port)),
      15_000,
      inject('redisClusterLog'),
    );
    return nodes;
  })();
  return shared;
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8')
      .replace(/\[[0-9;]*m/g, '')
      .trim()
      .slice(-500);
  } catch (_error) {
    return '';
  }
}

/** A port P with P and its cluster bus port P + 10000 both free. */
async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 25_000);
    if ((await canListen(port)) && (await canListen(port + 10_000))) return port;
  }
  throw new Error('no free port pair for a cluster node');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const giveUpAt = performance.now() + timeoutMs;
  while (performance.now() < giveUpAt) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${what} was not ready within ${timeoutMs} ms`);
}

/** Sends one inline command over a raw socket; resolves with the raw reply ('' on any failure). */
function ask(port: number, command: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(300);
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (data) => {
      reply += data.toString();
      // A simple reply ends at the first CRLF; a bulk reply ($<length>) once its body arrived.
      const bulk = /^\$(\d+)\r\n/.exec(reply);
      if (bulk === null ? reply.includes('\r\n') : reply.length >= bulk[0].length + Number(bulk[1]) + 2) {
        socket.destroy();
        resolve(reply);
      }
    });
    socket.once('error', () => resolve(''));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(reply);
    });
  });
}
