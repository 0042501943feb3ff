/**
 * Server-sent events, parsed from a byte stream per the WHATWG EventSource rules: lines end in
 * LF, CR or CRLF; `data:` lines of one event are joined with LF; a blank line dispatches; lines
 * starting with `:` are comments (keep-alives). One event is bounded: a line or an event's data
 * longer than `maxEventChars` throws E4601 instead of growing the buffer without end.
 */
import { ResponseError } from '../../models/error-codes.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from './upstream-client.js';

/** One dispatched event. `event` is `message` when the server named none. */
export interface ServerSentEvent {
  event: string;
  data: string;
  id?: string;
}

/** Options of `parseSse`. */
export interface ParseSseOptions {
  /** Provider id, named in errors. */
  provider?: string;
  /** Longest line, and longest data of one event, in characters (default `DEFAULT_MAX_RESPONSE_BYTES`). */
  maxEventChars?: number;
}

/** Parses SSE from chunks; yields each complete event. A trailing partial event is dropped. */
export async function* parseSse(chunks: AsyncIterable<Uint8Array>, options: ParseSseOptions = {}): AsyncGenerator<ServerSentEvent> {
  const maxChars = options.maxEventChars ?? DEFAULT_MAX_RESPONSE_BYTES;
  const tooLarge = (): ResponseError => eventTooLarge(options.provider ?? 'the provider', maxChars);
  const decoder = new TextDecoder();
  let buffer = '';
  let eventName = '';
  let data: string[] = [];
  let dataChars = 0;
  let id: string | undefined;
  for await (const chunk of chunks) {
    buffer += decoder.decode(chunk, { stream: true });
    let start = 0;
    for (;;) {
      const match = /\r\n|\r|\n/g;
      match.lastIndex = start;
      const found = match.exec(buffer);
      // A lone CR at the end of the buffer may be the first half of CRLF: wait for more.
      if (found === null || (found[0] === '\r' && found.index === buffer.length - 1)) break;
      const line = buffer.slice(start, found.index);
      start = found.index + found[0].length;
      if (line === '') {
        if (data.length > 0) yield { event: eventName === '' ? 'message' : eventName, data: data.join('\n'), ...(id === undefined ? {} : { id }) };
        eventName = '';
        data = [];
        dataChars = 0;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') {
        dataChars += value.length + 1;
        if (dataChars > maxChars) throw tooLarge();
        data.push(value);
      } else if (field === 'event') eventName = value;
      else if (field === 'id') id = value;
    }
    buffer = buffer.slice(start);
    if (buffer.length > maxChars) throw tooLarge();
  }
}

/** E4601 for one stream event (an SSE event, an NDJSON line) longer than the bound. */
export function eventTooLarge(provider: string, maxChars: number): ResponseError {
  return new ResponseError('E4601', `${provider} streamed an event longer than ${maxChars} characters`, { details: { provider, limit_chars: maxChars } });
}
