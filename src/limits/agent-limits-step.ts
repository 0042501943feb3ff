/**
 * Chain step: the agent's request and token rates (E4400, E4401; E4405 when the limiter is down and
 * fails closed). Admission reserves one request and the token estimate; once the request has ended
 * the reservation is settled to the tokens a provider actually spent (a cut stream included), or
 * given back when none was spent (cache hits, failures before any provider answered).
 */
import type { Step } from '../pipeline/compose.js';
import { withSpan } from '../observability/tracing.js';
import type { RateLimiter } from './rate-limiter.js';

/** The agent-limits step over `limiter`. */
export function agentLimitsStep(limiter: RateLimiter): Step {
  return {
    name: 'agent-limits',
    run: async (exchange, next) => {
      const { caller } = exchange;
      const admission = await withSpan('l04.rate_limit', {}, () =>
        limiter.admitAgent(caller.agent_did, exchange.estimatedTokens, { rpm: caller.rpm, tpm: caller.tpm }),
      );
      if (!admission.allowed) throw admission.error;
      exchange.rateLimit = admission.info;
      const { reservation } = admission;
      // Both run off the response path and never throw.
      exchange.defer((outcome) => void (outcome.usage === undefined ? reservation.release() : reservation.settle(outcome.usage.total_tokens)));
      return next();
    },
  };
}
