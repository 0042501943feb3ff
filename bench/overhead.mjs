// In-process overhead of the full ModelGateway pipeline over the mock adapter (0 ms latency):
// validation, rate limits, cache lookup (and store), routing, breaker, queue, accounting.
// usage: node bench/overhead.mjs [memory|redis] [REQUESTS=10000]
import { ModelGateway } from '../dist/index.js';
import { RedisConnection } from '../dist/state/redis-connection.js';

const backend = process.argv[2] ?? 'memory';
const requests = Number(process.argv[3] ?? 10_000);

function config(cacheEnabled) {
  return {
    state: { backend, key_prefix: `l04:bench:${process.pid}:` },
    providers: { mock: { type: 'mock', max_concurrency: 1024 } },
    models: { 'mock-1': { provider: 'mock', capabilities: ['text', 'streaming'], context_length: 32768 } },
    rate_limits: { agent_default: { rpm: 1_000_000_000, tpm: 1_000_000_000_000 } },
    cache: { enabled: cacheEnabled, embedder: { provider: 'local' } },
    health: { enabled: false },
    logging: { level: 'silent' },
  };
}

async function measure(label, cacheEnabled, promptOf) {
  const gateway = new ModelGateway(config(cacheEnabled), { healthChecks: false });
  await gateway.start();
  const request = (i) => ({
    agent_did: 'did:bench:agent',
    model_id: 'mock-1',
    logical_prompt: { messages: [{ role: 'user', content: promptOf(i) }] },
    requirements: { max_output_tokens: 64 },
  });
  for (let i = 0; i < 2000; i++) await gateway.complete(request(i));
  const samples = new Float64Array(requests);
  for (let i = 0; i < requests; i++) {
    const started = process.hrtime.bigint();
    await gateway.complete(request(i + 2000));
    samples[i] = Number(process.hrtime.bigint() - started) / 1000;
  }
  await gateway.close();
  samples.sort();
  const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  return { label, backend, requests, p50_us: Math.round(at(0.5)), p99_us: Math.round(at(0.99)) };
}

const results = [
  await measure('pipeline, cache off', false, (i) => `question number ${i}`),
  await measure('pipeline, cache miss + store', true, (i) => `question number ${i} about topic ${i % 97}`),
  await measure('pipeline, exact cache hit', true, () => 'the same question every time'),
];
if (backend === 'redis') {
  // Leave nothing behind: the cache entries would otherwise live for their TTL.
  const connection = new RedisConnection({ url: process.env.REDIS_URL ?? 'redis://localhost:6379', keyPrefix: '', commandTimeoutMs: 5000 });
  if (await connection.connect()) {
    for await (const keys of connection.scan(`l04:bench:${process.pid}:*`)) {
      // One DEL per key: in a cluster the keys of one batch may live on different masters.
      for (const key of keys) await connection.call(key, ['DEL', key]);
    }
  }
  await connection.close();
}
console.log(JSON.stringify(results));
