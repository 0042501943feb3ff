#!/usr/bin/env node
/**
 * `l04-gateway serve | check | models`.
 *   serve  [--config F] [--host H] [--port N] [--workers N|auto]   run the HTTP service (default config when no --config)
 *   check  [--config F]                         validate a config, list its providers and models, run every health check
 *   models [--config F]                         list the models a config defines
 * Exit codes: 0 ok, 1 invalid configuration (E4000/E4003) or start-up failure, 2 usage error.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { DEFAULT_CONFIG_PATH, loadConfigFile } from './config/load-config.js';
import type { GatewayConfig } from './config/config-schema.js';
import { configSecrets } from './config/config-secrets.js';
import { GatewayError } from './models/error-codes.js';
import type { ProviderHealth } from './models/provider-config.js';
import { ModelGateway } from './gateway/model-gateway.js';
import { GatewayServer } from './server/http-server.js';
import { clusterWorker, isClusterWorker, parseWorkersFlag, runPrimary, workerCount } from './server/workers.js';
import { boundHeap } from './server/heap-bound.js';
import { createLogger } from './observability/logger.js';
import { formatTable } from './util/format-table.js';

const USAGE = `usage: l04-gateway <serve|check|models> [--config FILE] [--host HOST] [--port PORT] [--workers N|auto]`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  let values: { config?: string; host?: string; port?: string; workers?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        config: { type: 'string', short: 'c' },
        host: { type: 'string' },
        port: { type: 'string', short: 'p' },
        workers: { type: 'string', short: 'w' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help === true || command === undefined || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  const configPath = values.config ?? DEFAULT_CONFIG_PATH;
  let config: GatewayConfig;
  try {
    config = loadConfigFile(configPath);
  } catch (error) {
    if (error instanceof GatewayError) {
      process.stderr.write(`${error.code} ${error.message}\n`);
      for (const issue of (error.details.issues as { path: string; message: string }[] | undefined) ?? [])
        process.stderr.write(`  ${issue.path}: ${issue.message}\n`);
      return 1;
    }
    throw error;
  }
  switch (command) {
    case 'serve': {
      const workers = values.workers === undefined ? config.server.workers : parseWorkersFlag(values.workers);
      if (workers === undefined) {
        process.stderr.write(`--workers must be a count from 1 to 256 or auto, got ${values.workers}\n`);
        return 2;
      }
      if (workerCount(workers) > 1 && !isClusterWorker())
        return runPrimary({ config, workers: workerCount(workers), log: (line) => process.stderr.write(`${line}\n`) });
      return serve(config, configPath, values.host, values.port);
    }
    case 'check':
      return check(config, configPath);
    case 'models':
      process.stdout.write(`${modelsTable(config)}\n`);
      return 0;
    default:
      process.stderr.write(`unknown command "${command}"\n${USAGE}\n`);
      return 2;
  }
}

async function serve(config: GatewayConfig, configPath: string, host: string | undefined, port: string | undefined): Promise<number> {
  // Re-executes this process with --max-old-space-size when it can (it never returns then); cluster workers start with it.
  const heap = boundHeap(config.server.max_heap_mb);
  // Buffered, asynchronous stdout: a request's log line must not cost it a write syscall. Flushed on shutdown.
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  const logger = createLogger({ level: config.logging.level, logContent: config.logging.log_content, secrets: configSecrets(config), destination });
  const portNumber = port === undefined ? undefined : Number(port);
  if (portNumber !== undefined && (!Number.isInteger(portNumber) || portNumber < 0 || portNumber > 65535)) {
    process.stderr.write(`--port must be 0-65535, got ${port}\n`);
    return 2;
  }
  const worker = clusterWorker();
  const gateway = new ModelGateway(worker?.config(config) ?? config, { logger, ...(worker === undefined ? {} : { metrics: worker.metrics }) });
  const server = new GatewayServer(gateway, { logger, ...(host === undefined ? {} : { host }), ...(portNumber === undefined ? {} : { port: portNumber }) });
  const address = await server.listen();
  // The first active check (already started) says at once which provider is not usable, e.g. Ollama not running.
  if (config.health.enabled) {
    for (const health of await gateway.checkProviders()) {
      if (health.status !== 'healthy') process.stderr.write(`l04-gateway: ${health.provider} is ${health.status}: ${describe(health)}\n`);
    }
  }
  if (!heap.bounded)
    logger.info({ max_heap_mb: config.server.max_heap_mb }, `heap not bounded: this Node cannot re-execute itself; start it with ${heap.flags.join(' ')}`);
  if (worker === undefined)
    process.stderr.write(
      `l04-gateway: serving ${Object.keys(config.models).length} models on ${address.url} (config ${configPath}); try: curl ${address.url}/v1/chat/completions -H 'content-type: application/json' -d '{"model":"mock-1","messages":[{"role":"user","content":"hello"}]}'\n`,
    );
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`l04-gateway: ${signal}: finishing in-flight requests\n`);
    server.close().then(
      () => {
        destination.flushSync();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        destination.flushSync();
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // A cluster worker reports to its primary, which prints one line for all workers.
  worker?.joined(gateway, address.url, stop);
  return new Promise<number>(() => undefined);
}

async function check(config: GatewayConfig, configPath: string): Promise<number> {
  process.stdout.write(`configuration ${configPath}: valid\n\n`);
  process.stdout.write(
    `${formatTable(
      ['provider', 'type', 'endpoint'],
      Object.entries(config.providers).map(([id, provider]) => [id, provider.type, 'base_url' in provider ? provider.base_url : '(in process)']),
    )}\n\n`,
  );
  process.stdout.write(`${modelsTable(config)}\n\n`);
  const gateway = new ModelGateway(config, { logger: createLogger({ level: 'silent' }), healthChecks: false });
  try {
    const results = await gateway.checkProviders();
    process.stdout.write(
      `${formatTable(
        ['provider', 'health', 'latency', 'detail'],
        results.map((health) => [health.provider, health.status, health.latency_ms === undefined ? '-' : `${health.latency_ms} ms`, describe(health)]),
      )}\n`,
    );
  } finally {
    await gateway.close();
  }
  return 0;
}

function modelsTable(config: GatewayConfig): string {
  return formatTable(
    ['model', 'provider', 'provider model', 'capabilities', 'context', 'cents/1k in/out'],
    Object.entries(config.models).map(([id, model]) => [
      id,
      model.provider,
      model.provider_model ?? id,
      model.capabilities.join(',') || '-',
      String(model.context_length),
      `${model.input_cost_per_1k_cents}/${model.output_cost_per_1k_cents}`,
    ]),
  );
}

function describe(health: ProviderHealth): string {
  const missing = Object.entries(health.models ?? {})
    .filter(([, present]) => !present)
    .map(([name]) => name);
  const parts = [health.message ?? (health.status === 'healthy' ? 'ok' : '')];
  if (health.version !== undefined) parts.push(`version ${health.version}`);
  if (missing.length > 0) parts.push(`missing: ${missing.join(', ')}`);
  if (health.hints !== undefined && health.hints.length > 0) parts.push(`fix: ${health.hints.join('; ')}`);
  return parts.filter(Boolean).join('; ');
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`l04-gateway: ${error instanceof GatewayError ? `${error.code} ${error.message}` : String(error)}\n`);
    process.exitCode = 1;
  },
);
