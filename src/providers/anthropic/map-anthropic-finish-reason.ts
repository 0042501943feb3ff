/**
 * Anthropic `stop_reason` → the gateway's unified finish reason. The raw value is kept by the
 * caller next to the unified one. Reference: https://docs.anthropic.com/en/api/handling-stop-reasons.
 */
import type { FinishReason } from '../../models/inference-response.js';

/**
 * Maps a stop reason: `end_turn`/`stop_sequence` → `stop`, `max_tokens` and
 * `model_context_window_exceeded` → `length`, `tool_use` → `tool_calls`, `refusal` →
 * `content_filter`; `pause_turn` (a server-tool turn paused, to be continued by the caller),
 * null and unknown values → `other`.
 */
export function mapAnthropicFinishReason(stopReason: string | null | undefined): FinishReason {
  switch (stopReason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'other';
  }
}
