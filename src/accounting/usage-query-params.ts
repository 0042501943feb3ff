/**
 * Usage queries from text: the query string of `GET /v1/usage` and the flags of
 * `l04-gateway usage` go through this one parser, so both accept the same times and report the
 * same errors (E4500 whose `param` names the parameter).
 *
 * Times: ISO 8601 (`2026-11-27`, `2026-11-27T10:00:00Z`), epoch milliseconds, `today` (00:00 UTC),
 * or a span back from now (`15m`, `24h`, `7d`). `since` defaults to the start of today (UTC).
 */
import { z } from 'zod';
import { ValidationError } from '../models/error-codes.js';
import { parseOrThrow } from '../models/validation.js';
import type { UsageQuery } from './usage-ledger.js';
import { USAGE_GROUP_BY, USAGE_GROUP_LIMIT } from './usage-ledger.js';
import { isUsageTimestamp } from './usage-migrations.js';

const DAY_MS = 86_400_000;
const SPAN_MS = { m: 60_000, h: 3_600_000, d: DAY_MS } as const;
// Date.parse alone accepts '-1' (year 2001), 'May 5' and other engine-specific shapes.
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const SPAN = /^(\d{1,6})([mhd])$/;

const ParamsSchema = z.object({
  agent: z.string().min(1).max(512).optional(),
  tenant: z.string().min(1).max(256).optional(),
  since: z.string().min(1).max(64).optional(),
  until: z.string().min(1).max(64).optional(),
  group_by: z.enum(USAGE_GROUP_BY, { error: `must be one of ${USAGE_GROUP_BY.join(', ')}` }).optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1').max(USAGE_GROUP_LIMIT.max, `must be at most ${USAGE_GROUP_LIMIT.max}`))
    .optional(),
});

/** The parameters a usage query accepts. */
export const USAGE_QUERY_PARAMS = Object.keys(ParamsSchema.shape) as ReadonlyArray<keyof typeof ParamsSchema.shape>;

/** 00:00 UTC of the day of `epochMs`. */
export function startOfUtcDay(epochMs: number): number {
  return Math.floor(epochMs / DAY_MS) * DAY_MS;
}

/**
 * Parses usage query parameters (each given once) into a `UsageQuery`; `now` is epoch
 * milliseconds. Throws E4500 naming the parameter: unknown or repeated, malformed, `since` not
 * before `until`.
 */
export function parseUsageQuery(params: Iterable<readonly [string, string]>, now: number): UsageQuery {
  const seen: Record<string, string> = {};
  for (const [name, value] of params) {
    if (!(USAGE_QUERY_PARAMS as readonly string[]).includes(name)) {
      throw invalid(name.slice(0, 64), `is not a parameter; use ${USAGE_QUERY_PARAMS.join(', ')}`);
    }
    if (name in seen) throw invalid(name, 'must be given once');
    seen[name] = value;
  }
  const parsed = parseOrThrow(ParamsSchema, seen);
  const since = parsed.since === undefined ? startOfUtcDay(now) : parseUsageTime(parsed.since, 'since', now);
  const until = parsed.until === undefined ? undefined : parseUsageTime(parsed.until, 'until', now);
  if (until !== undefined && until <= since) throw invalid('until', 'must be later than since');
  const query: UsageQuery = { since };
  if (until !== undefined) query.until = until;
  if (parsed.agent !== undefined) query.agent = parsed.agent;
  if (parsed.tenant !== undefined) query.tenant = parsed.tenant;
  if (parsed.group_by !== undefined) query.group_by = parsed.group_by;
  if (parsed.limit !== undefined) query.limit = parsed.limit;
  return query;
}

/** One time parameter (see the file comment); throws E4500 with `param` = `name`. */
export function parseUsageTime(value: string, name: string, now: number): number {
  let ms = Number.NaN;
  const span = SPAN.exec(value);
  if (value === 'today') ms = startOfUtcDay(now);
  else if (span !== null) ms = now - Number(span[1]) * SPAN_MS[span[2] as keyof typeof SPAN_MS];
  else if (/^\d{1,16}$/.test(value)) ms = Number(value);
  else if (ISO_8601.test(value)) ms = Date.parse(value);
  if (!isUsageTimestamp(ms)) throw invalid(name, 'must be an ISO 8601 time, epoch milliseconds, today, or a span such as 24h or 7d');
  return ms;
}

function invalid(name: string, problem: string): ValidationError {
  return new ValidationError('E4500', `Invalid request: ${name}: ${problem}`, { param: name });
}
