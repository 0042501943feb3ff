/**
 * The Redis `CacheStore`: the one truth shared by every gateway instance. Nearest neighbours come
 * from LSH buckets kept in Redis (this Redis has no search module; see README "Semantic cache");
 * one script call gathers the candidates and their int8 vectors in one round trip and
 * `SemanticCache` re-ranks them by exact cosine. Entries carry a logical expiry from the injected
 * clock; a partition's keys get a Redis TTL a little longer than its newest entry, and expired or
 * excess entries are swept by later writes.
 *
 * Redis Cluster: a partition lives in seven fixed keys that share the hash tag `{<partition>}`, and
 * every script receives all seven as `KEYS` — no key name is ever built inside Lua, so each script
 * runs on the one node that owns the partition. Under `<prefix>cache:{<partition>}:`:
 * `z` ZSET entry id → expiry, `n` id sequence, `x` HASH exact key → id, `r` HASH id → payload,
 * `v` HASH id → int8 vector, `m` HASH id → JSON meta (tenant, exact key, guard, embedder, buckets,
 * expiry), `b` ZSET of `<bucket>\0<id>` members (one sorted set per partition; a bucket's ids are a
 * lexicographic range). The tenant index (`tenant:<hash>`) is a separate one-key command.
 *
 * The tenant index is what a purge walks: each partition is filed there with the time Redis keeps
 * it until. A put refreshes that time only once the time this process last filed lags by
 * `INDEX_REFRESH_MS` (or by half the sweep grace, when shorter): a busy partition then costs
 * one index update a second instead of one per answer, and its filed time still never falls before
 * the logical expiry of its newest entry, so a purge finds every partition with a live entry.
 */
import { hash } from 'node:crypto';
import type { RedisConnection } from '../state/redis-connection.js';
import { defineRedisScript } from '../state/redis-script.js';
import { BoundedMemo } from '../util/bounded-memo.js';
import type { CacheCandidate, CacheEntryInput, CacheSearch, CacheSearchResult, CacheStore, PutOptions } from './cache-store.js';

/** The keys of a partition, in the order every script takes them as `KEYS[1..7]`. */
const PARTITION_KEYS = ['z', 'n', 'x', 'r', 'v', 'm', 'b'] as const;

// Removes entry `id` and every pointer to it (the meta names its buckets and exact key).
const REMOVE_ENTRY = `
local function removeEntry(id)
  local meta = redis.call('HGET', KEYS[6], id)
  if meta then
    local info = cjson.decode(meta)
    for bucket in string.gmatch(info.b, '[^,]+') do redis.call('ZREM', KEYS[7], bucket .. '\\0' .. id) end
    if redis.call('HGET', KEYS[3], info.x) == id then redis.call('HDEL', KEYS[3], info.x) end
  end
  redis.call('HDEL', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
  redis.call('HDEL', KEYS[6], id)
  redis.call('ZREM', KEYS[1], id)
end
`;

/**
 * ARGV: exact key, payload, vector ('' for none), guard, embedder, tenant, expiresAt, keepMs,
 * max entries, now, bucket labels (csv). Replaces the entry of the exact key, sweeps up to 64
 * expired entries and the excess over the bound, stores the new one. Returns its id.
 */
const PUT_SCRIPT = defineRedisScript(
  'cache put',
  `${REMOVE_ENTRY}
local now = tonumber(ARGV[10])
local previous = redis.call('HGET', KEYS[3], ARGV[1])
if previous then removeEntry(previous) end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 64)) do removeEntry(id) end
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[9]) + 1
if excess > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, math.min(excess, 1000) - 1)) do removeEntry(id) end
end
local id = tostring(redis.call('INCR', KEYS[2]))
local buckets = ''
redis.call('HSET', KEYS[4], id, ARGV[2])
if ARGV[3] ~= '' then
  buckets = ARGV[11]
  redis.call('HSET', KEYS[5], id, ARGV[3])
  for bucket in string.gmatch(buckets, '[^,]+') do redis.call('ZADD', KEYS[7], 0, bucket .. '\\0' .. id) end
end
redis.call('HSET', KEYS[6], id, cjson.encode({ t = ARGV[6], x = ARGV[1], g = ARGV[4], m = ARGV[5], b = buckets, ex = ARGV[7] }))
redis.call('HSET', KEYS[3], ARGV[1], id)
redis.call('ZADD', KEYS[1], ARGV[7], id)
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[8]) end
return id
`,
);

/**
 * ARGV: exact key ('' for none), limit, now, bucket labels…. Returns [payload] when the exact
 * entry is live; otherwise ['', id, embedder, guard, vector, payload, …]: the live entries sharing
 * the most buckets with the query, at most `limit`, the payload only for the first ('' for the
 * rest). Bucket members whose entry is gone are dropped on the way.
 */
const SEARCH_SCRIPT = defineRedisScript(
  'cache search',
  `
local limit, now = tonumber(ARGV[2]), tonumber(ARGV[3])
if ARGV[1] ~= '' then
  local exactId = redis.call('HGET', KEYS[3], ARGV[1])
  if exactId then
    local expiry = redis.call('ZSCORE', KEYS[1], exactId)
    if expiry and tonumber(expiry) > now then
      local payload = redis.call('HGET', KEYS[4], exactId)
      if payload then return { payload } end
    end
  end
end
local counts, ids = {}, {}
for i = 4, #ARGV do
  local prefix = #ARGV[i] + 2
  for _, member in ipairs(redis.call('ZRANGEBYLEX', KEYS[7], '[' .. ARGV[i] .. '\\0', '(' .. ARGV[i] .. '\\1')) do
    local id = string.sub(member, prefix)
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
for count = #ARGV - 3, 1, -1 do
  local list = byCount[count]
  if list then
    for _, id in ipairs(list) do
      if found >= limit then return out end
      local meta = redis.call('HGET', KEYS[6], id)
      if not meta then
        for i = 4, #ARGV do redis.call('ZREM', KEYS[7], ARGV[i] .. '\\0' .. id) end
      else
        local info = cjson.decode(meta)
        local vector = redis.call('HGET', KEYS[5], id)
        if vector and tonumber(info.ex) > now then
          found = found + 1
          local payload = ''
          if found == 1 then payload = redis.call('HGET', KEYS[4], id) or '' end
          out[#out + 1] = id; out[#out + 1] = info.m; out[#out + 1] = info.g; out[#out + 1] = vector; out[#out + 1] = payload
        end
      end
    end
  end
end
return out
`,
);

/** ARGV: id, now. The payload of a live entry, or nil. */
const PAYLOAD_SCRIPT = defineRedisScript(
  'cache payload',
  `
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry or tonumber(expiry) <= tonumber(ARGV[2]) then return false end
return redis.call('HGET', KEYS[4], ARGV[1])
`,
);

/** ARGV: tenant. Deletes the tenant's entries of one partition (and orphans); returns how many of the tenant's. */
const PURGE_PARTITION_SCRIPT = defineRedisScript(
  'cache purge partition',
  `${REMOVE_ENTRY}
local deleted = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local meta = redis.call('HGET', KEYS[6], id)
  if not meta then
    removeEntry(id)
  elseif cjson.decode(meta).t == ARGV[1] then
    removeEntry(id)
    deleted = deleted + 1
  end
end
return deleted
`,
);

/** KEYS: tenant index. ARGV: partition, keepUntil, now, keepMs. Files a partition under its tenant, pruning stale ones. */
const INDEX_TENANT_SCRIPT = defineRedisScript(
  'cache index tenant',
  `
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4], 'GT')
redis.call('PEXPIRE', KEYS[1], ARGV[4], 'NX')
return 1
`,
);

/** Options of a `RedisCacheStore`. */
export interface RedisCacheStoreOptions {
  connection: RedisConnection;
  /**
   * How long Redis keeps a partition past its newest entry's logical expiry, so that a later write
   * can sweep it, in milliseconds; default min(TTL, 5 minutes).
   */
  sweepGraceMs?: number;
}

/** Most tenant index keys remembered at once. */
const TENANT_INDEX_MEMO = 1_024;
/** Most partitions whose keys, and whose filing in the tenant index, are remembered at once. */
const PARTITION_MEMO = 4_096;
/** Longest a partition's filed time in its tenant index lags behind its puts, in milliseconds (see the file comment). */
export const INDEX_REFRESH_MS = 1_000;

/** An admin purge deletes whole partitions: it may take far longer than one lookup. */
const PURGE_TIMEOUT_MS = 10_000;

/** Cache entries in Redis, under `<key prefix>cache:`. */
export class RedisCacheStore implements CacheStore {
  readonly kind = 'redis';
  private readonly connection: RedisConnection;
  private readonly prefix: string;
  private readonly sweepGraceMs: number | undefined;
  /** Tenant → its index key (a SHA-256 each time otherwise). A gateway serves a handful of tenants. */
  private readonly tenantIndexes = new BoundedMemo(TENANT_INDEX_MEMO, (tenant: string) => `${this.prefix}tenant:${hash('sha256', tenant, 'hex').slice(0, 32)}`);
  /** Partition → its seven keys (seven strings to build, and to flatten for the socket, on every call otherwise). */
  private readonly partitionKeyLists = new BoundedMemo(PARTITION_MEMO, (partition: string): readonly string[] => {
    const base = `${this.prefix}{${partition}}:`;
    return Object.freeze(PARTITION_KEYS.map((name) => base + name));
  });
  /** `<tenant>\0<partition>` → the keep-until time this process last filed in the tenant index. */
  private readonly filedUntil = new Map<string, number>();

  constructor(options: RedisCacheStoreOptions) {
    this.connection = options.connection;
    this.prefix = `${options.connection.keyPrefix}cache:`;
    this.sweepGraceMs = options.sweepGraceMs;
    options.connection.registerScripts(PUT_SCRIPT, SEARCH_SCRIPT, PAYLOAD_SCRIPT, PURGE_PARTITION_SCRIPT, INDEX_TENANT_SCRIPT);
  }

  /** The seven keys of a partition (`KEYS` of every partition script), all under one hash tag. */
  partitionKeys(partition: string): readonly string[] {
    return this.partitionKeyLists.get(partition);
  }

  async search(partition: string, search: CacheSearch): Promise<CacheSearchResult> {
    const args = [search.exactKey ?? '', String(search.limit), String(search.now), ...search.buckets];
    const reply = await this.connection.eval(SEARCH_SCRIPT, this.partitionKeys(partition), args, { buffers: true });
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
        // A view of the reply, not a copy: a candidate lives only while its lookup ranks it.
        vector: new Int8Array(vector.buffer, vector.byteOffset, vector.length),
      };
      if (payload.length > 0) candidate.payload = payload.toString();
      candidates.push(candidate);
    }
    return { exact, candidates };
  }

  async getPayload(partition: string, id: string, now: number): Promise<string | undefined> {
    const payload = await this.connection.eval(PAYLOAD_SCRIPT, this.partitionKeys(partition), [id, String(now)]);
    return typeof payload === 'string' ? payload : undefined;
  }

  async put(entry: CacheEntryInput, options: PutOptions): Promise<void> {
    const ttlMs = Math.max(1, entry.expiresAt - options.now);
    const keepMs = ttlMs + (this.sweepGraceMs ?? Math.min(ttlMs, 300_000));
    const vector = entry.vector;
    const args = [
      entry.exactKey,
      entry.payload,
      vector === undefined ? '' : Buffer.from(vector.vector.buffer, vector.vector.byteOffset, vector.vector.byteLength),
      vector?.guard ?? '',
      vector?.embedderId ?? '',
      entry.tenant,
      String(entry.expiresAt),
      String(keepMs),
      String(options.maxEntriesPerPartition),
      String(options.now),
      (vector?.buckets ?? []).join(','),
    ];
    const stored = this.connection.eval(PUT_SCRIPT, this.partitionKeys(entry.partition), args);
    const keepUntil = entry.expiresAt + keepMs - ttlMs;
    const filing = `${entry.tenant}\0${entry.partition}`;
    const filed = this.filedUntil.get(filing);
    if (filed !== undefined && filed > keepUntil - Math.min(INDEX_REFRESH_MS, (keepMs - ttlMs) / 2)) {
      await stored;
      return;
    }
    const index = this.tenantIndex(entry.tenant);
    // Issued in the same tick: one write to Redis when both keys live on one node.
    await Promise.all([stored, this.connection.eval(INDEX_TENANT_SCRIPT, [index], [entry.partition, String(keepUntil), String(options.now), String(keepMs)])]);
    if (this.filedUntil.size >= PARTITION_MEMO) this.filedUntil.clear();
    this.filedUntil.set(filing, Math.max(filed ?? keepUntil, keepUntil));
  }

  async purgeTenant(tenant: string): Promise<number> {
    const index = this.tenantIndex(tenant);
    const partitions = await this.connection.call(index, ['ZRANGE', index, '0', '-1']);
    if (!Array.isArray(partitions)) throw new Error('unexpected reply to the tenant index');
    let deleted = 0;
    for (const partition of partitions) {
      const reply = await this.connection.eval(PURGE_PARTITION_SCRIPT, this.partitionKeys(String(partition)), [tenant], { timeoutMs: PURGE_TIMEOUT_MS });
      deleted += Number(reply);
    }
    await this.connection.call(index, ['DEL', index]);
    // The index is gone: the next put of any partition files it again.
    this.filedUntil.clear();
    return deleted;
  }

  private tenantIndex(tenant: string): string {
    return this.tenantIndexes.get(tenant);
  }
}
