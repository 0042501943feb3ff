/** Who may share a cache entry: one tenant (default), one agent of a tenant, or everyone. */
import type { CacheConfig } from '../../config/config-schema.js';

/** The caller a cache lookup is made for; set by authentication, never by the request body. */
export interface CacheScope {
  tenant: string;
  agent: string;
}

/** `cache.scope` from the configuration. */
export type CacheScopeMode = CacheConfig['scope'];

/**
 * The scope part of every cache key. `tenant` and `agent` keys are injective (JSON-encoded parts),
 * so no choice of tenant or agent names can collide with another's.
 */
export function scopeKey(scope: CacheScope, mode: CacheScopeMode): string {
  switch (mode) {
    case 'tenant':
      return `t:${JSON.stringify(scope.tenant)}`;
    case 'agent':
      return `a:${JSON.stringify([scope.tenant, scope.agent])}`;
    case 'global':
      return 'g';
    default: {
      const unreachable: never = mode;
      throw new Error(`unknown cache scope ${String(unreachable)}`);
    }
  }
}
