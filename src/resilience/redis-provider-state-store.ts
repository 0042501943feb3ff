/**
 * Provider state shared by every gateway instance on one Redis: each transition is one Lua script
 * (`provider-state-scripts.ts`), a read is one HMGET, a check result one SET. Keys:
 * `<prefix>{breaker:<provider>}` (a hash: the circuit and the cool-down) and
 * `<prefix>{health:<provider>}:lease:<periodic|recovery>`, `…:check` (the last result, JSON).
 *
 * Every operation rejects at once when the connection is not ready, and when the node stays silent
 * past the command timeout (the connection withdraws a command it gave up on); nothing is retried
 * (a script that timed out may have run, and counting a failure twice would open a circuit early).
 * The breaker decides by itself, per process, whenever this rejects.
 */
import { z } from 'zod';
import type { ProviderHealth } from '../models/provider-config.js';
import type { RedisConnection } from '../state/redis-connection.js';
import type { RedisScript } from '../state/redis-script.js';
import {
  CLAIM_CHECK_SCRIPT,
  CLAIM_PROBE_SCRIPT,
  COOL_DOWN_SCRIPT,
  HALF_OPEN_BY_SCRIPT,
  RECORD_FAILURE_SCRIPT,
  RECORD_SUCCESS_SCRIPT,
  SETTLE_PROBE_SCRIPT,
} from './provider-state-scripts.js';
import { CLOSED_RECORD, validatePolicy } from './provider-state-store.js';
import type { BreakerPolicy, CheckClaim, CheckLease, CircuitRecord, ProbeClaim, ProbeOutcome, ProviderStateStore } from './provider-state-store.js';

/** Options of a `RedisProviderStateStore`. */
export interface RedisProviderStateStoreOptions {
  connection: RedisConnection;
  policy: BreakerPolicy;
  /** Bound on one operation, in milliseconds; default the connection's (`state.command_timeout_ms`). */
  commandTimeoutMs?: number;
}

/** How long a circuit's hash outlives its last write: it only collects providers no longer configured. */
const RECORD_TTL_MS = 24 * 60 * 60 * 1000;

const FIELDS = ['st', 'gen', 'fail', 'opened', 'half', 'powner', 'puntil', 'cool'];

/** A check result written by another instance is parsed like any input from outside the process. */
const ProviderHealthSchema = z.object({
  provider: z.string(),
  status: z.enum(['healthy', 'degraded', 'unhealthy']),
  checked_at: z.number(),
  latency_ms: z.number().optional(),
  message: z.string().optional(),
  version: z.string().optional(),
  models: z.record(z.string(), z.boolean()).optional(),
  hints: z.array(z.string()).optional(),
});

/** Provider state in Redis, shared by the fleet. */
export class RedisProviderStateStore implements ProviderStateStore {
  readonly shared = true;
  private readonly connection: RedisConnection;
  private readonly policy: BreakerPolicy;
  private readonly commandTimeoutMs: number;
  private readonly recordTtlMs: string;

  /** Throws a `RangeError` naming the option and the value it received when a policy value is invalid. */
  constructor(options: RedisProviderStateStoreOptions) {
    validatePolicy(options.policy);
    this.connection = options.connection;
    this.connection.registerScripts(
      RECORD_FAILURE_SCRIPT,
      RECORD_SUCCESS_SCRIPT,
      CLAIM_PROBE_SCRIPT,
      SETTLE_PROBE_SCRIPT,
      HALF_OPEN_BY_SCRIPT,
      COOL_DOWN_SCRIPT,
      CLAIM_CHECK_SCRIPT,
    );
    this.policy = options.policy;
    this.commandTimeoutMs = options.commandTimeoutMs ?? options.connection.commandTimeoutMs;
    this.recordTtlMs = String(Math.max(RECORD_TTL_MS, 2 * (options.policy.cooldownMs + options.policy.probeTimeoutMs)));
  }

  /** The Redis key of a provider's circuit. */
  circuitKey(provider: string): string {
    return `${this.connection.keyPrefix}{breaker:${provider}}`;
  }

  async read(provider: string): Promise<CircuitRecord> {
    const key = this.circuitKey(provider);
    const reply = await this.connection.call(key, ['HMGET', key, ...FIELDS], { timeoutMs: this.commandTimeoutMs });
    const values = Array.isArray(reply) ? (reply as unknown[]) : [];
    if (values[0] === null || values[0] === undefined) return CLOSED_RECORD;
    return parseRecord([...values.map((value) => (typeof value === 'string' ? value : '')), '0']).record;
  }

  async recordFailure(provider: string, generation: number, now: number): Promise<CircuitRecord> {
    const args = [generation, now, this.policy.failureThreshold, this.policy.cooldownMs, this.recordTtlMs];
    return (await this.circuit(RECORD_FAILURE_SCRIPT, provider, args)).record;
  }

  async recordSuccess(provider: string, generation: number): Promise<CircuitRecord> {
    return (await this.circuit(RECORD_SUCCESS_SCRIPT, provider, [generation, this.recordTtlMs])).record;
  }

  async claimProbe(provider: string, owner: string, now: number): Promise<ProbeClaim> {
    return this.circuit(CLAIM_PROBE_SCRIPT, provider, [owner, now, this.policy.probeTimeoutMs, this.recordTtlMs]);
  }

  async settleProbe(provider: string, owner: string, outcome: ProbeOutcome, now: number): Promise<CircuitRecord> {
    return (await this.circuit(SETTLE_PROBE_SCRIPT, provider, [owner, outcome, now, this.policy.cooldownMs, this.recordTtlMs])).record;
  }

  async halfOpenBy(provider: string, generation: number, at: number): Promise<CircuitRecord> {
    return (await this.circuit(HALF_OPEN_BY_SCRIPT, provider, [generation, at, this.recordTtlMs])).record;
  }

  async coolDown(provider: string, until: number): Promise<CircuitRecord> {
    return (await this.circuit(COOL_DOWN_SCRIPT, provider, [until, this.recordTtlMs])).record;
  }

  async claimCheck(provider: string, lease: CheckLease, owner: string, now: number, leaseMs: number): Promise<CheckClaim> {
    const base = `${this.connection.keyPrefix}{health:${provider}}`;
    const reply = await this.run(CLAIM_CHECK_SCRIPT, [`${base}:lease:${lease}`, `${base}:check`], [owner, String(now), String(Math.ceil(leaseMs))]);
    if (!Array.isArray(reply) || reply.length !== 2 || typeof reply[1] !== 'string') throw new Error('Unexpected reply from the check-lease script');
    return { claimed: reply[0] === '1', last: parseHealth(reply[1]) };
  }

  async saveCheck(provider: string, health: ProviderHealth, keepMs: number): Promise<void> {
    const key = `${this.connection.keyPrefix}{health:${provider}}:check`;
    await this.connection.call(key, ['SET', key, JSON.stringify(health), 'PX', String(Math.max(1, Math.ceil(keepMs)))], { timeoutMs: this.commandTimeoutMs });
  }

  private async circuit(script: RedisScript, provider: string, args: Array<string | number>): Promise<ProbeClaim> {
    return parseRecord(await this.run(script, [this.circuitKey(provider)], args.map(String)));
  }

  private run(script: RedisScript, keys: string[], args: string[]): Promise<unknown> {
    return this.connection.eval(script, keys, args, { timeoutMs: this.commandTimeoutMs });
  }
}

/** Parses a circuit script's answer (or a read padded with `granted`). */
function parseRecord(reply: unknown): ProbeClaim {
  if (!Array.isArray(reply) || reply.length !== 9 || !reply.every((value) => typeof value === 'string')) {
    throw new Error('Unexpected reply from a circuit script');
  }
  const [state, generation, failures, openedAt, halfOpenAt, owner, until, coolUntil, granted] = reply as string[];
  const number = (value: string | undefined): number => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed)) throw new Error(`Unexpected number in a circuit record: ${String(value)}`);
    return parsed;
  };
  const record: CircuitRecord =
    state === 'open'
      ? {
          state: 'open',
          generation: number(generation),
          openedAt: number(openedAt),
          halfOpenAt: number(halfOpenAt),
          probe: owner === undefined || owner === '' ? undefined : { owner, until: number(until) },
          coolUntil: number(coolUntil),
        }
      : { state: 'closed', generation: number(generation), failures: number(failures), coolUntil: number(coolUntil) };
  return { granted: granted === '1', record };
}

function parseHealth(raw: string): ProviderHealth | undefined {
  if (raw === '') return undefined;
  try {
    const parsed = ProviderHealthSchema.safeParse(JSON.parse(raw));
    return parsed.success ? (parsed.data as ProviderHealth) : undefined;
  } catch {
    return undefined;
  }
}
