/**
 * Provider state for one process: the transitions of the `ProviderStateStore` port on plain
 * objects, answered synchronously. It is the whole store with `state.backend: memory`, and the
 * per-process fallback of the Redis store while Redis is down. The Redis store's Lua scripts
 * implement the same transitions (`provider-state-scripts.ts`); one test suite checks both.
 */
import type { ProviderHealth } from '../models/provider-config.js';
import { ANY_GENERATION, CLOSED_RECORD, validatePolicy } from './provider-state-store.js';
import type { BreakerPolicy, CheckClaim, CheckLease, CircuitRecord, ProbeClaim, ProbeOutcome, ProviderStateStore } from './provider-state-store.js';

interface Lease {
  owner: string;
  until: number;
}

/** Provider state in memory, for one process. */
export class MemoryProviderStateStore implements ProviderStateStore {
  readonly shared = false;
  private readonly policy: BreakerPolicy;
  private readonly records = new Map<string, CircuitRecord>();
  private readonly leases = new Map<string, Lease>();
  private readonly checks = new Map<string, ProviderHealth>();

  /** Throws a `RangeError` naming the option and the value it received when a policy value is invalid. */
  constructor(policy: BreakerPolicy) {
    validatePolicy(policy);
    this.policy = policy;
  }

  read(provider: string): CircuitRecord {
    return this.records.get(provider) ?? CLOSED_RECORD;
  }

  recordFailure(provider: string, generation: number, now: number): CircuitRecord {
    const record = this.read(provider);
    if (record.state !== 'closed' || (generation !== ANY_GENERATION && record.generation !== generation)) return record;
    const failures = record.failures + 1;
    if (failures < this.policy.failureThreshold) return this.write(provider, { ...record, failures });
    return this.write(provider, this.opened(record, now));
  }

  recordSuccess(provider: string, generation: number): CircuitRecord {
    const record = this.read(provider);
    if (record.state !== 'closed' || (generation !== ANY_GENERATION && record.generation !== generation) || record.failures === 0) return record;
    return this.write(provider, { ...record, failures: 0 });
  }

  claimProbe(provider: string, owner: string, now: number): ProbeClaim {
    const record = this.read(provider);
    if (record.state !== 'open' || now < record.halfOpenAt || (record.probe !== undefined && record.probe.until > now)) return { granted: false, record };
    return { granted: true, record: this.write(provider, { ...record, probe: { owner, until: now + this.policy.probeTimeoutMs } }) };
  }

  settleProbe(provider: string, owner: string, outcome: ProbeOutcome, now: number): CircuitRecord {
    const record = this.read(provider);
    if (record.state !== 'open' || record.probe?.owner !== owner) return record;
    switch (outcome) {
      case 'success':
        return this.write(provider, { state: 'closed', generation: record.generation + 1, failures: 0, coolUntil: record.coolUntil });
      case 'failure':
        return this.write(provider, this.opened(record, now));
      case 'release':
        return this.write(provider, { ...record, probe: undefined });
      default: {
        const unknown: never = outcome;
        throw new RangeError(`Unknown probe outcome ${String(unknown)}`);
      }
    }
  }

  halfOpenBy(provider: string, generation: number, at: number): CircuitRecord {
    const record = this.read(provider);
    if (record.state !== 'open' || record.generation !== generation || at >= record.halfOpenAt) return record;
    return this.write(provider, { ...record, halfOpenAt: at });
  }

  coolDown(provider: string, until: number): CircuitRecord {
    const record = this.read(provider);
    return until > record.coolUntil ? this.write(provider, { ...record, coolUntil: until }) : record;
  }

  claimCheck(provider: string, lease: CheckLease, owner: string, now: number, leaseMs: number): CheckClaim {
    const key = `${provider}\u0000${lease}`;
    const held = this.leases.get(key);
    const last = this.checks.get(provider);
    if (held !== undefined && held.until > now && held.owner !== owner) return { claimed: false, last };
    this.leases.set(key, { owner, until: now + leaseMs });
    return { claimed: true, last };
  }

  saveCheck(provider: string, health: ProviderHealth): void {
    this.checks.set(provider, health);
  }

  private opened(record: CircuitRecord, now: number): CircuitRecord {
    return {
      state: 'open',
      generation: record.generation + 1,
      openedAt: now,
      halfOpenAt: now + this.policy.cooldownMs,
      probe: undefined,
      coolUntil: record.coolUntil,
    };
  }

  private write(provider: string, record: CircuitRecord): CircuitRecord {
    this.records.set(provider, record);
    return record;
  }
}
