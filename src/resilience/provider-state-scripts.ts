/**
 * The Lua scripts of the Redis provider-state store: the transitions of `MemoryProviderStateStore`,
 * run atomically in Redis. A circuit is one hash (`<prefix>{breaker:<provider>}`); health-check
 * leases and the last result are plain keys under `{health:<provider>}`. Every key a script touches
 * arrives in KEYS and shares the provider's hash tag, so a script stays in one Cluster slot; no key
 * is built inside Lua. Times come from the caller (ARGV), not from the Redis server, so that every
 * instance and every test judges them on its own injected clock.
 *
 * Every circuit script answers the record after the operation: `{state, generation, failures,
 * opened_at, half_open_at, probe_owner, probe_until, cool_until, granted}`, as strings.
 */
import { defineRedisScript } from '../state/redis-script.js';

const PRELUDE = `
local FIELDS = {'st', 'gen', 'fail', 'opened', 'half', 'powner', 'puntil', 'cool'}
local function load(key)
  local v = redis.call('HMGET', key, unpack(FIELDS))
  return { st = v[1] or 'closed', gen = tonumber(v[2] or '0'), fail = tonumber(v[3] or '0'), opened = tonumber(v[4] or '0'),
    half = tonumber(v[5] or '0'), powner = v[6] or '', puntil = tonumber(v[7] or '0'), cool = tonumber(v[8] or '0') }
end
local function save(key, r, ttl)
  redis.call('HSET', key, 'st', r.st, 'gen', r.gen, 'fail', r.fail, 'opened', r.opened, 'half', r.half,
    'powner', r.powner, 'puntil', r.puntil, 'cool', r.cool)
  redis.call('PEXPIRE', key, ttl)
end
local function answer(r, granted)
  return { r.st, tostring(r.gen), tostring(r.fail), tostring(r.opened), tostring(r.half), r.powner,
    tostring(r.puntil), tostring(r.cool), granted and '1' or '0' }
end
local function open(r, now, cooldown)
  r.st = 'open'; r.gen = r.gen + 1; r.fail = 0; r.opened = now; r.half = now + cooldown; r.powner = ''; r.puntil = 0
end
`;

/** A counted failure. ARGV: generation (-1: any), now, threshold, cooldown ms, key ttl ms. */
export const RECORD_FAILURE_SCRIPT = defineRedisScript(
  'record-failure',
  `${PRELUDE}
local r = load(KEYS[1])
if r.st ~= 'closed' or (ARGV[1] ~= '-1' and r.gen ~= tonumber(ARGV[1])) then return answer(r, false) end
r.fail = r.fail + 1
if r.fail >= tonumber(ARGV[3]) then open(r, tonumber(ARGV[2]), tonumber(ARGV[4])) end
save(KEYS[1], r, ARGV[5])
return answer(r, false)
`,
);

/** A success while closed. ARGV: generation (-1: any), key ttl ms. */
export const RECORD_SUCCESS_SCRIPT = defineRedisScript(
  'record-success',
  `${PRELUDE}
local r = load(KEYS[1])
if r.st ~= 'closed' or (ARGV[1] ~= '-1' and r.gen ~= tonumber(ARGV[1])) or r.fail == 0 then return answer(r, false) end
r.fail = 0
save(KEYS[1], r, ARGV[2])
return answer(r, false)
`,
);

/** The half-open probe election. ARGV: owner, now, probe timeout ms, key ttl ms. */
export const CLAIM_PROBE_SCRIPT = defineRedisScript(
  'claim-probe',
  `${PRELUDE}
local r = load(KEYS[1])
local now = tonumber(ARGV[2])
if r.st ~= 'open' or now < r.half or (r.powner ~= '' and r.puntil > now) then return answer(r, false) end
r.powner = ARGV[1]
r.puntil = now + tonumber(ARGV[3])
save(KEYS[1], r, ARGV[4])
return answer(r, true)
`,
);

/** The probe's outcome. ARGV: owner, outcome (success|failure|release), now, cooldown ms, key ttl ms. */
export const SETTLE_PROBE_SCRIPT = defineRedisScript(
  'settle-probe',
  `${PRELUDE}
local r = load(KEYS[1])
if r.st ~= 'open' or r.powner ~= ARGV[1] then return answer(r, false) end
if ARGV[2] == 'success' then
  r.st = 'closed'; r.gen = r.gen + 1; r.fail = 0; r.opened = 0; r.half = 0; r.powner = ''; r.puntil = 0
elseif ARGV[2] == 'failure' then
  open(r, tonumber(ARGV[3]), tonumber(ARGV[4]))
else
  r.powner = ''; r.puntil = 0
end
save(KEYS[1], r, ARGV[5])
return answer(r, false)
`,
);

/** An earlier half-open moment for an open circuit of one generation. ARGV: generation, at, key ttl ms. */
export const HALF_OPEN_BY_SCRIPT = defineRedisScript(
  'half-open-by',
  `${PRELUDE}
local r = load(KEYS[1])
local at = tonumber(ARGV[2])
if r.st ~= 'open' or r.gen ~= tonumber(ARGV[1]) or at >= r.half then return answer(r, false) end
r.half = at
save(KEYS[1], r, ARGV[3])
return answer(r, false)
`,
);

/** A cool-down that only ever extends. ARGV: until, key ttl ms. */
export const COOL_DOWN_SCRIPT = defineRedisScript(
  'cool-down',
  `${PRELUDE}
local r = load(KEYS[1])
local untilMs = tonumber(ARGV[1])
if untilMs <= r.cool then return answer(r, false) end
r.cool = untilMs
save(KEYS[1], r, ARGV[2])
return answer(r, false)
`,
);

/**
 * A health-check lease, free, expired or renewed by its owner; answers {claimed, last result}.
 * KEYS: the lease, the last result. ARGV: owner, now, lease ms. The lease's value is
 * `<until>|<owner>`; its Redis expiry is only a collector of abandoned leases, set well past `until`.
 */
export const CLAIM_CHECK_SCRIPT = defineRedisScript(
  'claim-check',
  `
local now = tonumber(ARGV[2])
local held = redis.call('GET', KEYS[1])
if held then
  local sep = string.find(held, '|', 1, true)
  local untilMs = tonumber(string.sub(held, 1, sep - 1))
  local owner = string.sub(held, sep + 1)
  if untilMs > now and owner ~= ARGV[1] then return { '0', redis.call('GET', KEYS[2]) or '' } end
end
local leaseMs = tonumber(ARGV[3])
redis.call('SET', KEYS[1], tostring(now + leaseMs) .. '|' .. ARGV[1], 'PX', leaseMs * 2 + 1000)
return { '1', redis.call('GET', KEYS[2]) or '' }
`,
);
