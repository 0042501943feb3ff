/**
 * A cheap abort signal for the two libraries the gateway drives on every request: undici (a
 * request's `signal`) and node-redis (a command's `abortSignal`). Both read only `aborted`,
 * `reason` and one `abort` listener added with `addEventListener` and removed with
 * `removeEventListener`. An `AbortController` per call costs an EventTarget and its listener
 * bookkeeping, and the gateway makes several such calls a request. Handed over with
 * `asAbortSignal`; `tests/redis-connection.test.ts` checks that the real node-redis client honours
 * it, and the upstream client's tests check undici.
 */
export class LightAbort<Reason = unknown> {
  aborted = false;
  /** What `abort` was given; undefined until then. */
  reason: Reason | undefined;
  private listener: (() => void) | undefined;
  private more: Array<() => void> | undefined;

  addEventListener(type: string, listener: () => void): void {
    if (type !== 'abort' || this.aborted) return;
    if (this.listener === undefined) this.listener = listener;
    else (this.more ??= []).push(listener);
  }

  removeEventListener(type: string, listener: () => void): void {
    if (type !== 'abort') return;
    if (this.listener === listener) this.listener = undefined;
    else if (this.more !== undefined) this.more = this.more.filter((other) => other !== listener);
  }

  /** Marks the call aborted with `reason` (the first reason wins) and tells each listener once. */
  abort(reason?: Reason): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = [this.listener, ...(this.more ?? [])];
    this.listener = undefined;
    this.more = undefined;
    for (const listener of listeners) listener?.();
  }
}

/** `abort` typed as the `AbortSignal` the libraries' options are declared with (they read only what `LightAbort` has). */
export function asAbortSignal(abort: LightAbort<unknown>): AbortSignal {
  return abort as unknown as AbortSignal;
}
