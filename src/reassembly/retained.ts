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
 */

/** What all streams' retained bytes may cost together. */
export interface RetainedBudget {
  retained: number;
  readonly maxRetained: number;
}

/** Small enough to come from Node's buffer pool: most streams of a short connection carry a few hundred bytes. */
const FIRST_CAPACITY = 256;

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
  /** Stream offset of the oldest byte held. */
  private start = 0;
  private len = 0;
  /** Index in buf of the oldest byte held. */
  private head = 0;

  constructor(
    private readonly max: number,
    private readonly budget: RetainedBudget,
  ) {}

  /** Bytes held. */
  get size(): number {
    return this.len;
  }

  /** What this window costs the budget. */
  get capacity(): number {
    return this.buf ? this.buf.length : 0;
  }

  /** `data` was delivered at stream offset `off`: held after what is held when it follows it, else instead. */
  add(off: number, data: Buffer): void {
    if (this.max === 0 || data.length === 0) return;
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
    if (upTo <= this.start || this.len === 0) return;
    this.drop(Math.min(this.len, upTo - this.start));
  }

  /** How many bytes of `data` (a copy of stream bytes from `off`) differ from the bytes held there. */
  conflicts(off: number, data: Buffer): number {
    const buf = this.buf;
    if (!buf || this.len === 0) return 0;
    const s = Math.max(off, this.start);
    const e = Math.min(off + data.length, this.start + this.len);
    if (s >= e) return 0;
    const cap = buf.length;
    let n = 0;
    let i = (this.head + (s - this.start)) % cap;
    // at most two runs: up to the end of the circle, then from its start
    for (let o = s; o < e; ) {
      const run = Math.min(e - o, cap - i);
      const held = buf.subarray(i, i + run);
      const again = data.subarray(o - off, o - off + run);
      if (!held.equals(again)) for (let k = 0; k < run; k++) if (held[k] !== again[k]) n++;
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
