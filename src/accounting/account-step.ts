/**
 * Chain step, outermost: registers the accounting of the request, which therefore runs after every
 * other step has settled (reservation, cache store) and sees the final outcome — complete, failed,
 * cut or cancelled — whichever step ended it.
 */
import type { Step } from '../pipeline/compose.js';
import type { RequestAccounting } from './request-accounting.js';

/** The account step over `accounting`. */
export function accountStep(accounting: RequestAccounting): Step {
  return {
    name: 'account',
    run: (exchange, next) => {
      exchange.defer((outcome) => accounting.record(exchange, outcome));
      return next();
    },
  };
}
