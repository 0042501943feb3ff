/** LogicalPrompt messages → the `messages` array of an OpenAI chat request. */
import type { ContentPart, LogicalPrompt } from '../../models/inference-request.js';
import type { OpenAIContentPart, OpenAIMessage } from './openai-api.js';

/**
 * Converts the system prompt and the messages. The system prompt goes first with role `system`
 * (not OpenAI's newer `developer`: every compatible server understands `system`, and OpenAI maps it).
 * Images become `image_url` parts (http(s) or `data:` URLs); an assistant turn that only called
 * tools gets `content: null`, as the API reference shows.
 */
export function convertToOpenAIMessages(prompt: Pick<LogicalPrompt, 'system' | 'messages'>): OpenAIMessage[] {
  const messages: OpenAIMessage[] = [];
  if (prompt.system !== undefined && prompt.system !== '') messages.push({ role: 'system', content: prompt.system });
  for (const message of prompt.messages) {
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
        messages.push({ role: 'tool', tool_call_id: message.tool_call_id, content: message.content });
        break;
      default:
        return assertNever(message);
    }
  }
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
