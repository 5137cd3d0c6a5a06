import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { GamesniffError } from '../core/errors';
import { generateTypeScript } from '../protocol/typescript';
import { print } from './output';
import { protocolOption } from './protocol-option';

interface CodegenOptions {
  ts: string;
  import: string;
}

export function codegenCommand(): Command {
  return new Command('codegen')
    .description('generate a typed TypeScript module from a protocol description: message types, connect (a client), serve (a mock server), Script (a proxy script type)')
    .argument('<protocol>', 'a protocol.yaml, its directory, or a name under protocols/')
    .requiredOption('--ts <out_dir>', 'write <out_dir>/<protocol name>.ts')
    .option('--import <specifier>', 'where the module imports gamesniff from (a package name or a path)', 'gamesniff')
    .action((spec: string, o: CodegenOptions) => {
      const protocol = protocolOption(spec)!;
      const source = generateTypeScript(protocol, { importFrom: o.import });
      const file = join(o.ts, `${protocol.name}.ts`);
      try {
        mkdirSync(o.ts, { recursive: true });
        writeFileSync(file, source);
      } catch (e) {
        throw new GamesniffError('INPUT', `cannot write ${file}: ${(e as Error).message}`);
      }
      print(file);
    });
}
