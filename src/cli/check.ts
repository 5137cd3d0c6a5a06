import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { GamesniffError } from '../core/errors';
import { prettySource } from '../protocol/codegen';
import { runVectorFile } from '../conversation/vectors';
import { print } from './output';
import { protocolOption } from './protocol-option';

interface CheckOptions {
  printCode?: boolean;
  vectors?: string;
}

export function checkCommand(): Command {
  return new Command('check')
    .description('validate a protocol description (errors as file:line:col) and run its vectors.yaml both ways')
    .argument('<protocol>', 'a protocol.yaml, its directory, or a name under protocols/')
    .option('--print-code', 'print the generated decoder and encoder source')
    .option('--vectors <file>', 'test vectors to run (default: vectors.yaml next to the protocol file)')
    .action((spec: string, o: CheckOptions) => {
      const protocol = protocolOption(spec)!;
      const out = print;
      if (o.printCode) {
        out('// ---- fast variant (decoders, encoders) ----');
        out(prettySource(protocol.source.fast));
        out('// ---- debug variant (field paths, spans) ----');
        out(prettySource(protocol.source.debug));
      }
      const types = protocol.def.types.size;
      out(`${protocol.file}: protocol ${protocol.name}, ${protocol.messages.length} messages, ${types} types: ok`);
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
