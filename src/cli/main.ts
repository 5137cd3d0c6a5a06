#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { Command, CommanderError } from 'commander';
import { GamesniffError, isGamesniffError } from '../core/errors';
import { say } from './output';

/*
 * Commands are loaded when used: `streams` does not pay for the terminal UI, DuckDB or the
 * protocol compiler (loading every module took about a quarter of a second, as long as reading
 * 100 MB). `require` is typed by the module it loads.
 */
const COMMANDS: Array<[string, () => Command]> = [
  ['demo', () => (require('./tui') as typeof import('./tui')).demoCommand()],
  ['streams', () => (require('./streams') as typeof import('./streams')).streamsCommand()],
  ['decode', () => (require('./decode') as typeof import('./decode')).decodeCommand()],
  ['query', () => (require('./query') as typeof import('./query')).queryCommand()],
  ['record', () => (require('./record') as typeof import('./record')).recordCommand()],
  ['info', () => (require('./info') as typeof import('./info')).infoCommand()],
  ['export', () => (require('./export') as typeof import('./export')).exportCommand()],
  ['replay', () => (require('./replay') as typeof import('./replay')).replayCommand()],
  ['proxy', () => (require('./proxy') as typeof import('./proxy')).proxyCommand()],
  ['new', () => (require('./new') as typeof import('./new')).newCommand()],
  ['schema', () => (require('./schema') as typeof import('./schema')).schemaCommand()],
  ['check', () => (require('./check') as typeof import('./check')).checkCommand()],
  ['vectors', () => (require('./vectors') as typeof import('./vectors')).vectorsCommand()],
  ['codegen', () => (require('./codegen') as typeof import('./codegen')).codegenCommand()],
  ['export-dissector', () => (require('./export-dissector') as typeof import('./export-dissector')).exportDissectorCommand()],
  ['infer', () => (require('./infer') as typeof import('./infer')).inferCommand()],
  ['testbed', () => (require('./testbed') as typeof import('./testbed')).testbedCommand()],
];

/*
 * Memory flat over a long run: a capture allocates without end (packet views, records, messages)
 * while little of it lives long, and V8 lets the old generation grow to up to 4x what lives
 * before it collects. 1.5x keeps every command's memory near what it holds (streams also keeps
 * its young generation small: see there).
 */
setFlagsFromString('--heap-growing-percent=50');

const pkg = require('../../package.json') as { version: string };

/**
 * The program; given the command line, only what it needs: a command named first is the only one
 * built. Anything else (the terminal UI, help, options before a command, a mistake) builds all.
 */
export function buildProgram(argv?: string[]): Command {
  const first = argv?.[2];
  const only = COMMANDS.find(([name]) => name === first);
  const program = new Command('gamesniff')
    .description('capture, reassemble and decode the traffic of one application (a game), live on loopback or from a capture file')
    .version(pkg.version)
    .usage('[options] [command]')
    .showHelpAfterError()
    .enablePositionalOptions()
    .exitOverride();
  if (only) {
    program.addCommand(only[1]().exitOverride());
    program.commands.forEach(overrideExit);
    return program;
  }
  const { addTuiOptions, runTui } = require('./tui') as typeof import('./tui');
  const { captureOptions } = require('./common') as typeof import('./common');
  // The default command: the terminal UI, live or on a file. It takes no arguments: a word that
  // is not a command is a mistake (`gamesniff sniff`), said as such, never a UI opened on it.
  for (const o of captureOptions()) program.addOption(o);
  addTuiOptions(program)
    .argument('[command]', 'a command (below); without one, the terminal UI')
    .action((word: string | undefined, o: import('./tui').TuiOptions) => {
      if (word === undefined) return runTui(o);
      if (word === 'help') {
        program.outputHelp();
        return;
      }
      const names = program.commands.map((c) => c.name());
      const near = names.filter((n) => n.startsWith(word.slice(0, 2)) || editDistance(n, word) <= 2);
      throw new GamesniffError('USAGE', `unknown command "${word}"${near.length ? ` (did you mean ${near.join(' or ')}?)` : ''}; commands: ${names.join(', ')}; gamesniff --help for more`);
    });
  for (const [, make] of COMMANDS) program.addCommand(make());
  program.commands.forEach(overrideExit);
  return program;
}

function overrideExit(c: Command): void {
  c.exitOverride();
  c.commands.forEach(overrideExit);
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length]![b.length]!;
}

/** Exit codes: 0 ok, 1 divergence or failed check, 2 usage or input error. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram(argv);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    if (isGamesniffError(e)) {
      say(`gamesniff: ${e.message}`);
      return e.exitCode;
    }
    // Not expected from any input: a bug. Said in one paragraph with where it happened, and reported as one.
    const err = e as Error;
    say(`gamesniff: internal error (a bug in gamesniff; please report it with the command that caused it): ${err?.stack ?? String(e)}`);
    return 2;
  }
}

if (require.main === module) {
  // `gamesniff ... | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
  });
  void main(process.argv).then((code) => {
    process.exitCode = code;
    // A handle left open (a capture that failed half-way, a socket) must not keep a finished command alive.
    setTimeout(() => process.exit(code), 2000).unref();
  });
}
