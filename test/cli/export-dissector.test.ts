/**
 * `gamesniff export-dissector`: the generated Lua dissector run by tshark over captures, compared
 * message for message (per connection and direction: name, every field value, errors) with
 * `gamesniff decode --json` of the same capture. What Lua cannot decode must show as the item
 * "not decoded in Lua: <reason>", and is counted by reason. Skipped without tshark (CI installs
 * it: .ci/setup --test).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateLua } from '../../src/protocol/lua';
import { loadProtocol } from '../../src/protocol/protocol';
import { gs, ROOT } from '../helpers/cli';
import { compare, gamesniffMessages, hasTshark, luaMessages, sessionCapture, type Comparison, type Step } from '../helpers/dissector';
import { writeSession } from '../helpers/session';

const dir = mkdtempSync(join(tmpdir(), 'gs-dissector-'));
const fixture = (name: string) => join(ROOT, 'test/fixtures/protocols', name, 'protocol.yaml');

/** The dissector for a protocol, written by the CLI; the name Wireshark knows it by (gs_NAME where Wireshark has NAME). */
function dissector(protocol: string, wiresharkHas = false): { file: string; name: string; fields: ReturnType<typeof generateLua>['fields'] } {
  const p = loadProtocol(protocol);
  const lua = generateLua(p.def);
  const file = join(dir, `${lua.name}.lua`);
  const r = gs(['export-dissector', protocol, '-o', file]);
  expect(r.code, r.stderr).toBe(0);
  expect(readFileSync(file, 'utf8')).toBe(lua.source);
  return { file, name: wiresharkHas ? `gs_${lua.name}` : lua.name, fields: lua.fields };
}

function summary(what: string, c: Comparison): string {
  return `${what}: ${c.compared} messages compared, ${c.equal} equal (${c.values} field values), ${c.notDecoded} not decoded in Lua${Object.keys(c.reasons).length ? ` (${Object.entries(c.reasons).map(([r, n]) => `${n}x ${r}`).join('; ')})` : ''}`;
}

describe('gamesniff export-dissector', () => {
  it('writes the dissector, says what Lua leaves undecoded, and refuses a bad --name', () => {
    const out = join(dir, 'cli.lua');
    const r = gs(['export-dissector', 'testgame', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`wrote ${out}: protocol testgame`);
    expect(r.stderr).toContain('not decoded in Lua: tcp: an AES-128-CFB8 cipher on the byte stream');
    expect(r.stderr).toContain('not decoded in Lua: msgpack fields');
    expect(gs(['export-dissector', 'testgame', '-o', '-']).stdout).toBe(generateLua(loadProtocol('testgame').def).source);
    const named = gs(['export-dissector', 'modbus', '-o', '-', '--name', 'mymodbus']);
    expect(named.stdout).toContain('local PROTO_NAME = "mymodbus"');
    const bad = gs(['export-dissector', 'testgame', '-o', '-', '--name', 'Bad.Name']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('lowercase letters, digits and _');
  });
});

describe.skipIf(!hasTshark)('the Lua dissector in tshark, against gamesniff decode', () => {
  // the shipped recordings, exported as pcapng
  for (const [rec, protocol, wiresharkHas] of [
    ['testgame-solo', 'testgame', false],
    ['testgame-duo', 'testgame', false],
    ['echo', 'echo', true],
    ['chatroom', 'chatroom', false],
  ] as const) {
    it(`recordings/${rec}.gsrec: every message named and every field the same (msgpack fields: not decoded)`, () => {
      const pcap = join(dir, `${rec}.pcapng`);
      const recording = join(ROOT, 'recordings', `${rec}.gsrec`);
      expect(gs(['export', recording, '--pcap', pcap]).code).toBe(0);
      const d = dissector(protocol, wiresharkHas);
      const lua = luaMessages(d.file, pcap, d.name, d.fields);
      expect(lua.stderr).not.toMatch(/Lua|error/i);
      const ours = gamesniffMessages(recording, protocol);
      const c = compare(ours.messages, lua.messages, ours.raw);
      console.log(summary(`${rec}`, c));
      expect(c.differences).toEqual([]);
      expect(c.compared).toBe(ours.messages.length);
      expect(c.compared).toBeGreaterThan(0);
      // only msgpack is left to "not decoded in Lua" (testgame's inventory); the rest is equal
      const msgpack = ours.messages.filter((m) => m.name === 'inventory').length;
      expect(c.notDecoded).toBe(msgpack);
      expect(c.equal).toBe(c.compared - msgpack);
      if (protocol === 'testgame') {
        expect(ours.messages.some((m) => m.compressed)).toBe(true);
        expect(msgpack).toBeGreaterThan(0);
      }
    });
  }

  const ent = (id: number, kind: string, detail: unknown) => ({ id, kind, pos: { x: 1.5, y: -2.25 }, flags: { moving: true, hidden: false, hurt: true }, stats: { level: 3, team: 1, mood: 9 }, detail });
  const head = (transaction: number, unit = 0x11) => ({ head: { transaction, protocol: 0, length: 0, unit } });
  const plain = { flags: { masked: false, deflated: false } };
  const tg = loadProtocol('testgame');
  const frame = (hex: string) => ({ wire: tg.tcp!.frame(Buffer.from(hex.replace(/ /g, ''), 'hex')) });
  const SESSIONS: { name: string; protocol: string; port: number; wiresharkHas?: boolean; state?: Record<string, unknown>; keylog?: string; decodeAs?: boolean; steps: Step[]; expect: { compared: number; errors?: number; notDecoded: Record<string, number> } }[] = [
    {
      // the same error (message, field path, offset) as gamesniff's, bytes after the last field, unknown ids
      name: 'testgame frames that do not decode',
      protocol: 'testgame',
      port: 24000,
      steps: [
        ['c2s', 'hello', {}, frame('01 47534e46 0300 0000 0102')],
        ['s2c', 'hello_ack', {}, frame('01 47534e46 0400 0000000000000000 00')],
        ['c2s', 'hello', {}, frame('01 47534e47 0300 0000 00')],
        ['c2s', '?', {}, frame('09 0102')],
        ['c2s', 'ping', {}, frame('15 01020304 0506')],
        ['c2s', 'login', {}, frame('02 05 6162')],
        ['s2c', 'snapshot', {}, frame('10 01000000 0000000000000000 01 e807 09')],
        ['c2s', 'chat', {}, frame('12 0200 c328')],
        ['s2c', 'bye', {}, frame('16 07')],
        ['s2c', 'error', {}, frame('7f 0100 0500 68e9ff6c6f')],
        ['c2s', '', {}, frame('')],
        // flags with a bit no flag names (_other), a bool byte of 2
        ['s2c', 'snapshot', {}, frame('10 01000000 0000000000000000 01 05 03 0000c03f 00000040 81 1440 6600 03')],
        ['c2s', 'move', {}, frame('11 0100 0000803f 00000040 02')],
      ],
      expect: { compared: 13, errors: 7, notDecoded: {} },
    },
    {
      // compression on (zlib through tvb:uncompress), then the key exchange: the stream is AES from there
      name: 'testgame with compression, a kick, UDP and the key exchange',
      protocol: 'testgame',
      port: 24000,
      state: { session_key: Buffer.alloc(16, 7) },
      keylog: '127.0.0.1:51000 session_key 07070707070707070707070707070707\n',
      steps: [
        ['c2s', 'hello', { version: 3, features: [1, 2] }],
        ['s2c', 'hello_ack', { version: 3, server_time: 123456789012n, motd: 'héllo "world" ]] -- \\' }],
        ['c2s', 'login', { name: 'x', password: 'pw', client: 'c' }],
        ['s2c', 'set_compression', { threshold: 20 }],
        ['s2c', 'snapshot', { tick: 1, server_time: 5n, entities: [ent(1, 'npc', 'chase'), ent(2, 'player', 'ann'), ent(3, 'item', { item_id: 7, count: 2 })] }],
        ['s2c', 'bye', { reason: 'kicked', note: 'bad' }],
        ['s2c', 'bye', { reason: 'quit' }],
        ['c2s', 'position', { player_id: 1, seq: 2, pos: { x: 1, y: 2 }, heading: -3 }, { udp: true }],
        ['s2c', 'positions', { tick: 9, players: [{ id: 1, pos: { x: 1, y: 2 } }, { id: 300, pos: { x: -1, y: 0.5 } }] }, { udp: true }],
        ['c2s', 'ping', { nonce: 7 }],
        ['s2c', 'key_request', { public_key: Buffer.alloc(32, 1) }],
        ['c2s', 'key_response', { ephemeral: Buffer.alloc(32, 2), sealed: Buffer.alloc(16, 3) }],
        ['c2s', 'move', { seq: 1, pos: { x: 1, y: 2 }, running: true }],
        ['s2c', 'ping', { nonce: 8 }],
      ],
      expect: { compared: 14, notDecoded: { 'an AES-128-CFB8 cipher on the byte stream (from here on, this direction)': 2 } },
    },
    {
      // the MBAP length at byte 4, a head before the function code, exceptions with several ids
      name: 'modbus (as gs_modbus: Wireshark has a modbus)',
      protocol: 'modbus',
      port: 502,
      wiresharkHas: true,
      steps: [
        ['c2s', 'read_coils', { start: 19, quantity: 19 }, head(1)],
        ['s2c', 'read_coils', { byte_count: 3, coils: Buffer.from('cd6b05', 'hex') }, head(1)],
        ['c2s', 'write_multiple_registers', { start: 1, quantity: 2, byte_count: 4, registers: [10, 258] }, head(2)],
        ['s2c', 'exception', { code: 'illegal_data_address' }, { ...head(2), id: 0x90 }],
        ['c2s', 'write_single_coil', { address: 172, value: 'on' }, head(3, 1)],
        ['s2c', 'write_single_coil', { address: 172, value: 'on' }, head(3, 1)],
      ],
      expect: { compared: 6, notDecoded: {} },
    },
    {
      // a header of fields (magic, flags, u24 length), zlib by a header flag, a head and a 16-bit id; UDP ids from the head
      name: 'framed (header framing, compression by a frame flag, id from the head)',
      protocol: fixture('framed'),
      port: 24000,
      decodeAs: true,
      steps: [
        ['c2s', 'hello', { name: 'bob', urgent: true }, { frame: { flags: { compressed: false, urgent: true } }, head: { seq: 7 } }],
        ['c2s', 'hello', { name: 'ann' }, { frame: { flags: { compressed: false, urgent: false } }, head: { seq: 8 } }],
        ['s2c', 'bulk', { data: Buffer.from('00010203', 'hex') }, { frame: { flags: { compressed: true, urgent: false } }, head: { seq: 9 } }],
        ['c2s', 'read', { start: 16, count: 4 }, { udp: true, head: { unit: 0x11, function: 3 } }],
        ['s2c', 'failed', { code: 2 }, { udp: true, head: { unit: 0x11, function: 0x83 }, id: 3 }],
      ],
      expect: { compared: 5, notDecoded: {} },
    },
    {
      // signed varints, 64-bit bit fields, arrays ended by a condition, 64-bit sizes, padding, msgpack, one name both ways
      name: 'constructs (varint32/64, bits in a u64, until arrays, 64-bit sizes, msgpack)',
      protocol: fixture('constructs'),
      port: 24000,
      decodeAs: true,
      steps: [
        ['c2s', 'varints', { a: -1, b: 127, c: -1n, d: 300n, n: [10, 11] }],
        ['c2s', 'varints', { a: 2147483647, b: -2147483648, c: 0n, d: 0n, n: [] }],
        ['s2c', 'position', { pos: { x: -1, z: 2, y: -3 }, low: { a: 15, b: 2, c: 0x81 } }],
        ['s2c', 'metadata', { entries: [{ index: 0, value: 1 }, { index: 5, value: 2 }], tags: [{ type: 1, name: 'hi' }, { type: 0 }] }],
        ['c2s', 'sized', { n: 2n, items: [10, 11], len: 3n, text: 'abc' }],
        ['c2s', 'mixed', { n: 3, text: 'hé', blob: { a: 1 }, count: 5, tail: 9 }],
        ['c2s', 'chat', { text: 'hi' }, { udp: true }],
        ['s2c', 'chat', { from: 3, text: 'yo' }, { udp: true }],
      ],
      expect: { compared: 8, notDecoded: { 'msgpack (Lua does not decode it)': 1 } },
    },
    {
      // lines, then header frames (framing by state), a per-frame xor mask from the header; deflate
      // with context takeover and RC4 after the key message are what Lua cannot follow
      name: 'layered (framing by state, a per-frame mask, deflate-sync, RC4 switched on by a message)',
      protocol: fixture('layered'),
      port: 25000,
      steps: [
        ['c2s', 'hello', { text: 'hi there' }],
        ['s2c', 'upgrade', { text: 'to frames' }],
        ['c2s', 'chat', { text: 'plain' }, { frame: plain }],
        ['c2s', 'chat', { text: 'masked' }, { frame: { flags: { masked: true, deflated: false }, mask: Buffer.from([0x5a, 0xa5]) } }],
        ['s2c', 'chat', { text: 'deflated '.repeat(5) }, { frame: { flags: { masked: false, deflated: true } } }],
        ['s2c', 'chat', { text: 'masked back' }, { frame: { flags: { masked: true, deflated: false }, mask: Buffer.from([1, 2]) } }],
        ['c2s', 'key', { key: Buffer.from('0123456789abcdef', 'hex') }, { frame: plain }],
        ['c2s', 'chat', { text: 'secret' }, { frame: plain }],
        ['s2c', 'chat', { text: 'secret too' }, { frame: plain }],
      ],
      expect: {
        compared: 9,
        notDecoded: { 'an RC4 cipher on the byte stream (from here on, this direction)': 2, 'deflate whose window runs on across frames (permessage-deflate) on each frame': 1 },
      },
    },
  ];

  for (const s of SESSIONS) {
    it(`${s.name}: messages cut into 3-byte segments (tshark -2), several messages a segment`, () => {
      const d = dissector(s.protocol, s.wiresharkHas);
      const p = loadProtocol(s.protocol);
      const extra = s.decodeAs ? ['-d', `tcp.port==${s.port},${d.name}`, '-d', `udp.port==${s.port + 1},${d.name}`] : [];
      const ours = s.decodeAs ? ['--port', `${s.port},${s.port + 1}`] : [];
      if (s.keylog) {
        const keylog = join(dir, 'keylog');
        writeFileSync(keylog, s.keylog);
        ours.push('--keylog', keylog);
      }
      const modes: { mss?: number; merge?: boolean; twoPass?: boolean }[] = [{ mss: 3, twoPass: true }, { merge: true }];
      for (const mode of modes) {
        const cap = join(dir, `${d.name}-${mode.mss ?? 0}-${mode.merge ? 1 : 0}.pcap`);
        sessionCapture(cap, p, s.steps, { dport: s.port, state: s.state, mss: mode.mss, merge: mode.merge });
        // tshark -2: a first pass that keeps the state and the frames, then the tree in a second
        const lua = luaMessages(d.file, cap, d.name, d.fields, [...extra, ...(mode.twoPass ? ['-2'] : [])]);
        expect(lua.stderr).not.toMatch(/Lua|error/i);
        const g = gamesniffMessages(cap, s.protocol, ours);
        expect(g.raw).toBe(0);
        expect(g.messages.filter((m) => m.error)).toHaveLength(s.expect.errors ?? 0);
        const c = compare(g.messages, lua.messages, g.raw);
        if (mode.merge) console.log(summary(s.name, c));
        expect(c.differences, JSON.stringify(mode)).toEqual([]);
        expect(c.compared).toBe(s.expect.compared);
        expect(c.reasons).toEqual(s.expect.notDecoded);
        expect(c.equal + c.notDecoded).toBe(c.compared);
      }
    });
  }

  // every framing kind, each over messages with field transforms (xor by an earlier field, zlib, deflate, AES)
  const FRAMINGS: [string, string, string?][] = [
    ['u8', '{ length: u8 }'],
    ['u16be_adjust', '{ length: u16be, adjust: -2 }'],
    ['u24le_includes', '{ length: u24le, includes_length: true }'],
    ['u32be_includes_adjust', '{ length: u32be, includes_length: true, adjust: 1 }'],
    ['s16le', '{ length: s16le }'],
    ['varint', '{ length: varint }'],
    ['offset', '{ length: u16be, offset: 2 }', '  head: { tag: u16, len: u16 }\n'],
    ['delimiter', '{ delimiter: "\\r\\n" }'],
    ['fixed', '{ fixed: 40 }'],
    ['zlib_frames', '{ length: u16 }\n  frame: [{ transform: zlib }]'],
  ];
  const KEY = '"0x000102030405060708090a0b0c0d0e0f"';
  for (const [name, framing, head] of FRAMINGS) {
    it(`framing ${framing.split('\n')[0]}${name === 'zlib_frames' ? ' with every frame zlib' : ''}: the same messages`, () => {
      const yaml = `protocol: f_${name}\ntcp:\n  ports: [24000]\n  framing: ${framing}\n${head ?? ''}  id: u8\n  messages:
    a: { id: 1, fields: { x: u16, k: { type: bytes, length: 2 }, m: { type: string, prefix: u8, process: { transform: xor, key: k } }, z: { type: string, prefix: u16, compress: zlib }, d: { type: bytes, prefix: u8, compress: deflate }, after: u8 } }
    b: { id: 2, fields: { text: { type: string, until: end } } }
    c: { id: 3, fields: { secret: { type: string, prefix: u8, process: { transform: aes-cbc, key: ${KEY}, iv: ${KEY} } }, after: u8 } }\n`;
      const file = join(dir, `f_${name}.yaml`);
      writeFileSync(file, yaml);
      const d = dissector(file);
      const p = loadProtocol(file);
      const h = head ? { head: { tag: 7, len: 0 } } : {};
      const steps: Step[] =
        name === 'delimiter'
          ? [['c2s', 'b', { text: 'one line' }], ['s2c', 'b', { text: 'an answer, longer than a segment or two' }], ['c2s', 'b', { text: '' }]]
          : name === 'fixed'
            ? [['c2s', 'b', { text: 'short' }], ['s2c', 'a', { x: 1, k: Buffer.from([1, 2]), m: 'hi', z: 'zz', d: Buffer.from([9]), after: 4 }], ['c2s', 'c', { secret: 'x', after: 5 }]]
            : [
                ['c2s', 'a', { x: 513, k: Buffer.from([0x5a, 0xa5]), m: 'masked text', z: 'compressed '.repeat(8), d: Buffer.alloc(20, 7), after: 9 }, h],
                ['s2c', 'b', { text: 'plain' }, h],
                ['c2s', 'c', { secret: 'under AES', after: 5 }, h],
                ['c2s', 'b', { text: 'after it' }, h],
              ];
      for (const mode of [{ mss: 3 }, { merge: true }]) {
        const cap = join(dir, `f_${name}.pcap`);
        sessionCapture(cap, p, steps, { dport: 24000, ...mode });
        const lua = luaMessages(d.file, cap, d.name, d.fields);
        expect(lua.stderr).not.toMatch(/Lua|error/i);
        const g = gamesniffMessages(cap, file);
        expect(g.messages.filter((m) => m.error)).toEqual([]);
        const c = compare(g.messages, lua.messages, g.raw);
        expect(c.differences, JSON.stringify(mode)).toEqual([]);
        expect(c.compared).toBe(steps.length);
        const aes = steps.filter((x) => x[1] === 'c').length;
        expect(c.reasons).toEqual(aes ? { 'aes-cbc (a field transform Lua cannot undo)': aes } : {});
        expect(c.equal).toBe(steps.length - aes);
      }
    });
  }

  it('zlib that gamesniff refuses (cut short, raw deflate) is an error in Lua too, not what inflated so far', () => {
    const file = join(dir, 'zfield.yaml');
    writeFileSync(file, 'protocol: zfield\ntcp:\n  ports: [24000]\n  framing: { length: u16 }\n  id: u8\n  messages:\n    z: { id: 1, fields: { data: { type: string, until: end, compress: zlib } } }\n');
    const d = dissector(file);
    const p = loadProtocol(file);
    const z = (hex: string) => ({ wire: p.tcp!.frame(Buffer.from(`01${hex}`, 'hex')) });
    const hello = '789ccb48cdc9c957c84090003a2e067d';
    const cap = join(dir, 'zfield.pcap');
    sessionCapture(cap, p, [['c2s', 'z', {}, z(hello)], ['c2s', 'z', {}, z(hello.slice(0, -6))], ['c2s', 'z', {}, z('cbc80400')], ['c2s', 'z', {}, z(`${hello}7878`)]], { dport: 24000 });
    const lua = luaMessages(d.file, cap, d.name, d.fields);
    const g = gamesniffMessages(cap, file);
    expect(g.messages.map((m) => m.error ?? m.values)).toEqual([[['data', 'hello hello hello']], 'error at z.data +1: zlib: unexpected end of file', 'error at z.data +1: zlib: incorrect header check', [['data', 'hello hello hello']]]);
    const c = compare(g.messages, lua.messages, g.raw);
    expect(c.differences).toEqual([]);
    expect(c.equal).toBe(4);
  });

  it('a WebSocket transport (wsgame) loads, registers its port and shows each segment as not decoded in Lua', () => {
    const d = dissector('wsgame');
    const cap = join(dir, 'ws.pcap');
    writeSession(cap, [{ dir: 'c2s', bytes: Buffer.from('GET / HTTP/1.1\r\n\r\n') }], { dport: loadProtocol('wsgame').tcp!.ports[0] });
    const lua = luaMessages(d.file, cap, d.name, d.fields);
    expect(lua.stderr).not.toMatch(/Lua|error/i);
    expect(lua.messages.map((m) => m.notDecoded)).toEqual([['a WebSocket transport (the HTTP upgrade, masked frames, fragments and permessage-deflate)']]);
  });
});
