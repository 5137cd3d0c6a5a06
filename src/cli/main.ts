#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { isGamesniffError } from '../core/errors';
import { checkCommand } from './check';
import { decodeCommand } from './decode';
import { exportCommand } from './export';
import { infoCommand } from './info';
import { recordCommand } from './record';
import { replayCommand } from './replay';
import { streamsCommand } from './streams';
import { testbedCommand } from './testbed';
import { addTuiOptions, demoCommand, runTui, type TuiOptions } from './tui';
import { captureOptions } from './common';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const pkg = require('../../package.json') as { version: string };

export function buildProgram(): Command {
  const program = new Command('gamesniff')
    .description('capture, reassemble and decode the traffic of one application (a game), live on loopback or from a capture file')
    .version(pkg.version)
    .showHelpAfterError()
    .enablePositionalOptions()
    .exitOverride();
  // The default command: the terminal UI, live or on a file.
  for (const o of captureOptions()) program.addOption(o);
  addTuiOptions(program).action((o: TuiOptions) => runTui(o));
  program.addCommand(demoCommand());
  program.addCommand(streamsCommand());
  program.addCommand(decodeCommand());
  program.addCommand(recordCommand());
  program.addCommand(infoCommand());
  program.addCommand(exportCommand());
  program.addCommand(replayCommand());
  program.addCommand(checkCommand());
  program.addCommand(testbedCommand());
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  program.commands.forEach(override);
  return program;
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
      process.stderr.write(`gamesniff: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`gamesniff: internal error: ${(e as Error).stack ?? String(e)}\n`);
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
  });
}
