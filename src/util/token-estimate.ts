/**
 * Token estimates for admission and routing, before any provider has counted. About four
 * characters a token for English text; images count as a fixed block. Settled to the provider's
 * real counts afterwards.
 */
import { systemText } from '../models/inference-request.js';
import type { LogicalPrompt } from '../models/inference-request.js';

/** Tokens charged for one image part before the provider reports real usage. */
export const IMAGE_TOKEN_ESTIMATE = 765;
const MESSAGE_OVERHEAD_TOKENS = 4;

/** Estimated tokens of a text. */
export function estimateTextTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Estimated input tokens of a whole prompt: system, messages, tool definitions. */
export function estimatePromptTokens(prompt: LogicalPrompt): number {
  let tokens = prompt.system === undefined ? 0 : estimateTextTokens(systemText(prompt)) + MESSAGE_OVERHEAD_TOKENS;
  for (const message of prompt.messages) {
    tokens += MESSAGE_OVERHEAD_TOKENS;
    if (typeof message.content === 'string') tokens += estimateTextTokens(message.content);
    else for (const part of message.content) tokens += part.type === 'text' ? estimateTextTokens(part.text) : IMAGE_TOKEN_ESTIMATE;
    if (message.role === 'assistant') {
      for (const call of message.tool_calls ?? []) tokens += estimateTextTokens(call.name) + estimateTextTokens(call.arguments);
      for (const part of message.reasoning ?? []) tokens += estimateTextTokens(part.type === 'reasoning' ? part.text : part.data);
    }
  }
  if (prompt.tools !== undefined) tokens += estimateTextTokens(JSON.stringify(prompt.tools));
  return tokens;
}

/** The text of the last user message (the part of a prompt that caches and mocks look at). */
export function lastUserText(prompt: LogicalPrompt): string {
  for (let index = prompt.messages.length - 1; index >= 0; index--) {
    const message = prompt.messages[index];
    if (message?.role !== 'user') continue;
    if (typeof message.content === 'string') return message.content;
    return message.content
      .map((part) => (part.type === 'text' ? part.text : ''))
      .join(' ')
      .trim();
  }
  return '';
}
