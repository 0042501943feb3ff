/**
 * OpenAI Chat Completions ↔ the gateway's native shapes. The request schema accepts what the
 * official clients send (unknown fields are ignored, as OpenAI-compatible servers do), validates
 * what the gateway uses, and maps it to an `InferenceRequestInput`; answers and stream events map
 * back to `chat.completion` and `chat.completion.chunk` objects.
 */
import { z } from 'zod';
import {
  CapabilitySchema,
  MAX_DEADLINE_MS,
  PrioritySchema,
  REQUEST_LIMITS,
  ReasoningEffortSchema,
  ResponseFormatSchema,
} from '../../models/inference-request.js';
import type { ContentPart, InferenceRequestInput, Message, ToolChoiceSchema } from '../../models/inference-request.js';
import type { InferenceResponse, TokenUsage } from '../../models/inference-response.js';
import { parseOrThrow } from '../../models/validation.js';
import { ValidationError } from '../../models/error-codes.js';
import { isCommonChatRequest } from './common-chat-request.js';

const TextPart = z.object({ type: z.literal('text'), text: z.string() });
const ImagePart = z.object({
  type: z.literal('image_url'),
  image_url: z.object({ url: z.string().min(1), detail: z.enum(['auto', 'low', 'high']).optional() }),
});
const Content = z.union([z.string(), z.array(z.discriminatedUnion('type', [TextPart, ImagePart])).max(64), z.null()]);
const ToolCall = z.object({
  id: z.string().min(1),
  type: z.literal('function').default('function'),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

const ChatMessage = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: Content }),
  z.object({ role: z.literal('developer'), content: Content }),
  z.object({ role: z.literal('user'), content: Content }),
  z.object({ role: z.literal('assistant'), content: Content.optional(), tool_calls: z.array(ToolCall).max(REQUEST_LIMITS.maxTools).optional() }),
  z.object({ role: z.literal('tool'), content: Content, tool_call_id: z.string().min(1) }),
]);

const OpenAITool = z.object({
  type: z.literal('function'),
  function: z.object({ name: z.string(), description: z.string().optional(), parameters: z.record(z.string(), z.unknown()).optional() }),
});
const OpenAIToolChoice = z.union([z.enum(['auto', 'none', 'required']), z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) })]);

/** The gateway's extension: routing need, hard deadline, priority and cache control. */
const L04Extension = z
  .object({
    capabilities: z.array(CapabilitySchema).optional(),
    min_context_length: z.number().int().positive().optional(),
    max_latency_ms: z.number().int().positive().optional(),
    deadline_ms: z.number().int().positive().max(MAX_DEADLINE_MS).optional(),
    max_cost_cents: z.number().nonnegative().optional(),
    preferred_providers: z.array(z.string()).optional(),
    priority: PrioritySchema.optional(),
    cache: z
      .object({ no_cache: z.boolean().optional(), no_store: z.boolean().optional(), min_similarity: z.number().min(0).max(1).optional() })
      .strict()
      .optional(),
  })
  .strict();

/** `POST /v1/chat/completions` body, as far as the gateway reads it. */
export const ChatCompletionRequestSchema = z.object({
  model: z.string().min(1).max(256),
  messages: z.array(ChatMessage).min(1).max(REQUEST_LIMITS.maxMessages),
  stream: z.boolean().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(REQUEST_LIMITS.maxStopSequences)]).nullish(),
  seed: z.number().int().nullish(),
  n: z.literal(1).nullish(),
  tools: z.array(OpenAITool).max(REQUEST_LIMITS.maxTools).optional(),
  tool_choice: OpenAIToolChoice.optional(),
  response_format: ResponseFormatSchema.optional(),
  user: z.string().max(1024).optional(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  reasoning_effort: ReasoningEffortSchema.nullish(),
  l04: L04Extension.optional(),
});

/** Fields passed to OpenAI upstreams as they are (`provider_options.openai`); other providers ignore them. */
const OPENAI_ONLY = ['store', 'metadata', 'logit_bias', 'service_tier', 'prediction', 'verbosity', 'prompt_cache_key', 'safety_identifier'] as const;
/** Every field the face reads or passes on; anything else is accepted, has no effect, and is named in `x-l04-ignored-params`. */
const KNOWN_FIELDS: ReadonlySet<string> = new Set([...Object.keys(ChatCompletionRequestSchema.shape), ...OPENAI_ONLY]);
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;

/** Cache directives of the `Cache-Control` request header. */
export interface CacheDirectives {
  noCache: boolean;
  noStore: boolean;
}

/** A chat request mapped to the native shape. */
export interface TranslatedChatRequest {
  request: InferenceRequestInput;
  stream: boolean;
  includeUsage: boolean;
  dropped: string[];
}

/** Parses an OpenAI chat request into a native request (E4500 naming the field). */
export function toInferenceRequest(body: unknown, agentDid: string, directives: CacheDirectives): TranslatedChatRequest {
  // A body of the common shape is read as it is (`isCommonChatRequest`); the schema decides the rest.
  const chat = isCommonChatRequest(body) ? body : parseOrThrow(ChatCompletionRequestSchema, body);
  return translateChat(chat, body as Record<string, unknown>, agentDid, directives);
}

/** The native request of a parsed chat request; `raw` is the body as sent (for the fields passed on or ignored). */
export function translateChat(chat: ChatCompletionRequest, raw: Record<string, unknown>, agentDid: string, directives: CacheDirectives): TranslatedChatRequest {
  const dropped = Object.keys(raw).filter((key) => !KNOWN_FIELDS.has(key) && raw[key] !== null && raw[key] !== undefined);
  const openaiOnly: Record<string, unknown> = {};
  for (const key of OPENAI_ONLY) if (raw[key] !== undefined && raw[key] !== null) openaiOnly[key] = raw[key];
  const systemParts: string[] = [];
  const messages: Message[] = [];
  chat.messages.forEach((message, index) => {
    if (message.role === 'system' || message.role === 'developer') systemParts.push(textOf(message.content, index));
    else if (message.role === 'user') messages.push({ role: 'user', content: userContent(message.content) });
    else if (message.role === 'assistant') {
      const toolCalls = message.tool_calls?.map((call) => ({ id: call.id, name: call.function.name, arguments: call.function.arguments }));
      messages.push({ role: 'assistant', content: textOf(message.content ?? null, index), ...(toolCalls === undefined ? {} : { tool_calls: toolCalls }) });
    } else messages.push({ role: 'tool', tool_call_id: message.tool_call_id, content: textOf(message.content, index) });
  });
  const l04 = chat.l04 ?? {};
  const maxTokens = chat.max_completion_tokens ?? chat.max_tokens ?? undefined;
  const stop = chat.stop === null || chat.stop === undefined ? undefined : typeof chat.stop === 'string' ? [chat.stop] : chat.stop;
  const toolChoice =
    chat.tool_choice === undefined ? undefined : typeof chat.tool_choice === 'string' ? chat.tool_choice : { name: chat.tool_choice.function.name };
  const request: InferenceRequestInput = {
    agent_did: agentDid,
    ...(chat.model === 'auto' ? {} : { model_id: chat.model }),
    // Each object here starts with a property, never a spread (see util/merged.ts); the core's
    // schema builds the request in its own key order whatever the order here.
    logical_prompt: {
      messages,
      ...(systemParts.length === 0 ? {} : { system: systemParts.join('\n\n') }),
      ...(chat.tools === undefined
        ? {}
        : {
            tools: chat.tools.map((tool) => ({
              name: tool.function.name,
              ...(tool.function.description === undefined ? {} : { description: tool.function.description }),
              ...(tool.function.parameters === undefined ? {} : { parameters: tool.function.parameters }),
            })),
          }),
      ...(toolChoice === undefined ? {} : { tool_choice: toolChoice as z.infer<typeof ToolChoiceSchema> }),
      ...(chat.response_format === undefined ? {} : { response_format: chat.response_format }),
      ...(chat.temperature == null ? {} : { temperature: chat.temperature }),
      ...(chat.top_p == null ? {} : { top_p: chat.top_p }),
      ...(stop === undefined ? {} : { stop }),
      ...(chat.seed == null ? {} : { seed: chat.seed }),
      ...(chat.presence_penalty == null ? {} : { presence_penalty: chat.presence_penalty }),
      ...(chat.frequency_penalty == null ? {} : { frequency_penalty: chat.frequency_penalty }),
      ...(chat.user === undefined || chat.user === '' ? {} : { user: chat.user }),
      ...(chat.parallel_tool_calls == null ? {} : { parallel_tool_calls: chat.parallel_tool_calls }),
      ...(chat.reasoning_effort == null ? {} : { reasoning_effort: chat.reasoning_effort }),
      ...(Object.keys(openaiOnly).length === 0 ? {} : { provider_options: { openai: openaiOnly } }),
    },
    requirements: {
      capabilities: l04.capabilities ?? [],
      ...(l04.min_context_length === undefined ? {} : { min_context_length: l04.min_context_length }),
      ...(maxTokens === undefined ? {} : { max_output_tokens: maxTokens }),
    },
    constraints: {
      preferred_providers: l04.preferred_providers ?? [],
      ...(l04.max_latency_ms === undefined ? {} : { max_latency_ms: l04.max_latency_ms }),
      ...(l04.deadline_ms === undefined ? {} : { deadline_ms: l04.deadline_ms }),
      ...(l04.max_cost_cents === undefined ? {} : { max_cost_cents: l04.max_cost_cents }),
    },
    ...(l04.priority === undefined ? {} : { priority: l04.priority }),
    cache: {
      read: !(directives.noCache || l04.cache?.no_cache === true),
      write: !(directives.noStore || l04.cache?.no_store === true),
      ...(l04.cache?.min_similarity === undefined ? {} : { min_similarity: l04.cache.min_similarity }),
    },
  };
  return { request, stream: chat.stream === true, includeUsage: chat.stream_options?.include_usage === true, dropped: dropped.sort() };
}

/** Reads `Cache-Control: no-cache, no-store`. */
export function parseCacheControl(header: string | string[] | undefined): CacheDirectives {
  if (header === undefined) return { noCache: false, noStore: false };
  const value = (Array.isArray(header) ? header.join(',') : header).toLowerCase();
  const directives = value.split(',').map((directive) => directive.trim());
  return { noCache: directives.includes('no-cache'), noStore: directives.includes('no-store') };
}

function textOf(content: z.infer<typeof Content>, index: number): string {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part) => {
      if (part.type === 'text') return part.text;
      throw new ValidationError('E4500', `Invalid request: messages[${index}].content: images are only accepted in user messages`, {
        param: `messages[${index}].content`,
      });
    })
    .join('');
}

function userContent(content: z.infer<typeof Content>): string | ContentPart[] {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content.map((part): ContentPart =>
    part.type === 'text'
      ? { type: 'text', text: part.text }
      : { type: 'image', url: part.image_url.url, ...(part.image_url.detail === undefined ? {} : { detail: part.image_url.detail }) },
  );
}

/** The OpenAI `usage` object. */
export function toOpenAIUsage(usage: TokenUsage): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return { prompt_tokens: usage.input_tokens, completion_tokens: usage.output_tokens, total_tokens: usage.total_tokens };
}

/** `chat.completion` id of a request. */
export function completionId(requestId: string): string {
  return `chatcmpl-${requestId}`;
}

/** A native answer as an OpenAI `chat.completion`, with the gateway's facts under `l04`. */
export function toChatCompletion(response: InferenceResponse, createdS: number): Record<string, unknown> {
  const toolCalls = response.tool_calls?.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }));
  return {
    id: completionId(response.request_id),
    object: 'chat.completion',
    created: createdS,
    model: response.model_id,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: toolCalls !== undefined && response.content === '' ? null : response.content,
          refusal: null,
          ...(toolCalls === undefined ? {} : { tool_calls: toolCalls }),
        },
        logprobs: null,
        finish_reason: openAIFinishReason(response.finish_reason),
      },
    ],
    usage: toOpenAIUsage(response.token_usage),
    l04: {
      request_id: response.request_id,
      provider: response.provider,
      cached: response.cached,
      cost_cents: response.metadata.cost_cents,
      cache: response.metadata.cache,
      attempts: response.metadata.attempts,
    },
  };
}

/** OpenAI's finish reasons have no `other`. */
export function openAIFinishReason(reason: InferenceResponse['finish_reason']): string {
  return reason === 'other' ? 'stop' : reason;
}
