/** gamesniff vectors add: a message seen in a capture or recording, kept as a test vector of its protocol. */
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { GamesniffError } from '../core/errors';
import { loadVectors, runVector } from '../conversation/vectors';
import { closeInput } from '../input/open';
import type { Message } from '../session/messages';
import { appendVector, parseEntry, vectorEntry, vectorName, vectorProblem, vectorState } from '../session/vector-entry';
import { captureOptions, openCliInput, type CaptureCliOptions } from './common';
import { decodeFile } from './decode';
import { keylogOption } from './keylog-option';
import { print, say } from './output';
import { protocolOption } from './protocol-option';

interface AddOptions extends CaptureCliOptions {
  message: string;
  name?: string;
  vectors?: string;
  keylog?: string;
}

export function vectorsCommand(): Command {
  const add = new Command('add')
    .description("append message N of a recording or capture (numbered as decode shows them: [N], \"n\" in --json) to the protocol's vectors.yaml, then run it")
    .argument('<protocol>', 'a protocol.yaml, its directory, or a name under protocols/')
    .requiredOption('-r, --read <file>', 'the recording (.gsrec) or capture (pcap, pcapng) the message is in')
    .requiredOption('--message <n>', 'the number decode gives the message (from 0)')
    .option('--name <text>', 'the vector\'s name (default: "NAME seen [N]")')
    .option('--vectors <file>', 'the file to add to (default: vectors.yaml next to the protocol file; made when missing)');
  // the options that choose what decode reads, so that the numbers are decode's
  for (const o of captureOptions()) if (['--port', '--filter', '--idle-timeout'].includes(o.long!)) add.addOption(o);
  add.addOption(keylogOption());
  add.action(async (spec: string, o: AddOptions) => {
    const n = Number(o.message);
    if (!/^\d+$/.test(o.message) || !Number.isSafeInteger(n)) throw new GamesniffError('USAGE', `--message takes a message number from 0 (as decode shows it: [N]), got "${o.message}"`);
    if (o.read === '-') throw new GamesniffError('USAGE', "vectors add reads a file: '-' (standard input) cannot be");
    const protocol = protocolOption(spec)!;
    const input = await openCliInput(o);
    let found: Message | null = null;
    let count = 0;
    // each conversation's state after its last message: the state the next one is decoded in
    const after = new Map<object, Record<string, unknown>>();
    let before: Record<string, unknown> | undefined;
    try {
      await decodeFile(o, protocol, input!, (m, i, decoder) => {
        count = i + 1;
        if (i !== n) {
          const st = decoder.stateOf(m.flow);
          if (st) after.set(m.flow, { ...st });
          return;
        }
        found = m;
        before = after.get(m.flow);
        return false;
      });
    } finally {
      closeInput(input);
    }
    const m = found as Message | null;
    if (!m) throw new GamesniffError('USAGE', `${o.read} has ${count} messages with protocol ${protocol.name}${count ? ` (0 to ${count - 1})` : ''}: there is no message ${n}`);
    const why = vectorProblem(m);
    if (why) throw new GamesniffError('INPUT', `message ${n} cannot be a vector: ${why}`);
    const name = o.name ?? vectorName(m, n);
    // without a state when it passes so; else with the state it was decoded in (a message chosen by `when:`)
    let entry = vectorEntry(m, name, protocol);
    const state = vectorState(protocol, before);
    if (state && runVector(protocol, parseEntry(entry), 0).problems.length) entry = vectorEntry(m, name, protocol, state);
    const file = o.vectors ?? join(dirname(protocol.file), 'vectors.yaml');
    let index: number;
    try {
      index = appendVector(file, entry, protocol.name);
    } catch (e) {
      throw new GamesniffError('INPUT', (e as Error).message);
    }
    say(`added ${m.label ?? m.name} (message ${n}, ${m.dir}, ${m.payload.length} bytes) to ${file} as vector ${index + 1}`);
    // as check runs it: read back from the file
    const v = loadVectors(file)[index]!;
    const r = runVector(protocol, v, index);
    if (r.problems.length === 0) {
      print(`PASS ${r.name}`);
      return;
    }
    print(`FAIL ${r.name}`);
    for (const p of r.problems) print(`  ${p}`);
    throw new GamesniffError('FAILED', `the vector was added but does not pass (it may need the state it was decoded in: add 'state:' to it, or remove it from ${file})`, 1);
  });
  return new Command('vectors').description('test vectors of a protocol description (vectors.yaml)').addCommand(add);
}
