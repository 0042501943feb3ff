/**
 * Where the service's log lines go: standard output, one write per line as it is logged (a
 * synchronous destination), so that a request's line is readable as soon as its answer is sent
 * and nothing is lost when the process crashes. Measured on the development machine with
 * `npx tsx scripts/log-cost.ts` (see the README's logging section).
 *
 * Format: JSON lines for machines (a file, a pipe, a log collector), or pretty single lines for
 * people when standard output is a terminal: `12:04:05.123 INFO  request completed model=mock-1
 * latency_ms=3 …`, the level in colour unless `NO_COLOR` is set.
 */
import { pino } from 'pino';
import type { DestinationStream } from 'pino';

/** `json`, `pretty`, or `auto` (pretty on a terminal, JSON otherwise). */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** Options of `createLogDestination`. */
export interface LogDestinationOptions {
  /** Default `auto`. */
  format?: LogFormat;
  /** File descriptor to write to; default 1 (standard output). */
  fd?: number;
  /** Whether `fd` is a terminal (decides `auto`, and colours); default: asked of the descriptor. */
  isTerminal?: boolean;
  /** Environment for `NO_COLOR`; default `process.env`. */
  env?: Record<string, string | undefined>;
}

/** A destination that writes each line at once; `flushSync` is a no-op kept for shutdown code. */
export interface LogDestination extends DestinationStream {
  /** `json` or `pretty`: what `auto` resolved to. */
  readonly format: 'json' | 'pretty';
  flushSync(): void;
}

/** A synchronous destination on `fd` in the chosen format. */
export function createLogDestination(options: LogDestinationOptions = {}): LogDestination {
  const fd = options.fd ?? 1;
  const terminal = options.isTerminal ?? isTerminal(fd);
  const format = options.format === undefined || options.format === 'auto' ? (terminal ? 'pretty' : 'json') : options.format;
  const sink = pino.destination({ dest: fd, sync: true });
  if (format === 'json') return Object.assign(sink, { format }) as unknown as LogDestination;
  const color = terminal && (options.env ?? process.env).NO_COLOR === undefined;
  return {
    format,
    write: (line: string) => sink.write(prettyLogLine(line, color)),
    flushSync: () => sink.flushSync(),
  };
}

const LEVELS: Record<string, { label: string; color: string }> = {
  trace: { label: 'TRACE', color: '90' },
  debug: { label: 'DEBUG', color: '36' },
  info: { label: 'INFO ', color: '32' },
  warn: { label: 'WARN ', color: '33' },
  error: { label: 'ERROR', color: '31' },
  fatal: { label: 'FATAL', color: '35' },
};
const HIDDEN = new Set(['time', 'level', 'msg', 'pid', 'hostname']);
const PLAIN_VALUE = /^[^\s"=]{1,200}$/;

/**
 * One JSON log line as a single human line: local time, level, message, then `key=value` for the
 * other fields (strings quoted when they hold spaces, structures as compact JSON, an error as its
 * type and message). A line that is not JSON is passed through.
 */
export function prettyLogLine(line: string, color = false): string {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return line.endsWith('\n') ? line : `${line}\n`;
    record = parsed as Record<string, unknown>;
  } catch (_error) {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = LEVELS[String(record.level)] ?? { label: String(record.level).toUpperCase().padEnd(5), color: '0' };
  const time = typeof record.time === 'string' || typeof record.time === 'number' ? clockTime(new Date(record.time)) : '--:--:--.---';
  const parts = [time, color ? `\u001b[${level.color}m${level.label}\u001b[0m` : level.label];
  if (typeof record.msg === 'string') parts.push(record.msg);
  for (const [key, value] of Object.entries(record)) {
    if (HIDDEN.has(key) || value === undefined) continue;
    parts.push(`${key}=${prettyValue(key, value)}`);
  }
  return `${parts.join(' ').replace(/[\r\n]+/g, ' ')}\n`;
}

function prettyValue(key: string, value: unknown): string {
  if (key === 'err' && typeof value === 'object' && value !== null) {
    const error = value as { type?: unknown; message?: unknown };
    return JSON.stringify(`${typeof error.type === 'string' ? error.type : 'Error'}: ${typeof error.message === 'string' ? error.message : ''}`);
  }
  if (typeof value === 'string') return PLAIN_VALUE.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

function clockTime(date: Date): string {
  if (Number.isNaN(date.getTime())) return '--:--:--.---';
  const pad = (value: number, width = 2): string => String(value).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function isTerminal(fd: number): boolean {
  if (fd === 1) return process.stdout.isTTY === true;
  if (fd === 2) return process.stderr.isTTY === true;
  return false;
}
