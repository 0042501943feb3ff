// `npm run bench`: every benchmark of the gateway, measured in one run, printed as a report.
// Ratios are against ../shared/bench/floor-proxy.mjs measured in the same run. Not a test: no
// thresholds here; the README records the figures with the machine they came from.
// env: BENCH_SECONDS (3), BENCH_CONCURRENCY (50), BENCH_ROUNDS (2), BENCH_PORTKEY=1 (also measure Portkey's gateway),
//      BENCH_WARMUP_SECONDS (5, each HTTP path once before the measured rounds),
//      BENCH_PIN (default on with taskset and 2+ CPUs: the proxy under test on CPU 0, the harness on the rest; 0 = off),
//      BENCH_MEMORY_SECONDS (20, the mixed load of bench/memory.mjs),
//      BENCH_NODE (a node binary for the floor and the gateways under test; the harness keeps this Node)
import { cpus, totalmem } from 'node:os';
import { spawnSync } from 'node:child_process';
import { runJson } from './lib.mjs';

const seconds = process.env.BENCH_SECONDS ?? '3';
const concurrency = process.env.BENCH_CONCURRENCY ?? '50';
const rounds = process.env.BENCH_ROUNDS ?? '2';
const line = (text = '') => process.stdout.write(`${text}\n`);

line(`# L04 gateway benchmarks — ${new Date().toISOString()}`);
line(`machine: ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
line();

line('## In-process overhead: ModelGateway over the mock adapter (10,000 sequential requests)');
line('| pipeline | state | p50 µs | p99 µs |');
line('|---|---|---|---|');
for (const backend of ['memory', 'redis']) {
  try {
    for (const result of await runJson(['bench/overhead.mjs', backend])) line(`| ${result.label} | ${backend} | ${result.p50_us} | ${result.p99_us} |`);
  } catch (error) {
    line(`| (failed: ${error.message}) | ${backend} | | |`);
  }
}
line();

line(
  `## HTTP throughput (${concurrency} connections, ${seconds} s per measurement, ${rounds} interleaved rounds after a ${process.env.BENCH_WARMUP_SECONDS ?? '5'} s warm-up of each path, instant upstream)`,
);
const http = await runJson(['bench/http.mjs', concurrency, seconds, rounds]);
if (http.skipped) line(`skipped: ${http.skipped}`);
else {
  line(
    http.pinning
      ? `pinned: each proxy under test alone on CPU ${http.pinning.measured}, the load generator and the upstream on CPUs ${http.pinning.harness} (BENCH_PIN=0 to let the scheduler place them)`
      : 'not pinned: the scheduler places the proxies, the load generator and the upstream',
  );
  line(`Redis paths: ${http.redis}`);
  line(`Node: ${http.node.proxies} for the floor and the gateways (BENCH_NODE), ${http.node.harness} for the harness`);
  line('ratio to floor: the median over the rounds of the path against the floor measured just before it (per round in brackets)');
  line('CPU µs / request: the process under test, every thread, median over its measurements (the warm-up second of each included)');
  line();
  line('| path | req/s (median) | per round | p50 ms | p99 ms | errors | CPU µs / request | ratio to floor |');
  line('|---|---|---|---|---|---|---|---|');
  const { pinning: _pinning, redis: _redis, node: _node, ...paths } = http;
  for (const [name, result] of Object.entries(paths)) {
    if (result.skipped) line(`| ${name} | skipped: ${result.skipped} | | | | | | |`);
    else
      line(
        `| ${name} | ${result.rps} | ${result.rounds.join(', ')} | ${result.p50_ms} | ${result.p99_ms} | ${result.errors} | ${result.cpu_us_per_request ?? '-'} | ${name === 'floor' ? '1.00' : `${result.ratio?.toFixed(2) ?? '-'} (${result.ratios?.join(', ') ?? ''})`} |`,
      );
  }
}
line();

line('## Rate limiter and queue (10,000 sequential decisions)');
line('| operation | p50 µs | p99 µs |');
line('|---|---|---|');
for (const result of await runJson(['bench/limiter.mjs']))
  line(result.skipped ? `| ${result.label} | skipped: ${result.skipped} | |` : `| ${result.label} | ${result.p50_us} | ${result.p99_us} |`);
line();

line('## Semantic cache lookup (embedding excluded)');
const cache = spawnSync(process.execPath, ['--import', 'tsx', 'bench/cache-bench.ts'], { encoding: 'utf8' });
line(cache.status === 0 ? cache.stdout.trim() : `failed: ${cache.stderr.trim().split('\n').slice(-3).join(' ')}`);
line();

line('## 1,000 concurrent streams');
const streams = await runJson(['bench/streams.mjs', '1000']);
line(
  `${streams.completed}/${streams.streams} streams completed (${streams.failed} failed) in ${streams.wall_s} s; gateway RSS ${streams.idle_rss_mb} MB idle, ${streams.peak_rss_mb} MB peak`,
);
line();

line('## Gateway memory: 100 connections of mixed streaming, then oversized answers refused');
const memory = await runJson(['bench/memory.mjs', '100', process.env.BENCH_MEMORY_SECONDS ?? '20', '1']);
line('| phase | gateway peak RSS | outcome |');
line('|---|---|---|');
line(`| idle | ${memory.idle_rss_mb} MB | |`);
line(
  `| mixed: half streams, half JSON, ${memory.seconds} s | ${memory.mixed.peak_rss_mb} MB | ${memory.mixed.requests} answered, ${memory.mixed.failed} failed |`,
);
for (const [name, label] of [
  ['json_300mb', '300 MB JSON answer (content-length)'],
  ['json_300mb_chunked', '300 MB JSON answer (chunked)'],
  ['stream_500mb', '500 MB stream'],
  ['endless_stream', 'endless stream'],
])
  line(`| ${label} | ${memory[name].peak_rss_mb} MB (${memory[name].rss_before_mb} MB before) | ${memory[name].codes.join(', ')} |`);
line();

line('## Throughput with --workers 2 against 1 (50 connections, Redis state, instant upstream)');
const workers = await runJson(['bench/workers.mjs', '50', seconds, '2']);
if (workers.skipped) line(`skipped: ${workers.skipped}`);
else line(`1 worker: ${workers.rps_1} req/s; 2 workers: ${workers.rps_2} req/s; ratio ${workers.ratio}`);
