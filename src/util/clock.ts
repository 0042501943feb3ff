/**
 * The injected clock. Services take time and timers from here and never call `Date.now()` or
 * `setTimeout` directly, so that tests can drive them with a fake clock.
 */

/** A cancellable timer. */
export interface TimerHandle {
  cancel(): void;
}

/** Time and timers. */
export interface Clock {
  /** Wall time, epoch milliseconds. */
  now(): number;
  /** Runs `callback` after `delayMs`; the timer does not keep the process alive. */
  setTimer(callback: () => void, delayMs: number): TimerHandle;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, delayMs) {
    const timer = setTimeout(callback, Math.max(0, delayMs));
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

/** Random source in [0, 1); injected so that jitter and sampling are reproducible in tests. */
export type Random = () => number;

/** An id generator; injected for reproducible ids in tests. */
export type IdGenerator = () => string;
