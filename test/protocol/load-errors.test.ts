import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/protocol/load';
import { compileProtocol } from '../../src/protocol/protocol';

function problems(text: string): string[] {
  try {
    compileProtocol(text, 'p.yaml');
  } catch (e) {
    if (e instanceof ProtocolError) return e.problems;
    throw e;
  }
  return [];
}

const head = 'protocol: t\ntcp:\n  framing: { length: u16 }\n  id: u8\n  messages:\n';

describe('protocol file errors point at file:line:col with what was expected', () => {
  const cases: [string, string, RegExp][] = [
    ['YAML syntax', 'protocol: t\ntcp: [\n', /^p\.yaml:\d+:\d+: /],
    ['unknown type', head + '    a:\n      id: 1\n      fields:\n        x: u17\n', /^p\.yaml:9:12: unknown type 'u17' for a\.x; expected u8\.\.u64/],
    ['unknown key', head + '    a:\n      id: 1\n      feilds: {}\n', /^p\.yaml:8:7: unknown key 'feilds' in message a; expected one of id, dir, when, fields/],
    ['missing id', head + '    a:\n      fields: {}\n', /^p\.yaml:6:5: message a needs an 'id:'/],
    ['duplicate id', head + '    a: { id: 1 }\n    b: { id: 1 }\n', /^p\.yaml:7:14: id 1 of b is already used by a/],
    ['string without size', head + '    a:\n      id: 1\n      fields:\n        s: string\n', /^p\.yaml:9:12: string needs a size/],
    ['bad expression', head + '    a:\n      id: 1\n      fields:\n        n: u8\n        s: { type: string, length: "n +* 2" }\n', /^p\.yaml:10:40: in the length of .*'n \+\* 2': expected a value, found '\*'/],
    ['unknown name in expression', head + '    a:\n      id: 1\n      fields:\n        s: { type: string, length: count }\n', /^p\.yaml:9:36: unknown name 'count' in 'count'; fields decoded before this point: \(none\)/],
    ['later field used too early', head + '    a:\n      id: 1\n      fields:\n        s: { type: bytes, length: n }\n        n: u8\n', /unknown name 'n'/],
    ['bits that do not add up', head + '    a:\n      id: 1\n      fields:\n        b: { type: u8, bits: { x: 3, y: 4 } }\n', /^p\.yaml:9:\d+: bit widths add up to 7; u8 has 8 bits/],
    ['enum not declared', head + '    a:\n      id: 1\n      fields:\n        k: { type: u8, enum: kinds }\n', /unknown enum 'kinds'/],
    ['two sizes', head + '    a:\n      id: 1\n      fields:\n        s: { type: bytes, length: 2, prefix: u8 }\n', /needs exactly one of length, prefix, terminator, until: end/],
    ['datagram on tcp', 'protocol: t\ntcp:\n  framing: datagram\n  messages: {}\n', /^p\.yaml:3:12: 'datagram' framing is for udp/],
    ['duplicate key', head + '    a: { id: 1 }\n    a: { id: 2 }\n', /^p\.yaml:7:5: Map keys must be unique/],
    ['no transport', 'protocol: t\n', /expected a 'tcp:' or 'udp:' section/],
    ['an empty file', '', /^p\.yaml:1:1: the file is empty: expected a protocol description/],
    ['header framing without a length', 'protocol: t\ntcp:\n  framing: { header: { n: u8 } }\n  messages: { m: {} }\n', /header framing needs 'length:'/],
    ['a header length naming no header field', 'protocol: t\ntcp:\n  framing: { header: { n: u8 }, length: size }\n  messages: { m: {} }\n', /unknown name 'size' in 'size'/],
    ['strip that is not true or false', 'protocol: t\ntcp:\n  framing: { header: { n: u8 }, length: n, strip: maybe }\n  messages: { m: {} }\n', /expected strip: true .* or false/],
    ['a length at an offset that is a varint', 'protocol: t\ntcp:\n  framing: { length: varint, offset: 4 }\n  messages: { m: {} }\n', /a length field at an offset must be a fixed-size integer/],
    ['an id expression without a head', 'protocol: t\ntcp:\n  framing: { length: u16 }\n  id: { value: "x & 0x7f" }\n  messages: { m: { id: 1 } }\n', /id: \{ value: EXPRESSION \} computes the id from the head's fields: declare 'head:' too/],
    ['frame.x without header framing', head + '    a:\n      id: 1\n      when: "frame.flags == 1"\n', /unknown name 'frame' in 'frame\.flags == 1'/],
    ['an id list with a number out of range', head + '    a: { id: [1, 300] }\n', /expected a message id \(an integer from 0 to 255\), found 300/],
    ['one name twice the same way', 'protocol: t\ntcp:\n  framing: { length: u16 }\n  id: u8\n  c2s:\n    chat: { id: 1 }\n  messages:\n    chat: { id: 2, dir: c2s }\n', /^p\.yaml:6:5: message 'chat' is defined twice for c2s/],
    ['a name both ways and again for one way', 'protocol: t\ntcp:\n  framing: { length: u16 }\n  id: u8\n  messages:\n    chat: { id: 1 }\n  s2c:\n    chat: { id: 2 }\n', /message 'chat' is defined twice for s2c/],
    ['dir: under a direction section', 'protocol: t\ntcp:\n  framing: { length: u16 }\n  id: u8\n  c2s:\n    chat: { id: 1, dir: s2c }\n', /message chat is under c2s: \(its direction\); 'dir:' is for messages under 'messages:'/],
    ['an xor key that is a word', head + '    a:\n      id: 1\n      fields:\n        s: { type: bytes, prefix: u8, xor: nonce }\n', /^p\.yaml:9:\d+: expected the xor key as bytes: a byte \(0x5a\), a list \(\[0x5a, 0xc3\]\) or hex \("0x5ac3"\); found "nonce"/],
    ['a bit width that is not a width', head + '    a:\n      id: 1\n      fields:\n        b: { type: u16, bits: { x: s99 } }\n', /expected the width of x: 1 to 16, or s1\.\.s16 for a signed field; found "s99"/],
    ['a bit order that is not one', head + '    a:\n      id: 1\n      fields:\n        b: { type: u8, bits: { x: 8 }, bit_order: middle }\n', /expected bit_order: msb .* or lsb; found 'middle'/],
    ['bit_order without bits', head + '    a:\n      id: 1\n      fields:\n        b: { type: u8, bit_order: lsb }\n', /'bit_order' goes with bits/],
    ['an until condition that consumes its end without saying what it is', head + '    a:\n      id: 1\n      fields:\n        l: { array: u8, until: "item == 0" }\n', /consumes its ending element \(keep: false\): give end:/],
    ['keep on a counted array', head + '    a:\n      id: 1\n      fields:\n        l: { array: u8, count: 2, keep: true }\n', /'keep' and 'end' go with until: "CONDITION"/],
    ['an until condition naming nothing known', head + '    a:\n      id: 1\n      fields:\n        l: { array: u8, until: "elem == 0", keep: true }\n', /unknown name 'elem'/],
    ['a 64-bit varint as a length prefix', head + '    a:\n      id: 1\n      fields:\n        s: { type: bytes, prefix: varint64 }\n', /expected the length prefix type: .* found 'varint64'/],
    ['a root that is a scalar', 'hello\n', /^p\.yaml:1:1: expected a protocol description \(a map starting with 'protocol: NAME'\)/],
    ['a root that is a list', '- protocol: t\n', /^p\.yaml:1:1: expected a protocol description/],
    ['a fractional constant on a u64', head + '    a:\n      id: 1\n      fields:\n        v: { type: u64, const: 1.5 }\n', /^p\.yaml:9:\d+: expected a whole number from 0 to 18446744073709552000 for u64, found 1\.5/],
    ['a constant that does not fit', head + '    a:\n      id: 1\n      fields:\n        v: { type: u8, const: 300 }\n', /expected a whole number from 0 to 255 for u8, found 300/],
    ['an expression nested 2,000 deep', head + `    a:\n      id: 1\n      fields:\n        n: u8\n        s: { type: bytes, length: "${'('.repeat(2000)}n${')'.repeat(2000)}" }\n`, /nested more than 64 deep/],
    ['a unary chain 100,000 long', head + `    a:\n      id: 1\n      fields:\n        n: u8\n        s: { type: bytes, length: "${'-'.repeat(100_000)}n" }\n`, /nested more than 64 deep/],
    ['types nested 100 deep', head + '    a:\n      id: 1\n      fields:\n        x: ' + '{ fields: { x: '.repeat(100) + 'u8' + ' } }'.repeat(100) + '\n', /types nested more than 64 deep/],
    ['YAML nested 100,000 deep', 'protocol: t\ntcp: ' + '['.repeat(100_000) + ']'.repeat(100_000) + '\n', /p\.yaml:\d+:\d+: /],
  ];
  for (const [what, text, re] of cases) {
    it(what, () => {
      const p = problems(text);
      expect(p.length).toBeGreaterThan(0);
      expect(p.some((x) => re.test(x)), p.join('\n')).toBe(true);
    });
  }

  it('lists every problem, not just the first', () => {
    const p = problems(head + '    a:\n      id: 1\n      fields:\n        x: u17\n        y: f33\n    b:\n      id: 2\n      fields: { z: { type: string } }\n');
    expect(p.length).toBe(3);
  });
});

describe('a protocol file is data: nothing in it reaches the generated code as code', () => {
  const g = globalThis as Record<string, unknown>;
  const hostile = [
    'x"); globalThis.pwned = 1; ("',
    "x'); globalThis.pwned = 1; ('",
    'x`${globalThis.pwned = 1}`',
    '__proto__',
    'constructor',
    'a\nb',
    'x*/ globalThis.pwned = 1; /*',
  ];
  for (const name of hostile) {
    it(`rejects the field name ${JSON.stringify(name)}`, () => {
      const p = problems(head + `    a:\n      id: 1\n      fields:\n        ${JSON.stringify(name)}: u8\n`);
      expect(p.join('\n')).toMatch(/not a valid field name|Map keys|unknown/);
      expect(g.pwned).toBeUndefined();
    });
  }

  const hostileExprs = ['globalThis.pwned = 1', 'process.exit(1)', 'n; globalThis.pwned = 1', '(function(){})()', 'n["constructor"]("return 1")()', 'this', '`x`', 'n /* */'];
  for (const x of hostileExprs) {
    it(`rejects the expression ${JSON.stringify(x)}`, () => {
      const p = problems(head + `    a:\n      id: 1\n      fields:\n        n: u8\n        s: { type: bytes, length: ${JSON.stringify(x)} }\n`);
      expect(p.length).toBeGreaterThan(0);
      expect(g.pwned).toBeUndefined();
    });
  }

  it('strings in magic, terminators, enums, descriptions and expression literals stay data', () => {
    const evil = '"); globalThis.pwned = 1; ("';
    const text =
      `protocol: t\ndescription: ${JSON.stringify(evil)}\nenums:\n  e: { a: 1 }\ntcp:\n  framing: { delimiter: ${JSON.stringify(evil)} }\n  id: u8\n  messages:\n` +
      `    m:\n      id: 1\n      fields:\n        mg: { magic: ${JSON.stringify(evil)} }\n        s: { type: string, terminator: ${JSON.stringify(evil)} }\n` +
      `        k:\n          switch: ${JSON.stringify(`'${evil}'`)}\n          cases: { 1: u8 }\n          default: u16\n`;
    expect(problems(text)).toEqual([]);
    const ok = compileProtocol(text, 'p.yaml');
    const t = ok.tcp!;
    const body = t.encode('m', { s: 'hi', k: 7 }, ok.newState());
    expect(body.subarray(-2)).toEqual(Buffer.from([7, 0]));
    expect(t.decode('c2s', body, ok.newState()).fields).toEqual({ s: 'hi', k: 7 });
    expect(g.pwned).toBeUndefined();
  });
});

describe('shapes that used to crash compile and decode cleanly', () => {
  it('a message with no body (fields absent, {} or null) decodes and encodes as its id alone', () => {
    const p = compileProtocol(head + '    a: { id: 1 }\n    b: { id: 2, fields: {} }\n    c:\n      id: 3\n      fields:\n', 'p.yaml');
    const t = p.tcp!;
    for (const [name, id] of [['a', 1], ['b', 2], ['c', 3]] as const) {
      expect(t.encode(name, {}, p.newState())).toEqual(Buffer.from([id]));
      expect(t.decode('c2s', Buffer.from([id]), p.newState())).toMatchObject({ name, fields: {} });
    }
  });

  it('an array ended by the data whose element takes no bytes is a decode error at the element, not a hang', () => {
    const p = compileProtocol(head + '    a:\n      id: 1\n      fields:\n        f: { array: { array: u8, until: end }, until: "item.length == 9" , keep: true }\n    b:\n      id: 2\n      fields:\n        g: { array: { type: bytes, length: 0 }, until: end }\n', 'p.yaml');
    const t = p.tcp!;
    expect(t.decode('c2s', Buffer.from([1, 5, 6]), p.newState()).error).toMatchObject({ path: 'a.f', message: expect.stringMatching(/an element took no bytes/) });
    expect(t.decode('c2s', Buffer.from([2, 5]), p.newState()).error).toMatchObject({ path: 'b.g', message: expect.stringMatching(/an element took no bytes/) });
  });

  it('a sentinel on an array of structs or arrays is a load error pointing at until: "item..." (it could never match)', () => {
    expect(problems(head + '    a:\n      id: 1\n      fields:\n        f: { array: { fields: { k: u8 } }, sentinel: 2 }\n')).toEqual([expect.stringMatching(/^p\.yaml:9:\d+: a sentinel compares whole elements, and the elements of a\.f are structs: end it with until: "item\.FIELD == VALUE" instead/)]);
  });

  it('a key missing before ":" is a file:line:col error, not a name "null"', () => {
    expect(problems('protocol: d\nstate: {s: 0,: e}\ntcp:\n  framing: chunk\n  messages:\n   :\n    when: "0"\n')).toEqual(expect.arrayContaining([expect.stringMatching(/^p\.yaml:2:\d+: a key is missing before ':'/)]));
  });
});

describe('a type that contains itself with nothing to stop it', () => {
  it('is a decode and an encode error at the nesting budget, not a stack overflow (a fuzzer find)', () => {
    const p = compileProtocol('protocol: d\nstate: { s0: 0 }\ntypes:\n  t0: { switch: s0, cases: { 0: t0 }, default: s24be }\ntcp:\n  framing: chunk\n  id: u8\n  messages:\n    m:\n      id: 2\n      fields: { f: t0 }\n', 'p.yaml');
    expect(() => p.tcp!.encode('m', { f: 1 }, p.newState())).toThrow(/m\.f: types nested more than 512 deep/);
    expect(p.tcp!.decode('c2s', Buffer.from([2, 1, 2, 3]), p.newState()).error).toMatchObject({ path: 'm.f', message: expect.stringMatching(/types nested more than 512 deep/) });
  });
});

describe('carry: in a message', () => {
  it('a list of paths or a map of path to targets; a target that is not MESSAGE.PATH is an error', () => {
    const p = compileProtocol(head + '    a:\n      id: 1\n      carry: [t]\n      fields: { t: u8 }\n    b:\n      id: 2\n      carry: { t: [a.t, c2s.a.t] }\n      fields: { t: u8 }\n', 'p.yaml');
    expect(p.messages.map((m) => m.def.carry)).toEqual([[{ path: 't', targets: [] }], [{ path: 't', targets: ['a.t', 'c2s.a.t'] }]]);
    expect(problems(head + '    a:\n      id: 1\n      carry: { t: nowhere }\n      fields: { t: u8 }\n')).toEqual([expect.stringMatching(/p\.yaml:8:\d+: expected where to carry t as MESSAGE\.PATH/)]);
  });
});
