import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // live capture tests share the loopback device: run files one at a time
    fileParallelism: false,
    // the JSON report is what .ci/run counts
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results.json' },
  },
});
