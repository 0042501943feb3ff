/**
 * One Redis connection shared by every Redis-backed store of a gateway (rate limits, cache).
 * Commands never queue while disconnected (they fail at once, so callers fall back within
 * milliseconds), every command is bounded by `command_timeout_ms`, and the client reconnects by
 * itself with capped backoff. Up/down transitions are reported once each.
 */
import { createClient } from 'redis';
import type { RedisClientType } from 'redis';

/** The client type every Redis store receives. */
export type RedisClient = RedisClientType;

/** Options of a `RedisConnection`. */
export interface RedisConnectionOptions {
  url: string;
  /** Prefix of every key this gateway writes (`l04:`). */
  keyPrefix: string;
  /** Bound on one command, in milliseconds. */
  commandTimeoutMs: number;
  /** Bound on connecting, in milliseconds. */
  connectTimeoutMs?: number;
  /** Called once per transition between up and down. */
  onStateChange?: (up: boolean, error?: unknown) => void;
}

/** A reconnecting Redis client with a readiness flag that stores check before each command. */
export class RedisConnection {
  readonly client: RedisClient;
  readonly keyPrefix: string;
  /** Bound on one command, in milliseconds (`state.command_timeout_ms`). */
  readonly commandTimeoutMs: number;
  private up = false;
  private closed = false;
  private readonly onStateChange: ((up: boolean, error?: unknown) => void) | undefined;
  private readonly connectTimeoutMs: number;

  constructor(options: RedisConnectionOptions) {
    this.keyPrefix = options.keyPrefix;
    this.commandTimeoutMs = options.commandTimeoutMs;
    this.onStateChange = options.onStateChange;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 1_000;
    this.client = createClient({
      url: options.url,
      disableOfflineQueue: true,
      commandOptions: { timeout: options.commandTimeoutMs },
      socket: {
        connectTimeout: this.connectTimeoutMs,
        // Reconnect forever with capped backoff; between attempts commands fail fast.
        reconnectStrategy: (retries: number) => (this.closed ? false : Math.min(50 * 2 ** retries, 2_000)),
      },
    }) as RedisClient;
    this.client.on('ready', () => this.setUp(true));
    this.client.on('end', () => this.setUp(false));
    this.client.on('error', (error: unknown) => this.setUp(false, error));
  }

  /**
   * Connects; resolves `true` when Redis answered within the connect timeout. On `false` the
   * client keeps retrying in the background and `isReady()` turns true when it succeeds.
   */
  async connect(): Promise<boolean> {
    // node-redis keeps retrying inside connect() while the server refuses, so bound the wait here.
    const connected = this.client.connect().then(
      async () => (await this.client.ping()) === 'PONG',
      () => false,
    );
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.connectTimeoutMs);
    });
    try {
      return await Promise.race([connected, timedOut]);
    } catch (_error) {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Bounds a command that is already sent. node-redis's own timeout stops counting once a command
   * is written, so a stalled server would otherwise hang the caller. The rejection waits one extra
   * I/O turn: after a busy event loop, a reply that arrived in time is read before the timer wins.
   */
  bounded<T>(command: Promise<T>, timeoutMs = this.commandTimeoutMs): Promise<T> {
    command.catch(() => undefined); // a late failure after the bound is dropped on purpose
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => setImmediate(() => reject(new Error(`Redis did not answer within ${timeoutMs} ms`))), timeoutMs);
    });
    return Promise.race([command, timeout]).finally(() => clearTimeout(timer));
  }

  /** Whether commands can be sent now. Stores fall back without trying when this is false. */
  isReady(): boolean {
    return this.up && this.client.isReady;
  }

  /** Closes the connection; no reconnects afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.client.isReady) {
      try {
        await this.client.close();
        return;
      } catch (_error) {
        // fall through to destroy
      }
    }
    if (this.client.isOpen) this.client.destroy();
  }

  private setUp(up: boolean, error?: unknown): void {
    if (this.up === up) return;
    this.up = up;
    // A connection ended by close() is not an outage: nothing to report.
    if (this.closed && !up) return;
    this.onStateChange?.(up, error);
  }
}
