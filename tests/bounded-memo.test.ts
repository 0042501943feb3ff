/** The bounded memo behind the key, digest and text caches of the request path. */
import { describe, expect, it } from 'vitest';
import { BoundedMemo } from '../src/util/bounded-memo.js';

describe('BoundedMemo', () => {
  it('computes each key once while remembered, and starts over when full instead of growing', () => {
    const computed: string[] = [];
    const memo = new BoundedMemo(3, (key: string) => {
      computed.push(key);
      return key.toUpperCase();
    });
    expect(['a', 'b', 'a', 'c', 'b'].map((key) => memo.get(key))).toEqual(['A', 'B', 'A', 'C', 'B']);
    expect(computed).toEqual(['a', 'b', 'c']);
    expect(memo.size).toBe(3);
    expect(memo.get('d')).toBe('D'); // full: emptied, then 'd' remembered
    expect(memo.size).toBe(1);
    expect(memo.get('a')).toBe('A');
    expect(computed).toEqual(['a', 'b', 'c', 'd', 'a']);
    for (let index = 0; index < 1_000; index++) memo.get(`flood-${index}`);
    expect(memo.size).toBeLessThanOrEqual(3);
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new BoundedMemo(0, String)).toThrow('got 0');
    expect(() => new BoundedMemo(1.5, String)).toThrow('got 1.5');
  });
});
