/**
 * API keys → agents and tenants.
 *
 * Keys are kept only as SHA-256 digests: config may give the key itself or `sha256:<hex>` of it, and
 * a presented key is hashed and looked up in a Map of digest → principal. With keys configured,
 * `Authorization: Bearer <key>` (or `x-api-key: <key>`, the Anthropic SDK's header) is required;
 * anything missing or unknown is E4501. With no keys configured (local development) every caller
 * is let in: `x-agent-did` names the agent and `x-l04-tenant` the tenant.
 *
 * Admin in development mode: the principal carries `admin: true`, because with no keys there is
 * nothing to tell an operator from an agent. The HTTP layer is expected to allow admin routes in
 * that mode only from a loopback address (the server binds 127.0.0.1 by default).
 */
import { hash, timingSafeEqual } from 'node:crypto';
import type { AuthConfig } from '../config/config-schema.js';
import type { CallerIdentity } from '../models/gateway-events.js';
import { AuthError, ConfigurationError, ValidationError } from '../models/error-codes.js';
import { merged } from '../util/merged.js';

/** Who is calling: the agent and tenant a key names, with its own limits (see `CallerIdentity`). */
export interface Principal extends CallerIdentity {
  /** May call admin routes (cache purge). Always true in development mode (see the file comment). */
  admin: boolean;
}

/** Incoming headers as Node gives them (lower-case names); other casings are found too. */
export type HeaderBag = Record<string, string | string[] | undefined>;

/** Agent used in development mode when the caller sends no `x-agent-did`. */
export const ANONYMOUS_AGENT_DID = 'did:l04:anonymous';
/** Tenant used in development mode when the caller sends no `x-l04-tenant`. */
export const DEFAULT_TENANT = 'default';

const KEY_ID_LENGTH = 12;
const MAX_KEY_LENGTH = 512;
const MAX_AGENT_DID_LENGTH = 256;
const MAX_TENANT_LENGTH = 128;
// Printable ASCII, space included (header values such as "Bearer <key>").
const PRINTABLE = /^[\x20-\x7e]*$/;
// Identifiers end up in store keys and log lines: visible ASCII only, no spaces.
const VISIBLE = /^[\x21-\x7e]+$/;
const SHA256_REFERENCE = /^sha256:([0-9a-fA-F]{64})$/;
const BEARER = /^bearer[ ]+(\S+)[ ]*$/i;

interface StoredKey {
  digest: Buffer;
  principal: Principal;
}

/** SHA-256 of an API key, lower-case hex: what `auth.api_keys[].key` may hold as `sha256:<hex>`. */
export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

/** Checks API keys and turns request headers into a `Principal`. */
export class ApiKeyAuthenticator {
  private readonly keys = new Map<string, StoredKey>();
  private readonly anonymous: Principal = Object.freeze({ agent_did: ANONYMOUS_AGENT_DID, tenant: DEFAULT_TENANT, key_id: 'anonymous', admin: true });

  /** Hashes every configured key. Throws E4000 naming `auth.api_keys[i].key` for a bad or duplicate entry. */
  constructor(config: AuthConfig) {
    config.api_keys.forEach((entry, index) => {
      const path = `auth.api_keys[${index}].key`;
      const reference = SHA256_REFERENCE.exec(entry.key);
      if (entry.key.startsWith('sha256:') && reference === null) {
        throw new ConfigurationError('E4000', `${path}: sha256: must be followed by 64 hex characters`, { details: { path } });
      }
      const hex = reference?.[1]?.toLowerCase() ?? hashApiKey(entry.key);
      if (this.keys.has(hex)) throw new ConfigurationError('E4000', `${path}: the same key is configured twice`, { details: { path } });
      const principal: Principal = { agent_did: entry.agent_did, tenant: entry.tenant, key_id: hex.slice(0, KEY_ID_LENGTH), admin: entry.admin };
      if (entry.rpm !== undefined) principal.rpm = entry.rpm;
      if (entry.tpm !== undefined) principal.tpm = entry.tpm;
      if (entry.daily_budget_cents !== undefined) principal.daily_budget_cents = entry.daily_budget_cents;
      this.keys.set(hex, { digest: Buffer.from(hex, 'hex'), principal: Object.freeze(principal) });
    });
  }

  /** True when API keys are configured, so that every request must present one. */
  get required(): boolean {
    return this.keys.size > 0;
  }

  /**
   * The caller's principal. Throws E4501 (401) for a missing, malformed or unknown key when keys
   * are configured, and E4500 (400, `param` = the header name) for a header value that is too long,
   * not printable ASCII, or repeated. Error messages never echo a header's value.
   */
  authenticate(headers: HeaderBag): Principal {
    return this.required ? this.authenticateKey(headers) : this.authenticateDevelopment(headers);
  }

  private authenticateKey(headers: HeaderBag): Principal {
    const authorization = readHeader(headers, 'authorization', MAX_KEY_LENGTH + 16, PRINTABLE);
    let key: string | undefined;
    if (authorization !== undefined) {
      key = BEARER.exec(authorization)?.[1];
      if (key === undefined) throw unauthenticated('The Authorization header must be "Bearer <key>"');
    } else {
      key = readHeader(headers, 'x-api-key', MAX_KEY_LENGTH, VISIBLE);
    }
    if (key === undefined) throw unauthenticated('An API key is required: send "Authorization: Bearer <key>"');
    const hex = hashApiKey(key);
    const stored = this.keys.get(hex);
    // The lookup is by digest; the comparison below is constant-time all the same.
    if (stored === undefined || !timingSafeEqual(stored.digest, Buffer.from(hex, 'hex'))) throw unauthenticated('Invalid API key');
    return stored.principal;
  }

  private authenticateDevelopment(headers: HeaderBag): Principal {
    const agentDid = readHeader(headers, 'x-agent-did', MAX_AGENT_DID_LENGTH, VISIBLE);
    const tenant = readHeader(headers, 'x-l04-tenant', MAX_TENANT_LENGTH, VISIBLE);
    if (agentDid === undefined && tenant === undefined) return this.anonymous;
    return merged(this.anonymous, { agent_did: agentDid ?? ANONYMOUS_AGENT_DID, tenant: tenant ?? DEFAULT_TENANT });
  }
}

function unauthenticated(message: string): AuthError {
  return new AuthError('E4501', message, { headers: { 'www-authenticate': 'Bearer realm="l04"' } });
}

/**
 * One header's value, validated; `undefined` when absent or empty. Throws E4500 naming the header
 * when it is repeated, longer than `maxLength`, or has characters outside `allowed`.
 */
function readHeader(headers: HeaderBag, name: string, maxLength: number, allowed: RegExp): string | undefined {
  let value = headers[name];
  if (value === undefined) value = findCaseInsensitive(headers, name);
  if (Array.isArray(value)) {
    if (value.length > 1) throw invalidHeader(name, 'must appear once');
    value = value[0];
  }
  if (value === undefined || value === '') return undefined;
  if (value.length > maxLength) throw invalidHeader(name, `is longer than ${maxLength} characters`);
  if (!allowed.test(value)) throw invalidHeader(name, allowed === VISIBLE ? 'must be visible ASCII without spaces' : 'must be printable ASCII');
  return value;
}

function findCaseInsensitive(headers: HeaderBag, name: string): string | string[] | undefined {
  for (const key of Object.keys(headers)) if (key.length === name.length && key.toLowerCase() === name) return headers[key];
  return undefined;
}

function invalidHeader(name: string, problem: string): ValidationError {
  return new ValidationError('E4500', `Header ${name} ${problem}`, { param: name, details: { header: name } });
}
