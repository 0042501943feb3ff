/** What every command of the CLI shares: its input and output, and how provider health reads. */
import type { ProviderHealth } from '../models/provider-config.js';

/** Where a command writes, and its clock. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Epoch milliseconds. */
  now(): number;
}

/** The options a command received, by long name. */
export type CliValues = Record<string, string | boolean | undefined>;

/** The process's own streams and clock. */
export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  now: () => Date.now(),
};

/** One line on a provider's health: its message, version, missing models and how to fix them. */
export function describeHealth(health: ProviderHealth): string {
  const missing = Object.entries(health.models ?? {})
    .filter(([, present]) => !present)
    .map(([name]) => name);
  const parts = [health.message ?? (health.status === 'healthy' ? 'ok' : '')];
  if (health.version !== undefined) parts.push(`version ${health.version}`);
  if (missing.length > 0) parts.push(`missing: ${missing.join(', ')}`);
  if (health.hints !== undefined && health.hints.length > 0) parts.push(`fix: ${health.hints.join('; ')}`);
  return parts.filter(Boolean).join('; ');
}
