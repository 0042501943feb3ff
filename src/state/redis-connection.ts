/**
 * One Redis connection shared by every Redis-backed store of a gateway (rate limits, cache, spend,
 * and any store added later): a standalone server or a Redis Cluster, detected at start.
 *
 * - Cluster: `nodes` lists seed nodes, or `url` names any node of a cluster (`INFO cluster` says
 *   `cluster_enabled:1` on the first connect) and the connection switches to a cluster client.
 *   Every command is routed by a key; a script's keys must share one hash tag (checked here).
 * - Waits measure Redis, not this process (`reply-deadline.ts`): a command fails when its node has
 *   been silent for `commandTimeoutMs` since it was written, never because the event loop was busy.
 * - Never queued while disconnected: commands fail at once, so callers fall back in microseconds.
 * - Ready only when it truly works: scripts are loaded on every (re)connect before the connection
 *   reports up, and a watchdog PINGs every node each `watchdogIntervalMs`; a PING left unanswered
 *   for `watchdogTimeoutMs` replaces the client with a fresh one (a jammed or half-open connection
 *   heals within about two intervals).
 * Up/down transitions are reported once each to the state listeners; closing reports nothing.
 *
 * Past 400 lines: standalone and cluster clients, script loading, the watchdog's swap and readiness
 * all change one connection's state; the timing and slot helpers already live in their own files.
 */
import { ErrorReply, RESP_TYPES } from '@redis/client';
import type { RedisArgument } from '@redis/client';
import { assertOneSlot } from './key-slot.js';
import { NodeLiveness, RedisTimeoutError, awaitReply, monotonicClock } from './reply-deadline.js';
import type { DeadlineClock, ReplyBounds } from './reply-deadline.js';
import { asAbortSignal } from '../util/light-abort.js';
import type { LightAbort } from '../util/light-abort.js';
import { addressOf, addressOfKey, closeBackend, createClusterClient, createStandaloneClient, isClusterEnabled, mastersOf } from './redis-clients.js';
import type { Backend, MasterNode } from './redis-clients.js';
import type { RedisScript } from './redis-script.js';
import { RedisWatchdog, describeNodes } from './redis-watchdog.js';
import type { NodeHealth } from './redis-watchdog.js';

export { RedisTimeoutError } from './reply-deadline.js';
export type { RedisArgument } from '@redis/client';

/** Options of a `RedisConnection`. Durations in milliseconds. */
export interface RedisConnectionOptions {
  /** Any node: a standalone server, or a node of a cluster (detected). */
  url: string;
  /** Seed nodes of a Redis Cluster; when given, the connection is a cluster client from the start. */
  nodes?: readonly string[];
  /** Prefix of every key this gateway writes (`l04:`). */
  keyPrefix: string;
  /** Longest silence of a node while a command waits on it (`state.command_timeout_ms`). */
  commandTimeoutMs: number;
  /** Bound on connecting (and on the first answer), default 1,000. */
  connectTimeoutMs?: number;
  /** Watchdog period, default 1,000. */
  watchdogIntervalMs?: number;
  /** Longest wait for a watchdog PING, and for any command in total; default 1,000. */
  watchdogTimeoutMs?: number;
  clock?: DeadlineClock;
  /** Called once per transition between up and down. */
  onStateChange?: (up: boolean, error?: unknown) => void;
  /** Called when the watchdog replaces a stalled client, with the reason. */
  onReconnect?: (reason: string) => void;
}

/** Options of one command. */
export interface RedisCallOptions {
  /** Longest silence of the node, default the connection's `commandTimeoutMs`. */
  timeoutMs?: number;
  /** Bulk strings as `Buffer`s instead of strings. */
  buffers?: boolean;
}

/** `standalone` or `cluster`; `unknown` until the first connect says which. */
export type RedisMode = 'standalone' | 'cluster' | 'unknown';

/** What readiness reports about Redis. */
export interface RedisHealth {
  status: 'up' | 'down';
  mode: RedisMode;
  nodes: NodeHealth[];
  /** Clients the watchdog replaced because commands stopped flowing. */
  forced_reconnects: number;
  last_error?: string;
}

/** Raised at once when the connection is not up: nothing was sent. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
}

const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;
const isReply = (error: unknown): boolean => error instanceof ErrorReply;

/** Frozen key lists already found to share one slot (see `eval`). */
const SLOT_CHECKED = new WeakSet<readonly string[]>();

/** A Redis connection (standalone or cluster) that stores share; see the file comment. */
export class RedisConnection {
  readonly keyPrefix: string;
  /** Longest silence of a node while a command waits, in milliseconds (`state.command_timeout_ms`). */
  readonly commandTimeoutMs: number;
  private readonly options: RedisConnectionOptions;
  private readonly clock: DeadlineClock;
  private readonly connectTimeoutMs: number;
  private readonly maxWaitMs: number;
  private readonly scripts = new Map<string, RedisScript>();
  private readonly loading = new Map<string, Promise<unknown>>();
  private readonly liveness = new Map<string, NodeLiveness>();
  private readonly listeners = new Set<(up: boolean, error?: unknown) => void>();
  private readonly watchdog: RedisWatchdog | undefined;
  private backend: Backend | undefined;
  private currentMode: RedisMode;
  private up = false;
  private closed = false;
  private gating = false;
  private forcedReconnects = 0;
  private lastError: string | undefined;

  constructor(options: RedisConnectionOptions) {
    if (!(options.commandTimeoutMs > 0)) throw new RangeError(`commandTimeoutMs should be a positive number, got ${options.commandTimeoutMs}`);
    this.options = options;
    this.keyPrefix = options.keyPrefix;
    this.commandTimeoutMs = options.commandTimeoutMs;
    this.clock = options.clock ?? monotonicClock;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 1_000;
    const watchdogTimeoutMs = options.watchdogTimeoutMs ?? 1_000;
    this.maxWaitMs = Math.max(this.commandTimeoutMs, watchdogTimeoutMs);
    this.currentMode = (options.nodes ?? []).length > 0 ? 'cluster' : 'unknown';
    if (options.onStateChange !== undefined) this.listeners.add(options.onStateChange);
    const intervalMs = options.watchdogIntervalMs ?? 1_000;
    this.watchdog =
      intervalMs > 0
        ? new RedisWatchdog({
            intervalMs,
            timeoutMs: watchdogTimeoutMs,
            clock: this.clock,
            nodes: () => this.probeTargets(watchdogTimeoutMs),
            beforeTick: () => this.retryGate(),
            onStall: (address, error) => this.replaceBackend(`PING to ${address} unanswered: ${error.message}`),
          })
        : undefined;
  }

  /** `standalone` or `cluster` once known. */
  get mode(): RedisMode {
    return this.currentMode;
  }

  /** Registers scripts to load on every node at each (re)connect (and now, when up); stores call this once. */
  registerScripts(...scripts: RedisScript[]): void {
    const added = scripts.filter((script) => !this.scripts.has(script.sha));
    for (const script of added) this.scripts.set(script.sha, script);
    // A failure here is harmless: a NOSCRIPT reply loads the script on first use.
    if (this.up && added.length > 0) void this.loadScripts(added).catch((error: unknown) => this.noteError(error));
  }

  /** Listens to up/down transitions; returns the unsubscribe function. */
  addStateListener(listener: (up: boolean, error?: unknown) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Connects; resolves `true` once Redis answered (scripts loaded) within the connect timeout.
   * On `false` the connection keeps trying in the background and `isReady()` turns true later.
   */
  async connect(): Promise<boolean> {
    if (this.closed) return false;
    if (this.backend === undefined) this.open();
    this.watchdog?.start();
    return this.waitUp(this.connectTimeoutMs);
  }

  /** Whether commands can be sent now. Stores fall back without trying when this is false. */
  isReady(): boolean {
    return this.up;
  }

  /**
   * Sends one command, routed by `key` (which every key of the command must share a slot with).
   * Rejects with `RedisUnavailableError` at once when not up, `RedisTimeoutError` when the node
   * stays silent (the command may have run), or the client's error.
   */
  async call(key: string | undefined, args: readonly RedisArgument[], options: RedisCallOptions = {}, what = String(args[0])): Promise<unknown> {
    const backend = this.backend;
    if (!this.up || backend === undefined) throw new RedisUnavailableError('Redis is not connected');
    const typeMapping = options.buffers === true ? BUFFERS : undefined;
    const send =
      backend.kind === 'standalone'
        ? (signal: LightAbort) => backend.client.sendCommand(args, { typeMapping, abortSignal: asAbortSignal(signal) })
        : (signal: LightAbort) => backend.cluster.sendCommand(key, false, [...args], { typeMapping, abortSignal: asAbortSignal(signal) });
    return awaitReply(this.nodeLiveness(addressOfKey(backend, key)), what, this.bounds(options.timeoutMs), send, isReply, this.clock);
  }

  /**
   * Runs a registered script with EVALSHA. Every key must come in `keys` and share one hash tag
   * (RangeError otherwise, before anything is sent). A NOSCRIPT reply proves the script did not
   * run: the script is then loaded (once for concurrent callers) and called again.
   */
  async eval(script: RedisScript, keys: readonly string[], args: readonly RedisArgument[], options: RedisCallOptions = {}): Promise<unknown> {
    if (!SLOT_CHECKED.has(keys)) {
      assertOneSlot(keys, `script ${script.name}`);
      // A frozen list cannot change: checked once (the cache store hands the same list per partition).
      if (Object.isFrozen(keys)) SLOT_CHECKED.add(keys);
    }
    if (!this.scripts.has(script.sha)) this.registerScripts(script);
    const key = keys[0];
    const command: RedisArgument[] = ['EVALSHA', script.sha, String(keys.length)];
    for (const name of keys) command.push(name);
    for (const arg of args) command.push(arg);
    try {
      return await this.call(key, command, options, `script ${script.name}`);
    } catch (error) {
      if (!(error instanceof ErrorReply) || !error.message.startsWith('NOSCRIPT')) throw error;
      await this.loadOnce(key, script, options);
      return this.call(key, command, options, `script ${script.name}`);
    }
  }

  /** Every key matching `match` on every master (SCAN per node), in batches. */
  async *scan(match: string, count = 500): AsyncGenerator<string[]> {
    for (const node of mastersOf(this.backend)) {
      let cursor = '0';
      do {
        const reply = await this.callNode(node, ['SCAN', cursor, 'MATCH', match, 'COUNT', String(count)], this.bounds());
        if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1])) throw new Error('unexpected SCAN reply');
        cursor = String(reply[0]);
        yield (reply[1] as unknown[]).map(String);
      } while (cursor !== '0');
    }
  }

  /** State, mode, every node's last PING, and the watchdog's reconnect count, for readiness. */
  health(): RedisHealth {
    return {
      status: this.up ? 'up' : 'down',
      mode: this.currentMode,
      nodes: describeNodes(mastersOf(this.backend), this.watchdog?.snapshot() ?? [], this.clock.now()),
      forced_reconnects: this.forcedReconnects,
      ...(this.lastError === undefined ? {} : { last_error: this.lastError }),
    };
  }

  /** Runs one watchdog round now (tests; the timer runs it every interval). */
  async checkNow(): Promise<void> {
    await this.watchdog?.tick();
  }

  /**
   * Closes the connection: pending replies are awaited for at most the connect timeout, then the
   * rest fail. No reconnects and no state reports afterwards (a clean shutdown is not an outage).
   */
  async close(): Promise<void> {
    this.closed = true;
    this.up = false;
    this.watchdog?.stop();
    const backend = this.backend;
    this.backend = undefined;
    if (backend !== undefined) await closeBackend(backend, false, this.connectTimeoutMs);
  }

  private bounds(timeoutMs = this.commandTimeoutMs): ReplyBounds {
    return { silenceMs: timeoutMs, maxWaitMs: Math.max(timeoutMs, this.maxWaitMs) };
  }

  private nodeLiveness(address: string): NodeLiveness {
    let node = this.liveness.get(address);
    if (node === undefined) {
      node = new NodeLiveness(this.clock);
      this.liveness.set(address, node);
    }
    return node;
  }

  private callNode(node: MasterNode, args: readonly RedisArgument[], bounds: ReplyBounds): Promise<unknown> {
    return awaitReply(this.nodeLiveness(node.address), String(args[0]), bounds, (signal) => node.send(args, asAbortSignal(signal)), isReply, this.clock);
  }

  /**
   * The watchdog's PINGs: a stall is silence, not slowness — replies flowing ahead of a PING keep it
   * waiting (up to ten timeouts), so a deep but moving pipeline never gets its connection replaced.
   */
  private probeTargets(timeoutMs: number): Array<{ address: string; ping: () => Promise<unknown> }> {
    const bounds: ReplyBounds = { silenceMs: timeoutMs, maxWaitMs: 10 * timeoutMs };
    return mastersOf(this.backend)
      .filter((node) => node.connected)
      .map((node) => ({ address: node.address, ping: () => this.callNode(node, ['PING'], bounds) }));
  }

  private async loadOnce(key: string | undefined, script: RedisScript, options: RedisCallOptions): Promise<void> {
    const id = `${this.backend === undefined ? '' : addressOfKey(this.backend, key)}|${script.sha}`;
    let pending = this.loading.get(id);
    if (pending === undefined) {
      pending = this.call(key, ['SCRIPT', 'LOAD', script.source], options, `SCRIPT LOAD ${script.name}`).finally(() => this.loading.delete(id));
      this.loading.set(id, pending);
    }
    await pending;
  }

  /** SCRIPT LOAD of `scripts` (default every registered one) on every master. */
  private async loadScripts(scripts: RedisScript[] = [...this.scripts.values()]): Promise<void> {
    const bounds: ReplyBounds = { silenceMs: this.connectTimeoutMs, maxWaitMs: this.connectTimeoutMs };
    await Promise.all(mastersOf(this.backend).flatMap((node) => scripts.map((script) => this.callNode(node, ['SCRIPT', 'LOAD', script.source], bounds))));
  }

  private open(): void {
    if (this.closed) return;
    const settings = { connectTimeoutMs: this.connectTimeoutMs, shouldReconnect: () => !this.closed };
    if (this.currentMode === 'cluster') {
      const nodes = this.options.nodes ?? [];
      const cluster = createClusterClient(nodes.length > 0 ? nodes : [this.options.url], settings);
      this.backend = { kind: 'cluster', cluster };
      cluster.on('error', (error: unknown) => this.noteError(error));
      cluster.on('node-error', (error: unknown) => this.noteError(error));
      // A master that reconnects may have lost its scripts (a restart): load them again.
      cluster.on('node-ready', () => void this.loadScripts().catch((error: unknown) => this.noteError(error)));
      void this.gate();
      return;
    }
    const client = createStandaloneClient(this.options.url, settings);
    const backend: Backend = { kind: 'standalone', client, address: addressOf(this.options.url) };
    this.backend = backend;
    client.on('ready', () => {
      if (this.backend === backend) void this.gate();
    });
    client.on('end', () => {
      if (this.backend === backend) this.setUp(false);
    });
    client.on('error', (error: unknown) => {
      this.noteError(error);
      if (this.backend === backend) this.setUp(false, error);
    });
    // node-redis keeps retrying inside connect(); it rejects only once the client is destroyed.
    client.connect().catch(() => undefined);
  }

  /**
   * The way to up: detect the mode on the first answer, connect the cluster, load the scripts.
   * Retried by the watchdog while it fails; a node that stays silent gets a fresh client.
   */
  private async gate(): Promise<void> {
    const backend = this.backend;
    if (backend === undefined || this.gating || this.closed) return;
    this.gating = true;
    try {
      if (backend.kind === 'standalone') {
        if (!backend.client.isReady) return;
        if (this.currentMode === 'unknown') {
          const bounds: ReplyBounds = { silenceMs: this.connectTimeoutMs, maxWaitMs: this.connectTimeoutMs };
          const [server] = mastersOf(backend);
          const info = server === undefined ? '' : await this.callNode(server, ['INFO', 'cluster'], bounds);
          if (isClusterEnabled(info)) {
            this.currentMode = 'cluster';
            this.swapBackend();
            return;
          }
          this.currentMode = 'standalone';
        }
      } else if (!backend.cluster.isOpen) {
        await backend.cluster.connect();
      }
      await this.loadScripts();
      if (this.backend === backend && !this.closed) this.setUp(true);
    } catch (error) {
      this.noteError(error);
      if (this.backend === backend) this.setUp(false, error);
      if (error instanceof RedisTimeoutError && this.backend === backend) this.replaceBackend(`no answer while connecting: ${error.message}`);
    } finally {
      this.gating = false;
      // Switched to a cluster client (or replaced a stalled one) meanwhile: bring the new one up.
      if (this.backend !== backend && this.backend?.kind === 'cluster') void this.gate();
    }
  }

  private retryGate(): void {
    if (!this.up && !this.gating) void this.gate();
  }

  /** Replaces a stalled client by a fresh one (the watchdog's remedy). */
  private replaceBackend(reason: string): void {
    if (this.closed) return;
    this.forcedReconnects++;
    this.lastError = reason;
    this.options.onReconnect?.(reason);
    this.swapBackend();
  }

  private swapBackend(): void {
    const old = this.backend;
    this.backend = undefined;
    this.setUp(false);
    this.liveness.clear();
    this.watchdog?.reset();
    if (old !== undefined) void closeBackend(old, true);
    this.open();
  }

  private noteError(error: unknown): void {
    if (!this.closed) this.lastError = error instanceof Error ? error.message : String(error);
  }

  private setUp(up: boolean, error?: unknown): void {
    if (this.up === up || (up && this.closed)) return;
    this.up = up;
    if (up) this.lastError = undefined;
    if (this.closed) return;
    for (const listener of this.listeners) listener(up, error);
  }

  private waitUp(timeoutMs: number): Promise<boolean> {
    if (this.up) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.clock.setTimer(() => {
        unsubscribe();
        resolve(this.up);
      }, timeoutMs);
      const unsubscribe = this.addStateListener((up) => {
        if (!up) return;
        timer.cancel();
        unsubscribe();
        resolve(true);
      });
    });
  }
}
