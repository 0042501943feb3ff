/**
 * The text the semantic layer embeds: the last message of the prompt when it is a user message
 * made of text only, up to `MAX_SEMANTIC_CHARS`. The system prompt and earlier turns are not embedded — they are part of the
 * partition key and must match exactly — because a long shared system prompt or history would
 * otherwise dominate the embedding and make different questions look alike.
 */
import type { LogicalPrompt } from '../../models/inference-request.js';

/**
 * Longest last message compared by meaning, in characters. A question repeats in other words; a
 * pasted document does not, and analysing one on every request would cost milliseconds.
 */
export const MAX_SEMANTIC_CHARS = 2_000;

/** The last user message's text, or `undefined` when the prompt can only be matched exactly. */
export function semanticText(prompt: LogicalPrompt): string | undefined {
  const last = prompt.messages[prompt.messages.length - 1];
  if (last?.role !== 'user') return undefined;
  let text: string;
  if (typeof last.content === 'string') {
    text = last.content;
  } else {
    // An image changes the question in ways a text embedding cannot see: exact matching only.
    if (last.content.some((part) => part.type !== 'text')) return undefined;
    text = last.content.map((part) => (part.type === 'text' ? part.text : '')).join('\n');
  }
  text = text.trim();
  return text.length === 0 || text.length > MAX_SEMANTIC_CHARS ? undefined : text;
}
