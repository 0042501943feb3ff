/**
 * The heap bound of `serve` (`server.max_heap_mb`). V8 sizes its default heap from the machine's
 * memory (4 GB of old space on a 24 GB host; Node 24 also reserves 64 MB semi-spaces) and lets a
 * busy gateway's garbage grow toward it: peak RSS far above what the live data needs. Started with
 * `--max-old-space-size` (and Node 20's 16 MB semi-spaces), V8 collects earlier and the peak stays
 * near the live set. The flags only work when Node starts, so `serve` applies them by starting its
 * processes with them: cluster workers get them on their command line, and a single process
 * re-executes itself in place (`process.execve`, Node ≥ 22.15) once, before it serves. On an older
 * Node the bound is reported as not applied, with the flags to start Node with.
 */
import { getHeapStatistics } from 'node:v8';

/** Set in the environment of a process re-executed with the bound, so that it never re-executes again. */
export const HEAP_BOUND_ENV = 'L04_HEAP_BOUND_MB';

/** Semi-space of the young generation, in MiB: Node 20's default, which Node 24 quadrupled (the young generation is three of them). */
export const SEMI_SPACE_MB = 16;

/** Headroom above old space + young generation before a heap limit counts as unbounded, in MiB. */
const SLACK_MB = 16;

/**
 * The Node flags that bound the heap to `maxHeapMb` of old space, when this process's heap limit is
 * above that bound; `undefined` when it fits, or when the bound is off (0).
 */
export function heapBoundFlags(maxHeapMb: number, heapLimitBytes = getHeapStatistics().heap_size_limit): string[] | undefined {
  if (maxHeapMb === 0) return undefined;
  if (heapLimitBytes <= (maxHeapMb + 3 * SEMI_SPACE_MB + SLACK_MB) * 1024 * 1024) return undefined;
  return [`--max-old-space-size=${maxHeapMb}`, `--max-semi-space-size=${SEMI_SPACE_MB}`];
}

/** What `boundHeap` did. */
export type HeapBoundOutcome = { bounded: true } | { bounded: false; flags: string[] };

/**
 * Makes sure this process runs with the heap bound: returns `{ bounded: true }` when it already
 * does (or the bound is off), never returns when it re-executes itself with the flags, and returns
 * the flags to start Node with when this Node cannot re-execute (`process.execve` is missing).
 */
export function boundHeap(maxHeapMb: number): HeapBoundOutcome {
  const flags = heapBoundFlags(maxHeapMb);
  if (flags === undefined || process.env[HEAP_BOUND_ENV] !== undefined) return { bounded: true };
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
  if (typeof execve !== 'function') return { bounded: false, flags };
  execve.call(process, process.execPath, [process.execPath, ...process.execArgv, ...flags, ...process.argv.slice(1)], {
    ...process.env,
    [HEAP_BOUND_ENV]: String(maxHeapMb),
  });
  return { bounded: true };
}
