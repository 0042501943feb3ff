/**
 * `POST /v1/chat/completions`: OpenAI Chat Completions over the gateway, JSON or SSE. A stream's
 * headers go out only when the gateway commits (first content from a provider, or a cache hit), so
 * a failure before that is an ordinary HTTP error and a fallback stays invisible. After commit an
 * error ends the stream with one `data: {"error": …}` event and no `[DONE]`.
 */
import { toOpenAIError } from '../../models/error-codes.js';
import type { InferenceResponse } from '../../models/inference-response.js';
import type { GatewayStreamEvent } from '../../models/gateway-events.js';
import { rateLimitHeaders } from '../../limits/rate-limiter.js';

import { readJsonBody, sendJson } from '../http-io.js';
import { startSse, writeSse } from '../sse.js';
import { ignoredParamsHeader } from '../ignored-params.js';
import { completionId, openAIFinishReason, parseCacheControl, toChatCompletion, toInferenceRequest, toOpenAIUsage } from './openai-chat.js';
import type { RouteContext } from '../route-context.js';

/** Handles one chat completion request. */
export async function handleChatCompletions(context: RouteContext): Promise<void> {
  const body = await readJsonBody(context.request, context.bodyLimitBytes);
  const { request, stream, includeUsage, dropped } = toInferenceRequest(
    body,
    context.caller.agent_did,
    parseCacheControl(context.request.headers['cache-control']),
  );
  const ignored = (provider: string): Record<string, string> => ignoredParamsHeader(context.gateway.config, provider, request.logical_prompt, dropped);
  if (!stream) {
    const response = await context.complete(request);
    sendJson(
      context.response,
      200,
      toChatCompletion(response, Math.floor(context.now() / 1000)),
      Object.assign(answerHeaders(response), ignored(response.provider)),
    );
    return;
  }
  await relaySse(context, context.stream(request), includeUsage, ignored);
}

/** The `x-l04-*` and `x-ratelimit-*` headers of an answer. */
export function answerHeaders(response: InferenceResponse): Record<string, string> {
  const rateLimit = response.metadata.rate_limit;
  return {
    'x-l04-model': response.model_id,
    'x-l04-provider': response.provider,
    'x-l04-cache': response.metadata.cache?.result ?? 'bypass',
    ...(response.metadata.cache?.similarity === undefined ? {} : { 'x-l04-similarity': response.metadata.cache.similarity.toFixed(4) }),
    ...(rateLimit === undefined ? {} : rateLimitHeaders(rateLimit)),
  };
}

async function relaySse(
  context: RouteContext,
  events: AsyncIterable<GatewayStreamEvent>,
  includeUsage: boolean,
  ignored: (provider: string) => Record<string, string>,
): Promise<void> {
  const response = context.response;
  const id = completionId(context.requestId);
  const created = Math.floor(context.now() / 1000);
  let model = '';
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null): Record<string, unknown> => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  });
  // The first next() may throw (nothing sent yet): the caller turns that into a plain HTTP error.
  for await (const event of events) {
    switch (event.type) {
      case 'start':
        model = event.model_id;
        startSse(response, {
          'x-l04-model': event.model_id,
          'x-l04-provider': event.provider,
          'x-l04-cache': event.cache,
          ...(event.similarity === undefined ? {} : { 'x-l04-similarity': event.similarity.toFixed(4) }),
          ...ignored(event.provider),
        });
        await writeSse(response, undefined, chunk({ role: 'assistant', content: '' }));
        break;
      case 'text-delta':
        await writeSse(response, undefined, chunk({ content: event.text }));
        break;
      case 'tool-call-delta':
        await writeSse(
          response,
          undefined,
          chunk({
            tool_calls: [
              {
                index: event.index,
                ...(event.id === undefined ? {} : { id: event.id, type: 'function' }),
                function: { ...(event.name === undefined ? {} : { name: event.name }), arguments: event.arguments_delta },
              },
            ],
          }),
        );
        break;
      case 'reasoning-delta':
        // Chat Completions has no reasoning field; the reasoning stays in the native answer only.
        break;
      case 'finish':
        await writeSse(response, undefined, chunk({}, openAIFinishReason(event.response.finish_reason)));
        if (includeUsage)
          await writeSse(response, undefined, {
            id,
            object: 'chat.completion.chunk',
            created,
            model,
            choices: [],
            usage: toOpenAIUsage(event.response.token_usage),
          });
        response.end('data: [DONE]\n\n');
        return;
      case 'error':
        response.end(`data: ${JSON.stringify(toOpenAIError(event.error).body)}\n\n`);
        return;
      default: {
        const exhaustive: never = event;
        throw new Error(`unknown stream event ${JSON.stringify(exhaustive)}`);
      }
    }
  }
}
