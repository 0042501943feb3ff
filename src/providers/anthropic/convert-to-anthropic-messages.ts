/**
 * LogicalPrompt → the body of `POST /v1/messages`.
 *
 * Anthropic's rules, and how they are met:
 * - the system prompt is a top-level `system` field, never a message;
 * - roles alternate: tool results travel as `tool_result` blocks in a `user` message, and
 *   consecutive messages of one role are merged into one (tool results first, as the API requires
 *   them to lead the user turn that answers a `tool_use`);
 * - `max_tokens` is mandatory: always sent, from the call's output cap;
 * - images are `image` blocks: a `data:` URL becomes a base64 source, an http(s) URL a `url` source;
 * - `temperature` ranges over 0–1 (OpenAI's 0–2 is clamped to 1); `seed` does not exist and is
 *   not sent;
 * - there is no JSON mode: a `json_object`/`json_schema` response format is declined with E4209
 *   (the adapter reports `supportsCapability('json_mode') === false`, so routing avoids it).
 * Problems with the prompt itself throw E4500 naming the field.
 */
import { ProviderError, ValidationError } from '../../models/error-codes.js';
import type { ContentPart, LogicalPrompt, Message, ToolChoice } from '../../models/inference-request.js';
import { ANTHROPIC_IMAGE_MEDIA_TYPES } from './anthropic-api.js';
import type {
  AnthropicContentBlockParam,
  AnthropicImageBlockParam,
  AnthropicImageMediaType,
  AnthropicMessageParam,
  AnthropicMessagesRequest,
  AnthropicToolChoice,
} from './anthropic-api.js';

/** What a request is built from. */
export interface AnthropicRequestInput {
  /** The provider's model name. */
  model: string;
  prompt: LogicalPrompt;
  /** Sent as `max_tokens` (mandatory in the Messages API). */
  maxOutputTokens: number;
  stream: boolean;
}

/** The highest temperature the Messages API accepts. */
export const ANTHROPIC_MAX_TEMPERATURE = 1;

/** Builds the request body. Throws E4500 for an unconvertible prompt and E4209 for JSON mode. */
export function convertToAnthropicRequest(input: AnthropicRequestInput): AnthropicMessagesRequest {
  const { prompt } = input;
  const format = prompt.response_format?.type;
  if (format === 'json_object' || format === 'json_schema') {
    throw new ProviderError('E4209', 'Anthropic has no JSON mode: response_format json_object/json_schema is not supported by this provider', {
      param: 'response_format',
      details: { capability: 'json_mode' },
    });
  }
  const request: AnthropicMessagesRequest = {
    model: input.model,
    max_tokens: input.maxOutputTokens,
    messages: convertToAnthropicMessages(prompt.messages),
  };
  if (prompt.system !== undefined && prompt.system !== '') request.system = prompt.system;
  if (prompt.tools !== undefined && prompt.tools.length > 0) {
    request.tools = prompt.tools.map((tool) => ({
      name: tool.name,
      ...(tool.description === undefined ? {} : { description: tool.description }),
      input_schema: tool.parameters,
    }));
    if (prompt.tool_choice !== undefined) request.tool_choice = convertToolChoice(prompt.tool_choice);
  }
  if (prompt.stop !== undefined && prompt.stop.length > 0) request.stop_sequences = prompt.stop;
  if (prompt.temperature !== undefined) request.temperature = Math.min(prompt.temperature, ANTHROPIC_MAX_TEMPERATURE);
  if (prompt.top_p !== undefined) request.top_p = prompt.top_p;
  if (input.stream) request.stream = true;
  return request;
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
      const blocks: AnthropicContentBlockParam[] = textBlocks(message.content);
      (message.tool_calls ?? []).forEach((call, index) => {
        blocks.push({ type: 'tool_use', id: call.id, name: call.name, input: parseToolArguments(call.arguments, `${path}.tool_calls[${index}].arguments`) });
      });
      return blocks;
    }
    case 'tool':
      return [{ type: 'tool_result', tool_use_id: message.tool_call_id, content: message.content }];
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
  if (part.type === 'text') return textBlocks(part.text);
  return [convertImage(part.url, `${path}.url`)];
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
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('E4500', `Invalid request: ${path}: tool call arguments must be a JSON object`, { param: path });
  }
  return value as Record<string, unknown>;
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
