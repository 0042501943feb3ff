import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    setupFiles: ['tests/setup.ts'],
    testTimeout: 10_000,
    hookTimeout: 5_000,
    teardownTimeout: 2_000,
    pool: 'forks',
  },
});
