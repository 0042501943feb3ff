/**
 * Which request parameters a provider type cannot honour. Each adapter maps every parameter its
 * API has (see its `convert-to-*` file); this table lists the rest, so that the HTTP faces can name
 * them in `x-l04-ignored-params` instead of dropping them silently. Names are the native ones
 * (`LogicalPrompt` fields); provider options are named by their own keys (`thinking`,
 * `cache_control`), since they only mean something to one provider.
 */
import type { LogicalPromptInput, ProviderOptions } from '../models/inference-request.js';
import type { ProviderType } from '../models/provider-config.js';

/** Prompt fields each provider type drops (those it maps are absent). */
const UNSUPPORTED: Record<ProviderType, ReadonlyArray<keyof LogicalPromptInput>> = {
  // Anthropic has no seed or penalties; `parallel_tool_calls: false` maps to disable_parallel_tool_use.
  anthropic: ['seed', 'presence_penalty', 'frequency_penalty'],
  // Chat Completions has no top_k.
  openai: ['top_k'],
  // Ollama has no end-user id and cannot be told to call tools one at a time; `think` is refused by
  // models that cannot think, so a reasoning effort is not forwarded.
  ollama: ['user', 'parallel_tool_calls', 'reasoning_effort'],
  mock: [],
};

/** The provider options each provider type reads. */
const READS_OPTIONS: Record<ProviderType, keyof ProviderOptions | undefined> = { anthropic: 'anthropic', openai: 'openai', ollama: undefined, mock: undefined };

/** Keys of provider options that are not bodies of the object they sit on (headers), never reported. */
const SILENT_KEYS: ReadonlySet<string> = new Set(['anthropic-version', 'anthropic-beta']);

/**
 * The parameters of `prompt` that a provider of `type` ignores: prompt fields it has no mapping
 * for, and the keys of provider options meant for other providers (on the prompt, its system
 * parts, message parts and tools). Sorted, without duplicates.
 */
export function ignoredParameters(type: ProviderType, prompt: LogicalPromptInput): string[] {
  const ignored = new Set<string>();
  for (const field of UNSUPPORTED[type]) {
    const value = prompt[field];
    if (value !== undefined && !(field === 'parallel_tool_calls' && value === true)) ignored.add(field);
  }
  const reads = READS_OPTIONS[type];
  const visit = (options: ProviderOptions | undefined): void => {
    if (options === undefined) return;
    for (const [provider, fields] of Object.entries(options)) {
      if (provider === reads || fields === undefined) continue;
      for (const key of Object.keys(fields)) if (!SILENT_KEYS.has(key)) ignored.add(key);
    }
  };
  visit(prompt.provider_options);
  if (Array.isArray(prompt.system)) for (const part of prompt.system) visit(part.provider_options);
  for (const tool of prompt.tools ?? []) visit(tool.provider_options);
  for (const message of prompt.messages) {
    if (message.role === 'tool') visit(message.provider_options);
    if ((message.role === 'user' || message.role === 'tool') && typeof message.content !== 'string')
      for (const part of message.content) visit(part.provider_options);
  }
  return [...ignored].sort();
}
