/**
 * Chain step: the daily spend budget of the caller's API key (E4403). Keys without a budget cost
 * nothing here. The check is a read, so it starts when the request is validated and overlaps the
 * steps before it.
 */
import type { Exchange } from '../pipeline/exchange.js';
import type { Step } from '../pipeline/compose.js';
import type { SpendTracker } from './spend-tracker.js';

/** The budget step over `spend`. */
export function budgetStep(spend: SpendTracker): Step {
  const checks = new WeakMap<Exchange, Promise<void>>();
  return {
    name: 'budget',
    prefetch: (exchange) => {
      if (exchange.caller.daily_budget_cents === undefined) return;
      const check = spend.check(exchange.caller);
      // Collected by `run`; until then a refusal must not count as an unhandled rejection.
      check.catch(() => undefined);
      checks.set(exchange, check);
    },
    // Without a budget there is nothing to wait for: no extra turn of the microtask queue.
    run: (exchange, next) => {
      const check = checks.get(exchange);
      return check === undefined ? next() : check.then(next);
    },
  };
}
