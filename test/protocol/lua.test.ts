/**
 * The Lua dissector generator (src/protocol/lua.ts): its string and number literals, what a
 * hostile description can get into the Lua source (nothing but escaped literals), descriptions
 * nested as deep as the loader allows, and every shipped description and fixture loading in tshark
 * with no Lua error. The comparisons with gamesniff decode on captures are test/cli/export-dissector.test.ts.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { generateLua, luaNumber, luaString, wiresharkName } from '../../src/protocol/lua';
import { compileProtocol, loadProtocol } from '../../src/protocol/protocol';
import { ROOT } from '../helpers/cli';
import { compare, gamesniffMessages, hasTshark, luaMessages, sessionCapture } from '../helpers/dissector';
import { writeSession } from '../helpers/session';

const dir = mkdtempSync(join(tmpdir(), 'gs-lua-'));
const descriptions = [
  ...readdirSync(join(ROOT, 'protocols'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(ROOT, 'protocols', d.name)),
  ...readdirSync(join(ROOT, 'test/fixtures/protocols'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(ROOT, 'test/fixtures/protocols', d.name)),
];

/** Everything a description holds that is not a checked identifier, with a payload that would be Lua code if it got out of its literal. */
const PWNED = join(dir, 'pwned');
const PAYLOAD = `" ]] ]=] os.execute('touch ${PWNED}') --[[ \\ \n os.execute('touch ${PWNED}') -- é \0 \u2028 \x1b[2J`;
const NIL = `"]] os.execute('touch ${PWNED}') --`;
const S0 = `"]] os.execute('touch ${PWNED}') --[[`;
/** A string literal of the expression language. */
const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const HOSTILE = stringify({
  protocol: 'Hostile-1_x',
  description: PAYLOAD,
  endian: 'be',
  state: { s: S0, t: PAYLOAD, n: -1 },
  enums: { k: { end: 1, nil: 2, function: 3, local: 4 } },
  types: {
    a: 'b',
    b: 'a',
    rec: { fields: { n: 'u8', next: { type: 'rec', if: 'n > 0' } } },
    end: { fields: { then: 'u8', _: { type: 'u16', flags: { goto: 1, and: 0x8000 } } } },
  },
  tcp: {
    ports: [24000],
    framing: { delimiter: '"]]\n--' },
    id: 'u8',
    messages: {
      function: {
        id: 1,
        doc: PAYLOAD,
        fields: {
          magic: { magic: '"]]--\\\né' },
          nil: { type: 'string', terminator: ']]--"', doc: PAYLOAD },
          local: { type: 'u8', enum: 'k' },
          return: { switch: 'nil', cases: { [NIL]: 'u8', 'é\0\\': 'u16' }, default: { type: 'bytes', length: 1 } },
          HF: { type: 'u8', if: `nil == ${q(NIL)} || nil ~ ']]--' || s ~ '--[['` },
          PROTO_NAME: 'rec',
          proto: 'end',
          _G: { array: { type: 'string', terminator: 0 }, sentinel: ']]\n--"' },
          X: 'u8',
          x: 'u8',
        },
        set: { s: 'nil', n: 'n - 1' },
      },
      nil: { id: 2, when: `s == ${q(S0)}`, fields: { tvb: { type: 'string', until: 'end', encoding: 'latin1' } } },
      then: { id: 2, fields: { c: { type: 'string', until: 'end' } } },
    },
  },
});

/** Runs a Lua script in tshark's Lua (over a one-packet capture): what it printed. */
function tsharkLua(script: string): string {
  const lua = join(dir, 'script.lua');
  const cap = join(dir, 'one.pcap');
  writeFileSync(lua, script);
  writeSession(cap, [], {});
  const r = spawnSync('tshark', ['-X', `lua_script:${lua}`, '-r', cap, '-c', '1'], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).not.toMatch(/Lua/);
  return r.stdout;
}

/** The Lua source with its string literals taken out (what is left is code and comments). */
function code(source: string): string {
  return source.replace(/"(?:[^"\\\n]|\\.)*"/g, '""').replace(/\[\[[\s\S]*?\]\]/g, '[[]]');
}

describe('Lua literals', () => {
  it('luaString: printable ASCII as is, every other byte, the quote and the backslash as a 3-digit escape', () => {
    expect(luaString('ab c')).toBe('"ab c"');
    expect(luaString('"\\\n\0é]]--')).toBe('"\\034\\092\\010\\000\\195\\169]]--"');
    expect(luaString(Buffer.from([0, 1, 255]))).toBe('"\\000\\001\\255"');
    // a digit after an escape stays a digit: always three digits
    expect(luaString('\x01' + '23')).toBe('"\\00123"');
    const all = luaString(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
    expect(all).toMatch(/^"[\x20-\x7e]*"$/);
    expect(all.slice(1, -1)).not.toMatch(/(^|[^\\])"/);
  });

  it('luaNumber: integers, fractions, negatives in parentheses, NaN and infinities as expressions', () => {
    expect(luaNumber(0)).toBe('0');
    expect(luaNumber(-1)).toBe('(-1)');
    expect(luaNumber(0.25)).toBe('0.25');
    expect(luaNumber(1e21)).toBe('1e+21');
    expect(luaNumber(2n ** 53n)).toBe('9007199254740992');
    expect(luaNumber(NaN)).toBe('(0/0)');
    expect(luaNumber(-Infinity)).toBe('(-math.huge)');
    // a minus after a minus is never a comment
    expect(`x - ${luaNumber(-1)}`).not.toContain('--');
  });

  it('wiresharkName: lowercase letters, digits and _, starting with a letter', () => {
    expect(wiresharkName('testgame')).toBe('testgame');
    expect(wiresharkName('My-Game_2')).toBe('my_game_2');
    expect(wiresharkName('2d-game')).toBe('gs_2d_game');
  });

  it.skipIf(!hasTshark)("tshark's Lua reads every byte and number back as written", () => {
    const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from('"]] --[[ \\\n é \u2028 😀', 'utf8')]);
    const numbers = [0, -1, 255, 0.1, -2.5e-7, 1e21, 2 ** 53, -(2 ** 31), 4294967295];
    const out = tsharkLua(
      [
        `local s = ${luaString(bytes)}`,
        'local h = {}',
        'for i = 1, #s do h[#h + 1] = string.format("%02x", s:byte(i)) end',
        'print("HEX " .. table.concat(h))',
        ...numbers.map((n) => `print("NUM " .. string.format("%.17g", ${luaNumber(n)}))`),
      ].join('\n'),
    );
    expect(/HEX ([0-9a-f]*)/.exec(out)![1]).toBe(bytes.toString('hex'));
    expect([...out.matchAll(/NUM (\S+)/g)].map((m) => Number(m[1]))).toEqual(numbers);
  });
});

describe('generated dissectors', () => {
  const generated = descriptions.map((d) => ({ d, lua: generateLua(loadProtocol(d).def) }));

  it('for every shipped description and fixture: ASCII, field names Wireshark takes (lowercase, dots, letters, digits, _), each once', () => {
    expect(generated.length).toBeGreaterThanOrEqual(8);
    for (const { d, lua } of generated) {
      expect(lua.source, d).toMatch(/^[\t\n\x20-\x7e]*$/);
      const abbrevs = lua.fields.map((f) => f.abbrev);
      for (const a of abbrevs) expect(a, d).toMatch(/^[a-z0-9_]+(\.[a-z0-9_]+)*$/);
      expect(new Set(abbrevs).size, d).toBe(abbrevs.length);
      expect(abbrevs).toContain('name');
      expect(abbrevs).toContain('not_decoded');
    }
    // each message field under PROTOCOL.<message>.<path>
    const tg = generated.find((g) => g.d.endsWith('/testgame'))!.lua;
    expect(tg.fields.map((f) => f.abbrev)).toEqual(expect.arrayContaining(['hello.version', 'snapshot.entities.pos.x', 'snapshot.entities.flags.moving', 'snapshot.entities.stats.team', 'snapshot.entities.detail.item_id', 'bye.note', 'positions.players.id']));
  });

  it.skipIf(!hasTshark)('tshark loads them all at once, with no Lua error', () => {
    const files = generated.map(({ lua }, i) => {
      const f = join(dir, `all-${i}.lua`);
      writeFileSync(f, lua.source);
      return f;
    });
    const cap = join(dir, 'empty.pcap');
    writeSession(cap, [], {});
    const r = spawnSync('tshark', [...files.flatMap((f) => ['-X', `lua_script:${f}`]), '-r', cap], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).not.toMatch(/Lua|rror/);
    expect(r.status).toBe(0);
  });
});

describe('a hostile description', () => {
  const p = compileProtocol(HOSTILE, join(dir, 'hostile.yaml'));
  const lua = generateLua(p.def);
  const file = join(dir, 'hostile.lua');
  writeFileSync(file, lua.source);
  writeFileSync(join(dir, 'hostile.yaml'), HOSTILE);

  it('gets nothing into the Lua source but escaped literals: code and comments hold none of it', () => {
    expect(p.def.description).toContain("os.execute('touch");
    // the description is the blurb of PROTOCOL.name, in a literal
    expect(lua.source).toContain(luaString(`the message, as gamesniff decode names it; Hostile-1_x: ${PAYLOAD}`));
    expect(lua.source).toMatch(/^[\t\n\x20-\x7e]*$/);
    const rest = code(lua.source);
    expect(rest).not.toContain('os.execute');
    expect(rest).not.toContain('pwned');
    expect(rest).not.toContain('\\');
    // comments: the runtime's own text, and checked names
    for (const m of rest.matchAll(/--(.*)$/gm)) expect(m[1]).toMatch(/^[ A-Za-z0-9_(),.:;'<>/*=+-]*$/);
    // the names are Wireshark's: lowercase, the dissector's own fields first
    expect(lua.name).toBe('hostile_1_x');
    expect(lua.fields.map((f) => f.abbrev)).toEqual(expect.arrayContaining(['function.nil', 'function.local', 'function.hf', 'function.x', 'function.x_2', 'function.proto._.goto', 'function.proto_name.n', 'function._g', 'nil.tvb']));
  });

  it.skipIf(!hasTshark)('loads in tshark, runs nothing, and decodes a session as gamesniff does', () => {
    const cap = join(dir, 'hostile.pcap');
    const nil = `"]] os.execute('touch ${PWNED}') --`;
    sessionCapture(
      cap,
      p,
      [
        ['c2s', 'nil', { tvb: 'é ]] --' }],
        ['c2s', 'function', { nil, local: 'end', return: 5, HF: 7, PROTO_NAME: { n: 2, next: { n: 1, next: { n: 0 } } }, proto: { then: 1, _: { goto: true, and: true } }, _G: ['a', '--[['], X: 1, x: 2 }],
        ['s2c', 'then', { c: 'after the state changed' }],
        ['c2s', 'then', { c: 'x' }],
      ],
      { dport: 24000, mss: 5 },
    );
    rmSync(PWNED, { force: true });
    for (const extra of [[], ['-2']]) {
      const t = luaMessages(file, cap, lua.name, lua.fields, extra);
      expect(t.stderr).not.toMatch(/Lua|rror/);
      const g = gamesniffMessages(cap, join(dir, 'hostile.yaml'));
      expect(g.messages.map((m) => m.name)).toEqual(['nil', 'function', 'then', 'then']);
      // a type that contains itself: its fields at every depth are the outer ones' (PROTO_NAME.n)
      const c = compare(g.messages, t.messages, g.raw, (path) => path.replace(/^PROTO_NAME(\.next)+/, 'PROTO_NAME'));
      expect(c.differences).toEqual([]);
      expect(c.equal).toBe(4);
      expect(c.values).toBe(1 + 14 + 1 + 1);
    }
    expect(existsSync(PWNED)).toBe(false);
  });
});

describe('descriptions nested as deep as the loader allows', () => {
  // 60 structs in structs, the innermost reading a field of the message; an expression Lua cannot nest
  let d = '{ fields: { z: { type: u8, if: "q == 1" } } }';
  for (let i = 0; i < 59; i++) d = `{ fields: { a: ${d}, b: u8 } }`;
  const chain = Array.from({ length: 300 }, () => 'q').join(' + ');
  const yaml = `protocol: deep\ntcp:\n  ports: [24000]\n  framing: { length: u16 }\n  id: u8\n  messages:\n    deep: { id: 1, fields: { q: u8, d: ${d} } }\n    chain: { id: 2, fields: { q: u8, y: { type: u8, if: "${chain} > 0" } } }\n`;
  const p = compileProtocol(yaml, join(dir, 'deep.yaml'));
  const lua = generateLua(p.def);

  it('are split into functions Lua takes (200 locals and 200 levels a function); an expression past its depth is "not decoded"', () => {
    expect(lua.notes).toEqual([expect.stringContaining('an expression nested too deeply for Lua')]);
    expect(lua.fields.some((f) => f.path === `d.${'a.'.repeat(59)}z`)).toBe(true);
  });

  it.skipIf(!hasTshark)('decode in tshark as gamesniff decodes them', () => {
    writeFileSync(join(dir, 'deep.yaml'), yaml);
    const file = join(dir, 'deep.lua');
    writeFileSync(file, lua.source);
    let v: Record<string, unknown> = { z: 9 };
    for (let i = 0; i < 59; i++) v = { a: v, b: i };
    const cap = join(dir, 'deep.pcap');
    sessionCapture(cap, p, [['c2s', 'deep', { q: 1, d: v }], ['c2s', 'deep', { q: 0, d: v }], ['c2s', 'chain', { q: 1, y: 2 }]], { dport: 24000 });
    const t = luaMessages(file, cap, lua.name, lua.fields);
    expect(t.stderr).not.toMatch(/Lua|rror/);
    const g = gamesniffMessages(cap, join(dir, 'deep.yaml'));
    const c = compare(g.messages, t.messages, g.raw);
    expect(c.differences).toEqual([]);
    expect([c.equal, c.notDecoded]).toEqual([2, 1]);
    expect(c.values).toBe(1 + 59 + 1 + (1 + 59));
  });
});
