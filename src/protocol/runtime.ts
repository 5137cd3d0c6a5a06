/**
 * Helpers that compiled decoders and encoders call (as `rt`). Kept small: the generated code
 * inlines fixed-size reads and uses these for the rest.
 */
import type { Packr } from 'msgpackr';
import { EncodeError } from '../core/errors';
import { argsProblem, asBytes, transformKind, TransformError, type Transform, type TransformArgs } from '../transform/registry';
import { exprRuntime } from './expr';

export { EncodeError };

/** A byte region of a message that a field covers, for hex highlighting. */
export interface Span {
  path: string;
  start: number;
  end: number;
  depth: number;
}

/**
 * What decoding one message may cost: a hostile frame (a zlib bomb, a count of millions) must end
 * as a decode error with its field path, not as gigabytes of objects. Per connection, the bytes
 * inflated are capped too (a stream of bombs costs time, not only memory).
 */
export interface DecodeLimits {
  /** Array elements in one message. */
  elements: number;
  /** Bytes inflated (zlib/deflate) for one message. */
  inflate: number;
  /** Nesting of named types (recursive types on hostile data). */
  depth: number;
  /** Bytes inflated over a whole connection. */
  connectionInflate: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = { elements: 1_000_000, inflate: 16 << 20, depth: 512, connectionInflate: 1 << 30 };

/** What one connection has spent of its budget (kept by whoever holds the connection's state). */
export interface ConnectionBudget {
  inflated: number;
}

/** What compiled code keeps while it runs: position, end, session state, and the debug path. */
export interface Ctx {
  p: number;
  e: number;
  st: Record<string, unknown>;
  /** Field names and array indices from the message down to the field being decoded. */
  path: (string | number)[];
  starts: number[];
  spans: Span[] | null;
  /** >0 inside transformed (xor/zlib) regions, whose offsets are not the message's. */
  inner: number;
  noSet: boolean;
  /** Array elements decoded so far in this message, and the limit. */
  n: number;
  maxN: number;
  /** Bytes inflated so far in this message, and the limit. */
  inflated: number;
  maxInflate: number;
  /** Named types entered and not left, and the limit. */
  depth: number;
  maxDepth: number;
  /** The message's head and frame header values (what `head.x` and `frame.x` read). */
  hd: Record<string, unknown> | null;
  fr: Record<string, unknown> | null;
  /** Encoding again a decoded message: its values and the bytes of each field (by path). */
  orig: Original | null;
  /** The message a transport's dispatch picked (its index in the protocol's message list). */
  mi: number;
}

/** A decoded message being encoded again: fields equal to these are written as these bytes. */
export interface Original {
  /** The roots the encoder's paths start from: the message's name -> its fields, 'head' -> the head. */
  roots: Record<string, unknown>;
  body: Buffer;
  spans: Map<string, Span>;
}

export function newCtx(st: Record<string, unknown>, spans: boolean, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): Ctx {
  return {
    p: 0,
    e: 0,
    st,
    path: [],
    starts: [],
    spans: spans ? [] : null,
    inner: 0,
    noSet: false,
    n: 0,
    maxN: limits.elements,
    inflated: 0,
    maxInflate: limits.inflate,
    depth: 0,
    maxDepth: limits.depth,
    hd: null,
    fr: null,
    orig: null,
    mi: -1,
  };
}

/** Deep equality of decoded values (numbers, bigints, strings, bytes, lists, objects). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'bigint' || typeof b === 'bigint') return exprRuntime.eq(a, b);
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b) === 0;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(b) && !(a instanceof Uint8Array) && !(b instanceof Uint8Array)) {
    const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
    const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
}

export function pathString(path: readonly (string | number)[]): string {
  let s = '';
  for (const part of path) s += typeof part === 'number' ? `[${part}]` : s ? `.${part}` : part;
  return s;
}

export class DecodeError extends Error {
  constructor(
    message: string,
    /** Byte offset in the message body (or in a decompressed region, see `inner`). */
    readonly offset: number,
    readonly path: string,
    readonly inner = false,
    /** The bytes ran out (more may come: a framer reading a header waits). */
    readonly short = false,
  ) {
    super(message);
  }
}


// Plain msgpack (no records extension), so other tools read what we write.
/** msgpackr, loaded when a msgpack field is first read or written (most protocols have none: 120 KB of modules and a native part a start-up). */
let packrMade: Packr | null = null;
const packr = (): Packr => (packrMade ??= new (require('msgpackr') as typeof import('msgpackr')).Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, variableMapSize: true }));

function fail(c: Ctx, msg: string, p: number): never {
  throw new DecodeError(msg, p, pathString(c.path), c.inner > 0);
}

function efail(c: Ctx, msg: string): never {
  throw new EncodeError(msg, pathString(c.path));
}

/** Growable output buffer for encoders. */
export class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  zeros(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }
  int(v: unknown, size: number, signed: boolean, le: boolean, c: Ctx): void {
    this.ensure(size);
    if (size === 8) {
      let big: bigint;
      try {
        big = BigInt(v as never);
      } catch {
        efail(c, `expected a 64-bit integer, found ${show(v)}`);
      }
      const min = signed ? -(1n << 63n) : 0n;
      const max = signed ? (1n << 63n) - 1n : (1n << 64n) - 1n;
      if (big < min || big > max) efail(c, `${show(v)} does not fit in ${signed ? 's' : 'u'}64`);
      if (signed) le ? this.buf.writeBigInt64LE(big, this.pos) : this.buf.writeBigInt64BE(big, this.pos);
      else le ? this.buf.writeBigUInt64LE(big, this.pos) : this.buf.writeBigUInt64BE(big, this.pos);
      this.pos += 8;
      return;
    }
    if (typeof v !== 'number' || !Number.isInteger(v)) efail(c, `expected an integer, found ${show(v)}`);
    const bits = size * 8;
    const min = signed ? -(2 ** (bits - 1)) : 0;
    const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
    if (v < min || v > max) efail(c, `${v} does not fit in ${signed ? 's' : 'u'}${bits}`);
    if (signed) le ? this.buf.writeIntLE(v, this.pos, size) : this.buf.writeIntBE(v, this.pos, size);
    else le ? this.buf.writeUIntLE(v, this.pos, size) : this.buf.writeUIntBE(v, this.pos, size);
    this.pos += size;
  }
  float(v: unknown, size: number, le: boolean, c: Ctx): void {
    if (typeof v !== 'number') efail(c, `expected a number, found ${show(v)}`);
    this.ensure(size);
    if (size === 4) le ? this.buf.writeFloatLE(v, this.pos) : this.buf.writeFloatBE(v, this.pos);
    else le ? this.buf.writeDoubleLE(v, this.pos) : this.buf.writeDoubleBE(v, this.pos);
    this.pos += size;
  }
  /** Two's-complement signed LEB128, 32 bits: -1 is ff ff ff ff 0f (at most 5 bytes). */
  varint32(v: unknown, c: Ctx): void {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < -(2 ** 31) || v > 2 ** 32 - 1) efail(c, `expected a 32-bit integer, found ${show(v)}`);
    let n = v >>> 0;
    this.ensure(5);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.pos++] = n;
  }
  /** Two's-complement signed LEB128, 64 bits (at most 10 bytes). */
  varint64(v: unknown, c: Ctx): void {
    let n: bigint;
    try {
      n = BigInt(v as never);
    } catch {
      efail(c, `expected a 64-bit integer, found ${show(v)}`);
    }
    if (n < -(1n << 63n) || n > (1n << 64n) - 1n) efail(c, `${show(v)} does not fit in 64 bits`);
    n = BigInt.asUintN(64, n);
    this.ensure(10);
    while (n >= 0x80n) {
      this.buf[this.pos++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    this.buf[this.pos++] = Number(n);
  }
  varint(v: unknown, zigzag: boolean, c: Ctx): void {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) efail(c, `expected an integer, found ${show(v)}`);
    let n = v;
    if (zigzag) n = n >= 0 ? n * 2 : -n * 2 - 1;
    else if (n < 0) efail(c, `varint cannot hold the negative ${v} (use zigzag)`);
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }
}

/** A registry transform for one field, its arguments checked (a key of the wrong size is the message's error). */
function fieldTransform(name: string, raw: Record<string, unknown>, room: number, problem: (why: string) => never): Transform {
  const kind = transformKind(name)!;
  const args: TransformArgs = {};
  for (const p of kind.params) {
    const v = raw[p.name];
    args[p.name] = p.kind === 'bytes' ? (asBytes(v) ?? (v as never)) : typeof v === 'bigint' ? Number(v) : (v as never);
  }
  const why = argsProblem(kind, args);
  if (why) problem(why);
  return kind.create(args, 'field', { output: Math.max(1, room) });
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing (missing field)';
  if (typeof v === 'bigint') return `${v}n`;
  if (Buffer.isBuffer(v)) return `${v.length} bytes`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

// Float reads through a shared scratch: faster than Buffer#readFloatLE, which checks its arguments.
const f32 = new Float32Array(1);
const f64 = new Float64Array(1);
const f32b = new Uint8Array(f32.buffer);
const f64b = new Uint8Array(f64.buffer);
const hostLe = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function f32at(b: Buffer, p: number, le: boolean): number {
  if (le === hostLe) {
    f32b[0] = b[p];
    f32b[1] = b[p + 1];
    f32b[2] = b[p + 2];
    f32b[3] = b[p + 3];
  } else {
    f32b[0] = b[p + 3];
    f32b[1] = b[p + 2];
    f32b[2] = b[p + 1];
    f32b[3] = b[p];
  }
  return f32[0];
}

function f64at(b: Buffer, p: number, le: boolean): number {
  for (let i = 0; i < 8; i++) f64b[i] = b[le === hostLe ? p + i : p + 7 - i];
  return f64[0];
}

export const runtime = {
  ...exprRuntime,
  f32le: (b: Buffer, p: number): number => f32at(b, p, true),
  f32be: (b: Buffer, p: number): number => f32at(b, p, false),
  f64le: (b: Buffer, p: number): number => f64at(b, p, true),
  f64be: (b: Buffer, p: number): number => f64at(b, p, false),
  fail,
  efail,
  short(c: Ctx, need: number, p: number, e: number): never {
    throw new DecodeError(`needs ${need} byte${need === 1 ? '' : 's'}, ${Math.max(0, e - p)} left`, p, pathString(c.path), c.inner > 0, true);
  },
  /** Unsigned LEB128 up to 2^53; sets c.p past it. */
  varint(b: Buffer, p: number, e: number, c: Ctx): number {
    let v = 0;
    let mul = 1;
    const start = p;
    for (;;) {
      if (p >= e) runtime.short(c, p - start + 1, start, e);
      const byte = b[p++];
      v += (byte & 0x7f) * mul;
      if (byte < 0x80) break;
      mul *= 0x80;
      if (mul > 2 ** 49) fail(c, 'varint longer than 8 bytes', start);
    }
    c.p = p;
    return v;
  },
  /** Two's-complement signed LEB128, 32 bits (at most 5 bytes): ff ff ff ff 0f is -1. */
  varint32(b: Buffer, p: number, e: number, c: Ctx): number {
    let v = 0;
    const start = p;
    for (let shift = 0; ; shift += 7) {
      if (p >= e) runtime.short(c, p - start + 1, start, e);
      if (shift > 28) fail(c, 'varint32 longer than 5 bytes', start);
      const byte = b[p++];
      v |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    c.p = p;
    return v | 0;
  },
  /** Two's-complement signed LEB128, 64 bits (at most 10 bytes), as a bigint. */
  varint64(b: Buffer, p: number, e: number, c: Ctx): bigint {
    let v = 0n;
    const start = p;
    for (let shift = 0n; ; shift += 7n) {
      if (p >= e) runtime.short(c, p - start + 1, start, e);
      if (shift > 63n) fail(c, 'varint64 longer than 10 bytes', start);
      const byte = b[p++];
      v |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    c.p = p;
    return BigInt.asIntN(64, v);
  },
  zigzag(b: Buffer, p: number, e: number, c: Ctx): number {
    const u = runtime.varint(b, p, e, c);
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  },
  /** Index of the terminator at or after p, before e. */
  term(b: Buffer, p: number, e: number, t: Buffer, c: Ctx): number {
    const i = t.length === 1 ? b.indexOf(t[0], p) : b.indexOf(t, p);
    if (i < 0 || i + t.length > e) fail(c, `no terminator ${JSON.stringify(t.toString('latin1'))} before the end`, p);
    return i;
  },
  stripNul(s: string): string {
    const i = s.indexOf('\0');
    return i < 0 ? s : s.slice(0, i);
  },
  matches(b: Buffer, p: number, k: Buffer): boolean {
    return b.compare(k, 0, k.length, p, p + k.length) === 0;
  },
  unpack(b: Buffer, p: number, end: number, c: Ctx): unknown {
    try {
      return packr().unpack(b.subarray(p, end));
    } catch (e) {
      return fail(c, `msgpack: ${(e as Error).message}`, p);
    }
  },
  pack(v: unknown): Buffer {
    return packr().pack(v);
  },
  /** Undo a field's transforms, in order (`process:`, `xor:`, `compress:`), within what is left of the inflate budget. */
  unprocess(b: Buffer, p: number, end: number, steps: [string, Record<string, unknown>][], c: Ctx): Buffer {
    let out = b.subarray(p, end);
    for (const [name, raw] of steps) {
      const t = fieldTransform(name, raw, c.maxInflate - c.inflated, (why) => fail(c, why, p));
      try {
        out = t.decode(out);
      } catch (e) {
        fail(c, e instanceof TransformError ? e.message : `${name}: ${(e as Error).message}`, p);
      }
      if (t.inflated) c.inflated += out.length;
    }
    return out;
  },
  /** A field's transforms applied for encoding, last first. */
  process(buf: Buffer, steps: [string, Record<string, unknown>][], c: Ctx): Buffer {
    let out = buf;
    for (let i = steps.length - 1; i >= 0; i--) {
      const [name, raw] = steps[i]!;
      const t = fieldTransform(name, raw, Number.MAX_SAFE_INTEGER, (why) => efail(c, why));
      try {
        out = t.encode(out);
      } catch (e) {
        efail(c, e instanceof TransformError ? e.message : `${name}: ${(e as Error).message}`);
      }
    }
    return out;
  },
  enter(c: Ctx, part: string | number, p: number): void {
    c.path.push(part);
    c.starts.push(p);
  },
  leave(c: Ctx, p: number): void {
    const start = c.starts.pop()!;
    if (c.spans && c.inner === 0) c.spans.push({ path: pathString(c.path), start, end: p, depth: c.path.length });
    c.path.pop();
  },
  epush(c: Ctx, part: string | number): void {
    c.path.push(part);
  },
  epop(c: Ctx): void {
    c.path.pop();
  },
  obj(v: unknown, c: Ctx): Record<string, unknown> {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || Buffer.isBuffer(v)) efail(c, `expected an object of fields, found ${show(v)}`);
    return v as Record<string, unknown>;
  },
  arr(v: unknown, c: Ctx): unknown[] {
    if (!Array.isArray(v)) efail(c, `expected a list, found ${show(v)}`);
    return v;
  },
  /** Bytes from a Buffer, a byte array or a hex string (as written in vectors and JSON). */
  toBytes(v: unknown, c: Ctx): Buffer {
    if (Buffer.isBuffer(v)) return v;
    if (v instanceof Uint8Array) return Buffer.from(v);
    if (Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0 && x < 256)) return Buffer.from(v as number[]);
    if (typeof v === 'string') {
      const hex = v.replace(/\s+/g, '');
      if (/^([0-9a-fA-F]{2})*$/.test(hex)) return Buffer.from(hex, 'hex');
    }
    return efail(c, `expected bytes (a Buffer or hex string), found ${show(v)}`);
  },
  strBytes(v: unknown, enc: BufferEncoding, c: Ctx): Buffer {
    if (typeof v !== 'string') efail(c, `expected a string, found ${show(v)}`);
    return Buffer.from(v, enc);
  },
  /** The bytes of a sized thing, checked against or padded to its declared size. */
  sized(w: Writer, data: Buffer, n: unknown, padded: boolean, c: Ctx): void {
    if (typeof n === 'bigint' && n >= 0n && n <= BigInt(Number.MAX_SAFE_INTEGER)) n = Number(n);
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) efail(c, `the size expression gives ${show(n)}`);
    if (data.length === n || (padded && data.length < n)) {
      w.bytes(data);
      if (data.length < n) w.zeros(n - data.length);
      return;
    }
    efail(c, `${data.length} bytes where the description says ${n}`);
  },
  count(v: unknown[], n: unknown, c: Ctx): void {
    if (v.length !== (typeof n === 'bigint' ? Number(n) : n)) efail(c, `${v.length} elements where the description says ${show(n)}`);
  },
  noTerm(data: Buffer, t: Buffer, c: Ctx): void {
    if (data.indexOf(t) >= 0) efail(c, `the value contains its terminator ${JSON.stringify(t.toString('latin1'))}`);
  },
  enumNum(byName: Map<string, number>, v: unknown, c: Ctx): number {
    if (typeof v === 'number') return v;
    const n = typeof v === 'string' ? byName.get(v) : undefined;
    if (n === undefined) efail(c, `expected one of ${[...byName.keys()].join(', ')} or a number, found ${show(v)}`);
    return n;
  },
  flagsNum(names: [string, number][], v: unknown, c: Ctx): number {
    if (typeof v === 'number') return v;
    const o = runtime.obj(v, c);
    let n = typeof o._other === 'number' ? o._other : 0;
    for (const [name, mask] of names) if (o[name]) n |= mask;
    return n >>> 0;
  },
  /** Bit fields out of a raw integer (a bigint for 64-bit bases): numbers, or bigints past 53 bits. */
  bitsOf(raw: number | bigint, parts: [string, number, boolean][], bits: number, lsbFirst: boolean): Record<string, number | bigint> {
    const r = BigInt.asUintN(bits, BigInt(raw));
    const out: Record<string, number | bigint> = {};
    let shift = lsbFirst ? 0 : bits;
    for (const [name, width, signed] of parts) {
      if (!lsbFirst) shift -= width;
      const field = (r >> BigInt(shift)) & ((1n << BigInt(width)) - 1n);
      const v = signed ? BigInt.asIntN(width, field) : field;
      out[name] = width > 53 ? v : Number(v);
      if (lsbFirst) shift += width;
    }
    return out;
  },
  /** The raw integer for bit fields (a bigint for 64-bit bases, signed as the base is). */
  bitsNum(parts: [string, number, boolean][], bits: number, lsbFirst: boolean, v: unknown, c: Ctx): number | bigint {
    const o = runtime.obj(v, c);
    let n = 0n;
    let shift = lsbFirst ? 0 : bits;
    for (const [name, width, signed] of parts) {
      if (!lsbFirst) shift -= width;
      const x = o[name];
      let b: bigint;
      try {
        b = BigInt(x as never);
      } catch {
        efail(c, `bit field ${name} needs an integer, found ${show(x)}`);
      }
      const min = signed ? -(1n << BigInt(width - 1)) : 0n;
      const max = signed ? (1n << BigInt(width - 1)) - 1n : (1n << BigInt(width)) - 1n;
      if (b < min || b > max) efail(c, `bit field ${name} needs an integer from ${min} to ${max}, found ${show(x)}`);
      n |= BigInt.asUintN(width, b) << BigInt(shift);
      if (lsbFirst) shift += width;
    }
    return bits === 64 ? n : Number(n);
  },
  /** A size or count from an expression: a whole number, a 64-bit one included while it fits in 2^53. */
  size(n: unknown, c: Ctx, p: number): number {
    if (typeof n === 'number' && Number.isInteger(n) && n >= 0) return n;
    if (typeof n === 'bigint' && n >= 0n && n <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(n);
    return fail(c, `size expression gives ${show(n)}${typeof n === 'bigint' && n > 0n ? ' (more than 2^53)' : ''}`, p);
  },
  /** Encoding again: when the value at the current path is the original's, write the original's bytes for it. */
  copyOrig(w: Writer, c: Ctx, v: unknown): boolean {
    const o = c.orig!;
    if (c.inner > 0) return false;
    const span = o.spans.get(pathString(c.path));
    if (!span) return false;
    let ov: unknown = o.roots;
    for (const part of c.path) {
      if (ov === null || typeof ov !== 'object') return false;
      ov = (ov as Record<string | number, unknown>)[part];
    }
    if (!sameValue(ov, v)) return false;
    w.bytes(o.body.subarray(span.start, span.end));
    return true;
  },
  /** A size field from its sibling's data: the count of a list, the bytes of a string, bytes or msgpack value. */
  sizeOfData(target: unknown, kind: string, k: number, given: unknown): unknown {
    if (target === undefined) return given;
    let n: number;
    if (kind === 'count') n = Array.isArray(target) ? target.length : NaN;
    else if (kind.startsWith('str:')) n = typeof target === 'string' ? Buffer.byteLength(target, kind.slice(4) as BufferEncoding) : NaN;
    else if (kind === 'bytes') n = target instanceof Uint8Array ? target.length : typeof target === 'string' && /^([0-9a-fA-F]{2})*$/.test(target) ? target.length / 2 : NaN;
    else n = packr().pack(target).length;
    if (Number.isNaN(n)) return given;
    return typeof given === 'bigint' ? BigInt(n + k) : n + k;
  },
  untilBroken(c: Ctx, atEnd: boolean): never {
    return efail(c, atEnd ? 'the last element must meet the array\'s until condition (keep: true)' : "an element meets the array's until condition before the end: decoding would stop there");
  },
  caseError(c: Ctx, k: unknown, p: number): never {
    return fail(c, `no case for ${show(k)}`, p);
  },
  ecaseError(c: Ctx, k: unknown): never {
    return efail(c, `no case for ${show(k)}`);
  },
  tooMany(c: Ctx, p: number): never {
    return fail(c, `more than ${c.maxN} array elements in one message (the decode budget)`, p);
  },
  noProgress(c: Ctx, p: number): never {
    return fail(c, 'an element took no bytes: an array ended by the data would never end here', p);
  },
  etooDeep(c: Ctx): never {
    return efail(c, `types nested more than ${c.maxDepth} deep (a type that contains itself with nothing to stop it?)`);
  },
  tooDeep(c: Ctx, p: number): never {
    return fail(c, `types nested more than ${c.maxDepth} deep (the decode budget)`, p);
  },
};

export type Runtime = typeof runtime;
