/**
 * One active health check, bounded on the injected clock. The bound is the monitor's to choose
 * (it follows the provider's observed latency); the adapter is given a little more, so that the
 * monitor's own timer decides whether the check got no answer in time, and the adapter's is only a
 * backstop for a caller that forgets its signal. Never rejects: a throwing adapter is an unhealthy result.
 */
import { ConfigurationError, ProviderError } from '../models/error-codes.js';
import type { ProviderHealth } from '../models/provider-config.js';
import type { ProviderAdapter } from '../providers/base.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { redactSecrets } from '../util/redact.js';

/** How much longer than the monitor's bound the adapter's own bound is, in milliseconds. */
const ADAPTER_GRACE_MS = 250;

/** What one check found: the result, and whether it is a check that got no answer within its bound. */
export interface CheckOutcome {
  health: ProviderHealth;
  timedOut: boolean;
}

/** Options of `runBoundedCheck`. */
export interface BoundedCheckOptions {
  provider: string;
  adapter: ProviderAdapter | undefined;
  expectedModels: string[];
  boundMs: number;
  clock: Clock;
  /** Aborted with this reason by the monitor; the adapter's call is aborted with it. */
  controller: AbortController;
}

/** Runs one check within `boundMs`; see the file comment. */
export async function runBoundedCheck(options: BoundedCheckOptions): Promise<CheckOutcome> {
  const { provider, adapter, boundMs, clock, controller } = options;
  const startedAt = clock.now();
  let timer: TimerHandle | undefined;
  const bound = new Promise<CheckOutcome>((resolve) => {
    timer = clock.setTimer(() => {
      controller.abort(new ProviderError('E4201', `${provider}: health check timed out`));
      resolve({ health: failed(provider, startedAt, boundMs, `no answer to the health check within ${Math.round(boundMs)} ms`), timedOut: true });
    }, boundMs);
  });
  try {
    if (adapter === undefined) throw new ConfigurationError('E4002', `Unknown provider "${provider}"`);
    const checked = Promise.resolve()
      .then(() => adapter.healthCheck({ signal: controller.signal, expectedModels: options.expectedModels, timeoutMs: boundMs + ADAPTER_GRACE_MS }))
      .then((health): CheckOutcome => ({ health, timedOut: false }));
    return await Promise.race([checked, bound]);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { health: failed(provider, startedAt, clock.now() - startedAt, `health check failed: ${redactSecrets(message).slice(0, 300)}`), timedOut: false };
  } finally {
    timer?.cancel();
  }
}

function failed(provider: string, startedAt: number, latencyMs: number, message: string): ProviderHealth {
  return { provider, status: 'unhealthy', checked_at: startedAt, latency_ms: Math.max(0, Math.round(latencyMs)), message };
}
