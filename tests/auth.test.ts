import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AuthConfigSchema } from '../src/config/config-schema.js';
import type { ApiKeyConfig } from '../src/config/config-schema.js';
import { GatewayError, toOpenAIError } from '../src/models/error-codes.js';
import { ANONYMOUS_AGENT_DID, ApiKeyAuthenticator, hashApiKey } from '../src/server/auth.js';

const AGENT_KEY = 'l04_agent_key_0123456789abcdef';
const ADMIN_KEY = 'l04_admin_key_fedcba9876543210';
const HASHED_KEY = 'l04_hashed_key_aaaaaaaaaaaaaaaa';

function authenticator(keys: Array<Partial<ApiKeyConfig> & { key: string }>): ApiKeyAuthenticator {
  return new ApiKeyAuthenticator(AuthConfigSchema.parse({ api_keys: keys.map((key) => ({ agent_did: 'did:l04:agent-a', tenant: 'acme', ...key })) }));
}

function keyed(): ApiKeyAuthenticator {
  return authenticator([
    { key: AGENT_KEY, rpm: 30, tpm: 5000, daily_budget_cents: 250 },
    { key: ADMIN_KEY, agent_did: 'did:l04:ops', tenant: 'ops', admin: true },
    { key: `sha256:${hashApiKey(HASHED_KEY).toUpperCase()}`, agent_did: 'did:l04:hashed', tenant: 'beta' },
  ]);
}

function failure(action: () => unknown): GatewayError {
  try {
    action();
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected a GatewayError');
}

describe('ApiKeyAuthenticator with keys configured', () => {
  it('is required', () => {
    expect(keyed().required).toBe(true);
  });

  it('maps a bearer key to its agent, tenant, limits and budget', () => {
    const principal = keyed().authenticate({ authorization: `Bearer ${AGENT_KEY}` });
    expect(principal).toEqual({
      agent_did: 'did:l04:agent-a',
      tenant: 'acme',
      key_id: hashApiKey(AGENT_KEY).slice(0, 12),
      rpm: 30,
      tpm: 5000,
      daily_budget_cents: 250,
      admin: false,
    });
  });

  it('accepts the key in x-api-key and the scheme in any case', () => {
    const auth = keyed();
    expect(auth.authenticate({ 'x-api-key': ADMIN_KEY })).toMatchObject({ agent_did: 'did:l04:ops', tenant: 'ops', admin: true });
    expect(auth.authenticate({ authorization: `bearer ${ADMIN_KEY}` }).agent_did).toBe('did:l04:ops');
  });

  it('finds headers whatever their casing', () => {
    expect(keyed().authenticate({ Authorization: `Bearer ${AGENT_KEY}` }).tenant).toBe('acme');
  });

  it('accepts keys configured as sha256:<hex>', () => {
    expect(keyed().authenticate({ authorization: `Bearer ${HASHED_KEY}` })).toMatchObject({
      agent_did: 'did:l04:hashed',
      tenant: 'beta',
      key_id: hashApiKey(HASHED_KEY).slice(0, 12),
    });
  });

  it('rejects a missing key with E4501 and a WWW-Authenticate header', () => {
    const error = failure(() => keyed().authenticate({}));
    expect(error.code).toBe('E4501');
    expect(toOpenAIError(error)).toMatchObject({ status: 401, headers: { 'www-authenticate': 'Bearer realm="l04"' } });
  });

  it('rejects an unknown key with E4501 and never echoes it', () => {
    const error = failure(() => keyed().authenticate({ authorization: 'Bearer l04_wrong_key_0000000000000000' }));
    expect(error.code).toBe('E4501');
    expect(JSON.stringify(toOpenAIError(error))).not.toContain('l04_wrong_key');
  });

  it('rejects a key whose hash is configured but that is the hash itself', () => {
    expect(failure(() => keyed().authenticate({ authorization: `Bearer ${hashApiKey(HASHED_KEY)}` })).code).toBe('E4501');
  });

  it('rejects other schemes and empty bearer tokens with E4501', () => {
    const auth = keyed();
    expect(failure(() => auth.authenticate({ authorization: `Basic ${Buffer.from(`u:${AGENT_KEY}`).toString('base64')}` })).code).toBe('E4501');
    expect(failure(() => auth.authenticate({ authorization: 'Bearer ' })).code).toBe('E4501');
    expect(failure(() => auth.authenticate({ authorization: `Bearer ${AGENT_KEY} extra` })).code).toBe('E4501');
  });

  it('ignores x-agent-did and x-l04-tenant: the key names the agent', () => {
    expect(keyed().authenticate({ authorization: `Bearer ${AGENT_KEY}`, 'x-agent-did': 'did:l04:impostor', 'x-l04-tenant': 'other' })).toMatchObject({
      agent_did: 'did:l04:agent-a',
      tenant: 'acme',
    });
  });

  it('rejects header values that are too long or not printable with E4500 naming the header', () => {
    const auth = keyed();
    const long = failure(() => auth.authenticate({ authorization: `Bearer ${'a'.repeat(600)}` }));
    expect(long).toMatchObject({ code: 'E4500', param: 'authorization' });
    expect(long.message).toContain('authorization');
    const control = failure(() => auth.authenticate({ 'x-api-key': 'l04_key\u0000with_nul_0000000' }));
    expect(control).toMatchObject({ code: 'E4500', param: 'x-api-key' });
    const unicode = failure(() => auth.authenticate({ authorization: 'Bearer clé-ümlaut-000000000000' }));
    expect(unicode).toMatchObject({ code: 'E4500', param: 'authorization' });
    expect(unicode.message).not.toContain('ümlaut');
  });

  it('rejects a repeated key header with E4500', () => {
    expect(failure(() => keyed().authenticate({ 'x-api-key': [AGENT_KEY, ADMIN_KEY] }))).toMatchObject({ code: 'E4500', param: 'x-api-key' });
  });

  it('accepts a header given as a one-element array', () => {
    expect(keyed().authenticate({ 'x-api-key': [AGENT_KEY] }).agent_did).toBe('did:l04:agent-a');
  });

  it('refuses a configuration with the same key twice or a bad sha256 reference with E4000', () => {
    expect(failure(() => authenticator([{ key: AGENT_KEY }, { key: `sha256:${hashApiKey(AGENT_KEY)}` }]))).toMatchObject({
      code: 'E4000',
      message: expect.stringContaining('auth.api_keys[1].key'),
    });
    expect(failure(() => authenticator([{ key: 'sha256:not-hex-at-all-0000' }]))).toMatchObject({
      code: 'E4000',
      message: expect.stringContaining('auth.api_keys[0].key'),
    });
  });

  it('keeps no plaintext key in memory', () => {
    const auth = keyed();
    const seen = inspect(auth, { depth: 6, maxArrayLength: null, maxStringLength: null });
    expect(seen).toContain(hashApiKey(AGENT_KEY));
    expect(seen).not.toContain(AGENT_KEY);
  });
});

describe('ApiKeyAuthenticator with no keys (development mode)', () => {
  const auth = new ApiKeyAuthenticator(AuthConfigSchema.parse({}));

  it('is not required', () => {
    expect(auth.required).toBe(false);
  });

  it('names the anonymous agent and default tenant, with admin rights', () => {
    expect(auth.authenticate({})).toEqual({ agent_did: ANONYMOUS_AGENT_DID, tenant: 'default', key_id: 'anonymous', admin: true });
  });

  it('takes the agent from x-agent-did and the tenant from x-l04-tenant', () => {
    expect(auth.authenticate({ 'x-agent-did': 'did:l04:planner', 'x-l04-tenant': 'acme' })).toEqual({
      agent_did: 'did:l04:planner',
      tenant: 'acme',
      key_id: 'anonymous',
      admin: true,
    });
  });

  it('ignores any Authorization header', () => {
    expect(auth.authenticate({ authorization: 'Bearer whatever-it-is-here' }).agent_did).toBe(ANONYMOUS_AGENT_DID);
  });

  it('rejects agent and tenant values with spaces, control characters or excess length with E4500', () => {
    expect(failure(() => auth.authenticate({ 'x-agent-did': 'did:l04:a b' }))).toMatchObject({ code: 'E4500', param: 'x-agent-did' });
    expect(failure(() => auth.authenticate({ 'x-agent-did': 'did:l04:\r\nx' }))).toMatchObject({ code: 'E4500', param: 'x-agent-did' });
    expect(failure(() => auth.authenticate({ 'x-agent-did': `did:l04:${'x'.repeat(300)}` }))).toMatchObject({ code: 'E4500', param: 'x-agent-did' });
    expect(failure(() => auth.authenticate({ 'x-l04-tenant': 't'.repeat(129) }))).toMatchObject({ code: 'E4500', param: 'x-l04-tenant' });
  });
});

describe('hashApiKey', () => {
  it('returns the lower-case sha256 hex of the key', () => {
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
