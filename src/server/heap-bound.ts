/**
 * The heap bound of `serve` (`server.max_heap_mb`). V8 sizes its default old space from the
 * machine's memory (4 GB on a 24 GB host) and lets a busy gateway's garbage grow toward it: peak RSS
 * far above what the live data needs. Started with `--max-old-space-size`, V8 collects earlier and
 * the peak stays near the live set. The flag only works when Node starts, so `serve` applies it by
 * starting its processes with it: cluster workers get it on their command line, and a single
 * process re-executes itself in place (`process.execve`, Node ≥ 22.15) once, before it serves.
 * On an older Node the bound is reported as not applied, with the flag to start Node with.
 */
import { getHeapStatistics } from 'node:v8';

/** Set in the environment of a process re-executed with the bound, so that it never re-executes again. */
export const HEAP_BOUND_ENV = 'L04_HEAP_BOUND_MB';

/** V8 reserves the young generation on top of the old space (48 MB on Node 20, 192 MB on Node 24); a limit above bound + this is unbounded. */
const YOUNG_GENERATION_SLACK_MB = 256;

/** `--max-old-space-size=<maxHeapMb>` when this process's heap limit is above the bound; `undefined` when it fits or the bound is off (0). */
export function heapBoundFlag(maxHeapMb: number, heapLimitBytes = getHeapStatistics().heap_size_limit): string | undefined {
  if (maxHeapMb === 0) return undefined;
  return heapLimitBytes > (maxHeapMb + YOUNG_GENERATION_SLACK_MB) * 1024 * 1024 ? `--max-old-space-size=${maxHeapMb}` : undefined;
}

/** What `boundHeap` did. */
export type HeapBoundOutcome = { bounded: true } | { bounded: false; flag: string };

/**
 * Makes sure this process runs with the heap bound: returns `{ bounded: true }` when it already
 * does (or the bound is off), never returns when it re-executes itself with the flag, and returns
 * the flag to start Node with when this Node cannot re-execute (`process.execve` is missing).
 */
export function boundHeap(maxHeapMb: number): HeapBoundOutcome {
  const flag = heapBoundFlag(maxHeapMb);
  if (flag === undefined || process.env[HEAP_BOUND_ENV] !== undefined) return { bounded: true };
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
  if (typeof execve !== 'function') return { bounded: false, flag };
  execve.call(process, process.execPath, [process.execPath, ...process.execArgv, flag, ...process.argv.slice(1)], {
    ...process.env,
    [HEAP_BOUND_ENV]: String(maxHeapMb),
  });
  return { bounded: true };
}
