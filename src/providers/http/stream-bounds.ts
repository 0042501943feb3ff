/** The bound on how much text one streamed answer may carry. */
import { ResponseError } from '../../models/error-codes.js';
import type { StreamPart } from '../base.js';

/**
 * Passes `parts` through while the text they carry (content and tool-call arguments, counted as
 * they arrive) stays within `maxChars`; past it, stops reading — which aborts the upstream body —
 * and then ends the stream with one E4602 `error` part. An endless or runaway stream thus costs at
 * most `maxChars` of text, never the memory to hold all of it.
 */
export async function* limitStreamText(parts: AsyncIterable<StreamPart>, maxChars: number, provider: string): AsyncGenerator<StreamPart> {
  let chars = 0;
  for await (const part of parts) {
    if (part.type === 'text-delta') chars += part.text.length;
    else if (part.type === 'tool-call-delta') chars += part.argumentsDelta.length;
    // Leaving the loop closes the source first: a consumer may stop reading at the error part.
    if (chars > maxChars) break;
    yield part;
  }
  if (chars > maxChars) {
    yield {
      type: 'error',
      error: new ResponseError('E4602', `${provider} streamed more than ${maxChars} characters of text`, { details: { provider, limit_chars: maxChars } }),
    };
  }
}
