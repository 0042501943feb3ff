/**
 * The Redis connection on real servers: hash slots as Redis computes them, Cluster detection and
 * routing on the run's three-master cluster, scripts and their slot check, waits that measure
 * Redis and not the event loop, one write per tick, and the watchdog that replaces a connection
 * whose commands stopped flowing (a private redis-server behind a proxy the test stalls).
 */
import { describe, expect, it, vi } from 'vitest';
import { RedisConnection, RedisTimeoutError, RedisUnavailableError } from '../src/state/redis-connection.js';
import { assertOneSlot, crc16, hashTagOf, keySlot, sameHashTag } from '../src/state/key-slot.js';
import { defineRedisScript } from '../src/state/redis-script.js';
import { onCleanup } from './helpers/cleanup.js';
import { sharedClusterNodes } from './helpers/redis-cluster.js';
import { respCommands, startRedisProxy, startRedisServer } from './helpers/redis-server.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { createClient } from '@redis/client';
import { LightAbort, asAbortSignal } from '../src/util/light-abort.js';
import { testRedis } from './helpers/redis.js';
import { COMMAND_OPTIONS } from '../src/state/redis-clients.js';
import type { Backend } from '../src/state/redis-clients.js';

const ECHO = defineRedisScript('echo keys', 'return { KEYS[1], #KEYS, ARGV[1] }');

/** A connection the test owns; closed afterwards. */
async function connectTo(options: Partial<ConstructorParameters<typeof RedisConnection>[0]> & { url: string }): Promise<RedisConnection> {
  const connection = new RedisConnection({ keyPrefix: 'l04:test:', commandTimeoutMs: 1_000, watchdogIntervalMs: 0, ...options });
  onCleanup(() => connection.close());
  expect(await connection.connect()).toBe(true);
  return connection;
}

/** Keeps the event loop busy for `ms` (a CPU-bound gateway). */
function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin: timers come due, socket data waits unread
  }
}

describe('key slots', () => {
  it('hash like the cluster: CRC16/XMODEM of the hash tag, else of the whole key', async () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
    expect(hashTagOf('l04:{agent:a}:rpm')).toBe('agent:a');
    expect(hashTagOf('l04:{}:x')).toBe('l04:{}:x');
    expect(hashTagOf('l04:{{a}}')).toBe('{a');
    const connection = await testRedis({ nodes: await sharedClusterNodes() });
    const keys = ['plain', 'l04:{agent:did:key:z6M}:rpm', 'l04:{}:x', 'l04:{{a}}', 'l04:{unclosed', 'l04:cache:{p%7B1%7D}:z', 'é:{ünïcode}'];
    for (const key of keys) expect(keySlot(key)).toBe(Number(await connection.call(undefined, ['CLUSTER', 'KEYSLOT', key])));
  });

  it('compares hash tags in place exactly as it would compare the tags themselves', () => {
    const parts = ['', 'a', '{', '}', '{}', '{a}', '{b}', '{ab}', 'x{a', 'a}', '{{a}}', ':', 'é'];
    const keys = parts.flatMap((first) => parts.flatMap((second) => parts.map((third) => first + second + third)));
    const pairs = keys.flatMap((a) => keys.slice(0, 25).map((b) => [a, b] as const));
    const differing = pairs.filter(([a, b]) => sameHashTag(a, b) !== (hashTagOf(a) === hashTagOf(b)));
    expect(differing).toEqual([]);
    expect(pairs.filter(([a, b]) => sameHashTag(a, b)).length).toBeGreaterThan(keys.length); // not all false
  });

  it('accepts keys that share a hash tag and names the keys that do not', () => {
    expect(() => assertOneSlot(['a:{x}:1', 'b:{x}:2'], 'script s')).not.toThrow();
    expect(() => assertOneSlot(['{x}', 'x', 'a{x}', 'a{x}b{y}'], 'script s')).not.toThrow();
    expect(() => assertOneSlot(['a:{x}:1', 'a:{x}:1', 'b:{xy}:2'], 'script s')).toThrow('script s: keys "a:{x}:1" and "b:{xy}:2"');
    expect(() => assertOneSlot(['a:{x}:1', 'b:{y}:2'], 'script s')).toThrow('script s: keys "a:{x}:1" and "b:{y}:2" hash to different Redis Cluster slots');
  });
});

describe('RedisConnection on a Redis Cluster', () => {
  it('detects the cluster from the URL of any node and routes every script to the node of its hash tag', async () => {
    const nodes = await sharedClusterNodes();
    const connection = await connectTo({ url: nodes[1]! });
    expect(connection.mode).toBe('cluster');
    const tags = Array.from({ length: 30 }, (_, index) => `tag-${index}`);
    const replies = await Promise.all(tags.map((tag) => connection.eval(ECHO, [`l04:test:{${tag}}:a`, `l04:test:{${tag}}:b`], [tag])));
    expect(replies).toEqual(tags.map((tag) => [`l04:test:{${tag}}:a`, 2, tag]));
    // Thirty tags land on every master: each answered the scripts of its own slots.
    const owners = new Set(await Promise.all(tags.map(async (tag) => String(await connection.call(`{${tag}}`, ['CLUSTER', 'MYID'])))));
    expect(owners.size).toBe(3);
    expect(connection.health()).toMatchObject({ status: 'up', mode: 'cluster', forced_reconnects: 0 });
    expect(connection.health().nodes.map((node) => node.connected)).toEqual([true, true, true]);
  });

  it('connects from seed nodes and scans every master', async () => {
    const connection = await testRedis({ nodes: await sharedClusterNodes() });
    expect(connection.mode).toBe('cluster');
    const keys = Array.from({ length: 60 }, (_, index) => `${connection.keyPrefix}{k${index}}`);
    await Promise.all(keys.map((key) => connection.call(key, ['SET', key, '1'])));
    const found: string[] = [];
    for await (const batch of connection.scan(`${connection.keyPrefix}*`)) found.push(...batch);
    expect(found.sort()).toEqual([...keys].sort());
  });

  it('refuses a script whose keys span slots before sending anything', async () => {
    const connection = await testRedis({ nodes: await sharedClusterNodes() });
    await expect(connection.eval(ECHO, ['{a}:1', '{b}:2'], ['x'])).rejects.toThrow(RangeError);
    // A list that can change is checked at every call; a frozen one, which cannot, once.
    const keys = ['{a}:1', '{a}:2'];
    expect(await connection.eval(ECHO, keys, ['x'])).toEqual(['{a}:1', 2, 'x']);
    keys[1] = '{b}:2';
    await expect(connection.eval(ECHO, keys, ['x'])).rejects.toThrow(RangeError);
    const frozen = Object.freeze(['{c}:1', '{c}:2']);
    expect(await connection.eval(ECHO, frozen, ['y'])).toEqual(['{c}:1', 2, 'y']);
    expect(await connection.eval(ECHO, frozen, ['z'])).toEqual(['{c}:1', 2, 'z']);
  });

  it('loads its scripts again on the node that lost them (NOSCRIPT proves they did not run)', async () => {
    const connection = await testRedis({ nodes: await sharedClusterNodes() });
    const key = `${connection.keyPrefix}{flush}`;
    await connection.eval(ECHO, [key], ['first']);
    await connection.call(key, ['SCRIPT', 'FLUSH']);
    expect(await connection.eval(ECHO, [key], ['again'])).toEqual([key, 1, 'again']);
  });
});

describe('LightAbort, the signal a given-up Redis command (and an upstream call) carries', () => {
  it('tells each listener once, not after it was removed, and nothing after the first abort', () => {
    const abort = new LightAbort();
    const heard: string[] = [];
    const first = () => heard.push('first');
    const removed = () => heard.push('removed');
    abort.addEventListener('abort', first);
    abort.addEventListener('abort', removed);
    abort.addEventListener('abort', () => heard.push('third'));
    abort.removeEventListener('abort', removed);
    abort.abort('first reason');
    abort.abort('second reason');
    expect(heard).toEqual(['first', 'third']);
    expect(abort.aborted).toBe(true);
    expect(abort.reason).toBe('first reason');
  });

  it('makes the real node-redis client drop an unwritten command (it never runs) and refuse an aborted one', async () => {
    const server = await startRedisServer();
    const client = createClient({ url: server.url });
    onCleanup(() => client.destroy());
    await client.connect();
    // Given up on in the tick it was queued: node-redis writes its queue from a setImmediate.
    const dropped = new LightAbort();
    const pending = client.sendCommand(['INCR', 'given-up'], { abortSignal: asAbortSignal(dropped) });
    dropped.abort();
    await expect(pending).rejects.toThrow(/abort/i);
    expect(await client.sendCommand(['GET', 'given-up'])).toBeNull();
    await expect(client.sendCommand(['INCR', 'given-up'], { abortSignal: asAbortSignal(dropped) })).rejects.toThrow(/abort/i);
    // Once written, a command runs whatever happens to its signal afterwards.
    const late = new LightAbort();
    expect(await client.sendCommand(['INCR', 'written'], { abortSignal: asAbortSignal(late) })).toBe(1);
    late.abort();
    expect(await client.sendCommand(['GET', 'written'])).toBe('1');
  });
});

describe('RedisConnection waits', () => {
  it('start the clock at the write: commands queued behind a busy event loop do not time out', async () => {
    const server = await startRedisServer();
    const connection = await connectTo({ url: server.url, commandTimeoutMs: 250 });
    // Redis takes 50 ms, well within the bound; the process is busy for longer than the bound
    // before node-redis even writes the command (its write runs from a setImmediate).
    const slow = connection.call('k', ['DEBUG', 'SLEEP', '0.05']);
    const quick = Array.from({ length: 50 }, (_, index) => connection.call(`k${index}`, ['PING', String(index)]));
    busyFor(400);
    expect(await slow).toBe('OK');
    expect(await Promise.all(quick)).toEqual(Array.from({ length: 50 }, (_, index) => String(index)));
  });

  it('read the replies that arrived while the event loop was busy before judging them late', async () => {
    const connection = await testRedis({ commandTimeoutMs: 20 });
    const pending = connection.call('k', ['PING', 'late reader']);
    setImmediate(() => busyFor(150)); // right after the write: the reply waits in the socket
    expect(await pending).toBe('late reader');
  });

  it('fail with RedisTimeoutError when the node stays silent, and at once while disconnected', async () => {
    const server = await startRedisServer();
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    const connection = await connectTo({ url: `redis://127.0.0.1:${proxy.port}`, commandTimeoutMs: 50 });
    proxy.stall();
    await expect(connection.call('k', ['PING'])).rejects.toBeInstanceOf(RedisTimeoutError);
    await server.stop();
    await proxy.stop();
    await vi.waitFor(() => expect(connection.isReady()).toBe(false));
    await expect(connection.call('k', ['PING'])).rejects.toBeInstanceOf(RedisUnavailableError);
  });

  it('end at close within the grace even while Redis stalls, failing what is pending', async () => {
    const server = await startRedisServer();
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    // The connect bound is also the close grace; 100 ms was too short to connect at all while the
    // whole suite runs on two cores (seen once in CI), 500 ms still ends far from the 60 s command bound.
    const connection = await connectTo({ url: `redis://127.0.0.1:${proxy.port}`, commandTimeoutMs: 60_000, connectTimeoutMs: 500 });
    proxy.stall();
    const pending = connection.call('k', ['PING']);
    await connection.close();
    await expect(pending).rejects.toThrow();
    expect(connection.isReady()).toBe(false);
  });

  it('pass per command only option keys the client declares (node-redis merges them into its own for every command)', async () => {
    const connection = await connectTo({ url: (await startRedisServer()).url });
    const backend = (connection as unknown as { backend: Backend }).backend;
    if (backend.kind !== 'standalone') throw new Error('expected a standalone client');
    const send = vi.spyOn(backend.client, 'sendCommand');
    await connection.call('k', ['SET', 'k', 'v']);
    await connection.call('k', ['GET', 'k'], { buffers: true });
    await connection.eval(ECHO, ['{k}'], ['x']);
    const passed = new Set(send.mock.calls.flatMap(([, options]) => Object.keys(options ?? {})));
    expect(passed).toEqual(new Set(['typeMapping', 'abortSignal']));
    // The client the connection built carries them, declared unset.
    const declared = backend.client.options.commandOptions ?? {};
    for (const key of passed) {
      expect(Object.keys(declared)).toContain(key);
      expect(declared[key as keyof typeof declared]).toBeUndefined();
    }
    expect(declared).toEqual(COMMAND_OPTIONS);
  });

  it('send the commands of one tick in one write', async () => {
    const server = await startRedisServer();
    const proxy = await startRedisProxy(server.port);
    const connection = await connectTo({ url: proxy.url });
    await connection.eval(ECHO, ['{warm-up}'], ['x']); // loads the script (NOSCRIPT, SCRIPT LOAD, EVALSHA)
    const before = proxy.sent.length;
    // 40 KiB in all: more than a socket's default high-water mark (16 KiB), still one write.
    const payload = 'x'.repeat(1_024);
    await Promise.all(Array.from({ length: 40 }, (_, index) => connection.eval(ECHO, [`{t${index}}`], [payload])));
    const writes = proxy.sent.slice(before);
    expect(writes).toHaveLength(1);
    expect(respCommands(writes[0]!).map((command) => command[0])).toEqual(Array(40).fill('EVALSHA'));
  });
});

describe('RedisConnection watchdog', () => {
  it('replaces a connection whose commands stopped flowing, reports it down meanwhile, and is up again on a fresh one', async () => {
    const server = await startRedisServer();
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    const reasons: string[] = [];
    const connection = await connectTo({
      url: `redis://127.0.0.1:${proxy.port}`,
      watchdogIntervalMs: 60_000, // the test runs the rounds itself
      watchdogTimeoutMs: 100,
      onReconnect: (reason) => reasons.push(reason),
    });
    await connection.checkNow();
    expect(connection.health()).toMatchObject({ status: 'up', forced_reconnects: 0, nodes: [{ connected: true }] });
    // The socket stays open but nothing comes back: a half-open connection, or a jammed client queue.
    proxy.stall();
    await connection.checkNow();
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/^PING to 127\.0\.0\.1:\d+ unanswered/);
    expect(connection.isReady()).toBe(false);
    expect(connection.health()).toMatchObject({ status: 'down', forced_reconnects: 1 });
    // The path heals (the stalled sockets are dropped); the fresh client connects by itself.
    await proxy.stop();
    await proxy.start();
    await vi.waitFor(() => expect(connection.isReady()).toBe(true), { timeout: 5_000, interval: 10 });
    expect(await connection.call('k', ['PING', 'back'])).toBe('back');
    expect(proxy.accepted).toBeGreaterThanOrEqual(2);
  });
});

describe('RedisConnection at shutdown', () => {
  it('reports nothing when it is closed on purpose: a clean shutdown is not an outage', async () => {
    const changes: boolean[] = [];
    const connection = new RedisConnection({
      url: 'redis://127.0.0.1:6379',
      keyPrefix: 'l04-connection-test:',
      commandTimeoutMs: 500,
      onStateChange: (up) => changes.push(up),
    });
    onCleanup(() => connection.close());
    expect(await connection.connect()).toBe(true);
    expect(connection.isReady()).toBe(true);
    await connection.close();
    expect(connection.isReady()).toBe(false);
    expect(changes).toEqual([true]);
  });
});
