/**
 * Lines written as bytes straight into a block, which goes to `sink` in one piece when the next
 * line does not fit (or after every line past `flushAt`). Writers put hex, digits and text where
 * they belong instead of making a string per value that is then copied in (issue 18: `decode
 * --json` spent more on those strings and their collection than on decoding).
 *
 * A block handed to the sink is never written again while the sink may hold it (a stream may keep
 * it until it is written): only a sink that says it is done with it (returns true: it was written
 * there and then) gets the same memory back for the next lines. Fresh memory for every 64 KiB of
 * output cost a page fault a page and, counted as external memory, made V8 collect more often.
 * The line being written when a block fills moves to the next one. Positions inside a line are
 * therefore taken with `mark()` (relative to the line's start), not from `pos`.
 */

const EMPTY = Buffer.alloc(0);
/** Two hex digits of each byte value, as one little-endian 16-bit unit ('a','b' for 0xab). */
const HEX_PAIR = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  const s = i.toString(16).padStart(2, '0');
  HEX_PAIR[i] = s.charCodeAt(0) | (s.charCodeAt(1) << 8);
}
/** Longer text goes through Buffer#write (native UTF-8) rather than the loop. */
const LOOP_CHARS = 64;

/*
 * Hex of longer byte strings by WebAssembly SIMD, 16 bytes a step (hex is most of a `decode
 * --json` line: payloads, unknown frames). The module, from this text (wabt's wat2wasm, --enable-simd;
 * test/core/line-block.test.ts assembles it again and compares):
 *
 * (module
 *   (memory (export "m") 2)
 *   ;; hex digits of mem[0, n) at mem[32768, 32768 + 2n), 16 bytes a step (reads up to 15 bytes past n, writes up to 30 past 2n)
 *   (func (export "hex") (param $n i32)
 *     (local $i i32) (local $o i32) (local $v v128) (local $hi v128) (local $lo v128)
 *     (local.set $o (i32.const 32768))
 *     (block $done
 *       (loop $l
 *         (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
 *         (local.set $v (v128.load (local.get $i)))
 *         (local.set $hi (i8x16.swizzle (v128.const i8x16 48 49 50 51 52 53 54 55 56 57 97 98 99 100 101 102) (i8x16.shr_u (local.get $v) (i32.const 4))))
 *         (local.set $lo (i8x16.swizzle (v128.const i8x16 48 49 50 51 52 53 54 55 56 57 97 98 99 100 101 102) (v128.and (local.get $v) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))))
 *         (v128.store (local.get $o) (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $hi) (local.get $lo)))
 *         (v128.store offset=16 (local.get $o) (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $hi) (local.get $lo)))
 *         (local.set $i (i32.add (local.get $i) (i32.const 16)))
 *         (local.set $o (i32.add (local.get $o) (i32.const 32)))
 *         (br $l))))
 * )
 */
export const HEX_WASM =
  'AGFzbQEAAAABBQFgAX8AAwIBAAUDAQACBwsCAW0CAANoZXgAAAq0AQGxAQICfwN7QYCAAiECAkADQCABIABPDQEgAf0ABAAhA/0MMDEyMzQ1Njc4OWFiY2RlZiADQQT9bf0OIQT9DDAxMjM0NTY3ODlhYmNkZWYgA/0MDw8PDw8PDw8PDw8PDw8PD/1O/Q4hBSACIAQgBf0NABABEQISAxMEFAUVBhYHF/0LBAAgAiAEIAX9DQgYCRkKGgsbDBwNHQ4eDx/9CwQQIAFBEGohASACQSBqIQIMAAsLCw==';
/** Bytes the module takes a call (its input, at 0; its output at 32768). */
const WASM_CHUNK = 16384;
/**
 * Below this many bytes the JavaScript loop is faster: a call costs two copies and the crossing
 * (~180 ns), the loop ~1.2-2.2 ns a byte; at 300 bytes the module took 0.4x the loop's time.
 */
export const WASM_HEX_FROM = 96;

/** What this file uses of the WebAssembly global (the compiler's lib, ES2022 without DOM, has no types for it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { m: { buffer: ArrayBuffer }; hex: (n: number) => void } };
}

/** The module's memory and function; null where WebAssembly SIMD is missing (the loop does it all). */
const wasmHex = ((): { mem: Buffer; hex: (n: number) => void } | null => {
  const W = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!W) return null;
  try {
    const made = new W.Instance(new W.Module(Buffer.from(HEX_WASM, 'base64'))).exports;
    return { mem: Buffer.from(made.m.buffer), hex: made.hex };
  } catch {
    return null;
  }
})();

/** `bytes[0, n)` as hex at `view[p]` by the loop: two bytes (four digits) a store. Returns where it ended. */
export function hexByLoop(view: DataView, p: number, bytes: Uint8Array, n: number): number {
  let i = 0;
  for (; i + 1 < n; i += 2, p += 4) view.setUint32(p, HEX_PAIR[bytes[i]] | (HEX_PAIR[bytes[i + 1]] << 16), true);
  if (i < n) {
    view.setUint16(p, HEX_PAIR[bytes[i]], true);
    p += 2;
  }
  return p;
}

/** The same by the WebAssembly module (null when it is missing), a chunk at a time. */
export const hexByWasm = wasmHex
  ? (out: Buffer, p: number, bytes: Uint8Array, n: number): number => {
      const { mem, hex } = wasmHex;
      for (let i = 0; i < n; i += WASM_CHUNK) {
        const k = n - i < WASM_CHUNK ? n - i : WASM_CHUNK;
        mem.set(i === 0 && k === bytes.length ? bytes : bytes.subarray(i, i + k), 0);
        hex(k);
        // TypedArray#set of a view: Buffer#copy's argument checks cost more than the copy
        out.set(new Uint8Array(mem.buffer, 32768, 2 * k), p);
        p += 2 * k;
      }
      return p;
    }
  : null;

export class LineBlock {
  buf: Buffer = EMPTY;
  /** The block as a DataView: hex goes in four digits a store. */
  private view: DataView<ArrayBufferLike> = new DataView(EMPTY.buffer, 0, 0);
  pos = 0;
  /** Where the line being written starts: everything before it is whole lines. */
  private start = 0;

  /**
   * `sink` returns true when it is done with the chunk (it may be written over), anything else
   * when it may keep it. `flushAt` 0 hands every line on as it ends (live output should not wait).
   */
  constructor(
    private readonly sink: (chunk: Buffer) => boolean | void,
    private readonly flushAt = 65536,
    private readonly size = 65536,
  ) {}

  /** Makes room for `n` more bytes. */
  room(n: number): void {
    if (this.pos + n > this.buf.length) this.next(n);
  }

  /** The whole lines go out; the line begun moves to a new block with room for `n` more bytes. */
  private next(n: number): void {
    const old = this.buf;
    const begun = this.pos - this.start;
    if (this.start > 0 && this.sink(old.subarray(0, this.start)) === true && old.length === this.size && begun + n <= old.length) {
      // written and let go of: the line begun moves to the front of the same block (a block grown
      // for one huge line is not kept)
      old.copyWithin(0, this.start, this.pos);
      this.start = 0;
      this.pos = begun;
      return;
    }
    this.buf = Buffer.allocUnsafe(Math.max(this.size, begun + n));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    old.copy(this.buf, 0, this.start, this.pos);
    this.start = 0;
    this.pos = begun;
  }

  /** Where the line has got to, for `cut`. */
  mark(): number {
    return this.pos - this.start;
  }

  /** Takes back what was written since `mark`. */
  cut(mark: number): void {
    this.pos = this.start + mark;
  }

  /** Ends the line (with its newline). */
  endLine(): void {
    if (this.pos >= this.buf.length) this.next(1);
    this.buf[this.pos++] = 10;
    this.start = this.pos;
    if (this.pos >= this.flushAt) this.flush();
  }

  /** Hands on the whole lines written so far. */
  flush(): void {
    if (this.start === 0) return;
    if (this.pos > this.start) {
      this.next(0);
      return;
    }
    if (this.sink(this.buf.subarray(0, this.start)) === true && this.buf.length === this.size) {
      this.pos = 0;
      this.start = 0;
      return;
    }
    // the next block is made when something is written (none for a writer that stops here)
    this.buf = EMPTY;
    this.view = new DataView(EMPTY.buffer, 0, 0);
    this.pos = 0;
    this.start = 0;
  }

  /** Bytes as they are (text made safe and encoded once, kept for many lines). */
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Text as UTF-8, as it is (the caller has made it safe). */
  text(s: string): void {
    const n = s.length;
    this.room(n * 3);
    const b = this.buf;
    let p = this.pos;
    if (n > LOOP_CHARS) {
      this.pos = p + b.write(s, p);
      return;
    }
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        // not ASCII: the rest through the encoder
        this.pos = p + b.write(i === 0 ? s : s.slice(i), p);
        return;
      }
      b[p++] = c;
    }
    this.pos = p;
  }

  /**
   * An integer above -2^31 and below 2^31 in decimal. The arithmetic stays in int32 (`| 0`): a
   * double's `%` and Math.floor cost a call each, and numbers above 2^30 are doubles.
   */
  int32(v: number): void {
    this.room(11);
    const b = this.buf;
    let p = this.pos;
    let n = v | 0;
    if (n < 0) {
      b[p++] = 45;
      n = -n | 0;
    }
    let digits = 1;
    for (let t = n; t >= 10; t = (t / 10) | 0) digits++;
    p += digits;
    this.pos = p;
    do {
      const q = (n / 10) | 0;
      b[--p] = 48 + n - q * 10;
      n = q;
    } while (n > 0);
  }

  /** `v` (1 to 999,999) as six digits, trailing zeros left out (the fraction of a number of seconds). */
  micros(v: number): void {
    this.room(6);
    const b = this.buf;
    let n = v | 0;
    let digits = 6;
    for (let q = (n / 10) | 0; n !== 0 && n === q * 10; q = (n / 10) | 0) {
      n = q;
      digits--;
    }
    let p = this.pos + digits;
    this.pos = p;
    for (let i = 0; i < digits; i++) {
      const q = (n / 10) | 0;
      b[--p] = 48 + n - q * 10;
      n = q;
    }
  }

  /** `bytes[0, n)` as lowercase hex digits. */
  hex(bytes: Uint8Array, n: number): void {
    this.room(n * 2);
    this.pos = n >= WASM_HEX_FROM && hexByWasm ? hexByWasm(this.buf, this.pos, bytes, n) : hexByLoop(this.view, this.pos, bytes, n);
  }
}
