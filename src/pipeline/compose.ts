/**
 * The request chain's one step signature, and `compose`, which joins steps into one function.
 *
 * A step is middleware in the manner of hono's `compose` or the AI SDK's `wrapLanguageModel`: it
 * receives the exchange and `next`, does its part, and either answers itself (a cache hit), throws
 * (a refusal), or calls `next()` and returns what it returns. What a step must do after the request
 * has ended (settle a reservation, store an answer, account) it registers with `exchange.defer`, so
 * that it happens at the true end of a stream too, not when the stream's first event is sent.
 */
import { InternalError, toGatewayError } from '../models/error-codes.js';
import type { Exchange } from './exchange.js';
import { completedOutcome, failedOutcome } from './reply.js';
import type { Reply } from './reply.js';

/** Calls the rest of the chain. */
export type Next = () => Promise<Reply>;

/** One step of the request chain. */
export interface Step {
  /** Short name, for docs and errors (`agent-limits`, `cache`). */
  readonly name: string;
  /**
   * Optional: starts work without side effects (a read) as soon as the request is validated, so
   * that its round trip overlaps the steps before this one. `run` collects the result.
   */
  readonly prefetch?: (exchange: Exchange) => void;
  readonly run: (exchange: Exchange, next: Next) => Promise<Reply>;
}

/**
 * A composed chain: runs every prefetch, then the steps in order. A thrown error or a complete
 * reply settles the exchange before the chain returns; a stream reply settles at its own end.
 * Errors reach the caller as `GatewayError`s.
 */
export type Chain = (exchange: Exchange) => Promise<Reply>;

/** Joins `steps` into one chain. The last step must answer without calling `next`. */
export function compose(steps: readonly Step[]): Chain {
  const prefetching = steps.filter((step) => step.prefetch !== undefined);
  const dispatch = (index: number, exchange: Exchange): Promise<Reply> => {
    const step = steps[index];
    if (step === undefined) return Promise.reject(new InternalError('E4900', 'The request chain ended without an answer'));
    return step.run(exchange, () => dispatch(index + 1, exchange));
  };
  return async (exchange) => {
    let reply: Reply;
    try {
      for (const step of prefetching) step.prefetch?.(exchange);
      reply = await dispatch(0, exchange);
    } catch (error) {
      const gatewayError = toGatewayError(error);
      exchange.settle(failedOutcome(exchange, gatewayError));
      throw gatewayError;
    }
    if (reply.type !== 'stream') exchange.settle(completedOutcome(reply, exchange));
    return reply;
  };
}
