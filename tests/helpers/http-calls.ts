/** Plain HTTP calls to a test gateway (JSON and SSE), keeping status, headers and the raw text. */

/** One answer: status, headers, raw text and the parsed JSON body (`undefined` when not JSON). */
export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

/** One streamed answer: the `data:` events in order (`[DONE]` kept as the string), and the raw text. */
export interface SseAnswer {
  status: number;
  headers: Headers;
  text: string;
  events: unknown[];
}

/** The error body of an OpenAI-shaped error answer. */
export interface OpenAIErrorShape {
  error: { message: string; type: string; code: string; param: string | null };
}

/** Sends `body` as JSON with `method` (POST by default) and reads the whole answer. */
export async function callJson(
  url: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  method = body === undefined ? 'GET' : 'POST',
): Promise<HttpAnswer> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: parseJson(text) };
}

/** Posts a streamed chat request and reads every SSE event. */
export async function streamChat(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<SseAnswer> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const text = await response.text();
  const events = text
    .split('\n\n')
    .map((block) => block.trim())
    .filter((block) => block.startsWith('data: '))
    .map((block) => block.slice('data: '.length))
    .map((data) => (data === '[DONE]' ? data : parseJson(data)));
  return { status: response.status, headers: response.headers, text, events };
}

/** The E-code of an OpenAI-shaped error body, or `undefined` when the body has another shape. */
export function errorCodeOf(body: unknown): string | undefined {
  if (!isOpenAIError(body)) return undefined;
  return body.error.code;
}

/** True when `body` is `{"error": {"message", "type", "code": "E4xxx", "param"}}`. */
export function isOpenAIError(body: unknown): body is OpenAIErrorShape {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false;
  const error = (body as { error: unknown }).error;
  if (typeof error !== 'object' || error === null) return false;
  const record = error as Record<string, unknown>;
  return (
    typeof record.message === 'string' &&
    typeof record.type === 'string' &&
    typeof record.code === 'string' &&
    /^E\d{4}$/.test(record.code) &&
    'param' in record &&
    (record.param === null || typeof record.param === 'string')
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
