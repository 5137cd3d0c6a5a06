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

export class LineBlock {
  buf: Buffer = EMPTY;
  /** The block as a DataView: hex goes in four digits a store. */
  private view: DataView<ArrayBufferLike> = new DataView(EMPTY.buffer, 0, 0);
  pos = 0;
  /** Where the line being written starts: everything before it is whole lines. */
  private start = 0;

  /** `flushAt` 0 hands every line on as it ends (live output should not wait). */
  /** `sink` returns true when it is done with the chunk (it may be written over), anything else when it may keep it. */
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
    if (this.start > 0 && this.sink(old.subarray(0, this.start)) === true && begun + n <= old.length) {
      // written and let go of: the line begun moves to the front of the same block
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
    if (this.sink(this.buf.subarray(0, this.start)) === true) {
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
    const v = this.view;
    let p = this.pos;
    let i = 0;
    for (; i + 1 < n; i += 2, p += 4) v.setUint32(p, HEX_PAIR[bytes[i]] | (HEX_PAIR[bytes[i + 1]] << 16), true);
    if (i < n) {
      v.setUint16(p, HEX_PAIR[bytes[i]], true);
      p += 2;
    }
    this.pos = p;
  }
}
