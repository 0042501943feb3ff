// Throughput of `serve --workers 2` against one worker: C connections for S seconds each, against
// ../shared/bench/instant-upstream.mjs through the OpenAI adapter, state in Redis (both runs: more
// than one worker needs it) under a private key prefix deleted afterwards, cache off. The runs are
// interleaved (1, 2, 1, 2 …) so that a machine busy with something else hurts both alike.
// usage: node bench/workers.mjs [CONCURRENCY=50] [SECONDS=5] [ROUNDS=2]
// env: BENCH_REDIS_URL (redis://127.0.0.1:6379), BENCH_LOG_LEVEL (info)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@redis/client';
import { freePort, haveShared, root, runJson, sharedBench, startProcess, stop } from './lib.mjs';

const concurrency = process.argv[2] ?? '50';
const seconds = process.argv[3] ?? '5';
const rounds = Number(process.argv[4] ?? 2);
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
if (!haveShared) {
  console.log(JSON.stringify({ skipped: `no ${sharedBench}/instant-upstream.mjs` }));
  process.exit(0);
}

const keyPrefix = `l04:bench:${randomBytes(4).toString('hex')}:`;
const upstreamPort = await freePort();
const upstream = await startProcess(process.execPath, [join(sharedBench, 'instant-upstream.mjs'), String(upstreamPort)], upstreamPort);
const body = JSON.stringify({ model: 'bench-openai', messages: [{ role: 'user', content: 'Say hello.' }] });
const runs = { 1: [], 2: [] };

async function measure(workers) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'l04-workers-bench-'));
  const configPath = join(dir, 'bench.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      server: { host: '127.0.0.1', port },
      state: { backend: 'redis', redis_url: redisUrl, key_prefix: keyPrefix },
      providers: { upstream: { type: 'openai', base_url: `http://127.0.0.1:${upstreamPort}/v1`, max_concurrency: 1024 } },
      models: { 'bench-openai': { provider: 'upstream', capabilities: ['text'] } },
      rate_limits: { agent_default: { rpm: 1_000_000_000, tpm: 1_000_000_000_000 } },
      cache: { enabled: false },
      health: { enabled: false },
      logging: { level: process.env.BENCH_LOG_LEVEL ?? 'info' },
    }),
  );
  const gateway = await startProcess(process.execPath, [join(root, 'dist', 'cli.js'), 'serve', '--workers', String(workers), '--config', configPath], port);
  try {
    // The port accepts as soon as the first worker listens; a short warm-up lets the other start too.
    await new Promise((resolve) => setTimeout(resolve, workers > 1 ? 2_000 : 500));
    return await runJson(['bench/load.mjs', `http://127.0.0.1:${port}/v1/chat/completions`, body, concurrency, seconds]);
  } finally {
    stop(gateway);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

try {
  for (let round = 0; round < rounds; round++) for (const workers of [1, 2]) runs[workers].push(await measure(workers));
} finally {
  stop(upstream);
  const redis = createClient({ url: redisUrl });
  await redis.connect();
  for await (const keys of redis.scanIterator({ MATCH: `${keyPrefix}*`, COUNT: 500 })) if (keys.length > 0) await redis.del(keys);
  await redis.quit();
}
const mean = (results) => Math.round(results.reduce((sum, result) => sum + result.rps, 0) / results.length);
const one = mean(runs[1]);
const two = mean(runs[2]);
console.log(
  JSON.stringify({
    concurrency: Number(concurrency),
    seconds: Number(seconds),
    rounds,
    workers_1: runs[1],
    workers_2: runs[2],
    rps_1: one,
    rps_2: two,
    ratio: +(two / one).toFixed(2),
  }),
);
