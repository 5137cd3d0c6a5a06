import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { GamesniffError } from '../core/errors';
import { protocolSchemaText } from '../protocol/schema';
import { print, say } from './output';

export function schemaCommand(): Command {
  return new Command('schema')
    .description('print the JSON Schema of protocol.yaml, for editors (completion and unknown keys underlined); protocols/protocol.schema.json is this')
    .option('-o, --output <file>', 'write it to this file instead of standard output')
    .action((o: { output?: string }) => {
      const text = protocolSchemaText();
      if (!o.output) {
        print(text.trimEnd());
        return;
      }
      try {
        writeFileSync(o.output, text);
      } catch (e) {
        throw new GamesniffError('INPUT', `cannot write ${o.output}: ${(e as Error).message}`);
      }
      say(`wrote ${o.output}`);
    });
}
