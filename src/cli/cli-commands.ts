/**
 * The commands of `l04-gateway`, their options and their help text: one table that both the
 * argument parser and `--help` read, so that the help never drifts from what is accepted.
 */

/** One option of a command (`node:util` parseArgs shape plus its help line). */
export interface CliOption {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder shown in the help (`FILE`, `N`). */
  value?: string;
  description: string;
}

/** One command. */
export interface CliCommand {
  name: string;
  summary: string;
  /** Lines after the option list (examples, notes). */
  notes?: string[];
  options: Record<string, CliOption>;
}

const CONFIG: CliOption = {
  type: 'string',
  short: 'c',
  value: 'FILE',
  description: 'configuration file, YAML or JSON (default: the built-in config/default.yaml)',
};
const HELP: CliOption = { type: 'boolean', short: 'h', description: 'show this help' };

/** Every command, in the order the help lists them. */
export const COMMANDS: readonly CliCommand[] = [
  {
    name: 'serve',
    summary: 'run the HTTP service (OpenAI-compatible API, native API, /dashboard)',
    options: {
      config: CONFIG,
      host: { type: 'string', value: 'HOST', description: 'bind address (default: server.host, 127.0.0.1)' },
      port: { type: 'string', short: 'p', value: 'N', description: 'port, 0 for any free one (default: server.port, 8080)' },
      workers: {
        type: 'string',
        short: 'w',
        value: 'N|auto',
        description: 'processes serving the port, or auto for one per core; more than one needs Redis state (default: server.workers, 1)',
      },
      'log-level': { type: 'string', value: 'LEVEL', description: 'fatal, error, warn, info, debug, trace or silent (default: logging.level)' },
      'log-format': { type: 'string', value: 'FORMAT', description: 'auto (pretty on a terminal, JSON otherwise), json or pretty (default: auto)' },
      help: HELP,
    },
    notes: ['Stops on SIGINT or SIGTERM after in-flight requests finish (server.shutdown_grace_ms).'],
  },
  {
    name: 'check',
    summary: 'validate a config, list its providers and models, run every health check',
    options: { config: CONFIG, help: HELP },
  },
  {
    name: 'models',
    summary: 'list the models a config defines',
    options: { config: CONFIG, help: HELP },
  },
  {
    name: 'usage',
    summary: 'print spend and tokens from the PostgreSQL ledger (usage.postgres_url)',
    options: {
      config: CONFIG,
      since: { type: 'string', value: 'TIME', description: 'from this time (default: today, 00:00 UTC)' },
      until: { type: 'string', value: 'TIME', description: 'up to this time, excluded (default: now)' },
      'group-by': { type: 'string', short: 'g', value: 'DIM', description: 'agent, tenant, model or day (default: agent)' },
      agent: { type: 'string', value: 'DID', description: 'only this agent' },
      tenant: { type: 'string', value: 'TENANT', description: 'only this tenant' },
      limit: { type: 'string', value: 'N', description: 'most rows, 1-1000 (default: 100); the totals cover everything' },
      json: { type: 'boolean', description: 'print the JSON of GET /v1/usage instead of a table' },
      help: HELP,
    },
    notes: [
      'TIME is ISO 8601 (2026-11-27, 2026-11-27T10:00Z), epoch milliseconds, today, or a span back from now (30m, 24h, 7d).',
      'Refusals (requests turned away before any model was chosen) are counted apart from model usage.',
      'Example: l04-gateway usage --config gateway.yaml --since 7d --group-by day',
    ],
  },
];

/** The help of one command, or of the whole tool when `command` is undefined. */
export function helpText(command?: CliCommand): string {
  if (command === undefined) {
    const width = Math.max(...COMMANDS.map((item) => item.name.length));
    return [
      'usage: l04-gateway <command> [options]',
      '',
      'commands:',
      ...COMMANDS.map((item) => `  ${item.name.padEnd(width)}  ${item.summary}`),
      '',
      "Run 'l04-gateway <command> --help' for a command's options.",
      'Exit codes: 0 ok, 1 invalid configuration or a failure, 2 wrong usage.',
      '',
    ].join('\n');
  }
  const flags = Object.entries(command.options).map(([name, option]) => {
    const short = option.short === undefined ? '    ' : `-${option.short}, `;
    return [`${short}--${name}${option.value === undefined ? '' : ` ${option.value}`}`, option.description] as const;
  });
  const width = Math.max(...flags.map(([flag]) => flag.length));
  return [
    `usage: l04-gateway ${command.name} [options]`,
    '',
    command.summary,
    '',
    'options:',
    ...flags.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`),
    ...(command.notes === undefined ? [] : ['', ...command.notes]),
    '',
  ].join('\n');
}

/** The command called `name`. */
export function findCommand(name: string): CliCommand | undefined {
  return COMMANDS.find((command) => command.name === name);
}
