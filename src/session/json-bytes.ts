/**
 * The pieces of a `decode --json` line written as bytes into the output block (core/line-block),
 * each byte for byte what its string counterpart in ./json-line.ts gives: hex, numbers, the
 * timestamp and plain strings without a string made per value; anything rare (a string that
 * needs escaping, a non-integer number, a value of no known type) through the string functions
 * themselves, so the rare case is exact by construction.
 */
import type { LineBlock } from '../core/line-block';
import type { OutputLimits } from './format';
import { jsonString, jsonValue } from './json-line';

/**
 * A string as a terminal-safe JSON string literal (jsonString). Printable ASCII without a quote
 * or backslash (names, directions, addresses) is copied as it is checked; anything else goes
 * through jsonString.
 */
export function putString(B: LineBlock, s: string): void {
  const n = s.length;
  B.room(n + 2);
  const b = B.buf;
  let p = B.pos;
  b[p++] = 0x22;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) {
      B.text(jsonString(s));
      return;
    }
    b[p++] = c;
  }
  b[p++] = 0x22;
  B.pos = p;
}

/** A decoded string within the limits (jsonText). */
export function putText(B: LineBlock, s: string, L: OutputLimits): true {
  putString(B, s.length > L.chars ? `${s.slice(0, L.chars)}…(+${s.length - L.chars} chars)` : s);
  return true;
}

/** Bytes as a hex JSON literal within the limits (jsonHex). */
export function putHex(B: LineBlock, b: Uint8Array, L: OutputLimits): true {
  const n = b.length > L.bytes ? L.bytes : b.length;
  B.room(1);
  B.buf[B.pos++] = 0x22;
  B.hex(b, n);
  if (n < b.length) B.text(`…(+${b.length - n} bytes)"`);
  else {
    B.room(1);
    B.buf[B.pos++] = 0x22;
  }
  return true;
}

/** A finite number as JSON.stringify writes it. */
export function putFinite(B: LineBlock, v: number): true {
  if ((v | 0) === v && v !== -2147483648) B.int32(v);
  else B.text(String(v));
  return true;
}

/** A number where JSON.stringify writes non-finite ones as null. */
export function putNumberOrNull(B: LineBlock, v: number): void {
  if (v - v === 0) putFinite(B, v);
  else B.text('null');
}

/** Below this (2^31 s) a whole number of µs is written by digits: see putMicros. */
const MICROS_BY_DIGITS = 2147483648e6;

/**
 * `t / 1e6` (µs as seconds) as JSON.stringify writes it. For whole µs below 2^31 s the shortest
 * decimal that reads back as the double t / 1e6 is the exact quotient itself (neighbours on the
 * 1e-6 grid are farther than the double's spacing, 2^-21 s at most, allows), trailing zeros
 * dropped; so it is written by digits. Anything else goes through String.
 */
export function putMicros(B: LineBlock, t: number): void {
  if (!(Number.isInteger(t) && t >= 0 && t < MICROS_BY_DIGITS)) {
    putNumberOrNull(B, t / 1e6);
    return;
  }
  const s = Math.floor(t / 1e6);
  B.int32(s);
  const us = t - s * 1e6;
  if (us === 0) return;
  B.room(1);
  B.buf[B.pos++] = 0x2e;
  B.micros(us);
}

/** Any value by the generic walk (jsonValue); false where JSON leaves it out. */
export function putValue(B: LineBlock, v: unknown, L: OutputLimits): boolean {
  const s = jsonValue(v, L);
  if (s === undefined) return false;
  B.text(s);
  return true;
}

/** An array within the limits (jsonArray), each element by `each` (null where it writes nothing). */
export function putArray(B: LineBlock, v: unknown[], L: OutputLimits, each: (x: unknown, L: OutputLimits, B: LineBlock) => boolean): true {
  const n = v.length <= L.elements ? v.length : L.elements;
  B.room(1);
  B.buf[B.pos++] = 0x5b;
  for (let i = 0; i < n; i++) {
    if (i > 0) {
      B.room(1);
      B.buf[B.pos++] = 0x2c;
    }
    if (!each(v[i], L, B)) B.text('null');
  }
  if (n < v.length) B.text(`${n > 0 ? ',' : ''}"…(+${v.length - n} more elements)"`);
  B.room(1);
  B.buf[B.pos++] = 0x5d;
  return true;
}
