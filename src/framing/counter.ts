/**
 * Counters: the integer fields that say how long a frame is, how many things follow, or which
 * message this is, read and written outside compiled code (framing, id dispatch, compression
 * headers). Counters are at most 32 bits (the loader refuses wider ones).
 */
import { u16be, u32be, u32le } from '../core/bytes';
import { EncodeError } from '../core/errors';

export interface IntType {
  k: 'int';
  size: 1 | 2 | 3 | 4 | 8;
  signed: boolean;
  le: boolean;
}
export interface VarintType {
  k: 'varint';
  zigzag: boolean;
  /** Two's-complement signed LEB128 of this width (varint32: -1 is ff ff ff ff 0f; varint64: a bigint); absent: unsigned up to 2^53. */
  width?: 32 | 64;
}
export type Counter = IntType | VarintType;

/** The counter at b[p..end), or null when the bytes run out (or a varint exceeds 8 bytes). */
export function readCounter(t: Counter, b: Buffer, p: number, end = b.length): { value: number; next: number } | null {
  if (t.k === 'varint' && t.width === 32) {
    // two's complement: a negative count or length comes out negative (and is refused by the caller)
    let v = 0;
    for (let i = p, shift = 0; i < end && i < p + 5; i++, shift += 7) {
      v |= (b[i] & 0x7f) << shift;
      if (b[i] < 0x80) return { value: v | 0, next: i + 1 };
    }
    return null;
  }
  if (t.k === 'varint') {
    let v = 0;
    let mul = 1;
    for (let i = p; i < end && i < p + 8; i++) {
      v += (b[i] & 0x7f) * mul;
      if (b[i] < 0x80) return { value: t.zigzag ? (v % 2 ? -(v + 1) / 2 : v / 2) : v, next: i + 1 };
      mul *= 0x80;
    }
    return null;
  }
  if (t.size === 8 || p + t.size > end) return null;
  const value = t.signed ? (t.le ? b.readIntLE(p, t.size) : b.readIntBE(p, t.size)) : t.le ? b.readUIntLE(p, t.size) : b.readUIntBE(p, t.size);
  return { value, next: p + t.size };
}

/**
 * readCounter for the per-frame paths (framers, id dispatch): no object per read. read() gives
 * the value, or NaN when the bytes run out, and leaves where the counter ended in `next`.
 */
export class CounterReader {
  next = 0;
  /** 1 u8, 2 u16le, 3 u16be, 4 u32le, 5 u32be, 6 unsigned varint, 0 anything else. */
  private readonly kind: number;

  constructor(readonly t: Counter) {
    if (t.k === 'varint') this.kind = !t.zigzag && t.width === undefined ? 6 : 0;
    else if (t.signed) this.kind = 0;
    else this.kind = t.size === 1 ? 1 : t.size === 2 ? (t.le ? 2 : 3) : t.size === 4 ? (t.le ? 4 : 5) : 0;
  }

  /** Small on purpose, so that it inlines where it is called: the rarer kinds are out of line. */
  read(b: Buffer, p: number, end: number): number {
    switch (this.kind) {
      case 1:
        if (p + 1 > end) return NaN;
        this.next = p + 1;
        return b[p];
      case 2:
        if (p + 2 > end) return NaN;
        this.next = p + 2;
        return b[p] | (b[p + 1] << 8);
      case 3:
        if (p + 2 > end) return NaN;
        this.next = p + 2;
        return u16be(b, p);
      case 4:
        if (p + 4 > end) return NaN;
        this.next = p + 4;
        return u32le(b, p);
      case 5:
        if (p + 4 > end) return NaN;
        this.next = p + 4;
        return u32be(b, p);
      case 6:
        return this.varint(b, p, end);
      default:
        return this.other(b, p, end);
    }
  }

  private varint(b: Buffer, p: number, end: number): number {
    let v = 0;
    let mul = 1;
    for (let i = p; i < end && i < p + 8; i++) {
      const x = b[i];
      v += (x & 0x7f) * mul;
      if (x < 0x80) {
        this.next = i + 1;
        return v;
      }
      mul *= 0x80;
    }
    return NaN;
  }

  private other(b: Buffer, p: number, end: number): number {
    const r = readCounter(this.t, b, p, end);
    if (!r) return NaN;
    this.next = r.next;
    return r.value;
  }
}

/** The counter's bytes for `v`. */
export function writeCounter(t: Counter, v: number): Buffer {
  if (!Number.isSafeInteger(v)) throw new EncodeError(`a counter cannot hold ${v}`, '');
  if (t.k === 'varint') {
    let n = v;
    if (t.width === 32) {
      if (v < -(2 ** 31) || v > 2 ** 32 - 1) throw new EncodeError(`${v} does not fit a varint32`, '');
      n = v >>> 0;
    } else if (t.zigzag) n = v >= 0 ? v * 2 : -v * 2 - 1;
    else if (v < 0) throw new EncodeError(`a varint cannot hold the negative ${v}`, '');
    const out: number[] = [];
    while (n >= 0x80) {
      out.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    out.push(n);
    return Buffer.from(out);
  }
  if (t.size === 8) throw new EncodeError('a 64-bit counter is not supported', '');
  const bits = t.size * 8;
  const min = t.signed ? -(2 ** (bits - 1)) : 0;
  const max = t.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  if (v < min || v > max) throw new EncodeError(`${v} does not fit in ${t.signed ? 's' : 'u'}${bits}`, '');
  const b = Buffer.allocUnsafe(t.size);
  if (t.signed) t.le ? b.writeIntLE(v, 0, t.size) : b.writeIntBE(v, 0, t.size);
  else t.le ? b.writeUIntLE(v, 0, t.size) : b.writeUIntBE(v, 0, t.size);
  return b;
}
