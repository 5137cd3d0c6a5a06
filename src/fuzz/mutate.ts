/**
 * Our own small mutators: bytes (captures, recordings) and text (protocol YAML). Each takes a
 * seeded Rng, so that a run is reproducible from its --seed.
 */
import { Packr, Unpackr } from 'msgpackr';
import { generateProtocol } from './protogen';
import type { Rng } from '../core/rng';

/** Mutated inputs are cut to this size, so that a case stays fast. */
export const MAX_INPUT = 2 << 20;

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x7e, 0x81, 0xfe, 2, 4, 16, 32, 64, 100];
const INTERESTING_16 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x3ff, 0x400, 0x7fff, 0x8000, 0xfffe, 0xffff, 1500, 4096, 65535];
const INTERESTING_32 = [
  0, 1, 2, 4, 8, 12, 16, 20, 28, 32, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe,
  0xffffffff, 0x0fffffff, 1_000_000, 0x4000000, 0x4000001,
];

/** Where to mutate: anywhere, or on a 4-byte boundary (pcapng fields are aligned) half the time. */
function offset(r: Rng, len: number, width = 1): number {
  const max = Math.max(0, len - width);
  const o = r.int(0, max);
  return r.chance(0.5) ? o & ~3 : o;
}

function writeInt(b: Buffer, off: number, width: 1 | 2 | 4, v: number, le: boolean): void {
  if (off + width > b.length) return;
  v = v >>> 0;
  if (width === 1) b[off] = v & 0xff;
  else if (width === 2) le ? b.writeUInt16LE(v & 0xffff, off) : b.writeUInt16BE(v & 0xffff, off);
  else le ? b.writeUInt32LE(v, off) : b.writeUInt32BE(v, off);
}

function readInt(b: Buffer, off: number, width: 1 | 2 | 4, le: boolean): number {
  if (off + width > b.length) return 0;
  if (width === 1) return b[off]!;
  if (width === 2) return le ? b.readUInt16LE(off) : b.readUInt16BE(off);
  return le ? b.readUInt32LE(off) : b.readUInt32BE(off);
}

function chunkLen(r: Rng, len: number): number {
  return Math.max(1, Math.min(len, r.chance(0.7) ? r.small(16) : r.small(Math.max(1, len >> 1))));
}

export type ByteMutator = (r: Rng, b: Buffer, other: () => Buffer) => Buffer;

export const BYTE_MUTATORS: Record<string, ByteMutator> = {
  bitflip(r, b) {
    if (!b.length) return b;
    const out = Buffer.from(b);
    for (let i = r.small(8); i > 0; i--) {
      const o = r.below(out.length);
      out[o] = out[o]! ^ (1 << r.below(8));
    }
    return out;
  },
  byteSet(r, b) {
    if (!b.length) return b;
    const out = Buffer.from(b);
    for (let i = r.small(4); i > 0; i--) {
      const o = r.below(out.length);
      out[o] = r.chance(0.3) ? (out[o]! + r.pick([1, -1, 2, -2, 4, -4])) & 0xff : r.pick(INTERESTING_8);
    }
    return out;
  },
  int16(r, b) {
    if (b.length < 2) return b;
    const out = Buffer.from(b);
    writeInt(out, offset(r, out.length, 2), 2, r.chance(0.8) ? r.pick(INTERESTING_16) : r.below(0x10000), r.chance(0.5));
    return out;
  },
  int32(r, b) {
    if (b.length < 4) return b;
    const out = Buffer.from(b);
    const v = r.chance(0.7) ? r.pick(INTERESTING_32) : r.chance(0.5) ? r.small(1 << 16) : r.u32();
    writeInt(out, offset(r, out.length, 4), 4, v, r.chance(0.5));
    return out;
  },
  /** Lengths ±1..16: add or subtract a small delta to an 8, 16 or 32-bit value in either byte order. */
  arith(r, b) {
    const width = r.pick([1, 2, 4] as const);
    if (b.length < width) return b;
    const out = Buffer.from(b);
    const o = offset(r, out.length, width);
    const le = r.chance(0.5);
    const delta = r.pick([1, -1, 2, -2, 3, -3, 4, -4, 8, -8, 16, -16]);
    writeInt(out, o, width, readInt(out, o, width, le) + delta, le);
    return out;
  },
  chunkDelete(r, b) {
    if (b.length < 2) return b;
    const n = chunkLen(r, b.length - 1);
    const o = r.int(0, b.length - n);
    return Buffer.concat([b.subarray(0, o), b.subarray(o + n)]);
  },
  chunkDuplicate(r, b) {
    if (!b.length) return b;
    const n = chunkLen(r, b.length);
    const o = r.int(0, b.length - n);
    const at = r.chance(0.5) ? o + n : r.int(0, b.length);
    const piece = b.subarray(o, o + n);
    const times = r.chance(0.8) ? 1 : r.small(64);
    return Buffer.concat([b.subarray(0, at), ...Array<Buffer>(times).fill(piece), b.subarray(at)]);
  },
  chunkInsert(r, b) {
    const n = r.small(64);
    const piece = r.chance(0.5) ? Buffer.alloc(n, r.pick(INTERESTING_8)) : r.bytes(n);
    const at = r.int(0, b.length);
    return Buffer.concat([b.subarray(0, at), piece, b.subarray(at)]);
  },
  chunkOverwrite(r, b, other) {
    if (!b.length) return b;
    const src = r.chance(0.5) ? b : other();
    if (!src.length) return b;
    const n = Math.min(chunkLen(r, src.length), b.length);
    const from = r.int(0, src.length - n);
    const to = r.int(0, b.length - n);
    const out = Buffer.from(b);
    src.copy(out, to, from, from + n);
    return out;
  },
  truncate(r, b) {
    if (!b.length) return b;
    return b.subarray(0, r.chance(0.5) ? r.below(b.length) : Math.max(0, b.length - r.small(64)));
  },
  splice(r, b, other) {
    const o = other();
    if (!b.length || !o.length) return b;
    return Buffer.concat([b.subarray(0, r.int(0, b.length)), o.subarray(r.int(0, o.length))]);
  },
};

const BYTE_NAMES = Object.keys(BYTE_MUTATORS);

/** One to a few stacked byte mutations. */
export function mutateBytes(r: Rng, seed: Buffer, other: () => Buffer): Buffer {
  let b = seed;
  const n = r.chance(0.5) ? 1 : r.small(8);
  for (let i = 0; i < n; i++) b = BYTE_MUTATORS[r.pick(BYTE_NAMES)]!(r, b, other);
  return b.length > MAX_INPUT ? b.subarray(0, MAX_INPUT) : b;
}

// ---------------------------------------------------------------------------------------------
// Protocol YAML

const HOSTILE_NUMBERS = [
  '0', '-1', '1.5', '-0', '1e308', '-1e308', '9007199254740993', '18446744073709551616', '4294967295', '4294967296',
  '2147483647', '-2147483649', '65535', '65536', '256', '0x7fffffff', '0xffffffffffff', '1e-9', '.inf', '-.inf', '.nan',
  '1_000_000_000', '0b1111', '0o777', '1000000000000', '3', '64', '1024',
];
const HOSTILE_NAMES = [
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'this', 'return', 'function',
  'arguments', 'eval', 'new', 'undefined', 'NaN', 'Infinity', 'null', 'true', 'length', 'rt', 'K', 'c', 'b', 'w', 'v',
  'p', 'e', 'st', 'M', 'EM', 'W', 'x'.repeat(300), '""', "''", '"a\\"b"', "'\\\\'", '"${x}"', '"`"', '"\\u0000"', 'é',
  '0abc', 'a-b', '"a b"', 'item', 'vec2', 'entity', 'kind', 'player', 'tick', 'compression', 'joined',
];
const TYPE_NAMES = [
  'u8', 'u16', 'u24', 'u32', 'u64', 's8', 's16', 's24', 's32', 's64', 'u16be', 'u32le', 's24be', 'u64be', 'f32',
  'f64', 'f32be', 'varint', 'zigzag', 'bool', 'string', 'bytes', 'msgpack', 'vec2', 'entity', 'u128', 'u8le',
];
const HOSTILE_EXPRS = [
  '"' + '('.repeat(3000) + '1' + ')'.repeat(3000) + '"',
  '"' + Array(3000).fill('1').join(' + ') + '"',
  '"' + '-'.repeat(3000) + '1"',
  '"' + '!'.repeat(3000) + 'true"',
  '"' + Array(500).fill('a ? b').join(' : ') + ' : c"',
  '"1 / 0"', '"1 % 0"', '"-1"', '"0 - 1"', '"1 << 40"', '"4294967295 * 4294967295"', '"0.5"', '"1e400"',
  '"tick.length"', '"entities[99999999]"', '"entities[-1].id"', '"kind == \'player\'"', '"name ~ \'\'"',
  '"constructor"', '"__proto__"', '"x.y.z.w"', '"\'\\u0000\'"', '"a[0][0][0]"', '"true ? 1 : \'s\'"', '"count"',
  '"compression"', '"threshold * 2"', '"!joined"', '"server_time"', '"server_time * 2"', '"tick << 40"', '"motd"',
  '"entities"', '"features.length * 1000000"', '"token"', '"name ~ 1"', '"-compression"', '"compression / 0"', '""', '"\'"', '"(("', '"1 +"', '"0x"', '"1_"', '"9007199254740993"',
];
const YAML_BITS = [
  '&a', '*a', '<<: *a', '!!binary', '!!int', '!!float', '!!str', '!!map', '!!seq', '!!set', '!!omap', '? ', '---',
  '...', '%YAML 1.2', '|', '>-', '\t', '#', '{}', '[]', '{ a: 1 }', '[1, 2]', 'null', '~', '"\\x00"', '@', '`',
];
const SECTION_KEYS = [
  'protocol', 'description', 'endian', 'state', 'enums', 'types', 'tcp', 'udp', 'ports', 'framing', 'compression', 'id',
  'messages', 'dir', 'when', 'fields', 'set', 'volatile', 'doc', 'type', 'array', 'switch', 'cases', 'default', 'magic',
  'pad', 'enum', 'flags', 'bits', 'const', 'length', 'prefix', 'terminator', 'until', 'sentinel', 'count', 'encoding',
  'padded', 'xor', 'compress', 'if', 'includes_length', 'adjust', 'max', 'delimiter', 'fixed', 'algorithm', 'threshold',
];

const TOKEN = /0x[0-9a-fA-F_]+|-?\d[\d_]*(?:\.\d+)?(?:e-?\d+)?|[A-Za-z_][A-Za-z0-9_]*|"(?:[^"\\]|\\.)*"|'[^']*'|[{}[\]:,]/g;

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

/** A deeply nested value, in flow or block style. */
function deepValue(r: Rng): string {
  const depth = r.pick([8, 50, 200, 1000, 3000]);
  switch (r.below(4)) {
    case 0:
      return '{ fields: '.repeat(depth) + '{ a: u8 }' + ' }'.repeat(depth);
    case 1:
      return '{ array: '.repeat(depth) + 'u8, count: 1 }'.repeat(depth);
    case 2:
      return '['.repeat(depth) + ']'.repeat(depth);
    default:
      return '{ a: '.repeat(depth) + '1' + ' }'.repeat(depth);
  }
}

type LineMutator = (r: Rng, lines: string[], other: () => string[]) => string[];

export const LINE_MUTATORS: Record<string, LineMutator> = {
  deleteLine(r, ls) {
    if (!ls.length) return ls;
    const i = r.below(ls.length);
    return [...ls.slice(0, i), ...ls.slice(i + r.small(8))];
  },
  duplicateLine(r, ls) {
    if (!ls.length) return ls;
    const i = r.below(ls.length);
    const n = r.small(6);
    return [...ls.slice(0, i + n), ...ls.slice(i, i + n), ...ls.slice(i + n)];
  },
  swapLines(r, ls) {
    if (ls.length < 2) return ls;
    const out = [...ls];
    const i = r.below(out.length);
    const j = r.below(out.length);
    [out[i], out[j]] = [out[j]!, out[i]!];
    return out;
  },
  /** A line from another protocol file, at this place's indentation: keys swapped between sections. */
  foreignLine(r, ls, other) {
    const o = other();
    if (!o.length) return ls;
    const at = r.below(ls.length + 1);
    const ref = ls[Math.min(at, ls.length - 1)] ?? '';
    const n = r.small(4);
    const start = r.below(o.length);
    const moved = o.slice(start, start + n).map((l) => ' '.repeat(indentOf(ref)) + l.trimStart());
    return [...ls.slice(0, at), ...moved, ...ls.slice(at)];
  },
  /** A key from any section, with a copied or hostile value, at a random place. */
  foreignKey(r, ls) {
    const at = r.below(ls.length + 1);
    const ref = ls[Math.min(at, ls.length - 1)] ?? '';
    const value = r.pick([r.pick(HOSTILE_NUMBERS), r.pick(TYPE_NAMES), r.pick(HOSTILE_EXPRS), r.pick(HOSTILE_NAMES), '{ length: u16 }', '[1, 2]', 'end', '{}']);
    return [...ls.slice(0, at), `${' '.repeat(indentOf(ref))}${r.pick(SECTION_KEYS)}: ${value}`, ...ls.slice(at)];
  },
  indent(r, ls) {
    if (!ls.length) return ls;
    const out = [...ls];
    const i = r.below(out.length);
    const d = r.pick([-4, -2, 2, 4, 1]);
    out[i] = d > 0 ? ' '.repeat(d) + out[i] : out[i]!.replace(new RegExp(`^ {0,${-d}}`), '');
    return out;
  },
  /** Deepen nesting: a field's value wrapped in a struct or an array, or a deep value put in. */
  deepen(r, ls) {
    const idx = ls.map((l, i) => [l, i] as const).filter(([l]) => /^\s+[A-Za-z_][\w]*:\s*\S/.test(l));
    if (!idx.length) return ls;
    const [line, i] = r.pick(idx);
    const m = /^(\s+[A-Za-z_][\w]*:\s*)(.*)$/.exec(line)!;
    let v = m[2]!;
    if (r.chance(0.3)) v = deepValue(r);
    else for (let k = r.small(16); k > 0; k--) v = r.chance(0.5) ? `{ fields: { a: ${v} } }` : `{ array: ${v}, count: ${r.pick(['1', '2', '0', 'a'])} }`;
    const out = [...ls];
    out[i] = m[1] + v;
    return out;
  },
  yamlBit(r, ls) {
    if (!ls.length) return [r.pick(YAML_BITS)];
    const out = [...ls];
    const i = r.below(out.length);
    const l = out[i]!;
    const at = r.int(0, l.length);
    out[i] = l.slice(0, at) + r.pick(YAML_BITS) + (r.chance(0.5) ? ' ' : '') + l.slice(at);
    return out;
  },
};

/** Replace one token of a line: numbers, names and strings get hostile values. */
function mutateToken(r: Rng, ls: string[]): string[] {
  if (!ls.length) return ls;
  const out = [...ls];
  for (let tries = 0; tries < 8; tries++) {
    const i = r.below(out.length);
    const l = out[i]!;
    if (l.trimStart().startsWith('#')) continue;
    const toks = [...l.matchAll(TOKEN)];
    if (!toks.length) continue;
    const t = r.pick(toks);
    const s = t[0];
    let rep: string;
    if (/^-?\d|^0x/.test(s)) rep = r.pick(HOSTILE_NUMBERS);
    else if (/^["']/.test(s)) rep = r.chance(0.6) ? r.pick(HOSTILE_EXPRS) : r.pick(HOSTILE_NAMES);
    else if (/^[A-Za-z_]/.test(s)) {
      const k = r.below(5);
      rep = k === 0 ? r.pick(TYPE_NAMES) : k === 1 ? r.pick(SECTION_KEYS) : k === 2 ? r.pick(HOSTILE_NUMBERS) : k === 3 ? r.pick(HOSTILE_NAMES) : r.pick(HOSTILE_EXPRS);
    } else rep = r.pick(['{', '}', '[', ']', ':', ',', '', ': :', '{}', '[]']);
    out[i] = l.slice(0, t.index) + rep + l.slice(t.index! + s.length);
    return out;
  }
  return out;
}

const LINE_NAMES = Object.keys(LINE_MUTATORS);

/** One to a few stacked line- and token-level mutations of a YAML text. */
export function mutateText(r: Rng, text: string, other: () => string): string {
  let ls = text.split('\n');
  const otherLines = () => other().split('\n');
  const n = r.chance(0.5) ? 1 : r.small(6);
  for (let i = 0; i < n; i++) {
    ls = r.chance(0.55) ? mutateToken(r, ls) : LINE_MUTATORS[r.pick(LINE_NAMES)]!(r, ls, otherLines);
  }
  const out = ls.join('\n');
  return out.length > MAX_INPUT ? out.slice(0, MAX_INPUT) : out;
}

// ---------------------------------------------------------------------------------------------
// Recordings: structured mutations of the msgpack records

const unpackr = new Unpackr({ useRecords: false, moreTypes: false });
const packr = new Packr({ useRecords: false, moreTypes: false });

const RECORD_KEYS = ['format', 'version', 'created', 'protocol', 'source', 'writer', 't', 'c', 'p', 'ts', 'client', 'server', 'd', 'o', 'b', 'n', 'why', 'state', 'stats'];

function hostileValue(r: Rng): unknown {
  switch (r.below(6)) {
    case 0:
      return r.pick([0, -1, 1, 2, 1.5, -0.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 32, 2 ** 53 + 2, -(2 ** 53), 1e300, -1e300, 8.64e15, 8.64e15 + 1, 1e21, 65536, 70000]);
    case 1:
      return r.pick(['', 'x', 'tcp', 'udp', 'open', 'data', 'gap', 'end', 'close', 'finish', 'fin', 'rst', 'timeout', 'reset', 'closed', '::1', '127.0.0.1', '999.1.1.1', '1.2.3', '::ffff:1.2.3.4', 'fe80::1%eth0', 'gamesniff-recording', '__proto__', 'x'.repeat(5000)]);
    case 2:
      return r.pick([null, true, false, undefined]);
    case 3:
      return r.pick([[], [1], ['a'], ['::1', 70000], ['1.2.3.4', -5], ['127.0.0.1', 1.5], ['127.0.0.1'], [null, null], ['::1', 1, 2]]);
    case 4:
      return r.pick([{}, { name: 1 }, { name: 'testgame', hash: 5 }, { kind: 7, name: [] }, Object.fromEntries([['__proto__', { a: 1 }]])]);
    default:
      return r.pick([Buffer.alloc(0), Buffer.alloc(3, 0xff), Buffer.alloc(40000, 1), 2n ** 64n + 5n, -(2n ** 63n), 2n ** 70n]);
  }
}

/** Unpack the msgpack stream, change, drop, duplicate or reorder records, pack again. Null when the bytes do not unpack. */
export function mutateRecording(r: Rng, bytes: Buffer): Buffer | null {
  const values: unknown[] = [];
  try {
    unpackr.unpackMultiple(bytes, (v: unknown) => {
      values.push(v);
    });
  } catch {
    if (!values.length) return null;
  }
  if (!values.length) return null;
  const head = values[0] as { protocol?: { text?: unknown } } | undefined;
  if (head && typeof head.protocol?.text === 'string' && r.chance(0.25)) {
    // the protocol description the recording holds: mutated, or another one altogether
    const text = head.protocol.text;
    values[0] = { ...head, protocol: { ...head.protocol, text: r.chance(0.7) ? mutateText(r, text, () => text) : generateProtocol(r.u32()) } };
    if (r.chance(0.5)) return pack(values);
  }
  for (let k = r.small(4); k > 0; k--) {
    const i = r.chance(0.25) ? 0 : r.below(values.length);
    const v = values[i];
    switch (r.below(6)) {
      case 0:
      case 1:
      case 2: {
        if (v && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v)) {
          const o = { ...(v as Record<string, unknown>) };
          const keys = Object.keys(o);
          const key = r.chance(0.8) && keys.length ? r.pick(keys) : r.pick(RECORD_KEYS);
          if (r.chance(0.1)) delete o[key];
          else if (r.chance(0.2) && typeof o[key] === 'number') o[key] = (o[key] as number) + r.pick([1, -1, 1000, -1000, 2 ** 32]);
          else o[key] = hostileValue(r);
          values[i] = o;
        } else values[i] = hostileValue(r);
        break;
      }
      case 3:
        values.splice(i, 1);
        break;
      case 4:
        values.splice(r.below(values.length + 1), 0, values[i]);
        break;
      default: {
        const j = r.below(values.length);
        [values[i], values[j]] = [values[j], values[i]];
      }
    }
    if (!values.length) break;
  }
  return pack(values);
}

function pack(values: unknown[]): Buffer | null {
  try {
    return Buffer.concat(values.map((v) => Buffer.from(packr.pack(v))));
  } catch {
    return null;
  }
}
