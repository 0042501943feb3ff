/**
 * The exact-match key: a digest of the canonical request — scope, requested model (or `auto` plus
 * the requirements that route it), the whole logical prompt and every parameter that changes the
 * output. Key order never matters (canonical JSON).
 */
import type { InferenceRequest, LogicalPrompt } from '../../models/inference-request.js';
import { canonicalDigest } from './canonical-json.js';

/** Everything except the prompt text that decides what a model answers. */
export interface OutputParameters {
  model: string;
  /** Only for `auto`: what routing selects by. */
  capabilities?: string[];
  min_context_length?: number;
  max_output_tokens: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
  stop?: string[];
  tools?: LogicalPrompt['tools'];
  tool_choice?: LogicalPrompt['tool_choice'];
  response_format?: LogicalPrompt['response_format'];
  top_k?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  parallel_tool_calls?: boolean;
  reasoning_effort?: LogicalPrompt['reasoning_effort'];
  provider_options?: LogicalPrompt['provider_options'];
}

/** The output-changing parameters of `request`, normalised (sets sorted, defaults explicit). */
export function outputParameters(request: InferenceRequest): OutputParameters {
  const prompt = request.logical_prompt;
  const pinned = request.model_id !== undefined;
  return {
    model: request.model_id ?? 'auto',
    capabilities: pinned ? undefined : [...new Set(request.requirements.capabilities)].sort(),
    min_context_length: pinned ? undefined : request.requirements.min_context_length,
    max_output_tokens: request.requirements.max_output_tokens,
    temperature: prompt.temperature,
    top_p: prompt.top_p,
    seed: prompt.seed,
    // Stop sequences act as a set: their order never changes the answer.
    stop: prompt.stop === undefined ? undefined : [...new Set(prompt.stop)].sort(),
    tools: prompt.tools,
    tool_choice: prompt.tool_choice,
    response_format: prompt.response_format,
    top_k: prompt.top_k,
    presence_penalty: prompt.presence_penalty,
    frequency_penalty: prompt.frequency_penalty,
    parallel_tool_calls: prompt.parallel_tool_calls,
    reasoning_effort: prompt.reasoning_effort,
    // Provider options change answers (a thinking budget, a beta); headers among them do too.
    provider_options: prompt.provider_options,
  };
}

/** The exact-layer key of `request` within `scope` (a `scopeKey`): 32 hex characters. */
export function canonicalRequestKey(request: InferenceRequest, scope: string): string {
  const prompt = request.logical_prompt;
  return canonicalDigest({
    kind: 'exact-v1',
    scope,
    parameters: outputParameters(request),
    system: prompt.system,
    messages: prompt.messages,
  });
}
