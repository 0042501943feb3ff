/** LogicalPrompt messages → the `messages` array of an OpenAI chat request. */
import { contentText, systemText } from '../../models/inference-request.js';
import type { ContentPart, LogicalPrompt } from '../../models/inference-request.js';
import type { OpenAIContentPart, OpenAIMessage } from './openai-api.js';

/**
 * Converts the system prompt and the messages. The system prompt goes first with role `system`
 * (not OpenAI's newer `developer`: every compatible server understands `system`, and OpenAI maps it).
 * Reasoning of earlier assistant turns is not sent (Chat Completions has no field for it); images
 * in tool results follow the results as one user message.
 * Images become `image_url` parts (http(s) or `data:` URLs); an assistant turn that only called
 * tools gets `content: null`, as the API reference shows.
 */
export function convertToOpenAIMessages(prompt: Pick<LogicalPrompt, 'system' | 'messages'>): OpenAIMessage[] {
  const messages: OpenAIMessage[] = [];
  const system = systemText(prompt);
  if (system !== '') messages.push({ role: 'system', content: system });
  // Images in tool results cannot go in a tool message: they follow the results in one user message.
  let toolImages: OpenAIContentPart[] = [];
  const flushToolImages = (): void => {
    if (toolImages.length === 0) return;
    messages.push({ role: 'user', content: toolImages });
    toolImages = [];
  };
  for (const message of prompt.messages) {
    if (message.role !== 'tool') flushToolImages();
    switch (message.role) {
      case 'user':
        messages.push({ role: 'user', content: typeof message.content === 'string' ? message.content : message.content.map(convertPart) });
        break;
      case 'assistant': {
        const toolCalls = message.tool_calls ?? [];
        if (toolCalls.length === 0) {
          messages.push({ role: 'assistant', content: message.content });
          break;
        }
        messages.push({
          role: 'assistant',
          content: message.content === '' ? null : message.content,
          tool_calls: toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } })),
        });
        break;
      }
      case 'tool':
        messages.push({ role: 'tool', tool_call_id: message.tool_call_id, content: contentText(message.content) });
        if (typeof message.content !== 'string') for (const part of message.content) if (part.type === 'image') toolImages.push(convertPart(part));
        break;
      default:
        return assertNever(message);
    }
  }
  flushToolImages();
  return messages;
}

function convertPart(part: ContentPart): OpenAIContentPart {
  switch (part.type) {
    case 'text':
      return { type: 'text', text: part.text };
    case 'image':
      return { type: 'image_url', image_url: part.detail === undefined ? { url: part.url } : { url: part.url, detail: part.detail } };
    default:
      return assertNever(part);
  }
}

function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
