/**
 * Chain step: the semantic cache. The lookup has no effect of its own, so it starts as soon as the
 * request is validated (its round trip overlaps the rate-limit check) and is used, and counted,
 * only once the request has been admitted. A hit answers at once; on a miss the complete answer is
 * stored once the request has ended well (never an error, a cut stream or a cache hit).
 * Embedding requests pass through untouched.
 */
import type { GatewayMetrics } from '../observability/metrics.js';
import { withSpan } from '../observability/tracing.js';
import type { Exchange } from '../pipeline/exchange.js';
import { cachedResponse } from '../pipeline/responses.js';
import type { Step } from '../pipeline/compose.js';
import type { Clock } from '../util/clock.js';
import type { CacheLookup, SemanticCache } from './semantic-cache.js';

/** The cache step over `cache`. */
export function cacheStep(cache: SemanticCache, options: { clock: Clock; metrics: GatewayMetrics }): Step {
  const lookups = new WeakMap<Exchange, Promise<CacheLookup>>();
  return {
    name: 'cache',
    prefetch: (exchange) => {
      if (exchange.operation !== 'chat') return;
      const { caller } = exchange;
      // Never rejects: a failing store or embedder is a `reason: 'error'` miss.
      lookups.set(
        exchange,
        withSpan('l04.cache.lookup', {}, () => cache.lookup(exchange.request, { tenant: caller.tenant, agent: caller.agent_did })),
      );
    },
    run: async (exchange, next) => {
      const pending = lookups.get(exchange);
      if (pending === undefined) return next();
      const lookup = await pending;
      options.metrics.cacheLookup(lookup.hit === false ? (lookup.reason === 'miss' ? 'miss' : lookup.reason) : lookup.hit);
      if (lookup.hit !== false) {
        exchange.cache = lookup.hit;
        exchange.similarity = lookup.similarity;
        return { type: 'response', response: cachedResponse(lookup.response, exchange, options.clock.now()) };
      }
      exchange.cache = lookup.reason === 'miss' ? 'miss' : 'bypass';
      const { miss } = lookup;
      exchange.defer((outcome) => {
        if (outcome.status === 'ok' && outcome.response !== undefined && !outcome.response.cached) void cache.store(miss, outcome.response);
      });
      return next();
    },
  };
}
