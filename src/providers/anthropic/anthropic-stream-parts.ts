/**
 * Anthropic's SSE event stream → the gateway's `StreamPart`s. The full event set: `message_start`
 * (input usage), `content_block_start` (text, or tool_use with id and name),
 * `content_block_delta` (`text_delta`, `input_json_delta`), `content_block_stop`, `message_delta`
 * (stop reason, cumulative usage), `message_stop`, `ping` and `error`. Reference:
 * https://docs.anthropic.com/en/docs/build-with-claude/streaming.
 *
 * The stream ends with exactly one part of `finish` (only after `message_stop`) or `error`: an
 * `error` event (E4205 for `overloaded_error`…), a transport failure (E4200/E4201), an event that
 * fails the schema (E4600), or an end without `message_stop` (E4208).
 */
import { ProviderError, ResponseError, toGatewayError } from '../../models/error-codes.js';
import { tokenUsage } from '../../models/inference-response.js';
import type { TokenUsage } from '../../models/inference-response.js';
import type { ServerSentEvent } from '../http/sse.js';
import type { StreamPart } from '../base.js';
import { ANTHROPIC_STREAM_EVENT_TYPES, AnthropicStreamEventSchema } from './anthropic-api.js';
import type { AnthropicStreamEvent } from './anthropic-api.js';
import { mapAnthropicStreamError } from './map-anthropic-error.js';
import { mapAnthropicFinishReason } from './map-anthropic-finish-reason.js';

/** Token counts as they accumulate over a stream. */
class UsageTally {
  private input = 0;
  private cacheCreation = 0;
  private cacheRead = 0;
  private output = 0;

  /** Applies a usage object; null or absent fields keep their earlier value (counts are cumulative). */
  apply(usage: {
    input_tokens?: number | null;
    output_tokens?: number | null;
    cache_creation_input_tokens?: number | null;
    cache_read_input_tokens?: number | null;
  }): void {
    if (typeof usage.input_tokens === 'number') this.input = usage.input_tokens;
    if (typeof usage.cache_creation_input_tokens === 'number') this.cacheCreation = usage.cache_creation_input_tokens;
    if (typeof usage.cache_read_input_tokens === 'number') this.cacheRead = usage.cache_read_input_tokens;
    if (typeof usage.output_tokens === 'number') this.output = usage.output_tokens;
  }

  /** Input counts every prompt token, cached or not (Anthropic reports them apart); the cache counts are kept too. */
  total(): TokenUsage {
    return tokenUsage(this.input + this.cacheCreation + this.cacheRead, this.output, { creation: this.cacheCreation, read: this.cacheRead });
  }
}

/**
 * Translates parsed SSE events of one `/v1/messages` stream into stream parts. `jsonTool` names the
 * forced JSON-mode tool, whose argument deltas are the answer's text (and whose `tool_use` stop is `stop`).
 */
export async function* toAnthropicStreamParts(events: AsyncIterable<ServerSentEvent>, provider: string, jsonTool?: string): AsyncGenerator<StreamPart> {
  const usage = new UsageTally();
  /** Content block index → tool call ordinal, and how much argument text each call received. */
  const tools = new Map<number, { index: number; argumentChars: number }>();
  /** Content block indexes of the forced JSON tool (its input is streamed as text). */
  const jsonBlocks = new Set<number>();
  let stopReason: string | undefined;
  let finished = false;
  try {
    for await (const sse of events) {
      // After message_stop the body is read to its end (the API ends it right away), so that the
      // pooled connection stays reusable; nothing after the finish part is reported.
      if (finished) continue;
      const event = parseEvent(sse, provider);
      if (event === undefined) continue;
      switch (event.type) {
        case 'message_start':
          usage.apply(event.message.usage);
          // The input count is known now: a stream cut later is still billed its true input.
          yield { type: 'usage', usage: usage.total() };
          break;
        case 'content_block_start': {
          const block = event.content_block;
          if (block.type === 'text' && 'text' in block && typeof block.text === 'string' && block.text !== '') yield { type: 'text-delta', text: block.text };
          if (block.type === 'thinking' && 'thinking' in block && typeof block.thinking === 'string' && block.thinking !== '') {
            yield { type: 'reasoning-delta', text: block.thinking };
          }
          if (block.type === 'redacted_thinking' && 'data' in block && typeof block.data === 'string')
            yield { type: 'reasoning-delta', text: '', redacted: block.data };
          if (block.type === 'tool_use' && jsonTool !== undefined && 'name' in block && block.name === jsonTool) {
            jsonBlocks.add(event.index);
            break;
          }
          if (block.type === 'tool_use' && 'id' in block && typeof block.id === 'string' && 'name' in block && typeof block.name === 'string') {
            const tool = { index: tools.size, argumentChars: 0 };
            tools.set(event.index, tool);
            // The API sends `input: {}` here and the arguments as input_json_delta; a non-empty input is sent as is.
            const input = 'input' in block ? block.input : undefined;
            const initial = input !== null && typeof input === 'object' && Object.keys(input).length > 0 ? JSON.stringify(input) : '';
            tool.argumentChars += initial.length;
            yield { type: 'tool-call-delta', index: tool.index, id: block.id, name: block.name, argumentsDelta: initial };
          }
          break;
        }
        case 'content_block_delta': {
          const delta = event.delta;
          if (delta.type === 'text_delta' && 'text' in delta && typeof delta.text === 'string') {
            if (delta.text !== '') yield { type: 'text-delta', text: delta.text };
          } else if (delta.type === 'thinking_delta' && 'thinking' in delta && typeof delta.thinking === 'string') {
            if (delta.thinking !== '') yield { type: 'reasoning-delta', text: delta.thinking };
          } else if (delta.type === 'signature_delta' && 'signature' in delta && typeof delta.signature === 'string') {
            yield { type: 'reasoning-delta', text: '', signature: delta.signature };
          } else if (delta.type === 'input_json_delta' && jsonBlocks.has(event.index) && 'partial_json' in delta && typeof delta.partial_json === 'string') {
            if (delta.partial_json !== '') yield { type: 'text-delta', text: delta.partial_json };
          } else if (delta.type === 'input_json_delta' && 'partial_json' in delta && typeof delta.partial_json === 'string') {
            const tool = tools.get(event.index);
            if (tool === undefined) throw malformed(provider, `input_json_delta for block ${event.index}, which is not a tool_use block`);
            if (delta.partial_json === '') break;
            tool.argumentChars += delta.partial_json.length;
            yield { type: 'tool-call-delta', index: tool.index, argumentsDelta: delta.partial_json };
          }
          break;
        }
        case 'content_block_stop': {
          const tool = tools.get(event.index);
          // A tool without parameters may stream no argument text at all; its arguments are `{}`.
          if (tool !== undefined && tool.argumentChars === 0) {
            tool.argumentChars = 2;
            yield { type: 'tool-call-delta', index: tool.index, argumentsDelta: '{}' };
          }
          break;
        }
        case 'message_delta':
          if (event.delta.stop_reason !== undefined && event.delta.stop_reason !== null) stopReason = event.delta.stop_reason;
          usage.apply(event.usage);
          break;
        case 'message_stop':
          finished = true;
          yield {
            type: 'finish',
            finishReason: jsonBlocks.size > 0 && stopReason === 'tool_use' ? 'stop' : mapAnthropicFinishReason(stopReason),
            rawFinishReason: stopReason,
            usage: usage.total(),
          };
          break;
        case 'error':
          yield { type: 'error', error: mapAnthropicStreamError(provider, event) };
          return;
        case 'ping':
          break;
        default: {
          const unreachable: never = event;
          throw malformed(provider, `unexpected event ${JSON.stringify(unreachable)}`);
        }
      }
    }
  } catch (error) {
    if (!finished) yield { type: 'error', error: toGatewayError(error) };
    return;
  }
  if (finished) return;
  yield { type: 'error', error: new ProviderError('E4208', `${provider}: the stream ended without message_stop`, { details: { provider } }) };
}

/** Parses one SSE event; `undefined` for event types this gateway does not know (skipped). */
function parseEvent(sse: ServerSentEvent, provider: string): AnthropicStreamEvent | undefined {
  let json: unknown;
  try {
    json = JSON.parse(sse.data) as unknown;
  } catch {
    if (sse.event === 'error') return { type: 'error', error: { type: 'api_error' } };
    throw malformed(provider, `a ${sse.event} event whose data is not JSON`);
  }
  const named = json !== null && typeof json === 'object' && 'type' in json && typeof json.type === 'string' ? json.type : sse.event;
  if (!ANTHROPIC_STREAM_EVENT_TYPES.has(named)) return undefined;
  const parsed = AnthropicStreamEventSchema.safeParse(json);
  if (!parsed.success) throw malformed(provider, `a ${named} event that does not match the Messages API schema`);
  return parsed.data;
}

function malformed(provider: string, what: string): ResponseError {
  return new ResponseError('E4600', `${provider} streamed ${what}`, { details: { provider } });
}
