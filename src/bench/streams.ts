import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchCapture, type GenerateOptions } from './generate';
import { have, measure, type Run } from './tools';

/**
 * `gamesniff streams` against tcpflow and the Node floor (pcap-walk.js: reading the file and
 * walking its record headers), on generated captures shaped like the issue's rows: long
 * connections (per-byte cost), many short ones (what closed connections leave behind), many open
 * at once (what an open connection costs). Runs are interleaved A/B/C and each figure is the
 * median of GAMESNIFF_BENCH_RUNS runs (default 3; 1 for the short-connection captures, whose goal
 * is gamesniff's own RSS, and where tcpflow writes 200,000 to 800,000 files a run).
 */

const CLI = join(__dirname, '../cli/main.js');
const WALK = join(__dirname, 'pcap-walk.js');
const RUNS_SET = Number(process.env.GAMESNIFF_BENCH_RUNS) || 0;

interface Shape {
  label: string;
  name: string;
  opts: GenerateOptions;
  /** What the issue asks of this shape. */
  goals: { speedVsTcpflow?: number; timeVsFloor?: number; rssMb?: number };
  runs: number;
}

export const STREAM_SHAPES: Shape[] = [
  {
    label: '200 long connections',
    name: 'long-200',
    opts: { sessionBytes: 480 << 20, sessions: 200, shortConnections: 0, seed: 7 },
    goals: { speedVsTcpflow: 1.5, timeVsFloor: 3 },
    runs: 3,
  },
  {
    label: '100k short connections',
    name: 'short-100k',
    opts: { sessionBytes: 16 << 20, sessions: 48, shortConnections: 100_000, seed: 3 },
    goals: { rssMb: 150 },
    runs: 1,
  },
  {
    label: '400k short connections',
    name: 'short-400k',
    opts: { sessionBytes: 16 << 20, sessions: 48, shortConnections: 400_000, seed: 3 },
    goals: { rssMb: 150 },
    runs: 1,
  },
  {
    label: '25,000 open at once',
    name: 'open-25k',
    opts: { sessionBytes: 25_000 * 8192, sessions: 25_000, concurrent: 25_000, shortConnections: 0, seed: 4 },
    goals: { speedVsTcpflow: 1.5, rssMb: 200 },
    runs: 3,
  },
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[(s.length - 1) >> 1]! : NaN;
};
const fmt = (n: number, d = 1): string => n.toFixed(d);
const verdict = (ok: boolean): string => (ok ? 'goal met' : 'goal missed');

async function tcpflow(file: string): Promise<Run> {
  const out = mkdtempSync(join(tmpdir(), 'tcpflow-'));
  try {
    return await measure('tcpflow', ['-r', file, '-o', out], { stdoutToNull: true });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

interface Figures {
  seconds: number;
  cpu: number;
  rssMb: number;
  failed: string;
}

function figures(runs: Run[]): Figures {
  const bad = runs.find((r) => r.code !== 0);
  return {
    seconds: median(runs.map((r) => r.seconds)),
    cpu: median(runs.map((r) => r.cpuSeconds)),
    rssMb: median(runs.map((r) => r.peakRssMb)),
    failed: bad ? `exit ${bad.code ?? bad.signal}: ${bad.stderr.trim().split('\n').pop() ?? ''}` : '',
  };
}

export async function streamsBench(only: string[] = []): Promise<string[]> {
  const lines: string[] = [];
  const say = (l: string): void => {
    lines.push(l);
    process.stdout.write(`${l}\n`);
  };
  const withTcpflow = have('tcpflow');
  say(`\nstreams: gamesniff streams --json against tcpflow and the Node floor (walking pcap headers); medians of interleaved runs (time is wall time; CPU in brackets)`);
  if (!withTcpflow) say('  tcpflow: not installed (apt-get install tcpflow) - no ratio against it');
  for (const shape of STREAM_SHAPES) {
    if (only.length && !only.includes(shape.name)) continue;
    const file = benchCapture(shape.name, shape.opts);
    const mb = statSync(file).size / 1e6;
    const gs: Run[] = [];
    const tf: Run[] = [];
    const floor: Run[] = [];
    const runs = RUNS_SET || shape.runs;
    for (let i = 0; i < runs; i++) {
      gs.push(await measure(process.execPath, [CLI, 'streams', '-r', file, '--json'], { stdoutToNull: true }));
      if (withTcpflow) tf.push(await tcpflow(file));
      floor.push(await measure(process.execPath, [WALK, file], { stdoutToNull: true }));
    }
    const g = figures(gs);
    const f = figures(floor);
    const t = withTcpflow ? figures(tf) : null;
    const parts = [
      `gamesniff ${fmt(g.seconds, 2)} s [${fmt(g.cpu, 2)}], ${fmt(mb / g.seconds, 0)} MB/s, peak RSS ${fmt(g.rssMb, 0)} MB${g.failed ? ` (FAILED ${g.failed})` : ''}`,
      t ? `tcpflow ${fmt(t.seconds, 2)} s [${fmt(t.cpu, 2)}], ${fmt(mb / t.seconds, 0)} MB/s, ${fmt(t.rssMb, 0)} MB` : '',
      `floor ${fmt(f.seconds, 2)} s [${fmt(f.cpu, 2)}]`,
    ].filter(Boolean);
    const goals: string[] = [];
    const speed = t ? t.seconds / g.seconds : NaN;
    if (t) goals.push(`speed ${fmt(speed, 2)}x tcpflow${shape.goals.speedVsTcpflow ? ` (goal >= ${shape.goals.speedVsTcpflow}x: ${verdict(speed >= shape.goals.speedVsTcpflow)})` : ''}`);
    const overFloor = g.seconds / f.seconds;
    goals.push(`time ${fmt(overFloor, 1)}x the floor${shape.goals.timeVsFloor ? ` (goal <= ${shape.goals.timeVsFloor}x: ${verdict(overFloor <= shape.goals.timeVsFloor)})` : ''}`);
    if (t) goals.push(`RSS ${fmt(g.rssMb / t.rssMb, 1)}x tcpflow`);
    if (shape.goals.rssMb) goals.push(`RSS goal < ${shape.goals.rssMb} MB: ${verdict(g.rssMb < shape.goals.rssMb)}`);
    say(`  ${shape.label} (${fmt(mb, 0)} MB, ${runs} run${runs > 1 ? 's' : ''}): ${parts.join(' | ')}`);
    say(`    ${goals.join('; ')}`);
  }
  return lines;
}
