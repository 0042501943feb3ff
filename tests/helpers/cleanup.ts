/** Cleanups registered by a test run after it, each bounded by the 2-second teardown in setup.ts. */
export const cleanups: Array<() => unknown> = [];

/** Registers `cleanup` to run after the current test (servers closed, keys deleted, clients quit). */
export function onCleanup(cleanup: () => unknown): void {
  cleanups.push(cleanup);
}
