/**
 * What building an object costs on the running Node, per shape: a literal that starts with a spread
 * and adds to it (Node 20's slow path, see `src/util/merged.ts`), the same object through `merged()`,
 * and written out. Median of 5 runs of 200,000 objects each, in nanoseconds per object.
 * Run: `npx tsx scripts/spread-cost.ts` (and with another Node: `/path/to/node --import tsx scripts/spread-cost.ts`).
 */
import { merged } from '../src/util/merged.js';

const labels = { route: 'chat', model: 'm', provider: 'p', tenant: 't' };
const entry = { partition: 'p', exactKey: 'k', tenant: 't', payload: 'x', createdAt: 1, expiresAt: 2, vector: undefined };

const shapes: Array<[string, (i: number) => unknown]> = [
  ['{ ...labels, cache }', (i) => ({ ...labels, cache: i & 1 ? 'hit' : 'miss' })],
  ['merged(labels, { cache })', (i) => merged(labels, { cache: i & 1 ? 'hit' : 'miss' })],
  [
    '{ model, provider, …, cache } written out',
    (i) => ({ route: labels.route, model: labels.model, provider: labels.provider, tenant: labels.tenant, cache: i & 1 ? 'hit' : 'miss' }),
  ],
  ['{ ...(cond ? {} : { a }), b }', (i) => ({ ...(i & 1 ? {} : { a: 1 }), b: 2 })],
  ['{ b, ...(cond ? {} : { a }) }', (i) => ({ b: 2, ...(i & 1 ? {} : { a: 1 }) })],
  ['{ ...entry, id, live, older, newer }', (i) => ({ ...entry, id: String(i), live: true, older: undefined, newer: undefined })],
  ['merged(entry, { id, live, older, newer })', (i) => merged(entry, { id: String(i), live: true, older: undefined, newer: undefined })],
];

const COUNT = 200_000;
let sink = 0;
console.log(`Node ${process.version}: nanoseconds per object (median of 5 runs of ${COUNT.toLocaleString('en')})`);
for (const [name, build] of shapes) {
  for (let i = 0; i < 20_000; i++) sink += build(i) === undefined ? 0 : 1; // warm-up
  const runs: number[] = [];
  for (let run = 0; run < 5; run++) {
    const started = performance.now();
    for (let i = 0; i < COUNT; i++) sink += build(i) === undefined ? 0 : 1;
    runs.push(((performance.now() - started) * 1e6) / COUNT);
  }
  runs.sort((a, b) => a - b);
  console.log(`${name.padEnd(44)} ${runs[2]!.toFixed(0).padStart(6)}`);
}
if (sink === 0) console.log('(nothing built)');
