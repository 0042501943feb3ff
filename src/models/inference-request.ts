/**
 * InferenceRequest and its parts (brief §4): the provider-neutral request an agent sends.
 * Wire names are snake_case; the schemas are the one place they are parsed.
 */
import { z } from 'zod';
import { parseOrThrow } from './validation.js';

/** Capabilities a model may have and a request may require. */
export const CAPABILITIES = ['text', 'vision', 'tool_use', 'long_context', 'json_mode', 'streaming', 'embeddings'] as const;
export const CapabilitySchema = z.enum(CAPABILITIES);
export type Capability = z.infer<typeof CapabilitySchema>;

/** Hard bounds on request size, checked before anything else looks at a request. */
export const REQUEST_LIMITS = {
  maxMessages: 1024,
  maxTools: 128,
  maxTextChars: 4_000_000,
  maxStopSequences: 8,
  maxJsonDepth: 32,
  maxToolDescriptionChars: 100_000,
} as const;

/**
 * Options only one provider's adapter reads, keyed by provider type; every other adapter ignores
 * them. `anthropic` holds extra fields of the Anthropic object they sit on (`cache_control` on a
 * block or tool; `thinking`, `context_management`, `metadata`… on the prompt), sent to Anthropic
 * upstreams as they are. Bounded like every other JSON the caller sends.
 */
export const ProviderOptionsSchema = z
  .object({
    anthropic: z
      .record(z.string(), z.unknown())
      .refine((value) => jsonDepth(value) <= REQUEST_LIMITS.maxJsonDepth, { message: `nesting deeper than ${REQUEST_LIMITS.maxJsonDepth} levels` })
      .optional(),
    openai: z
      .record(z.string(), z.unknown())
      .refine((value) => jsonDepth(value) <= REQUEST_LIMITS.maxJsonDepth, { message: `nesting deeper than ${REQUEST_LIMITS.maxJsonDepth} levels` })
      .optional(),
  })
  .strict();
export type ProviderOptions = z.infer<typeof ProviderOptionsSchema>;

const TextPartSchema = z
  .object({ type: z.literal('text'), text: z.string().max(REQUEST_LIMITS.maxTextChars), provider_options: ProviderOptionsSchema.optional() })
  .strict();
/** A text part. */
export type TextPart = z.infer<typeof TextPartSchema>;
/** An image, as an `https:`/`http:` URL or a `data:` URL carrying base64 bytes. */
const ImagePartSchema = z
  .object({
    type: z.literal('image'),
    url: z.string().min(1).max(REQUEST_LIMITS.maxTextChars),
    detail: z.enum(['auto', 'low', 'high']).optional(),
    provider_options: ProviderOptionsSchema.optional(),
  })
  .strict();
export const ContentPartSchema = z.discriminatedUnion('type', [TextPartSchema, ImagePartSchema]);
export type ContentPart = z.infer<typeof ContentPartSchema>;

/**
 * The model's reasoning in an answer or an earlier assistant turn: readable text with the
 * provider's `signature` (Anthropic's thinking blocks need it back verbatim), or `redacted`
 * reasoning carried as opaque `data`.
 */
export const ReasoningPartSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('reasoning'),
      text: z.string().max(REQUEST_LIMITS.maxTextChars),
      signature: z.string().max(REQUEST_LIMITS.maxTextChars).optional(),
    })
    .strict(),
  z.object({ type: z.literal('redacted_reasoning'), data: z.string().max(REQUEST_LIMITS.maxTextChars) }).strict(),
]);
export type ReasoningPart = z.infer<typeof ReasoningPartSchema>;

/** A tool call made by the model; `arguments` is the JSON text the model produced. */
export const ToolCallSchema = z
  .object({ id: z.string().min(1).max(256), name: z.string().min(1).max(256), arguments: z.string().max(REQUEST_LIMITS.maxTextChars) })
  .strict();
export type ToolCall = z.infer<typeof ToolCallSchema>;

const UserMessageSchema = z
  .object({ role: z.literal('user'), content: z.union([z.string().max(REQUEST_LIMITS.maxTextChars), z.array(ContentPartSchema).min(1).max(64)]) })
  .strict();
const AssistantMessageSchema = z
  .object({
    role: z.literal('assistant'),
    content: z.string().max(REQUEST_LIMITS.maxTextChars).default(''),
    tool_calls: z.array(ToolCallSchema).max(REQUEST_LIMITS.maxTools).optional(),
    /** Reasoning the model produced before this turn's text and tool calls, in order. */
    reasoning: z.array(ReasoningPartSchema).max(64).optional(),
  })
  .strict();
const ToolMessageSchema = z
  .object({
    role: z.literal('tool'),
    tool_call_id: z.string().min(1).max(256),
    content: z.union([z.string().max(REQUEST_LIMITS.maxTextChars), z.array(ContentPartSchema).min(1).max(64)]),
    /** The tool failed; `content` says how. */
    is_error: z.boolean().optional(),
    provider_options: ProviderOptionsSchema.optional(),
  })
  .strict();
export const MessageSchema = z.discriminatedUnion('role', [UserMessageSchema, AssistantMessageSchema, ToolMessageSchema]);
export type Message = z.infer<typeof MessageSchema>;

/** A JSON object whose nesting depth is bounded (tool parameters, response schemas). */
export const BoundedJsonObjectSchema = z.record(z.string(), z.unknown()).refine((value) => jsonDepth(value) <= REQUEST_LIMITS.maxJsonDepth, {
  message: `nesting deeper than ${REQUEST_LIMITS.maxJsonDepth} levels`,
});

export const ToolDefinitionSchema = z
  .object({
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'tool names are 1-64 letters, digits, _ or -'),
    description: z.string().max(REQUEST_LIMITS.maxToolDescriptionChars).optional(),
    parameters: BoundedJsonObjectSchema.default({ type: 'object', properties: {} }),
    provider_options: ProviderOptionsSchema.optional(),
  })
  .strict();
export type ToolDefinition = z.infer<typeof ToolDefinitionSchema>;

export const ToolChoiceSchema = z.union([z.enum(['auto', 'none', 'required']), z.object({ name: z.string().min(1) }).strict()]);
export type ToolChoice = z.infer<typeof ToolChoiceSchema>;

export const ResponseFormatSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }).strict(),
  z.object({ type: z.literal('json_object') }).strict(),
  z
    .object({
      type: z.literal('json_schema'),
      json_schema: z
        .object({ name: z.string().min(1).max(64), schema: BoundedJsonObjectSchema, strict: z.boolean().optional(), description: z.string().optional() })
        .strict(),
    })
    .strict(),
]);
export type ResponseFormat = z.infer<typeof ResponseFormatSchema>;

/** How hard a reasoning model thinks before answering. */
export const ReasoningEffortSchema = z.enum(['minimal', 'low', 'medium', 'high']);
export type ReasoningEffort = z.infer<typeof ReasoningEffortSchema>;

/** The provider-neutral prompt. */
export const LogicalPromptSchema = z
  .object({
    /** The system prompt: text, or text parts (which may carry provider options such as a cache breakpoint). */
    system: z.union([z.string().max(REQUEST_LIMITS.maxTextChars), z.array(TextPartSchema).max(64)]).optional(),
    messages: z.array(MessageSchema).min(1, 'at least one message is required').max(REQUEST_LIMITS.maxMessages),
    tools: z.array(ToolDefinitionSchema).max(REQUEST_LIMITS.maxTools).optional(),
    tool_choice: ToolChoiceSchema.optional(),
    response_format: ResponseFormatSchema.optional(),
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().min(0).max(1).optional(),
    stop: z.array(z.string().min(1).max(256)).max(REQUEST_LIMITS.maxStopSequences).optional(),
    seed: z.number().int().optional(),
    /** Sample from the k most likely tokens only (Anthropic, Ollama). */
    top_k: z.number().int().positive().max(1_000_000).optional(),
    presence_penalty: z.number().min(-2).max(2).optional(),
    frequency_penalty: z.number().min(-2).max(2).optional(),
    /** An end-user id the provider may use for abuse monitoring (OpenAI `user`, Anthropic `metadata.user_id`). */
    user: z.string().min(1).max(1024).optional(),
    /** Whether the model may call several tools in one turn (default: the provider's, which is yes). */
    parallel_tool_calls: z.boolean().optional(),
    reasoning_effort: ReasoningEffortSchema.optional(),
    provider_options: ProviderOptionsSchema.optional(),
  })
  .strict();
export type LogicalPrompt = z.infer<typeof LogicalPromptSchema>;
/** A prompt as callers write it (defaults may be omitted). */
export type LogicalPromptInput = z.input<typeof LogicalPromptSchema>;

/** What the model must be able to do. */
export const ModelRequirementsSchema = z
  .object({
    capabilities: z.array(CapabilitySchema).max(CAPABILITIES.length).default([]),
    min_context_length: z.number().int().positive().max(100_000_000).default(4096),
    max_output_tokens: z.number().int().positive().max(1_000_000).default(4096),
  })
  .strict();
export type ModelRequirements = z.infer<typeof ModelRequirementsSchema>;

/** Longest hard deadline a caller may set, in milliseconds (one hour). */
export const MAX_DEADLINE_MS = 3_600_000;

/**
 * What the caller will accept. `max_latency_ms` is a routing preference (prefer models expected to
 * answer faster); it never ends a request. `deadline_ms` is the hard deadline: when set, the request
 * fails at arrival + `deadline_ms` (E4502 before dispatch, E4510 in flight) wherever it is. Without
 * it, each upstream call is bounded by its provider's timeouts.
 */
export const RequestConstraintsSchema = z
  .object({
    max_latency_ms: z.number().int().positive().max(3_600_000).default(30_000),
    deadline_ms: z.number().int().positive().max(MAX_DEADLINE_MS).optional(),
    max_cost_cents: z.number().nonnegative().max(1_000_000).default(100),
    preferred_providers: z.array(z.string().min(1).max(64)).max(32).default([]),
  })
  .strict();
export type RequestConstraints = z.infer<typeof RequestConstraintsSchema>;

export const PRIORITIES = ['high', 'normal', 'low'] as const;
export const PrioritySchema = z.enum(PRIORITIES);
export type Priority = z.infer<typeof PrioritySchema>;

/** Per-request cache control: `read: false` is `Cache-Control: no-cache`, `write: false` is `no-store`. */
export const CacheControlSchema = z
  .object({
    read: z.boolean().default(true),
    write: z.boolean().default(true),
    /** Raises (never lowers) the semantic similarity threshold for this request. */
    min_similarity: z.number().min(0).max(1).optional(),
  })
  .strict();
export type CacheControl = z.infer<typeof CacheControlSchema>;

const AGENT_DID = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

/** The native request (`POST /v1/inference`, `gateway.complete`). */
export const InferenceRequestSchema = z
  .object({
    request_id: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits, . _ : -')
      .optional(),
    agent_did: AGENT_DID,
    tenant: z.string().min(1).max(256).optional(),
    logical_prompt: LogicalPromptSchema,
    requirements: ModelRequirementsSchema.default({ capabilities: [], min_context_length: 4096, max_output_tokens: 4096 }),
    constraints: RequestConstraintsSchema.default({ max_latency_ms: 30_000, max_cost_cents: 100, preferred_providers: [] }),
    metadata: z.record(z.string(), z.unknown()).default({}),
    model_id: z.string().min(1).max(256).optional(),
    priority: PrioritySchema.default('normal'),
    cache: CacheControlSchema.optional(),
  })
  .strict();

/** What callers send: defaults may be omitted. */
export type InferenceRequestInput = z.input<typeof InferenceRequestSchema>;
/** A validated request, defaults applied. `request_id` is always set once the gateway accepts it. */
export type InferenceRequest = z.infer<typeof InferenceRequestSchema>;

/** The system prompt as one text (parts joined by blank lines); `''` when there is none. */
export function systemText(prompt: Pick<LogicalPrompt, 'system'>): string {
  const system = prompt.system;
  if (system === undefined) return '';
  return typeof system === 'string' ? system : system.map((part) => part.text).join('\n\n');
}

/** The text of message content (images left out). */
export function contentText(content: string | ContentPart[]): string {
  if (typeof content === 'string') return content;
  let text = '';
  for (const part of content) if (part.type === 'text') text += part.text;
  return text;
}

/** Validates a native request; throws E4500 naming the offending field. */
export function parseInferenceRequest(input: unknown): InferenceRequest {
  return parseOrThrow(InferenceRequestSchema, input);
}

/** Nesting depth of a JSON value (a scalar is 0). */
export function jsonDepth(value: unknown, depth = 0): number {
  if (depth > REQUEST_LIMITS.maxJsonDepth) return depth;
  if (Array.isArray(value)) return value.reduce<number>((max, item) => Math.max(max, jsonDepth(item, depth + 1)), depth + 1);
  if (value !== null && typeof value === 'object') {
    let max = depth + 1;
    for (const item of Object.values(value)) max = Math.max(max, jsonDepth(item, depth + 1));
    return max;
  }
  return depth;
}
