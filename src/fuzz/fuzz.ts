/**
 * The fuzzing loop: seeds, cases, the worker runner, deduplication by signature, minimisation
 * and crash fixtures (test/fixtures/fuzz/<target>-<hash>.<ext> with a .txt sidecar).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { makeCase } from './generate';
import { minimize } from './minimize';
import { Rng } from '../core/rng';
import { RESOURCE_KINDS, Runner, type Outcome } from './runner';
import { FIXTURE_DIR, TARGETS, loadSeeds, targetOfFixture, type Seed, type TargetName } from './seeds';

export interface FuzzOptions {
  root: string;
  /** Fuzzing time (minimisation not counted; it has its own budget). */
  seconds: number;
  targets?: TargetName[];
  seed?: number;
  timeoutMs?: number;
  maxHeapMb?: number;
  /** Stop a target after this many cases (besides the time limit). */
  maxCases?: number;
  /** Write fixtures for new crashes. */
  write?: boolean;
  /** Time for minimising one crash (0: do not minimise). */
  minimizeSeconds?: number;
  /** Use ../shared/captures or $GAMESNIFF_CAPTURES when present. */
  shared?: boolean;
  /** Use the crash fixtures in test/fixtures/fuzz as seeds (default true). */
  fixtures?: boolean;
  /** Run every seed once, unmutated, before fuzzing. */
  runSeeds?: boolean;
  log?: (line: string) => void;
}

export interface TargetStats {
  cases: number;
  ok: number;
  expected: number;
  crashes: number;
  ms: number;
  counters: Record<string, number>;
}

export interface CrashRecord {
  signature: string;
  target: TargetName;
  kind: string;
  count: number;
  /** Signature already had a fixture when the run started. */
  known: boolean;
  error?: Outcome['error'];
  origin: string;
  size: number;
  minimizedSize?: number;
  fixture?: string;
}

export interface FuzzSummary {
  seed: number;
  seeds: Record<TargetName, number>;
  shared: string | null;
  targets: Record<TargetName, TargetStats>;
  crashes: CrashRecord[];
  wallMs: number;
  workerSpawns: number;
}

/** The signature without line numbers: a fixture's bug is still the same bug after unrelated edits shift lines. */
export function looseSignature(sig: string): string {
  return sig.replace(/(\.(?:ts|js)):\d+/g, '$1');
}

export function fixtureExt(target: TargetName, data: Buffer): string {
  if (target === 'recording') return 'gsrec';
  if (target === 'protocol') return 'yaml';
  if (target === 'websocket') return data[0] === 0x1f && data[1] === 0x8b ? 'wscase.gz' : 'wscase';
  if (data[0] === 0x1f && data[1] === 0x8b) return 'pcap.gz';
  if (data.length >= 4 && data.readUInt32BE(0) === 0x0a0d0d0a) return 'pcapng';
  return 'pcap';
}

/** Signatures of the fixtures already on disk (from their sidecars). */
export function knownSignatures(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const dir = FIXTURE_DIR(root);
  if (!existsSync(dir)) return out;
  const files = readdirSync(dir);
  for (const f of files) {
    if (!f.endsWith('.txt')) continue;
    const m = /^signature: (.*)$/m.exec(readFileSync(join(dir, f), 'utf8'));
    const base = f.replace(/\.txt$/, '');
    if (m) out.set(looseSignature(m[1]!), files.find((x) => x.startsWith(`${base}.`) && !x.endsWith('.txt')) ?? f);
  }
  return out;
}

function sidecar(c: CrashRecord, data: Buffer, by: string): string {
  const e = c.error;
  return [
    `signature: ${c.signature}`,
    `target: ${c.target}`,
    `kind: ${c.kind}`,
    `error: ${e ? `${e.name}: ${e.message.split('\n')[0]}` : '(none)'}`,
    `input: ${c.size} bytes from ${c.origin}; minimised to ${data.length} bytes`,
    `found: ${new Date().toISOString()} by ${by}`,
    `replay: npx vitest run test/fuzz (every fixture runs through its target and must not crash)`,
    '',
    'stack:',
    e?.stack ? e.stack : '(no stack: the worker was terminated)',
    '',
  ].join('\n');
}

/** Does this outcome reproduce crash `c`? Resource crashes (hang, heap, rss) stand for each other at the same place. */
export function sameCrash(c: { signature: string; kind: string }, x: Outcome): boolean {
  if (x.status !== 'crash') return false;
  const where = (sig: string) => looseSignature(sig).replace(/^.*? @ /, '');
  if (RESOURCE_KINDS.has(c.kind)) return RESOURCE_KINDS.has(x.kind ?? '') && where(x.signature!) === where(c.signature);
  return looseSignature(x.signature!) === looseSignature(c.signature);
}

/** Delta-debug a crashing input, bounded by budgetMs. Hangs and memory blow-ups use smaller limits (a runner of their own). */
export async function minimizeCrash(runner: Runner, root: string, target: TargetName, data: Buffer, c: { signature: string; kind: string }, budgetMs: number) {
  const resource = RESOURCE_KINDS.has(c.kind);
  const mini = resource ? new Runner({ root, timeoutMs: Math.min(runner.timeoutMs, 1500), maxHeapMb: Math.min(runner.maxHeapMb, 160) }) : runner;
  try {
    return await minimize(data, target === 'protocol' ? 'text' : target === 'websocket' ? 'websocket' : 'bytes', async (cand) => sameCrash(c, await mini.run(target, cand)), budgetMs);
  } finally {
    if (mini !== runner) await mini.close();
  }
}

/** Write a fixture and its sidecar; returns the fixture's file name. */
export function writeFixture(root: string, c: CrashRecord, data: Buffer, by: string): string {
  const dir = FIXTURE_DIR(root);
  mkdirSync(dir, { recursive: true });
  const name = `${c.target}-${createHash('sha256').update(data).digest('hex').slice(0, 10)}`;
  const file = `${name}.${fixtureExt(c.target, data)}`;
  writeFileSync(join(dir, file), data);
  writeFileSync(join(dir, `${name}.txt`), sidecar(c, data, by));
  return file;
}

/**
 * Run one fixture again; when it still crashes, minimise it further and rewrite it (under the name
 * its current signature gives, which replaces the old pair when the signature changed).
 */
export async function reminimize(root: string, file: string, o: { seconds: number; timeoutMs?: number; maxHeapMb?: number; log?: (l: string) => void }): Promise<CrashRecord | null> {
  const log = o.log ?? (() => undefined);
  const target = targetOfFixture(file);
  if (!target) throw new Error(`${file}: not a fixture name (<target>-<hash>.<ext>)`);
  const data = readFileSync(file);
  const runner = new Runner({ root, timeoutMs: o.timeoutMs, maxHeapMb: o.maxHeapMb });
  try {
    const out = await runner.run(target, data);
    if (out.status !== 'crash') {
      log(`${file}: no crash (${out.status})`);
      return null;
    }
    const c: CrashRecord = { signature: out.signature!, target, kind: out.kind ?? 'exception', count: 1, known: true, error: out.error, origin: basename(file), size: data.length };
    log(`${file}: ${c.signature}`);
    const res = await minimizeCrash(runner, root, target, data, c, o.seconds * 1000);
    log(`  minimised ${data.length} -> ${res.data.length} bytes (${res.runs} runs, ${(res.ms / 1000).toFixed(1)}s)`);
    const again = await runner.run(target, res.data);
    if (again.status === 'crash') c.error = again.error;
    c.minimizedSize = res.data.length;
    const old = readFileSync(file.replace(/\.[^/\\]*$/, '.txt'), 'utf8');
    const by = /^found: .* by (.*)$/m.exec(old)?.[1] ?? 'npm run fuzz';
    const origin = /^input: \d+ bytes from (.*?); minimised/m.exec(old)?.[1];
    if (origin) c.origin = origin;
    c.fixture = writeFixture(root, c, res.data, by);
    if (c.fixture !== basename(file)) {
      rmSync(file);
      rmSync(file.replace(/\.[^/\\]*$/, '.txt'), { force: true });
    }
    log(`  wrote test/fixtures/fuzz/${c.fixture}`);
    return c;
  } finally {
    await runner.close();
  }
}

export async function fuzz(o: FuzzOptions): Promise<FuzzSummary> {
  const log = o.log ?? (() => undefined);
  const targets = o.targets ?? TARGETS;
  const seed = (o.seed ?? Date.now()) >>> 0;
  const r = new Rng(seed);
  const { seeds, shared } = loadSeeds(o.root, { shared: o.shared, fixtures: o.fixtures });
  // Known crashes: those the fixtures still produce (their first run below replaces the sidecars'
  // word for it). A fixed fixture's signature is free again: a crash with it is a new find.
  const known = o.runSeeds === false ? knownSignatures(o.root) : new Map<string, string>();
  const runner = new Runner({ root: o.root, timeoutMs: o.timeoutMs, maxHeapMb: o.maxHeapMb });
  const stats = Object.fromEntries(TARGETS.map((t) => [t, { cases: 0, ok: 0, expected: 0, crashes: 0, ms: 0, counters: {} }])) as Record<TargetName, TargetStats>;
  const crashes = new Map<string, CrashRecord>();
  const wallStart = Date.now();
  let minimizeLeft = Math.max(o.seconds, 60) * 1000;
  const write = o.write ?? true;

  log(
    `gamesniff fuzz: seed ${seed}, ${o.seconds}s, targets ${targets.join(', ')}; seeds: ` +
      TARGETS.map((t) => `${seeds[t].length} ${t}`).join(', ') +
      (shared ? ` (with ${shared})` : ' (no third-party captures)') +
      `; ${TARGETS.reduce((n, t) => n + seeds[t].filter((x) => x.name.startsWith('fixture/')).length, 0)} fixtures`,
  );

  const handle = async (target: TargetName, data: Buffer, origin: string, out: Outcome): Promise<void> => {
    const st = stats[target];
    st.cases++;
    st.ms += out.ms;
    for (const [k, v] of Object.entries(out.counters)) st.counters[k] = (st.counters[k] ?? 0) + v;
    if (out.status === 'ok') st.ok++;
    else if (out.status === 'expected') st.expected++;
    if (out.status !== 'crash') return;
    st.crashes++;
    const sig = out.signature!;
    const key = looseSignature(sig);
    const seen = crashes.get(key);
    if (seen) {
      seen.count++;
      return;
    }
    const c: CrashRecord = { signature: sig, target, kind: out.kind ?? 'exception', count: 1, known: known.has(key), error: out.error, origin, size: data.length };
    crashes.set(key, c);
    if (c.known) {
      c.fixture = known.get(key);
      log(`  crash (known, fixture ${c.fixture}): ${sig}`);
      return;
    }
    log(`  NEW crash [${target}] ${sig}`);
    log(`    ${out.error?.name}: ${out.error?.message.split('\n')[0]?.slice(0, 300)}  (${data.length} bytes, ${origin})`);
    let min = data;
    const budget = Math.min((o.minimizeSeconds ?? 20) * 1000, minimizeLeft);
    if (budget > 0) {
      const res = await minimizeCrash(runner, o.root, target, data, c, budget);
      minimizeLeft -= res.ms;
      min = res.data;
      log(`    minimised ${data.length} -> ${min.length} bytes (${res.runs} runs, ${(res.ms / 1000).toFixed(1)}s)`);
      // the sidecar tells what the minimal case does (its stack, an invariant's details), not the first one
      if (min !== data) {
        const again = await runner.run(target, min);
        if (sameCrash(c, again)) c.error = again.error;
      }
    }
    c.minimizedSize = min.length;
    if (write) {
      c.fixture = writeFixture(o.root, c, min, `npm run fuzz -- --seed ${seed}`);
      log(`    wrote test/fixtures/fuzz/${c.fixture}`);
    }
  };

  const pools: Record<TargetName, Seed[]> = { ...seeds };
  try {
    if (o.runSeeds !== false) {
      for (const t of targets) {
        const keep: Seed[] = [];
        // fixtures first: a seed that shows a fixture's bug is then a known crash, not a new find
        const fixturesFirst = [...seeds[t]].sort((x, y) => Number(!x.name.startsWith('fixture/')) - Number(!y.name.startsWith('fixture/')));
        for (const s of fixturesFirst) {
          const out = await runner.run(t, s.data);
          const fixture = /^fixture\/(.*)$/.exec(s.name)?.[1];
          if (fixture && out.status === 'crash') known.set(looseSignature(out.signature!), fixture);
          await handle(t, s.data, `${s.name}, unmutated`, out);
          // a seed that crashes (an unfixed fixture) would mostly breed the same crash, or hang after hang
          if (out.status !== 'crash') keep.push(s);
        }
        if (keep.length) pools[t] = keep;
      }
    }
    const budgetMs = o.seconds * 1000;
    let fuzzMs = 0;
    let lastReport = Date.now();
    let done = new Set<TargetName>();
    for (let i = 0; fuzzMs < budgetMs && done.size < targets.length; i++) {
      const t = targets[i % targets.length]!;
      if (done.has(t)) continue;
      if (o.maxCases !== undefined && stats[t].cases >= o.maxCases) {
        done = new Set([...done, t]);
        continue;
      }
      const c = makeCase(r, t, pools[t]);
      const t0 = Date.now();
      const out = await runner.run(t, c.data);
      fuzzMs += Date.now() - t0;
      await handle(t, c.data, c.origin, out);
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        const total = targets.reduce((s, x) => s + stats[x].cases, 0);
        log(`  ${(fuzzMs / 1000).toFixed(0)}s: ${total} cases (${targets.map((x) => `${x} ${stats[x].cases}`).join(', ')}), ${crashes.size} crash signatures`);
      }
    }
  } finally {
    await runner.close();
  }
  return {
    seed,
    seeds: Object.fromEntries(TARGETS.map((t) => [t, seeds[t].length])) as Record<TargetName, number>,
    shared,
    targets: stats,
    crashes: [...crashes.values()],
    wallMs: Date.now() - wallStart,
    workerSpawns: runner.spawns,
  };
}

export function summaryText(s: FuzzSummary, targets: TargetName[] = TARGETS): string[] {
  const lines: string[] = [];
  lines.push(`fuzz summary (seed ${s.seed}, ${(s.wallMs / 1000).toFixed(1)}s wall, ${s.workerSpawns} worker starts)`);
  for (const t of targets) {
    const st = s.targets[t];
    const rate = st.ms > 0 ? (st.cases / (st.ms / 1000)).toFixed(1) : '-';
    const extra = Object.entries(st.counters)
      .filter(([k]) => k !== 'impossible')
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    lines.push(`  ${t.padEnd(9)} ${String(st.cases).padStart(7)} cases, ${rate} cases/s; ok ${st.ok}, expected errors ${st.expected}, crashes ${st.crashes}${extra ? ` (${extra})` : ''}`);
  }
  if (!s.crashes.length) lines.push('  no crashes');
  else {
    lines.push(`  ${s.crashes.length} crash signatures:`);
    for (const c of s.crashes) {
      lines.push(`    [${c.target}] x${c.count}${c.known ? ' (known)' : ' NEW'} ${c.signature}`);
      if (c.fixture) lines.push(`        fixture: test/fixtures/fuzz/${c.fixture}`);
    }
  }
  return lines;
}
