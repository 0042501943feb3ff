// A small closed-loop HTTP load generator: C connections, each sending the next request as soon as
// the previous answer is read, for D seconds after a warm-up. Prints JSON {rps, p50_ms, p99_ms, errors, requests}.
// A `{{n}}` in the body is replaced by a number unique to each request (a prompt never seen before).
// usage: node bench/load.mjs URL BODY_JSON [CONCURRENCY=64] [SECONDS=5] [HEADERS_JSON={}]
import { Pool } from 'undici';

const [url, body, concurrencyArg = '64', secondsArg = '5', headersArg = '{}'] = process.argv.slice(2);
const target = new URL(url);
const concurrency = Number(concurrencyArg);
const seconds = Number(secondsArg);
const pool = new Pool(target.origin, { connections: concurrency, pipelining: 1 });
const headers = { 'content-type': 'application/json', ...JSON.parse(headersArg) };
const [head, tail] = body.split('{{n}}');
let sequence = 0;
const nextBody = tail === undefined ? () => body : () => `${head}${process.pid}-${sequence++}${tail}`;

async function run(durationMs, record) {
  const end = performance.now() + durationMs;
  let count = 0;
  let errors = 0;
  const latencies = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const started = performance.now();
        try {
          const response = await pool.request({ path: target.pathname, method: 'POST', headers, body: nextBody() });
          await response.body.text();
          if (response.statusCode !== 200) errors++;
          else count++;
        } catch {
          errors++;
        }
        if (record) latencies.push(performance.now() - started);
      }
    }),
  );
  return { count, errors, latencies };
}

const warm = await run(1000, false);
const result = await run(seconds * 1000, true);
result.latencies.sort((a, b) => a - b);
const pick = (q) => result.latencies[Math.min(result.latencies.length - 1, Math.floor(q * result.latencies.length))] ?? 0;
// `requests`: every answer, the warm-up's included, for a CPU cost per request of the process under test.
const requests = warm.count + warm.errors + result.count + result.errors;
console.log(
  JSON.stringify({ rps: Math.round(result.count / seconds), p50_ms: +pick(0.5).toFixed(2), p99_ms: +pick(0.99).toFixed(2), errors: result.errors, requests }),
);
await pool.close();
