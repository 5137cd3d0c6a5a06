import { defineConfig } from 'vitest/config';

/**
 * Files that open sockets, capture live on the loopback device, use fixed ports or drive tmux:
 * they run one at a time (they share the device and the ports). Everything else (files,
 * generated inputs, tshark on files, DuckDB) runs beside them, on the other worker.
 */
const NETWORK = [
  'test/live/**',
  'test/capture/**',
  'test/proxy/**',
  'test/client/**',
  'test/replay/**',
  'test/testbed/**',
  'test/examples/**',
  'test/tui/tmux.test.ts',
  'test/cli/readme-examples.test.ts',
  'test/cli/demo.test.ts',
  'test/cli/proxy-tui.test.ts',
  'test/cli/decode.test.ts',
  'test/cli/streams.test.ts',
  'test/cli/hardening.test.ts',
  'test/cli/parquet.test.ts',
  'test/cli/watch.test.ts',
  'test/cli/replay.test.ts',
  'test/cli/testbed.test.ts',
  'test/cli/proxy.test.ts',
  'test/cli/info.test.ts',
  'test/cli/tui.test.ts',
];
/** Files that touch no socket, checked by name: a new file is in the network group until it is listed here. */
const OFFLINE = [
  'test/architecture.test.ts',
  'test/core/**',
  'test/packet/**',
  'test/framing/**',
  'test/transform/**',
  'test/reassembly/**',
  'test/flow/**',
  'test/protocol/**',
  'test/conversation/**',
  'test/session/**',
  'test/recording/**',
  'test/input/**',
  'test/infer/**',
  'test/fuzz/**',
  'test/oracle/**',
  'test/tui/model.test.ts',
  'test/tui/inspect.test.ts',
  'test/tui/pane-and-backfill.test.ts',
  'test/tui/model/log.test.ts',
  'test/cli/export-dissector.test.ts',
  'test/cli/new.test.ts',
  'test/cli/vectors.test.ts',
  'test/cli/record.test.ts',
];

export default defineConfig({
  test: {
    // one worker for the network files (one at a time) and two for the rest: the network tests
    // mostly wait on their peers, so three workers keep two cores busy
    maxWorkers: 3,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // the JSON report is what .ci/run counts
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results.json' },
    projects: [
      { extends: true, test: { name: 'network', include: ['test/**/*.test.ts'], exclude: OFFLINE, fileParallelism: false } },
      { extends: true, test: { name: 'offline', include: OFFLINE.map((g) => (g.endsWith('.ts') ? g : `${g}/*.test.ts`)) } },
    ],
  },
});
