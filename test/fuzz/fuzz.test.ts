/**
 * The fuzzer's finds, kept: (1) every crash fixture in test/fixtures/fuzz runs through its target
 * without crashing (each fails until its bug is fixed: that is the point), and (2) a short fuzz
 * run with a fixed seed, on every target, finds no crash. Both use the built worker
 * (dist/fuzz/worker.js): run `npm run build` first (npm test does).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fuzz } from '../../src/fuzz/fuzz';
import { Runner } from '../../src/fuzz/runner';
import { builtCaptures, fixtureFiles, targetOfFixture, TARGETS } from '../../src/fuzz/seeds';
import { disposeContext, newContext, runCaptureBytes } from '../../src/fuzz/targets';

const root = join(__dirname, '..', '..');
const files = fixtureFiles(root);

describe('crash fixtures found by the fuzzer', () => {
  const runner = new Runner({ root, timeoutMs: 3000, maxHeapMb: 256 });
  // a websocket fixture may inflate a gigabyte (the connection budget): seconds, even once fixed
  const slow = new Runner({ root, timeoutMs: 20_000, maxHeapMb: 256 });
  afterAll(() => Promise.all([runner.close(), slow.close()]));

  it('are named <target>-<hash>.<ext>, each with a .txt sidecar', () => {
    for (const f of files) {
      expect(targetOfFixture(f), f).not.toBeNull();
      expect(readFileSync(f.replace(/\.[^/]*$/, '.txt'), 'utf8')).toMatch(/^signature: /);
    }
  });

  it.each(files.map((f) => [basename(f), f] as const))('%s no longer crashes', async (_name, file) => {
    const target = targetOfFixture(file)!;
    const out = await (target === 'websocket' ? slow : runner).run(target, readFileSync(file));
    const what = out.status === 'crash' ? `${out.signature}\n${out.error?.name}: ${out.error?.message}\n${out.error?.stack ?? ''}` : 'no crash';
    expect(what).toBe('no crash');
  }, 30_000);
});

describe('the capture target', () => {
  it('takes every built capture through to decoded messages (a target that reached none would fuzz nothing)', () => {
    for (const seed of builtCaptures(root)) {
      const c = newContext(root);
      try {
        runCaptureBytes(c, seed.data);
        expect(c.counters.packets, seed.name).toBeGreaterThan(0);
        expect(c.counters.messages, seed.name).toBeGreaterThan(0);
      } finally {
        disposeContext(c);
      }
    }
  });
});

describe('a short fuzz run', () => {
  const crashes = (s: Awaited<ReturnType<typeof fuzz>>) => s.crashes.map((c) => `[${c.target}] x${c.count} ${c.signature} (${c.error?.name}: ${c.error?.message.split('\n')[0]})`);

  it('finds no crash in the capture, recording and protocol targets (fixed seed)', async () => {
    const targets = TARGETS.filter((t) => t !== 'websocket');
    const s = await fuzz({ root, seconds: 9, targets, seed: 20240611, maxCases: 500, write: false, minimizeSeconds: 0, shared: false, fixtures: false, timeoutMs: 3000, maxHeapMb: 256 });
    for (const t of targets) expect(s.targets[t].cases, t).toBeGreaterThan(20);
    expect(crashes(s)).toEqual([]);
  }, 60_000);

  it('finds no crash and no broken invariant in the websocket target (fixed seed)', async () => {
    const s = await fuzz({ root, seconds: 4, targets: ['websocket'], seed: 20240611, maxCases: 1500, write: false, minimizeSeconds: 0, shared: false, fixtures: false, timeoutMs: 3000, maxHeapMb: 256 });
    expect(s.targets.websocket.cases).toBeGreaterThan(20);
    expect(crashes(s)).toEqual([]);
  }, 60_000);
});

describe('npm run fuzz', () => {
  const main = join(root, 'dist', 'fuzz', 'main.js');
  const run = (args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 60_000 });

  it('runs a bounded, seeded session and prints its summary', () => {
    const r = run(['--seconds', '2', '--cases', '40', '--target', 'capture,protocol', '--seed', '3', '--no-write', '--no-shared', '--quiet', '--fail-on-crash']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fuzz summary \(seed 3,/);
    expect(r.stdout).toMatch(/capture\s+\d+ cases/);
    expect(r.stdout).toMatch(/protocol\s+\d+ cases/);
    expect(r.stdout).not.toMatch(/recording\s+\d+ cases/);
    expect(r.stdout).not.toMatch(/websocket\s+\d+ cases/);
  });

  it('refuses bad options with exit 2 and says why', () => {
    for (const [args, why] of [
      [['--seconds', 'soon'], /--seconds needs a number, got soon/],
      [['--target', 'pcap'], /unknown target 'pcap'/],
      [['--frobnicate'], /unknown option '--frobnicate'/],
    ] as const) {
      const r = run([...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(why);
    }
  });
});
