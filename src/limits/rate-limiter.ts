/**
 * Token-bucket rate limits per agent (requests and tokens per minute, with per-agent overrides) and
 * per provider, over a `RateLimitStore` (memory or Redis) with a per-process fallback.
 *
 * Tokens are reserved at admission (1 request + the estimate, all-or-nothing), settled to the
 * provider's actual usage when the answer is complete (the difference is refunded, or the excess is
 * charged; a charge may leave the bucket in debt down to -capacity, paid back by waiting), and given
 * back by `release()` when the request is rejected later. `release()` returns the tokens only: the
 * request itself stays counted. A denied request consumes nothing.
 *
 * Redis down or slow: with `isPrimaryReady()` false, or a primary command failing or timing out, the
 * decision is made at once by the per-process `fallback` store (`failure_mode: open`, the default —
 * limits then hold per gateway process, not across the fleet), or refused with E4405
 * (`failure_mode: closed`). A failed primary command is never re-sent (it may have run: at-most-once).
 * - open: after a failed decision the primary is skipped for `retryPrimaryAfterMs` (no request
 *   waits on a slow Redis meanwhile), or until `isPrimaryReady()` turns true again after having
 *   been false; then decisions go back to it by themselves.
 * - closed: only the request whose decision failed is refused; the next one asks Redis again
 *   (each wait is bounded by the store), so one slow reply never turns into a second of refusals.
 *   While `isPrimaryReady()` is false every request is refused at once.
 * A lost refund or charge (settle, release) is dropped and changes nothing of the above: it is off
 * the response path and decides no request.
 */
import type { RateLimitsConfig } from '../config/config-schema.js';
import { RateLimitError } from '../models/error-codes.js';
import type { RateLimitInfo } from '../models/inference-response.js';
import { escapeBucketId } from './rate-limit-store.js';
import type { BucketSpec, RateLimitStore, TakeResult } from './rate-limit-store.js';
import type { Clock } from '../util/clock.js';

/** A token reservation. `settle` and `release` never throw; the first of them wins, later calls do nothing. */
export interface TokenReservation {
  /** Charges `actualTokens` instead of the reserved estimate (refunds the difference or charges the excess). */
  settle(actualTokens: number): Promise<void>;
  /** Gives the whole token reservation back (the request stays counted). */
  release(): Promise<void>;
}

/** The agent check's answer. `degraded` is true when the per-process fallback decided. */
export type AgentAdmission =
  { allowed: true; reservation: TokenReservation; info: RateLimitInfo; degraded: boolean } | { allowed: false; error: RateLimitError; info: RateLimitInfo };

/** The per-provider quota's answer; `retryAfterMs` is `Infinity` when the request can never fit. */
export type ProviderAdmission = { allowed: true; reservation: TokenReservation } | { allowed: false; retryAfterMs: number };

/** Options of a `RateLimiter`. */
export interface RateLimiterOptions {
  /** The shared store (Redis, or memory for one process). */
  store: RateLimitStore;
  /** The per-process store used while `store` is unavailable (memory). */
  fallback: RateLimitStore;
  /** False while the primary cannot take commands (`RedisConnection.isReady`); default always true. */
  isPrimaryReady?: () => boolean;
  config: RateLimitsConfig;
  clock: Clock;
  /** Called once per switch between the primary store and the fallback. */
  onModeChange?: (mode: 'primary' | 'fallback') => void;
  /** Window the rpm/tpm limits refill over, in milliseconds; default 60,000 (per minute). */
  windowMs?: number;
  /** After a primary failure, how long decisions skip the primary, in milliseconds; default 1,000. */
  retryPrimaryAfterMs?: number;
}

type Decision = { kind: 'decided'; result: TakeResult; store: RateLimitStore; degraded: boolean } | { kind: 'unavailable' };

const NO_RESERVATION: TokenReservation = { settle: () => Promise.resolve(), release: () => Promise.resolve() };

/** Agent and provider token buckets with fallback. See the file comment for the rules. */
export class RateLimiter {
  private readonly options: RateLimiterOptions;
  private readonly windowMs: number;
  private readonly retryPrimaryAfterMs: number;
  private mode: 'primary' | 'fallback' = 'primary';
  private primaryRetryAt = -Infinity;
  private primaryWasNotReady = false;

  constructor(options: RateLimiterOptions) {
    this.windowMs = options.windowMs ?? 60_000;
    this.retryPrimaryAfterMs = options.retryPrimaryAfterMs ?? 1_000;
    if (!(this.windowMs > 0)) throw new RangeError(`windowMs should be a positive number, got ${this.windowMs}`);
    if (!(this.retryPrimaryAfterMs >= 0)) throw new RangeError(`retryPrimaryAfterMs should be a non-negative number, got ${this.retryPrimaryAfterMs}`);
    this.options = options;
  }

  /** Which store decides now. */
  currentMode(): 'primary' | 'fallback' {
    return this.mode;
  }

  /**
   * The first check of a request: 1 request and `estimatedTokens` (prompt estimate + max output)
   * from the agent's buckets. Denies with E4400 (requests) or E4401 (tokens, also when the estimate
   * exceeds the tpm limit and can never pass), or E4405 when the store is down and failure_mode is
   * closed. Throws only on a non-finite or negative estimate (a programming error).
   */
  async admitAgent(agentDid: string, estimatedTokens: number, override?: { rpm?: number; tpm?: number }): Promise<AgentAdmission> {
    if (!Number.isFinite(estimatedTokens) || estimatedTokens < 0) {
      throw new RangeError(`estimatedTokens should be a non-negative number, got ${estimatedTokens}`);
    }
    const tokens = Math.ceil(estimatedTokens);
    const configured = this.options.config.agents[agentDid] ?? this.options.config.agent_default;
    const rpm = override?.rpm ?? configured.rpm;
    const tpm = override?.tpm ?? configured.tpm;
    const id = escapeBucketId(agentDid);
    const buckets = [this.bucket(`{agent:${id}}:rpm`, rpm), this.bucket(`{agent:${id}}:tpm`, tpm)];
    const neverFits = tokens > tpm;
    // An estimate above the limit can never pass: only peek (take nothing) to fill the headers.
    const decision = await this.decide(buckets, neverFits ? [0, 0] : [1, tokens]);
    if (decision.kind === 'unavailable') {
      const info = { limitRequests: rpm, remainingRequests: 0, resetRequestsMs: 0, limitTokens: tpm, remainingTokens: 0, resetTokensMs: 0 };
      const error = new RateLimitError('E4405', undefined, {
        retryAfterMs: this.retryPrimaryAfterMs,
        headers: rateLimitHeaders(info),
        details: { agent_did: agentDid },
      });
      return { allowed: false, error, info };
    }
    const { result } = decision;
    const info: RateLimitInfo = {
      limitRequests: rpm,
      remainingRequests: result.remaining[0] ?? 0,
      resetRequestsMs: result.resetMs[0] ?? 0,
      limitTokens: tpm,
      remainingTokens: result.remaining[1] ?? 0,
      resetTokensMs: result.resetMs[1] ?? 0,
    };
    if (neverFits) {
      const message = `The request needs an estimated ${tokens} tokens, more than the agent's limit of ${tpm} tokens per minute; it can never be admitted`;
      const error = new RateLimitError('E4401', message, {
        retryable: false,
        headers: rateLimitHeaders(info),
        details: { agent_did: agentDid, estimated_tokens: tokens, tpm },
      });
      return { allowed: false, error, info };
    }
    if (!result.allowed) {
      const code = result.failedBucket === 1 ? 'E4401' : 'E4400';
      const details = { agent_did: agentDid, rpm, tpm, estimated_tokens: tokens };
      const error = new RateLimitError(code, undefined, { retryAfterMs: result.retryAfterMs, headers: rateLimitHeaders(info), details });
      return { allowed: false, error, info };
    }
    const tokenBucket = buckets[1] as BucketSpec;
    return { allowed: true, reservation: this.reservation(decision.store, tokenBucket, tokens), info, degraded: decision.degraded };
  }

  /**
   * The per-provider quota in front of each attempt (the request queue's `quota`). Takes 1 request
   * and `tokens` from the provider's rpm/tpm buckets (those configured; none configured allows all).
   * `retryAfterMs` is `Infinity` when `tokens` exceeds the tpm limit, and `retryPrimaryAfterMs` when
   * the store is down and failure_mode is closed.
   */
  async takeProvider(provider: string, limits: { rpm?: number; tpm?: number }, tokens: number): Promise<ProviderAdmission> {
    const amountOfTokens = Math.max(0, Math.ceil(Number.isFinite(tokens) ? tokens : 0));
    const id = escapeBucketId(provider);
    const buckets: BucketSpec[] = [];
    const amounts: number[] = [];
    let tokenBucket: BucketSpec | undefined;
    if (limits.rpm !== undefined) {
      buckets.push(this.bucket(`{provider:${id}}:rpm`, limits.rpm));
      amounts.push(1);
    }
    if (limits.tpm !== undefined) {
      if (amountOfTokens > limits.tpm) return { allowed: false, retryAfterMs: Infinity };
      tokenBucket = this.bucket(`{provider:${id}}:tpm`, limits.tpm);
      buckets.push(tokenBucket);
      amounts.push(amountOfTokens);
    }
    if (buckets.length === 0) return { allowed: true, reservation: NO_RESERVATION };
    const decision = await this.decide(buckets, amounts);
    if (decision.kind === 'unavailable') return { allowed: false, retryAfterMs: this.retryPrimaryAfterMs };
    if (!decision.result.allowed) return { allowed: false, retryAfterMs: decision.result.retryAfterMs };
    if (tokenBucket === undefined) return { allowed: true, reservation: NO_RESERVATION };
    return { allowed: true, reservation: this.reservation(decision.store, tokenBucket, amountOfTokens) };
  }

  private bucket(key: string, capacity: number): BucketSpec {
    return { key, capacity, refillPerMs: capacity / this.windowMs };
  }

  private async decide(buckets: BucketSpec[], amounts: number[]): Promise<Decision> {
    const { store, fallback } = this.options;
    if (store === fallback) return { kind: 'decided', result: await store.take(buckets, amounts), store, degraded: false };
    if (this.primaryUsable()) {
      try {
        const result = await store.take(buckets, amounts);
        this.setMode('primary');
        return { kind: 'decided', result, store, degraded: false };
      } catch (_error) {
        // The command may or may not have run on the primary: never re-send it (at-most-once).
        if (this.options.config.failure_mode === 'open') this.primaryFailed();
        else this.notePrimaryReadiness();
      }
    }
    this.setMode('fallback');
    if (this.options.config.failure_mode === 'closed') return { kind: 'unavailable' };
    return { kind: 'decided', result: await fallback.take(buckets, amounts), store: fallback, degraded: true };
  }

  private primaryUsable(): boolean {
    const ready = this.options.isPrimaryReady?.() ?? true;
    if (!ready) {
      this.primaryWasNotReady = true;
      return false;
    }
    if (this.primaryWasNotReady) {
      // The connection came back: try the primary again at once instead of waiting out the backoff.
      this.primaryWasNotReady = false;
      this.primaryRetryAt = -Infinity;
    }
    return this.options.clock.now() >= this.primaryRetryAt;
  }

  private primaryFailed(): void {
    this.primaryRetryAt = this.options.clock.now() + this.retryPrimaryAfterMs;
    this.notePrimaryReadiness();
  }

  /** A dropped connection fails its commands as it goes down: note it, so the reconnect ends the backoff. */
  private notePrimaryReadiness(): void {
    if (!(this.options.isPrimaryReady?.() ?? true)) this.primaryWasNotReady = true;
  }

  private setMode(mode: 'primary' | 'fallback'): void {
    if (this.mode === mode) return;
    this.mode = mode;
    this.options.onModeChange?.(mode);
  }

  private reservation(store: RateLimitStore, bucket: BucketSpec, reserved: number): TokenReservation {
    let done = false;
    const give = async (amount: number): Promise<void> => {
      if (done) return;
      done = true;
      if (amount === 0) return;
      if (store === this.options.store && store !== this.options.fallback && !(this.options.isPrimaryReady?.() ?? true)) return;
      try {
        await store.give([bucket], [amount]);
      } catch (_error) {
        // A lost refund or charge is dropped, not retried: it may have run (at-most-once).
      }
    };
    return {
      settle: (actualTokens: number) => give(reserved - Math.max(0, Math.ceil(Number.isFinite(actualTokens) ? actualTokens : reserved))),
      release: () => give(reserved),
    };
  }
}

/**
 * The OpenAI-style headers: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets as
 * Go-style durations (`"1s"`, `"6m0s"`, `"250ms"`).
 */
export function rateLimitHeaders(info: RateLimitInfo): Record<string, string> {
  return {
    'x-ratelimit-limit-requests': String(info.limitRequests),
    'x-ratelimit-remaining-requests': String(Math.max(0, info.remainingRequests)),
    'x-ratelimit-reset-requests': formatRateLimitDuration(info.resetRequestsMs),
    'x-ratelimit-limit-tokens': String(info.limitTokens),
    'x-ratelimit-remaining-tokens': String(Math.max(0, info.remainingTokens)),
    'x-ratelimit-reset-tokens': formatRateLimitDuration(info.resetTokensMs),
  };
}

/** Formats milliseconds the way OpenAI's reset headers do (Go durations): `"0s"`, `"250ms"`, `"1s"`, `"1m30.5s"`, `"6m0s"`, `"1h0m0s"`. */
export function formatRateLimitDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total === 0) return '0s';
  if (total < 1_000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = `${Number(((total % 60_000) / 1_000).toFixed(3))}s`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${minutes}m${seconds}`;
  return seconds;
}
