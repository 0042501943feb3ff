/**
 * The gateway's native routes: `POST /v1/inference` (InferenceRequest in, InferenceResponse out),
 * `POST /v1/inference/batch`, `POST /v1/embeddings` (OpenAI shape), `GET /v1/usage`, and the admin
 * cache purge. The model list lives with the faces that shape it (`anthropic/models-route.ts`).
 */
import { z } from 'zod';
import { AuthError, ValidationError } from '../../models/error-codes.js';
import { parseOrThrow } from '../../models/validation.js';
import type { InferenceRequestInput } from '../../models/inference-request.js';
import { readJsonBody, sendJson } from '../http-io.js';
import { answerHeaders } from '../openai/chat-route.js';
import { parseUsageQuery } from '../../accounting/usage-query-params.js';
import type { RouteContext } from '../route-context.js';

/**
 * `POST /v1/inference`. The caller's identity replaces `agent_did`; the gateway's id is the one in
 * `x-l04-request-id`, and a body `request_id` is kept as the client's own (`client_request_id`).
 */
export async function handleInference(context: RouteContext): Promise<void> {
  const body = await readJsonBody(context.request, context.bodyLimitBytes);
  const input = withIdentity(body, context);
  const response = await context.complete(input as InferenceRequestInput);
  sendJson(context.response, 200, response, answerHeaders(response));
}

/** `POST /v1/inference/batch` with `{"requests": [InferenceRequest, …]}`: results in order, per-item errors. */
export async function handleInferenceBatch(context: RouteContext): Promise<void> {
  const body = parseOrThrow(z.object({ requests: z.array(z.unknown()).min(1) }).strict(), await readJsonBody(context.request, context.bodyLimitBytes));
  // An item that is not an object is passed on as it is: completeBatch reports it as that item's E4500.
  const inputs = body.requests.map((item) => (item !== null && typeof item === 'object' && !Array.isArray(item) ? withIdentity(item, context) : item));
  const results = await context.completeBatch(inputs as InferenceRequestInput[]);
  sendJson(context.response, 200, { object: 'list', data: results });
}

const EmbeddingsSchema = z.object({
  model: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(z.string())]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().positive().optional(),
  user: z.string().optional(),
});

/** `POST /v1/embeddings` (OpenAI shape; `encoding_format: base64` packs float32 little-endian). */
export async function handleEmbeddings(context: RouteContext): Promise<void> {
  const body = parseOrThrow(EmbeddingsSchema, await readJsonBody(context.request, context.bodyLimitBytes));
  if (body.dimensions !== undefined) throw new ValidationError('E4500', 'Invalid request: dimensions is not supported by the gateway', { param: 'dimensions' });
  const result = await context.embed(body.model, body.input);
  const encode = (vector: number[]): number[] | string =>
    body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
  sendJson(
    context.response,
    200,
    {
      object: 'list',
      data: result.embeddings.map((embedding, index) => ({ object: 'embedding', index, embedding: encode(embedding) })),
      model: result.model_id,
      usage: { prompt_tokens: result.usage.input_tokens, total_tokens: result.usage.input_tokens },
    },
    { 'x-l04-model': result.model_id, 'x-l04-provider': result.provider },
  );
}

/**
 * `GET /v1/usage?[since=…][&until=…][&agent=…][&tenant=…][&group_by=agent|tenant|model|day][&limit=N]`:
 * spend and tokens from the ledger, refusals apart (see `parseUsageQuery` for the time forms;
 * `since` defaults to 00:00 UTC today). Callers see their own tenant; admins any.
 */
export async function handleUsage(context: RouteContext): Promise<void> {
  const query = parseUsageQuery(context.url.searchParams, context.now());
  if (!context.caller.admin) query.tenant = context.caller.tenant;
  const summary = await context.gateway.usage(query);
  sendJson(context.response, 200, {
    object: 'usage',
    since: new Date(query.since).toISOString(),
    ...(query.until === undefined ? {} : { until: new Date(query.until).toISOString() }),
    ...summary,
  });
}

/** `POST /v1/admin/cache/purge` with `{"tenant": "…"}`: deletes the tenant's cache entries (admin keys only). */
export async function handleCachePurge(context: RouteContext): Promise<void> {
  if (!context.caller.admin) throw new AuthError('E4508', 'Only admin API keys may purge the cache');
  const body = parseOrThrow(z.object({ tenant: z.string().min(1).max(256) }).strict(), await readJsonBody(context.request, context.bodyLimitBytes));
  const purged = await context.gateway.purgeCache(body.tenant);
  sendJson(context.response, 200, { tenant: body.tenant, purged });
}

function withIdentity(body: unknown, context: RouteContext): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new ValidationError('E4500', 'Invalid request: expected a JSON object', { param: '(root)' });
  const record = body as Record<string, unknown>;
  return { ...record, agent_did: context.caller.agent_did };
}
