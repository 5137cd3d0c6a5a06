/** Reading a length, count or id field outside compiled code (framing, id dispatch, compression headers). */
import type { Counter } from './ir';

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
  if (p + t.size > end) return null;
  const value = t.signed ? (t.le ? b.readIntLE(p, t.size) : b.readIntBE(p, t.size)) : t.le ? b.readUIntLE(p, t.size) : b.readUIntBE(p, t.size);
  return { value, next: p + t.size };
}
