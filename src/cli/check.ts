import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { GamesniffError } from '../core/errors';
import { prettySource } from '../protocol/codegen';
import { ProtocolError } from '../protocol/load';
import { loadProtocol, resolveProtocolPath, type Protocol } from '../protocol/protocol';
import { runVectorFile, type VectorResult } from '../conversation/vectors';
import { print } from './output';
import { protocolOption } from './protocol-option';
import { runHeader, watchFiles } from './watch';

interface CheckOptions {
  printCode?: boolean;
  vectors?: string;
  watch?: boolean;
}

export function checkCommand(): Command {
  return new Command('check')
    .description('validate a protocol description (errors as file:line:col) and run its vectors.yaml both ways')
    .argument('<protocol>', 'a protocol.yaml, its directory, or a name under protocols/')
    .option('--print-code', 'print the generated decoder and encoder source')
    .option('--vectors <file>', 'test vectors to run (default: vectors.yaml next to the protocol file)')
    .option('--watch', 'check again on every save of the protocol file or the vectors, saying what changed (now ok, the new error, vectors that now pass or fail); Ctrl-C ends it')
    .action(async (spec: string, o: CheckOptions) => {
      if (o.watch) {
        if (o.printCode) throw new GamesniffError('USAGE', '--print-code prints the code once: leave out --watch');
        return checkWatch(spec, o);
      }
      const protocol = protocolOption(spec)!;
      const out = print;
      if (o.printCode) {
        out('// ---- fast variant (decoders, encoders) ----');
        out(prettySource(protocol.source.fast));
        out('// ---- debug variant (field paths, spans) ----');
        out(prettySource(protocol.source.debug));
      }
      out(`${protocol.file}: ${protocolLine(protocol)}: ok`);
      const vectors = o.vectors ?? join(dirname(protocol.file), 'vectors.yaml');
      if (!existsSync(vectors)) {
        if (o.vectors) throw new GamesniffError('INPUT', `${vectors}: no such file`);
        out(`no ${vectors}: nothing to run`);
        return;
      }
      let results;
      try {
        results = runVectorFile(protocol, vectors);
      } catch (e) {
        throw new GamesniffError('INPUT', (e as Error).message);
      }
      const failed = results.filter((r) => r.problems.length);
      for (const r of failed) {
        out(`FAIL ${r.name}`);
        for (const p of r.problems) out(`  ${p}`);
      }
      out(`${vectors}: ${results.length - failed.length} of ${results.length} vectors pass`);
      if (failed.length) throw new GamesniffError('FAILED', `${failed.length} vectors failed`, 1);
    });
}

function protocolLine(p: Protocol): string {
  return `protocol ${p.name}, ${p.messages.length} messages, ${p.def.types.size} types`;
}

/** One check, as --watch compares it with the one before. */
interface CheckState {
  /** The protocol's summary when it compiled, else its problems (file:line:col: what). */
  protocol: { ok: true; line: string } | { ok: false; problems: string[] };
  /** The vectors' results, by a name unique within the file; null when they did not run. */
  vectors: Map<string, string[]> | null;
  /** Why the vectors did not run (no file, a file that does not parse). */
  vectorsNote?: string;
}

/** Vector results by name; a name used twice gets ` (2)`, ` (3)`... */
function byName(results: VectorResult[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of results) {
    let name = r.name;
    for (let i = 2; out.has(name); i++) name = `${r.name} (${i})`;
    out.set(name, r.problems);
  }
  return out;
}

function checkOnce(file: string, vectorsFile: string, explicitVectors: boolean): CheckState {
  let protocol: Protocol;
  try {
    protocol = loadProtocol(file);
  } catch (e) {
    if (e instanceof ProtocolError) return { protocol: { ok: false, problems: e.problems }, vectors: null };
    return { protocol: { ok: false, problems: [`${file}: ${(e as Error).message}`] }, vectors: null };
  }
  const state: CheckState = { protocol: { ok: true, line: protocolLine(protocol) }, vectors: null };
  if (!existsSync(vectorsFile)) state.vectorsNote = explicitVectors ? `${vectorsFile}: no such file` : `no ${vectorsFile}: nothing to run`;
  else {
    try {
      state.vectors = byName(runVectorFile(protocol, vectorsFile));
    } catch (e) {
      state.vectorsNote = `vectors: ${(e as Error).message}`;
    }
  }
  return state;
}

const passing = (v: Map<string, string[]>): number => [...v.values()].filter((p) => p.length === 0).length;

/** What a check says: in full the first time, then what changed since `prev` (and the last vectors that ran, `lastVectors`). */
export function checkReport(file: string, vectorsFile: string, cur: CheckState, prev: CheckState | null, lastVectors: Map<string, string[]> | null): string[] {
  const out: string[] = [];
  if (!cur.protocol.ok) {
    const same = prev && !prev.protocol.ok && prev.protocol.problems.join('\n') === cur.protocol.problems.join('\n');
    out.push(`${!prev ? 'broken' : prev.protocol.ok ? 'now broken' : same ? 'still broken (the same error)' : 'still broken, a new error'}: ${file} does not compile:`);
    // file:line:col first on each line, as editors and terminals read them
    out.push(...capped(cur.protocol.problems));
    return out;
  }
  out.push(`${prev && !prev.protocol.ok ? 'now ok' : 'ok'}: ${file}: ${cur.protocol.line}`);
  if (!cur.vectors) {
    out.push(cur.vectorsNote ?? 'no vectors');
    return out;
  }
  const v = cur.vectors;
  const pass = passing(v);
  const was = lastVectors ? `${passing(lastVectors)} of ${lastVectors.size}` : null;
  const now = `${pass} of ${v.size}`;
  out.push(`${vectorsFile}: ${now} vectors pass${was === null || !prev ? '' : was === now ? ' (as before)' : ` (was ${was})`}`);
  const problems = (ps: string[]): string[] => ps.map((p) => `    ${p}`);
  if (!lastVectors || !prev) {
    for (const [name, ps] of v) if (ps.length) out.push(`  FAIL ${name}`, ...problems(ps));
    return out;
  }
  for (const [name, ps] of v) {
    const before = lastVectors.get(name);
    if (before === undefined) out.push(`  new: ${name}: ${ps.length ? 'fails' : 'passes'}`, ...problems(ps));
    else if (before.length && !ps.length) out.push(`  now passing: ${name}`);
    else if (!before.length && ps.length) out.push(`  now failing: ${name}`, ...problems(ps));
    else if (ps.length && before.join('\n') !== ps.join('\n')) out.push(`  still failing, differently: ${name}`, ...problems(ps));
  }
  for (const name of lastVectors.keys()) if (!v.has(name)) out.push(`  gone: ${name}`);
  const still = [...v].filter(([name, ps]) => ps.length && lastVectors.get(name)?.join('\n') === ps.join('\n')).map(([name]) => name);
  if (still.length) out.push(`  still failing, as before: ${still.join(', ')}`);
  return out;
}

/** A broken file's problems, the first few: one mistake in YAML can make dozens. */
export function capped(problems: string[], max = 10): string[] {
  return problems.length > max ? [...problems.slice(0, max), `… and ${problems.length - max} more`] : problems;
}

async function checkWatch(spec: string, o: CheckOptions): Promise<void> {
  let file: string;
  try {
    file = resolveProtocolPath(spec);
  } catch (e) {
    throw new GamesniffError('PROTOCOL', (e as Error).message);
  }
  const vectorsFile = o.vectors ?? join(dirname(file), 'vectors.yaml');
  let prev: CheckState | null = null;
  let lastVectors: Map<string, string[]> | null = null;
  await watchFiles({
    files: [file, vectorsFile],
    run: (r) => {
      const cur = checkOnce(file, vectorsFile, !!o.vectors);
      const lines = checkReport(file, vectorsFile, cur, prev, lastVectors);
      print([...(r.run ? [runHeader(r)] : []), ...lines].join('\n'));
      prev = cur;
      if (cur.vectors) lastVectors = cur.vectors;
    },
  });
}
