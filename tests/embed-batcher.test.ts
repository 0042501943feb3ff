import { describe, expect, it } from 'vitest';
import { ProviderError } from '../src/models/error-codes.js';
import { EmbedBatcher, apportion } from '../src/routing/embed-batcher.js';
import type { EmbedResult } from '../src/routing/embed-batcher.js';
import { FakeClock, flushMicrotasks } from './helpers/fake-clock.js';

interface UpstreamCall {
  provider: string;
  model: string;
  inputs: string[];
  signal: AbortSignal;
  resolve: (result: EmbedResult) => void;
  reject: (error: unknown) => void;
}

/** An upstream whose calls the test answers by hand; each input embeds as [its length]. */
function setup(options: { windowMs?: number; maxBatch?: number } = {}) {
  const clock = new FakeClock();
  const calls: UpstreamCall[] = [];
  const batcher = new EmbedBatcher({
    clock,
    ...options,
    embed: (provider, model, inputs, signal) => new Promise((resolve, reject) => calls.push({ provider, model, inputs, signal, resolve, reject })),
  });
  const answer = (call: UpstreamCall, inputTokens: number): void =>
    call.resolve({ embeddings: call.inputs.map((input) => [input.length]), usage: { input_tokens: inputTokens } });
  return { clock, calls, batcher, answer };
}

describe('EmbedBatcher', () => {
  it('sends concurrent calls within the window as one upstream call and splits the results in order', async () => {
    const { clock, calls, batcher, answer } = setup();
    const first = batcher.embed('ollama', 'nomic', ['a', 'bb']);
    const second = batcher.embed('ollama', 'nomic', ['cccccccc']);
    await clock.advance(1);
    const third = batcher.embed('ollama', 'nomic', ['dddd']);
    expect(calls).toHaveLength(0);
    await clock.advance(1);
    expect(calls.map((call) => call.inputs)).toEqual([['a', 'bb', 'cccccccc', 'dddd']]);
    answer(calls[0]!, 10);
    const results = await Promise.all([first, second, third]);
    expect(results.map((result) => result.embeddings)).toEqual([[[1], [2]], [[8]], [[4]]]);
    expect(results.map((result) => result.usage.input_tokens).reduce((a, b) => a + b)).toBe(10);
  });

  it('makes fewer upstream calls: 20 concurrent calls become one', async () => {
    const { clock, calls, batcher, answer } = setup();
    const pending = Array.from({ length: 20 }, (_, i) => batcher.embed('openai', 'text-embedding-3-small', [`text ${i}`]));
    await clock.advance(2);
    expect(calls).toHaveLength(1);
    answer(calls[0]!, 60);
    const results = await Promise.all(pending);
    expect(results.every((result) => result.usage.input_tokens === 3)).toBe(true);
  });

  it('keeps providers and models apart, and starts a new batch after the window', async () => {
    const { clock, calls, batcher } = setup();
    void batcher.embed('ollama', 'a', ['1']);
    void batcher.embed('ollama', 'b', ['2']);
    void batcher.embed('openai', 'a', ['3']);
    await clock.advance(2);
    void batcher.embed('ollama', 'a', ['4']);
    await clock.advance(2);
    expect(calls.map((call) => [call.provider, call.model, ...call.inputs])).toEqual([
      ['ollama', 'a', '1'],
      ['ollama', 'b', '2'],
      ['openai', 'a', '3'],
      ['ollama', 'a', '4'],
    ]);
  });

  it('sends a batch as soon as it holds maxBatch inputs, and a call that would overflow starts the next', async () => {
    const { clock, calls, batcher } = setup({ maxBatch: 3 });
    void batcher.embed('p', 'm', ['1', '2']);
    void batcher.embed('p', 'm', ['3']);
    await flushMicrotasks();
    expect(calls.map((call) => call.inputs)).toEqual([['1', '2', '3']]);
    void batcher.embed('p', 'm', ['4', '5']);
    void batcher.embed('p', 'm', ['6', '7']);
    void batcher.embed('p', 'm', ['8', '9', '10', '11']);
    await clock.advance(2);
    expect(calls.map((call) => call.inputs)).toEqual([
      ['1', '2', '3'],
      ['4', '5'],
      ['6', '7'],
      ['8', '9', '10', '11'],
    ]);
  });

  it('fails every caller of a batch with the same upstream error', async () => {
    const { clock, calls, batcher } = setup();
    const pending = [batcher.embed('p', 'm', ['1']), batcher.embed('p', 'm', ['2'])];
    await clock.advance(2);
    const error = new ProviderError('E4202');
    calls[0]!.reject(error);
    const outcomes = await Promise.allSettled(pending);
    expect(outcomes.map((outcome) => outcome.status === 'rejected' && outcome.reason)).toEqual([error, error]);
  });

  it('fails the batch with E4600 when the upstream returns the wrong number of embeddings', async () => {
    const { clock, calls, batcher } = setup();
    const pending = batcher.embed('p', 'm', ['1', '2']);
    await clock.advance(2);
    calls[0]!.resolve({ embeddings: [[1]], usage: { input_tokens: 2 } });
    await expect(pending).rejects.toMatchObject({ code: 'E4600' });
  });

  it('rejects an aborted caller with E4507 and leaves the others batch alone', async () => {
    const { clock, calls, batcher, answer } = setup();
    const before = new AbortController();
    const during = new AbortController();
    const leftEarly = batcher.embed('p', 'm', ['early'], before.signal);
    const leftLate = batcher.embed('p', 'm', ['late'], during.signal);
    const stays = batcher.embed('p', 'm', ['stays']);
    before.abort();
    await expect(leftEarly).rejects.toMatchObject({ code: 'E4507' });
    await clock.advance(2);
    expect(calls[0]!.inputs).toEqual(['late', 'stays']);
    during.abort();
    await expect(leftLate).rejects.toMatchObject({ code: 'E4507' });
    expect(calls[0]!.signal.aborted).toBe(false);
    answer(calls[0]!, 4);
    // Estimated weights: 'late' 1 token, 'stays' 2 tokens → 4 tokens split 1 : 3 (largest remainder).
    expect(await stays).toEqual({ embeddings: [[5]], usage: { input_tokens: 3 } });
  });

  it('aborts the upstream call only when every caller has aborted, and skips it when all left before sending', async () => {
    const { clock, calls, batcher } = setup();
    const controller = new AbortController();
    const pending = batcher.embed('p', 'm', ['x'], controller.signal);
    await clock.advance(2);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'E4507' });
    expect(calls[0]!.signal.aborted).toBe(true);
    const gone = new AbortController();
    const never = batcher.embed('p', 'm', ['y'], gone.signal);
    gone.abort();
    await expect(never).rejects.toMatchObject({ code: 'E4507' });
    await clock.advance(2);
    expect(calls).toHaveLength(1);
    await expect(batcher.embed('p', 'm', ['z'], gone.signal)).rejects.toMatchObject({ code: 'E4507' });
  });

  it('apportions usage by weight with parts that sum to the total', () => {
    expect(apportion(10, [1, 1, 1])).toEqual([4, 3, 3]);
    expect(apportion(7, [0, 0])).toEqual([4, 3]);
    expect(apportion(100, [1, 3])).toEqual([25, 75]);
  });
});
