/**
 * OpenAI Responses request (`POST /v1/responses`) → the native `InferenceRequestInput`.
 *
 * Stateless: the whole conversation comes in `input` (a string, or items: messages,
 * `function_call`, `function_call_output`); `previous_response_id` and `item_reference` items
 * refer to state the gateway does not keep and are refused with 400 E4512. `instructions` is the
 * system prompt; function tools, `tool_choice`, `text.format` (JSON mode and JSON schema),
 * `temperature`, `top_p`, `max_output_tokens`, `parallel_tool_calls`, `reasoning.effort` and
 * `user` are translated. Reasoning items of earlier turns are dropped; `store`, `metadata`,
 * `include`, `truncation`, `service_tier`, `top_logprobs` and built-in tools have no effect and
 * are named in `x-l04-ignored-params`.
 */
import { z } from 'zod';
import { ValidationError } from '../../models/error-codes.js';
import { REQUEST_LIMITS, ReasoningEffortSchema } from '../../models/inference-request.js';
import type { ContentPart, InferenceRequestInput, LogicalPromptInput, ToolChoice } from '../../models/inference-request.js';
import { parseOrThrow } from '../../models/validation.js';
import type { CacheDirectives } from '../openai/openai-chat.js';
import { isRecord } from '../../util/is-record.js';

const Item = z.object({ type: z.string().optional(), role: z.string().optional() }).loose();
const FunctionTool = z.object({
  type: z.literal('function'),
  name: z.string().min(1).max(64),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});
const Format = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }).loose(),
  z.object({ type: z.literal('json_object') }).loose(),
  z
    .object({
      type: z.literal('json_schema'),
      name: z.string().min(1).max(64),
      schema: z.record(z.string(), z.unknown()),
      strict: z.boolean().nullish(),
      description: z.string().nullish(),
    })
    .loose(),
]);

/** `POST /v1/responses` as far as the face reads it. */
export const ResponsesRequestSchema = z
  .object({
    model: z.string().min(1).max(256),
    input: z.union([z.string(), z.array(Item).min(1).max(REQUEST_LIMITS.maxMessages)]),
    instructions: z.string().nullish(),
    tools: z
      .array(z.object({ type: z.string() }).loose())
      .max(REQUEST_LIMITS.maxTools)
      .optional(),
    tool_choice: z.union([z.enum(['auto', 'none', 'required']), z.object({ type: z.literal('function'), name: z.string() }).loose()]).optional(),
    text: z.object({ format: Format.optional() }).loose().nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    max_output_tokens: z.number().int().positive().nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    reasoning: z.object({ effort: ReasoningEffortSchema.nullish() }).loose().nullish(),
    user: z.string().max(1024).nullish(),
    stream: z.boolean().nullish(),
    previous_response_id: z.string().nullish(),
  })
  .loose();
export type ResponsesRequest = z.infer<typeof ResponsesRequestSchema>;

/** Fields with no effect on an answer from the gateway, named when a caller sets them. */
const NO_EFFECT = [
  'store',
  'metadata',
  'include',
  'truncation',
  'service_tier',
  'top_logprobs',
  'background',
  'prompt_cache_key',
  'safety_identifier',
] as const;

/** A translated request, the parsed body (echoed in the answer), and what the face itself dropped. */
export interface TranslatedResponsesRequest {
  request: InferenceRequestInput;
  body: ResponsesRequest;
  stream: boolean;
  dropped: string[];
}

/** Parses and translates a Responses request (E4500 naming the field, E4512 for stored state). */
export function toInferenceRequest(raw: unknown, agentDid: string, directives: CacheDirectives): TranslatedResponsesRequest {
  const body = parseOrThrow(ResponsesRequestSchema, raw);
  if (body.previous_response_id != null) {
    throw new ValidationError('E4512', 'previous_response_id is not supported: the gateway stores no responses, so send the whole conversation in input', {
      param: 'previous_response_id',
    });
  }
  const dropped = new Set<string>();
  for (const field of NO_EFFECT) {
    const value = (body as Record<string, unknown>)[field];
    if (value !== undefined && value !== null && value !== false) dropped.add(field);
  }
  const messages = typeof body.input === 'string' ? [{ role: 'user' as const, content: body.input }] : convertItems(body.input, dropped);
  const systemParts: string[] = body.instructions == null || body.instructions === '' ? [] : [body.instructions];
  const conversation = messages.filter((message) => {
    if (message.role !== 'system') return true;
    systemParts.push(message.content);
    return false;
  }) as LogicalPromptInput['messages'];
  const tools = (body.tools ?? []).flatMap((tool) => {
    const parsed = FunctionTool.safeParse(tool);
    if (!parsed.success) {
      dropped.add(`tools.${tool.type}`);
      return [];
    }
    return [
      {
        name: parsed.data.name,
        ...(parsed.data.description == null ? {} : { description: parsed.data.description }),
        ...(parsed.data.parameters == null ? {} : { parameters: parsed.data.parameters }),
      },
    ];
  });
  const format = body.text?.format;
  // Starts with a property, not a spread (see util/merged.ts); the core's schema sets the key order.
  const prompt: LogicalPromptInput = {
    messages: conversation.length > 0 ? conversation : [{ role: 'user', content: '' }],
    ...(systemParts.length === 0 ? {} : { system: systemParts.join('\n\n') }),
    ...(tools.length > 0 ? { tools } : {}),
    ...(tools.length > 0 && body.tool_choice !== undefined ? { tool_choice: convertToolChoice(body.tool_choice) } : {}),
    ...(format === undefined || format.type === 'text'
      ? {}
      : format.type === 'json_object'
        ? { response_format: { type: 'json_object' as const } }
        : {
            response_format: {
              type: 'json_schema' as const,
              json_schema: {
                name: format.name,
                schema: format.schema,
                ...(format.strict == null ? {} : { strict: format.strict }),
                ...(format.description == null ? {} : { description: format.description }),
              },
            },
          }),
    ...(body.temperature == null ? {} : { temperature: body.temperature }),
    ...(body.top_p == null ? {} : { top_p: body.top_p }),
    ...(body.parallel_tool_calls == null ? {} : { parallel_tool_calls: body.parallel_tool_calls }),
    ...(body.reasoning?.effort == null ? {} : { reasoning_effort: body.reasoning.effort }),
    ...(body.user == null || body.user === '' ? {} : { user: body.user }),
  };
  const request: InferenceRequestInput = {
    agent_did: agentDid,
    ...(body.model === 'auto' ? {} : { model_id: body.model }),
    logical_prompt: prompt,
    requirements: body.max_output_tokens == null ? {} : { max_output_tokens: body.max_output_tokens },
    cache: { read: !directives.noCache, write: !directives.noStore },
  };
  return { request, body, stream: body.stream === true, dropped: [...dropped].sort() };
}

type LooseMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | ContentPart[] }
  | { role: 'assistant'; content: string; tool_calls?: Array<{ id: string; name: string; arguments: string }> }
  | { role: 'tool'; tool_call_id: string; content: string };

/** Input items → native messages; consecutive function calls join the assistant turn before them. */
function convertItems(items: Array<z.infer<typeof Item>>, dropped: Set<string>): LooseMessage[] {
  const out: LooseMessage[] = [];
  items.forEach((item, index) => {
    const type = item.type ?? 'message';
    switch (type) {
      case 'message':
        out.push(convertMessage(item, index));
        return;
      case 'function_call': {
        const call = {
          id: stringField(item, 'call_id', index),
          name: stringField(item, 'name', index),
          arguments: typeof item.arguments === 'string' ? item.arguments : '{}',
        };
        const previous = out[out.length - 1];
        if (previous?.role === 'assistant') previous.tool_calls = [...(previous.tool_calls ?? []), call];
        else out.push({ role: 'assistant', content: '', tool_calls: [call] });
        return;
      }
      case 'function_call_output':
        out.push({
          role: 'tool',
          tool_call_id: stringField(item, 'call_id', index),
          content: typeof item.output === 'string' ? item.output : JSON.stringify(item.output ?? ''),
        });
        return;
      case 'item_reference':
        throw new ValidationError('E4512', `input[${index}]: item_reference is not supported: the gateway stores no items, so send the item itself`, {
          param: `input[${index}]`,
        });
      default:
        // Reasoning items and built-in tool calls of earlier turns have no native form.
        dropped.add(`input.${type}`);
    }
  });
  return out;
}

function convertMessage(item: z.infer<typeof Item>, index: number): LooseMessage {
  const role = item.role;
  const content = item.content;
  if (role === 'system' || role === 'developer') return { role: 'system', content: textOf(content) };
  if (role === 'assistant') return { role: 'assistant', content: textOf(content) };
  if (role !== 'user')
    throw new ValidationError('E4500', `Invalid request: input[${index}].role: expected user, assistant, system or developer`, {
      param: `input[${index}].role`,
    });
  if (typeof content === 'string') return { role: 'user', content };
  if (!Array.isArray(content))
    throw new ValidationError('E4500', `Invalid request: input[${index}].content: expected a string or content parts`, { param: `input[${index}].content` });
  const parts: ContentPart[] = [];
  content.forEach((part: unknown, partIndex) => {
    const record = isRecord(part) ? part : {};
    if ((record.type === 'input_text' || record.type === 'output_text') && typeof record.text === 'string') parts.push({ type: 'text', text: record.text });
    else if (record.type === 'input_image' && typeof record.image_url === 'string') {
      const detail = record.detail === 'low' || record.detail === 'high' || record.detail === 'auto' ? record.detail : undefined;
      parts.push({ type: 'image', url: record.image_url, ...(detail === undefined ? {} : { detail }) });
    } else {
      throw new ValidationError('E4500', `Invalid request: input[${index}].content[${partIndex}]: expected input_text or input_image (with image_url)`, {
        param: `input[${index}].content[${partIndex}]`,
      });
    }
  });
  return { role: 'user', content: parts.length === 0 ? '' : parts };
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part: unknown) => (isRecord(part) && typeof part.text === 'string' ? part.text : '')).join('');
}

function stringField(item: Record<string, unknown>, field: string, index: number): string {
  const value = item[field];
  if (typeof value === 'string' && value !== '') return value;
  throw new ValidationError('E4500', `Invalid request: input[${index}].${field}: required`, { param: `input[${index}].${field}` });
}

function convertToolChoice(choice: NonNullable<ResponsesRequest['tool_choice']>): ToolChoice {
  return typeof choice === 'string' ? choice : { name: choice.name };
}
