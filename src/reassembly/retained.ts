/**
 * The bytes a stream delivered and its peer has not acknowledged yet, kept to compare
 * retransmissions with (a retransmission whose bytes differ is an overlap conflict).
 *
 * One circular buffer per stream, copied into: delivered chunks are views into capture buffers
 * that a reader may reuse, and keeping a copy of each chunk cost a fresh allocation per segment
 * (most of reassembly's time on large segments). The buffer grows by doubling up to the per-stream
 * limit while the shared budget allows, and never shrinks while the stream lives: its capacity is
 * what it costs, counted against the budget. Buffers a window outgrew or a stream let go of wait
 * for the next window of their size (a few megabytes at most): over many connections windows
 * are reused instead of becoming garbage. Over the limit the oldest bytes go, so the window is
 * the most recent unacknowledged bytes; a stream left without room checks nothing (as Zeek's
 * bounded old-block window).
 *
 * Lent packets (the budget has a `lent` list): the caller promises that delivered chunks stay valid
 * until it calls copyLent() on the windows listed there (before it reuses its buffers). A window
 * then holds views of the chunks and copies only what is still unacknowledged when they are
 * taken back: most bytes are acknowledged within a few packets, so most are never copied.
 */

/** What all streams' retained bytes may cost together. */
export interface RetainedBudget {
  retained: number;
  readonly maxRetained: number;
  /** Windows holding views of lent chunks, to copyLent() before the chunks are reused; null: copy at once. */
  readonly lent?: RetainedWindow[] | null;
}

/** Small enough to come from Node's buffer pool: most streams of a short connection carry a few hundred bytes. */
const FIRST_CAPACITY = 256;

/** How many of `run` bytes differ between a (from aOff) and b (from bOff). */
export function differing(a: Buffer, aOff: number, b: Buffer, bOff: number, run: number): number {
  if (a.compare(b, bOff, bOff + run, aOff, aOff + run) === 0) return 0;
  let n = 0;
  for (let k = 0; k < run; k++) if (a[aOff + k] !== b[bOff + k]) n++;
  return n;
}

/** Buffers let go of, by capacity (a power of two), and how many bytes of each size may wait. */
const spare = new Map<number, Buffer[]>();
const SPARE_BYTES = 1 << 20;

function takeBuffer(size: number): Buffer {
  return spare.get(size)?.pop() ?? Buffer.allocUnsafe(size);
}

function giveBack(b: Buffer): void {
  let list = spare.get(b.length);
  if (!list) spare.set(b.length, (list = []));
  if ((list.length + 1) * b.length <= SPARE_BYTES) list.push(b);
}

export class RetainedWindow {
  private buf: Buffer | null = null;
  /** Stream offset of the oldest byte held (in buf, else in the views). */
  private start = 0;
  /** Bytes held in buf. */
  private len = 0;
  /** Index in buf of the oldest byte held. */
  private head = 0;
  /**
   * Lent chunks, oldest first, that follow the bytes in buf (lent packets only): firstView, then
   * rest[restStart, restEnd). An array only once two are held at a time: a window mostly holds
   * one, and there may be 50,000 windows (an array each was 9 MB over 25,000 connections).
   */
  private firstView: Buffer | null = null;
  private rest: Buffer[] | null = null;
  private restStart = 0;
  private restEnd = 0;
  /** Bytes held in views (what precedes viewSkip in the first is released). */
  private viewLen = 0;
  private viewSkip = 0;
  /** On the budget's lent list since the last copyLent(). */
  private listed = false;

  constructor(
    private readonly max: number,
    private readonly budget: RetainedBudget,
  ) {}

  /** Bytes held (the newest max of them). */
  get size(): number {
    return Math.min(this.len + this.viewLen, this.max);
  }

  /** What this window costs the budget. */
  get capacity(): number {
    return this.buf ? this.buf.length : 0;
  }

  /** `data` was delivered at stream offset `off`: held after what is held when it follows it, else instead. */
  add(off: number, data: Buffer): void {
    if (this.max === 0 || data.length === 0) return;
    const lent = this.budget.lent;
    if (!lent) return this.copyIn(off, data);
    if (this.len + this.viewLen > 0 && off !== this.start + this.len + this.viewLen) this.dropAll();
    if (this.len + this.viewLen === 0) {
      this.start = off;
      this.head = 0;
    }
    if (this.firstView === null) this.firstView = data;
    else (this.rest ??= [])[this.restEnd++] = data;
    this.viewLen += data.length;
    if (!this.listed) {
      this.listed = true;
      lent.push(this);
    }
  }

  /** The lent chunks are taken back: what of them is still unacknowledged is copied in. */
  copyLent(): void {
    this.listed = false;
    if (this.viewLen === 0) return;
    let off = this.start + this.len;
    for (let k = 0, v = this.firstView; v !== null; v = this.heldView(++k)) {
      const d = k === 0 && this.viewSkip > 0 ? v.subarray(this.viewSkip) : v;
      this.copyIn(off, d);
      off += d.length;
    }
    this.clearViews();
  }

  /** The k-th lent chunk held (0: the oldest), or null. */
  private heldView(k: number): Buffer | null {
    if (k === 0) return this.firstView;
    const i = this.restStart + k - 1;
    return i < this.restEnd ? this.rest![i]! : null;
  }

  private copyIn(off: number, data: Buffer): void {
    if (this.len > 0 && off !== this.start + this.len) this.len = 0;
    if (this.len === 0) {
      this.start = off;
      this.head = 0;
    }
    const cap = this.room(this.len + data.length);
    if (cap === 0) {
      this.start = off + data.length;
      return;
    }
    let d = data;
    let at = off;
    if (d.length >= cap) {
      // only the newest cap bytes stay
      at = off + d.length - cap;
      d = d.subarray(d.length - cap);
      this.start = at;
      this.head = 0;
      this.len = 0;
    }
    const over = this.len + d.length - cap;
    if (over > 0) this.drop(over);
    const buf = this.buf!;
    const w = (this.head + this.len) % cap;
    const first = Math.min(d.length, cap - w);
    d.copy(buf, w, 0, first);
    if (first < d.length) d.copy(buf, 0, first);
    this.len += d.length;
  }

  /** The peer acknowledged everything before `upTo`. */
  release(upTo: number): void {
    if (upTo <= this.start) return;
    let n = upTo - this.start;
    if (this.len > 0) {
      const inBuf = Math.min(this.len, n);
      this.drop(inBuf);
      n -= inBuf;
    }
    if (n <= 0 || this.viewLen === 0) return;
    if (n >= this.viewLen) {
      // the common case: everything lent was acknowledged before it had to be copied
      this.start += this.viewLen;
      this.clearViews();
      return;
    }
    this.start += n;
    this.viewLen -= n;
    let skip = this.viewSkip + n;
    for (let v = this.firstView!; skip >= v.length; v = this.firstView!) {
      skip -= v.length;
      this.firstView = this.restStart < this.restEnd ? this.rest![this.restStart++]! : null;
      if (this.restStart === this.restEnd) this.restStart = this.restEnd = 0;
    }
    this.viewSkip = skip;
  }

  /** How many bytes of `data` (a copy of stream bytes from `off`) differ from the bytes held there. */
  conflicts(off: number, data: Buffer): number {
    if (this.viewLen === 0) return this.conflictsInBuf(off, data, off);
    // the newest max bytes, as a window that had copied the views would hold (lent views are not
    // charged to the shared budget: once it is spent, a lent window still checks what a copying
    // one could not have kept, so overlapConflicts may count more there, never fewer)
    const from = this.start + this.len + this.viewLen - this.max;
    return this.conflictsInBuf(off, data, from) + this.conflictsInViews(off, data, from);
  }

  private conflictsInViews(off: number, data: Buffer, from: number): number {
    const end = this.start + this.len + this.viewLen;
    let o = Math.max(off, this.start + this.len, from);
    const e = Math.min(off + data.length, end);
    let n = 0;
    let at = this.start + this.len - this.viewSkip; // stream offset of chunk k's first byte
    for (let k = 0, v = this.firstView; v !== null && o < e; v = this.heldView(++k)) {
      const vEnd = at + v.length;
      if (o < vEnd) {
        const stop = Math.min(e, vEnd);
        n += differing(v, o - at, data, o - off, stop - o);
        o = stop;
      }
      at = vEnd;
    }
    return n;
  }

  private conflictsInBuf(off: number, data: Buffer, from: number): number {
    const buf = this.buf;
    if (!buf || this.len === 0) return 0;
    const s = Math.max(off, this.start, from);
    const e = Math.min(off + data.length, this.start + this.len);
    if (s >= e) return 0;
    const cap = buf.length;
    let n = 0;
    let i = (this.head + (s - this.start)) % cap;
    // at most two runs: up to the end of the circle, then from its start
    for (let o = s; o < e; ) {
      const run = Math.min(e - o, cap - i);
      n += differing(buf, i, data, o - off, run);
      o += run;
      i = 0;
    }
    return n;
  }

  /** Let go of the buffer (the stream ended). */
  free(): void {
    if (this.buf) {
      this.budget.retained -= this.buf.length;
      giveBack(this.buf);
    }
    this.buf = null;
    this.len = 0;
    this.clearViews();
    this.rest = null;
  }

  private clearViews(): void {
    this.firstView = null;
    // let go of the lent chunks now: an acknowledged window may wait long for its next copyLent
    if (this.rest) this.rest.length = 0;
    this.restStart = this.restEnd = 0;
    this.viewLen = 0;
    this.viewSkip = 0;
  }

  private dropAll(): void {
    this.len = 0;
    this.head = 0;
    this.clearViews();
  }

  private drop(n: number): void {
    this.start += n;
    this.len -= n;
    this.head = this.len === 0 ? 0 : (this.head + n) % this.buf!.length;
  }

  /** The capacity to use for `need` bytes: grown while the limit and the budget allow. */
  private room(need: number): number {
    const cap = this.capacity;
    if (need <= cap || cap >= this.max) return cap;
    let want = Math.max(cap * 2, FIRST_CAPACITY);
    while (want < need && want < this.max) want *= 2;
    want = Math.min(want, this.max);
    if (this.budget.retained + want - cap > this.budget.maxRetained) return cap;
    const grown = takeBuffer(want);
    if (this.buf && this.len > 0) {
      // linearise: oldest byte first
      const first = Math.min(this.len, cap - this.head);
      this.buf.copy(grown, 0, this.head, this.head + first);
      if (first < this.len) this.buf.copy(grown, first, 0, this.len - first);
    }
    if (this.buf) giveBack(this.buf);
    this.head = 0;
    this.budget.retained += want - cap;
    this.buf = grown;
    return want;
  }
}
