/** The typed events of `ModelGateway.stream`, and the context every gateway call takes. */
import type { GatewayError } from './error-codes.js';
import type { InferenceResponse } from './inference-response.js';

/** Cache outcome of a request, as reported in `x-l04-cache` and the response metadata. */
export type CacheResult = 'miss' | 'exact' | 'semantic' | 'bypass';

/** Who is calling: resolved by the HTTP layer from an API key, or given by a library caller. */
export interface CallerIdentity {
  agent_did: string;
  tenant: string;
  /** First 12 hex characters of the API key's SHA-256 (safe to log and to use in store keys), `anonymous` or `library`. */
  key_id: string;
  /** Requests per minute of this key; the agent default applies when absent. */
  rpm?: number;
  /** Tokens per minute of this key; the agent default applies when absent. */
  tpm?: number;
  /** Spend allowed per UTC day, in cents; unlimited when absent. */
  daily_budget_cents?: number;
}

/** Per-call context of `complete`, `stream`, `completeBatch` and `embed`. */
export interface CallContext {
  /** Overrides `request.agent_did` and supplies the tenant; absent for trusted library callers. */
  caller?: CallerIdentity;
  /** Aborts the request (client disconnect). */
  signal?: AbortSignal;
  /**
   * The gateway's id for this request, chosen by a trusted front end (the HTTP service sends it in
   * `x-l04-request-id`); generated when absent. A `request_id` in the request body is the client's
   * own id: kept as `client_request_id`, never used as the gateway's.
   */
  requestId?: string;
  /**
   * A hard deadline set by the transport (the `x-l04-deadline-ms` header), in milliseconds from
   * arrival; the earlier of this and `constraints.deadline_ms` applies.
   */
  deadlineMs?: number;
}

/**
 * Events of a streamed answer. Nothing is emitted until the first content arrives from a
 * provider (late commit): failures before that reject the first `next()` with a `GatewayError`,
 * and the gateway may still fall back. After `start`, the stream ends with exactly one `finish`
 * (complete answer, usage included) or one `error` — never a silent switch of model.
 */
export type GatewayStreamEvent =
  | { type: 'start'; request_id: string; model_id: string; provider: string; cache: CacheResult; similarity?: number }
  | { type: 'text-delta'; text: string }
  | { type: 'tool-call-delta'; index: number; id?: string; name?: string; arguments_delta: string }
  /**
   * A piece of the model's reasoning: `text`, then the block's `signature` once it is complete; a
   * reasoning delta after a signature starts a new block. `redacted` carries a whole redacted block.
   */
  | { type: 'reasoning-delta'; text: string; signature?: string; redacted?: string }
  | { type: 'finish'; response: InferenceResponse }
  | { type: 'error'; error: GatewayError };
