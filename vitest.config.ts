import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests spawn daemons, brokers and ffmpeg: two cores, so keep the pool small.
    pool: 'forks',
    maxWorkers: 2,
    // CI also keeps a machine-readable report, from which .ci/run prints a plain summary line.
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results.json' }]] : ['default'],
  },
});
