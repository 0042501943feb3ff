// Gateway memory under load and under oversized answers, against the fault upstream of
// tests/helpers/fault-upstream.ts (OpenAI wire protocol) — the RSS of the gateway process, sampled
// every 50 ms from /proc:
//   mixed     C connections for S seconds, half streaming (500 token events over 2 s), half JSON (at once),
//             every prompt different (cache misses and stores); state in Redis under a private key
//             prefix deleted afterwards (BENCH_STATE=memory keeps it in the process)
//   refusals  a 300 MB JSON answer (with its content-length, and chunked without one), a 500 MB stream
//             and an endless stream, each asked N times at once:
//             each must be refused (E4601 / E4602) while RSS stays low
// usage: node bench/memory.mjs [CONCURRENCY=100] [SECONDS=20] [REFUSALS_AT_ONCE=2]
// env: BENCH_STATE (redis), BENCH_REDIS_URL (redis://127.0.0.1:6379), BENCH_NODE_OPTIONS (node flags of the gateway),
//      BENCH_STREAM_MODEL (the fault upstream's model for streams, tokens:500:2000), BENCH_MAX_HEAP_MB (server.max_heap_mb)
// Prints JSON: peak and idle RSS in MB for each phase, request counts and the codes seen.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createClient } from '@redis/client';
import { Pool } from 'undici';
import { freePort, root, startProcess, stop } from './lib.mjs';

const concurrency = Number(process.argv[2] ?? 100);
const seconds = Number(process.argv[3] ?? 20);
const refusalsAtOnce = Number(process.argv[4] ?? 2);
const stateBackend = process.env.BENCH_STATE ?? 'redis';
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const keyPrefix = `l04:bench:${randomBytes(4).toString('hex')}:`;

const upstreamPort = await freePort();
const upstream = await startProcess(process.execPath, ['--import', 'tsx', join(root, 'bench', 'fault-upstream.ts'), String(upstreamPort)], upstreamPort);
const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'l04-memory-'));
const configPath = join(dir, 'memory.yaml');
writeFileSync(
  configPath,
  JSON.stringify({
    server: { host: '127.0.0.1', port, ...(process.env.BENCH_MAX_HEAP_MB === undefined ? {} : { max_heap_mb: Number(process.env.BENCH_MAX_HEAP_MB) }) },
    state: { backend: stateBackend, redis_url: redisUrl, key_prefix: keyPrefix },
    // One provider per fault (the same upstream), so that one fault's refusals do not open the next one's circuit.
    providers: Object.fromEntries(
      ['upstream', 'json-fault', 'chunked-fault', 'stream-fault', 'endless-fault'].map((id) => [
        id,
        { type: 'openai', base_url: `http://127.0.0.1:${upstreamPort}/v1`, max_concurrency: 1024 },
      ]),
    ),
    models: {
      stream: { provider: 'upstream', provider_model: process.env.BENCH_STREAM_MODEL ?? 'tokens:500:2000', capabilities: ['text', 'streaming'] },
      json: { provider: 'upstream', provider_model: 'ok', capabilities: ['text'] },
      'huge-json': { provider: 'json-fault', provider_model: 'huge-json:300', capabilities: ['text'] },
      'huge-json-chunked': { provider: 'chunked-fault', provider_model: 'huge-json-chunked:300', capabilities: ['text'] },
      'huge-stream': { provider: 'stream-fault', provider_model: 'huge-stream:500', capabilities: ['text', 'streaming'] },
      endless: { provider: 'endless-fault', provider_model: 'endless', capabilities: ['text', 'streaming'] },
    },
    routing: { max_attempts: 1 },
    rate_limits: { agent_default: { rpm: 1_000_000_000, tpm: 1_000_000_000_000 } },
    queue: { max_size: 10_000 },
    health: { enabled: false },
    logging: { level: 'warn' },
  }),
);
const nodeOptions = (process.env.BENCH_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
const gateway = await startProcess(process.execPath, [...nodeOptions, join(root, 'dist', 'cli.js'), 'serve', '--config', configPath], port);
const rssMb = () => {
  try {
    const status = readFileSync(`/proc/${gateway.pid}/status`, 'utf8');
    return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
  } catch {
    return 0;
  }
};

/** Runs `work` while sampling RSS; returns the peak. */
async function sampled(work) {
  let peak = rssMb();
  const timer = setInterval(() => (peak = Math.max(peak, rssMb())), 50);
  try {
    const result = await work();
    return { peak_rss_mb: Math.max(peak, rssMb()), ...result };
  } finally {
    clearInterval(timer);
  }
}

const pool = new Pool(`http://127.0.0.1:${port}`, { connections: concurrency + refusalsAtOnce * 3 });
let sequence = 0;
async function ask(model, stream) {
  const response = await pool.request({
    path: '/v1/chat/completions',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: `question ${sequence++} about memory under load` }] }),
  });
  const text = await response.body.text();
  const code = /"code":"(E\d{4})"/.exec(text)?.[1];
  return { ok: response.statusCode === 200 && code === undefined && (!stream || text.includes('[DONE]')), code };
}

const result = { concurrency, seconds, state: stateBackend, node_options: nodeOptions.join(' ') };
try {
  result.idle_rss_mb = rssMb();
  result.mixed = await sampled(async () => {
    const end = performance.now() + seconds * 1000;
    let ok = 0;
    let failed = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async (_, index) => {
        while (performance.now() < end) {
          const outcome = await ask(index % 2 === 0 ? 'stream' : 'json', index % 2 === 0).catch(() => ({ ok: false }));
          if (outcome.ok) ok++;
          else failed++;
        }
      }),
    );
    return { requests: ok, failed };
  });
  result.after_mixed_rss_mb = rssMb();
  for (const [name, model, stream] of [
    ['json_300mb', 'huge-json', false],
    ['json_300mb_chunked', 'huge-json-chunked', false],
    ['stream_500mb', 'huge-stream', true],
    ['endless_stream', 'endless', true],
  ]) {
    const before = rssMb();
    result[name] = await sampled(async () => {
      const outcomes = await Promise.all(
        Array.from({ length: refusalsAtOnce }, () => ask(model, stream).catch((error) => ({ ok: false, code: String(error.code) }))),
      );
      return { rss_before_mb: before, codes: outcomes.map((outcome) => (outcome.ok ? 'ok' : outcome.code)) };
    });
  }
  result.final_rss_mb = rssMb();
} finally {
  await pool.close();
  stop(gateway);
  stop(upstream);
  if (stateBackend === 'redis') {
    const redis = createClient({ url: redisUrl });
    await redis.connect();
    for await (const keys of redis.scanIterator({ MATCH: `${keyPrefix}*`, COUNT: 500 })) if (keys.length > 0) await redis.del(keys);
    await redis.quit();
  }
}
console.log(JSON.stringify(result));
