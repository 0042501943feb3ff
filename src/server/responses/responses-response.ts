/** Native answers → OpenAI Responses `response` objects (https://platform.openai.com/docs/api-reference/responses/object). */
import type { InferenceResponse, TokenUsage } from '../../models/inference-response.js';
import type { ToolCall } from '../../models/inference-request.js';
import type { ResponsesRequest } from './responses-request.js';

/** The Responses `usage` object. */
export function toResponsesUsage(usage: TokenUsage): Record<string, unknown> {
  return {
    input_tokens: usage.input_tokens,
    input_tokens_details: { cached_tokens: usage.cache_read_input_tokens ?? 0 },
    output_tokens: usage.output_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.total_tokens,
  };
}

/** Ids of the response and its output items, derived from the request id. */
export function responseIds(requestId: string): { response: string; message: string; call: (index: number) => string } {
  return { response: `resp_${requestId}`, message: `msg_${requestId}`, call: (index) => `fc_${requestId}_${index}` };
}

/** A message output item. */
export function messageItem(id: string, text: string, status: 'in_progress' | 'completed'): Record<string, unknown> {
  return { type: 'message', id, status, role: 'assistant', content: status === 'in_progress' ? [] : [outputText(text)] };
}

/** An output_text content part. */
export function outputText(text: string): Record<string, unknown> {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}

/** A function_call output item. */
export function functionCallItem(id: string, call: ToolCall, status: 'in_progress' | 'completed'): Record<string, unknown> {
  return { type: 'function_call', id, call_id: call.id, name: call.name, arguments: call.arguments, status };
}

/** What every `response` object echoes of its request. */
export function requestEcho(body: ResponsesRequest): Record<string, unknown> {
  return {
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: null },
    store: false,
    temperature: body.temperature ?? 1,
    text: { format: body.text?.format ?? { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_p: body.top_p ?? 1,
    truncation: 'disabled',
    user: body.user ?? null,
    metadata: {},
  };
}

/** The skeleton of a response before any output (`response.created`). */
export function pendingResponse(requestId: string, createdS: number, model: string, body: ResponsesRequest): Record<string, unknown> {
  return {
    id: responseIds(requestId).response,
    object: 'response',
    created_at: createdS,
    status: 'in_progress',
    error: null,
    incomplete_details: null,
    model,
    output: [],
    usage: null,
    ...requestEcho(body),
  };
}

/** A complete answer as a `response`: `incomplete` (max_output_tokens) when it was cut by the output cap. */
export function toResponse(response: InferenceResponse, createdS: number, body: ResponsesRequest): Record<string, unknown> {
  const ids = responseIds(response.request_id);
  const output: Array<Record<string, unknown>> = [];
  if (response.content !== '' || (response.tool_calls ?? []).length === 0) output.push(messageItem(ids.message, response.content, 'completed'));
  (response.tool_calls ?? []).forEach((call, index) => output.push(functionCallItem(ids.call(index), call, 'completed')));
  const incomplete = response.finish_reason === 'length';
  return {
    ...pendingResponse(response.request_id, createdS, response.model_id, body),
    status: incomplete ? 'incomplete' : 'completed',
    incomplete_details: incomplete ? { reason: 'max_output_tokens' } : null,
    output,
    usage: toResponsesUsage(response.token_usage),
    l04: { request_id: response.request_id, provider: response.provider, cached: response.cached, cost_cents: response.metadata.cost_cents },
  };
}
