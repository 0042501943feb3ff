/**
 * The output-changing parameters of a request: part of both cache keys (`partition-key.ts`,
 * `canonical-request-key.ts`).
 */
import type { InferenceRequest, LogicalPrompt } from '../../models/inference-request.js';

/** Everything except the prompt text that decides what a model answers, and which model answers. */
export interface OutputParameters {
  model: string;
  /** Only for `auto`: what routing selects by. */
  capabilities?: string[];
  min_context_length?: number;
  /** Only for `auto`: the providers routing prefers, in order, and the request's cost and latency limits. */
  preferred_providers?: string[];
  max_cost_cents?: number;
  max_latency_ms?: number;
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

/**
 * The output-changing parameters of `request`, normalised (sets sorted, defaults explicit). A
 * pinned model is the only one that may answer, so only `auto` keys carry what limits the choice
 * among models: an answer routed under other preferences or limits is another model's answer.
 */
export function outputParameters(request: InferenceRequest): OutputParameters {
  const prompt = request.logical_prompt;
  const pinned = request.model_id !== undefined;
  const constraints = request.constraints;
  return {
    model: request.model_id ?? 'auto',
    capabilities: pinned ? undefined : [...new Set(request.requirements.capabilities)].sort(),
    min_context_length: pinned ? undefined : request.requirements.min_context_length,
    // Preference order decides the model, so the list keeps its order.
    preferred_providers: pinned ? undefined : [...new Set(constraints.preferred_providers)],
    max_cost_cents: pinned ? undefined : constraints.max_cost_cents,
    max_latency_ms: pinned ? undefined : constraints.max_latency_ms,
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
