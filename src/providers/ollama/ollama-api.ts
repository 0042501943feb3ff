/**
 * Ollama's wire format (https://github.com/ollama/ollama/blob/main/docs/api.md): zod schemas for
 * the requests the adapter sends and everything Ollama answers. Responses are parsed once, here;
 * a response that fails its schema is E4600. Unknown fields are allowed (Ollama adds fields often).
 */
import { z } from 'zod';

/** Generation options (`options` of `/api/chat`); only the ones the gateway sets. */
export const OllamaOptionsSchema = z.object({
  temperature: z.number().optional(),
  top_p: z.number().optional(),
  top_k: z.number().int().optional(),
  presence_penalty: z.number().optional(),
  frequency_penalty: z.number().optional(),
  seed: z.number().int().optional(),
  stop: z.array(z.string()).optional(),
  /** Output token cap. */
  num_predict: z.number().int().optional(),
  /** Context window to load the model with (Ollama's default is 2048). */
  num_ctx: z.number().int().positive().optional(),
});
export type OllamaOptions = z.infer<typeof OllamaOptionsSchema>;

/** A tool call as Ollama sends and accepts it: `arguments` is an object, not JSON text. */
export const OllamaToolCallSchema = z.object({
  /** Sent by recent Ollama versions only. */
  id: z.string().optional(),
  function: z.object({
    /** Sent by recent Ollama versions only. */
    index: z.number().int().nonnegative().optional(),
    name: z.string().min(1),
    arguments: z.record(z.string(), z.unknown()),
  }),
});
export type OllamaToolCall = z.infer<typeof OllamaToolCallSchema>;

/** One chat message, in a request or an answer. */
export const OllamaMessageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string(),
  thinking: z.string().optional(),
  /** Base64 image bytes, without a `data:` prefix. Ollama answers `null` here. */
  images: z.array(z.string()).nullish(),
  tool_calls: z.array(OllamaToolCallSchema).nullish(),
  /** On `tool` messages: the tool whose result this is. */
  tool_name: z.string().optional(),
});
export type OllamaMessage = z.infer<typeof OllamaMessageSchema>;

/** A tool offered to the model. */
export const OllamaToolSchema = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string(),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()),
  }),
});
export type OllamaTool = z.infer<typeof OllamaToolSchema>;

/** `POST /api/chat`. */
export const OllamaChatRequestSchema = z.object({
  model: z.string().min(1),
  messages: z.array(OllamaMessageSchema),
  stream: z.boolean(),
  tools: z.array(OllamaToolSchema).optional(),
  /** `'json'` or a JSON schema object. */
  format: z.union([z.literal('json'), z.record(z.string(), z.unknown())]).optional(),
  options: OllamaOptionsSchema.optional(),
  keep_alive: z.union([z.string(), z.number()]).optional(),
});
export type OllamaChatRequest = z.infer<typeof OllamaChatRequestSchema>;

const CountsShape = {
  done_reason: z.string().optional(),
  total_duration: z.number().optional(),
  load_duration: z.number().optional(),
  /** Prompt tokens; omitted by some versions when the whole prompt came from the cache. */
  prompt_eval_count: z.number().int().nonnegative().optional(),
  prompt_eval_duration: z.number().optional(),
  /** Output tokens. */
  eval_count: z.number().int().nonnegative().optional(),
  eval_duration: z.number().optional(),
};

/** The answer of a non-streaming `/api/chat`. */
export const OllamaChatResponseSchema = z.object({
  model: z.string(),
  created_at: z.string(),
  message: OllamaMessageSchema,
  done: z.boolean(),
  ...CountsShape,
});
export type OllamaChatResponse = z.infer<typeof OllamaChatResponseSchema>;

/** One NDJSON line of a streaming `/api/chat`; the last has `done: true` and the counts. */
export const OllamaChatChunkSchema = z.object({
  model: z.string(),
  created_at: z.string(),
  /** Older versions omit the message on the final line. */
  message: OllamaMessageSchema.optional(),
  done: z.boolean(),
  ...CountsShape,
});
export type OllamaChatChunk = z.infer<typeof OllamaChatChunkSchema>;

/** Every Ollama error body, whatever the status; also sent as an NDJSON line mid-stream. */
export const OllamaErrorSchema = z.object({ error: z.string() });
export type OllamaErrorBody = z.infer<typeof OllamaErrorSchema>;

/** `POST /api/embed` (batch `input`). */
export const OllamaEmbedRequestSchema = z.object({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(z.string())]),
  truncate: z.boolean().optional(),
  keep_alive: z.union([z.string(), z.number()]).optional(),
});
export type OllamaEmbedRequest = z.infer<typeof OllamaEmbedRequestSchema>;

/** The answer of `/api/embed`: one vector per input, in input order. */
export const OllamaEmbedResponseSchema = z.object({
  model: z.string(),
  embeddings: z.array(z.array(z.number())),
  total_duration: z.number().optional(),
  load_duration: z.number().optional(),
  prompt_eval_count: z.number().int().nonnegative().optional(),
});
export type OllamaEmbedResponse = z.infer<typeof OllamaEmbedResponseSchema>;

const ModelDetailsSchema = z.object({
  parent_model: z.string().optional(),
  format: z.string().optional(),
  family: z.string().optional(),
  families: z.array(z.string()).nullish(),
  parameter_size: z.string().optional(),
  quantization_level: z.string().optional(),
});

/** `GET /api/tags`: the models pulled on this Ollama. */
export const OllamaTagsResponseSchema = z.object({
  models: z.array(
    z.object({
      name: z.string(),
      /** Same as `name` on current versions; absent on old ones. */
      model: z.string().optional(),
      modified_at: z.string().optional(),
      size: z.number().optional(),
      digest: z.string().optional(),
      details: ModelDetailsSchema.optional(),
    }),
  ),
});
export type OllamaTagsResponse = z.infer<typeof OllamaTagsResponseSchema>;

/** `GET /api/version`. */
export const OllamaVersionResponseSchema = z.object({ version: z.string() });

/** `POST /api/show`: model metadata; `model_info` holds `<architecture>.context_length`. */
export const OllamaShowResponseSchema = z.object({
  modelfile: z.string().optional(),
  parameters: z.string().optional(),
  template: z.string().optional(),
  details: ModelDetailsSchema.optional(),
  model_info: z.record(z.string(), z.unknown()).optional(),
  /** `completion`, `vision`, `tools`, `embedding`, `thinking` (recent versions). */
  capabilities: z.array(z.string()).optional(),
  modified_at: z.string().optional(),
});
export type OllamaShowResponse = z.infer<typeof OllamaShowResponseSchema>;
