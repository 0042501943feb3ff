/** OpenAI `finish_reason` → the gateway's unified `FinishReason`, keeping the provider's value. */
import type { FinishReason } from '../../models/inference-response.js';

/** The unified reason and the raw one it came from. */
export interface MappedFinishReason {
  finishReason: FinishReason;
  rawFinishReason: string | undefined;
}

/**
 * Maps `stop`, `length`, `tool_calls`, `content_filter` and the legacy `function_call`; anything
 * else (a compatible server's own value, or none at all) is `other`.
 */
export function mapOpenAIFinishReason(raw: string | null | undefined): MappedFinishReason {
  const rawFinishReason = raw ?? undefined;
  switch (raw) {
    case 'stop':
      return { finishReason: 'stop', rawFinishReason };
    case 'length':
      return { finishReason: 'length', rawFinishReason };
    case 'tool_calls':
    case 'function_call':
      return { finishReason: 'tool_calls', rawFinishReason };
    case 'content_filter':
      return { finishReason: 'content_filter', rawFinishReason };
    default:
      return { finishReason: 'other', rawFinishReason };
  }
}
