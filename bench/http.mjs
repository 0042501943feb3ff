// HTTP throughput, all measured in one run against ../shared/bench/instant-upstream.mjs:
//   floor     bench client -> floor-proxy.mjs -> instant upstream (a bare Node proxy hop)
//   gateway   bench client -> l04 gateway -> OpenAIAdapter -> instant upstream
//   mock      bench client -> l04 gateway -> mock provider (no upstream hop)
//   portkey   bench client -> npx @portkey-ai/gateway -> instant upstream (BENCH_PORTKEY=1)
// usage: node bench/http.mjs [CONCURRENCY=64] [SECONDS=5]
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, haveShared, root, runJson, sharedBench, startProcess, stop } from './lib.mjs';

const concurrency = process.argv[2] ?? '64';
const seconds = process.argv[3] ?? '5';
if (!haveShared) {
  console.log(JSON.stringify({ skipped: `no ${sharedBench}/floor-proxy.mjs` }));
  process.exit(0);
}

const upstreamPort = await freePort();
const upstream = await startProcess(process.execPath, [join(sharedBench, 'instant-upstream.mjs'), String(upstreamPort)], upstreamPort);
const body = (model) => JSON.stringify({ model, messages: [{ role: 'user', content: 'Say hello.' }] });
const results = {};

try {
  const floorPort = await freePort();
  const floor = await startProcess(process.execPath, [join(sharedBench, 'floor-proxy.mjs'), String(floorPort), `http://127.0.0.1:${upstreamPort}`], floorPort);
  results.floor = await runJson(['bench/load.mjs', `http://127.0.0.1:${floorPort}/v1/chat/completions`, body('bench'), concurrency, seconds]);
  stop(floor);

  const gatewayPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'l04-bench-'));
  const configPath = join(dir, 'bench.yaml');
  writeFileSync(
    configPath,
    JSON.stringify({
      server: { host: '127.0.0.1', port: gatewayPort },
      state: { backend: process.env.BENCH_STATE ?? 'memory' },
      providers: {
        upstream: { type: 'openai', base_url: `http://127.0.0.1:${upstreamPort}/v1`, max_concurrency: 1024 },
        mock: { type: 'mock', max_concurrency: 1024 },
      },
      models: { 'bench-openai': { provider: 'upstream', capabilities: ['text'] }, 'mock-1': { provider: 'mock', capabilities: ['text'] } },
      rate_limits: { agent_default: { rpm: 1_000_000_000, tpm: 1_000_000_000_000 } },
      cache: { enabled: false },
      health: { enabled: false },
      logging: { level: process.env.BENCH_LOG_LEVEL ?? 'info' },
    }),
  );
  const gateway = await startProcess(process.execPath, [join(root, 'dist', 'cli.js'), 'serve', '--config', configPath], gatewayPort);
  results.gateway = await runJson(['bench/load.mjs', `http://127.0.0.1:${gatewayPort}/v1/chat/completions`, body('bench-openai'), concurrency, seconds]);
  results.mock = await runJson(['bench/load.mjs', `http://127.0.0.1:${gatewayPort}/v1/chat/completions`, body('mock-1'), concurrency, seconds]);
  stop(gateway);

  if (process.env.BENCH_PORTKEY === '1') {
    const portkeyPort = 8787;
    try {
      const portkey = await startProcess('npx', ['--yes', '@portkey-ai/gateway'], portkeyPort, { timeoutMs: 120_000 });
      results.portkey = await runJson([
        'bench/load.mjs',
        `http://127.0.0.1:${portkeyPort}/v1/chat/completions`,
        body('bench'),
        concurrency,
        seconds,
        JSON.stringify({ 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `http://127.0.0.1:${upstreamPort}/v1`, authorization: 'Bearer bench' }),
      ]);
      stop(portkey);
    } catch (error) {
      results.portkey = { skipped: String(error.message).slice(0, 200) };
    }
  }
} finally {
  stop(upstream);
}
console.log(JSON.stringify(results));
