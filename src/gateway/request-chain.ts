/**
 * The request chain, written once for every request — chat, stream or embeddings, from any face:
 *
 *   validate → account → budget → agent limits → cache → route → execute
 *
 * `validate` (validate-request.ts) builds the exchange every step takes. Each later step is one
 * file in its feature's folder and one line below. What a step does after the request has ended
 * runs in reverse order (see `Exchange.defer`): execute settles the provider slot, agent limits
 * settle the token reservation, the cache stores a complete answer, and account records it last.
 */
import { accountStep } from '../accounting/account-step.js';
import { cacheStep } from '../cache/cache-step.js';
import { agentLimitsStep } from '../limits/agent-limits-step.js';
import { budgetStep } from '../limits/budget-step.js';
import { compose } from '../pipeline/compose.js';
import type { Chain, Step } from '../pipeline/compose.js';
import { executeStep } from '../routing/execute-step.js';
import { routeStep } from '../routing/route-step.js';
import type { GatewayRuntime } from './build-runtime.js';

/** The chain over a runtime's components. */
export function buildRequestChain(runtime: GatewayRuntime): Chain {
  const { accounting, spend, limiter, cache, router, registry, executor, adapters, batcher, clock, metrics } = runtime;
  const steps: Step[] = [
    accountStep(accounting),
    budgetStep(spend),
    agentLimitsStep(limiter),
    ...(cache === undefined ? [] : [cacheStep(cache, { clock, metrics })]),
    routeStep(router, registry),
    executeStep({ executor, adapters, batcher, clock }),
  ];
  return compose(steps);
}
