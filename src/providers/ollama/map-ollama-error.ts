/** Ollama error answers (`{"error": "..."}` with an HTTP status) → `GatewayError`. */
import type { ProviderError } from '../../models/error-codes.js';
import { mapHttpError } from '../http/map-http-error.js';
import type { UpstreamErrorInfo } from '../http/map-http-error.js';
import { OllamaErrorSchema } from './ollama-api.js';

/**
 * Maps an error status and its raw body. Ollama's error body has one field, `error` (free text),
 * so the status decides the code (5xx → E4202, 401/403 → E4203, 429 → E4204 with Retry-After,
 * other 4xx → E4206). Two exceptions: Ollama answers 503 only when its request queue is full
 * ("server busy", OLLAMA_MAX_QUEUE), which is overload (E4205, retryable) rather than a failure;
 * and a 404 whose `error` says the model is not found becomes E4210 (configured but not pulled).
 * Reading that text is the only way to tell a missing model from a missing route, since the
 * body carries no machine code.
 */
export function mapOllamaError(provider: string, status: number, headers: Record<string, string | string[] | undefined>, body: string): ProviderError {
  const info: UpstreamErrorInfo = {};
  const message = parseErrorMessage(body);
  if (message !== undefined) info.message = message;
  if (status === 503) info.overloaded = true;
  if (status === 404 && message !== undefined && /\bmodel\b.*\bnot found\b/i.test(message)) {
    info.modelMissing = true;
    info.type = 'model_not_found';
  }
  return mapHttpError(provider, status, headers, info);
}

/** The `error` text of an Ollama error body, when the body is one. */
export function parseErrorMessage(body: string): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = OllamaErrorSchema.safeParse(json);
  return parsed.success ? parsed.data.error : undefined;
}
