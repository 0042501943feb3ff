/**
 * `POST /v1/messages` (query strings such as `?beta=true` accepted) and
 * `POST /v1/messages/count_tokens`: Anthropic's Messages API over the gateway, JSON or SSE.
 *
 * A stream is committed when the gateway commits (first content, or a cache hit), so a failure
 * before that is an ordinary HTTP error in Anthropic's shape, with its status (529 for overload,
 * 429 with Retry-After for limits), which clients retry. When the first content takes longer than
 * `server.sse_ping_interval_ms`, the face commits early — `message_start` naming the requested
 * model, then a `ping` per interval of silence — so that clients and proxies do not time out; a
 * failure after that is an `error` event.
 */
import { toGatewayError } from '../../models/error-codes.js';
import { LogicalPromptSchema } from '../../models/inference-request.js';
import type { GatewayStreamEvent } from '../../models/gateway-events.js';
import type { InferenceResponse } from '../../models/inference-response.js';
import { parseOrThrow } from '../../models/validation.js';
import { estimatePromptTokens, estimateTextTokens } from '../../util/token-estimate.js';
import { headerValue, readJsonBody, sendJson } from '../http-io.js';
import { ignoredParamsHeader } from '../ignored-params.js';
import { answerHeaders } from '../openai/chat-route.js';
import { parseCacheControl } from '../openai/openai-chat.js';
import type { RouteContext } from '../route-context.js';
import { startSse } from '../sse.js';
import { ANTHROPIC_WIRE_NAMES, toInferenceRequest } from './anthropic-messages-request.js';
import type { TranslatedMessagesRequest } from './anthropic-messages-request.js';
import { toAnthropicMessage } from './anthropic-message-response.js';
import { AnthropicSseWriter } from './anthropic-sse-writer.js';

/** `POST /v1/messages`. */
export async function handleMessages(context: RouteContext): Promise<void> {
  const body = await readJsonBody(context.request, context.bodyLimitBytes);
  const translated = translate(body, context);
  translated.request.request_id = context.requestId;
  const callContext = { caller: context.caller, signal: context.signal };
  if (!translated.stream) {
    const response = await context.gateway.complete(translated.request, callContext);
    sendJson(context.response, 200, toAnthropicMessage(response, response.model_id), headersOf(context, translated, response));
    return;
  }
  await relay(context, translated, context.gateway.stream(translated.request, callContext));
}

/**
 * `POST /v1/messages/count_tokens`: `{"input_tokens": N}`. The count is the gateway's own
 * estimate (about four characters a token, images as a fixed block), the same one that admission
 * and routing use; it does not call a provider.
 */
export async function handleCountTokens(context: RouteContext): Promise<void> {
  const body = await readJsonBody(context.request, context.bodyLimitBytes);
  // count_tokens takes a Messages body without max_tokens.
  const withCap = body !== null && typeof body === 'object' && !Array.isArray(body) && !('max_tokens' in body) ? { ...body, max_tokens: 1 } : body;
  const translated = translate(withCap, context);
  const prompt = parseOrThrow(LogicalPromptSchema, translated.request.logical_prompt);
  sendJson(context.response, 200, { input_tokens: estimatePromptTokens(prompt) });
}

function translate(body: unknown, context: RouteContext): TranslatedMessagesRequest {
  const headers = context.request.headers;
  const version = headerValue(headers['anthropic-version']);
  const beta = Array.isArray(headers['anthropic-beta']) ? headers['anthropic-beta'].join(',') : headers['anthropic-beta'];
  return toInferenceRequest(
    body,
    context.caller.agent_did,
    Object.assign(version === undefined ? {} : { version }, beta === undefined || beta === '' ? {} : { beta }),
    parseCacheControl(headers['cache-control']),
  );
}

function headersOf(context: RouteContext, translated: TranslatedMessagesRequest, response: InferenceResponse): Record<string, string> {
  return Object.assign(
    answerHeaders(response),
    ignoredParamsHeader(context.gateway.config, response.provider, translated.request.logical_prompt, translated.dropped, ANTHROPIC_WIRE_NAMES),
  );
}

const PING = Symbol('ping');

async function relay(context: RouteContext, translated: TranslatedMessagesRequest, events: AsyncIterable<GatewayStreamEvent>): Promise<void> {
  const response = context.response;
  const writer = new AnthropicSseWriter(response);
  const iterator = events[Symbol.asyncIterator]();
  const intervalMs = context.gateway.config.server.sse_ping_interval_ms;
  const requested = translated.request.model_id ?? 'auto';
  const inputEstimate = estimateTextTokens(JSON.stringify(translated.request.logical_prompt));
  let committed = false;
  const commit = async (model: string, headers: Record<string, string>): Promise<void> => {
    committed = true;
    startSse(response, headers);
    await writer.start(context.requestId, model, inputEstimate, context.now());
  };
  let pending: Promise<IteratorResult<GatewayStreamEvent>> | undefined;
  try {
    for (;;) {
      if (pending === undefined) {
        pending = iterator.next();
        // Awaited below; this only keeps a rejection that outlives a ping from being reported as unhandled.
        pending.catch(() => undefined);
      }
      const waitMs = writer.lastWriteAt === 0 ? intervalMs : Math.max(1, writer.lastWriteAt + intervalMs - context.now());
      // Before the first event nothing has been sent: a rejection here becomes an ordinary HTTP error.
      const next = await raceTimer(pending, waitMs);
      if (next === PING) {
        if (!committed) await commit(requested, {});
        else await writer.ping(context.now());
        continue;
      }
      pending = undefined;
      if (next.done === true) break;
      const event = next.value;
      if (event.type === 'start') {
        if (!committed) await commit(event.model_id, startHeaders(context, translated, event));
        continue;
      }
      if (!committed) await commit(requested, {});
      await writer.event(event, context.now());
      if (writer.ended) return;
    }
  } catch (error) {
    if (!committed) throw error;
    if (!writer.ended) await writer.event({ type: 'error', error: toGatewayError(error) }, context.now());
  } finally {
    if (!writer.ended) void iterator.return?.();
  }
  // The gateway always ends with finish or error; an iterator that just stops is a cut stream: no message_stop.
  if (!writer.ended) response.end();
}

function startHeaders(
  context: RouteContext,
  translated: TranslatedMessagesRequest,
  event: Extract<GatewayStreamEvent, { type: 'start' }>,
): Record<string, string> {
  return {
    'x-l04-model': event.model_id,
    'x-l04-provider': event.provider,
    'x-l04-cache': event.cache,
    ...(event.similarity === undefined ? {} : { 'x-l04-similarity': event.similarity.toFixed(4) }),
    ...ignoredParamsHeader(context.gateway.config, event.provider, translated.request.logical_prompt, translated.dropped, ANTHROPIC_WIRE_NAMES),
  };
}

/** `promise`'s result, or `PING` when it takes longer than `waitMs`. */
async function raceTimer<T>(promise: Promise<T>, waitMs: number): Promise<T | typeof PING> {
  let timer: NodeJS.Timeout | undefined;
  const tick = new Promise<typeof PING>((resolve) => {
    timer = setTimeout(() => resolve(PING), waitMs);
  });
  try {
    return await Promise.race([promise, tick]);
  } finally {
    clearTimeout(timer);
  }
}
