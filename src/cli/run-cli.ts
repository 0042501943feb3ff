/**
 * `l04-gateway <serve|check|models|usage> [options]`, `l04-gateway --help`, `l04-gateway help
 * <command>` and `l04-gateway <command> --help`. Returns the exit code: 0 ok, 1 invalid
 * configuration (E4000/E4003) or a failure, 2 wrong usage. Output goes through `CliIo`, so that
 * every command but `serve` runs in-process in tests.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG_PATH, loadConfigFile } from '../config/load-config.js';
import type { GatewayConfig } from '../config/config-schema.js';
import { GatewayError } from '../models/error-codes.js';
import { ModelGateway } from '../gateway/model-gateway.js';
import { createLogger } from '../observability/logger.js';
import { formatTable } from '../util/format-table.js';
import { COMMANDS, findCommand, helpText } from './cli-commands.js';
import type { CliCommand } from './cli-commands.js';
import { serve } from './serve-command.js';
import { usage } from './usage-command.js';
import { describeHealth, processIo } from './cli-support.js';
import type { CliIo, CliValues } from './cli-support.js';

/** Runs one command line (without `node` and the script); resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr(helpText());
    return 2;
  }
  if (name === '--help' || name === '-h') {
    io.stdout(helpText());
    return 0;
  }
  if (name === 'help') {
    const topic = rest[0] === undefined ? undefined : findCommand(rest[0]);
    if (rest[0] !== undefined && topic === undefined) return wrongUsage(io, `unknown command "${rest[0]}"`);
    io.stdout(helpText(topic));
    return 0;
  }
  const command = findCommand(name);
  if (command === undefined) return wrongUsage(io, `unknown command "${name}"; commands: ${COMMANDS.map((item) => item.name).join(', ')}`);
  let values: CliValues;
  try {
    ({ values } = parseArgs({ args: [...rest], options: command.options, strict: true, allowPositionals: false }));
  } catch (error) {
    return wrongUsage(io, (error as Error).message, command);
  }
  if (values.help === true) {
    io.stdout(helpText(command));
    return 0;
  }
  const configPath = typeof values.config === 'string' ? values.config : DEFAULT_CONFIG_PATH;
  const config = loadOrReport(configPath, io);
  if (config === undefined) return 1;
  switch (command.name) {
    case 'serve':
      return serve(config, configPath, values, io);
    case 'check':
      return check(config, configPath, io);
    case 'models':
      io.stdout(`${modelsTable(config)}\n`);
      return 0;
    case 'usage':
      return usage(config, values, io);
    default:
      return wrongUsage(io, `unknown command "${command.name}"`);
  }
}

/** Reports wrong usage on stderr (with the command's help when known); returns 2. */
export function wrongUsage(io: CliIo, message: string, command?: CliCommand): number {
  io.stderr(`l04-gateway: ${message}\n\n${helpText(command)}`);
  return 2;
}

function loadOrReport(path: string, io: CliIo): GatewayConfig | undefined {
  try {
    return loadConfigFile(path);
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    io.stderr(`${error.code} ${error.message}\n`);
    for (const issue of (error.details.issues as { path: string; message: string }[] | undefined) ?? []) io.stderr(`  ${issue.path}: ${issue.message}\n`);
    return undefined;
  }
}

async function check(config: GatewayConfig, configPath: string, io: CliIo): Promise<number> {
  io.stdout(`configuration ${configPath}: valid\n\n`);
  io.stdout(
    `${formatTable(
      ['provider', 'type', 'endpoint'],
      Object.entries(config.providers).map(([id, provider]) => [id, provider.type, 'base_url' in provider ? provider.base_url : '(in process)']),
    )}\n\n`,
  );
  io.stdout(`${modelsTable(config)}\n\n`);
  const gateway = new ModelGateway(config, { logger: createLogger({ level: 'silent' }), healthChecks: false });
  try {
    const results = await gateway.checkProviders();
    io.stdout(
      `${formatTable(
        ['provider', 'health', 'latency', 'detail'],
        results.map((health) => [health.provider, health.status, health.latency_ms === undefined ? '-' : `${health.latency_ms} ms`, describeHealth(health)]),
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
