/**
 * LogicalPrompt → the body (and extra headers) of `POST /v1/messages`.
 *
 * Anthropic's rules, and how they are met:
 * - the system prompt is a top-level `system` field (text, or text blocks when parts carry options);
 * - roles alternate: tool results travel as `tool_result` blocks in a `user` message, and
 *   consecutive messages of one role are merged into one (tool results first, as the API requires
 *   them to lead the user turn that answers a `tool_use`);
 * - an assistant turn's reasoning goes back first, as `thinking` blocks with their signatures
 *   (`redacted_thinking` as it came); reasoning without a signature (from another provider) cannot
 *   be verified by Anthropic and is left out;
 * - `max_tokens` is mandatory: always sent, from the call's output cap; a `thinking.budget_tokens`
 *   that does not fit under it is lowered to `max_tokens - 1` (and thinking left out below the
 *   API's 1,024-token minimum);
 * - images are `image` blocks: a `data:` URL becomes a base64 source, an http(s) URL a `url` source;
 * - `temperature` ranges over 0–1 (OpenAI's 0–2 is clamped to 1); `seed`, penalties and
 *   `parallel_tool_calls: true` do not exist (`false` is `disable_parallel_tool_use`);
 * - JSON mode is a forced tool: `response_format` json_schema (or json_object, with an open object
 *   schema) adds the tool `JSON_TOOL_NAME` whose input schema is the requested one, and forces it;
 *   the adapter turns that tool's input back into the answer's text;
 * - `reasoning_effort` becomes a thinking budget when the caller sent no `thinking` of its own;
 * - `provider_options.anthropic` of the prompt, a part or a tool is merged into the object it sits
 *   on (`thinking`, `context_management`, `cache_control`…), the gateway's own fields winning; its
 *   `anthropic-beta` and `anthropic-version` keys become headers.
 * Problems with the prompt itself throw E4500 naming the field.
 */
import { ValidationError } from '../../models/error-codes.js';
import type { ContentPart, LogicalPrompt, Message, ProviderOptions, ReasoningEffort, ToolChoice } from '../../models/inference-request.js';
import { ANTHROPIC_IMAGE_MEDIA_TYPES } from './anthropic-api.js';
import type {
  AnthropicContentBlockParam,
  AnthropicImageBlockParam,
  AnthropicImageMediaType,
  AnthropicMessageParam,
  AnthropicMessagesRequest,
  AnthropicTextBlockParam,
  AnthropicToolChoice,
  AnthropicToolParam,
} from './anthropic-api.js';
import { isRecord } from '../../util/is-record.js';

/** What a request is built from. */
export interface AnthropicRequestInput {
  /** The provider's model name. */
  model: string;
  prompt: LogicalPrompt;
  /** Sent as `max_tokens` (mandatory in the Messages API). */
  maxOutputTokens: number;
  stream: boolean;
}

/** A built request: the body, the extra headers, and the forced JSON tool when JSON mode is on. */
export interface AnthropicRequest {
  body: AnthropicMessagesRequest;
  headers: Record<string, string>;
  /** Name of the tool whose input is the answer (JSON mode), else `undefined`. */
  jsonTool: string | undefined;
}

/** The highest temperature the Messages API accepts. */
export const ANTHROPIC_MAX_TEMPERATURE = 1;
/** Name of the forced tool that carries a JSON-mode answer. */
export const JSON_TOOL_NAME = 'json_response';
/** The smallest thinking budget the Messages API accepts, in tokens. */
export const ANTHROPIC_MIN_THINKING_BUDGET = 1024;
/** Thinking budgets for `reasoning_effort`, in tokens. */
const EFFORT_BUDGETS: Record<ReasoningEffort, number> = { minimal: 1024, low: 2048, medium: 8192, high: 24576 };
/** Keys of `provider_options.anthropic` that are headers, not body fields. */
const HEADER_KEYS = ['anthropic-beta', 'anthropic-version'] as const;
/** Key of `provider_options.anthropic` holding Anthropic's own tools (web search, code execution…), appended to `tools`. */
export const SERVER_TOOLS_KEY = 'server_tools';

/** Builds the request. Throws E4500 for an unconvertible prompt. */
export function convertToAnthropicRequest(input: AnthropicRequestInput): AnthropicRequest {
  const { prompt } = input;
  const { body: extraBody, headers, serverTools } = splitOptions(prompt.provider_options);
  const request: AnthropicMessagesRequest = {
    ...extraBody,
    model: input.model,
    max_tokens: input.maxOutputTokens,
    messages: convertToAnthropicMessages(prompt.messages),
  };
  const system = convertSystem(prompt.system);
  if (system !== undefined) request.system = system;
  const tools: AnthropicToolParam[] = (prompt.tools ?? []).map((tool) => ({
    ...anthropicOptions(tool.provider_options),
    name: tool.name,
    ...(tool.description === undefined ? {} : { description: tool.description }),
    input_schema: tool.parameters,
  }));
  let toolChoice: AnthropicToolChoice | undefined = tools.length > 0 && prompt.tool_choice !== undefined ? convertToolChoice(prompt.tool_choice) : undefined;
  const jsonTool = jsonToolOf(prompt, tools);
  if (jsonTool !== undefined) {
    tools.push(jsonTool);
    toolChoice = { type: 'tool', name: jsonTool.name };
  }
  if (tools.length > 0 || serverTools.length > 0) request.tools = [...tools, ...(serverTools as AnthropicToolParam[])];
  if (prompt.parallel_tool_calls === false && request.tools !== undefined)
    toolChoice = { ...(toolChoice ?? { type: 'auto' }), disable_parallel_tool_use: true };
  if (toolChoice !== undefined) request.tool_choice = toolChoice;
  if (prompt.stop !== undefined && prompt.stop.length > 0) request.stop_sequences = prompt.stop;
  if (prompt.temperature !== undefined) request.temperature = Math.min(prompt.temperature, ANTHROPIC_MAX_TEMPERATURE);
  if (prompt.top_p !== undefined) request.top_p = prompt.top_p;
  if (prompt.top_k !== undefined) request.top_k = prompt.top_k;
  if (prompt.user !== undefined) request.metadata = { ...(isRecord(request.metadata) ? request.metadata : {}), user_id: prompt.user };
  if (request.thinking === undefined && prompt.reasoning_effort !== undefined) {
    request.thinking = { type: 'enabled', budget_tokens: EFFORT_BUDGETS[prompt.reasoning_effort] };
  }
  fitThinkingBudget(request);
  if (input.stream) request.stream = true;
  else delete request.stream;
  return { body: request, headers, jsonTool: jsonTool?.name };
}

/** A thinking budget must be ≥ 1,024 and below `max_tokens`: lowered to fit, or thinking left out. */
function fitThinkingBudget(request: AnthropicMessagesRequest): void {
  const thinking = request.thinking;
  if (!isRecord(thinking) || thinking.type !== 'enabled' || typeof thinking.budget_tokens !== 'number') return;
  if (thinking.budget_tokens < request.max_tokens) return;
  const budget = request.max_tokens - 1;
  if (budget < ANTHROPIC_MIN_THINKING_BUDGET) delete request.thinking;
  else request.thinking = { ...thinking, budget_tokens: budget };
}

/** The forced JSON tool of a JSON `response_format`, named so that it cannot clash with the caller's tools. */
function jsonToolOf(prompt: LogicalPrompt, tools: AnthropicToolParam[]): AnthropicToolParam | undefined {
  const format = prompt.response_format;
  if (format === undefined || format.type === 'text') return undefined;
  let name = JSON_TOOL_NAME;
  while (tools.some((tool) => tool.name === name)) name = `_${name}`;
  if (format.type === 'json_object') {
    return { name, description: 'Respond with a JSON object.', input_schema: { type: 'object', additionalProperties: true } };
  }
  return {
    name,
    description: format.json_schema.description ?? `Respond with a JSON object (${format.json_schema.name}) that matches the input schema.`,
    input_schema: format.json_schema.schema,
  };
}

function splitOptions(options: ProviderOptions | undefined): { body: Record<string, unknown>; headers: Record<string, string>; serverTools: unknown[] } {
  const body = { ...anthropicOptions(options) };
  const serverTools = Array.isArray(body[SERVER_TOOLS_KEY]) ? (body[SERVER_TOOLS_KEY] as unknown[]) : [];
  delete body[SERVER_TOOLS_KEY];
  const headers: Record<string, string> = {};
  for (const key of HEADER_KEYS) {
    const value = body[key];
    delete body[key];
    if (typeof value === 'string' && value !== '') headers[key] = value;
    else if (Array.isArray(value) && value.every((item) => typeof item === 'string') && value.length > 0) headers[key] = value.join(',');
  }
  return { body, headers, serverTools };
}

function anthropicOptions(options: ProviderOptions | undefined): Record<string, unknown> {
  return options?.anthropic ?? {};
}

function convertSystem(system: LogicalPrompt['system']): string | AnthropicTextBlockParam[] | undefined {
  if (system === undefined) return undefined;
  if (typeof system === 'string') return system === '' ? undefined : system;
  const blocks = system
    .filter((part) => part.text !== '')
    .map((part): AnthropicTextBlockParam => ({ ...anthropicOptions(part.provider_options), type: 'text', text: part.text }));
  return blocks.length === 0 ? undefined : blocks;
}

/** Converts the conversation: tool messages become user turns, same-role neighbours merge. */
export function convertToAnthropicMessages(messages: Message[]): AnthropicMessageParam[] {
  const out: AnthropicMessageParam[] = [];
  messages.forEach((message, index) => {
    const role = message.role === 'assistant' ? 'assistant' : 'user';
    const blocks = convertMessage(message, `messages[${index}]`);
    if (blocks.length === 0) return;
    const previous = out[out.length - 1];
    if (previous !== undefined && previous.role === role) previous.content.push(...blocks);
    else out.push({ role, content: blocks });
  });
  for (const message of out) {
    // tool_result blocks must open the user turn that answers a tool_use.
    if (message.role === 'user') message.content.sort((a, b) => rank(a) - rank(b));
  }
  return out;
}

function rank(block: AnthropicContentBlockParam): number {
  return block.type === 'tool_result' ? 0 : 1;
}

function convertMessage(message: Message, path: string): AnthropicContentBlockParam[] {
  switch (message.role) {
    case 'user':
      if (typeof message.content === 'string') return textBlocks(message.content);
      return message.content.flatMap((part, index) => convertPart(part, `${path}.content[${index}]`));
    case 'assistant': {
      const blocks: AnthropicContentBlockParam[] = [];
      for (const part of message.reasoning ?? []) {
        if (part.type === 'redacted_reasoning') blocks.push({ type: 'redacted_thinking', data: part.data });
        else if (part.signature !== undefined && part.signature !== '') blocks.push({ type: 'thinking', thinking: part.text, signature: part.signature });
      }
      blocks.push(...textBlocks(message.content));
      (message.tool_calls ?? []).forEach((call, index) => {
        blocks.push({ type: 'tool_use', id: call.id, name: call.name, input: parseToolArguments(call.arguments, `${path}.tool_calls[${index}].arguments`) });
      });
      return blocks;
    }
    case 'tool': {
      const content =
        typeof message.content === 'string'
          ? message.content
          : message.content.flatMap(
              (part, index) => convertPart(part, `${path}.content[${index}]`) as Array<AnthropicTextBlockParam | AnthropicImageBlockParam>,
            );
      return [
        {
          ...anthropicOptions(message.provider_options),
          type: 'tool_result',
          tool_use_id: message.tool_call_id,
          content,
          ...(message.is_error === undefined ? {} : { is_error: message.is_error }),
        },
      ];
    }
    default: {
      const unreachable: never = message;
      throw new ValidationError('E4500', `Invalid request: ${path}: unknown role`, { param: path, details: { message: unreachable } });
    }
  }
}

/** Anthropic rejects empty text blocks, so empty text is left out. */
function textBlocks(text: string): AnthropicContentBlockParam[] {
  return text === '' ? [] : [{ type: 'text', text }];
}

function convertPart(part: ContentPart, path: string): AnthropicContentBlockParam[] {
  const extra = anthropicOptions(part.provider_options);
  if (part.type === 'text') return part.text === '' ? [] : [{ ...extra, type: 'text', text: part.text }];
  return [{ ...extra, ...convertImage(part.url, `${path}.url`) }];
}

const DATA_URL = /^data:([a-z]+\/[a-z0-9.+-]+)((?:;[^;,]+)*);base64,(.*)$/is;

/** `data:<type>;base64,<bytes>` → base64 source; `http(s)://` → url source. */
export function convertImage(url: string, path = 'url'): AnthropicImageBlockParam {
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  const match = DATA_URL.exec(url);
  if (match === null) {
    throw new ValidationError('E4500', `Invalid request: ${path}: images must be http(s) URLs or base64 data: URLs`, { param: path });
  }
  const mediaType = (match[1] ?? '').toLowerCase();
  if (!isImageMediaType(mediaType)) {
    throw new ValidationError('E4500', `Invalid request: ${path}: Anthropic accepts ${ANTHROPIC_IMAGE_MEDIA_TYPES.join(', ')}, got ${mediaType}`, {
      param: path,
    });
  }
  return { type: 'image', source: { type: 'base64', media_type: mediaType, data: match[3] ?? '' } };
}

function isImageMediaType(value: string): value is AnthropicImageMediaType {
  return (ANTHROPIC_IMAGE_MEDIA_TYPES as readonly string[]).includes(value);
}

/** Tool-call arguments are JSON text; Anthropic wants the object. */
function parseToolArguments(text: string, path: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = text.trim() === '' ? {} : (JSON.parse(text) as unknown);
  } catch {
    throw new ValidationError('E4500', `Invalid request: ${path}: tool call arguments are not JSON`, { param: path });
  }
  if (!isRecord(value)) {
    throw new ValidationError('E4500', `Invalid request: ${path}: tool call arguments must be a JSON object`, { param: path });
  }
  return value;
}

/** auto → auto, required → any, {name} → tool, none → none. */
export function convertToolChoice(choice: ToolChoice): AnthropicToolChoice {
  if (typeof choice === 'object') return { type: 'tool', name: choice.name };
  switch (choice) {
    case 'auto':
      return { type: 'auto' };
    case 'required':
      return { type: 'any' };
    case 'none':
      return { type: 'none' };
    default: {
      const unreachable: never = choice;
      throw new ValidationError('E4500', `Invalid request: tool_choice: ${String(unreachable)}`, { param: 'tool_choice' });
    }
  }
}
