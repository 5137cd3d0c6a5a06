/**
 * The data inspector: the bytes at a cursor read every way a field could be written (integers of
 * each width, signed or not, in both byte orders; floats; a varint and its zigzag; UTF-8 text),
 * as text, so a person writing a protocol description sees what a field at that offset would
 * decode to. Pure: bytes in, readings out (the renderer lays them out, ../render.ts).
 */
import { UNSAFE_TEST } from '../../core/terminal';

/** One reading: `u16le 65535`, or, when the bytes run out, `u32: needs 4 bytes, 2 left`. */
export interface Reading {
  label: string;
  value: string;
}

export interface Inspection {
  /** The cursor, and the bytes from it to the end (it included). */
  at: number;
  left: number;
  size: number;
  /**
   * The readings, most wanted first, in groups meant to stand side by side (little- and
   * big-endian of one type; u8 and s8; varint and zigzag): a group is one reading when the
   * type needs more bytes than are left.
   */
  groups: Reading[][];
}

const INTS: { bits: 16 | 32 | 64; signed: boolean }[] = [
  { bits: 16, signed: false },
  { bits: 16, signed: true },
  { bits: 32, signed: false },
  { bits: 32, signed: true },
];
const WIDE: { bits: 64; signed: boolean }[] = [
  { bits: 64, signed: false },
  { bits: 64, signed: true },
];

/** How many characters the string reading shows at most. */
export const STRING_CHARS = 24;
/** A varint longer than this is not one (64 bits take 10 bytes). */
const MAX_VARINT = 10;

function short(label: string, need: number, left: number): Reading[] {
  return [{ label, value: `needs ${need} bytes, ${left} left` }];
}

function int(b: Buffer, at: number, bits: number, signed: boolean, le: boolean): string {
  const n = bits / 8;
  if (n === 8) return (signed ? (le ? b.readBigInt64LE(at) : b.readBigInt64BE(at)) : le ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at)).toString();
  return String(signed ? (le ? b.readIntLE(at, n) : b.readIntBE(at, n)) : le ? b.readUIntLE(at, n) : b.readUIntBE(at, n));
}

/** A float32 with the fewest digits that read back the same float32 (1.5, not 1.5000000000). */
export function float32Text(v: number): string {
  if (!Number.isFinite(v) || v === 0) return Object.is(v, -0) ? '-0' : String(v);
  for (let p = 1; p <= 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) !== v) continue;
    // 5e+21 rather than 5000000000000000000000, 0.5 rather than 5.0e-1: the shorter
    const plain = String(Number(s));
    const exp = Number(s).toExponential();
    return exp.length < plain.length ? exp : plain;
  }
  return String(v);
}

/** An unsigned LEB128 varint at `at`: its value and length, or why there is none. */
export function readVarint(b: Buffer, at: number): { value: bigint; length: number } | string {
  let v = 0n;
  for (let i = 0; i < MAX_VARINT; i++) {
    if (at + i >= b.length) return `runs past the end (${i} bytes, each with the high bit set)`;
    const x = b[at + i]!;
    v |= BigInt(x & 0x7f) << BigInt(7 * i);
    if (!(x & 0x80)) return { value: v, length: i + 1 };
  }
  return `longer than ${MAX_VARINT} bytes: not a varint`;
}

/** Unsigned to signed, the zigzag way (0 -1 1 -2 2 …). */
export function zigzag(v: bigint): bigint {
  return (v >> 1n) ^ -(v & 1n);
}

function escapeChar(ch: string): string {
  switch (ch) {
    case '"':
      return '\\"';
    case '\\':
      return '\\\\';
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
  }
  // characters that would move the cursor, hide text or flip its direction, as escapes
  if (!UNSAFE_TEST.test(ch)) return ch;
  const n = ch.codePointAt(0)!;
  return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
}

/** The length of the UTF-8 sequence starting at `i`, or 0 when the bytes there are not one. */
function utf8Length(b: Buffer, i: number): number {
  const x = b[i]!;
  const n = x < 0x80 ? 1 : x >= 0xc2 && x <= 0xdf ? 2 : x >= 0xe0 && x <= 0xef ? 3 : x >= 0xf0 && x <= 0xf4 ? 4 : 0;
  if (n <= 1 || i + n > b.length) return n === 1 ? 1 : 0;
  for (let k = 1; k < n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return 0;
  // overlong forms, surrogates and code points past U+10FFFF are not UTF-8
  const cp = b.toString('utf8', i, i + n).codePointAt(0)!;
  return cp === 0xfffd && !(n === 3 && b[i] === 0xef && b[i + 1] === 0xbf && b[i + 2] === 0xbd) ? 0 : n;
}

/**
 * UTF-8 text from `at` up to a NUL, the end, or `max` characters, quoted and escaped (a byte
 * that is not UTF-8 as \xNN), with its length in bytes and how it ended: `"abc" (3 B, then NUL)`,
 * `"abcd…" (24 B)` when cut at `max` characters.
 */
export function stringAt(b: Buffer, at: number, max = STRING_CHARS): string {
  let out = '';
  let i = at;
  let chars = 0;
  while (i < b.length && b[i] !== 0 && chars < max) {
    const n = utf8Length(b, i);
    if (n === 0) {
      out += `\\x${b[i]!.toString(16).padStart(2, '0')}`;
      i++;
    } else {
      out += escapeChar(b.toString('utf8', i, i + n));
      i += n;
    }
    chars++;
  }
  const tail = i >= b.length ? '' : b[i] === 0 ? ', then NUL' : '';
  return `"${out}"${i < b.length && b[i] !== 0 ? '…' : ''} (${i - at} B${tail})`;
}

/** The readings of `b` at `at` (clamped into the bytes). */
export function inspect(b: Buffer, at: number): Inspection {
  const size = b.length;
  at = Math.max(0, Math.min(at, size - 1));
  const left = size - at;
  const groups: Reading[][] = [];
  if (left < 1) return { at: 0, left: 0, size, groups: [[{ label: 'bytes', value: 'none: the message is empty' }]] };
  groups.push([
    { label: 'u8', value: String(b[at]!) },
    { label: 's8', value: String(b.readInt8(at)) },
  ]);
  const pair = (bits: number, signed: boolean): Reading[] => {
    const name = `${signed ? 's' : 'u'}${bits}`;
    if (left < bits / 8) return short(name, bits / 8, left);
    return [
      { label: `${name}le`, value: int(b, at, bits, signed, true) },
      { label: `${name}be`, value: int(b, at, bits, signed, false) },
    ];
  };
  const float = (bits: 32 | 64): Reading[] => {
    const name = `f${bits}`;
    if (left < bits / 8) return short(name, bits / 8, left);
    const read = bits === 32 ? (le: boolean) => float32Text(le ? b.readFloatLE(at) : b.readFloatBE(at)) : (le: boolean) => String(le ? b.readDoubleLE(at) : b.readDoubleBE(at));
    return [
      { label: `${name}le`, value: read(true) },
      { label: `${name}be`, value: read(false) },
    ];
  };
  for (const t of INTS) groups.push(pair(t.bits, t.signed));
  groups.push(float(32));
  const v = readVarint(b, at);
  groups.push(
    typeof v === 'string'
      ? [{ label: 'varint', value: v }]
      : [
          { label: 'varint', value: `${v.value} (${v.length} B)` },
          { label: 'zigzag', value: String(zigzag(v.value)) },
        ],
  );
  groups.push([{ label: 'string', value: stringAt(b, at) }]);
  for (const t of WIDE) groups.push(pair(t.bits, t.signed));
  groups.push(float(64));
  return { at, left, size, groups };
}
