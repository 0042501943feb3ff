/**
 * `l04-gateway serve`: the HTTP service until SIGINT or SIGTERM. Log lines go to standard output
 * as they are written (pretty on a terminal, JSON otherwise); start-up and shutdown notes go to
 * standard error. A failure to listen (port in use, no permission, unknown address) is one line
 * on standard error and exit code 1, after the gateway has released what it opened.
 */
import type { GatewayConfig } from '../config/config-schema.js';
import { configSecrets } from '../config/config-secrets.js';
import { ModelGateway } from '../gateway/model-gateway.js';
import { GatewayServer } from '../server/http-server.js';
import { createLogger } from '../observability/logger.js';
import { createLogDestination } from '../observability/log-destination.js';
import type { LogFormat } from '../observability/log-destination.js';
import { clusterWorker, isClusterWorker, parseWorkersFlag, runPrimary, workerCount } from '../server/workers.js';
import { boundHeap } from '../server/heap-bound.js';
import { describeHealth } from './cli-support.js';
import type { CliIo, CliValues } from './cli-support.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json', 'pretty'];
/** Longest wait for the gateway to release its connections when start-up fails. */
const ABORT_CLOSE_MS = 3_000;

/**
 * Runs the service; resolves only when it cannot start (with exit code 1 or 2). With more than one
 * worker this process becomes the primary of a node:cluster (`server/workers.ts`) and each worker
 * runs this function in turn.
 */
export async function serve(config: GatewayConfig, configPath: string, values: CliValues, io: CliIo): Promise<number> {
  const options = serveOptions(config, values);
  if (typeof options === 'string') {
    io.stderr(`l04-gateway serve: ${options}\n`);
    return 2;
  }
  if (workerCount(options.workers) > 1 && !isClusterWorker()) {
    return runPrimary({ config, workers: workerCount(options.workers), log: (line) => io.stderr(`${line}\n`) });
  }
  // Re-executes this process with --max-old-space-size when it can (it never returns then); cluster workers start with it.
  const heap = boundHeap(config.server.max_heap_mb);
  const destination = createLogDestination({ format: options.format });
  const logger = createLogger({ level: options.level, logContent: config.logging.log_content, secrets: configSecrets(config), destination });
  const worker = clusterWorker();
  const gateway = new ModelGateway(worker?.config(config) ?? config, { logger, ...(worker === undefined ? {} : { metrics: worker.metrics }) });
  const server = new GatewayServer(gateway, { logger, host: options.host, port: options.port });
  let address: { url: string };
  try {
    address = await server.listen();
  } catch (error) {
    io.stderr(`l04-gateway: cannot listen on ${options.host}:${options.port}: ${listenProblem(error)}\n`);
    await Promise.race([gateway.close().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, ABORT_CLOSE_MS).unref())]);
    return 1;
  }
  // The first active check (already started) says at once which provider is not usable, e.g. Ollama not running.
  if (config.health.enabled) {
    for (const health of await gateway.checkProviders()) {
      if (health.status !== 'healthy') io.stderr(`l04-gateway: ${health.provider} is ${health.status}: ${describeHealth(health)}\n`);
    }
  }
  if (!heap.bounded) {
    logger.info({ max_heap_mb: config.server.max_heap_mb }, `heap not bounded: this Node cannot re-execute itself; start it with ${heap.flags.join(' ')}`);
  }
  // A cluster worker reports to its primary, which prints one line for all workers.
  if (worker === undefined) {
    io.stderr(
      `l04-gateway: serving ${Object.keys(config.models).length} models on ${address.url} (config ${configPath}); dashboard: ${address.url}/dashboard; try: curl ${address.url}/v1/chat/completions -H 'content-type: application/json' -d '{"model":"mock-1","messages":[{"role":"user","content":"hello"}]}'\n`,
    );
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    io.stderr(`l04-gateway: ${signal}: finishing in-flight requests\n`);
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
  worker?.joined(gateway, address.url, stop);
  return new Promise<number>(() => undefined);
}

interface ServeOptions {
  host: string;
  port: number;
  workers: NonNullable<ReturnType<typeof parseWorkersFlag>>;
  level: (typeof LOG_LEVELS)[number];
  format: LogFormat;
}

/** The options of `serve` with the config's defaults, or what is wrong with them. */
function serveOptions(config: GatewayConfig, values: CliValues): ServeOptions | string {
  const { host, port, workers, 'log-level': level, 'log-format': format } = values;
  const workerSetting = typeof workers === 'string' ? parseWorkersFlag(workers) : config.server.workers;
  if (workerSetting === undefined) return `--workers must be a count from 1 to 256 or auto, got ${String(workers)}`;
  const portNumber = typeof port === 'string' ? Number(port) : config.server.port;
  if (typeof port === 'string' && !(/^\d{1,5}$/.test(port) && portNumber <= 65535)) return `--port must be 0-65535, got ${port}`;
  if (typeof level === 'string' && !(LOG_LEVELS as readonly string[]).includes(level))
    return `--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${level}`;
  if (typeof format === 'string' && !(LOG_FORMATS as readonly string[]).includes(format))
    return `--log-format must be one of ${LOG_FORMATS.join(', ')}, got ${format}`;
  return {
    host: typeof host === 'string' ? host : config.server.host,
    port: portNumber,
    workers: workerSetting,
    level: typeof level === 'string' ? (level as ServeOptions['level']) : config.logging.level,
    format: typeof format === 'string' ? (format as LogFormat) : 'auto',
  };
}

function listenProblem(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  switch (code) {
    case 'EADDRINUSE':
      return 'the port is already in use (EADDRINUSE); stop the process that holds it, or pass --port';
    case 'EACCES':
      return 'permission denied (EACCES); ports below 1024 need privileges, pass --port';
    case 'EADDRNOTAVAIL':
      return 'the address is not one of this machine (EADDRNOTAVAIL); check --host or server.host';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name does not resolve (${code}); check --host or server.host`;
    default:
      return error instanceof Error ? error.message : String(error);
  }
}
