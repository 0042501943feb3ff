/**
 * Ollama answers → the gateway's shapes: tool calls with JSON-text arguments and stable ids,
 * usage from Ollama's own counts, finish reasons; and the NDJSON chat stream → `StreamPart`s.
 */
import { redactSecrets } from '../../util/redact.js';
import { ProviderError, toGatewayError } from '../../models/error-codes.js';
import type { LogicalPrompt, ToolCall } from '../../models/inference-request.js';
import { tokenUsage } from '../../models/inference-response.js';
import type { TokenUsage } from '../../models/inference-response.js';
import { estimatePromptTokens, estimateTextTokens } from '../../util/token-estimate.js';
import type { ProviderResult, StreamPart } from '../base.js';
import { mapOllamaFinishReason } from './map-ollama-finish-reason.js';
import { OllamaChatChunkSchema, OllamaErrorSchema } from './ollama-api.js';
import type { OllamaChatResponse, OllamaToolCall } from './ollama-api.js';

/**
 * A tool call in the gateway's shape. Ollama sends arguments as an object and (before recent
 * versions) no id, so the id is synthesized from the call's position: `call_<index>`.
 */
export function convertOllamaToolCall(toolCall: OllamaToolCall, index: number): ToolCall {
  return { id: toolCall.id ?? `call_${index}`, name: toolCall.function.name, arguments: JSON.stringify(toolCall.function.arguments) };
}

/**
 * Usage from `prompt_eval_count` / `eval_count`. Some Ollama versions omit `prompt_eval_count`
 * when the whole prompt came from its cache; the estimate then stands in, as zero would make
 * the call look free to budgets and rate limits.
 */
export function ollamaUsage(
  counts: { prompt_eval_count?: number | undefined; eval_count?: number | undefined },
  prompt: LogicalPrompt,
  outputText: string,
): TokenUsage {
  return tokenUsage(counts.prompt_eval_count ?? estimatePromptTokens(prompt), counts.eval_count ?? estimateTextTokens(outputText));
}

/** A parsed non-streaming `/api/chat` answer as a `ProviderResult`. */
export function convertOllamaChatResponse(response: OllamaChatResponse, prompt: LogicalPrompt): ProviderResult {
  const toolCalls = (response.message.tool_calls ?? []).map((toolCall, index) => convertOllamaToolCall(toolCall, index));
  const content = response.message.content;
  return {
    content,
    toolCalls,
    finishReason: mapOllamaFinishReason(response.done_reason, toolCalls.length > 0),
    rawFinishReason: response.done_reason,
    usage: ollamaUsage(response, prompt, content + toolCalls.map((call) => call.arguments).join('')),
  };
}

/** What the stream translation needs to know about its call. */
export interface OllamaStreamContext {
  provider: string;
  prompt: LogicalPrompt;
}

/**
 * Parsed NDJSON lines of a streaming `/api/chat` → parts. Ends with `finish` only on the line
 * with `done: true`; an `{"error"}` line (E4202), a line that fails the schema (E4600), a
 * transport failure (E4200/E4201/E4507) or the body ending early (E4208) end it with `error`.
 * Each Ollama tool call arrives whole, so it becomes one `tool-call-delta` carrying id, name and
 * all its arguments; indexes run across the whole stream.
 */
export async function* convertOllamaChatStream(lines: AsyncIterable<unknown>, context: OllamaStreamContext): AsyncGenerator<StreamPart> {
  const { provider } = context;
  let toolIndex = 0;
  let output = '';
  try {
    for await (const line of lines) {
      const failure = OllamaErrorSchema.safeParse(line);
      if (failure.success) {
        yield {
          type: 'error',
          error: new ProviderError('E4202', `${provider} failed mid-stream`, {
            details: { provider },
            logDetail: redactSecrets(failure.data.error).slice(0, 500),
          }),
        };
        return;
      }
      const parsed = OllamaChatChunkSchema.safeParse(line);
      if (!parsed.success) {
        yield {
          type: 'error',
          error: new ProviderError('E4600', `${provider} streamed a line that is not a chat chunk`, {
            details: { provider, issues: parsed.error.issues.slice(0, 3) },
          }),
        };
        return;
      }
      const chunk = parsed.data;
      const content = chunk.message?.content ?? '';
      if (content !== '') {
        output += content;
        yield { type: 'text-delta', text: content };
      }
      for (const toolCall of chunk.message?.tool_calls ?? []) {
        const converted = convertOllamaToolCall(toolCall, toolIndex);
        output += converted.arguments;
        yield { type: 'tool-call-delta', index: toolIndex, id: converted.id, name: converted.name, argumentsDelta: converted.arguments };
        toolIndex++;
      }
      if (chunk.done) {
        yield {
          type: 'finish',
          finishReason: mapOllamaFinishReason(chunk.done_reason, toolIndex > 0),
          rawFinishReason: chunk.done_reason,
          usage: ollamaUsage(chunk, context.prompt, output),
        };
        return;
      }
    }
    yield { type: 'error', error: new ProviderError('E4208', `${provider}: the stream ended before its final (done) line`, { details: { provider } }) };
  } catch (error) {
    yield { type: 'error', error: toGatewayError(error) };
  }
}
