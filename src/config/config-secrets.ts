/** The credentials a config holds, so that the logger can scrub them whatever their shape. */
import type { GatewayConfig } from './config-schema.js';

/** Provider API keys and gateway API keys given in plain text (hash references are not secrets). */
export function configSecrets(config: GatewayConfig): string[] {
  const providerKeys = Object.values(config.providers).flatMap((provider) => ('api_key' in provider && provider.api_key !== '' ? [provider.api_key] : []));
  const gatewayKeys = config.auth.api_keys.map((entry) => entry.key).filter((key) => !key.startsWith('sha256:'));
  return [...providerKeys, ...gatewayKeys];
}
