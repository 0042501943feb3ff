// Cost of one agent rate-limit decision (admit + settle) on memory and on Redis, and of one queue
// acquire/release, p50/p99 in microseconds over 10,000 sequential decisions.
// usage: node bench/limiter.mjs [REDIS_URL=redis://127.0.0.1:6379]
import { RateLimiter } from '../dist/limits/rate-limiter.js';
import { RequestQueue } from '../dist/resilience/request-queue.js';
import { MemoryRateLimitStore } from '../dist/limits/memory-rate-limit-store.js';
import { RedisRateLimitStore } from '../dist/limits/redis-rate-limit-store.js';
import { RedisConnection } from '../dist/state/redis-connection.js';
import { systemClock } from '../dist/util/clock.js';

const N = 10_000;
const config = { agent_default: { rpm: 1_000_000_000, tpm: 1_000_000_000_000 }, agents: {}, failure_mode: 'open' };

async function time(label, fn) {
  for (let i = 0; i < 1000; i++) await fn(i);
  const samples = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const started = process.hrtime.bigint();
    await fn(i);
    samples[i] = Number(process.hrtime.bigint() - started) / 1000;
  }
  samples.sort();
  const at = (q) => samples[Math.min(N - 1, Math.floor(q * N))];
  return { label, p50_us: +at(0.5).toFixed(1), p99_us: +at(0.99).toFixed(1) };
}

const results = [];
const memory = new RateLimiter({
  store: new MemoryRateLimitStore({ clock: systemClock }),
  fallback: new MemoryRateLimitStore({ clock: systemClock }),
  config,
  clock: systemClock,
});
results.push(
  await time('limiter decision + settle (memory)', async (i) => {
    const admission = await memory.admitAgent(`did:bench:${i % 100}`, 500);
    await admission.reservation.settle(300);
  }),
);

const connection = new RedisConnection({
  url: process.argv[2] ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  keyPrefix: `l04:bench:${process.pid}:`,
  commandTimeoutMs: 1000,
});
if (await connection.connect()) {
  const redis = new RateLimiter({
    store: new RedisRateLimitStore({ connection }),
    fallback: new MemoryRateLimitStore({ clock: systemClock }),
    isPrimaryReady: () => connection.isReady(),
    config,
    clock: systemClock,
  });
  results.push(await time('limiter decision (Redis, one script)', (i) => redis.admitAgent(`did:bench:${i % 100}`, 500)));
  results.push(
    await time('limiter decision + settle (Redis)', async (i) => {
      const admission = await redis.admitAgent(`did:bench:${i % 100}`, 500);
      await admission.reservation.settle(300);
    }),
  );
  for await (const keys of connection.scan(`*l04:bench:${process.pid}:*`)) {
    // One DEL per key: in a cluster the keys of one batch may live on different masters.
    for (const key of keys) await connection.call(key, ['DEL', key]);
  }
} else {
  results.push({ label: 'limiter decision (Redis)', skipped: 'Redis not answering' });
}
await connection.close();

const queue = new RequestQueue({ provider: 'bench', maxConcurrency: 64, maxSize: 1000, agingMs: 10_000, clock: systemClock });
results.push(
  await time('queue acquire + release (uncontended)', async () => {
    const ticket = await queue.acquire({ priority: 'normal', deadlineAt: Date.now() + 30_000, tokens: 500 });
    ticket.release();
  }),
);
console.log(JSON.stringify(results));
