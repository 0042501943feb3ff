/**
 * Loads and validates the configuration once, at start: YAML or JSON, `${VAR}` and
 * `${VAR:-default}` from the environment, defaults applied, and every bad key reported with its
 * path in one E4000 error.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseDocument } from 'yaml';
import { ConfigurationError } from '../models/error-codes.js';
import { formatPath } from '../models/validation.js';
import type { FieldIssue } from '../models/validation.js';
import { GatewayConfigSchema } from './config-schema.js';
import type { GatewayConfig } from './config-schema.js';

/** The built-in configuration: Ollama at localhost:11434 with its usual models, and `mock-1`. */
export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../../config/default.yaml', import.meta.url));

/** Reads, interpolates and validates a config file. Throws E4003 (unreadable) or E4000 (invalid). */
export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigurationError('E4003', `Cannot read configuration file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, { cause: error });
  }
  return parseConfigText(text, env, path);
}

/** Parses config text (YAML, of which JSON is a subset). */
export function parseConfigText(text: string, env: NodeJS.ProcessEnv = process.env, source = 'configuration'): GatewayConfig {
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (document.errors.length > 0) {
    const problems = document.errors.map((error) => error.message.split('\n')[0]).join('; ');
    throw new ConfigurationError('E4003', `Cannot parse ${source}: ${problems}`, { details: { source } });
  }
  return parseConfig(document.toJS() ?? {}, env);
}

/** Interpolates and validates an already-parsed config object. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const issues: FieldIssue[] = [];
  const interpolated = interpolate(raw, env, [], issues);
  const result = GatewayConfigSchema.safeParse(interpolated);
  if (!result.success) issues.push(...result.error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message })));
  // Cross-key checks run on the raw tree too, so that one error lists every problem at once.
  issues.push(...crossCheck(interpolated));
  if (issues.length > 0 || !result.success) throw invalidConfig(issues);
  return result.data;
}

/** One E4000 listing every bad path. */
function invalidConfig(issues: FieldIssue[]): ConfigurationError {
  const list = issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
  return new ConfigurationError('E4000', `Invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}): ${list}`, {
    details: { issues },
    param: issues[0]?.path,
  });
}

/** Checks that span keys: models name configured providers, the embedder names one. Tolerates a malformed tree. */
function crossCheck(raw: unknown): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const root = asRecord(raw);
  const providers = new Set(Object.keys(asRecord(root.providers)));
  const known = (): string => [...providers].join(', ') || 'none';
  const models = asRecord(root.models);
  const names = new Map<string, string>(Object.keys(models).map((id) => [id, `model "${id}"`]));
  for (const [id, model] of Object.entries(models)) {
    const provider = asRecord(model).provider;
    if (typeof provider === 'string' && !providers.has(provider))
      issues.push({ path: `models.${id}.provider`, message: `unknown provider "${provider}" (configured: ${known()})` });
    const aliases = asRecord(model).aliases;
    (Array.isArray(aliases) ? aliases : []).forEach((alias: unknown, index) => {
      if (typeof alias !== 'string') return;
      const taken = names.get(alias);
      if (taken !== undefined) issues.push({ path: `models.${id}.aliases[${index}]`, message: `"${alias}" already names ${taken}` });
      names.set(alias, `an alias of model "${id}"`);
    });
  }
  const cache = asRecord(root.cache);
  const embedder = asRecord(cache.embedder).provider;
  if (
    typeof embedder === 'string' &&
    embedder !== 'local' &&
    embedder !== 'auto' &&
    cache.enabled !== false &&
    cache.semantic !== false &&
    !providers.has(embedder)
  ) {
    issues.push({ path: 'cache.embedder.provider', message: `unknown provider "${embedder}" (use "auto", "local" or a configured provider)` });
  }
  const seen = new Set<unknown>();
  const keys = asRecord(root.auth).api_keys;
  (Array.isArray(keys) ? keys : []).forEach((entry: unknown, index) => {
    const key = asRecord(entry).key;
    if (typeof key === 'string' && seen.has(key)) issues.push({ path: `auth.api_keys[${index}].key`, message: 'duplicate key' });
    seen.add(key);
  });
  return issues;
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces `${VAR}` / `${VAR:-default}` in every string; a whole-string reference becomes a YAML scalar. */
function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: PropertyKey[], issues: FieldIssue[]): unknown {
  if (typeof value === 'string') {
    let missing = false;
    const replaced = value.replace(REFERENCE, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      missing = true;
      issues.push({ path: formatPath(path), message: `environment variable ${name} is not set (write \${${name}:-default} to allow that)` });
      return '';
    });
    if (missing || replaced === value) return replaced;
    // `port: ${PORT:-8080}` means the number 8080, as if written in the file.
    const whole = value.match(/^\$\{[^}]+\}$/) !== null;
    return whole ? ((parseYaml(replaced) as unknown) ?? replaced) : replaced;
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolate(item, env, [...path, index], issues));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = interpolate(item, env, [...path, key], issues);
    return out;
  }
  return value;
}
