/**
 * The Redis watchdog: every `intervalMs`, one bounded PING per connected node (the caller bounds
 * it by the node's silence, `timeoutMs`). A PING that times out while the client believes it is
 * connected means commands stopped flowing (a half-open socket, a jammed client queue, a node that
 * hangs): the watchdog then asks for a fresh connection. A node that is simply down is not the
 * watchdog's business — the client reconnects by itself, and commands fail fast meanwhile.
 */
import type { DeadlineClock } from './reply-deadline.js';
import { RedisTimeoutError } from './reply-deadline.js';

/** What the watchdog learned about one node on its last tick. */
export interface NodeProbe {
  address: string;
  /** Round trip of the last answered PING, in milliseconds. */
  lastPingMs?: number;
  /** `clock.now()` of the last answered PING. */
  lastOkAt?: number;
  /** The last failure, cleared by an answered PING. */
  lastError?: string;
}

/** Options of a `RedisWatchdog`. */
export interface RedisWatchdogOptions {
  intervalMs: number;
  timeoutMs: number;
  clock: DeadlineClock;
  /** The nodes to probe now, each with its PING (bounded by the caller with `timeoutMs`). */
  nodes: () => Array<{ address: string; ping: () => Promise<unknown> }>;
  /** Called once per tick before probing: the connection's chance to retry a failed start. */
  beforeTick?: () => void;
  /** A node left a PING unanswered: commands have stopped flowing. */
  onStall: (address: string, error: RedisTimeoutError) => void;
}

/** Periodic bounded PINGs; see the file comment. */
export class RedisWatchdog {
  private readonly probes = new Map<string, NodeProbe>();
  private readonly inFlight = new Set<string>();
  private timer: { cancel(): void } | undefined;
  private stopped = true;

  constructor(private readonly options: RedisWatchdogOptions) {
    if (!(options.intervalMs > 0)) throw new RangeError(`intervalMs should be a positive number, got ${options.intervalMs}`);
    if (!(options.timeoutMs > 0)) throw new RangeError(`timeoutMs should be a positive number, got ${options.timeoutMs}`);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** The last probe of every node seen, by address. */
  snapshot(): NodeProbe[] {
    return [...this.probes.values()].map((probe) => ({ ...probe }));
  }

  /** Forgets nodes (after a reconnect the topology may differ). */
  reset(): void {
    this.probes.clear();
  }

  /** Probes every node now; resolves when every PING has answered or failed. */
  async tick(): Promise<void> {
    this.options.beforeTick?.();
    await Promise.all(this.options.nodes().map(async (node) => this.probe(node.address, node.ping)));
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimer(() => {
      void this.tick().finally(() => this.schedule());
    }, this.options.intervalMs);
  }

  private async probe(address: string, ping: () => Promise<unknown>): Promise<void> {
    // One PING per node at a time: a slow node is not piled up with probes.
    if (this.inFlight.has(address)) return;
    this.inFlight.add(address);
    const probe = this.probes.get(address) ?? { address };
    this.probes.set(address, probe);
    const started = this.options.clock.now();
    try {
      await ping();
      probe.lastPingMs = Math.round((this.options.clock.now() - started) * 100) / 100;
      probe.lastOkAt = this.options.clock.now();
      delete probe.lastError;
    } catch (error) {
      probe.lastError = error instanceof Error ? error.message : String(error);
      if (error instanceof RedisTimeoutError && !this.stopped) this.options.onStall(address, error);
    } finally {
      this.inFlight.delete(address);
    }
  }
}

/** One node as readiness reports it. */
export interface NodeHealth {
  address: string;
  connected: boolean;
  last_ping_ms?: number;
  last_ok_ms_ago?: number;
  last_error?: string;
}

/** Joins the masters with the watchdog's last probe of each. */
export function describeNodes(masters: Array<{ address: string; connected: boolean }>, probes: NodeProbe[], now: number): NodeHealth[] {
  const byAddress = new Map(probes.map((probe) => [probe.address, probe]));
  return masters.map((node) => {
    const probe = byAddress.get(node.address);
    return {
      address: node.address,
      connected: node.connected,
      ...(probe?.lastPingMs === undefined ? {} : { last_ping_ms: probe.lastPingMs }),
      ...(probe?.lastOkAt === undefined ? {} : { last_ok_ms_ago: Math.round(now - probe.lastOkAt) }),
      ...(probe?.lastError === undefined ? {} : { last_error: probe.lastError }),
    };
  });
}
