/**
 * `GET /health` (liveness: the process answers), `GET /health/ready` (readiness: which dependency
 * is degraded), `GET /health/providers` (each provider's health and circuit state), `GET /metrics`.
 */
import { sendJson } from './http-io.js';
import type { RouteContext } from './route-context.js';

/** Liveness: green while the process serves HTTP, whatever its dependencies say. */
export async function handleHealth(context: RouteContext): Promise<void> {
  sendJson(context.response, 200, { status: 'ok' });
}

/** Readiness: 200 when requests can be served, 503 otherwise; each dependency's state either way. */
export async function handleReady(context: RouteContext): Promise<void> {
  const readiness = await context.gateway.readiness();
  sendJson(context.response, readiness.ready ? 200 : 503, readiness);
}

/** Each provider's health (active checks and live traffic) and circuit state. */
export async function handleProviderHealth(context: RouteContext): Promise<void> {
  sendJson(context.response, 200, { object: 'list', data: await context.gateway.providerHealth() });
}

/** Prometheus text exposition. */
export async function handleMetrics(context: RouteContext): Promise<void> {
  const { contentType, body } = await context.gateway.metrics();
  context.response.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  context.response.end(body);
}
