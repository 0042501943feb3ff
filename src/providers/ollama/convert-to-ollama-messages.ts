/**
 * LogicalPrompt → Ollama `/api/chat` request: messages (system first, images as base64, tool
 * calls with object arguments, tool results by tool name), tools, `format` and `options`.
 */
import { ProviderError, ValidationError } from '../../models/error-codes.js';
import { contentText, systemText } from '../../models/inference-request.js';
import type { ContentPart, LogicalPrompt, Message, ToolDefinition } from '../../models/inference-request.js';
import { estimatePromptTokens } from '../../util/token-estimate.js';
import type { ProviderCall } from '../base.js';
import type { OllamaChatRequest, OllamaMessage, OllamaOptions, OllamaTool } from './ollama-api.js';

/** The context Ollama loads a model with when `num_ctx` is not sent, in tokens. */
export const OLLAMA_DEFAULT_CONTEXT = 2048;

/** What the adapter adds to a call to build a request. */
export interface OllamaRequestOptions {
  stream: boolean;
  /** Provider id, named in errors. */
  provider: string;
  /** Config `keep_alive`, sent when set. */
  keepAlive?: string | number;
}

/**
 * Builds the `/api/chat` body of a call. Throws E4206 for input Ollama cannot take (an image by
 * http(s) URL) and E4500 for input that is invalid anywhere (tool arguments that are not a JSON
 * object, a `tool_choice` naming no offered tool).
 */
export function convertToOllamaChatRequest(call: ProviderCall, options: OllamaRequestOptions): OllamaChatRequest {
  const { prompt } = call;
  const request: OllamaChatRequest = {
    model: call.model.provider_model,
    messages: convertToOllamaMessages(prompt, options.provider),
    stream: options.stream,
    options: convertToOllamaOptions(call),
  };
  const tools = selectTools(prompt);
  if (tools !== undefined) request.tools = tools;
  const format = prompt.response_format;
  if (format?.type === 'json_object') request.format = 'json';
  else if (format?.type === 'json_schema') request.format = format.json_schema.schema;
  if (options.keepAlive !== undefined) request.keep_alive = options.keepAlive;
  return request;
}

/** The prompt's messages in Ollama's shape; the system prompt becomes the first message. */
export function convertToOllamaMessages(prompt: LogicalPrompt, provider: string): OllamaMessage[] {
  const messages: OllamaMessage[] = [];
  const system = systemText(prompt);
  if (system !== '') messages.push({ role: 'system', content: system });
  const toolNames = new Map<string, string>();
  prompt.messages.forEach((message, index) => {
    messages.push(convertMessage(message, index, toolNames, provider));
  });
  return messages;
}

function convertMessage(message: Message, index: number, toolNames: Map<string, string>, provider: string): OllamaMessage {
  switch (message.role) {
    case 'user': {
      if (typeof message.content === 'string') return { role: 'user', content: message.content };
      return convertUserParts(message.content, index, provider);
    }
    case 'assistant': {
      const converted: OllamaMessage = { role: 'assistant', content: message.content };
      if (message.tool_calls !== undefined && message.tool_calls.length > 0) {
        converted.tool_calls = message.tool_calls.map((toolCall, callIndex) => {
          toolNames.set(toolCall.id, toolCall.name);
          const param = `logical_prompt.messages[${index}].tool_calls[${callIndex}].arguments`;
          return { function: { name: toolCall.name, arguments: parseArguments(toolCall.arguments, param) } };
        });
      }
      return converted;
    }
    case 'tool': {
      // Ollama matches results to calls by tool name (it has no call ids); send it when known.
      const toolName = toolNames.get(message.tool_call_id);
      const converted: OllamaMessage = { role: 'tool', content: contentText(message.content) };
      if (toolName !== undefined) converted.tool_name = toolName;
      if (typeof message.content !== 'string') {
        const images = message.content.flatMap((part, partIndex) =>
          part.type === 'image' ? [imageToBase64(part.url, `logical_prompt.messages[${index}].content[${partIndex}].url`, provider)] : [],
        );
        if (images.length > 0) converted.images = images;
      }
      return converted;
    }
    default:
      return assertNever(message);
  }
}

function convertUserParts(parts: ContentPart[], index: number, provider: string): OllamaMessage {
  const texts: string[] = [];
  const images: string[] = [];
  parts.forEach((part, partIndex) => {
    if (part.type === 'text') texts.push(part.text);
    else images.push(imageToBase64(part.url, `logical_prompt.messages[${index}].content[${partIndex}].url`, provider));
  });
  const message: OllamaMessage = { role: 'user', content: texts.join('\n') };
  if (images.length > 0) message.images = images;
  return message;
}

/**
 * The base64 bytes of a `data:` URL. Ollama takes image bytes only: it never fetches a URL, so an
 * http(s) image is refused here (E4206) rather than sent and silently ignored.
 */
export function imageToBase64(url: string, param: string, provider: string): string {
  const match = /^data:([^,]*),(.*)$/s.exec(url);
  if (match === null) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase() ?? 'unknown';
    throw new ProviderError(
      'E4206',
      `${provider}: Ollama accepts images only as data: URLs with base64 bytes; an ${scheme}: image URL cannot be sent (download it and send a data: URL)`,
      {
        param,
        details: { provider, scheme },
      },
    );
  }
  const meta = match[1] ?? '';
  const payload = match[2] ?? '';
  if (/;base64$/i.test(meta)) return payload.replace(/\s+/g, '');
  let bytes: string;
  try {
    bytes = decodeURIComponent(payload);
  } catch {
    throw new ValidationError('E4500', `Invalid request: ${param}: the data: URL is not percent-encoded correctly`, { param });
  }
  return Buffer.from(bytes, 'utf8').toString('base64');
}

function parseArguments(text: string, param: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new ValidationError('E4500', `Invalid request: ${param}: tool call arguments are not JSON`, { param });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ValidationError('E4500', `Invalid request: ${param}: tool call arguments must be a JSON object`, { param });
  }
  return parsed as Record<string, unknown>;
}

/**
 * Tools to offer. Ollama has no `tool_choice`: `none` offers no tools, a named tool offers only
 * that one, `auto` and `required` offer all (Ollama cannot force a call).
 */
function selectTools(prompt: LogicalPrompt): OllamaTool[] | undefined {
  const tools = prompt.tools;
  if (tools === undefined || tools.length === 0 || prompt.tool_choice === 'none') return undefined;
  const choice = prompt.tool_choice;
  let offered: ToolDefinition[] = tools;
  if (typeof choice === 'object') {
    offered = tools.filter((tool) => tool.name === choice.name);
    if (offered.length === 0) {
      throw new ValidationError('E4500', `Invalid request: logical_prompt.tool_choice: names "${choice.name}", which is not in tools`, {
        param: 'logical_prompt.tool_choice',
      });
    }
  }
  return offered.map((tool) => ({
    type: 'function',
    function: { name: tool.name, ...(tool.description === undefined ? {} : { description: tool.description }), parameters: tool.parameters },
  }));
}

/** Sampling options, `num_predict` and, when more than Ollama's default is needed, `num_ctx`. */
export function convertToOllamaOptions(call: ProviderCall): OllamaOptions {
  const { prompt } = call;
  const options: OllamaOptions = { num_predict: call.maxOutputTokens };
  if (prompt.temperature !== undefined) options.temperature = prompt.temperature;
  if (prompt.top_p !== undefined) options.top_p = prompt.top_p;
  if (prompt.top_k !== undefined) options.top_k = prompt.top_k;
  if (prompt.presence_penalty !== undefined) options.presence_penalty = prompt.presence_penalty;
  if (prompt.frequency_penalty !== undefined) options.frequency_penalty = prompt.frequency_penalty;
  if (prompt.seed !== undefined) options.seed = prompt.seed;
  if (prompt.stop !== undefined && prompt.stop.length > 0) options.stop = prompt.stop;
  const numCtx = contextWindowFor(call);
  if (numCtx !== undefined) options.num_ctx = numCtx;
  return options;
}

/**
 * The `num_ctx` a call needs: at least `minContextLength` and the estimated prompt plus the output
 * cap, rounded up to a power of two and bounded by the model's context length; `undefined` when
 * Ollama's default (2048) is enough. Rounding matters: Ollama reloads a model whenever `num_ctx`
 * changes, so a handful of window sizes keeps it loaded across requests of different lengths.
 */
export function contextWindowFor(call: Pick<ProviderCall, 'prompt' | 'maxOutputTokens' | 'minContextLength' | 'model'>): number | undefined {
  const needed = Math.max(call.minContextLength, estimatePromptTokens(call.prompt) + call.maxOutputTokens);
  const bounded = Math.min(needed, call.model.context_length);
  if (bounded <= OLLAMA_DEFAULT_CONTEXT) return undefined;
  let window = OLLAMA_DEFAULT_CONTEXT;
  while (window < bounded) window *= 2;
  return Math.min(window, call.model.context_length);
}

function assertNever(value: never): never {
  throw new Error(`unexpected message ${JSON.stringify(value)}`);
}
