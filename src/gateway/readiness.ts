/** What `GET /health/ready` reports: whether requests can be served, and each dependency's state. */
import type { GatewayRuntime } from './build-runtime.js';

/** Readiness of a gateway. Liveness (`/health`) stays green whatever this says. */
export interface Readiness {
  ready: boolean;
  state_backend: 'memory' | 'redis';
  dependencies: Record<string, unknown>;
}

/**
 * Ready when not closing, some provider is neither unhealthy nor behind an open circuit, and — with
 * `rate_limits.failure_mode: closed` — Redis is up (without it every request would be refused).
 * Redis is reported as the connection sees it: up only once it answered and while the watchdog's
 * PINGs are answered, with the mode, every node's last PING and the forced reconnects.
 */
export function readinessOf(runtime: GatewayRuntime, closed: boolean): Readiness {
  const providers = runtime.health.snapshot();
  const ledger = runtime.ledger.health();
  const usable = providers.some((provider) => provider.status !== 'unhealthy' && provider.circuit_state !== 'open');
  const redisDown = runtime.redis !== undefined && !runtime.redis.isReady();
  const refusing = redisDown && runtime.config.rate_limits.failure_mode === 'closed';
  return {
    ready: !closed && usable && !refusing,
    state_backend: runtime.stateBackend,
    dependencies: {
      redis:
        runtime.redis === undefined
          ? { status: 'not used', degraded: false }
          : {
              ...runtime.redis.health(),
              degraded: redisDown,
              ...(redisDown
                ? {
                    effect: refusing
                      ? 'requests are refused with E4405 until Redis returns (rate_limits.failure_mode: closed)'
                      : 'limits, cache, spend and provider state (breakers, cool-downs, health checks) are decided per process until Redis returns',
                  }
                : {}),
            },
      ledger: { ...ledger, degraded: !ledger.healthy },
      providers: Object.fromEntries(
        providers.map((provider) => [
          provider.provider,
          {
            status: provider.status,
            circuit_state: provider.circuit_state,
            degraded: provider.status !== 'healthy' || provider.circuit_state !== 'closed',
            ...(provider.message === undefined ? {} : { message: provider.message }),
          },
        ]),
      ),
    },
  };
}
