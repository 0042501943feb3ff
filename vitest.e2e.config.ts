import { defineConfig } from 'vitest/config';

// The longer suites, kept out of `npm test` (which stays under 30 s): chaos runs against real Redis,
// PostgreSQL and fixture upstreams with injected faults, the dashboard in a real browser, and real
// agent clients (Claude Code) through the gateway. `.ci/run` runs them after `npm test`.
export default defineConfig({
  test: {
    include: ['tests/e2e/**/*.test.ts'],
    setupFiles: ['tests/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    teardownTimeout: 2_000,
    pool: 'forks',
    // One file at a time: each measures the gateway under load or drives a browser, and two at once
    // on a 2-core machine would measure each other.
    fileParallelism: false,
  },
});
