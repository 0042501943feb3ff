/** A complete answer told as a stream: how a stream request is answered from the cache. */
import type { CacheResult, GatewayStreamEvent } from '../models/gateway-events.js';
import type { InferenceResponse } from '../models/inference-response.js';

/** Characters per replayed text chunk. */
const REPLAY_CHUNK_CHARS = 64;

/** `start`, the reasoning blocks, the content in chunks, each tool call whole, then `finish`. */
export function* replayResponse(response: InferenceResponse, cache: CacheResult, similarity: number | undefined): Generator<GatewayStreamEvent> {
  yield {
    type: 'start',
    request_id: response.request_id,
    model_id: response.model_id,
    provider: response.provider,
    cache,
    ...(similarity === undefined ? {} : { similarity }),
  };
  for (const part of response.reasoning ?? []) {
    yield part.type === 'reasoning'
      ? { type: 'reasoning-delta', text: part.text, ...(part.signature === undefined ? {} : { signature: part.signature }) }
      : { type: 'reasoning-delta', text: '', redacted: part.data };
  }
  for (let offset = 0; offset < response.content.length; offset += REPLAY_CHUNK_CHARS) {
    yield { type: 'text-delta', text: response.content.slice(offset, offset + REPLAY_CHUNK_CHARS) };
  }
  for (const [index, toolCall] of (response.tool_calls ?? []).entries()) {
    yield { type: 'tool-call-delta', index, id: toolCall.id, name: toolCall.name, arguments_delta: toolCall.arguments };
  }
  yield { type: 'finish', response };
}
