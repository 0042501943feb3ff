/** One JSON call to a gateway under test over fetch: status, headers and the parsed body. */

/** The parts of a gateway answer these tests read (success or OpenAI-shaped error). */
export interface GatewayReplyBody {
  error?: { code: string; type: string; message: string; param: string | null };
  [field: string]: unknown;
}

/** A parsed HTTP answer. */
export interface JsonReply<T = GatewayReplyBody> {
  status: number;
  headers: Headers;
  body: T;
}

/** POSTs `body` as JSON to `url` and parses the JSON answer. */
export async function postJson<T = GatewayReplyBody>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<JsonReply<T>> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, headers: response.headers, body: (await response.json()) as T };
}
