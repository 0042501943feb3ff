/**
 * The Lua scripts of the Redis rate-limit store. Each runs as one atomic decision, timed by the
 * Redis server's clock (`TIME`), so gateways with skewed clocks still share one truth. A script
 * touches only the keys it is given in `KEYS`, which share one hash tag (the connection checks it),
 * so every decision runs on one Redis Cluster node.
 *
 * Bucket hash fields: `l` the level (may be fractional, or negative after a settle-up), `t` the
 * server time of the last write in milliseconds. A missing key is a full bucket; keys expire once
 * the bucket would be full again.
 *
 * ARGV of both scripts: per bucket, in KEYS order, `capacity, refillPerMs, amount`.
 */
import { defineRedisScript } from '../state/redis-script.js';

const PRELUDE = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local function level_of(key, capacity, rate)
  local state = redis.call('HMGET', key, 'l', 't')
  if not state[1] then return capacity end
  local level = tonumber(state[1])
  local elapsed = now - tonumber(state[2])
  if elapsed > 0 then level = level + elapsed * rate end
  return math.min(capacity, level)
end
local function write(key, level, capacity, rate)
  if level >= capacity then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, 'l', string.format('%.17g', level), 't', string.format('%.17g', now))
  redis.call('PEXPIRE', key, math.ceil((capacity - level) / rate) + 1)
end
`;

/**
 * All-or-nothing take. Returns `{allowed (1|0), failedIndex (-1 when allowed), retryAfterMs (-1 =
 * never), remaining..., resetMs...}`, every value an integer.
 */
export const TAKE_SCRIPT = defineRedisScript(
  'rate-limit take',
  `${PRELUDE}
local n = #KEYS
local levels = {}
local failed = -1
local wait = 0
for i = 1, n do
  local capacity = tonumber(ARGV[i * 3 - 2])
  local rate = tonumber(ARGV[i * 3 - 1])
  local amount = tonumber(ARGV[i * 3])
  local level = level_of(KEYS[i], capacity, rate)
  levels[i] = level
  if amount > level then
    if failed < 0 then failed = i - 1 end
    if amount > capacity then
      wait = -1
    elseif wait >= 0 then
      wait = math.max(wait, math.ceil((amount - level) / rate))
    end
  end
end
local out = { failed < 0 and 1 or 0, failed, failed < 0 and 0 or wait }
for i = 1, n do
  local capacity = tonumber(ARGV[i * 3 - 2])
  local rate = tonumber(ARGV[i * 3 - 1])
  local amount = tonumber(ARGV[i * 3])
  if failed < 0 and amount ~= 0 then
    levels[i] = levels[i] - amount
    write(KEYS[i], levels[i], capacity, rate)
  end
  out[3 + i] = math.max(0, math.floor(levels[i]))
  out[3 + n + i] = math.ceil((capacity - levels[i]) / rate)
end
return out
`,
);

/** Refund (positive amount, capped at capacity) or charge (negative, floored at -capacity). Returns 1. */
export const GIVE_SCRIPT = defineRedisScript(
  'rate-limit give',
  `${PRELUDE}
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[i * 3 - 2])
  local rate = tonumber(ARGV[i * 3 - 1])
  local amount = tonumber(ARGV[i * 3])
  if amount ~= 0 then
    local level = level_of(KEYS[i], capacity, rate) + amount
    write(KEYS[i], math.max(-capacity, math.min(capacity, level)), capacity, rate)
  end
end
return 1
`,
);
