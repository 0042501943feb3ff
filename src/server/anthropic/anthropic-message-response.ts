/** Native answers → Anthropic `message` objects: content blocks, stop reason and usage. */
import type { FinishReason, InferenceResponse, TokenUsage } from '../../models/inference-response.js';
import type { ToolCall } from '../../models/inference-request.js';

/** An Anthropic `usage` object: `input_tokens` counts only the prompt tokens that were not read from or written to the cache. */
export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/** Native usage in Anthropic's terms. */
export function toAnthropicUsage(usage: TokenUsage): AnthropicUsage {
  const creation = usage.cache_creation_input_tokens ?? 0;
  const read = usage.cache_read_input_tokens ?? 0;
  return {
    input_tokens: Math.max(0, usage.input_tokens - creation - read),
    output_tokens: usage.output_tokens,
    cache_creation_input_tokens: creation,
    cache_read_input_tokens: read,
  };
}

const STOP_REASONS: Record<FinishReason, string> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  content_filter: 'refusal',
  other: 'end_turn',
};
const ANTHROPIC_STOP_REASONS = new Set(['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'pause_turn', 'refusal', 'model_context_window_exceeded']);

/**
 * The Anthropic stop reason of an answer: the provider's own when it is one of Anthropic's and
 * agrees with the unified reason (so `stop_sequence` and `pause_turn` survive an Anthropic
 * upstream), else the unified reason mapped (`stop` → `end_turn`, `length` → `max_tokens`,
 * `tool_calls` → `tool_use`, `content_filter` → `refusal`).
 */
export function anthropicStopReason(response: Pick<InferenceResponse, 'finish_reason' | 'raw_finish_reason'>): string {
  const raw = response.raw_finish_reason;
  const mapped = STOP_REASONS[response.finish_reason];
  if (raw !== undefined && ANTHROPIC_STOP_REASONS.has(raw) && (STOP_REASONS[unified(raw)] === mapped || raw === 'pause_turn' || raw === 'stop_sequence'))
    return raw;
  return mapped;
}

function unified(raw: string): FinishReason {
  if (raw === 'max_tokens' || raw === 'model_context_window_exceeded') return 'length';
  if (raw === 'tool_use') return 'tool_calls';
  if (raw === 'refusal') return 'content_filter';
  return 'stop';
}

/** Tool-call arguments as the object Anthropic sends; text that is not a JSON object is kept under `_raw`. */
export function toolInput(call: ToolCall): Record<string, unknown> {
  try {
    const value = JSON.parse(call.arguments === '' ? '{}' : call.arguments) as unknown;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // Not JSON (a model that stopped mid-call): handed back as text rather than lost.
  }
  return { _raw: call.arguments };
}

/** The message id of a request. */
export function messageId(requestId: string): string {
  return `msg_${requestId}`;
}

/** A native answer as an Anthropic `message`, with the gateway's facts under `l04`. */
export function toAnthropicMessage(response: InferenceResponse, model: string): Record<string, unknown> {
  const content: Array<Record<string, unknown>> = [];
  for (const part of response.reasoning ?? []) {
    content.push(
      part.type === 'reasoning' ? { type: 'thinking', thinking: part.text, signature: part.signature ?? '' } : { type: 'redacted_thinking', data: part.data },
    );
  }
  if (response.content !== '' || (response.tool_calls ?? []).length === 0) content.push({ type: 'text', text: response.content });
  for (const call of response.tool_calls ?? []) content.push({ type: 'tool_use', id: call.id, name: call.name, input: toolInput(call) });
  return {
    id: messageId(response.request_id),
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: anthropicStopReason(response),
    stop_sequence: null,
    usage: toAnthropicUsage(response.token_usage),
    l04: {
      request_id: response.request_id,
      model_id: response.model_id,
      provider: response.provider,
      cached: response.cached,
      cost_cents: response.metadata.cost_cents,
      cache: response.metadata.cache?.result ?? 'bypass',
    },
  };
}
