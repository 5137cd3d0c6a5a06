/**
 * protocols/protocol.schema.json, the JSON Schema editors check protocol.yaml against: generated
 * from the loader's tables, committed up to date, taking every description the loader takes, and
 * refusing the unknown keys the loader refuses.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv, { type ErrorObject } from 'ajv';
import { describe, expect, it } from 'vitest';
import { isMap, parse, parseDocument, Scalar, visit, type YAMLMap } from 'yaml';
import {
  COMPRESSION_KEYS,
  COUNTER_TYPES,
  DIRECTIONS,
  ENCODINGS,
  FRAMING_KEYS,
  FRAMING_WORDS,
  ID_EXPR_KEYS,
  MAP_FIELD_KEYS,
  MAP_VALUE_KINDS,
  MESSAGE_KEYS,
  PRIMITIVE_TYPES,
  ProtocolError,
  SETTING_TRANSFORMS,
  SPEC_COMMON_KEYS,
  SPEC_KEYS,
  SPEC_KIND_KEYS,
  TOP_KEYS,
  TRANSPORT_KEYS,
} from '../../src/protocol/load';
import { compileProtocol } from '../../src/protocol/protocol';
import { protocolSchema, protocolSchemaText, type JsonSchema } from '../../src/protocol/schema';
import { transformKind, transformNames } from '../../src/transform/registry';
import { gs, ROOT } from '../helpers/cli';

const SCHEMA_FILE = join(ROOT, 'protocols/protocol.schema.json');
const schema = protocolSchema();
const validate = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true }).compile(schema);

const dirs = (d: string): string[] => readdirSync(join(ROOT, d), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(ROOT, d, e.name, 'protocol.yaml'));
const SHIPPED = dirs('protocols');
const FIXTURES = dirs('test/fixtures/protocols');
const README_EXAMPLES = [...readFileSync(join(ROOT, 'protocols/README.md'), 'utf8').matchAll(/```yaml\n(protocol:[\s\S]*?)```/g)].map((m) => m[1]!);

function schemaErrors(text: string): ErrorObject[] {
  return validate(parse(text)) ? [] : validate.errors!;
}

function loaderProblems(text: string): string[] {
  try {
    compileProtocol(text, 'p.yaml');
    return [];
  } catch (e) {
    if (e instanceof ProtocolError) return e.problems;
    throw e;
  }
}

describe('protocols/protocol.schema.json', () => {
  it('is what the generator makes now', () => {
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    expect(committed, 'protocols/protocol.schema.json is out of date: run `gamesniff schema -o protocols/protocol.schema.json`').toBe(protocolSchemaText());
  });

  it('is what `gamesniff schema` prints and writes', () => {
    const r = gs(['schema']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(protocolSchemaText());
    const out = join(mkdtempSync(join(tmpdir(), 'gs-schema-')), 'protocol.schema.json');
    const w = gs(['schema', '-o', out]);
    expect(w.code, w.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(protocolSchemaText());
    const bad = gs(['schema', '-o', join(out, 'no/such/dir.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^gamesniff: cannot write .*no\/such\/dir\.json/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });

  it('is draft-07, and every shipped protocol.yaml names it on its first line', () => {
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(SHIPPED.length).toBeGreaterThanOrEqual(5);
    for (const f of SHIPPED) expect(readFileSync(f, 'utf8').split('\n')[0], f).toBe('# yaml-language-server: $schema=../protocol.schema.json');
  });
});

describe('the schema takes what the loader takes', () => {
  it.each([...SHIPPED, ...FIXTURES].map((f) => [f.slice(ROOT.length + 1), f]))('%s', (_name, file) => {
    const text = readFileSync(file, 'utf8');
    expect(loaderProblems(text)).toEqual([]);
    expect(schemaErrors(text)).toEqual([]);
  });

  it.each(README_EXAMPLES.map((t, i) => [i + 1, t]))("protocols/README.md's example %s", (_i, text) => {
    expect(schemaErrors(text)).toEqual([]);
  });

  it.each([
    ['a type by name, a named type, a struct, an array of structs', 'm: { id: 1, fields: { a: u8, v: vec, s: { fields: { x: f32be } }, l: { array: { fields: { y: u8 } }, until: end } } }'],
    ['an array ended by a condition, kept or with end:', 'm: { id: 1, fields: { a: { array: u8, until: "item == 0", keep: true }, b: { array: { fields: { k: u8 } }, until: "item.k == 255", end: { k: 255 } } } }'],
    ['a switch with number and boolean cases and a default', 'm: { id: 1, fields: { k: u8, d: { switch: k, cases: { 1: u8, 2: { type: string, prefix: u8 } }, default: { type: bytes, until: end } } } }'],
    ['a sized struct under a transform', 'm: { id: 1, fields: { w: { fields: { a: u8 }, prefix: u16, process: [{ transform: xor, key: "0x5a" }, { transform: zlib }] } } }'],
    ['messages without fields, and null fields', 'm: { id: 1 }\n    n: { id: 2, fields: }'],
    ['ids as a list, when:, set:, volatile and carry in each form', 'm: { id: [1, 2], when: "k == 0", set: { k: 1 }, volatile: a, carry: { a: [n.a] }, fields: { a: u8 } }\n    n: { id: 3, volatile: [a], carry: a, fields: { a: u8 } }'],
    ['enum, flags, bits with a signed field and lsb order, const, if and doc', 'm: { id: 1, fields: { e: { type: u16, enum: { a: 1 } }, f: { type: u8, flags: { x: 1 } }, b: { type: u16, bits: { p: s4, q: 12 }, bit_order: lsb }, c: { type: u8, const: 3, doc: three }, o: { type: u8, if: "c == 3" } } }'],
  ])('%s', (_what, messages) => {
    const text = `protocol: t\nstate: { k: 0 }\ntypes:\n  vec: { fields: { x: f32, y: f32 } }\ntcp:\n  framing: { length: u16 }\n  id: u8\n  messages:\n    ${messages}\n`;
    expect(loaderProblems(text)).toEqual([]);
    expect(schemaErrors(text)).toEqual([]);
  });

  it.each([
    ['framing by state, a WebSocket transport with no framing, udp', 'state: { p: 0 }\ntcp:\n  framing:\n    - when: p == 0\n      framing: chunk\n    - { length: u8 }\n  messages: { m: {} }\nudp:\n  framing: datagram\n  frame: { c2s: [{ transform: xor, key: [1] }] }\n  id: u8\n  messages: { d: { id: 1 } }'],
    ['header framing, inner framing, frame transforms with when', 'tcp:\n  framing: { header: { n: u16 }, length: n, strip: false, max: 100 }\n  inner: { delimiter: "\\n" }\n  frame: [{ transform: deflate-sync, when: "frame.n > 2", takeover: false }]\n  messages: { m: {} }'],
    ['an id from the head', 'tcp:\n  framing: { fixed: 4 }\n  head: { f: u8 }\n  id: { value: "f & 0x7f" }\n  messages: { m: { id: 1 } }'],
    ['msgpack messages', 'tcp:\n  websocket: true\n  msgpack: t\n  c2s: { join: { fields: { room: string, n: { type: int, optional: true } } } }\n  s2c: { moved: { id: 7, fields: } }'],
  ])('%s', (_what, body) => {
    const text = `protocol: t\n${body}\n`;
    expect(loaderProblems(text)).toEqual([]);
    expect(schemaErrors(text)).toEqual([]);
  });
});

describe('the schema and the loader refuse the same unknown keys', () => {
  const base = (messages: string, transport = '  framing: { length: u16 }\n  id: u8\n'): string => `protocol: t\nstate: { k: "" }\ntcp:\n${transport}  messages:\n${messages}`;
  const login = (fields: string): string => base(`    login:\n      id: 1\n      fields:\n${fields}`);
  it.each([
    ['an unknown top-level key', 'protocl', `protocl: t\ntcp:\n  framing: chunk\n  messages: { m: {} }\n`],
    ['an unknown key in a field', 'prefx', login('        name: { type: string, prefx: u8 }\n')],
    ['a key of another kind of type', 'prefix', login('        level: { type: u16, prefix: u8 }\n')],
    ['an unknown key in a message', 'feilds', base('    login:\n      id: 1\n      feilds: { a: u8 }\n')],
    ['an unknown key in a transport', 'frameing', base('    m: { id: 1 }\n', '  framing: { length: u16 }\n  frameing: chunk\n  id: u8\n')],
    ['an unknown key in a framing', 'include_length', base('    m: { id: 1 }\n', '  framing: { length: u16, include_length: true }\n  id: u8\n')],
    ['max with fixed framing', 'max', base('    m: { id: 1 }\n', '  framing: { fixed: 4, max: 8 }\n  id: u8\n')],
    ['an unknown transform parameter', 'skip', base('    m: { id: 1 }\n', '  framing: { length: u16 }\n  stream: [{ transform: rc4, key: k, skip: 3 }]\n  id: u8\n')],
    ['an unknown key in compression', 'level', base('    m: { id: 1 }\n', '  framing: { length: u16 }\n  compression: { when: "k != \'\'", level: 3 }\n  id: u8\n')],
    ['an unknown key in a computed id', 'val', base('    m: { id: 1 }\n', '  framing: { length: u16 }\n  head: { f: u8 }\n  id: { val: f }\n')],
    ['an unknown key in a msgpack field', 'opt', `protocol: t\ntcp:\n  framing: chunk\n  msgpack: t\n  messages: { m: { fields: { a: { type: int, opt: true } } } }\n`],
    ['stream transforms on udp', 'stream', `protocol: t\nudp:\n  framing: datagram\n  stream: [{ transform: zlib }]\n  messages: { m: {} }\n`],
    ['inner framing on udp', 'inner', `protocol: t\nudp:\n  framing: datagram\n  inner: { length: u8 }\n  messages: { m: {} }\n`],
  ])('%s', (_what, key, text) => {
    expect(loaderProblems(text).join('\n')).toMatch(new RegExp(`'${key}'|${key}:`));
    const errors = schemaErrors(text);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.some((e) => e.keyword === 'additionalProperties' && e.params.additionalProperty === key), JSON.stringify(errors.slice(0, 5))).toBe(true);
  });

  it('for every map of every shipped protocol and fixture: where the loader calls a new key unknown, the schema refuses it', () => {
    let refused = 0;
    for (const file of [...SHIPPED, ...FIXTURES]) {
      const text = readFileSync(file, 'utf8');
      let maps = 0;
      visit(parseDocument(text), { Map: () => void maps++ });
      for (let i = 0; i < maps; i++) {
        const doc = parseDocument(text);
        let n = 0;
        visit(doc, {
          Map: (_k, node: YAMLMap) => {
            if (n++ === i && isMap(node)) node.set(new Scalar('zz_unknown'), new Scalar(1));
          },
        });
        const changed = String(doc);
        const problems = loaderProblems(changed);
        if (!problems.some((p) => /unknown key 'zz_unknown'|'zz_unknown' does not apply/.test(p))) continue;
        refused++;
        expect(schemaErrors(changed).length, `${file}, map ${i}: ${problems[0]}`).toBeGreaterThan(0);
      }
    }
    expect(refused).toBeGreaterThan(100);
  });
});

describe('the schema and the loader refuse the same missing or doubled sizes', () => {
  const m = (field: string): string => `protocol: t\ntcp:\n  framing: chunk\n  messages:\n    m:\n      fields:\n        ${field}\n`;
  it.each([
    ['a string without a size', m('s: { type: string }'), /needs exactly one of length, prefix, terminator, until/],
    ['bytes with two sizes', m('s: { type: bytes, length: 2, prefix: u8 }'), /needs exactly one of length, prefix, terminator, until/],
    ['an array with two ends', m('a: { array: u8, count: 2, until: end }'), /needs exactly one of count, prefix, until/],
    ['an array with no end', m('a: { array: u8 }'), /needs exactly one of count, prefix, until/],
  ])('%s', (_what, text, why) => {
    expect(loaderProblems(text).join('\n')).toMatch(why);
    expect(schemaErrors(text).length).toBeGreaterThan(0);
  });
});

describe("the schema's keys are the loader's tables", () => {
  const defs = schema.definitions as Record<string, JsonSchema>;
  const keys = (s: JsonSchema | undefined): string[] => Object.keys((s?.properties ?? {}) as object).sort();
  const sorted = (k: Iterable<string>): string[] => [...k].sort();
  /** The schemas of an if/then/else chain (the first that applies, as the loader chooses). */
  const branches = (s: JsonSchema): JsonSchema[] => (s.if ? [s.then as JsonSchema, ...branches(s.else as JsonSchema)] : [s]);
  const titled = (list: JsonSchema[], title: string): JsonSchema => list.find((s) => s.title === title)!;
  const prop = (s: JsonSchema, k: string): JsonSchema => (s.properties as Record<string, JsonSchema>)[k]!;

  it('top level, transports, messages', () => {
    expect(keys(schema)).toEqual(sorted(TOP_KEYS));
    expect(keys(defs.tcp)).toEqual(sorted(TRANSPORT_KEYS));
    // udp has no byte stream: the loader refuses these there (tested above)
    expect(keys(defs.udp)).toEqual(sorted(TRANSPORT_KEYS.filter((k) => k !== 'stream' && k !== 'inner')));
    expect(keys(defs.message)).toEqual(sorted(MESSAGE_KEYS));
    expect(keys(defs.msgpackMessage)).toEqual(sorted(MESSAGE_KEYS));
    expect(keys((defs.mapField!.anyOf as JsonSchema[])[1])).toEqual(sorted(MAP_FIELD_KEYS));
    expect((defs.mapField!.anyOf as JsonSchema[])[0]!.enum).toEqual([...MAP_VALUE_KINDS]);
  });

  it('types: every key, and each kind of type its own', () => {
    const object = (defs.type!.anyOf as JsonSchema[])[1]!;
    expect(keys(object)).toEqual(sorted(SPEC_KEYS));
    const kinds = branches(object);
    for (const [kind, own] of Object.entries(SPEC_KIND_KEYS)) expect(keys(titled(kinds, kind)), kind).toEqual(sorted([...own, ...SPEC_COMMON_KEYS]));
    expect(kinds.map((k) => k.title)).toEqual(['pad', 'magic', 'array', 'switch', 'struct', 'string', 'bytes', 'msgpack', 'primitive', 'ref']);
    expect(sorted(kinds.map((k) => k.title as string))).toEqual(sorted(Object.keys(SPEC_KIND_KEYS)));
    expect(defs.builtin!.enum).toEqual([...PRIMITIVE_TYPES]);
    expect(defs.counter!.enum).toEqual([...COUNTER_TYPES]);
    expect(prop(object, 'encoding').enum).toEqual(Object.keys(ENCODINGS));
  });

  it('framing, compression, the computed id, transforms by direction', () => {
    const maps = branches((defs.framing_tcp!.anyOf as JsonSchema[])[1]!);
    for (const [kind, own] of Object.entries(FRAMING_KEYS)) expect(keys(titled(maps, `${kind} framing`)), kind).toEqual(sorted(own));
    expect(sorted([(defs.framing_tcp!.anyOf as JsonSchema[])[0]!.enum, defs.framing_udp!.enum].flat() as string[])).toEqual(sorted(FRAMING_WORDS));
    expect(keys(prop(defs.tcp!, 'compression'))).toEqual(sorted(COMPRESSION_KEYS));
    expect(keys((prop(defs.tcp!, 'id').anyOf as JsonSchema[])[1])).toEqual(sorted(ID_EXPR_KEYS));
    expect(keys((prop(defs.tcp!, 'stream').anyOf as JsonSchema[])[1])).toEqual(sorted(DIRECTIONS));
  });

  it.each(['stream', 'frame', 'field'] as const)('the transforms of the registry that go on a %s, with their parameters', (place) => {
    const s = defs[`${place}Transform`]!;
    const usable = transformNames().filter((n) => transformKind(n)!.places.includes(place) && !SETTING_TRANSFORMS.has(n));
    expect(usable.length).toBeGreaterThan(0);
    expect((prop(s, 'transform').enum as string[]).sort()).toEqual(usable.sort());
    for (const n of usable) {
      const params = transformKind(n)!.params.map((p) => p.name);
      expect(keys((s.anyOf as JsonSchema[]).find((v) => prop(v, 'transform').const === n)), n).toEqual(sorted(['transform', ...(place === 'field' ? [] : ['when']), ...params]));
    }
  });
});
