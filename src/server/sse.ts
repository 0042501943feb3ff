/** Server-sent events for the streaming faces: the response head, and writes that respect back-pressure. */
import type { ServerResponse } from 'node:http';

/** Sends the head of an event stream with `headers` added. */
export function startSse(response: ServerResponse, headers: Record<string, string>): void {
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    ...headers,
  });
}

/** Writes one event (`event:` line when `event` is given), waiting for the socket to drain when its buffer is full. */
export async function writeSse(response: ServerResponse, event: string | undefined, data: unknown): Promise<void> {
  if (response.destroyed || response.writableEnded) return;
  const text = `${event === undefined ? '' : `event: ${event}\n`}data: ${JSON.stringify(data)}\n\n`;
  if (response.write(text)) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}
