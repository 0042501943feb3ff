/**
 * Server-sent events, parsed from a byte stream per the WHATWG EventSource rules: lines end in
 * LF, CR or CRLF; `data:` lines of one event are joined with LF; a blank line dispatches; lines
 * starting with `:` are comments (keep-alives).
 */

/** One dispatched event. `event` is `message` when the server named none. */
export interface ServerSentEvent {
  event: string;
  data: string;
  id?: string;
}

/** Parses SSE from chunks; yields each complete event. A trailing partial event is dropped. */
export async function* parseSse(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let eventName = '';
  let data: string[] = [];
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
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') eventName = value;
      else if (field === 'id') id = value;
    }
    buffer = buffer.slice(start);
  }
}
