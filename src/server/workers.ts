/**
 * `serve --workers N` (or `server.workers`): N processes serve the one port through node:cluster.
 * The primary serves nothing itself; it checks that state is shared (Redis: with the memory backend
 * each worker would hold its own limits, cache and spend, so more than one worker is refused with
 * E4000), forks the workers (each with the heap bound, `server.max_heap_mb`), replaces one that dies
 * after it started, answers `/metrics` for all of them, and on SIGTERM or SIGINT stops every worker
 * gracefully before it exits.
 *
 * `/metrics` reaches one worker; that worker asks the primary, which collects every worker's
 * registry as JSON and sums it with prom-client's `AggregatorRegistry`. Each worker samples its
 * queues when collected, so the figures are as of the scrape.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry } from 'prom-client';

import type { GatewayConfig } from '../config/config-schema.js';
import { ConfigurationError, InternalError } from '../models/error-codes.js';
import { GatewayMetrics } from '../observability/metrics.js';
import { RedisConnection } from '../state/redis-connection.js';
import { heapBoundFlags } from './heap-bound.js';
import type { ModelGateway } from '../gateway/model-gateway.js';

/** One worker's registry as prom-client's `getMetricsAsJSON()` gives it (what `AggregatorRegistry.aggregate` sums). */
type MetricJson = Awaited<ReturnType<GatewayMetrics['registry']['getMetricsAsJSON']>>[number];

/** The `server.workers` setting: a count, or `auto` for one worker per core. */
export type WorkersSetting = GatewayConfig['server']['workers'];

/** How long a metrics collection waits for the workers, in milliseconds. */
export const METRICS_COLLECT_TIMEOUT_MS = 2_000;
/** How long the primary waits for every worker to listen, in milliseconds. */
export const WORKER_START_TIMEOUT_MS = 60_000;
/** Extra time beyond `server.shutdown_grace_ms` a worker gets to close its gateway (ledger flush), in milliseconds. */
const WORKER_CLOSE_MARGIN_MS = 5_000;
/** Unexpected worker exits tolerated per minute before the primary gives up (a crash loop). */
const MAX_RESTARTS_PER_MINUTE = 5;

/** Messages between the primary and its workers (node:cluster IPC). */
type ClusterMessage =
  | { l04: 'listening'; url: string }
  | { l04: 'metrics-request'; id: number }
  | { l04: 'metrics-response'; id: number; body?: string; error?: string }
  | { l04: 'metrics-collect'; id: number }
  | { l04: 'metrics-part'; id: number; metrics: MetricJson[] };

/** `--workers` as written: a positive integer or `auto`; `undefined` when it is neither. */
export function parseWorkersFlag(value: string): WorkersSetting | undefined {
  if (value === 'auto') return 'auto';
  const count = /^\d{1,3}$/.test(value) ? Number(value) : NaN;
  return count >= 1 && count <= 256 ? count : undefined;
}

/** The number of worker processes a setting asks for (`auto`: the cores Node may use). */
export function workerCount(setting: WorkersSetting): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

/** Whether this process is a worker forked by `runPrimary`. */
export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/** Options of `runPrimary`. */
export interface PrimaryOptions {
  config: GatewayConfig;
  workers: number;
  /** Where the primary's lines go (stderr in the CLI). */
  log: (line: string) => void;
}

/**
 * Runs the cluster primary: refuses per-process state (E4000), forks `workers` copies of this
 * command, and resolves with the exit code once they have all stopped (0 after a signal, 1 when a
 * worker failed before it listened or kept crashing).
 */
export async function runPrimary(options: PrimaryOptions): Promise<number> {
  await requireSharedState(options.config, options.workers);
  return new Primary(options).run();
}

/** More than one worker needs Redis: the memory backend, or `auto` without an answering Redis, is refused. */
async function requireSharedState(config: GatewayConfig, workers: number): Promise<void> {
  const { state } = config;
  const refuse = (reason: string): never => {
    throw new ConfigurationError('E4000', `${workers} workers need shared state in Redis: ${reason}`, {
      details: { issues: [{ path: 'server.workers', message: `more than one worker needs state.backend redis (${reason})` }] },
    });
  };
  if (state.backend === 'memory') refuse('state.backend is memory, so each worker would keep its own limits, cache and spend');
  if (state.backend !== 'auto') return;
  const connection = new RedisConnection({ url: state.redis_url, keyPrefix: state.key_prefix, commandTimeoutMs: state.command_timeout_ms });
  try {
    if (!(await connection.connect())) refuse(`state.backend is auto and Redis at ${state.redis_url} is not answering`);
  } finally {
    await connection.close();
  }
}

class Primary {
  private readonly options: PrimaryOptions;
  private readonly listening = new Map<number, string>();
  private readonly collections = new Map<number, { parts: MetricJson[][]; waiting: Set<number>; done: () => void }>();
  private readonly exits: number[] = [];
  private collectionSeq = 0;
  private stopping = false;
  private failed = false;
  private finish: ((code: number) => void) | undefined;

  constructor(options: PrimaryOptions) {
    this.options = options;
  }

  run(): Promise<number> {
    const finished = new Promise<number>((resolve) => (this.finish = resolve));
    const heapFlags = heapBoundFlags(this.options.config.server.max_heap_mb);
    if (heapFlags !== undefined) cluster.setupPrimary({ execArgv: [...process.execArgv, ...heapFlags] });
    cluster.on('message', (worker, message: unknown) => this.onMessage(worker, message));
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    process.on('SIGTERM', () => this.stop('SIGTERM'));
    process.on('SIGINT', () => this.stop('SIGINT'));
    for (let index = 0; index < this.options.workers; index++) cluster.fork();
    const startTimer = setTimeout(() => {
      if (this.listening.size >= this.options.workers) return;
      this.options.log(`l04-gateway: ${this.listening.size} of ${this.options.workers} workers listened within ${WORKER_START_TIMEOUT_MS} ms`);
      this.failed = true;
      this.stop('start-up timeout');
    }, WORKER_START_TIMEOUT_MS);
    startTimer.unref();
    return finished;
  }

  private onMessage(worker: Worker, message: unknown): void {
    if (!isClusterMessage(message)) return;
    switch (message.l04) {
      case 'listening':
        this.listening.set(worker.id, message.url);
        if (this.listening.size === this.options.workers && !this.stopping) {
          const { config } = this.options;
          this.options.log(
            `l04-gateway: ${this.options.workers} workers serving ${Object.keys(config.models).length} models on ${message.url} (primary pid ${process.pid})`,
          );
        }
        return;
      case 'metrics-request':
        this.aggregate().then(
          (body) => send(worker, { l04: 'metrics-response', id: message.id, body }),
          (error: unknown) => send(worker, { l04: 'metrics-response', id: message.id, error: error instanceof Error ? error.message : String(error) }),
        );
        return;
      case 'metrics-part': {
        const collection = this.collections.get(message.id);
        if (collection === undefined || !collection.waiting.delete(worker.id)) return;
        collection.parts.push(message.metrics);
        if (collection.waiting.size === 0) collection.done();
        return;
      }
      case 'metrics-response':
      case 'metrics-collect':
        return;
      default: {
        const exhaustive: never = message;
        throw new InternalError('E4900', `unknown cluster message ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  /** Every live worker's registry, summed; a worker that does not answer in time is left out. */
  private async aggregate(): Promise<string> {
    const id = this.collectionSeq++;
    const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined && worker.isConnected());
    const parts: MetricJson[][] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, METRICS_COLLECT_TIMEOUT_MS);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.collections.set(id, { parts, waiting: new Set(workers.map((worker) => worker.id)), done });
      for (const worker of workers) send(worker, { l04: 'metrics-collect', id });
      if (workers.length === 0) done();
    });
    this.collections.delete(id);
    return AggregatorRegistry.aggregate(parts).metrics();
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const started = this.listening.delete(worker.id);
    if (this.stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) this.finish?.(this.failed ? 1 : 0);
      return;
    }
    const now = Date.now();
    this.exits.push(now);
    while (this.exits.length > 0 && (this.exits[0] as number) < now - 60_000) this.exits.shift();
    const how = signal === null ? `code ${code}` : signal;
    if (!started || this.exits.length > MAX_RESTARTS_PER_MINUTE) {
      this.options.log(`l04-gateway: worker ${worker.process.pid} exited (${how}) ${started ? 'too often' : 'before it listened'}: stopping`);
      this.failed = true;
      this.stop('worker failure');
      return;
    }
    this.options.log(`l04-gateway: worker ${worker.process.pid} exited (${how}): starting another`);
    cluster.fork();
  }

  /** Asks every worker to finish its in-flight requests and stop; kills those that overstay. */
  private stop(reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    this.options.log(`l04-gateway: ${reason}: stopping ${Object.keys(cluster.workers ?? {}).length} workers`);
    const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
    if (workers.length === 0) {
      this.finish?.(this.failed ? 1 : 0);
      return;
    }
    for (const worker of workers) worker.process.kill('SIGTERM');
    const killTimer = setTimeout(() => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    }, this.options.config.server.shutdown_grace_ms + WORKER_CLOSE_MARGIN_MS);
    killTimer.unref();
  }
}

/** How a worker joins the cluster once it serves. */
export interface ClusterWorker {
  /** The worker's config: state in Redis, never a silent per-process fallback at start. */
  config(config: GatewayConfig): GatewayConfig;
  /** The worker's metrics: local for collections, the whole cluster's for `/metrics`. */
  readonly metrics: GatewayMetrics;
  /** Tells the primary this worker serves at `url`; answers collections from now on and stops when the primary goes away. */
  joined(gateway: ModelGateway, url: string, stop: (reason: string) => void): void;
}

/** The cluster side of this process when it is a worker, else `undefined`. */
export function clusterWorker(): ClusterWorker | undefined {
  if (!cluster.isWorker) return undefined;
  const metrics = new WorkerMetrics();
  return {
    config: (config) => ({ ...config, state: { ...config.state, backend: 'redis' } }),
    metrics,
    joined(gateway, url, stop) {
      process.on('message', (message: unknown) => {
        if (!isClusterMessage(message)) return;
        if (message.l04 === 'metrics-collect') {
          metrics.collect(gateway).then(
            (json) => send(process, { l04: 'metrics-part', id: message.id, metrics: json }),
            () => undefined, // left out of this collection; the primary's timeout covers it
          );
        } else if (message.l04 === 'metrics-response') metrics.answer(message);
      });
      process.on('disconnect', () => stop('primary gone'));
      send(process, { l04: 'listening', url });
    },
  };
}

/** A worker's metrics: `metrics()` answers for the whole cluster, `collect()` for this worker alone. */
class WorkerMetrics extends GatewayMetrics {
  private readonly local = new AsyncLocalStorage<true>();
  private readonly pending = new Map<number, { resolve: (body: string) => void; reject: (error: Error) => void }>();
  private seq = 0;

  /** The cluster's metrics text (asked of the primary); this worker's own while it is being collected. */
  override async metrics(): Promise<string> {
    if (this.local.getStore() === true) return super.metrics();
    const id = this.seq++;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new InternalError('E4900', 'the cluster primary did not answer with the metrics'));
      }, METRICS_COLLECT_TIMEOUT_MS * 2);
      this.pending.set(id, {
        resolve: (body) => {
          clearTimeout(timer);
          resolve(body);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      send(process, { l04: 'metrics-request', id });
    });
  }

  /** This worker's registry as JSON, after the gateway has sampled its queues (its `metrics()` call). */
  async collect(gateway: ModelGateway): Promise<MetricJson[]> {
    return this.local.run(true, async () => {
      await gateway.metrics();
      return this.registry.getMetricsAsJSON();
    });
  }

  /** Settles a `metrics()` call with the primary's answer. */
  answer(message: Extract<ClusterMessage, { l04: 'metrics-response' }>): void {
    const waiting = this.pending.get(message.id);
    if (waiting === undefined) return;
    this.pending.delete(message.id);
    if (message.body !== undefined) waiting.resolve(message.body);
    else waiting.reject(new InternalError('E4900', `the cluster metrics could not be collected: ${message.error ?? 'unknown error'}`));
  }
}

function send(target: { send?: (message: ClusterMessage) => unknown; isConnected?: () => boolean; connected?: boolean }, message: ClusterMessage): void {
  if (target.isConnected?.() === false || target.connected === false) return;
  target.send?.(message);
}

function isClusterMessage(message: unknown): message is ClusterMessage {
  return typeof message === 'object' && message !== null && typeof (message as { l04?: unknown }).l04 === 'string';
}
