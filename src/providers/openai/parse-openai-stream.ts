/**
 * An OpenAI SSE body → `StreamPart`s. Each event is `data: <chunk JSON>`; the answer ends with
 * `data: [DONE]`. With `stream_options.include_usage` the chunk before `[DONE]` has `choices: []` and
 * the provider's `usage`. Reference: https://platform.openai.com/docs/api-reference/chat-streaming
 */
import { ProviderError, toGatewayError } from '../../models/error-codes.js';
import type { TokenUsage } from '../../models/inference-response.js';
import { tokenUsage } from '../../models/inference-response.js';
import type { StreamPart } from '../base.js';
import { parseSse } from '../http/sse.js';
import { mapOpenAIStreamError } from './map-openai-error.js';
import { mapOpenAIFinishReason } from './map-openai-finish-reason.js';
import { OpenAIChatChunkSchema, OpenAIStreamErrorChunkSchema } from './openai-api.js';
import type { OpenAIChatChunk } from './openai-api.js';

/** Options of `parseOpenAIStream`. */
export interface ParseOpenAIStreamOptions {
  /** Provider id, named in errors. */
  provider: string;
  /** Usage when the server sent none (a compatible server that ignores `include_usage`). */
  fallbackUsage: (outputText: string) => TokenUsage;
  /** Longest SSE event, in characters (E4601 past it); default the client's default body limit. */
  maxEventChars?: number;
}

/**
 * Yields text and tool-call deltas, then exactly one `finish` (only after `[DONE]`) or one `error`:
 * a body that ends without `[DONE]` is cut short (E4208); a chunk that is not JSON or not a chunk is
 * E4600; an error chunk is mapped from its `type`/`code`; transport failures keep their own code.
 */
export async function* parseOpenAIStream(chunks: AsyncIterable<Uint8Array>, options: ParseOpenAIStreamOptions): AsyncGenerator<StreamPart> {
  const { provider } = options;
  let rawFinishReason: string | null | undefined;
  let usage: TokenUsage | undefined;
  let outputText = '';
  try {
    for await (const event of parseSse(chunks, { provider, ...(options.maxEventChars === undefined ? {} : { maxEventChars: options.maxEventChars }) })) {
      if (event.data === '[DONE]') {
        const mapped = mapOpenAIFinishReason(rawFinishReason);
        yield { type: 'finish', ...mapped, usage: usage ?? options.fallbackUsage(outputText) };
        return;
      }
      const chunk = parseChunk(event.data, provider);
      if (chunk.usage != null)
        usage = tokenUsage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens, { read: chunk.usage.prompt_tokens_details?.cached_tokens ?? 0 });
      // `n` is never sent, so only choice 0 exists; compatible servers may omit `index`.
      const choice = chunk.choices.find((item) => item.index === undefined || item.index === 0);
      if (choice === undefined) continue;
      if (choice.finish_reason != null) rawFinishReason = choice.finish_reason;
      const delta = choice.delta;
      if (delta == null) continue;
      const text = delta.content ?? delta.refusal;
      if (text != null && text !== '') {
        outputText += text;
        yield { type: 'text-delta', text };
      }
      for (const [position, toolCall] of (delta.tool_calls ?? []).entries()) {
        const part: StreamPart = { type: 'tool-call-delta', index: toolCall.index ?? position, argumentsDelta: toolCall.function?.arguments ?? '' };
        if (toolCall.id != null) part.id = toolCall.id;
        if (toolCall.function?.name != null) part.name = toolCall.function.name;
        outputText += part.argumentsDelta;
        yield part;
      }
    }
  } catch (error) {
    yield { type: 'error', error: toGatewayError(error) };
    return;
  }
  yield { type: 'error', error: new ProviderError('E4208', `${provider}: the stream ended without [DONE]`, { details: { provider } }) };
}

function parseChunk(data: string, provider: string): OpenAIChatChunk {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    throw new ProviderError('E4600', `${provider} streamed an event that is not JSON`, { details: { provider } });
  }
  const parsed = OpenAIChatChunkSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const asError = OpenAIStreamErrorChunkSchema.safeParse(json);
  if (asError.success) throw mapOpenAIStreamError(provider, asError.data.error);
  throw new ProviderError('E4600', `${provider} streamed a chunk that does not match the chat.completion.chunk schema`, {
    details: { provider, issues: parsed.error.issues.slice(0, 3).map((issue) => `${issue.path.join('.')}: ${issue.message}`) },
  });
}
