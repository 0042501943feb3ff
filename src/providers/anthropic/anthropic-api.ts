/**
 * Wire schemas of Anthropic's Messages API (`POST /v1/messages`, `GET /v1/models`): the request
 * shapes the adapter sends, and zod schemas for everything it reads back (answers, stream events,
 * error bodies, the model list). Provider responses are parsed once, here; a body that fails these
 * schemas is E4600. Reference: https://docs.anthropic.com/en/api/messages and
 * https://docs.anthropic.com/en/docs/build-with-claude/streaming.
 *
 * Schemas are deliberately loose about fields the gateway does not read (Anthropic adds fields
 * often) and strict about the ones it does.
 */
import { z } from 'zod';

// ---------------------------------------------------------------- request (sent; typed, not parsed)

/**
 * Fields of a request object the gateway does not model itself (`cache_control`, `citations`,
 * `defer_loading`…), passed through from the caller's `provider_options.anthropic`.
 */
export type AnthropicExtraFields = Record<string, unknown>;

/** A text block of a request message. */
export interface AnthropicTextBlockParam extends AnthropicExtraFields {
  type: 'text';
  text: string;
}

/** Image media types the Messages API accepts for base64 sources. */
export const ANTHROPIC_IMAGE_MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'] as const;
/** One of `ANTHROPIC_IMAGE_MEDIA_TYPES`. */
export type AnthropicImageMediaType = (typeof ANTHROPIC_IMAGE_MEDIA_TYPES)[number];

/** An image block: base64 bytes (from a `data:` URL) or a URL Anthropic fetches itself. */
export interface AnthropicImageBlockParam extends AnthropicExtraFields {
  type: 'image';
  source: { type: 'base64'; media_type: AnthropicImageMediaType; data: string } | { type: 'url'; url: string };
}

/** A tool call the assistant made earlier in the conversation. */
export interface AnthropicToolUseBlockParam extends AnthropicExtraFields {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
}

/** The result of a tool call, sent in a user message. */
export interface AnthropicToolResultBlockParam extends AnthropicExtraFields {
  type: 'tool_result';
  tool_use_id: string;
  content: string | Array<AnthropicTextBlockParam | AnthropicImageBlockParam>;
  is_error?: boolean;
}

/** Reasoning of an earlier assistant turn, sent back verbatim (the signature is checked). */
export interface AnthropicThinkingBlockParam {
  type: 'thinking';
  thinking: string;
  signature: string;
}

/** Redacted reasoning of an earlier assistant turn. */
export interface AnthropicRedactedThinkingBlockParam {
  type: 'redacted_thinking';
  data: string;
}

/** Any block the adapter sends. */
export type AnthropicContentBlockParam =
  | AnthropicTextBlockParam
  | AnthropicImageBlockParam
  | AnthropicToolUseBlockParam
  | AnthropicToolResultBlockParam
  | AnthropicThinkingBlockParam
  | AnthropicRedactedThinkingBlockParam;

/** One message; roles alternate, tool results travel as `user`. */
export interface AnthropicMessageParam {
  role: 'user' | 'assistant';
  content: AnthropicContentBlockParam[];
}

/** A client tool definition. */
export interface AnthropicToolParam extends AnthropicExtraFields {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
}

/** How the model may use tools. */
export type AnthropicToolChoice = ({ type: 'auto' } | { type: 'any' } | { type: 'tool'; name: string } | { type: 'none' }) & {
  disable_parallel_tool_use?: boolean;
};

/** The body of `POST /v1/messages`; caller-supplied Anthropic fields (`thinking`, `context_management`…) ride along. */
export interface AnthropicMessagesRequest extends AnthropicExtraFields {
  model: string;
  max_tokens: number;
  messages: AnthropicMessageParam[];
  system?: string | AnthropicTextBlockParam[];
  tools?: AnthropicToolParam[];
  tool_choice?: AnthropicToolChoice;
  stop_sequences?: string[];
  temperature?: number;
  top_p?: number;
  top_k?: number;
  metadata?: Record<string, unknown>;
  thinking?: Record<string, unknown>;
  stream?: boolean;
}

// ---------------------------------------------------------------- responses (parsed)

/** `usage` of a message; cache counts are absent on older API versions and null when unused. */
export const AnthropicUsageSchema = z
  .object({
    input_tokens: z.number().int().nonnegative(),
    output_tokens: z.number().int().nonnegative(),
    cache_creation_input_tokens: z.number().int().nonnegative().nullish(),
    cache_read_input_tokens: z.number().int().nonnegative().nullish(),
  })
  .loose();
export type AnthropicUsage = z.infer<typeof AnthropicUsageSchema>;

const TextBlockSchema = z.object({ type: z.literal('text'), text: z.string() }).loose();
const ToolUseBlockSchema = z.object({ type: z.literal('tool_use'), id: z.string().min(1), name: z.string().min(1), input: z.unknown() }).loose();
/** Reasoning; in a stream it starts empty and fills through `thinking_delta` and `signature_delta`. */
const ThinkingBlockSchema = z.object({ type: z.literal('thinking'), thinking: z.string(), signature: z.string().nullish() }).loose();
const RedactedThinkingBlockSchema = z.object({ type: z.literal('redacted_thinking'), data: z.string() }).loose();
const KNOWN_BLOCK_TYPES: ReadonlySet<string> = new Set(['text', 'tool_use', 'thinking', 'redacted_thinking']);
/** Blocks the gateway does not translate (server tool uses and results): kept out of the answer. */
const OtherBlockSchema = z
  .object({ type: z.string() })
  .loose()
  .refine((block) => !KNOWN_BLOCK_TYPES.has(block.type), { message: 'malformed content block' });

/** A content block of an answer (or the start of one in a stream). */
export const AnthropicContentBlockSchema = z.union([TextBlockSchema, ToolUseBlockSchema, ThinkingBlockSchema, RedactedThinkingBlockSchema, OtherBlockSchema]);
export type AnthropicContentBlock = z.infer<typeof AnthropicContentBlockSchema>;

/** A complete answer (`type: "message"`). */
export const AnthropicMessageSchema = z
  .object({
    id: z.string(),
    type: z.literal('message'),
    role: z.literal('assistant'),
    model: z.string(),
    content: z.array(AnthropicContentBlockSchema),
    stop_reason: z.string().nullable(),
    stop_sequence: z.string().nullish(),
    usage: AnthropicUsageSchema,
  })
  .loose();
export type AnthropicMessage = z.infer<typeof AnthropicMessageSchema>;

/** The error object inside an error body or an `error` stream event. */
export const AnthropicErrorObjectSchema = z.object({ type: z.string(), message: z.string().optional() }).loose();

/** `{"type":"error","error":{"type","message"},"request_id"}`. */
export const AnthropicErrorBodySchema = z.object({ type: z.literal('error'), error: AnthropicErrorObjectSchema }).loose();
export type AnthropicErrorBody = z.infer<typeof AnthropicErrorBodySchema>;

// ---------------------------------------------------------------- stream events (parsed)

const MessageStartEventSchema = z
  .object({
    type: z.literal('message_start'),
    message: z.object({ id: z.string(), model: z.string(), usage: AnthropicUsageSchema.partial({ output_tokens: true }) }).loose(),
  })
  .loose();

const ContentBlockStartEventSchema = z
  .object({ type: z.literal('content_block_start'), index: z.number().int().nonnegative(), content_block: AnthropicContentBlockSchema })
  .loose();

const TextDeltaSchema = z.object({ type: z.literal('text_delta'), text: z.string() }).loose();
const InputJsonDeltaSchema = z.object({ type: z.literal('input_json_delta'), partial_json: z.string() }).loose();
const ThinkingDeltaSchema = z.object({ type: z.literal('thinking_delta'), thinking: z.string() }).loose();
const SignatureDeltaSchema = z.object({ type: z.literal('signature_delta'), signature: z.string() }).loose();
const KNOWN_DELTA_TYPES: ReadonlySet<string> = new Set(['text_delta', 'input_json_delta', 'thinking_delta', 'signature_delta']);
/** citations_delta and newer kinds: not translated. */
const OtherDeltaSchema = z
  .object({ type: z.string() })
  .loose()
  .refine((delta) => !KNOWN_DELTA_TYPES.has(delta.type), { message: 'malformed delta' });

const ContentBlockDeltaEventSchema = z
  .object({
    type: z.literal('content_block_delta'),
    index: z.number().int().nonnegative(),
    delta: z.union([TextDeltaSchema, InputJsonDeltaSchema, ThinkingDeltaSchema, SignatureDeltaSchema, OtherDeltaSchema]),
  })
  .loose();

const ContentBlockStopEventSchema = z.object({ type: z.literal('content_block_stop'), index: z.number().int().nonnegative() }).loose();

/** `usage` of `message_delta`: counts are cumulative; input counts may be repeated (or null). */
const MessageDeltaUsageSchema = z
  .object({
    output_tokens: z.number().int().nonnegative(),
    input_tokens: z.number().int().nonnegative().nullish(),
    cache_creation_input_tokens: z.number().int().nonnegative().nullish(),
    cache_read_input_tokens: z.number().int().nonnegative().nullish(),
  })
  .loose();

const MessageDeltaEventSchema = z
  .object({
    type: z.literal('message_delta'),
    delta: z.object({ stop_reason: z.string().nullish(), stop_sequence: z.string().nullish() }).loose(),
    usage: MessageDeltaUsageSchema,
  })
  .loose();

const MessageStopEventSchema = z.object({ type: z.literal('message_stop') }).loose();
const PingEventSchema = z.object({ type: z.literal('ping') }).loose();
const ErrorEventSchema = z.object({ type: z.literal('error'), error: AnthropicErrorObjectSchema }).loose();

/** Every stream event the gateway reads. Unknown event types are skipped, as Anthropic asks. */
export const AnthropicStreamEventSchema = z.discriminatedUnion('type', [
  MessageStartEventSchema,
  ContentBlockStartEventSchema,
  ContentBlockDeltaEventSchema,
  ContentBlockStopEventSchema,
  MessageDeltaEventSchema,
  MessageStopEventSchema,
  PingEventSchema,
  ErrorEventSchema,
]);
export type AnthropicStreamEvent = z.infer<typeof AnthropicStreamEventSchema>;

/** Event types `AnthropicStreamEventSchema` knows. */
export const ANTHROPIC_STREAM_EVENT_TYPES: ReadonlySet<string> = new Set([
  'message_start',
  'content_block_start',
  'content_block_delta',
  'content_block_stop',
  'message_delta',
  'message_stop',
  'ping',
  'error',
]);

// ---------------------------------------------------------------- models (parsed)

/** `GET /v1/models`: one page of the model list. */
export const AnthropicModelListSchema = z
  .object({
    data: z.array(z.object({ id: z.string(), type: z.literal('model').optional() }).loose()),
    has_more: z.boolean().optional(),
  })
  .loose();
export type AnthropicModelList = z.infer<typeof AnthropicModelListSchema>;
