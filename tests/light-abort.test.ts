/** The light abort signal: what every request's signal is, and how two are combined. */
import { describe, expect, it, vi } from 'vitest';
import { LightAbort, asAbortSignal, eitherAborted } from '../src/util/light-abort.js';

describe('LightAbort', () => {
  it('tells each listener once with the first reason, and none that was removed', () => {
    const abort = new LightAbort<string>();
    const [first, second, removed] = [vi.fn(), vi.fn(), vi.fn()];
    abort.addEventListener('abort', first);
    abort.addEventListener('abort', removed);
    abort.addEventListener('abort', second);
    abort.removeEventListener('abort', removed);
    abort.abort('first');
    abort.abort('second');
    expect([abort.aborted, abort.reason]).toEqual([true, 'first']);
    expect([first.mock.calls.length, second.mock.calls.length, removed.mock.calls.length]).toEqual([1, 1, 0]);
  });

  it('tells every listener even when one throws, then throws the first error', () => {
    const abort = new LightAbort();
    const after = vi.fn();
    abort.addEventListener('abort', () => {
      throw new Error('listener failed');
    });
    abort.addEventListener('abort', after);
    expect(() => abort.abort()).toThrow('listener failed');
    expect(after).toHaveBeenCalledTimes(1);
  });
});

describe('eitherAborted', () => {
  it('aborts with the reason of whichever signal aborts first, light or real', () => {
    const light = new LightAbort<string>();
    const real = new AbortController();
    const either = eitherAborted(asAbortSignal(light), real.signal);
    const told = vi.fn();
    either.addEventListener('abort', told);
    expect(either.aborted).toBe(false);
    real.abort('probe timeout');
    light.abort('caller left');
    expect([either.aborted, either.reason, told.mock.calls.length]).toEqual([true, 'probe timeout', 1]);

    const second = new LightAbort<string>();
    const again = eitherAborted(asAbortSignal(second), new AbortController().signal);
    second.abort('caller left');
    expect([again.aborted, again.reason]).toEqual([true, 'caller left']);
  });

  it('is aborted at once when either signal already is', () => {
    const done = new AbortController();
    done.abort('already');
    expect(eitherAborted(new AbortController().signal, done.signal).reason).toBe('already');
    expect(eitherAborted(done.signal, asAbortSignal(new LightAbort())).reason).toBe('already');
  });
});
