/**
 * npm run fuzz -- --seconds N [--target capture|recording|protocol|websocket|all] [--seed S]
 *
 * Fuzzes the inputs gamesniff reads (captures, recordings, protocol files, and the bytes of a
 * WebSocket connection through the conversation layer) in a worker
 * thread with time and memory limits; new crashes are minimised and written to
 * test/fixtures/fuzz/ (which test/fuzz/fuzz.test.ts replays). Exit 0 unless --fail-on-crash.
 */
import { Command, InvalidArgumentError } from 'commander';
import { fuzz, reminimize, summaryText } from './fuzz';
import { repoRoot } from './runner';
import { TARGETS, type TargetName } from './seeds';

function count(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} needs a number, got ${v}`);
    return n;
  };
}

function targetList(v: string, prev: TargetName[] | undefined): TargetName[] {
  const out = [...(prev ?? [])];
  for (const t of v.split(',')) {
    if (t === 'all') out.push(...TARGETS);
    else if ((TARGETS as readonly string[]).includes(t)) out.push(t as TargetName);
    else throw new InvalidArgumentError(`unknown target '${t}' (${TARGETS.join(', ')}, all)`);
  }
  return out;
}

interface FuzzOptions {
  seconds: number;
  target?: TargetName[];
  seed?: number;
  timeout?: number;
  maxHeap?: number;
  cases?: number;
  minimizeSeconds?: number;
  write: boolean;
  shared: boolean;
  seeds: boolean;
  failOnCrash?: boolean;
  minimize?: string[];
  quiet?: boolean;
}

const program = new Command('npm run fuzz --')
  .description('Fuzz the inputs gamesniff reads: captures, recordings, protocol files, and a WebSocket connection\'s bytes (protocols/wsgame).')
  .option('--seconds <n>', 'fuzzing time (minimisation of new crashes comes on top, bounded)', count('--seconds'), 60)
  .option('--target <t>', 'capture, recording, protocol, websocket or all (default all; repeat or comma-separate)', targetList)
  .option('--seed <s>', 'random seed (default: from the clock); the same seed makes the same cases', count('--seed'))
  .option('--timeout <ms>', 'a case taking longer is a crash (default 5000)', count('--timeout'))
  .option('--max-heap <mb>', 'worker heap limit; more is a crash (default 512)', count('--max-heap'))
  .option('--cases <n>', 'at most N cases per target', count('--cases'))
  .option('--minimize-seconds <s>', 'time to minimise each new crash (default 20; 0: keep it whole)', count('--minimize-seconds'))
  .option('--no-write', 'do not write fixtures')
  .option('--no-shared', 'ignore ../shared/captures and $GAMESNIFF_CAPTURES')
  .option('--no-seeds', 'do not run the unmutated seeds first')
  .option('--fail-on-crash', 'exit 1 when any crash was seen')
  .option('--minimize <file>', 'no fuzzing: minimise a fixture further (for --minimize-seconds, default 60) and rewrite it', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
  .option('--quiet', 'only the summary')
  .allowExcessArguments(false)
  .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2));

async function main(o: FuzzOptions): Promise<number> {
  const targets = o.target?.length ? [...new Set(o.target)] : [...TARGETS];
  if (o.minimize?.length) {
    for (const f of o.minimize) await reminimize(repoRoot(), f, { seconds: o.minimizeSeconds ?? 60, timeoutMs: o.timeout, maxHeapMb: o.maxHeap, log: (l) => process.stderr.write(l + '\n') });
    return 0;
  }
  const summary = await fuzz({
    root: repoRoot(),
    seconds: o.seconds,
    targets,
    seed: o.seed,
    timeoutMs: o.timeout,
    maxHeapMb: o.maxHeap,
    maxCases: o.cases,
    minimizeSeconds: o.minimizeSeconds,
    write: o.write,
    shared: o.shared,
    runSeeds: o.seeds,
    log: o.quiet ? undefined : (l) => process.stderr.write(l + '\n'),
  });
  process.stdout.write(summaryText(summary, targets).join('\n') + '\n');
  return o.failOnCrash && summary.crashes.length ? 1 : 0;
}

program.parse(process.argv);
main(program.opts<FuzzOptions>()).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`fuzz: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(2);
  },
);
