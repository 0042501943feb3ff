/** A `ProviderCall` → the body of `POST /chat/completions`. */
import type { LogicalPrompt } from '../../models/inference-request.js';
import type { ProviderCall } from '../base.js';
import { convertToOpenAIMessages } from './convert-to-openai-messages.js';
import type { OpenAIChatRequest, OpenAIResponseFormat, OpenAIToolChoice } from './openai-api.js';

/**
 * Which field carries the output cap. OpenAI deprecated `max_tokens` for `max_completion_tokens`
 * (and its reasoning models reject `max_tokens`), but vLLM, llama.cpp's server and LM Studio have long
 * known only `max_tokens` and some ignore the newer name, so `max_tokens` is the compatible default.
 */
export type MaxTokensField = 'max_tokens' | 'max_completion_tokens';

/** Options of `buildOpenAIChatRequest`. */
export interface BuildOpenAIChatRequestOptions {
  stream: boolean;
  maxTokensField: MaxTokensField;
}

/**
 * Builds the request: messages, output cap, sampling (`temperature`, `top_p`, `seed`, `stop`,
 * `presence_penalty`, `frequency_penalty`), `user`, `reasoning_effort`, tools, `tool_choice`,
 * `parallel_tool_calls`, `provider_options.openai` fields as they are, `response_format` (JSON mode and JSON schema passed through) and, when streaming,
 * `stream_options.include_usage` so that the last chunk carries the provider's token counts.
 */
export function buildOpenAIChatRequest(
  call: Pick<ProviderCall, 'model' | 'prompt' | 'maxOutputTokens'>,
  options: BuildOpenAIChatRequestOptions,
): OpenAIChatRequest {
  const prompt = call.prompt;
  const extra = prompt.provider_options?.openai;
  // Caller-supplied OpenAI fields first, so that the gateway's own fields always win. Without any,
  // no spread: on Node 20 a literal that starts with one takes V8's slow path (see util/merged.ts).
  // With some, a spread still: unlike Object.assign it copies an own `__proto__` key as data.
  const request: OpenAIChatRequest =
    extra === undefined
      ? { model: call.model.provider_model, messages: convertToOpenAIMessages(prompt) }
      : { ...extra, model: call.model.provider_model, messages: convertToOpenAIMessages(prompt) };
  request[options.maxTokensField] = call.maxOutputTokens;
  if (prompt.temperature !== undefined) request.temperature = prompt.temperature;
  if (prompt.top_p !== undefined) request.top_p = prompt.top_p;
  if (prompt.seed !== undefined) request.seed = prompt.seed;
  if (prompt.stop !== undefined && prompt.stop.length > 0) request.stop = prompt.stop;
  if (prompt.presence_penalty !== undefined) request.presence_penalty = prompt.presence_penalty;
  if (prompt.frequency_penalty !== undefined) request.frequency_penalty = prompt.frequency_penalty;
  if (prompt.user !== undefined) request.user = prompt.user;
  if (prompt.reasoning_effort !== undefined) request.reasoning_effort = prompt.reasoning_effort;
  if (prompt.tools !== undefined && prompt.tools.length > 0) {
    request.tools = prompt.tools.map((tool) => ({
      type: 'function',
      function:
        tool.description === undefined
          ? { name: tool.name, parameters: tool.parameters }
          : { name: tool.name, description: tool.description, parameters: tool.parameters },
    }));
    if (prompt.tool_choice !== undefined) request.tool_choice = convertToolChoice(prompt.tool_choice);
    if (prompt.parallel_tool_calls !== undefined) request.parallel_tool_calls = prompt.parallel_tool_calls;
  }
  const responseFormat = convertResponseFormat(prompt.response_format);
  if (responseFormat !== undefined) request.response_format = responseFormat;
  if (options.stream) {
    request.stream = true;
    request.stream_options = { include_usage: true };
  } else if (extra !== undefined) {
    // Only the caller's fields can have brought them.
    delete request.stream;
    delete request.stream_options;
  }
  return request;
}

function convertToolChoice(choice: NonNullable<LogicalPrompt['tool_choice']>): OpenAIToolChoice {
  return typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
}

/** `text` is the default and is left out, so that servers without `response_format` support still work. */
function convertResponseFormat(format: LogicalPrompt['response_format']): OpenAIResponseFormat | undefined {
  if (format === undefined || format.type === 'text') return undefined;
  return format;
}
