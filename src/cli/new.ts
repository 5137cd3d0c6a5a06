/**
 * `gamesniff new NAME`: starts a protocol description, protocols/NAME/protocol.yaml (a commented
 * skeleton that passes `gamesniff check`, or the draft `gamesniff infer -o DIR` wrote, renamed)
 * and vectors.yaml. Nothing is overwritten, and nothing is written unless the description loads.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { Command } from 'commander';
import { isMap, isScalar, parseDocument, stringify } from 'yaml';
import { loadVectors } from '../conversation/vectors';
import { GamesniffError } from '../core/errors';
import { PROTOCOL_NAME, ProtocolError } from '../protocol/load';
import { compileProtocol } from '../protocol/protocol';
import { protocolSchemaText } from '../protocol/schema';
import { print } from './output';

interface NewOptions {
  fromInfer?: string;
  dir: string;
}

/** The first line of a description: editors that run the YAML language server check it against the schema. */
export const SCHEMA_LINE = '# yaml-language-server: $schema=../protocol.schema.json';
const HAS_SCHEMA_LINE = /^#\s*yaml-language-server:\s*\$schema=/m;

/** NAME as a YAML value that reads back as that string (a name such as 123 or true needs quotes). */
function yamlName(name: string): string {
  return stringify(name).trimEnd();
}

/** A commented skeleton that loads and passes `gamesniff check` as it is. `where` is how the user reaches its directory. */
export function skeleton(name: string, where: string): { protocol: string; vectors: string } {
  const protocol = `${SCHEMA_LINE}
# ${name}: a gamesniff protocol description. The format is protocols/README.md; the names in
# quotes below are its sections. Check the file and run vectors.yaml with:
#   gamesniff check ${where}
# then decode traffic with it: gamesniff decode -p ${where} -r capture.pcap
protocol: ${yamlName(name)}
description: what speaks this protocol (the game, its server, the port)
endian: le                    # byte order of u16, s32, f32... written without le/be ("Top level")

tcp:                          # "Transports and framing" (a udp: section is much the same)
  ports: [24000]              # the server's port(s): the default --port
  framing: { length: u16 }    # each message: a u16 length, then that many bytes
  id: u8                      # the first byte of each message says which message it is
  messages:                   # "Messages"
    hello:                    # an example: rename it, replace it, add the others
      id: 0x01
      dir: c2s                # client to server; s2c the other way; leave it out for both
      fields:                 # "Fields and types", in the order they are on the wire
        version: u16
        name: { type: string, prefix: u8 }   # a u8 length, then that many bytes of UTF-8
`;
  const vectors = `# Test vectors for ${name}: the bytes of a message (a frame's body, after framing) and what it
# decodes to. \`gamesniff check ${where}\` decodes each one and encodes it back
# (protocols/README.md, "Test vectors"). The skeleton's hello, for example:
#
#   - name: hello from bob
#     dir: c2s
#     hex: 01 0100 03 626f62
#     message: hello
#     fields: { version: 1, name: bob }
vectors: []
`;
  return { protocol, vectors };
}

/** Sets the top-level `protocol:` (or another top-level key) to NAME: the value alone is replaced, so comments and layout stay as they were. */
export function renameProtocol(text: string, name: string, key = 'protocol'): string {
  const doc = parseDocument(text);
  if (doc.errors.length || !isMap(doc.contents)) return text; // the loader says what is wrong with it
  const pair = doc.contents.items.find((p) => isScalar(p.key) && p.key.value === key);
  const value = pair?.value;
  if (isScalar(value) && value.range && (value.type === 'PLAIN' || value.type === 'QUOTE_DOUBLE' || value.type === 'QUOTE_SINGLE')) {
    return text.slice(0, value.range[0]) + yamlName(name) + text.slice(value.range[1]);
  }
  // no such key: a line of its own before the first key (after the comments that open the file)
  const first = doc.contents.items[0]?.key;
  if (!pair && !doc.contents.flow && isScalar(first) && first.range && (first.range[0] === 0 || text[first.range[0] - 1] === '\n')) {
    return `${text.slice(0, first.range[0])}${key}: ${yamlName(name)}\n${text.slice(first.range[0])}`;
  }
  // otherwise the document API writes it (comments survive; the layout may not)
  if (pair) doc.set(key, name);
  else (doc.contents.items as unknown[]).unshift(doc.createPair(key, name));
  return String(doc);
}

function readDraft(dir: string): { protocol: string; vectors: string; protocolFile: string; vectorsFile: string } {
  const hint = `--from-infer takes the directory \`gamesniff infer -o DIR\` wrote (protocol.yaml and vectors.yaml)`;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new GamesniffError('INPUT', `${dir}: no such directory (${hint})`);
  const read = (file: string): string => {
    if (!existsSync(file)) throw new GamesniffError('INPUT', `${file}: no such file (${hint})`);
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      throw new GamesniffError('INPUT', `cannot read ${file}: ${(e as Error).message}`);
    }
  };
  const protocolFile = join(dir, 'protocol.yaml');
  const vectorsFile = join(dir, 'vectors.yaml');
  return { protocol: read(protocolFile), vectors: read(vectorsFile), protocolFile, vectorsFile };
}

export function newCommand(): Command {
  return new Command('new')
    .description('start a protocol description: PROTOCOLS_DIR/NAME/protocol.yaml (a commented skeleton, or the draft gamesniff infer wrote) and vectors.yaml')
    .argument('<name>', 'the protocol name: letters, digits, _ and -')
    .option('--from-infer <dir>', 'start from the draft `gamesniff infer -o DIR` wrote: DIR/protocol.yaml and DIR/vectors.yaml, renamed NAME')
    .option('--dir <protocols_dir>', 'the directory that holds protocol directories', 'protocols')
    .action((name: string, o: NewOptions) => {
      if (!PROTOCOL_NAME.test(name)) throw new GamesniffError('USAGE', `'${name}' is not a protocol name: use letters, digits, _ and -`);
      const cwd = process.cwd();
      const parent = resolve(cwd, o.dir);
      const target = join(parent, name);
      const shown = (p: string): string => {
        const r = relative(cwd, p);
        return r === '' ? '.' : r.startsWith('..') || isAbsolute(r) ? p : r;
      };
      const where = shown(target);
      if (existsSync(target)) throw new GamesniffError('USAGE', `${where} already exists: nothing was written (choose another name, or move it away first)`);

      let files: { protocol: string; vectors: string };
      if (o.fromInfer) {
        const draft = readDraft(o.fromInfer);
        const protocol = renameProtocol(draft.protocol, name);
        try {
          compileProtocol(protocol, draft.protocolFile);
        } catch (e) {
          if (e instanceof ProtocolError) throw new GamesniffError('PROTOCOL', `${draft.protocolFile} does not load as ${name}; nothing was written:\n${e.message}`);
          throw e;
        }
        try {
          loadVectors(draft.vectorsFile);
        } catch (e) {
          const why = (e as Error).message.split('\n')[0]!;
          throw new GamesniffError('INPUT', `${why.startsWith(draft.vectorsFile) ? why : `${draft.vectorsFile}: ${why}`}; nothing was written`);
        }
        const vectorsHaveName = /^protocol:/m.test(draft.vectors);
        files = {
          protocol: HAS_SCHEMA_LINE.test(protocol) ? protocol : `${SCHEMA_LINE}\n${protocol}`,
          vectors: vectorsHaveName ? renameProtocol(draft.vectors, name) : draft.vectors,
        };
      } else {
        files = skeleton(name, where);
        compileProtocol(files.protocol, 'the skeleton'); // a bug if it does not load
      }

      const created: string[] = [];
      try {
        mkdirSync(parent, { recursive: true });
        mkdirSync(target);
        for (const [file, text] of [
          ['protocol.yaml', files.protocol],
          ['vectors.yaml', files.vectors],
        ] as const) {
          writeFileSync(join(target, file), text, { flag: 'wx' });
          created.push(shown(join(target, file)));
        }
        // the file the $schema line names, when this protocols directory has none yet
        const schema = join(parent, 'protocol.schema.json');
        if (!existsSync(schema)) {
          writeFileSync(schema, protocolSchemaText(), { flag: 'wx' });
          created.push(`${shown(schema)} (the schema the first line of protocol.yaml names, for editors)`);
        }
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === 'EEXIST' && !created.length) throw new GamesniffError('USAGE', `${where} already exists: nothing was written`);
        throw new GamesniffError('INPUT', `cannot create ${where}: ${err.message}${created.length ? ` (created before that: ${created.join(', ')})` : ''}`);
      }
      for (const c of created) print(`created ${c}`);
      print(`next: gamesniff check ${where}`);
    });
}
