/**
 * A Lua script the gateway runs with EVALSHA. Scripts are defined once per module and registered
 * with the connection, which loads them on every node as it connects, so the first call after a
 * (re)connect does not pay for sending the source.
 */
import { createHash } from 'node:crypto';

/** A script and its SHA1 (what EVALSHA names it by). */
export interface RedisScript {
  /** A short name for errors and logs. */
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

/** Defines a script. Every key it touches must come in `KEYS` and share one hash tag. */
export function defineRedisScript(name: string, source: string): RedisScript {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}
