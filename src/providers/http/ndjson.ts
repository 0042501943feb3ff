/** Newline-delimited JSON (Ollama's streaming format), parsed from a byte stream. */
import { ProviderError } from '../../models/error-codes.js';

/** Yields one parsed value per non-empty line; a line that is not JSON throws E4600. */
export async function* parseNdjson(chunks: AsyncIterable<Uint8Array>, provider: string): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let buffer = '';
  const parseLine = (line: string): unknown => {
    try {
      return JSON.parse(line) as unknown;
    } catch {
      throw new ProviderError('E4600', `${provider} streamed a line that is not JSON`, { details: { provider } });
    }
  };
  for await (const chunk of chunks) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline = buffer.indexOf('\n');
    while (newline !== -1) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line !== '') yield parseLine(line);
      newline = buffer.indexOf('\n');
    }
  }
  const rest = (buffer + decoder.decode()).trim();
  if (rest !== '') yield parseLine(rest);
}
