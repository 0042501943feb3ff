/** Newline-delimited JSON (Ollama's streaming format), parsed from a byte stream. */
import { ProviderError } from '../../models/error-codes.js';
import { eventTooLarge } from './sse.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from './upstream-client.js';

/**
 * Yields one parsed value per non-empty line; a line that is not JSON throws E4600, a line longer
 * than `maxLineChars` (default `DEFAULT_MAX_RESPONSE_BYTES`) throws E4601.
 */
export async function* parseNdjson(chunks: AsyncIterable<Uint8Array>, provider: string, maxLineChars = DEFAULT_MAX_RESPONSE_BYTES): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let buffer = '';
  const parseLine = (line: string): unknown => {
    if (line.length > maxLineChars) throw eventTooLarge(provider, maxLineChars);
    try {
      return JSON.parse(line) as unknown;
    } catch {
      throw new ProviderError('E4600', `${provider} streamed a line that is not JSON`, { details: { provider } });
    }
  };
  for await (const chunk of chunks) {
    buffer += decoder.decode(chunk, { stream: true });
    let start = 0;
    let newline = buffer.indexOf('\n');
    while (newline !== -1) {
      const line = buffer.slice(start, newline).trim();
      start = newline + 1;
      if (line !== '') yield parseLine(line);
      newline = buffer.indexOf('\n', start);
    }
    buffer = buffer.slice(start);
    if (buffer.length > maxLineChars) throw eventTooLarge(provider, maxLineChars);
  }
  const rest = (buffer + decoder.decode()).trim();
  if (rest !== '') yield parseLine(rest);
}
