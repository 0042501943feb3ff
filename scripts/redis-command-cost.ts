/**
 * What one Redis command costs this process, in CPU microseconds (user + system), sent through
 * node-redis the ways the gateway could: with no per-command options; with options (a type mapping
 * and an abort signal) under node-redis's client defaults (`{ timeout: 0 }`); with the same options
 * under `COMMAND_OPTIONS`, which declares their keys unset (`src/state/redis-clients.ts`); and
 * through `RedisConnection.call`, the gateway's own path. 50 callers keep 50 commands in flight, as
 * a busy gateway does. Median of 5 rounds of 20,000 commands each.
 * Needs a Redis: `REDIS_URL` (default redis://127.0.0.1:6379).
 * Run: `npx tsx scripts/redis-command-cost.ts` (another Node: `/path/to/node --import tsx scripts/redis-command-cost.ts`).
 */
import { createClient } from '@redis/client';
import type { RedisArgument } from '@redis/client';
import { COMMAND_OPTIONS } from '../src/state/redis-clients.js';
import { RedisConnection } from '../src/state/redis-connection.js';
import { LightAbort, asAbortSignal } from '../src/util/light-abort.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const defaults = createClient({ url, disableOfflineQueue: true, commandOptions: { timeout: 0 } });
const declared = createClient({ url, disableOfflineQueue: true, commandOptions: COMMAND_OPTIONS });
const connection = new RedisConnection({ url, keyPrefix: 'l04:cost:', commandTimeoutMs: 1_000, watchdogIntervalMs: 0 });
await Promise.all([defaults.connect(), declared.connect(), connection.connect()]);

const command = (index: number): RedisArgument[] => ['PING', String(index)];
const ways: Array<[string, (index: number) => Promise<unknown>]> = [
  ['sendCommand(args), no options', (index) => defaults.sendCommand(command(index))],
  [
    'options, client defaults { timeout: 0 }',
    (index) => defaults.sendCommand(command(index), { typeMapping: undefined, abortSignal: asAbortSignal(new LightAbort()) }),
  ],
  [
    'options, client defaults COMMAND_OPTIONS',
    (index) => declared.sendCommand(command(index), { typeMapping: undefined, abortSignal: asAbortSignal(new LightAbort()) }),
  ],
  ['RedisConnection.call', (index) => connection.call('k', command(index))],
];

const COUNT = 20_000;
const CALLERS = 50;
async function cpuPerCommand(send: (index: number) => Promise<unknown>, count: number): Promise<number> {
  const started = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, caller) => {
      for (let index = caller; index < count; index += CALLERS) await send(index);
    }),
  );
  const used = process.cpuUsage(started);
  return (used.user + used.system) / count;
}

console.log(`Node ${process.version}: CPU microseconds per command (median of 5 rounds of ${COUNT.toLocaleString('en')}, ${CALLERS} in flight)`);
for (const [, send] of ways) await cpuPerCommand(send, 5_000); // warm-up
// Round-robin: each round measures every way once, so that a drift of the machine's speed
// weighs on all of them alike.
const runs = ways.map((): number[] => []);
for (let round = 0; round < 5; round++) for (const [index, [, send]] of ways.entries()) runs[index]!.push(await cpuPerCommand(send, COUNT));
for (const [index, [name]] of ways.entries()) {
  const sorted = runs[index]!.sort((a, b) => a - b);
  console.log(`${name.padEnd(44)} ${sorted[2]!.toFixed(2).padStart(6)}`);
}
await Promise.all([defaults.close(), declared.close(), connection.close()]);
