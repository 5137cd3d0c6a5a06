#!/usr/bin/env node
import { proxyCommand } from './proxy';
import { queryCommand } from './query';
import { Command, CommanderError } from 'commander';
import { GamesniffError, isGamesniffError } from '../core/errors';
import { checkCommand } from './check';
import { codegenCommand } from './codegen';
import { inferCommand } from './infer';
import { decodeCommand } from './decode';
import { exportCommand } from './export';
import { exportDissectorCommand } from './export-dissector';
import { infoCommand } from './info';
import { newCommand } from './new';
import { recordCommand } from './record';
import { replayCommand } from './replay';
import { schemaCommand } from './schema';
import { streamsCommand } from './streams';
import { testbedCommand } from './testbed';
import { vectorsCommand } from './vectors';
import { addTuiOptions, demoCommand, runTui, type TuiOptions } from './tui';
import { captureOptions } from './common';
import { say } from './output';

const pkg = require('../../package.json') as { version: string };

export function buildProgram(): Command {
  const program = new Command('gamesniff')
    .description('capture, reassemble and decode the traffic of one application (a game), live on loopback or from a capture file')
    .version(pkg.version)
    .usage('[options] [command]')
    .showHelpAfterError()
    .enablePositionalOptions()
    .exitOverride();
  // The default command: the terminal UI, live or on a file. It takes no arguments: a word that
  // is not a command is a mistake (`gamesniff sniff`), said as such, never a UI opened on it.
  for (const o of captureOptions()) program.addOption(o);
  addTuiOptions(program)
    .argument('[command]', 'a command (below); without one, the terminal UI')
    .action((word: string | undefined, o: TuiOptions) => {
      if (word === undefined) return runTui(o);
      if (word === 'help') {
        program.outputHelp();
        return;
      }
      const names = program.commands.map((c) => c.name());
      const near = names.filter((n) => n.startsWith(word.slice(0, 2)) || editDistance(n, word) <= 2);
      throw new GamesniffError('USAGE', `unknown command "${word}"${near.length ? ` (did you mean ${near.join(' or ')}?)` : ''}; commands: ${names.join(', ')}; gamesniff --help for more`);
    });
  program.addCommand(demoCommand());
  program.addCommand(streamsCommand());
  program.addCommand(decodeCommand());
  program.addCommand(queryCommand());
  program.addCommand(recordCommand());
  program.addCommand(infoCommand());
  program.addCommand(exportCommand());
  program.addCommand(replayCommand());
  program.addCommand(proxyCommand());
  program.addCommand(newCommand());
  program.addCommand(schemaCommand());
  program.addCommand(checkCommand());
  program.addCommand(vectorsCommand());
  program.addCommand(codegenCommand());
  program.addCommand(exportDissectorCommand());
  program.addCommand(inferCommand());
  program.addCommand(testbedCommand());
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  program.commands.forEach(override);
  return program;
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
  const program = buildProgram();
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
