/**
 * Bounds on waiting for Redis that measure Redis, not this process.
 *
 * A command is late only when its Redis node has been silent for the bound: no reply to it, and no
 * reply to any command on the same connection, since it was written. Three things keep a busy
 * event loop from passing for a slow Redis:
 * - the clock starts when the client writes the command (node-redis writes everything queued in
 *   one batch from a `setImmediate`), not when the caller queued it;
 * - when the bound's timer fires, the verdict waits one more turn of the event loop, so that
 *   replies already sitting in the socket are read first;
 * - replies flowing on the connection (in order: ours is behind them) extend the wait, up to a
 *   hard cap.
 * A command that is given up on is also aborted, so that node-redis drops it if it is still unsent
 * (it then never runs late).
 */
import { LightAbort } from '../util/light-abort.js';

/** Monotonic time and timers (real by default; injectable for tests). */
export interface DeadlineClock {
  /** Milliseconds from an arbitrary origin; never goes back. */
  now(): number;
  setTimer(callback: () => void, delayMs: number): { cancel(): void };
}

/** `performance.now()` and unref'd `setTimeout`. */
export const monotonicClock: DeadlineClock = {
  now: () => performance.now(),
  setTimer(callback, delayMs) {
    const timer = setTimeout(callback, Math.max(0, delayMs));
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

/** A command that Redis left unanswered for its bound; it may or may not have run. */
export class RedisTimeoutError extends Error {
  override readonly name = 'RedisTimeoutError';
  constructor(
    readonly what: string,
    readonly silentMs: number,
    readonly waitedMs: number,
  ) {
    super(`Redis did not answer ${what}: the node was silent for ${Math.round(silentMs)} ms (waited ${Math.round(waitedMs)} ms)`);
  }
}

/** The bounds of one wait, in milliseconds. */
export interface ReplyBounds {
  /** Longest silence of the node while this command waits. */
  silenceMs: number;
  /** Longest wait in total, however busy the node is. */
  maxWaitMs: number;
}

/** When one Redis node (one connection) last answered, and when its pending writes go out. */
export class NodeLiveness {
  /** `clock.now()` when the last reply was read. */
  lastReplyAt = -Infinity;
  private nextWrite: { at: number } | undefined;

  constructor(private readonly clock: DeadlineClock = monotonicClock) {}

  /** Records a reply (a value or a Redis error reply: both prove the node answers). */
  replied(): void {
    this.lastReplyAt = this.clock.now();
  }

  /**
   * The time the commands queued in this turn are written: node-redis writes its queue from a
   * `setImmediate`, and this one is queued after it, in the same check phase. One per batch.
   */
  writeStamp(): { at: number } {
    if (this.nextWrite !== undefined) return this.nextWrite;
    const stamp = { at: Number.NaN };
    this.nextWrite = stamp;
    setImmediate(() => {
      stamp.at = this.clock.now();
      this.nextWrite = undefined;
    });
    return stamp;
  }
}

/**
 * Sends a command through `send` (which must honour the abort signal) and waits for its reply
 * within `bounds`, judged as the file comment says. Rejects with `RedisTimeoutError` when late;
 * other failures are the client's own errors. `isReply` tells a Redis error reply (the node
 * answered) from a transport failure.
 */
export function awaitReply<T>(
  node: NodeLiveness,
  what: string,
  bounds: ReplyBounds,
  send: (signal: LightAbort) => Promise<T>,
  isReply: (error: unknown) => boolean,
  clock: DeadlineClock = monotonicClock,
): Promise<T> {
  const issuedAt = clock.now();
  const written = node.writeStamp();
  // A given-up command is aborted too, so that node-redis drops it if it is still unsent.
  const controller = new LightAbort();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let timer: { cancel(): void } | undefined;
    const verdict = (): void => {
      if (settled) return;
      const now = clock.now();
      const writtenAt = Number.isNaN(written.at) ? now : written.at;
      const silentMs = now - Math.max(writtenAt, node.lastReplyAt);
      const waitedMs = now - issuedAt;
      if (silentMs < bounds.silenceMs && waitedMs < bounds.maxWaitMs) {
        arm(Math.min(bounds.silenceMs - silentMs, bounds.maxWaitMs - waitedMs));
        return;
      }
      settled = true;
      controller.abort();
      reject(new RedisTimeoutError(what, silentMs, waitedMs));
    };
    // The verdict waits one turn: replies already in the socket are read (poll phase) before it.
    const arm = (delayMs: number): void => {
      timer = clock.setTimer(() => setImmediate(verdict), delayMs);
    };
    let sent: Promise<T>;
    try {
      sent = send(controller);
    } catch (error) {
      reject(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    arm(bounds.silenceMs);
    sent.then(
      (value) => {
        node.replied();
        if (settled) return;
        settled = true;
        timer?.cancel();
        resolve(value);
      },
      (error: unknown) => {
        if (isReply(error)) node.replied();
        if (settled) return;
        settled = true;
        timer?.cancel();
        reject(error);
      },
    );
  });
}
