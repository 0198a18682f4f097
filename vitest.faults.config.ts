import { defineConfig } from 'vitest/config';

/**
 * The fault suite (`npm run test:faults`): kill -9 storms, fuzzing, broker and link outages
 * against real daemon processes. Each file runs for minutes and loads both cores, so one file at
 * a time, with timeouts in minutes; they wait on conditions, never on speed.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 15 * 60_000,
    hookTimeout: 5 * 60_000,
    teardownTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
});
