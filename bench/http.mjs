// HTTP throughput against ../shared/bench/instant-upstream.mjs, every path measured side by side in
// one interleaved run: in each round every path is measured right after a floor measurement of its
// own, and a path's ratio is the median over the rounds of its paired ratios to the floor (its
// req/s is the median of its rounds; the floor's, the median of all its measurements).
//   floor                 bench client → floor-proxy.mjs → instant upstream (a bare Node proxy hop)
//   memory, cache off     bench client → gateway → OpenAIAdapter → instant upstream
//   memory, cache miss    the same, cache on, every prompt new (lookup, miss, store)
//   memory, exact hit     the same, cache on, one prompt (answered from the cache)
//   redis, cache miss     state and cache in Redis, every prompt new
//   redis, exact hit      state and cache in Redis, one prompt
//   portkey               npx @portkey-ai/gateway → instant upstream (BENCH_PORTKEY=1)
// Before the rounds every path is warmed up once, unrecorded, for BENCH_WARMUP_SECONDS (5): a
// gateway's JIT takes seconds of traffic to settle, and a round measured before that reports the
// compiler, not the steady state a long-running gateway serves in.
// Pinned where it can be (BENCH_PIN, see bench/lib.mjs): every proxy under test runs alone on CPU 0
// and the load generator and the upstream on the other CPUs, so the harness takes no CPU from what
// it measures. Redis is a backing service like the upstream: when pinning and `redis-server` is
// installed, the Redis paths use a private, non-persistent redis-server on the harness CPUs (as a
// deployment runs Redis off the gateway's cores); otherwise the machine's Redis (state.redis_url's
// default), wherever the scheduler puts it. The report says which.
// usage: node bench/http.mjs [CONCURRENCY=50] [SECONDS=3] [ROUNDS=2]
// env: BENCH_PATHS=memory,redis (only the paths whose name contains one of these, and the floor)
//      BENCH_WARMUP_SECONDS (5; 0 for none), BENCH_PIN (0: no pinning), BENCH_LOG_LEVEL (info; warn: no request lines),
//      BENCH_NODE (a node binary for the floor and the gateways; the harness keeps the bench's own)
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  proxyNodeVersion,
  root,
  runJson,
  sharedBench,
  startPrivateRedis,
  startProcess,
  stop,
} from './lib.mjs';

const concurrency = process.argv[2] ?? '50';
const seconds = process.argv[3] ?? '3';
const rounds = Number(process.argv[4] ?? 2);
if (!haveShared) {
  console.log(JSON.stringify({ skipped: `no ${sharedBench}/floor-proxy.mjs` }));
  process.exit(0);
}

const chat = (model, content) => JSON.stringify({ model, messages: [{ role: 'user', content }] });
const dir = mkdtempSync(join(tmpdir(), 'l04-bench-'));
const upstreamPort = await freePort();
const upstream = await startProcess(...onCpus(CPUS.harness, process.execPath, [join(sharedBench, 'instant-upstream.mjs'), String(upstreamPort)]), upstreamPort);
const children = [upstream];

/** The Redis of the Redis paths: a private one on the harness CPUs when pinning, else the machine's. */
async function benchRedis() {
  if (!pinning || spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0)
    return { url: undefined, where: 'the machine’s Redis, not pinned' };
  const { url, child } = await startPrivateRedis();
  children.push(child);
  return { url, where: `a private redis-server on CPUs ${CPUS.harness}` };
}
const redis = await benchRedis();

/** A gateway process over the instant upstream; `state` memory or redis, cache on or off. */
async function gateway(name, state, cache) {
  const port = await freePort();
  const configPath = join(dir, `${name}.json`);
  writeFileSync(
    configPath,
    JSON.stringify(
      benchGatewayConfig({
        port,
        state,
        cache,
        upstreamPort,
        redisUrl: redis.url,
        keyPrefix: `l04:bench:${process.pid}:${name}:`,
        logLevel: process.env.BENCH_LOG_LEVEL ?? 'info',
      }),
    ),
  );
  const child = await startProcess(...onCpus(CPUS.measured, proxyNode, [join(root, 'dist', 'cli.js'), 'serve', '--config', configPath]), port, {
    stdout: 'ignore',
  });
  children.push(child);
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  proxyPids.set(url, child.pid);
  return url;
}

/** The process under test behind each URL: its CPU time is read around every measurement. */
const proxyPids = new Map();

const results = {};
try {
  const floorPort = await freePort();
  const floorProcess = await startProcess(
    ...onCpus(CPUS.measured, proxyNode, [join(sharedBench, 'floor-proxy.mjs'), String(floorPort), `http://127.0.0.1:${upstreamPort}`]),
    floorPort,
  );
  children.push(floorProcess);
  proxyPids.set(`http://127.0.0.1:${floorPort}/v1/chat/completions`, floorProcess.pid);
  const memoryOff = await gateway('memory-off', 'memory', false);
  const memoryOn = await gateway('memory-on', 'memory', true);
  const redisOn = await gateway('redis-on', 'redis', true);
  const paths = [
    ['floor', `http://127.0.0.1:${floorPort}/v1/chat/completions`, chat('bench', 'Say hello.'), '{}'],
    ['memory, cache off', memoryOff, chat('bench-openai', 'Say hello {{n}}.'), '{}'],
    ['memory, cache miss + store', memoryOn, chat('bench-openai', 'Say hello {{n}}.'), '{}'],
    ['memory, exact hit', memoryOn, chat('bench-openai', 'Say hello.'), '{}'],
    ['redis, cache miss + store', redisOn, chat('bench-openai', 'Say hello {{n}}.'), '{}'],
    ['redis, exact hit', redisOn, chat('bench-openai', 'Say hello.'), '{}'],
  ];
  if (process.env.BENCH_PORTKEY === '1') {
    try {
      children.push(await startProcess(...onCpus(CPUS.measured, 'npx', ['--yes', '@portkey-ai/gateway']), 8787, { timeoutMs: 120_000 }));
      const portkeyHeaders = JSON.stringify({
        'x-portkey-provider': 'openai',
        'x-portkey-custom-host': `http://127.0.0.1:${upstreamPort}/v1`,
        authorization: 'Bearer bench',
      });
      paths.push(['portkey', 'http://127.0.0.1:8787/v1/chat/completions', chat('bench', 'Say hello.'), portkeyHeaders]);
    } catch (error) {
      results.portkey = { skipped: String(error.message).slice(0, 200) };
    }
  }
  const only = process.env.BENCH_PATHS?.split(',').filter(Boolean);
  if (only !== undefined) paths.splice(0, paths.length, ...paths.filter(([name]) => name === 'floor' || only.some((part) => name.includes(part))));
  const warmupSeconds = process.env.BENCH_WARMUP_SECONDS ?? '5';
  if (Number(warmupSeconds) > 0)
    for (const [, url, body, headers] of paths) await runJson(['bench/load.mjs', url, body, concurrency, warmupSeconds, headers], {}, CPUS.harness);
  // Each path is measured right after a floor measurement of its own, and its ratio is the median
  // of those paired ratios: a shared machine's speed drifts within a run, and a floor measured
  // twenty seconds earlier would carry that drift into the ratio.
  // Each measurement also reads the CPU time the process under test spent per request (where /proc
  // exists; not for Portkey, whose server runs under npx): a path's CPU cost, which the machine's
  // drift moves less than its req/s, and which shows whether the floor kept its core busy.
  const measure = async ([, url, body, headers]) => {
    const pid = proxyPids.get(url);
    const before = cpuMicros(pid);
    const run = await runJson(['bench/load.mjs', url, body, concurrency, seconds, headers], {}, CPUS.harness);
    const after = cpuMicros(pid);
    const { requests, ...rest } = run;
    return before === undefined || after === undefined || !(requests > 0) ? rest : { ...rest, cpu_us: Math.round((after - before) / requests) };
  };
  const [floorPath, ...measured] = paths;
  const runs = Object.fromEntries(paths.map(([name]) => [name, []]));
  const ratios = Object.fromEntries(measured.map(([name]) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const path of measured) {
      const floorRun = await measure(floorPath);
      const run = await measure(path);
      runs.floor.push(floorRun);
      runs[path[0]].push(run);
      ratios[path[0]].push(floorRun.rps > 0 ? run.rps / floorRun.rps : 0);
    }
  }
  const median = (list) => {
    const sorted = [...list].sort((a, b) => a - b);
    const middle = sorted.length / 2;
    return Number.isInteger(middle) ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[Math.floor(middle)];
  };
  for (const [name, list] of Object.entries(runs)) {
    const sorted = [...list].sort((a, b) => a.rps - b.rps);
    const { cpu_us: _cpu, ...middle } = sorted[Math.floor(sorted.length / 2)];
    const cpu = list.flatMap((run) => (run.cpu_us === undefined ? [] : [run.cpu_us]));
    results[name] = { ...middle, rounds: list.map((run) => run.rps), ...(cpu.length === 0 ? {} : { cpu_us_per_request: Math.round(median(cpu)) }) };
    if (name in ratios)
      Object.assign(results[name], { ratio: Number(median(ratios[name]).toFixed(2)), ratios: ratios[name].map((ratio) => Number(ratio.toFixed(2))) });
  }
} finally {
  for (const child of children.reverse()) stop(child);
}
console.log(JSON.stringify({ ...results, pinning: pinning ? CPUS : false, redis: redis.where, node: { proxies: proxyNodeVersion, harness: process.version } }));
