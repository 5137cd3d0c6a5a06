/**
 * npm run fuzz -- --seconds N [--target capture|recording|protocol|all] [--seed S]
 *
 * Fuzzes the three inputs gamesniff reads (captures, recordings, protocol files) in a worker
 * thread with time and memory limits; new crashes are minimised and written to
 * test/fixtures/fuzz/ (which test/fuzz/fuzz.test.ts replays). Exit 0 unless --fail-on-crash.
 */
import { fuzz, reminimize, summaryText } from './fuzz';
import { repoRoot } from './runner';
import { TARGETS, type TargetName } from './seeds';

const USAGE = `usage: npm run fuzz -- [options]
  --seconds N            fuzzing time (default 60; minimisation of new crashes comes on top, bounded)
  --target T             capture, recording, protocol or all (default all; repeat or comma-separate)
  --seed S               random seed (default: from the clock); the same seed makes the same cases
  --timeout MS           a case taking longer is a crash (default 5000)
  --max-heap MB          worker heap limit; more is a crash (default 512)
  --cases N              at most N cases per target
  --minimize-seconds S   time to minimise each new crash (default 20; 0: keep it whole)
  --no-write             do not write fixtures
  --no-shared            ignore ../shared/captures and $GAMESNIFF_CAPTURES
  --no-seeds             do not run the unmutated seeds first
  --fail-on-crash        exit 1 when any crash was seen
  --minimize FILE        no fuzzing: minimise a fixture further (for --minimize-seconds, default 60) and rewrite it
  --quiet                only the summary`;

function num(name: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || !Number.isFinite(n) || n < 0) {
    process.stderr.write(`${name} needs a number, got ${v ?? 'nothing'}\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

async function main(argv: string[]): Promise<number> {
  let seconds = 60;
  let targets: TargetName[] = [...TARGETS];
  let seed: number | undefined;
  let timeoutMs: number | undefined;
  let maxHeapMb: number | undefined;
  let maxCases: number | undefined;
  let minimizeSeconds: number | undefined;
  let write = true;
  let shared = true;
  let runSeeds = true;
  let failOnCrash = false;
  let quiet = false;
  const reduce: string[] = [];
  const chosen: TargetName[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const val = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--seconds':
        seconds = num(flag, val());
        break;
      case '--target':
        for (const t of (val() ?? '').split(',')) {
          if (t === 'all') chosen.push(...TARGETS);
          else if ((TARGETS as string[]).includes(t)) chosen.push(t as TargetName);
          else {
            process.stderr.write(`--target: unknown target '${t}' (capture, recording, protocol, all)\n`);
            return 2;
          }
        }
        break;
      case '--seed':
        seed = num(flag, val());
        break;
      case '--timeout':
        timeoutMs = num(flag, val());
        break;
      case '--max-heap':
        maxHeapMb = num(flag, val());
        break;
      case '--cases':
        maxCases = num(flag, val());
        break;
      case '--minimize-seconds':
        minimizeSeconds = num(flag, val());
        break;
      case '--no-write':
        write = false;
        break;
      case '--no-shared':
        shared = false;
        break;
      case '--no-seeds':
        runSeeds = false;
        break;
      case '--fail-on-crash':
        failOnCrash = true;
        break;
      case '--minimize': {
        const f = val();
        if (!f) return 2;
        reduce.push(f);
        break;
      }
      case '--quiet':
        quiet = true;
        break;
      case '-h':
      case '--help':
        process.stdout.write(USAGE + '\n');
        return 0;
      default:
        process.stderr.write(`unknown option ${a}\n${USAGE}\n`);
        return 2;
    }
  }
  if (chosen.length) targets = [...new Set(chosen)];
  if (reduce.length) {
    for (const f of reduce) await reminimize(repoRoot(), f, { seconds: minimizeSeconds ?? 60, timeoutMs, maxHeapMb, log: (l) => process.stderr.write(l + '\n') });
    return 0;
  }
  const summary = await fuzz({
    root: repoRoot(),
    seconds,
    targets,
    seed,
    timeoutMs,
    maxHeapMb,
    maxCases,
    minimizeSeconds,
    write,
    shared,
    runSeeds,
    log: quiet ? undefined : (l) => process.stderr.write(l + '\n'),
  });
  process.stdout.write(summaryText(summary, targets).join('\n') + '\n');
  return failOnCrash && summary.crashes.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`fuzz: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(2);
  },
);
