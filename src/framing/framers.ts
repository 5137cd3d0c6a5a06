/**
 * Framers split one reassembled byte stream into frames, as a protocol's framing says.
 *
 * Call order: any number of push() and gap() in stream order, then end() once.
 * A framer keeps the unfinished frame's chunks (not a growing concatenation) and copies a frame
 * only when it straddles chunks, so every byte is copied at most once. After a gap it
 * resynchronises when the framing allows it (the gap fell inside a frame of known length, fixed
 * sizes, a delimiter further on) and otherwise passes the rest of the stream on as raw bytes.
 *
 * A sink that returns true from frame() stops the framer at that frame boundary (the layers after
 * it changed: a cipher switched on, framing changed); the bytes after it stay unframed until the
 * caller takes them with takeRest() and sends them on through the new layers.
 */
import type { Counter } from './counter';
import { CounterReader } from './counter';
import type { FrameHeaderCodec, FramingSpec } from './spec';

export interface FrameSink {
  /**
   * A whole frame: its bytes (header and delimiter included) are buf[start, end), its body
   * buf[bodyStart, bodyEnd) (positions, not slices: a sink makes only the views it needs, and
   * most need one); `offset` the stream offset of its first byte; `header` the header's fields.
   * `buf` may be a delivered chunk: a sink that keeps bytes keeps a view or a copy. Return true
   * (exactly) to stop the framer here (see takeRest).
   */
  frame(buf: Buffer, start: number, bodyStart: number, bodyEnd: number, end: number, offset: number, ts: number, header?: Record<string, unknown>): boolean | void;
  /** Bytes that are not a whole frame, with why. */
  raw(bytes: Buffer, offset: number, ts: number, reason: string): void;
}

export interface Framer {
  push(chunk: Buffer, offset: number, ts: number): void;
  /** `length` bytes of the stream were lost at `offset`. */
  gap(length: number, offset: number, ts: number): void;
  end(ts: number): void;
  /** The bytes held after a stop (or an unfinished frame), with their stream offset; the framer starts afresh. */
  takeRest(): { bytes: Buffer; offset: number } | null;
}

/** The framer for a framing spec. */
export function createFramer(f: FramingSpec, sink: FrameSink): Framer {
  switch (f.k) {
    case 'length':
      return new LengthFramer(f.t, f.includesLength, f.adjust, f.max, sink, f.offset);
    case 'header':
      return new HeaderFramer(f.codec, sink);
    case 'delimiter':
      return new DelimiterFramer(f.bytes, f.max, sink);
    case 'fixed':
      return new FixedFramer(f.size, sink);
    case 'chunk':
    case 'datagram':
      return new ChunkFramer(sink);
  }
}

/** The bytes of an unfinished frame, kept as the chunks they came in. */
class Carry {
  parts: Buffer[] = [];
  length = 0;
  offset = 0;
  add(b: Buffer, offset: number): void {
    if (b.length === 0) return;
    if (this.length === 0) this.offset = offset;
    this.parts.push(b);
    this.length += b.length;
  }
  take(): Buffer {
    const out = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.length);
    this.parts = [];
    this.length = 0;
    return out;
  }
  /** The last n bytes (small: for a delimiter that straddles chunks), copied, without joining the parts. */
  tail(n: number): Buffer {
    const out = Buffer.allocUnsafe(Math.min(n, this.length));
    let need = out.length;
    for (let i = this.parts.length - 1; i >= 0 && need > 0; i--) {
      const b = this.parts[i]!;
      const k = Math.min(need, b.length);
      b.copy(out, need - k, b.length - k);
      need -= k;
    }
    return out;
  }
  /** Up to n first bytes (small: for parsing a header that straddles chunks). */
  head(n: number, next?: Buffer): Buffer {
    const bufs = next ? [...this.parts, next] : this.parts;
    const out = Buffer.allocUnsafe(Math.min(n, this.length + (next?.length ?? 0)));
    let o = 0;
    for (const b of bufs) {
      if (o >= out.length) break;
      o += b.copy(out, o, 0, Math.min(b.length, out.length - o));
    }
    return out;
  }
}

function takeCarry(c: Carry): { bytes: Buffer; offset: number } | null {
  if (c.length === 0) return null;
  const offset = c.offset;
  return { bytes: c.take(), offset };
}

/**
 * Length-prefixed frames: [length][body], optionally counting the prefix, with an adjustment. With
 * an offset (Netty's lengthFieldOffset), the length field comes after that many bytes of the frame,
 * the frame is offset + field + value + adjust bytes (or value + adjust when it counts itself), and
 * it is passed on whole (its fields are the message's).
 */
export class LengthFramer implements Framer {
  private readonly carry = new Carry();
  /** Total size (header included) of the carried frame, or -1 while its header is incomplete. */
  private frameLen = -1;
  private hdrLen = 0;
  /** Bytes still to pass as raw: the rest of a frame a gap cut. */
  private skip = 0;
  /** Why the stream is unframed from here on ('' while in sync). */
  private lost = '';
  /** Lost to a gap: a later chunk whose lengths chain exactly to its end is taken as frames again. */
  private resync = false;
  private readonly maxHdr: number;
  private readonly length: CounterReader;

  constructor(
    t: Counter,
    private readonly includesLength: boolean,
    private readonly adjust: number,
    private readonly max: number,
    private readonly sink: FrameSink,
    private readonly offset = 0,
  ) {
    this.maxHdr = offset + (t.k === 'varint' ? 8 : t.size);
    this.length = new CounterReader(t);
  }

  /** Frame size from a header at b[p..end): >0 size, 0 header incomplete, -1 implausible. */
  private header(b: Buffer, p: number, end: number): number {
    const v = this.length.read(b, p + this.offset, end);
    // Incomplete, unless 8 bytes are there and still no varint end: that is garbage.
    if (Number.isNaN(v)) return end - p - this.offset >= 8 ? -1 : 0;
    const field = this.length.next - p;
    // the bytes passed on start after the length field, or at the frame's start with an offset
    this.hdrLen = this.offset > 0 ? 0 : field;
    const total = (this.includesLength ? v : field + v) + this.adjust;
    return total < field || total - field > this.max ? -1 : total;
  }

  push(chunk: Buffer, offset: number, ts: number): void {
    const len = chunk.length;
    let i = 0;
    if (this.lost) {
      // A capture that lost packets (a gap) costs the frames it held, not the rest of the
      // connection: segments start where the sender's writes start, so a chunk whose lengths
      // chain exactly to its end starts with a frame.
      if (!this.resync || !this.chains(chunk)) {
        this.sink.raw(chunk, offset, ts, this.lost);
        return;
      }
      this.lost = '';
      this.resync = false;
    }
    if (this.skip > 0) {
      const n = Math.min(this.skip, len);
      this.sink.raw(chunk.subarray(0, n), offset, ts, 'rest of a frame cut by a gap');
      this.skip -= n;
      i = n;
      if (i === len) return;
    }
    const c = this.carry;
    if (c.length > 0) {
      if (this.frameLen < 0) {
        const head = c.head(this.maxHdr, chunk.subarray(i, i + this.maxHdr));
        const total = this.header(head, 0, head.length);
        if (total === 0) {
          c.add(chunk.subarray(i), offset + i);
          return;
        }
        if (total < 0) return this.loseSync(chunk, i, offset, ts, 'implausible frame length');
        this.frameLen = total;
      }
      const need = this.frameLen - c.length;
      if (len - i < need) {
        c.add(chunk.subarray(i), offset + i);
        return;
      }
      const start = c.offset;
      c.add(chunk.subarray(i, i + need), offset + i);
      const frame = c.take();
      i += need;
      this.frameLen = -1;
      if (this.sink.frame(frame, 0, this.hdrLen, frame.length, frame.length, start, ts) === true) return this.hold(chunk, i, offset);
    }
    while (i < len) {
      const total = this.header(chunk, i, len);
      if (total === 0) {
        c.add(chunk.subarray(i), offset + i);
        return;
      }
      if (total < 0) return this.loseSync(chunk, i, offset, ts, 'implausible frame length');
      if (len - i >= total) {
        const at = i;
        i += total;
        if (this.sink.frame(chunk, at, at + this.hdrLen, i, i, offset + at, ts) === true) return this.hold(chunk, i, offset);
      } else {
        this.frameLen = total;
        c.add(chunk.subarray(i), offset + i);
        return;
      }
    }
  }

  /** Stopped by the sink: keep the rest of the chunk for takeRest. */
  private hold(chunk: Buffer, i: number, offset: number): void {
    if (i < chunk.length) this.carry.add(chunk.subarray(i), offset + i);
  }

  takeRest(): { bytes: Buffer; offset: number } | null {
    this.frameLen = -1;
    return takeCarry(this.carry);
  }

  /** The chunk is whole frames: each length lands on the next, the last on its end. */
  private chains(b: Buffer): boolean {
    let p = 0;
    while (p < b.length) {
      const total = this.header(b, p, b.length);
      if (total <= 0 || p + total > b.length) return false;
      p += total;
    }
    return p > 0;
  }

  private loseSync(chunk: Buffer, i: number, offset: number, ts: number, why: string): void {
    this.lost = `unframed after an ${why} at stream offset ${this.carry.length ? this.carry.offset : offset + i}`;
    if (this.carry.length) {
      const off = this.carry.offset;
      this.sink.raw(this.carry.take(), off, ts, this.lost);
    }
    this.frameLen = -1;
    this.sink.raw(chunk.subarray(i), offset + i, ts, this.lost);
  }

  gap(length: number, offset: number, ts: number): void {
    if (this.lost) return;
    if (this.skip > 0) {
      if (length <= this.skip) {
        this.skip -= length;
        return;
      }
      this.skip = 0;
      this.lost = `unframed after a ${length}-byte gap at stream offset ${offset}`;
      this.resync = true;
      return;
    }
    const c = this.carry;
    if (c.length > 0 && this.frameLen >= 0) {
      // The gap fell inside a frame whose length we know: the frame is lost, the next one is not.
      const remaining = this.frameLen - c.length;
      const off = c.offset;
      this.sink.raw(c.take(), off, ts, `frame of ${this.frameLen} bytes cut by a ${length}-byte gap`);
      this.frameLen = -1;
      if (length <= remaining) {
        this.skip = remaining - length;
        return;
      }
    } else if (c.length > 0) {
      const off = c.offset;
      this.sink.raw(c.take(), off, ts, `frame header cut by a ${length}-byte gap`);
    }
    this.lost = `unframed after a ${length}-byte gap at stream offset ${offset} (the frames it held are unknown)`;
    this.resync = true;
  }

  end(ts: number): void {
    if (this.carry.length) {
      const off = this.carry.offset;
      const have = this.carry.length;
      this.sink.raw(this.carry.take(), off, ts, this.frameLen >= 0 ? `stream ended inside a frame (${have} of ${this.frameLen} bytes)` : 'stream ended inside a frame header');
    }
    this.frameLen = -1;
  }
}

/**
 * Frames that start with a header of fields (magic, flags, a length...) read by the transport's
 * compiled header decoder; the header's length expression gives the body's size. A header can
 * straddle chunks (up to MAX_HEADER bytes). After a gap, or a header that does not decode, the
 * framer looks for the header's magic further on and resumes there; without a magic the rest of
 * the direction is raw, with the reason.
 */
const MAX_HEADER = 4096;

export class HeaderFramer implements Framer {
  private readonly carry = new Carry();
  /** The frame being gathered: its size, header fields and header size; null between frames. */
  private pending: { total: number; fields: Record<string, unknown>; size: number } | null = null;
  /** Looking for the next magic (after a gap or a bad header): why. */
  private hunting = '';
  private lost = '';

  constructor(
    private readonly codec: FrameHeaderCodec,
    private readonly sink: FrameSink,
  ) {}

  private stopped = false;

  push(chunk: Buffer, offset: number, ts: number): void {
    if (this.lost) return this.sink.raw(chunk, offset, ts, this.lost);
    this.carry.add(chunk, offset);
    if (!this.stopped) this.drain(ts);
  }

  takeRest(): { bytes: Buffer; offset: number } | null {
    this.pending = null;
    this.stopped = false;
    return takeCarry(this.carry);
  }

  /** Frame what the carry holds, as far as it goes. */
  private drain(ts: number): void {
    const c = this.carry;
    while (c.length > 0 && !this.lost) {
      if (this.hunting && !this.hunt(ts)) return;
      if (!this.pending) {
        const head = c.head(MAX_HEADER);
        const h = this.codec.read(head);
        if (h === 'short') {
          if (head.length < MAX_HEADER) return;
          this.bad(ts, `a frame header longer than ${MAX_HEADER} bytes`);
          continue;
        }
        if ('error' in h || h.bodyLength > this.codec.max) {
          this.bad(ts, 'error' in h ? `a frame header that does not decode (${h.error})` : `a frame of ${h.bodyLength} bytes, over the ${this.codec.max}-byte limit`);
          continue;
        }
        this.pending = { total: h.size + h.bodyLength, fields: h.fields, size: h.size };
      }
      const p = this.pending;
      if (c.length < p.total) return;
      const start = c.offset;
      const all = c.take();
      if (all.length > p.total) c.add(all.subarray(p.total), start + p.total);
      this.pending = null;
      if (this.sink.frame(all, 0, this.codec.strip ? p.size : 0, p.total, p.total, start, ts, p.fields) === true) {
        this.stopped = true;
        return;
      }
    }
  }

  /** After a bad header: with a magic, skip to its next occurrence; without, the rest is raw. */
  private bad(ts: number, why: string): void {
    const c = this.carry;
    if (!this.codec.magic) {
      this.lost = `unframed after ${why} at stream offset ${c.offset}`;
      const off = c.offset;
      if (c.length) this.sink.raw(c.take(), off, ts, this.lost);
      return;
    }
    this.hunting = `skipped to the next frame header's magic after ${why}`;
    // the magic at the current position is the frame that failed: look past it
    const off = c.offset;
    const all = c.take();
    this.sink.raw(all.subarray(0, 1), off, ts, this.hunting);
    if (all.length > 1) c.add(all.subarray(1), off + 1);
  }

  /** Drop bytes up to the next magic; true when the carry now starts with one. */
  private hunt(ts: number): boolean {
    const c = this.carry;
    const m = this.codec.magic!;
    const off = c.offset;
    const all = c.take();
    const at = all.indexOf(m);
    // keep a tail that may be the start of a magic cut by the chunk's end
    const cut = at >= 0 ? at : Math.max(0, all.length - (m.length - 1));
    if (cut > 0) this.sink.raw(all.subarray(0, cut), off, ts, this.hunting);
    if (all.length > cut) c.add(all.subarray(cut), off + cut);
    if (at < 0) return false;
    this.hunting = '';
    return true;
  }

  gap(length: number, offset: number, ts: number): void {
    if (this.lost) return;
    const c = this.carry;
    if (c.length) {
      const off = c.offset;
      this.sink.raw(c.take(), off, ts, this.pending ? `frame of ${this.pending.total} bytes cut by a ${length}-byte gap` : `frame header cut by a ${length}-byte gap`);
    }
    this.pending = null;
    if (this.codec.magic) this.hunting = `bytes after a ${length}-byte gap at stream offset ${offset}, up to the next frame header's magic`;
    else this.lost = `unframed after a ${length}-byte gap at stream offset ${offset} (the frames it held are unknown)`;
  }

  end(ts: number): void {
    const c = this.carry;
    if (c.length) {
      const off = c.offset;
      this.sink.raw(c.take(), off, ts, this.hunting || (this.pending ? `stream ended inside a frame (${c.length} of ${this.pending.total} bytes)` : 'stream ended inside a frame header'));
    }
    this.pending = null;
  }
}

/** Frames ended by a delimiter (not part of the body). */
export class DelimiterFramer implements Framer {
  private readonly carry = new Carry();
  /** After a gap or an overlong frame: drop bytes up to the next delimiter, then resume. */
  private resync = '';

  constructor(
    private readonly delim: Buffer,
    private readonly max: number,
    private readonly sink: FrameSink,
  ) {}

  push(chunk: Buffer, offset: number, ts: number): void {
    const d = this.delim;
    let i = 0;
    const c = this.carry;
    // A delimiter that straddles the carry and this chunk: look at the carry's last bytes only
    // (joining the whole carry on every chunk would be quadratic in a long frame's length).
    if (c.length > 0 && d.length > 1) {
      const tail = c.tail(d.length - 1);
      const joint = Buffer.concat([tail, chunk.subarray(0, d.length - 1)]);
      const j = joint.indexOf(d);
      if (j >= 0 && j < tail.length) {
        const start = c.offset;
        const all = c.take();
        i = d.length - (tail.length - j);
        const bodyEnd = all.length - tail.length + j;
        const joined = Buffer.concat([all.subarray(0, bodyEnd), d]);
        if (this.emit(joined, 0, bodyEnd, start, ts) === true) return this.hold(chunk, i, offset);
      }
    }
    while (i < chunk.length) {
      const j = chunk.indexOf(d, i);
      if (j < 0) {
        c.add(chunk.subarray(i), offset + i);
        if (c.length > this.max) {
          const off = c.offset;
          const why = this.resync || `no delimiter within ${this.max} bytes`;
          this.sink.raw(c.take(), off, ts, why);
          this.resync = why;
        }
        return;
      }
      const at = i;
      i = j + d.length;
      if (c.length > 0) {
        const start = c.offset;
        c.add(chunk.subarray(at, i), offset + at);
        const wire = c.take();
        if (this.emit(wire, 0, wire.length - d.length, start, ts) === true) return this.hold(chunk, i, offset);
      } else if (this.emit(chunk, at, j, offset + at, ts) === true) return this.hold(chunk, i, offset);
    }
  }

  /** Stopped by the sink: keep the rest of the chunk for takeRest. */
  private hold(chunk: Buffer, i: number, offset: number): void {
    if (i < chunk.length) this.carry.add(chunk.subarray(i), offset + i);
  }

  takeRest(): { bytes: Buffer; offset: number } | null {
    return takeCarry(this.carry);
  }

  /** The frame buf[start, bodyEnd + the delimiter). */
  private emit(buf: Buffer, start: number, bodyEnd: number, offset: number, ts: number): boolean | void {
    if (bodyEnd - start > this.max) {
      this.sink.raw(buf.subarray(start, bodyEnd), offset, ts, this.resync || `no delimiter within ${this.max} bytes`);
      this.resync = '';
    } else if (this.resync) {
      this.sink.raw(buf.subarray(start, bodyEnd), offset, ts, this.resync);
      this.resync = '';
    } else return this.sink.frame(buf, start, start, bodyEnd, bodyEnd + this.delim.length, offset, ts);
  }

  gap(length: number, offset: number, ts: number): void {
    if (this.carry.length) {
      const off = this.carry.offset;
      this.sink.raw(this.carry.take(), off, ts, `frame cut by a ${length}-byte gap`);
    }
    this.resync = `bytes after a ${length}-byte gap at stream offset ${offset}, up to the next delimiter`;
  }

  end(ts: number): void {
    if (this.carry.length) {
      const off = this.carry.offset;
      this.sink.raw(this.carry.take(), off, ts, this.resync || 'stream ended before a delimiter');
    }
  }
}

/** Frames of one fixed size; a gap of any length keeps the alignment (offsets are exact). */
export class FixedFramer implements Framer {
  private readonly carry = new Carry();
  private skip = 0;

  constructor(
    private readonly size: number,
    private readonly sink: FrameSink,
  ) {}

  push(chunk: Buffer, offset: number, ts: number): void {
    let i = 0;
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.sink.raw(chunk.subarray(0, n), offset, ts, 'rest of a frame cut by a gap');
      this.skip -= n;
      i = n;
    }
    const c = this.carry;
    if (c.length > 0 && i < chunk.length) {
      const need = this.size - c.length;
      if (chunk.length - i < need) {
        c.add(chunk.subarray(i), offset + i);
        return;
      }
      const start = c.offset;
      c.add(chunk.subarray(i, i + need), offset + i);
      const frame = c.take();
      i += need;
      if (this.sink.frame(frame, 0, 0, frame.length, frame.length, start, ts) === true) return this.hold(chunk, i, offset);
    }
    while (chunk.length - i >= this.size) {
      const at = i;
      i += this.size;
      if (this.sink.frame(chunk, at, at, i, i, offset + at, ts) === true) break;
    }
    this.hold(chunk, i, offset);
  }

  private hold(chunk: Buffer, i: number, offset: number): void {
    if (i < chunk.length) this.carry.add(chunk.subarray(i), offset + i);
  }

  takeRest(): { bytes: Buffer; offset: number } | null {
    this.skip = 0;
    return takeCarry(this.carry);
  }

  gap(length: number, _offset: number, ts: number): void {
    const c = this.carry;
    let into = length;
    if (this.skip > 0) {
      const n = Math.min(this.skip, length);
      this.skip -= n;
      into -= n;
      if (into === 0) return;
    }
    if (c.length > 0) {
      const off = c.offset;
      const have = c.length;
      this.sink.raw(c.take(), off, ts, `frame cut by a ${length}-byte gap`);
      into += have;
    }
    this.skip = (this.size - (into % this.size)) % this.size;
  }

  end(ts: number): void {
    if (this.carry.length) {
      const off = this.carry.offset;
      this.sink.raw(this.carry.take(), off, ts, `stream ended inside a ${this.size}-byte frame`);
    }
  }
}

/** One frame per delivered chunk, for protocols with no framing (text chat, the seeds' sender). */
export class ChunkFramer implements Framer {
  constructor(private readonly sink: FrameSink) {}
  push(chunk: Buffer, offset: number, ts: number): void {
    this.sink.frame(chunk, 0, 0, chunk.length, chunk.length, offset, ts);
  }
  gap(): void {}
  end(): void {}
  takeRest(): null {
    return null;
  }
}
