/**
 * The brief's conftest: a 2-second bound on every teardown (vitest.config.ts: teardownTimeout and
 * hookTimeout), and the mock Ollama response fixture shared by the tests.
 */
import { afterEach } from 'vitest';
import { cleanups } from './helpers/cleanup.js';

/** A real `/api/chat` answer as Ollama's API reference documents it (non-streaming). */
export const mockOllamaResponse = {
  model: 'llama3.2:latest',
  created_at: '2024-07-22T20:33:28.123648Z',
  message: { role: 'assistant', content: 'The sky is blue because of Rayleigh scattering.' },
  done: true,
  done_reason: 'stop',
  total_duration: 1_200_000_000,
  load_duration: 3_000_000,
  prompt_eval_count: 26,
  prompt_eval_duration: 130_000_000,
  eval_count: 12,
  eval_duration: 1_000_000_000,
} as const;

const TEARDOWN_BOUND_MS = 2_000;

afterEach(async () => {
  const pending = cleanups.splice(0).reverse();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`teardown took longer than ${TEARDOWN_BOUND_MS} ms`)), TEARDOWN_BOUND_MS);
  });
  try {
    // Last registered runs first, one at a time: a cleanup may still need what an earlier one closes.
    const runAll = async (): Promise<void> => {
      for (const cleanup of pending) await cleanup();
    };
    await Promise.race([runAll(), bound]);
  } finally {
    clearTimeout(timer);
  }
});
