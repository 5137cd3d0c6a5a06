/**
 * `gamesniff new NAME`: a skeleton that passes `check` as generated, nothing ever overwritten, and
 * --from-infer taking a draft (protocol.yaml and vectors.yaml), renamed, comments kept.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { protocolSchemaText } from '../../src/protocol/schema';
import { gs } from '../helpers/cli';

const work = (): string => mkdtempSync(join(tmpdir(), 'gs-new-'));
const noStack = (s: string): void => expect(s).not.toMatch(/\n\s+at |internal error/);

describe('gamesniff new', () => {
  it('writes a skeleton that passes check, with the schema line, an empty vectors.yaml and the schema the line names', () => {
    const cwd = work();
    const r = gs(['new', 'mygame'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('created protocols/mygame/protocol.yaml');
    expect(r.stdout).toContain('created protocols/mygame/vectors.yaml');
    expect(r.stdout).toContain('next: gamesniff check protocols/mygame');
    const text = readFileSync(join(cwd, 'protocols/mygame/protocol.yaml'), 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../protocol.schema.json');
    expect(text).toMatch(/^protocol: mygame$/m);
    expect(readFileSync(join(cwd, 'protocols/protocol.schema.json'), 'utf8')).toBe(protocolSchemaText());
    const c = gs(['check', 'protocols/mygame'], { cwd });
    expect(c.code, c.stdout + c.stderr).toBe(0);
    expect(c.stdout).toMatch(/protocol mygame, 1 messages, 0 types: ok/);
    expect(c.stdout).toMatch(/0 of 0 vectors pass/);
  });

  it("vectors.yaml's commented example is a vector that passes", () => {
    const cwd = work();
    expect(gs(['new', 'g'], { cwd }).code).toBe(0);
    const file = join(cwd, 'protocols/g/vectors.yaml');
    const example = readFileSync(file, 'utf8').split('\n').filter((l) => /^# {3}( |-)/.test(l)).map((l) => l.slice(2));
    expect(example.length).toBe(5);
    writeFileSync(file, `vectors:\n${example.join('\n')}\n`);
    const c = gs(['check', 'protocols/g'], { cwd });
    expect(c.code, c.stdout + c.stderr).toBe(0);
    expect(c.stdout).toMatch(/1 of 1 vectors pass/);
  });

  it('refuses an existing directory (exit 2) and leaves its files as they were', () => {
    const cwd = work();
    expect(gs(['new', 'g'], { cwd }).code).toBe(0);
    const file = join(cwd, 'protocols/g/protocol.yaml');
    writeFileSync(file, 'my edits\n');
    const again = gs(['new', 'g'], { cwd });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^gamesniff: protocols\/g already exists: nothing was written/);
    noStack(again.stderr);
    expect(readFileSync(file, 'utf8')).toBe('my edits\n');
    expect(existsSync(join(cwd, 'protocols/g/vectors.yaml'))).toBe(true);
  });

  it.each(['bad/name', 'a b', '..', 'x.y', ''])('refuses the name %j (exit 2), writing nothing', (name) => {
    const cwd = work();
    const r = gs(['new', name], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not a protocol name: use letters, digits, _ and -/);
    noStack(r.stderr);
    expect(existsSync(join(cwd, 'protocols'))).toBe(false);
  });

  it('--dir puts it elsewhere; a name YAML would read as a number is quoted', () => {
    const cwd = work();
    const r = gs(['new', '2048', '--dir', 'descs'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('next: gamesniff check descs/2048');
    expect(readFileSync(join(cwd, 'descs/2048/protocol.yaml'), 'utf8')).toMatch(/^protocol: "2048"$/m);
    expect(gs(['check', 'descs/2048'], { cwd }).code).toBe(0);
  });
});

describe('gamesniff new --from-infer', () => {
  const DRAFT = `# Drafted by gamesniff infer from capture.pcap: 2 message kinds, 14 messages.
protocol: draft   # the name infer gave it
tcp:
  ports: [9000]
  framing: { length: u16be }      # every frame fit a u16be length
  id: u8
  messages:
    msg_01:                       # 9 seen, c2s
      id: 0x01
      dir: c2s
      fields:
        f0: u16be                 # counts up: a sequence number?
        rest: { type: bytes, until: end }
    msg_02:
      id: 0x02
      fields:
        rest: { type: bytes, until: end }
`;
  const VECTORS = `protocol: draft
vectors:
  - name: msg_01 seen first
    dir: c2s
    hex: 01 0007 aabb
    message: msg_01
    fields: { f0: 7, rest: aabb }
`;
  const draft = (files: Record<string, string>): string => {
    const dir = work();
    for (const [f, t] of Object.entries(files)) writeFileSync(join(dir, f), t);
    return dir;
  };

  it('takes the draft, renames it, keeps its comments, adds the schema line, and check passes', () => {
    const cwd = work();
    const from = draft({ 'protocol.yaml': DRAFT, 'vectors.yaml': VECTORS });
    const r = gs(['new', 'chess', '--from-infer', from], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('next: gamesniff check protocols/chess');
    const text = readFileSync(join(cwd, 'protocols/chess/protocol.yaml'), 'utf8');
    // the name alone changed: every other byte of the draft is as it was
    expect(text).toBe(`# yaml-language-server: $schema=../protocol.schema.json\n${DRAFT.replace('protocol: draft', 'protocol: chess')}`);
    expect(readFileSync(join(cwd, 'protocols/chess/vectors.yaml'), 'utf8')).toBe(VECTORS.replace('protocol: draft', 'protocol: chess'));
    const c = gs(['check', 'protocols/chess'], { cwd });
    expect(c.code, c.stdout + c.stderr).toBe(0);
    expect(c.stdout).toMatch(/protocol chess, 2 messages/);
    expect(c.stdout).toMatch(/1 of 1 vectors pass/);
  });

  it('keeps a schema line the draft has, and names a draft that has no protocol: key', () => {
    const cwd = work();
    const body = DRAFT.replace(/^protocol: draft.*\n/m, '');
    const from = draft({ 'protocol.yaml': `# yaml-language-server: $schema=../protocol.schema.json\n${body}`, 'vectors.yaml': 'vectors: []\n' });
    const r = gs(['new', 'named', '--from-infer', from], { cwd });
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(join(cwd, 'protocols/named/protocol.yaml'), 'utf8');
    expect(text).toBe(`# yaml-language-server: $schema=../protocol.schema.json\n${body.replace('tcp:\n', 'protocol: named\ntcp:\n')}`);
    expect(gs(['check', 'protocols/named'], { cwd }).code).toBe(0);
  });

  it.each([
    ['a missing directory', (d: string) => join(d, 'nope'), /nope: no such directory/],
    ['a directory without protocol.yaml', (d: string) => (writeFileSync(join(d, 'vectors.yaml'), 'vectors: []\n'), d), /protocol\.yaml: no such file/],
    ['a directory without vectors.yaml', (d: string) => (writeFileSync(join(d, 'protocol.yaml'), DRAFT), d), /vectors\.yaml: no such file/],
  ])('%s: one line, exit 2, nothing written', (_what, make, why) => {
    const cwd = work();
    const from = make(work());
    const r = gs(['new', 'x', '--from-infer', from], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(why);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    noStack(r.stderr);
    expect(existsSync(join(cwd, 'protocols'))).toBe(false);
  });

  it('a draft that does not load: its problems as file:line:col, exit 2, nothing written', () => {
    const cwd = work();
    const from = draft({ 'protocol.yaml': DRAFT.replace('f0: u16be', 'f0: u17'), 'vectors.yaml': VECTORS });
    const r = gs(['new', 'x', '--from-infer', from], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/does not load as x; nothing was written/);
    expect(r.stderr).toMatch(/protocol\.yaml:12:\d+: unknown type 'u17'/);
    noStack(r.stderr);
    expect(existsSync(join(cwd, 'protocols'))).toBe(false);
  });

  it('vectors.yaml without a list of vectors: exit 2, nothing written', () => {
    const cwd = work();
    mkdirSync(join(cwd, 'protocols'));
    const from = draft({ 'protocol.yaml': DRAFT, 'vectors.yaml': 'cases: []\n' });
    const r = gs(['new', 'x', '--from-infer', from], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/vectors\.yaml: .*expected 'vectors:' with a list; nothing was written/);
    expect(existsSync(join(cwd, 'protocols/x'))).toBe(false);
  });
});
