// CPU per request of two builds of the gateway, measured side by side at the same time: both serve
// the same load on the same core (CPU 0 when pinning), so a machine whose speed drifts within a
// minute slows both alike, and the ratio of their CPU per request resolves changes of 2-3 % that
// two separate runs cannot. Each round loads both at once (half the connections each) for SECONDS,
// reads each process's CPU time (every thread, from /proc) and counts its answers; the report gives
// each build's CPU per request per round and the median over the rounds of B / A.
// usage: node bench/ab.mjs PATH ROUNDS DIST_A DIST_B
//   PATH: off (memory state, cache off), hit (memory, exact hit), rmiss (Redis, every prompt new), rhit (Redis, exact hit)
//   DIST_A, DIST_B: built `dist` folders. Copy an older build inside this repository (under
//   node_modules/.cache/, say) so that it resolves the same packages: `git stash && npm run build &&
//   cp -r dist node_modules/.cache/l04-dist-before && git stash pop && npm run build`.
// env: BENCH_SECONDS (3), BENCH_WARMUP_SECONDS (4, each build alone before the rounds),
//      BENCH_CONCURRENCY (50, split between the two), BENCH_NODE (a node binary for both builds)
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  CPUS,
  benchGatewayConfig,
  cpuMicros,
  freePort,
  haveShared,
  onCpus,
  pinning,
  proxyNode,
  runJson,
  sharedBench,
  startPrivateRedis,
  startProcess,
  stop,
} from './lib.mjs';

const [path, roundsArg, ...dists] = process.argv.slice(2);
const PATHS = {
  off: { state: 'memory', cache: false, prompt: 'Say hello {{n}}.' },
  hit: { state: 'memory', cache: true, prompt: 'Say hello.' },
  rmiss: { state: 'redis', cache: true, prompt: 'Say hello {{n}}.' },
  rhit: { state: 'redis', cache: true, prompt: 'Say hello.' },
};
const rounds = Number(roundsArg);
if (PATHS[path] === undefined || !(rounds >= 1) || dists.length !== 2) {
  console.error('usage: node bench/ab.mjs off|hit|rmiss|rhit ROUNDS DIST_A DIST_B');
  process.exit(2);
}
for (const dist of dists) if (!existsSync(join(dist, 'cli.js'))) throw new Error(`${dist}/cli.js not found: build first`);
if (!haveShared) {
  console.log(JSON.stringify({ skipped: `no ${sharedBench}/instant-upstream.mjs` }));
  process.exit(0);
}
if (cpuMicros(process.pid) === undefined) {
  console.log(JSON.stringify({ skipped: 'CPU time per process needs Linux /proc' }));
  process.exit(0);
}
const { state, cache, prompt } = PATHS[path];
const seconds = process.env.BENCH_SECONDS ?? '3';
const concurrency = Math.max(2, Math.round(Number(process.env.BENCH_CONCURRENCY ?? 50) / 2));
const body = JSON.stringify({ model: 'bench-openai', messages: [{ role: 'user', content: prompt }] });
const dir = mkdtempSync(join(tmpdir(), 'l04-ab-'));
const children = [];

try {
  const upstreamPort = await freePort();
  children.push(await startProcess(...onCpus(CPUS.harness, process.execPath, [join(sharedBench, 'instant-upstream.mjs'), String(upstreamPort)]), upstreamPort));
  let redisUrl;
  if (state === 'redis') {
    if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) throw new Error('the Redis paths need redis-server');
    const redis = await startPrivateRedis();
    children.push(redis.child);
    redisUrl = redis.url;
  }
  const gateways = [];
  for (const [index, dist] of dists.entries()) {
    const port = await freePort();
    const configPath = join(dir, `${index}.json`);
    writeFileSync(configPath, JSON.stringify(benchGatewayConfig({ port, state, cache, upstreamPort, redisUrl, keyPrefix: `l04:ab:${process.pid}:${index}:` })));
    const child = await startProcess(...onCpus(CPUS.measured, proxyNode, [join(resolve(dist), 'cli.js'), 'serve', '--config', configPath]), port);
    children.push(child);
    gateways.push({ dist, pid: child.pid, url: `http://127.0.0.1:${port}/v1/chat/completions`, cpu: [] });
  }
  const load = (gateway, secs, connections) => runJson(['bench/load.mjs', gateway.url, body, String(connections), String(secs), '{}'], {}, CPUS.harness);
  for (const gateway of gateways) await load(gateway, process.env.BENCH_WARMUP_SECONDS ?? '4', concurrency * 2);
  const ratios = [];
  for (let round = 0; round < rounds; round++) {
    const before = gateways.map((gateway) => cpuMicros(gateway.pid));
    const runs = await Promise.all(gateways.map((gateway) => load(gateway, seconds, concurrency)));
    gateways.forEach((gateway, index) => gateway.cpu.push(Math.round((cpuMicros(gateway.pid) - before[index]) / runs[index].requests)));
    ratios.push(Number((gateways[1].cpu[round] / gateways[0].cpu[round]).toFixed(3)));
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  const median = sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  console.log(
    JSON.stringify({
      path,
      pinned: pinning ? CPUS : false,
      a: { dist: gateways[0].dist, cpu_us_per_request: gateways[0].cpu },
      b: { dist: gateways[1].dist, cpu_us_per_request: gateways[1].cpu },
      b_over_a: { median: Number(median.toFixed(3)), rounds: ratios },
    }),
  );
} finally {
  for (const child of children.reverse()) stop(child);
}
