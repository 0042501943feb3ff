import { describe, expect, it } from 'vitest';
import { RedisConnection } from '../src/state/redis-connection.js';
import { onCleanup } from './helpers/cleanup.js';

describe('RedisConnection', () => {
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
