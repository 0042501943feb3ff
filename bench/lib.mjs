// Shared bench helpers: free ports, child processes that are always killed, waiting for a port.
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { createServer } from 'node:net';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** ../shared/bench beside the repo (or BENCH_SHARED). */
export const sharedBench = process.env.BENCH_SHARED ?? resolve(root, '..', 'shared', 'bench');
export const haveShared = existsSync(join(sharedBench, 'floor-proxy.mjs'));

/**
 * CPU pinning of the HTTP benchmarks (`BENCH_PIN`, default on where `taskset` exists and the
 * machine has two CPUs or more): the proxy under test — the floor, a gateway, Portkey — runs alone
 * on CPU 0, and the load generator and the upstream share the others, so that the harness never
 * takes CPU from what it measures and every proxy gets the same one core. `BENCH_PIN=0` lets the
 * scheduler place everything.
 */
export const pinning =
  process.env.BENCH_PIN !== '0' && availableParallelism() >= 2 && spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' }).status === 0;
/**
 * The Node.js that runs the proxies under test — the floor and every gateway — (`BENCH_NODE`, a
 * path to a `node` binary; default the one running the bench). The harness (load generator,
 * upstream) always runs on the bench's own Node, so that two versions meet the same load.
 */
export const proxyNode = process.env.BENCH_NODE ?? process.execPath;
/** `proxyNode`'s version, for the report. */
export const proxyNodeVersion = spawnSync(proxyNode, ['-v'], { encoding: 'utf8' }).stdout.trim();

/** The CPU of the process under test, and the CPUs of the harness. */
export const CPUS = { measured: '0', harness: `1-${Math.max(1, availableParallelism() - 1)}` };

/** `[command, args]` to run `command` on the CPUs `set` (as it is when pinning is off). */
export function onCpus(set, command, args) {
  return pinning ? ['taskset', ['-c', set, command, ...args]] : [command, args];
}

const children = new Set();
// Children run in their own process group so that wrappers (npx) take their own children down with them.
const killGroup = (child, signal) => {
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
};
process.on('exit', () => {
  for (const child of children) killGroup(child, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

export async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** Starts a process; resolves once `port` accepts connections. */
export async function startProcess(command, args, port, options = {}) {
  const child = spawn(command, args, {
    stdio: ['ignore', options.stdout ?? 'ignore', 'pipe'],
    cwd: root,
    env: { ...process.env, ...options.env },
    detached: true,
  });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  child.on('exit', () => children.delete(child));
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${command} ${args.join(' ')} exited: ${stderr}`);
    if (await accepts(port)) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  killGroup(child, 'SIGKILL');
  throw new Error(`${command} ${args.join(' ')} did not listen on ${port}: ${stderr}`);
}

async function accepts(port) {
  const { connect } = await import('node:net');
  return new Promise((r) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      r(true);
    });
    socket.once('error', () => r(false));
  });
}

export function stop(child) {
  if (child && child.exitCode === null) killGroup(child, 'SIGTERM');
  if (child) children.delete(child);
}

/** Runs a node script (on the CPUs `cpus` when pinning, else anywhere), returns its parsed JSON stdout. */
export async function runJson(args, env = {}, cpus = undefined) {
  const [command, commandArgs] = cpus === undefined ? [process.execPath, args] : onCpus(cpus, process.execPath, args);
  const child = spawn(command, commandArgs, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  children.add(child);
  let out = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
  });
  const code = await new Promise((r) => child.on('exit', r));
  children.delete(child);
  if (code !== 0) throw new Error(`node ${args.join(' ')} exited ${code}`);
  return JSON.parse(out.trim().split('\n').pop());
}

/** CPU time of `pid`, every thread (V8's GC helpers included), in µs; undefined without Linux's /proc. */
export function cpuMicros(pid) {
  if (pid === undefined || !existsSync(`/proc/${pid}/task`)) return undefined;
  let ticks = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const fields = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // A thread that ended between the listing and the read.
    }
  }
  return ticks * 10_000; // USER_HZ is 100 on Linux
}

/** A private, non-persistent redis-server on the harness CPUs; resolves with its URL and process. */
export async function startPrivateRedis() {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'];
  return { url: `redis://127.0.0.1:${port}`, child: await startProcess(...onCpus(CPUS.harness, 'redis-server', args), port) };
}

/**
 * The configuration of a benchmarked gateway: one OpenAI-type provider on the instant upstream
 * (model `bench-openai`), limits far out of reach, the local embedder, no health checks.
 */
export function benchGatewayConfig({ port, state, cache, upstreamPort, redisUrl, keyPrefix, logLevel = 'info' }) {
  return {
    server: { host: '127.0.0.1', port },
    state: { backend: state, key_prefix: keyPrefix, ...(state === 'redis' && redisUrl !== undefined ? { redis_url: redisUrl } : {}) },
    providers: { upstream: { type: 'openai', base_url: `http://127.0.0.1:${upstreamPort}/v1`, max_concurrency: 1024 } },
    models: { 'bench-openai': { provider: 'upstream', capabilities: ['text'] } },
    rate_limits: { agent_default: { rpm: 1_000_000_000, tpm: 1_000_000_000_000 } },
    cache: { enabled: cache, embedder: { provider: 'local' } },
    health: { enabled: false },
    logging: { level: logLevel },
  };
}
