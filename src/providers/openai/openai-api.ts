/**
 * Wire schemas of the OpenAI Chat Completions, Embeddings and Models APIs, as OpenAI and the
 * compatible servers (vLLM, llama.cpp's server, LM Studio, Ollama's /v1) send them.
 * Reference: https://platform.openai.com/docs/api-reference/chat
 *
 * Responses are parsed once, with these schemas; objects are loose so that vendor extensions
 * (`system_fingerprint`, `service_tier`, vLLM's `reasoning_content`, …) pass without complaint.
 * Requests are built by the adapter from typed values, so they are plain types, not parsed.
 */
import { z } from 'zod';
import { isRecord } from '../../util/is-record.js';

// ---------------------------------------------------------------- requests (built, never parsed)

/** A content part of a user message. */
export type OpenAIContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string; detail?: 'auto' | 'low' | 'high' } };

/** A tool call as an assistant message carries it. */
export interface OpenAIToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** One message of the `messages` array. */
export type OpenAIMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | OpenAIContentPart[] }
  | { role: 'assistant'; content: string | null; tool_calls?: OpenAIToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

/** A function tool offered to the model. */
export interface OpenAITool {
  type: 'function';
  function: { name: string; description?: string; parameters: Record<string, unknown> };
}

/** `tool_choice` as the API takes it. */
export type OpenAIToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

/** `response_format` as the API takes it (JSON mode and Structured Outputs passed through). */
export type OpenAIResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; schema: Record<string, unknown>; strict?: boolean; description?: string } };

/** The body of `POST /chat/completions`. */
export interface OpenAIChatRequest {
  model: string;
  messages: OpenAIMessage[];
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
  stop?: string[];
  tools?: OpenAITool[];
  tool_choice?: OpenAIToolChoice;
  response_format?: OpenAIResponseFormat;
  stream?: boolean;
  stream_options?: { include_usage: boolean };
  presence_penalty?: number;
  frequency_penalty?: number;
  user?: string;
  parallel_tool_calls?: boolean;
  reasoning_effort?: string;
  /** Caller-supplied OpenAI fields (`provider_options.openai`: `store`, `metadata`, `logit_bias`, `service_tier`…). */
  [extra: string]: unknown;
}

/** The body of `POST /embeddings`. */
export interface OpenAIEmbeddingRequest {
  model: string;
  input: string[];
}

// ---------------------------------------------------------------- responses (parsed once)

/** `usage` of a completion; counts are the provider's own. */
export const OpenAIUsageSchema = z.looseObject({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  total_tokens: z.number().int().nonnegative().optional(),
  /** Prompt tokens served from OpenAI's automatic prompt cache. */
  prompt_tokens_details: z.looseObject({ cached_tokens: z.number().int().nonnegative().nullish() }).nullish(),
});
/** Parsed `usage`. */
export type OpenAIUsage = z.infer<typeof OpenAIUsageSchema>;

const ResponseToolCallSchema = z.looseObject({
  id: z.string(),
  type: z.literal('function').optional(),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});

/** A whole answer of `POST /chat/completions`. */
export const OpenAIChatResponseSchema = z.looseObject({
  id: z.string().optional(),
  model: z.string().optional(),
  choices: z
    .array(
      z.looseObject({
        index: z.number().int().optional(),
        message: z.looseObject({
          role: z.string().optional(),
          content: z.string().nullish(),
          refusal: z.string().nullish(),
          tool_calls: z.array(ResponseToolCallSchema).nullish(),
        }),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1),
  usage: OpenAIUsageSchema.nullish(),
});
/** A parsed whole answer. */
export type OpenAIChatResponse = z.infer<typeof OpenAIChatResponseSchema>;

/**
 * Whether a decoded JSON body is a valid whole answer: the same check as `OpenAIChatResponseSchema`,
 * written out. The schema's objects are loose and it has no defaults, so for a body that passes,
 * the schema's result equals the body itself: the adapter reads the body as it is and keeps the
 * schema for the rest (its issues name what is wrong). Inside a busy gateway the schema's generic
 * walk costs several microseconds an answer, this a fraction (`tests/openai-mapping.test.ts` holds
 * the two together on generated answers).
 */
export function isOpenAIChatResponse(body: unknown): body is OpenAIChatResponse {
  if (!isRecord(body) || !optionalString(body.id) || !optionalString(body.model)) return false;
  const choices = body.choices;
  if (!Array.isArray(choices) || choices.length < 1) return false;
  for (const choice of choices as unknown[]) {
    if (!isRecord(choice) || !(choice.index === undefined || Number.isSafeInteger(choice.index)) || !nullishString(choice.finish_reason)) return false;
    const message = choice.message;
    if (!isRecord(message) || !optionalString(message.role) || !nullishString(message.content) || !nullishString(message.refusal)) return false;
    const toolCalls = message.tool_calls;
    if (toolCalls != null && !(Array.isArray(toolCalls) && (toolCalls as unknown[]).every(isToolCall))) return false;
  }
  const usage = body.usage;
  if (usage == null) return true;
  if (!isRecord(usage) || !count(usage.prompt_tokens) || !count(usage.completion_tokens) || !(usage.total_tokens === undefined || count(usage.total_tokens)))
    return false;
  const details = usage.prompt_tokens_details;
  return details == null || (isRecord(details) && (details.cached_tokens == null || count(details.cached_tokens)));
}

/** `OpenAIChatResponseSchema.safeParse(body)`, answered without the schema when the body passes `isOpenAIChatResponse`. */
export function parseChatResponse(body: unknown): z.ZodSafeParseResult<OpenAIChatResponse> {
  return isOpenAIChatResponse(body) ? { success: true, data: body } : OpenAIChatResponseSchema.safeParse(body);
}

function isToolCall(value: unknown): boolean {
  if (!isRecord(value) || typeof value.id !== 'string' || !(value.type === undefined || value.type === 'function')) return false;
  const fn = value.function;
  return isRecord(fn) && typeof fn.name === 'string' && typeof fn.arguments === 'string';
}

function optionalString(value: unknown): boolean {
  return value === undefined || typeof value === 'string';
}

function nullishString(value: unknown): boolean {
  return value == null || typeof value === 'string';
}

/** A non-negative safe integer, as `z.number().int().nonnegative()` accepts. */
function count(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** The `error` object of an error body (also sent as a stream chunk by OpenAI mid-stream). */
export const OpenAIErrorObjectSchema = z.looseObject({
  message: z.string().nullish(),
  type: z.string().nullish(),
  param: z.string().nullish(),
  // OpenAI sends a string; llama.cpp's server sends the HTTP status as a number.
  code: z.union([z.string(), z.number()]).nullish(),
});
/** A parsed `error` object. */
export type OpenAIErrorObject = z.infer<typeof OpenAIErrorObjectSchema>;

/** One `data:` event of a streamed answer. The usage chunk has `choices: []`. */
export const OpenAIChatChunkSchema = z.looseObject({
  choices: z.array(
    z.looseObject({
      index: z.number().int().optional(),
      delta: z
        .looseObject({
          content: z.string().nullish(),
          refusal: z.string().nullish(),
          tool_calls: z
            .array(
              z.looseObject({
                index: z.number().int().nonnegative().optional(),
                id: z.string().nullish(),
                function: z.looseObject({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
              }),
            )
            .nullish(),
        })
        .nullish(),
      finish_reason: z.string().nullish(),
    }),
  ),
  usage: OpenAIUsageSchema.nullish(),
});
/** A parsed stream chunk. */
export type OpenAIChatChunk = z.infer<typeof OpenAIChatChunkSchema>;

/** A stream chunk that carries an error instead of choices. */
export const OpenAIStreamErrorChunkSchema = z.looseObject({ error: OpenAIErrorObjectSchema });

/** The answer of `POST /embeddings` (float encoding, the API default). */
export const OpenAIEmbeddingResponseSchema = z.looseObject({
  data: z.array(z.looseObject({ index: z.number().int().nonnegative(), embedding: z.array(z.number()) })),
  usage: z.looseObject({ prompt_tokens: z.number().int().nonnegative() }).nullish(),
});
/** A parsed embeddings answer. */
export type OpenAIEmbeddingResponse = z.infer<typeof OpenAIEmbeddingResponseSchema>;

/** The answer of `GET /models`. */
export const OpenAIModelListSchema = z.looseObject({
  data: z.array(z.looseObject({ id: z.string() })),
});

/**
 * An error body: OpenAI's `{"error": {…}}`, a bare `{"error": "text"}` (LM Studio), or the flat
 * `{"object": "error", "message", "type", "code"}` of older vLLM releases.
 */
export const OpenAIErrorBodySchema = z.union([
  z.looseObject({ error: OpenAIErrorObjectSchema }),
  z.looseObject({ error: z.string() }).transform((body) => ({ error: { message: body.error } as OpenAIErrorObject })),
  z
    .looseObject({ object: z.literal('error'), message: z.string().nullish(), type: z.string().nullish(), code: z.union([z.string(), z.number()]).nullish() })
    .transform((body) => ({
      error: { message: body.message, type: body.type, code: body.code } as OpenAIErrorObject,
    })),
]);
