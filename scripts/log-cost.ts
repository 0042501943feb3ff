/**
 * What a request's log line costs with each destination: the old buffered asynchronous one (4 KB
 * before a write), the synchronous JSON one `serve` uses, and the pretty one for terminals; each
 * written through `logger.info` and through `logFlat` (what the request accounting uses). Writes
 * 50,000 request lines of the gateway's real shape to /dev/null and to a temporary file, and prints
 * microseconds per line (median of 5 runs). Run: `npx tsx scripts/log-cost.ts`.
 */
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { DestinationStream } from 'pino';
import { createLogger, logFlat } from '../src/observability/logger.js';
import { createLogDestination } from '../src/observability/log-destination.js';

const LINES = 50_000;
const RUNS = 5;
const line = {
  request_id: 'req_01JD4X9W7Q8Z3K2M5N6P7R8S9T',
  agent: 'did:l04:agent-7',
  tenant: 'acme',
  operation: 'chat',
  stream: false,
  model: 'gpt-4o-mini',
  provider: 'openai',
  attempts: ['gpt-4o-mini:ok'],
  cache: 'miss',
  input_tokens: 412,
  output_tokens: 96,
  cost_cents: 0.01194,
  latency_ms: 842,
};

type Make = (fd: number) => DestinationStream & { flushSync(): void };
const variants: Array<[string, Make]> = [
  ['buffered async (4 KB, the old serve)', (fd) => pino.destination({ dest: fd, sync: false, minLength: 4096 })],
  ['sync JSON (serve, not a terminal)', (fd) => createLogDestination({ fd, format: 'json', isTerminal: false })],
  ['sync pretty (serve, on a terminal)', (fd) => createLogDestination({ fd, format: 'pretty', isTerminal: true, env: {} })],
];

function measure(make: Make, path: string, flat: boolean): number {
  const fd = openSync(path, 'w');
  const destination = make(fd);
  const logger = createLogger({ level: 'info', destination });
  const started = process.hrtime.bigint();
  if (flat) for (let index = 0; index < LINES; index++) logFlat(logger, 'info', line, 'request completed');
  else for (let index = 0; index < LINES; index++) logger.info(line, 'request completed');
  destination.flushSync();
  const elapsed = Number(process.hrtime.bigint() - started) / 1_000;
  closeSync(fd);
  return elapsed / LINES;
}

const dir = mkdtempSync(join(tmpdir(), 'l04-log-cost-'));
try {
  for (const [name, make] of variants) {
    for (const flat of [false, true]) {
      for (const [target, path] of [
        ['/dev/null', '/dev/null'],
        ['file', join(dir, 'log.jsonl')],
      ] as const) {
        const runs = Array.from({ length: RUNS }, () => measure(make, path, flat)).sort((a, b) => a - b);
        const how = flat ? 'logFlat' : 'logger.info';
        process.stdout.write(`${name.padEnd(40)} ${how.padEnd(12)} ${target.padEnd(9)} ${runs[Math.floor(RUNS / 2)]!.toFixed(2)} µs/line\n`);
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
