import { describe, expect, it } from 'vitest';
import { float32Text, inspect, readVarint, stringAt, zigzag, type Inspection } from '../../src/tui/model/inspect';

/** label -> value of every reading. */
const readings = (ins: Inspection): Record<string, string> => Object.fromEntries(ins.groups.flat().map((r) => [r.label, r.value]));

describe('the data inspector: bytes at a cursor read every way', () => {
  it('ff ff: u16 65535, s16 -1 both ways; u8 255, s8 -1', () => {
    const r = readings(inspect(Buffer.from([0xff, 0xff]), 0));
    expect(r).toMatchObject({ u8: '255', s8: '-1', u16le: '65535', u16be: '65535', s16le: '-1', s16be: '-1' });
  });

  it('little- and big-endian differ where they should, 64-bit ones exactly (past 2^53)', () => {
    const b = Buffer.from('0102030405060708ff', 'hex');
    const r = readings(inspect(b, 0));
    expect(r.u16le).toBe(String(0x0201));
    expect(r.u16be).toBe(String(0x0102));
    expect(r.u32le).toBe(String(0x04030201));
    expect(r.u32be).toBe(String(0x01020304));
    expect(r.u64le).toBe(0x0807060504030201n.toString());
    expect(r.u64be).toBe(0x0102030405060708n.toString());
    const ff = readings(inspect(Buffer.alloc(8, 0xff), 0));
    expect(ff.u64le).toBe('18446744073709551615');
    expect(ff.s64be).toBe('-1');
  });

  it('floats: 1.5 as f32 both ways, f64, and the shortest text that reads back the same float32', () => {
    const le = Buffer.alloc(8);
    le.writeFloatLE(1.5, 0);
    expect(readings(inspect(le, 0)).f32le).toBe('1.5');
    const be = Buffer.alloc(4);
    be.writeFloatBE(-0.1, 0);
    expect(readings(inspect(be, 0)).f32be).toBe('-0.1');
    const d = Buffer.alloc(8);
    d.writeDoubleLE(Math.PI, 0);
    expect(readings(inspect(d, 0)).f64le).toBe(String(Math.PI));
    expect(float32Text(Math.fround(6.2878845e19))).toBe('6.2878845e+19');
    expect(float32Text(Math.fround(50))).toBe('50');
    expect(float32Text(NaN)).toBe('NaN');
  });

  it('a varint of 3 bytes (LEB128) with its length, and its zigzag', () => {
    // 0xac 0x82 0x01 = 0x2c + (0x02 << 7) + (1 << 14) = 16684
    const b = Buffer.from([0xac, 0x82, 0x01, 0x77]);
    expect(readVarint(b, 0)).toEqual({ value: 16684n, length: 3 });
    const r = readings(inspect(b, 0));
    expect(r.varint).toBe('16684 (3 B)');
    expect(r.zigzag).toBe('8342');
    expect(zigzag(1n)).toBe(-1n);
    expect(zigzag(3n)).toBe(-2n);
    // the high bit set to the end: not a varint
    expect(readings(inspect(Buffer.from([0x80, 0x80]), 0)).varint).toMatch(/^runs past the end/);
    expect(readVarint(Buffer.alloc(12, 0x80), 0)).toMatch(/longer than 10 bytes/);
  });

  it('a read cut short says how many bytes it needs and how many are left', () => {
    const ins = inspect(Buffer.from([1, 2, 3, 4, 5]), 3);
    expect(ins.at).toBe(3);
    expect(ins.left).toBe(2);
    const r = readings(ins);
    expect(r.u16le).toBe(String(0x0504));
    expect(r.u32).toBe('needs 4 bytes, 2 left');
    expect(r.f64).toBe('needs 8 bytes, 2 left');
    expect(r.u32le).toBeUndefined();
    // a cut-short type is one reading, not a pair
    expect(ins.groups.find((g) => g[0]!.label === 'u32')).toHaveLength(1);
  });

  it('text: UTF-8 up to a NUL or 24 characters, escaped, with its length in bytes', () => {
    expect(stringAt(Buffer.from('hi\0there'), 0)).toBe('"hi" (2 B, then NUL)');
    expect(stringAt(Buffer.from('héllo'), 0)).toBe('"héllo" (6 B)');
    expect(stringAt(Buffer.from('a'.repeat(30)), 0)).toBe(`"${'a'.repeat(24)}"… (24 B)`);
    // controls, quotes, a byte that is not UTF-8, a bidi override: escaped, nothing raw reaches the terminal
    expect(stringAt(Buffer.concat([Buffer.from('a\n"\x1b'), Buffer.from([0xff]), Buffer.from('\u202e')]), 0)).toBe('"a\\n\\"\\x1b\\xff\\u202e" (8 B)');
    expect(readings(inspect(Buffer.from([0, 1]), 0)).string).toBe('"" (0 B, then NUL)');
  });

  it('the cursor is kept inside the bytes; an empty message has nothing to read', () => {
    expect(inspect(Buffer.from([1, 2]), 9).at).toBe(1);
    expect(inspect(Buffer.from([1, 2]), -3).at).toBe(0);
    expect(inspect(Buffer.alloc(0), 0).groups).toEqual([[{ label: 'bytes', value: 'none: the message is empty' }]]);
  });
});
