/**
 * `x-l04-ignored-params`: the request parameters that were accepted but had no effect, named as
 * the caller sent them. Two sources: what a face cannot represent natively at all, and what the
 * provider that served the request cannot honour (`ignoredParameters`).
 */
import type { GatewayConfig } from '../config/config-schema.js';
import type { LogicalPromptInput } from '../models/inference-request.js';
import { ignoredParameters } from '../providers/ignored-parameters.js';

/** The response header that names ignored parameters, comma-separated. */
export const IGNORED_PARAMS_HEADER = 'x-l04-ignored-params';

/**
 * The header for an answer served by `provider`: `faceIgnored` plus the prompt fields the
 * provider's type drops, renamed to the face's wire names by `wireNames` (unlisted names kept).
 * Empty when nothing was ignored.
 */
export function ignoredParamsHeader(
  config: GatewayConfig,
  provider: string,
  prompt: LogicalPromptInput | undefined,
  faceIgnored: readonly string[],
  wireNames: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const type = config.providers[provider]?.type;
  const names = new Set(faceIgnored);
  if (type !== undefined && prompt !== undefined) for (const name of ignoredParameters(type, prompt)) names.add(wireNames[name] ?? name);
  return names.size === 0 ? {} : { [IGNORED_PARAMS_HEADER]: [...names].sort().join(',') };
}
