import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  gapFlood,
  longIdle,
  outOfOrderStorm,
  synFlood,
  zlibBomb,
  type AdversarialSummary,
  type ConnectionsSummary,
  type ExpectedConnection,
  type SynFloodSummary,
  type ZlibBombSummary,
} from './adversarial';
import { captureDecodeBench, decodeBench, printDecodeFigures } from './decode';
import { outputBench } from './output';
import { benchCapture as capture } from './generate';
import { parquetBench } from './parquet';
import { liveBench } from './live';
import { have, measure, type Run } from './tools';
import { proxyBench } from './proxy';
import { replayBench } from './replay';
import { streamsBench } from './streams';
import { tuiBench, tuiRows } from './tui';

/**
 * `npm run bench`: figures, not pass/fail.
 * 1. Streams (./streams.ts): `gamesniff streams` on captures shaped like issue 18's rows (200 long
 *    connections, 100k and 400k short ones, 25,000 open at once) against tcpflow and the Node
 *    floor (walking pcap headers): speed and peak RSS ratios, medians of interleaved runs.
 * 2. Decode: 1,000,000 small messages by the compiled decoder, binary-parser and a DataView loop;
 *    then reassembly + framing + decoding of the capture of (1), in-process.
 * 2b. The TUI model with 1,000,000 messages: ingest rate, heap, draw/page/filter times.
 * 3. Live capture: a UDP flood on a loopback port for a few seconds, captured
 *    by gamesniff and by `tcpdump -i lo`: packets/s captured and packets lost.
 * 4. Adversarial captures (./adversarial.ts): SYN flood, gap flood, out-of-order storm, zlib
 *    bomb, long idle; time and peak RSS of `gamesniff streams` (and `decode` for the bomb) under
 *    a time limit, whether the output is what a correct reassembly gives, and the same file
 *    through `tshark -q -z conv,tcp` (tcpflow without tshark) for a ratio.
 * 5. Proxy (./proxy.ts): throughput and round trips of testgame chat through `gamesniff proxy`
 *    (no script, a no-op script, a rewriting one) against direct, a Node `net` relay and socat.
 *
 * 2c. Parquet (./parquet.ts): rows/s written by decode --parquet and the file's size against JSON
 *    lines, for 1,000,000 small messages and for the capture of (1).
 *
 * GAMESNIFF_BENCH=streams,decode,output,tui,parquet,live,adversarial,proxy runs only the sections named (default:
 * all); GAMESNIFF_BENCH_SHAPES=long-200,short-100k,short-400k,open-25k only those streams captures;
 * GAMESNIFF_BENCH_RUNS=N runs per figure (default 3); GAMESNIFF_BENCH_CASES=syn-flood,gap-flood,storm,bomb,long-idle only those adversarial
 * captures; GAMESNIFF_BENCH_LIMIT=SECONDS the adversarial time limit per run (default 120).
 */

const CLI = join(__dirname, '../cli/main.js');

const fmt = (n: number, d = 1): string => n.toFixed(d);

// ---- 4. adversarial captures --------------------------------------------------------------------

const ADVERSARIAL_VERSION = 1;
const LIMIT_SEC = Number(process.env.GAMESNIFF_BENCH_LIMIT) || 120;
const int = (n: number): string => n.toLocaleString('en-US');

/** A generated hostile capture and its summary, kept under tmpdir and reused between runs. */
function hostile<S extends AdversarialSummary>(name: string, make: (file: string) => S): S {
  const file = join(tmpdir(), `gamesniff-bench-adv-v${ADVERSARIAL_VERSION}-${name}.pcap`);
  const meta = `${file}.json`;
  if (existsSync(file) && existsSync(meta)) return { ...(JSON.parse(readFileSync(meta, 'utf8')) as S), file };
  process.stdout.write(`  generating ${file} ...`);
  const t0 = process.hrtime.bigint();
  const tmp = `${file}.${process.pid}.tmp`;
  const s = { ...make(tmp), file };
  renameSync(tmp, file);
  writeFileSync(meta, JSON.stringify(s));
  process.stdout.write(` ${fmt(Number(process.hrtime.bigint() - t0) / 1e9)} s, ${int(s.packets)} packets, ${fmt(s.fileBytes / 1e6)} MB\n`);
  return s;
}

/** A child's stdout as lines, each cut to its first `keep` bytes (a bomb's hex line is 128 MB), or only counted (keep 0). */
class LineTap {
  readonly lines: string[] = [];
  count = 0;
  private cur: Buffer[] = [];
  private curLen = 0;
  constructor(private readonly keep: number) {}
  readonly feed = (d: Buffer): void => {
    let start = 0;
    for (;;) {
      const nl = d.indexOf(10, start);
      const end = nl < 0 ? d.length : nl;
      if (this.curLen < this.keep && end > start) {
        const piece = Buffer.from(d.subarray(start, Math.min(end, start + this.keep - this.curLen)));
        this.cur.push(piece);
        this.curLen += piece.length;
      }
      if (nl < 0) return;
      this.count++;
      if (this.keep > 0) {
        this.lines.push(Buffer.concat(this.cur).toString());
        this.cur = [];
        this.curLen = 0;
      }
      start = nl + 1;
    }
  };
}

/** The run ended on its own and its output is whole (decode exits 1 when a message did not decode). */
function complete(r: Run): boolean {
  return !r.killed && r.signal === null && (r.code === 0 || (r.code === 1 && /did not decode/.test(r.stderr)));
}

function runText(r: Run): string {
  const rss = `peak RSS ${fmt(r.peakRssMb, 0)} MB`;
  if (r.killed) return `killed after ${LIMIT_SEC} s (${rss})`;
  const oom = /heap out of memory|Allocation failed|ENOMEM/i.test(r.stderr) ? ', out of memory' : '';
  const how = r.signal ? `, killed by ${r.signal}${oom}` : complete(r) ? '' : `, exit ${r.code}${oom}`;
  return `${fmt(r.seconds, 2)} s, ${rss}${how}`;
}

/** gamesniff's time and peak RSS as multiples of the reference tool's, on the same file. */
function ratioText(gs: Run, ref: Run): string {
  if (!complete(ref)) return 'no ratio (the reference did not finish)';
  if (gs.killed) return `time >= ${fmt(LIMIT_SEC / ref.seconds, 1)}x, RSS >= ${fmt(gs.peakRssMb / ref.peakRssMb, 2)}x`;
  if (!complete(gs)) return `no ratio (gamesniff failed after ${fmt(gs.seconds, 1)} s, RSS >= ${fmt(gs.peakRssMb / ref.peakRssMb, 2)}x)`;
  return `time ${fmt(gs.seconds / ref.seconds, 2)}x, RSS ${fmt(gs.peakRssMb / ref.peakRssMb, 2)}x`;
}

interface Reference {
  name: string;
  run: Run;
}

/** The same file through tshark's TCP conversation table, or tcpflow when tshark is missing. */
async function reference(file: string): Promise<Reference | null> {
  if (have('tshark')) return { name: 'tshark', run: await measure('tshark', ['-r', file, '-q', '-z', 'conv,tcp'], { stdoutToNull: true, limitSec: LIMIT_SEC }) };
  if (have('tcpflow')) {
    const out = mkdtempSync(join(tmpdir(), 'tcpflow-'));
    const run = await measure('tcpflow', ['-r', file, '-o', out], { stdoutToNull: true, limitSec: LIMIT_SEC });
    rmSync(out, { recursive: true, force: true });
    return { name: 'tcpflow', run };
  }
  return null;
}

interface StreamRec {
  conn: number;
  /** The connection this one resumes after idle eviction. */
  resumes?: number;
  client: string;
  server: string;
  dir: 'c2s' | 's2c';
  bytes: number;
  sha256: string;
  gaps: number;
  gapBytes: number;
  end: string;
}

/** `streams --json` records against what a correct reassembly gives; '' when all is right. */
function checkStreams(expected: ExpectedConnection[], lines: string[]): string {
  const byPair = new Map<string, { e: ExpectedConnection; c2s: StreamRec[]; s2c: StreamRec[] }>();
  for (const e of expected) byPair.set(`${e.client} ${e.server}`, { e, c2s: [], s2c: [] });
  let stray = 0;
  for (const line of lines) {
    const r = JSON.parse(line) as StreamRec;
    const same = byPair.get(`${r.client} ${r.server}`);
    // a connection picked up mid-way may have its roles the wrong way round
    const swapped = same ? undefined : byPair.get(`${r.server} ${r.client}`);
    const slot = same ?? swapped;
    if (!slot) {
      stray++;
      continue;
    }
    const dir = swapped ? (r.dir === 'c2s' ? 's2c' : 'c2s') : r.dir;
    slot[dir].push(r);
  }
  let wrong = 0;
  let resumed = 0;
  let first = '';
  for (const { e, c2s, s2c } of byPair.values()) {
    const problems: string[] = [];
    for (const [dir, recs] of [['c2s', c2s], ['s2c', s2c]] as const) {
      const x = e[dir];
      if (recs.length === 0) {
        problems.push(`${dir} missing`);
        continue;
      }
      const sum = (k: 'bytes' | 'gaps' | 'gapBytes'): number => recs.reduce((a, r) => a + r[k], 0);
      const p: string[] = [];
      // idle eviction ends a connection and a later packet resumes it (each part after the first
      // names the one it resumes): right when the chain is whole and the bytes and gaps add up
      const chain = recs.length > 1 && recs.slice(1).every((r, i) => r.resumes === recs[i]!.conn) && recs.slice(0, -1).every((r) => r.end === 'timeout');
      if (recs.length > 1 && !chain) {
        const addsUp = sum('bytes') === x.bytes && sum('gaps') === x.gaps && sum('gapBytes') === x.gapBytes;
        p.push(`split into ${recs.length} connections${addsUp ? ' (bytes and gaps add up; sha256 not comparable)' : ''}`);
      }
      if (sum('bytes') !== x.bytes) p.push(`${int(sum('bytes'))} of ${int(x.bytes)} bytes`);
      if (sum('gaps') !== x.gaps || sum('gapBytes') !== x.gapBytes) p.push(`${int(sum('gaps'))} gaps/${int(sum('gapBytes'))} B (expected ${int(x.gaps)}/${int(x.gapBytes)} B)`);
      if (recs.length === 1 && recs[0]!.sha256 !== x.sha256) p.push('sha256 differs');
      if (recs[recs.length - 1]!.end !== x.end || (!chain && recs.some((r) => r.end !== x.end))) p.push(`end ${recs.map((r) => r.end).join('+')} (expected ${x.end})`);
      if (chain) resumed++;
      if (p.length) problems.push(`${dir}: ${p.join(', ')}`);
    }
    if (problems.length) {
      wrong++;
      if (!first) first = `${e.client}: ${problems.join('; ')}`;
    }
  }
  const n = expected.length;
  const note = resumed ? ` (${int(resumed)} directions resumed after idle eviction, their parts adding up)` : '';
  if (!wrong && !stray) return note ? `output right${note}` : '';
  const head = (n === 1 ? first : `${int(n - wrong)} of ${int(n)} connections right${first ? `; first wrong: ${first}` : ''}`) + note;
  return head + (stray ? `; ${int(stray)} records for connections not in the capture` : '');
}

/** `decode --json` lines against the bomb session's messages; '' when all is right. */
function checkBombDecode(s: ZlibBombSummary, lines: string[]): { verdict: string; bomb: string } {
  const got: { c2s: Array<string | null>; s2c: Array<string | null> } = { c2s: [], s2c: [] };
  let bomb = '';
  for (const line of lines) {
    const dir = /"dir":"(c2s|s2c)"/.exec(line)?.[1] as 'c2s' | 's2c' | undefined;
    if (!dir) continue;
    const name = /"name":(null|"([^"]*)")/.exec(line);
    got[dir].push(name?.[2] ?? null);
    const size = Number(/"size":(\d+)/.exec(line)?.[1] ?? 0);
    if (dir === 's2c' && size >= s.compressedBytes) {
      const err = /"error":\{"message":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1];
      bomb = err ? `the bomb: ${err}` : `the bomb: ${name?.[2] ?? 'no name'}${/"compressed":true/.test(line) ? ', inflated' : ''}`;
    }
  }
  const problems: string[] = [];
  for (const dir of ['c2s', 's2c'] as const) {
    const want = s.messages[dir].map((n) => n ?? '(unknown)').join(',');
    const have = got[dir].map((n) => n ?? '(unknown)').join(',');
    if (want !== have) problems.push(`${dir} messages ${have || 'none'} (expected ${want})`);
  }
  return { verdict: problems.join('; '), bomb };
}

/** Run gamesniff on a hostile capture and print one line: time, peak RSS, the reference, the ratio, the check. */
async function hostileRun(
  label: string,
  args: string[],
  keep: number,
  check: (tap: LineTap, r: Run) => string,
  ref: Reference | null,
): Promise<Run> {
  const tap = new LineTap(keep);
  const r = await measure(process.execPath, [CLI, ...args], { onStdout: tap.feed, limitSec: LIMIT_SEC });
  let verdict: string;
  try {
    verdict = complete(r) ? check(tap, r) || 'output right' : 'output incomplete';
  } catch (e) {
    verdict = `output not understood: ${(e as Error).message}`;
  }
  const refText = ref ? ` | ${ref.name} ${runText(ref.run)} | gamesniff/${ref.name}: ${ratioText(r, ref.run)}` : ' | tshark, tcpflow: not installed, no ratio';
  process.stdout.write(`  ${label}: gamesniff ${args[0]} ${runText(r)}${refText} | ${verdict}\n`);
  if (!complete(r)) {
    const said = r.stderr.split('\n').filter((l) => l.trim());
    // a V8 crash ends with a native stack: its FATAL ERROR line says more
    const last = said.find((l) => /FATAL ERROR|^\w*Error\b|^gamesniff:/.test(l)) ?? said[said.length - 1];
    if (last) process.stdout.write(`    gamesniff's last words: ${last.slice(0, 300)}\n`);
  }
  return r;
}

const streamsCheck =
  (s: ConnectionsSummary) =>
  (tap: LineTap): string =>
    checkStreams(s.expected, tap.lines);

const CASES = ['syn-flood', 'gap-flood', 'storm', 'bomb', 'long-idle'];

async function adversarial(): Promise<void> {
  const only = (process.env.GAMESNIFF_BENCH_CASES ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  const unknown = only.filter((c) => !CASES.includes(c));
  if (unknown.length) process.stdout.write(`\nGAMESNIFF_BENCH_CASES: unknown ${unknown.join(', ')} (known: ${CASES.join(', ')})\n`);
  const want = (c: string): boolean => only.length === 0 || only.includes(c);
  process.stdout.write(
    `\nadversarial captures: time limit ${LIMIT_SEC} s per run; ratios are gamesniff's time and peak RSS over the reference tool's on the same file\n`,
  );
  const size = (s: AdversarialSummary): string => `${int(s.packets)} packets, ${fmt(s.fileBytes / 1e6)} MB`;
  const guard = async (name: string, f: () => Promise<void>): Promise<void> => {
    if (!want(name)) return;
    try {
      await f();
    } catch (e) {
      process.stdout.write(`  ${name}: bench error: ${(e as Error).stack ?? String(e)}\n`);
    }
  };

  await guard('syn-flood', async () => {
    const s: SynFloodSummary = hostile('syn-flood-1000000', (f) => synFlood(f, 1_000_000));
    const ref = await reference(s.file);
    await hostileRun(`SYN flood, 1,000,000 SYNs (${size(s)})`, ['streams', '-r', s.file, '--json', '--hash'], 0, (tap, r) => {
      const conns = Number(/(\d+) TCP connections/.exec(r.stderr)?.[1] ?? NaN);
      if (tap.count === 2 * s.connections && conns === s.connections) return '';
      const said = r.stderr.split('\n').find((l) => /half-open|SYN/i.test(l));
      return (
        `${int(tap.count)} records for ${int(conns)} connections of ${int(s.connections)} SYN-only ones` +
        (said ? `; stderr: ${said.trim()}` : ', and nothing on stderr about the others')
      );
    }, ref);
  });

  await guard('gap-flood', async () => {
    const s = hostile('gap-flood-1000000', (f) => gapFlood(f, 1_000_000));
    await hostileRun(`gap flood, 1,000,000 holes (${size(s)})`, ['streams', '-r', s.file, '--json', '--hash'], 4096, streamsCheck(s), await reference(s.file));
  });

  await guard('storm', async () => {
    const runs: Array<{ gs: Run; ref: Reference | null }> = [];
    for (const n of [100_000, 200_000]) {
      const s = hostile(`storm-${n}`, (f) => outOfOrderStorm(f, n));
      const ref = await reference(s.file);
      runs.push({ gs: await hostileRun(`out-of-order storm, ${int(n)} segments (${size(s)})`, ['streams', '-r', s.file, '--json', '--hash'], 4096, streamsCheck(s), ref), ref });
    }
    const [a, b] = runs as [(typeof runs)[0], (typeof runs)[0]];
    const scale = (small: Run, big: Run): string =>
      !complete(small) ? 'n/a (100k did not finish)' : big.killed ? `>= ${fmt(LIMIT_SEC / small.seconds, 2)}x (200k killed)` : !complete(big) ? 'n/a (200k failed)' : `${fmt(big.seconds / small.seconds, 2)}x`;
    process.stdout.write(
      `  out-of-order storm, time 200k / 100k: gamesniff ${scale(a.gs, b.gs)}` +
        (a.ref && b.ref ? `, ${a.ref.name} ${scale(a.ref.run, b.ref.run)}` : '') +
        ' (about 2: linear or n log n; about 4: quadratic)\n',
    );
  });

  await guard('bomb', async () => {
    const s: ZlibBombSummary = hostile('zlib-bomb-64', (f) => zlibBomb(f, 64));
    const ref = await reference(s.file);
    const label = `zlib bomb, ${int(s.compressedBytes)} B inflating to ${fmt(s.inflatedBytes / 1048576, 0)} MiB (${size(s)})`;
    await hostileRun(label, ['streams', '-r', s.file, '--json', '--hash'], 4096, streamsCheck(s), ref);
    let bomb = '';
    await hostileRun(label, ['decode', '-p', 'testgame', '-r', s.file, '--json'], 4096, (tap) => {
      const c = checkBombDecode(s, tap.lines);
      bomb = c.bomb;
      return c.verdict;
    }, ref);
    if (bomb) process.stdout.write(`    ${bomb}\n`);
  });

  await guard('long-idle', async () => {
    const s = hostile('long-idle-1000', (f) => longIdle(f, 1000));
    await hostileRun(`long idle, 1,000 connections silent ${s.idleSeconds} s mid-stream (${size(s)})`, ['streams', '-r', s.file, '--json', '--hash'], 4096, streamsCheck(s), await reference(s.file));
  });
}

const SECTIONS = ['streams', 'decode', 'output', 'tui', 'parquet', 'live', 'adversarial', 'proxy', 'replay'];

async function bench(): Promise<void> {
  const only = (process.env.GAMESNIFF_BENCH ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  const unknown = only.filter((x) => !SECTIONS.includes(x));
  if (unknown.length) process.stdout.write(`GAMESNIFF_BENCH: unknown ${unknown.join(', ')} (sections: ${SECTIONS.join(', ')})\n`);
  const want = (section: string): boolean => only.length === 0 || only.includes(section);
  if (process.env.NODE_EXTRA_CA_CERTS) {
    // Node reads and parses that bundle at every start-up, before any of the program runs (70 ms
    // on the machine this was written on): a cost of the machine's set-up, which tcpflow, tshark
    // and tcpdump do not pay. The programs measured run without it.
    process.stdout.write(`NODE_EXTRA_CA_CERTS is set (${process.env.NODE_EXTRA_CA_CERTS}): unset for the programs measured, as Node loads it at every start\n`);
    delete process.env.NODE_EXTRA_CA_CERTS;
  }
  if (want('streams')) await streamsBench((process.env.GAMESNIFF_BENCH_SHAPES ?? '').split(',').map((x) => x.trim()).filter(Boolean));
  if (want('decode')) printDecodeFigures(decodeBench());
  if (want('tui')) for (const line of [...tuiBench(), ...(await tuiRows())]) console.log(line);
  if (want('decode')) await captureDecodeBench(capture('mixed', { sessionBytes: 200 << 20, sessions: 400, shortConnections: 100_000, seed: 1 }));
  if (want('output')) await outputBench(capture('mixed', { sessionBytes: 200 << 20, sessions: 400, shortConnections: 100_000, seed: 1 }));
  if (want('parquet')) {
    try {
      await parquetBench(capture('mixed', { sessionBytes: 200 << 20, sessions: 400, shortConnections: 100_000, seed: 1 }));
    } catch (e) {
      process.stdout.write(`parquet: bench error: ${(e as Error).message}\n`);
    }
  }
  if (want('live')) await liveBench();
  if (want('adversarial')) {
    try {
      await adversarial();
    } catch (e) {
      process.stdout.write(`adversarial: bench error: ${(e as Error).stack ?? String(e)}\n`);
    }
  }
  if (want('proxy')) {
    try {
      await proxyBench();
    } catch (e) {
      process.stdout.write(`proxy: bench error: ${(e as Error).stack ?? String(e)}\n`);
    }
  }
  if (want('replay')) {
    try {
      await replayBench();
    } catch (e) {
      process.stdout.write(`replay: bench error: ${(e as Error).stack ?? String(e)}\n`);
    }
  }
}

void bench();
