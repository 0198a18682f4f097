import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The fault suite (kill -9 storms, fuzzing, outages) runs for minutes: `npm run test:faults`.
    exclude: [...configDefaults.exclude, 'test/faults/**'],
    // A test must never fail because the machine is busy (CI, or two cores shared with other
    // work): defaults well above vitest's 30 s. Tests that run real processes set their own,
    // larger timeouts (test/harness/wait.ts); their waits poll conditions with generous deadlines.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Closing a worker that still stops daemons, brokers and ffmpeg children.
    teardownTimeout: 60_000,
    // Integration tests spawn daemons, brokers and ffmpeg: two cores, so keep the pool small.
    pool: 'forks',
    maxWorkers: 2,
    // CI also keeps a machine-readable report, from which .ci/run prints a plain summary line.
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results.json' }]] : ['default'],
  },
});
