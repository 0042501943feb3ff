/** Ollama's `done_reason` → the gateway's unified finish reason (the raw value is kept beside it). */
import type { FinishReason } from '../../models/inference-response.js';

/**
 * Maps `done_reason` (`stop`, `length`, `load`, `unload`…). Ollama reports `stop` when the model
 * called tools, so `hasToolCalls` decides `tool_calls`. A missing reason on a finished answer
 * (older versions) is a normal stop.
 */
export function mapOllamaFinishReason(doneReason: string | undefined, hasToolCalls: boolean): FinishReason {
  if (hasToolCalls) return 'tool_calls';
  switch (doneReason) {
    case undefined:
    case 'stop':
      return 'stop';
    case 'length':
      return 'length';
    default:
      return 'other';
  }
}
