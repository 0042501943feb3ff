/**
 * The Redis `CacheStore`: the one truth shared by every gateway instance. Nearest neighbours come
 * from LSH buckets kept in Redis sets (this Redis has no search module; see README "Semantic
 * cache"); one script call gathers the candidates and their int8 vectors in one round trip and
 * `SemanticCache` re-ranks them by exact cosine. Entries carry a logical expiry from the injected
 * clock and a Redis TTL a little longer, so expired entries are swept with their bucket pointers.
 */
import { createHash } from 'node:crypto';
import { RESP_TYPES } from 'redis';
import type { RedisConnection } from '../state/redis-connection.js';
import type { CacheCandidate, CacheEntryInput, CacheSearch, CacheSearchResult, CacheStore, PutOptions } from './cache-store.js';

// Lua scripts. Every key of a partition shares the hash tag `{<partition>}`,
// so each script touches one cluster slot; entry and bucket keys are built inside the scripts from
// the partition's base key, which is safe for the same reason.
//
// Layout under `<prefix>cache:{<partition>}:` — `z` ZSET of entry ids scored by expiry, `n` id
// sequence, `e:<id>` HASH (r payload, v int8 vector, g guard, m embedder id, x exact key, t tenant,
// ex expiry, b bucket labels), `x:<exact key>` → id, `b:<bucket>` SET of ids (integers, so small
// sets use Redis's compact intset encoding).

// Removes entry `id` and every pointer to it. Shared by the put and purge scripts.
const REMOVE_ENTRY = `
local function removeEntry(base, zkey, id)
  local ekey = base .. 'e:' .. id
  local fields = redis.call('HMGET', ekey, 'b', 'x')
  if fields[1] then
    for bucket in string.gmatch(fields[1], '[^,]+') do redis.call('SREM', base .. 'b:' .. bucket, id) end
  end
  if fields[2] and redis.call('GET', fields[2]) == id then redis.call('DEL', fields[2]) end
  redis.call('DEL', ekey)
  redis.call('ZREM', zkey, id)
end
`;

/** KEYS: z, n, x, bucket keys… ARGV: base, payload, vector, guard, embedder, tenant, expiresAt, ttlMs, keepMs, max, now, bucket labels (csv). */
const PUT_SCRIPT = `${REMOVE_ENTRY}
local base, zkey = ARGV[1], KEYS[1]
local now, max = tonumber(ARGV[11]), tonumber(ARGV[10])
local previous = redis.call('GET', KEYS[3])
if previous then removeEntry(base, zkey, previous) end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', zkey, '-inf', now, 'LIMIT', 0, 64)) do removeEntry(base, zkey, id) end
local excess = redis.call('ZCARD', zkey) - max + 1
if excess > 0 then
  for _, id in ipairs(redis.call('ZRANGE', zkey, 0, math.min(excess, 1000) - 1)) do removeEntry(base, zkey, id) end
end
local id = tostring(redis.call('INCR', KEYS[2]))
local ekey = base .. 'e:' .. id
local keep = ARGV[9]
redis.call('HSET', ekey, 'r', ARGV[2], 'x', KEYS[3], 't', ARGV[6], 'ex', ARGV[7])
if ARGV[3] ~= '' then redis.call('HSET', ekey, 'v', ARGV[3], 'g', ARGV[4], 'm', ARGV[5], 'b', ARGV[12]) end
redis.call('PEXPIRE', ekey, keep)
redis.call('SET', KEYS[3], id, 'PX', ARGV[8])
redis.call('ZADD', zkey, ARGV[7], id)
redis.call('PEXPIRE', zkey, keep)
redis.call('PEXPIRE', KEYS[2], keep)
for i = 4, #KEYS do
  redis.call('SADD', KEYS[i], id)
  redis.call('PEXPIRE', KEYS[i], keep)
end
return id
`;

/**
 * KEYS: x (exact key), bucket keys… ARGV: base, limit, now. Returns [payload] when the exact entry
 * is live; otherwise ['', id, embedder, guard, vector, payload, …]: the live entries sharing the
 * most buckets with the query, at most `limit`, the payload only for the first ('' for the rest). Ids whose entry is gone (expired by Redis) are dropped from the
 * buckets on the way.
 */
const SEARCH_SCRIPT = `
local base, limit, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local exactId = redis.call('GET', KEYS[1])
if exactId then
  local fields = redis.call('HMGET', base .. 'e:' .. exactId, 'r', 'ex')
  if fields[1] and tonumber(fields[2]) > now then return { fields[1] } end
end
local counts, ids = {}, {}
for i = 2, #KEYS do
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    local count = counts[id]
    if count then counts[id] = count + 1 else counts[id] = 1; ids[#ids + 1] = id end
  end
end
-- Bucket sort by shared-bucket count: linear, no comparator calls.
local byCount = {}
for _, id in ipairs(ids) do
  local count = counts[id]
  local list = byCount[count]
  if not list then list = {}; byCount[count] = list end
  list[#list + 1] = id
end
local out, found = { '' }, 0
for count = #KEYS - 1, 1, -1 do
  local list = byCount[count]
  if list then
    for _, id in ipairs(list) do
      if found >= limit then return out end
      local fields = redis.call('HMGET', base .. 'e:' .. id, 'v', 'g', 'm', 'ex')
      if not fields[4] then
        for i = 2, #KEYS do redis.call('SREM', KEYS[i], id) end
      elseif fields[1] and tonumber(fields[4]) > now then
        found = found + 1
        local payload = ''
        if found == 1 then payload = redis.call('HGET', base .. 'e:' .. id, 'r') or '' end
        out[#out + 1] = id; out[#out + 1] = fields[3]; out[#out + 1] = fields[2]; out[#out + 1] = fields[1]; out[#out + 1] = payload
      end
    end
  end
end
return out
`;

/** KEYS: z. ARGV: base, tenant. Deletes the tenant's entries of one partition; returns how many. */
const PURGE_PARTITION_SCRIPT = `${REMOVE_ENTRY}
local base, zkey, deleted = ARGV[1], KEYS[1], 0
for _, id in ipairs(redis.call('ZRANGE', zkey, 0, -1)) do
  local tenant = redis.call('HGET', base .. 'e:' .. id, 't')
  if tenant == ARGV[2] or not tenant then
    removeEntry(base, zkey, id)
    if tenant then deleted = deleted + 1 end
  end
end
return deleted
`;

/** KEYS: tenant index. ARGV: partition, keepUntil, now, keepMs. Files a partition under its tenant, pruning stale ones. */
const INDEX_TENANT_SCRIPT = `
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4], 'GT')
redis.call('PEXPIRE', KEYS[1], ARGV[4], 'NX')
return 1
`;

/** Options of a `RedisCacheStore`. */
export interface RedisCacheStoreOptions {
  connection: RedisConnection;
  /**
   * How long Redis keeps an entry past its logical expiry so that a later write can sweep its
   * bucket pointers, in milliseconds; default min(TTL, 5 minutes).
   */
  sweepGraceMs?: number;
}

type RedisArgument = string | Buffer;

/** An admin purge deletes whole partitions: it may take far longer than one lookup. */
const PURGE_TIMEOUT_MS = 10_000;

const BUFFERS = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } as const;

/** Cache entries in Redis, under `<key prefix>cache:`. */
export class RedisCacheStore implements CacheStore {
  readonly kind = 'redis';
  private readonly connection: RedisConnection;
  private readonly prefix: string;
  private readonly sweepGraceMs: number | undefined;
  private readonly shas = new Map<string, string>();

  constructor(options: RedisCacheStoreOptions) {
    this.connection = options.connection;
    this.prefix = `${options.connection.keyPrefix}cache:`;
    this.sweepGraceMs = options.sweepGraceMs;
  }

  async search(partition: string, search: CacheSearch): Promise<CacheSearchResult> {
    const base = this.base(partition);
    const keys = [search.exactKey === undefined ? `${base}x:` : `${base}x:${search.exactKey}`, ...search.buckets.map((bucket) => `${base}b:${bucket}`)];
    const reply = await this.run(SEARCH_SCRIPT, keys, [base, String(search.limit), String(search.now)], true);
    if (!Array.isArray(reply) || !Buffer.isBuffer(reply[0])) throw new Error('unexpected reply to the cache search');
    const exact = reply[0].length === 0 ? undefined : reply[0].toString();
    const candidates: CacheCandidate[] = [];
    for (let index = 1; index + 4 < reply.length; index += 5) {
      const [id, embedderId, guard, vector, payload] = reply.slice(index, index + 5) as unknown[];
      if (!Buffer.isBuffer(id) || !Buffer.isBuffer(embedderId) || !Buffer.isBuffer(guard) || !Buffer.isBuffer(vector) || !Buffer.isBuffer(payload)) continue;
      const candidate: CacheCandidate = {
        id: id.toString(),
        embedderId: embedderId.toString(),
        guard: guard.toString(),
        vector: new Int8Array(Uint8Array.from(vector).buffer),
      };
      if (payload.length > 0) candidate.payload = payload.toString();
      candidates.push(candidate);
    }
    return { exact, candidates };
  }

  async getPayload(partition: string, id: string, now: number): Promise<string | undefined> {
    this.assertReady();
    const [payload, expiresAt] = await this.connection.bounded(this.connection.client.hmGet(`${this.base(partition)}e:${id}`, ['r', 'ex']));
    if (typeof payload !== 'string' || Number(expiresAt) <= now) return undefined;
    return payload;
  }

  async put(entry: CacheEntryInput, options: PutOptions): Promise<void> {
    const base = this.base(entry.partition);
    const ttlMs = Math.max(1, entry.expiresAt - options.now);
    const keepMs = ttlMs + (this.sweepGraceMs ?? Math.min(ttlMs, 300_000));
    const vector = entry.vector;
    const keys = [`${base}z`, `${base}n`, `${base}x:${entry.exactKey}`, ...(vector?.buckets ?? []).map((bucket) => `${base}b:${bucket}`)];
    const args: RedisArgument[] = [
      base,
      entry.payload,
      vector === undefined ? '' : Buffer.from(vector.vector.buffer, vector.vector.byteOffset, vector.vector.byteLength),
      vector?.guard ?? '',
      vector?.embedderId ?? '',
      entry.tenant,
      String(entry.expiresAt),
      String(ttlMs),
      String(keepMs),
      String(options.maxEntriesPerPartition),
      String(options.now),
      (vector?.buckets ?? []).join(','),
    ];
    await Promise.all([
      this.run(PUT_SCRIPT, keys, args),
      this.run(
        INDEX_TENANT_SCRIPT,
        [this.tenantIndex(entry.tenant)],
        [entry.partition, String(entry.expiresAt + keepMs - ttlMs), String(options.now), String(keepMs)],
      ),
    ]);
  }

  async purgeTenant(tenant: string): Promise<number> {
    this.assertReady();
    const index = this.tenantIndex(tenant);
    const partitions = await this.connection.client.zRange(index, 0, -1);
    let deleted = 0;
    for (const partition of partitions) {
      const base = this.base(partition);
      const reply = await this.run(PURGE_PARTITION_SCRIPT, [`${base}z`], [base, tenant], false, PURGE_TIMEOUT_MS);
      deleted += Number(reply);
    }
    await this.connection.client.del(index);
    return deleted;
  }

  private base(partition: string): string {
    return `${this.prefix}{${partition}}:`;
  }

  private tenantIndex(tenant: string): string {
    return `${this.prefix}tenant:${createHash('sha256').update(tenant).digest('hex').slice(0, 32)}`;
  }

  private assertReady(): void {
    if (!this.connection.isReady()) throw new Error('Redis is not connected');
  }

  /** EVALSHA, loading the script with EVAL the first time a server has not seen it. */
  private async run(script: string, keys: string[], args: RedisArgument[], buffers = false, timeoutMs = this.connection.commandTimeoutMs): Promise<unknown> {
    this.assertReady();
    let sha = this.shas.get(script);
    if (sha === undefined) {
      sha = createHash('sha1').update(script).digest('hex');
      this.shas.set(script, sha);
    }
    const tail = [String(keys.length), ...keys, ...args];
    const options = buffers ? BUFFERS : undefined;
    try {
      return await this.connection.bounded(this.connection.client.sendCommand(['EVALSHA', sha, ...tail], options), timeoutMs);
    } catch (error) {
      // NOSCRIPT is Redis's structured error prefix: the script did not run, so EVAL is safe.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await this.connection.bounded(this.connection.client.sendCommand(['EVAL', script, ...tail], options), timeoutMs);
    }
  }
}
