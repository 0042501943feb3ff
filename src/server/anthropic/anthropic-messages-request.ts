/**
 * Anthropic Messages request → the native `InferenceRequestInput`.
 *
 * Everything the native model has a place for is translated (system, text and image blocks,
 * tool_use / tool_result, thinking blocks with signatures, tools, tool_choice, stop_sequences,
 * temperature, top_p, top_k, max_tokens, metadata.user_id, output_format). What only Anthropic
 * understands travels in `provider_options.anthropic`, intact, and reaches Anthropic upstreams
 * as it came: block extras (`cache_control`, `citations`), tool extras (`defer_loading`), and
 * every other top-level field (`thinking`, `context_management`, `metadata`, `service_tier`,
 * `mcp_servers`…), with the `anthropic-version` and `anthropic-beta` headers. Another provider
 * drops them and the answer names them in `x-l04-ignored-params`; nothing here fails a request
 * for using a feature the serving provider lacks. Blocks the native model cannot hold (documents
 * other than plain text, server tool results) are dropped and named the same way.
 */
import { z } from 'zod';
import { REQUEST_LIMITS } from '../../models/inference-request.js';
import type { ContentPart, InferenceRequestInput, LogicalPromptInput, ReasoningPart, ToolChoice } from '../../models/inference-request.js';
import { parseOrThrow } from '../../models/validation.js';
import type { CacheDirectives } from '../openai/openai-chat.js';
import { isRecord } from '../../util/is-record.js';

const Block = z.object({ type: z.string().min(1).max(64) }).loose();
const Content = z.union([z.string(), z.array(Block).max(REQUEST_LIMITS.maxMessages)]);
const Tool = z
  .object({
    name: z.string().min(1).max(256),
    type: z.string().optional(),
    description: z.string().optional(),
    input_schema: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();

/** `POST /v1/messages` as far as the face reads it; other fields pass through to Anthropic. */
export const AnthropicMessagesRequestSchema = z
  .object({
    model: z.string().min(1).max(256),
    max_tokens: z.number().int().positive().max(1_000_000),
    messages: z
      .array(z.object({ role: z.enum(['user', 'assistant']), content: Content }).loose())
      .min(1)
      .max(REQUEST_LIMITS.maxMessages),
    system: Content.optional(),
    tools: z.array(Tool).max(REQUEST_LIMITS.maxTools).optional(),
    tool_choice: z
      .object({ type: z.enum(['auto', 'any', 'tool', 'none']), name: z.string().optional(), disable_parallel_tool_use: z.boolean().optional() })
      .loose()
      .optional(),
    stop_sequences: z.array(z.string().min(1).max(256)).max(REQUEST_LIMITS.maxStopSequences).optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().positive().optional(),
    metadata: z
      .object({ user_id: z.string().max(1024).nullish() })
      .loose()
      .optional(),
    stream: z.boolean().optional(),
    output_format: z
      .object({ type: z.literal('json_schema'), schema: z.record(z.string(), z.unknown()) })
      .loose()
      .nullish(),
  })
  .loose();
export type AnthropicMessagesRequestBody = z.infer<typeof AnthropicMessagesRequestSchema>;

/** Fields the face translates itself; every other top-level field is passed to Anthropic as it is. */
const TRANSLATED = new Set([
  'model',
  'max_tokens',
  'messages',
  'system',
  'tools',
  'tool_choice',
  'stop_sequences',
  'temperature',
  'top_p',
  'top_k',
  'stream',
  'output_format',
]);

/** Native prompt fields under their Anthropic names, for `x-l04-ignored-params`. */
export const ANTHROPIC_WIRE_NAMES: Readonly<Record<string, string>> = {
  stop: 'stop_sequences',
  user: 'metadata.user_id',
  parallel_tool_calls: 'tool_choice.disable_parallel_tool_use',
};

/** A translated request, whether it streams, and what the face itself had to drop. */
export interface TranslatedMessagesRequest {
  request: InferenceRequestInput;
  stream: boolean;
  /** Wire names of what the native model cannot carry (dropped whichever provider serves). */
  dropped: string[];
}

/** The caller's Anthropic headers, forwarded to Anthropic upstreams. */
export interface AnthropicHeaders {
  version?: string;
  beta?: string;
}

type AnthropicBlock = z.infer<typeof Block>;

/** Parses and translates a Messages request (E4500 naming the field). */
export function toInferenceRequest(body: unknown, agentDid: string, headers: AnthropicHeaders, directives: CacheDirectives): TranslatedMessagesRequest {
  const parsed = parseOrThrow(AnthropicMessagesRequestSchema, body);
  const dropped = new Set<string>();
  const messages: LogicalPromptInput['messages'] = [];
  parsed.messages.forEach((message, index) => {
    if (message.role === 'user') messages.push(...userTurn(message.content, `messages[${index}]`, dropped));
    else messages.push(assistantTurn(message.content, dropped));
  });
  const extras: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed)) if (!TRANSLATED.has(key) && value !== undefined) extras[key] = value;
  if (headers.version !== undefined) extras['anthropic-version'] = headers.version;
  if (headers.beta !== undefined) extras['anthropic-beta'] = headers.beta;
  const { tools, serverTools } = convertTools(parsed.tools);
  if (serverTools.length > 0) extras.server_tools = serverTools;
  const choice = parsed.tool_choice;
  const user = parsed.metadata?.user_id ?? undefined;
  // Starts with a property, not a spread (see util/merged.ts); the core's schema sets the key order.
  const prompt: LogicalPromptInput = {
    messages: messages.length > 0 ? messages : [{ role: 'user', content: '' }],
    ...(parsed.system === undefined ? {} : { system: convertSystem(parsed.system) }),
    ...(tools.length > 0 ? { tools } : {}),
    ...(choice === undefined || tools.length === 0 ? {} : { tool_choice: convertToolChoice(choice) }),
    ...(choice?.disable_parallel_tool_use === true ? { parallel_tool_calls: false } : {}),
    ...(parsed.stop_sequences === undefined ? {} : { stop: parsed.stop_sequences }),
    ...(parsed.temperature === undefined ? {} : { temperature: parsed.temperature }),
    ...(parsed.top_p === undefined ? {} : { top_p: parsed.top_p }),
    ...(parsed.top_k === undefined ? {} : { top_k: parsed.top_k }),
    ...(user === undefined || user === '' ? {} : { user }),
    ...(parsed.output_format == null
      ? {}
      : { response_format: { type: 'json_schema' as const, json_schema: { name: 'output', schema: parsed.output_format.schema } } }),
    ...(Object.keys(extras).length === 0 ? {} : { provider_options: { anthropic: extras } }),
  };
  const request: InferenceRequestInput = {
    agent_did: agentDid,
    ...(parsed.model === 'auto' ? {} : { model_id: parsed.model }),
    logical_prompt: prompt,
    requirements: { max_output_tokens: parsed.max_tokens },
    cache: { read: !directives.noCache, write: !directives.noStore },
  };
  return { request, stream: parsed.stream === true, dropped: [...dropped].sort() };
}

/** Fields of a block other than the ones the native part models: passed to Anthropic as they are. */
function blockExtras(block: Record<string, unknown>, modelled: readonly string[]): { provider_options?: { anthropic: Record<string, unknown> } } {
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(block)) if (!modelled.includes(key) && key !== 'type') extra[key] = value;
  return Object.keys(extra).length === 0 ? {} : { provider_options: { anthropic: extra } };
}

function convertSystem(system: string | AnthropicBlock[]): LogicalPromptInput['system'] {
  if (typeof system === 'string') return system;
  return system.flatMap((block) =>
    block.type === 'text' && typeof block.text === 'string' ? [{ type: 'text' as const, text: block.text, ...blockExtras(block, ['text']) }] : [],
  );
}

/** A user turn: tool results first (each a native tool message), then the rest as one user message. */
function userTurn(content: string | AnthropicBlock[], path: string, dropped: Set<string>): LogicalPromptInput['messages'] {
  if (typeof content === 'string') return [{ role: 'user', content }];
  const out: LogicalPromptInput['messages'] = [];
  const parts: ContentPart[] = [];
  content.forEach((block, index) => {
    if (block.type === 'tool_result') {
      out.push({
        role: 'tool',
        tool_call_id: typeof block.tool_use_id === 'string' ? block.tool_use_id : `${path}.content[${index}]`,
        content: toolResultContent(block.content, dropped),
        ...(typeof block.is_error === 'boolean' ? { is_error: block.is_error } : {}),
        ...blockExtras(block, ['tool_use_id', 'content', 'is_error']),
      });
      return;
    }
    const part = contentPart(block, dropped);
    if (part !== undefined) parts.push(part);
  });
  if (parts.length > 0) out.push({ role: 'user', content: parts });
  return out;
}

function toolResultContent(content: unknown, dropped: Set<string>): string | ContentPart[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const parts = content.flatMap((block: unknown) => {
    const parsed = Block.safeParse(block);
    const part = parsed.success ? contentPart(parsed.data, dropped) : undefined;
    return part === undefined ? [] : [part];
  });
  return parts.length === 0 ? '' : parts;
}

/** A text or image block as a native part; other blocks are dropped (and named). */
function contentPart(block: AnthropicBlock, dropped: Set<string>): ContentPart | undefined {
  if (block.type === 'text' && typeof block.text === 'string') return { type: 'text', text: block.text, ...blockExtras(block, ['text']) };
  if (block.type === 'image') {
    const url = imageUrl(block.source);
    if (url !== undefined) return { type: 'image', url, ...blockExtras(block, ['source']) };
  }
  // A plain-text document is text; other documents (PDF bytes, files) have no native form.
  if (block.type === 'document' && isRecord(block.source) && block.source.type === 'text' && typeof block.source.data === 'string') {
    return { type: 'text', text: block.source.data, ...blockExtras(block, ['source', 'title', 'context']) };
  }
  dropped.add(`content.${block.type}`);
  return undefined;
}

function imageUrl(source: unknown): string | undefined {
  if (!isRecord(source)) return undefined;
  if (source.type === 'base64' && typeof source.media_type === 'string' && typeof source.data === 'string')
    return `data:${source.media_type};base64,${source.data}`;
  if (source.type === 'url' && typeof source.url === 'string') return source.url;
  return undefined;
}

function assistantTurn(content: string | AnthropicBlock[], dropped: Set<string>): LogicalPromptInput['messages'][number] {
  if (typeof content === 'string') return { role: 'assistant', content };
  let text = '';
  const reasoning: ReasoningPart[] = [];
  const toolCalls: Array<{ id: string; name: string; arguments: string }> = [];
  for (const block of content) {
    if (block.type === 'text' && typeof block.text === 'string') text += block.text;
    else if (block.type === 'thinking' && typeof block.thinking === 'string')
      reasoning.push({ type: 'reasoning', text: block.thinking, ...(typeof block.signature === 'string' ? { signature: block.signature } : {}) });
    else if (block.type === 'redacted_thinking' && typeof block.data === 'string') reasoning.push({ type: 'redacted_reasoning', data: block.data });
    else if (block.type === 'tool_use' && typeof block.id === 'string' && typeof block.name === 'string')
      toolCalls.push({ id: block.id, name: block.name, arguments: JSON.stringify(block.input ?? {}) });
    else dropped.add(`content.${block.type}`);
  }
  return { role: 'assistant', content: text, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}), ...(reasoning.length > 0 ? { reasoning } : {}) };
}

/** Client tools become native tools; Anthropic's own (server) tools, which have a `type`, travel as an option. */
function convertTools(tools: z.infer<typeof Tool>[] | undefined): { tools: NonNullable<LogicalPromptInput['tools']>; serverTools: unknown[] } {
  const out: NonNullable<LogicalPromptInput['tools']> = [];
  const serverTools: unknown[] = [];
  for (const tool of tools ?? []) {
    if (tool.type !== undefined && tool.type !== 'custom') {
      serverTools.push(tool);
      continue;
    }
    out.push({
      name: tool.name,
      ...(tool.description === undefined ? {} : { description: tool.description }),
      parameters: tool.input_schema ?? { type: 'object', properties: {} },
      ...blockExtras(tool, ['name', 'description', 'input_schema']),
    });
  }
  return { tools: out, serverTools };
}

function convertToolChoice(choice: NonNullable<AnthropicMessagesRequestBody['tool_choice']>): ToolChoice {
  switch (choice.type) {
    case 'auto':
      return 'auto';
    case 'any':
      return 'required';
    case 'none':
      return 'none';
    case 'tool':
      return { name: choice.name ?? '' };
    default: {
      const exhaustive: never = choice.type;
      return exhaustive;
    }
  }
}
