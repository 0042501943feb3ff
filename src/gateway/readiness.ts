/** What `GET /health/ready` reports: whether requests can be served, and each dependency's state. */
import type { GatewayRuntime } from './build-runtime.js';

/** Readiness of a gateway. Liveness (`/health`) stays green whatever this says. */
export interface Readiness {
  ready: boolean;
  state_backend: 'memory' | 'redis';
  dependencies: Record<string, unknown>;
}

/** Ready when not closing and some provider is neither unhealthy nor behind an open circuit. */
export function readinessOf(runtime: GatewayRuntime, closed: boolean): Readiness {
  const providers = runtime.health.snapshot();
  const ledger = runtime.ledger.health();
  const redis = runtime.redis === undefined ? { status: 'not used' as const } : { status: runtime.redis.isReady() ? ('up' as const) : ('down' as const) };
  const usable = providers.some((provider) => provider.status !== 'unhealthy' && provider.circuit_state !== 'open');
  return {
    ready: !closed && usable,
    state_backend: runtime.stateBackend,
    dependencies: {
      redis: {
        ...redis,
        degraded: redis.status === 'down',
        ...(redis.status === 'down'
          ? { effect: 'limits, cache and provider state (breakers, cool-downs, health checks) decided per process until Redis returns' }
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
