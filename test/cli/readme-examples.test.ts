import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../helpers/cli';

/**
 * The README's shell examples run as pasted: each ```sh block, in bash with `set -e`, with
 * `gamesniff` on the PATH (as `npx gamesniff` or `npm link` gives it), background jobs stopped at
 * the end. A block that cannot run in a test is listed here with the reason.
 */
const NOT_RUN: Record<string, string> = {
  'npm run quickstart': 'opens the interactive terminal UI (the tmux test covers it) and installs packages',
  'node src/capture/native/install.js': 'rebuilds the capture binding the other tests use (test/capture/native-install.test.ts covers it)',
};

const blocks = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
const bin = mkdtempSync(join(tmpdir(), 'gs-readme-'));
writeFileSync(join(bin, 'gamesniff'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
chmodSync(join(bin, 'gamesniff'), 0o755);
const isRoot = process.getuid?.() === 0;
/** Blocks that run tshark (CI installs it: .ci/setup --test) are skipped without it. */
const hasTshark = spawnSync('sh', ['-c', 'command -v tshark']).status === 0;

describe("the README's examples", () => {
  it('are all either run here or listed with the reason they are not', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4);
  });

  const runnable = blocks.filter((b) => !Object.keys(NOT_RUN).some((k) => b.trimStart().startsWith(k)));
  it.each(runnable.map((b) => [b.split('\n')[0]!, b]))('run as pasted: %s', (_first, block) => {
    if (/\(root\)/.test(block) && !isRoot) return;
    if (/^tshark /m.test(block) && !hasTshark) return;
    // background jobs that end by themselves (a replay server) get a second to say their result, as a user would see it
    const script = `set -e\ntrap 'sleep 1; kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null' EXIT\n${block}`;
    const r = spawnSync('bash', ['-c', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/internal error|ECONNREFUSED/);
    if (/gamesniff decode [^\n]*--duration/.test(block)) {
      // the live decode saw the whole session
      expect(r.stdout).toMatch(/-> hello /);
      expect(r.stdout).toMatch(/-> bye /);
    }
    if (block.includes('replay')) expect(r.stdout.match(/result: same as recorded/g)).toHaveLength(2);
    // the first bot: its chat went through the proxy's script
    if (block.includes('gamesniff codegen')) expect(r.stdout).toContain('the server relayed: HELLO FROM MY BOT');
    // the dissector names the messages, and finds the snapshots with items by a field
    if (block.includes('gamesniff export-dissector')) expect(r.stdout).toMatch(/^c2s\thello\t\ns2c\thello_ack\t\n[\s\S]*s2c\tinventory\tmsgpack \(Lua does not decode it\)\n1\t3\n/);
  });
});
