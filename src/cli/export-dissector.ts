import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command } from 'commander';
import { GamesniffError } from '../core/errors';
import { generateLua } from '../protocol/lua';
import { say } from './output';
import { protocolOption } from './protocol-option';

interface ExportDissectorOptions {
  output: string;
  name?: string;
}

export function exportDissectorCommand(): Command {
  return new Command('export-dissector')
    .description('generate a Wireshark dissector (Lua) from a protocol description: tshark -X lua_script:FILE, or Wireshark\'s plugins folder')
    .argument('<protocol>', 'a protocol.yaml, its directory, or a name under protocols/')
    .requiredOption('-o, --output <file>', "the .lua file to write ('-' for standard output)")
    .option('--name <name>', "Wireshark's name for the protocol and its fields' prefix (default: the description's name, lowercased, - as _)")
    .action((spec: string, o: ExportDissectorOptions) => {
      const protocol = protocolOption(spec)!;
      if (o.name !== undefined && !/^[a-z][a-z0-9_]*$/.test(o.name)) throw new GamesniffError('USAGE', `--name ${JSON.stringify(o.name)}: a Wireshark protocol name is lowercase letters, digits and _, starting with a letter`);
      const lua = generateLua(protocol.def, { name: o.name });
      if (o.output === '-') process.stdout.write(lua.source);
      else {
        try {
          mkdirSync(dirname(o.output), { recursive: true });
          writeFileSync(o.output, lua.source);
        } catch (e) {
          throw new GamesniffError('INPUT', `cannot write ${o.output}: ${(e as Error).message}`);
        }
        say(`wrote ${o.output}: protocol ${lua.name}, ${lua.fields.length} fields (tshark -X lua_script:${o.output} -Y ${lua.name} ...)`);
      }
      for (const note of lua.notes) say(`not decoded in Lua: ${note}`);
    });
}
