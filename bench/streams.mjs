// 1,000 concurrent SSE streams through the gateway (mock provider, 3 s per answer spread over its
// chunks): peak RSS of the gateway process while every stream is open.
// usage: node bench/streams.mjs [STREAMS=1000]
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { freePort, root, startProcess, stop } from './lib.mjs';

const streams = Number(process.argv[2] ?? 1000);
const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'l04-streams-'));
const configPath = join(dir, 'streams.yaml');
writeFileSync(
  configPath,
  JSON.stringify({
    server: { host: '127.0.0.1', port },
    state: { backend: 'memory' },
    providers: { mock: { type: 'mock', latency_ms: 3000, stream_chunks: 30, max_concurrency: 4096 } },
    models: { 'mock-1': { provider: 'mock', capabilities: ['text', 'streaming'] } },
    rate_limits: { agent_default: { rpm: 1_000_000_000, tpm: 1_000_000_000_000 } },
    queue: { max_size: 10_000 },
    cache: { enabled: false },
    health: { enabled: false },
    logging: { level: 'warn' },
  }),
);
const gateway = await startProcess(process.execPath, [join(root, 'dist', 'cli.js'), 'serve', '--config', configPath], port);
const rssMb = () => {
  const status = readFileSync(`/proc/${gateway.pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
};
const idleMb = rssMb();
const pool = new Pool(`http://127.0.0.1:${port}`, { connections: streams });
let peak = idleMb;
const sampler = setInterval(() => {
  peak = Math.max(peak, rssMb());
}, 100);
let completed = 0;
let failed = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: streams }, async (_, i) => {
    try {
      const response = await pool.request({
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'mock-1',
          stream: true,
          messages: [{ role: 'user', content: `stream number ${i} with a reasonably long answer to spread over chunks` }],
        }),
      });
      const text = await response.body.text();
      if (response.statusCode === 200 && text.includes('[DONE]')) completed++;
      else failed++;
    } catch {
      failed++;
    }
  }),
);
clearInterval(sampler);
peak = Math.max(peak, rssMb());
const seconds = (performance.now() - started) / 1000;
await pool.close();
stop(gateway);
console.log(JSON.stringify({ streams, completed, failed, idle_rss_mb: idleMb, peak_rss_mb: peak, wall_s: +seconds.toFixed(1) }));
