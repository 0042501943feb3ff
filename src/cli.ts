#!/usr/bin/env node
/**
 * The `l04-gateway` command: `serve`, `check`, `models`, `usage`, and `--help` for each (see
 * cli/cli-commands.ts). Exit codes: 0 ok, 1 invalid configuration or a failure, 2 wrong usage.
 */
import { GatewayError } from './models/error-codes.js';
import { runCli } from './cli/run-cli.js';

runCli(process.argv.slice(2)).then(
  (code) => {
    // A command that failed may leave connections behind; it has said what it had to say.
    if (code === 0) process.exitCode = 0;
    else process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`l04-gateway: ${error instanceof GatewayError ? `${error.code} ${error.message}` : String(error)}\n`);
    process.exit(1);
  },
);
