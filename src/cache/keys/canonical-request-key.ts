/**
 * The exact-match key: a digest of the canonical request — scope, requested model (or `auto` plus
 * everything that decides which model may answer it), the whole logical prompt with its last
 * message normalised (`normalizePromptText`: trivial variants share a key) and every parameter
 * that changes the output. Key order never matters (canonical JSON). It is built on the partition
 * key (`partition-key.ts`), which covers everything but the last message, so that a lookup
 * serialises and hashes the request once, not once per key.
 */
import type { InferenceRequest, Message } from '../../models/inference-request.js';
import { canonicalDigest } from './canonical-json.js';
import { normalizePromptText } from './normalize-prompt-text.js';
import { partitionKey } from './partition-key.js';
import { merged } from '../../util/merged.js';

/**
 * A message with its prose normalised for keying. Tool results and tool calls are data, kept as
 * they are; images are kept as they are.
 */
export function normalizedMessage(message: Message): Message {
  switch (message.role) {
    case 'user':
      return merged(message, {
        content:
          typeof message.content === 'string'
            ? normalizePromptText(message.content)
            : message.content.map((part) => (part.type === 'text' ? merged(part, { text: normalizePromptText(part.text) }) : part)),
      });
    case 'assistant':
      return merged(message, { content: normalizePromptText(message.content) });
    case 'tool':
      return message;
    default: {
      const unreachable: never = message;
      throw new Error(`unknown message role ${JSON.stringify(unreachable)}`);
    }
  }
}

/** The exact-layer key of `request` within `scope` (a `scopeKey`): 32 hex characters. */
export function canonicalRequestKey(request: InferenceRequest, scope: string): string {
  return requestKeys(request, scope).exact;
}

/** Both keys of `request` within `scope`: the partition and, inside it, the exact-layer key. */
export function requestKeys(request: InferenceRequest, scope: string): { partition: string; exact: string } {
  const partition = partitionKey(request, scope);
  const messages = request.logical_prompt.messages;
  // The partition digest covers the scope, the parameters, the system prompt and the earlier turns
  // as written; the question is normalised.
  return { partition, exact: canonicalDigest({ kind: 'exact-v3', partition, last: normalizedMessage(messages[messages.length - 1]!) }) };
}
