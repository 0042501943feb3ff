/**
 * `POST /v1/responses`: OpenAI's Responses API over the gateway, stateless, JSON or SSE. A stream
 * is committed when the gateway commits (first content or a cache hit), so earlier failures are
 * ordinary HTTP errors in OpenAI's shape. The event sequence: `response.created`,
 * `response.in_progress`, per output item `response.output_item.added`, (for text)
 * `response.content_part.added`, `response.output_text.delta`… `response.output_text.done`,
 * `response.content_part.done`, (for a function call) `response.function_call_arguments.delta`…
 * `response.function_call_arguments.done`, then `response.output_item.done`; at the end
 * `response.completed` (or `response.incomplete` when cut by the output cap), or
 * `response.failed` after a failure. Every event carries a `sequence_number`.
 */
import type { ServerResponse } from 'node:http';
import { toGatewayError } from '../../models/error-codes.js';
import type { GatewayStreamEvent } from '../../models/gateway-events.js';
import type { InferenceResponse } from '../../models/inference-response.js';
import { readJsonBody, sendJson } from '../http-io.js';
import { ignoredParamsHeader } from '../ignored-params.js';
import { answerHeaders } from '../openai/chat-route.js';
import { parseCacheControl } from '../openai/openai-chat.js';
import type { RouteContext } from '../route-context.js';
import { startSse, writeSse } from '../sse.js';
import { toInferenceRequest } from './responses-request.js';
import type { TranslatedResponsesRequest } from './responses-request.js';
import { functionCallItem, messageItem, outputText, pendingResponse, responseIds, toResponse } from './responses-response.js';

/** Native prompt fields under their Responses names, for `x-l04-ignored-params`. */
const WIRE_NAMES: Readonly<Record<string, string>> = { reasoning_effort: 'reasoning.effort', response_format: 'text.format' };

/** `POST /v1/responses`. */
export async function handleResponses(context: RouteContext): Promise<void> {
  const raw = await readJsonBody(context.request, context.bodyLimitBytes);
  const translated = toInferenceRequest(raw, context.caller.agent_did, parseCacheControl(context.request.headers['cache-control']));
  translated.request.request_id = context.requestId;
  const callContext = { caller: context.caller, signal: context.signal };
  const createdS = Math.floor(context.now() / 1000);
  if (!translated.stream) {
    const response = await context.gateway.complete(translated.request, callContext);
    sendJson(context.response, 200, toResponse(response, createdS, translated.body), headersOf(context, translated, response.provider, response));
    return;
  }
  await relay(context, translated, context.gateway.stream(translated.request, callContext), createdS);
}

function headersOf(context: RouteContext, translated: TranslatedResponsesRequest, provider: string, response?: InferenceResponse): Record<string, string> {
  return Object.assign(
    response === undefined ? {} : answerHeaders(response),
    ignoredParamsHeader(context.gateway.config, provider, translated.request.logical_prompt, translated.dropped, WIRE_NAMES),
  );
}

type OpenItem =
  | { kind: 'message'; outputIndex: number; text: string }
  | { kind: 'call'; outputIndex: number; toolIndex: number; id: string; callId: string; name: string; arguments: string };

async function relay(
  context: RouteContext,
  translated: TranslatedResponsesRequest,
  events: AsyncIterable<GatewayStreamEvent>,
  createdS: number,
): Promise<void> {
  const response = context.response;
  const ids = responseIds(context.requestId);
  let sequence = 0;
  let model = translated.request.model_id ?? 'auto';
  let open: OpenItem | undefined;
  const done: Array<Record<string, unknown>> = [];
  const send = (type: string, fields: Record<string, unknown>): Promise<void> => writeSse(response, type, { type, sequence_number: sequence++, ...fields });
  const close = async (): Promise<void> => {
    const item = open;
    if (item === undefined) return;
    open = undefined;
    if (item.kind === 'message') {
      await send('response.output_text.done', { item_id: ids.message, output_index: item.outputIndex, content_index: 0, text: item.text, logprobs: [] });
      await send('response.content_part.done', { item_id: ids.message, output_index: item.outputIndex, content_index: 0, part: outputText(item.text) });
      const finished = messageItem(ids.message, item.text, 'completed');
      done.push(finished);
      await send('response.output_item.done', { output_index: item.outputIndex, item: finished });
      return;
    }
    await send('response.function_call_arguments.done', { item_id: item.id, output_index: item.outputIndex, name: item.name, arguments: item.arguments });
    const finished = functionCallItem(item.id, { id: item.callId, name: item.name, arguments: item.arguments }, 'completed');
    done.push(finished);
    await send('response.output_item.done', { output_index: item.outputIndex, item: finished });
  };
  let started = false;
  try {
    for await (const event of events) {
      switch (event.type) {
        case 'start': {
          model = event.model_id;
          started = true;
          startSse(response, {
            'x-l04-model': event.model_id,
            'x-l04-provider': event.provider,
            'x-l04-cache': event.cache,
            ...headersOf(context, translated, event.provider),
          });
          const pending = pendingResponse(context.requestId, createdS, model, translated.body);
          await send('response.created', { response: pending });
          await send('response.in_progress', { response: pending });
          break;
        }
        case 'text-delta':
          if (open?.kind !== 'message') {
            await close();
            open = { kind: 'message', outputIndex: done.length, text: '' };
            await send('response.output_item.added', { output_index: open.outputIndex, item: messageItem(ids.message, '', 'in_progress') });
            await send('response.content_part.added', { item_id: ids.message, output_index: open.outputIndex, content_index: 0, part: outputText('') });
          }
          open.text += event.text;
          await send('response.output_text.delta', { item_id: ids.message, output_index: open.outputIndex, content_index: 0, delta: event.text, logprobs: [] });
          break;
        case 'tool-call-delta':
          if (open?.kind !== 'call' || open.toolIndex !== event.index) {
            await close();
            open = {
              kind: 'call',
              outputIndex: done.length,
              toolIndex: event.index,
              id: ids.call(event.index),
              callId: event.id ?? `call_${event.index}`,
              name: event.name ?? '',
              arguments: '',
            };
            await send('response.output_item.added', {
              output_index: open.outputIndex,
              item: functionCallItem(open.id, { id: open.callId, name: open.name, arguments: '' }, 'in_progress'),
            });
          }
          open.arguments += event.arguments_delta;
          if (event.arguments_delta !== '')
            await send('response.function_call_arguments.delta', { item_id: open.id, output_index: open.outputIndex, delta: event.arguments_delta });
          break;
        case 'reasoning-delta':
          // Reasoning is not part of a stateless Responses answer (it could not be sent back).
          break;
        case 'finish': {
          await close();
          const final = toResponse(event.response, createdS, translated.body);
          await send(final.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: { ...final, output: done } });
          response.end();
          return;
        }
        case 'error':
          await fail(send, response, context, createdS, model, translated, event.error);
          return;
        default: {
          const exhaustive: never = event;
          throw new Error(`unknown stream event ${JSON.stringify(exhaustive)}`);
        }
      }
    }
  } catch (error) {
    if (!started) throw error;
    await fail(send, response, context, createdS, model, translated, toGatewayError(error));
  }
}

async function fail(
  send: (type: string, fields: Record<string, unknown>) => Promise<void>,
  response: ServerResponse,
  context: RouteContext,
  createdS: number,
  model: string,
  translated: TranslatedResponsesRequest,
  error: ReturnType<typeof toGatewayError>,
): Promise<void> {
  await send('response.failed', {
    response: {
      ...pendingResponse(context.requestId, createdS, model, translated.body),
      status: 'failed',
      error: { code: error.code, message: error.message },
    },
  });
  response.end();
}
