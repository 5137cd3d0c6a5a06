import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseDocument } from 'yaml';
import { loadVectors, runVector } from '../../src/conversation/vectors';
import { loadProtocol } from '../../src/protocol/protocol';
import { playRecording } from '../../src/recording/player';
import { MessageDecoder } from '../../src/session/messages';
import { appendVector } from '../../src/session/vector-entry';
import { SessionModel } from '../../src/tui/model/session';
import { gs, ROOT } from '../helpers/cli';

const SOLO = join(ROOT, 'recordings/testgame-solo.gsrec');

/** A copy of protocols/NAME (its description, and its vectors unless told) in a directory of its own. */
function copyOf(name: string, withVectors = true): string {
  const dir = mkdtempSync(join(tmpdir(), `gs-vectors-${name}-`));
  copyFileSync(join(ROOT, 'protocols', name, 'protocol.yaml'), join(dir, 'protocol.yaml'));
  if (withVectors) copyFileSync(join(ROOT, 'protocols', name, 'vectors.yaml'), join(dir, 'vectors.yaml'));
  return dir;
}

/** decode --json of a file: the messages with the number decode gives them. */
function decoded(file: string, protocol: string): { n: number; name: string | null; dir: string; transport: string; fields?: unknown }[] {
  const r = gs(['decode', '--json', '-r', file, '-p', protocol]);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
}

describe('gamesniff vectors add', () => {
  it('appends message N (as decode numbers it) to vectors.yaml, keeping what the file held, and runs it', () => {
    const dir = copyOf('testgame');
    const file = join(dir, 'vectors.yaml');
    const before = readFileSync(file, 'utf8');
    const count = loadVectors(file).length;
    const move = decoded(SOLO, dir).find((m) => m.name === 'move')!;
    const r = gs(['vectors', 'add', dir, '-r', SOLO, '--message', String(move.n)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`PASS move seen [${move.n}]\n`);
    expect(r.stderr).toMatch(new RegExp(`added move \\(message ${move.n}, c2s, \\d+ bytes\\) to ${file.replace(/[.]/g, '\\.')} as vector ${count + 1}\\n`));
    const after = readFileSync(file, 'utf8');
    // the comments, the layout and every vector as they were: the entry is appended
    expect(after.startsWith(before)).toBe(true);
    expect(after.slice(before.length)).toMatch(new RegExp(`^ {2}- name: "move seen \\[${move.n}\\]"\\n {4}dir: c2s\\n {4}hex: "11[0-9a-f]+"\\n {4}message: move\\n {4}fields: \\{"seq":\\d+,"pos":\\{"x":[-\\d.e]+,"y":[-\\d.e]+\\},"running":(true|false)\\}\\n$`));
    const v = loadVectors(file);
    expect(v).toHaveLength(count + 1);
    expect(v[count]).toMatchObject({ message: 'move', fields: move.fields });
    // check runs it with the others
    const check = gs(['check', dir]);
    expect(check.code, check.stdout).toBe(0);
    expect(check.stdout).toContain(`${count + 1} of ${count + 1} vectors pass`);
  });

  it('--name; a UDP message says its transport; a file that is missing is made', () => {
    const dir = copyOf('testgame', false);
    const file = join(dir, 'vectors.yaml');
    const all = decoded(SOLO, dir);
    const position = all.find((m) => m.transport === 'udp' && m.name === 'position')!;
    const r = gs(['vectors', 'add', dir, '-r', SOLO, '--message', String(position.n), '--name', 'a position\tupdate \u001b[31m']);
    expect(r.code, r.stderr).toBe(0);
    // what reaches the terminal is escaped
    expect(r.stdout).toBe('PASS a position\\x09update \\x1b[31m\n');
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^# Test vectors for testgame.*\nprotocol: testgame\nvectors:\n {2}- name: "a position\\tupdate \\u001b\[31m"\n {4}transport: udp\n {4}dir: c2s\n/);
    expect(parse(text).vectors[0]).toMatchObject({ name: 'a position\tupdate \u001b[31m', transport: 'udp', message: 'position' });
    // a second one goes after it
    const snap = all.find((m) => m.name === 'snapshot')!;
    expect(gs(['vectors', 'add', dir, '-r', SOLO, '--message', String(snap.n)]).code).toBe(0);
    expect(loadVectors(file).map((v) => v.message)).toEqual(['position', 'snapshot']);
    expect(gs(['check', dir]).stdout).toContain('2 of 2 vectors pass');
  });

  it('a message chosen by the state (`when:`) gets the state it was decoded in', () => {
    const dir = copyOf('chatroom');
    const rec = join(ROOT, 'recordings/chatroom.gsrec');
    const say = decoded(rec, dir).find((m) => m.name === 'say')!;
    const r = gs(['vectors', 'add', dir, '-r', rec, '--message', String(say.n)]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const v = loadVectors(join(dir, 'vectors.yaml')).at(-1)!;
    expect(v).toMatchObject({ state: { joined: true }, message: 'say' });
    // the first message of a connection needs none
    expect(gs(['vectors', 'add', dir, '-r', rec, '--message', '0']).code).toBe(0);
    expect(loadVectors(join(dir, 'vectors.yaml')).at(-1)!.state).toBeUndefined();
  });

  it('a number out of range, a message that did not decode, a number that is not one: exit 2, the file untouched', () => {
    const dir = copyOf('testgame');
    const file = join(dir, 'vectors.yaml');
    const before = readFileSync(file, 'utf8');
    const total = decoded(SOLO, dir).length;
    const out = gs(['vectors', 'add', dir, '-r', SOLO, '--message', String(total)]);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(`testgame-solo.gsrec has ${total} messages with protocol testgame (0 to ${total - 1}): there is no message ${total}`);
    for (const bad of ['-1', 'abc', '1.5']) {
      const r = gs(['vectors', 'add', dir, '-r', SOLO, '--message', bad]);
      expect(r.code, bad).toBe(2);
    }
    // without move, its messages have an id the protocol does not know
    const d = parseDocument(readFileSync(join(dir, 'protocol.yaml'), 'utf8'));
    d.deleteIn(['tcp', 'messages', 'move']);
    writeFileSync(join(dir, 'protocol.yaml'), d.toString());
    const unknown = decoded(SOLO, dir).find((m) => m.name === null)!;
    const u = gs(['vectors', 'add', dir, '-r', SOLO, '--message', String(unknown.n)]);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain(`message ${unknown.n} cannot be a vector: its id 17 (0x11) is not in the protocol`);
    // a field that does not decode
    d.setIn(['tcp', 'messages', 'chat', 'fields', 'text', 'prefix'], 'u32');
    writeFileSync(join(dir, 'protocol.yaml'), d.toString());
    const chat = decoded(SOLO, dir).find((m) => m.name === 'chat')!;
    const e = gs(['vectors', 'add', dir, '-r', SOLO, '--message', String(chat.n)]);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/cannot be a vector: it did not decode: error at chat\.text \+\d+: needs/);
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(gs(['vectors', 'add', dir, '--message', '1']).code).toBe(2); // -r is required
  });

  it("the TUI's y → vector writes the same entry", async () => {
    const tg = loadProtocol('testgame', ROOT);
    const model = new SessionModel(tg, {});
    await playRecording(SOLO, new MessageDecoder(tg, model));
    const n = model.messages.findIndex((m) => m.name === 'login_ok');
    model.goTo(String(n));
    const tui = (model.messageAs('vector') as { text: string }).text;
    const dir = copyOf('testgame');
    const file = join(dir, 'vectors.yaml');
    const before = readFileSync(file, 'utf8');
    expect(gs(['vectors', 'add', dir, '-r', SOLO, '--message', String(n)]).code).toBe(0);
    expect(readFileSync(file, 'utf8').slice(before.length)).toBe(tui);
    expect(runVector(tg, parse(`vectors:\n${tui}`).vectors[0], 0).problems).toEqual([]);
  });
});

describe('appendVector: any layout of vectors.yaml', () => {
  const entry = '  - name: "x"\n    dir: c2s\n    hex: "1404"\n    message: use_item\n    fields: {"slot":4}\n';
  const item = { name: 'x', dir: 'c2s', hex: '1404', message: 'use_item', fields: { slot: 4 } };
  const cases: [string, string][] = [
    ['indented list, no final newline', '# top\nprotocol: t\nvectors:\n  - name: a # kept\n    dir: c2s\n    hex: "1405"'],
    ['list at the key\'s indentation', 'vectors:\n- name: a\n  dir: c2s\n  hex: "1405"\n'],
    ['list of 4', 'vectors:\n    - name: a\n      dir: c2s\n      hex: "1405"\n\n# trailing comment\n'],
    ['an empty key', '# nothing yet\nvectors:\n'],
    ['no key', '# only a comment\nprotocol: t\n'],
    ['the list not last', 'vectors:\n  - name: a # kept\n    dir: c2s\n    hex: "1405"\nprotocol: t # kept too\n'],
    ['an inline list', 'protocol: t\nvectors: [{ name: a, dir: c2s, hex: "1405" }]\n'],
    ['an empty inline list', 'vectors: []\n'],
  ];
  it.each(cases)('%s', (_label, text) => {
    const file = join(mkdtempSync(join(tmpdir(), 'gs-append-')), 'vectors.yaml');
    writeFileSync(file, text);
    const had = (parse(text)?.vectors ?? []) as unknown[];
    const i = appendVector(file, entry, 't');
    const after = readFileSync(file, 'utf8');
    const doc = parse(after) as { vectors: unknown[]; protocol?: string };
    expect(i).toBe(had.length);
    expect(doc.vectors).toEqual([...had, item]);
    if (parse(text)?.protocol) expect(doc.protocol).toBe('t');
    for (const comment of text.match(/#.*$/gm) ?? []) expect(after).toContain(comment);
  });
  it('a file that is not YAML is left alone', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gs-append-')), 'vectors.yaml');
    writeFileSync(file, 'vectors: [\n');
    expect(() => appendVector(file, entry, 't')).toThrow(/does not read as YAML/);
    expect(readFileSync(file, 'utf8')).toBe('vectors: [\n');
    expect(existsSync(file)).toBe(true);
  });
});
