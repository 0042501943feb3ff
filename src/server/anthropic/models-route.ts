/**
 * `GET /v1/models` and `GET /v1/models/{id}`: in OpenAI's shape, or in Anthropic's when the
 * request carries `anthropic-version` (as Anthropic's clients always do). Aliases are listed as
 * models of their own, pointing at the model that serves them (`l04.alias_of`).
 */
import type { IncomingMessage } from 'node:http';
import { RoutingError } from '../../models/error-codes.js';
import type { RegisteredModel } from '../../routing/model-registry.js';
import { headerValue, sendJson } from '../http-io.js';
import type { ErrorShape } from '../http-io.js';
import type { RouteContext } from '../route-context.js';

/** Anthropic's shape for requests that carry `anthropic-version`, OpenAI's otherwise. */
export function errorShapeOf(request: IncomingMessage): ErrorShape {
  return headerValue(request.headers['anthropic-version']) === undefined ? 'openai' : 'anthropic';
}

/** `GET /v1/models`. */
export async function handleModelList(context: RouteContext): Promise<void> {
  const entries = (await context.gateway.listModels()).flatMap((model) => [
    { name: model.id, model },
    ...(model.aliases ?? []).map((alias) => ({ name: alias, model })),
  ]);
  if (errorShapeOf(context.request) === 'anthropic') {
    const data = entries.map((entry) => anthropicModel(entry.name, entry.model));
    sendJson(context.response, 200, { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null });
    return;
  }
  sendJson(context.response, 200, { object: 'list', data: entries.map((entry) => openAIModel(entry.name, entry.model)) });
}

/** `GET /v1/models/{id}` (the id may be an alias); unknown ids are 404 E4102. */
export async function handleModel(context: RouteContext): Promise<void> {
  const path = (context.request.url ?? '').split('?')[0] ?? '';
  let name: string;
  try {
    name = decodeURIComponent(path.slice('/v1/models/'.length));
  } catch {
    name = path;
  }
  const model = (await context.gateway.listModels()).find((entry) => entry.id === name || (entry.aliases ?? []).includes(name));
  if (model === undefined) throw new RoutingError('E4102', `Unknown model "${name.slice(0, 256)}"`, { param: 'model' });
  sendJson(context.response, 200, errorShapeOf(context.request) === 'anthropic' ? anthropicModel(name, model) : openAIModel(name, model));
}

function facts(name: string, model: RegisteredModel): Record<string, unknown> {
  return {
    provider: model.provider,
    provider_model: model.provider_model,
    ...(name === model.id ? {} : { alias_of: model.id }),
    capabilities: model.capabilities,
    context_length: model.context_length,
    max_output_tokens: model.max_output_tokens,
    input_cost_per_1k_cents: model.input_cost_per_1k_cents,
    output_cost_per_1k_cents: model.output_cost_per_1k_cents,
    available: model.available,
    ...(model.unavailable_reason === undefined ? {} : { unavailable_reason: model.unavailable_reason }),
  };
}

function openAIModel(name: string, model: RegisteredModel): Record<string, unknown> {
  return { id: name, object: 'model', created: 0, owned_by: model.provider, l04: facts(name, model) };
}

function anthropicModel(name: string, model: RegisteredModel): Record<string, unknown> {
  return { type: 'model', id: name, display_name: name, created_at: '1970-01-01T00:00:00Z', l04: facts(name, model) };
}
