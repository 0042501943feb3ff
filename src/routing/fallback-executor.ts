/**
 * Executes a routing decision: each candidate in order, each at most once, at most `maxAttempts`
 * attempts, all inside the request's deadline. Every attempt passes the provider's circuit breaker
 * and then its queue (concurrency drain and provider quota); retryable failures move on to the next
 * candidate, others end the request at once. Streams commit late: an attempt is only returned to
 * the caller once its first content has arrived, so a provider that fails before its first token is
 * replaced without the client seeing anything.
 */
import { abortedBy, CancelledError, DeadlineError, GatewayError, RoutingError, toGatewayError } from '../models/error-codes.js';
import type { Priority } from '../models/inference-request.js';
import type { AttemptRecord } from '../models/inference-response.js';
import type { RegisteredModel } from '../models/model-config.js';
import type { StreamPart } from '../providers/base.js';
import type { Clock } from '../util/clock.js';
import { eitherAborted } from '../util/light-abort.js';
import { withSpan } from '../observability/tracing.js';
import type { CircuitBreakerRegistry, CircuitPermit } from '../resilience/circuit-breaker.js';
import type { QueueTicket, RequestQueue } from '../resilience/request-queue.js';

/** What every attempt of one request shares. */
export interface AttemptPlan {
  priority: Priority;
  /** The caller's hard deadline, epoch milliseconds (none: the queue and provider timeouts bound the attempts). */
  deadlineAt: number | undefined;
  /** Epoch milliseconds past which a provider's quota is not waited for (the caller's latency preference): fall back instead. */
  quotaWaitUntil?: number;
  /** Estimated tokens, charged against the provider's tpm by its queue. */
  tokens: number;
  /** The request's signal: caller disconnect and deadline. */
  signal: AbortSignal;
  /** Where every attempt (made or skipped) is recorded, in order. */
  attempts: AttemptRecord[];
}

/** Live-traffic signals reported to the health monitor. */
export interface AttemptObserver {
  recordSuccess(provider: string, modelId: string, latencyMs: number): void;
  recordFailure(provider: string, modelId: string, error: unknown): void;
}

/** Options of a `FallbackExecutor`. */
export interface FallbackExecutorOptions {
  breakers: CircuitBreakerRegistry;
  queueFor: (provider: string) => RequestQueue;
  observer: AttemptObserver;
  maxAttempts: number;
  clock: Clock;
}

/** A successful non-streamed execution. */
export interface CompletedExecution<T> {
  value: T;
  model: RegisteredModel;
  /** Time spent waiting on providers (all attempts), in milliseconds. */
  providerMs: number;
}

/** A stream that has produced its first content; the caller reads the rest and then settles it. */
export interface CommittedStream {
  model: RegisteredModel;
  /** The parts read before commit (at least one content or finish part). */
  head: StreamPart[];
  /** The rest of the provider's parts. */
  rest: AsyncIterator<StreamPart>;
  /** Epoch milliseconds of the commit. */
  committedAt: number;
  /** Time spent waiting on providers before commit, in milliseconds. */
  providerMs: number;
  /**
   * Reports how the stream ended — `undefined` finished, `'cancelled'` the caller stopped reading,
   * else the error that cut it — with the tokens the provider spent on it, and frees the slot.
   */
  settle(error: GatewayError | 'cancelled' | undefined, usedTokens: number): void;
}

interface AttemptSlot {
  permit: Extract<CircuitPermit, { allowed: true }>;
  ticket: QueueTicket;
  signal: AbortSignal;
  startedAt: number;
}

/** Runs attempts over the candidates of a routing decision. */
export class FallbackExecutor {
  private readonly options: FallbackExecutorOptions;

  constructor(options: FallbackExecutorOptions) {
    this.options = options;
  }

  /** Runs `call` on the first candidate that succeeds. `tokensOf` tells the tokens an answer spent (default: the plan's estimate). */
  async complete<T>(
    candidates: readonly RegisteredModel[],
    plan: AttemptPlan,
    call: (model: RegisteredModel, signal: AbortSignal) => Promise<T>,
    tokensOf?: (value: T) => number,
  ): Promise<CompletedExecution<T>> {
    const failures: GatewayError[] = [];
    let providerMs = 0;
    for (const model of this.eligible(candidates, plan.attempts)) {
      const slot = await this.acquire(model, plan, failures);
      if (slot === undefined) continue;
      try {
        const value = await call(model, slot.signal);
        const latencyMs = this.options.clock.now() - slot.startedAt;
        providerMs += latencyMs;
        void slot.ticket.reservation?.settle(tokensOf === undefined ? plan.tokens : tokensOf(value));
        this.succeed(model, slot, latencyMs, plan.attempts);
        return { value, model, providerMs };
      } catch (error) {
        providerMs += this.options.clock.now() - slot.startedAt;
        void slot.ticket.reservation?.release();
        this.fail(model, slot, error, failures, plan);
      } finally {
        slot.ticket.release();
      }
    }
    throw exhausted(plan.attempts, failures);
  }

  /** Opens the stream of the first candidate whose first content arrives. */
  async stream(
    candidates: readonly RegisteredModel[],
    plan: AttemptPlan,
    open: (model: RegisteredModel, signal: AbortSignal) => AsyncIterable<StreamPart>,
  ): Promise<CommittedStream> {
    const failures: GatewayError[] = [];
    let providerMs = 0;
    for (const model of this.eligible(candidates, plan.attempts)) {
      const slot = await this.acquire(model, plan, failures);
      if (slot === undefined) continue;
      const iterator = open(model, slot.signal)[Symbol.asyncIterator]();
      try {
        const head = await readUntilContent(iterator);
        providerMs += this.options.clock.now() - slot.startedAt;
        return this.commit(model, slot, iterator, head, plan, providerMs);
      } catch (error) {
        providerMs += this.options.clock.now() - slot.startedAt;
        void iterator.return?.();
        slot.ticket.release();
        void slot.ticket.reservation?.release();
        this.fail(model, slot, error, failures, plan);
      }
    }
    throw exhausted(plan.attempts, failures);
  }

  private commit(
    model: RegisteredModel,
    slot: AttemptSlot,
    rest: AsyncIterator<StreamPart>,
    head: StreamPart[],
    plan: AttemptPlan,
    providerMs: number,
  ): CommittedStream {
    let settled = false;
    return {
      model,
      head,
      rest,
      committedAt: this.options.clock.now(),
      providerMs,
      settle: (error, usedTokens) => {
        if (settled) return;
        settled = true;
        slot.ticket.release();
        void slot.ticket.reservation?.settle(usedTokens);
        const latencyMs = this.options.clock.now() - slot.startedAt;
        if (error === undefined) this.succeed(model, slot, latencyMs, plan.attempts);
        else if (error === 'cancelled') {
          slot.permit.release();
          plan.attempts.push(attemptRecord(model, 'error', latencyMs, new CancelledError('E4507', 'The caller stopped reading the stream')));
        } else {
          this.report(model, slot, error, plan);
          plan.attempts.push(attemptRecord(model, 'error', latencyMs, error));
        }
      },
    };
  }

  /**
   * Candidates in order, each model once, until `maxAttempts` of them have reached a provider
   * (candidates skipped by an open circuit or a full queue do not use up an attempt).
   */
  private *eligible(candidates: readonly RegisteredModel[], attempts: AttemptRecord[]): Generator<RegisteredModel> {
    const seen = new Set<string>();
    for (const model of candidates) {
      if (attempts.filter((attempt) => attempt.outcome !== 'skipped').length >= this.options.maxAttempts) return;
      if (seen.has(model.id)) continue;
      seen.add(model.id);
      yield model;
    }
  }

  /**
   * Checks the breaker, waits in the queue, then takes the breaker's permit. The permit is taken at
   * dispatch, not before the wait: a circuit that opened (or a cool-down that began) while the
   * request was queued is honoured, and a half-open probe's timer never runs in the queue.
   * `undefined`: skip this candidate (recorded).
   */
  private async acquire(model: RegisteredModel, plan: AttemptPlan, failures: GatewayError[]): Promise<AttemptSlot | undefined> {
    if (plan.signal.aborted) throw abortedBy(plan.signal);
    const breaker = this.options.breakers.get(model.provider);
    const refusal = breaker.refusal();
    if (refusal !== undefined) return skip(model, refusal, failures, plan.attempts);
    let ticket: QueueTicket;
    try {
      const queue = this.options.queueFor(model.provider);
      ticket = await withSpan('l04.queue', { 'l04.provider': model.provider, 'l04.priority': plan.priority }, () =>
        queue.acquire({ priority: plan.priority, deadlineAt: plan.deadlineAt, quotaWaitUntil: plan.quotaWaitUntil, tokens: plan.tokens, signal: plan.signal }),
      );
    } catch (error) {
      const gatewayError = toGatewayError(error);
      // A full queue or an exhausted provider quota is a reason to fall back; a passed deadline or a cancelled caller is not.
      if (gatewayError.code !== 'E4404' && gatewayError.code !== 'E4402') throw gatewayError;
      return skip(model, gatewayError, failures, plan.attempts);
    }
    const acquired = breaker.tryAcquire();
    const permit = acquired instanceof Promise ? await acquired : acquired;
    if (!permit.allowed) {
      ticket.release();
      void ticket.reservation?.release();
      return skip(model, permit.error, failures, plan.attempts);
    }
    // Only a half-open probe carries a signal of its own (its timeout); others share the request's.
    const signal = permit.probe ? eitherAborted(plan.signal, permit.signal) : plan.signal;
    return { permit, ticket, signal, startedAt: this.options.clock.now() };
  }

  private succeed(model: RegisteredModel, slot: AttemptSlot, latencyMs: number, attempts: AttemptRecord[]): void {
    slot.permit.success();
    this.options.observer.recordSuccess(model.provider, model.id, latencyMs);
    attempts.push(attemptRecord(model, 'success', latencyMs));
  }

  /** Records a failed attempt; rethrows when the failure must end the request. */
  private fail(model: RegisteredModel, slot: AttemptSlot, error: unknown, failures: GatewayError[], plan: AttemptPlan): void {
    const gatewayError = toGatewayError(error);
    failures.push(gatewayError);
    this.report(model, slot, gatewayError, plan);
    plan.attempts.push(attemptRecord(model, 'error', this.options.clock.now() - slot.startedAt, gatewayError));
    if (plan.signal.aborted) throw withAttempts(abortedBy(plan.signal), plan.attempts);
    if (this.deadlinePassed(plan)) throw withAttempts(new DeadlineError('E4510'), plan.attempts);
    if (!gatewayError.retryable) throw withAttempts(gatewayError, plan.attempts);
  }

  /**
   * Tells the breaker and the health monitor about a failed attempt. When the request's own signal
   * ended it (the caller left, or its deadline passed) the provider is not to blame: the permit is
   * released and nothing is counted. The deadline is also checked on the clock, because a provider
   * timer that fires in the same instant as the deadline may win the race with the request's signal.
   */
  private report(model: RegisteredModel, slot: AttemptSlot, error: GatewayError, plan: AttemptPlan): void {
    if (plan.signal.aborted || this.deadlinePassed(plan)) {
      slot.permit.release();
      return;
    }
    slot.permit.failure(error); // the breaker counts only provider faults (countsAsFailure)
    this.options.observer.recordFailure(model.provider, model.id, error);
  }

  /** Whether the caller's hard deadline, if it set one, has passed. */
  private deadlinePassed(plan: AttemptPlan): boolean {
    return plan.deadlineAt !== undefined && this.options.clock.now() >= plan.deadlineAt;
  }
}

/** Records a candidate skipped without reaching its provider; always `undefined`. */
function skip(model: RegisteredModel, error: GatewayError, failures: GatewayError[], attempts: AttemptRecord[]): undefined {
  failures.push(error);
  attempts.push(attemptRecord(model, 'skipped', 0, error));
  return undefined;
}

function attemptRecord(model: RegisteredModel, outcome: AttemptRecord['outcome'], latencyMs: number, error?: GatewayError): AttemptRecord {
  return {
    model_id: model.id,
    provider: model.provider,
    outcome,
    ...(error === undefined ? {} : { code: error.code, message: error.message }),
    latency_ms: latencyMs,
  };
}

/**
 * The error of a request whose every candidate failed or was skipped: the one failure itself when
 * there was one (so its code, Retry-After and headers reach the caller), else E4103 listing them.
 */
function exhausted(attempts: AttemptRecord[], failures: GatewayError[]): GatewayError {
  const only = failures[0];
  if (failures.length === 1 && only !== undefined) return withAttempts(only, attempts);
  if (failures.length === 0) return new RoutingError('E4101', 'No candidate model could be attempted', { details: { attempts } });
  const refusal = failures[0]?.code;
  if ((refusal === 'E4700' || refusal === 'E4701') && failures.every((failure) => failure.code === refusal)) {
    const retryAfterMs = Math.min(...failures.map((failure) => failure.retryAfterMs ?? 0));
    const what = refusal === 'E4700' ? 'The circuit is open' : 'A cool-down is running';
    return new GatewayError(refusal, `${what} for ${attempts.map((attempt) => attempt.provider).join(', ')}`, { details: { attempts }, retryAfterMs });
  }
  const summary = attempts.map((attempt) => `${attempt.model_id}: ${attempt.code ?? attempt.outcome}`).join(', ');
  return new RoutingError('E4103', `Every attempt failed (${summary})`, { details: { attempts } });
}

/** Records the attempts on an error that ends the request, so that callers of the native API see them. */
function withAttempts(error: GatewayError, attempts: AttemptRecord[]): GatewayError {
  error.details.attempts ??= [...attempts];
  return error;
}

/** Reads parts until the first content (text, tool call or finish); an error part throws. */
async function readUntilContent(iterator: AsyncIterator<StreamPart>): Promise<StreamPart[]> {
  const head: StreamPart[] = [];
  for (;;) {
    const next = await iterator.next();
    if (next.done === true) throw new GatewayError('E4208', 'The provider stream ended before any content');
    const part = next.value;
    if (part.type === 'error') throw part.error;
    head.push(part);
    if (part.type === 'finish' || part.type === 'tool-call-delta' || (part.type === 'text-delta' && part.text !== '')) return head;
  }
}
