/**
 * Sorted, non-overlapping byte pieces keyed by offset, where the first copy of a byte wins: the
 * one store behind TCP reassembly's out-of-order buffer and IP defragmentation (as Zeek keeps one
 * reassembler for both).
 *
 * Call order: `insert(off, data, onOverlap)` any number of times; read with `first()`, `shift()`,
 * `covers()` and iteration; `clear()` to drop everything.
 *
 * Cost: pieces live in a list of sorted chunks of at most 2*CHUNK pieces, so finding, inserting
 * and removing a piece is O(log n + CHUNK) whatever the arrival order: a storm of a million
 * one-byte segments in random order, or a million holes, stays n log n (an array with splice and
 * shift is quadratic there). A new piece that covers held pieces absorbs them (their bytes win), so
 * a hostile retransmission over many small pieces costs its own length once, not once per piece.
 *
 * Overlap cases, new data N against held pieces H (all reported to `onOverlap(held, again)`):
 *   1. N inside one held piece        H:|hhhhhh|   N:  |nn|      -> nothing stored
 *   2. N over the edge of a piece     H:|hhhh|     N:   |nnnn|   -> the part outside H is stored
 *   3. N covers whole pieces          H: |hh| |h|  N:|nnnnnnnn|  -> one piece: N with H's bytes over it
 * Stored bytes are copied: a piece never keeps the (possibly large) buffer it came in alive.
 */

export interface Piece {
  off: number;
  data: Buffer;
}

/** Called for every byte range that was already held: the held bytes and the new copy of them. */
export type OverlapFn = (held: Buffer, again: Buffer) => void;

const CHUNK = 128;

const endOf = (p: Piece): number => p.off + p.data.length;

export class RangeStore {
  /** Pieces held. */
  count = 0;
  /** Bytes held. */
  bytes = 0;
  private chunks: Piece[][] = [];

  first(): Piece | undefined {
    return this.chunks[0]?.[0];
  }

  /** End of the last piece, or -Infinity when empty. */
  last(): number {
    const ch = this.chunks[this.chunks.length - 1];
    return ch ? endOf(ch[ch.length - 1]!) : -Infinity;
  }

  /** Remove and return the first piece. */
  shift(): Piece | undefined {
    const ch = this.chunks[0];
    if (!ch) return undefined;
    const p = ch.shift()!;
    if (ch.length === 0) this.chunks.shift();
    this.count--;
    this.bytes -= p.data.length;
    return p;
  }

  clear(): void {
    this.chunks = [];
    this.count = 0;
    this.bytes = 0;
  }

  *[Symbol.iterator](): IterableIterator<Piece> {
    for (const ch of this.chunks) yield* ch;
  }

  /** Whether every byte of [from, to) is held. */
  covers(from: number, to: number): boolean {
    let [ci, pi] = this.locate(from);
    let cur = from;
    while (cur < to) {
      const p = this.chunks[ci]?.[pi];
      if (!p || p.off > cur) return false;
      cur = endOf(p);
      if (++pi >= this.chunks[ci]!.length) {
        ci++;
        pi = 0;
      }
    }
    return true;
  }

  /**
   * Store the bytes of [off, off + data.length) that are not held yet; bytes already held keep
   * their first copy and are reported to `onOverlap`. Returns the number of bytes added.
   */
  insert(off: number, data: Buffer, onOverlap?: OverlapFn): number {
    const len = data.length;
    if (len === 0) return 0;
    const end = off + len;
    let [ci, pi] = this.locate(off);
    let start = off;
    let stop = end;
    const head = this.chunks[ci]?.[pi];
    if (head && head.off <= off) {
      // case 1 or 2 on the left edge: the held piece keeps its bytes
      const he = endOf(head);
      const upTo = Math.min(he, end);
      onOverlap?.(head.data.subarray(off - head.off, upTo - head.off), data.subarray(0, upTo - off));
      if (he >= end) return 0;
      start = he;
      if (++pi >= this.chunks[ci]!.length) {
        ci++;
        pi = 0;
      }
    }
    // Pieces that start inside [start, stop): whole ones are absorbed (case 3); one that runs past
    // the end clips the new piece instead (case 2 on the right edge).
    const absorbed: Piece[] = [];
    for (let c = ci, i = pi; ; ) {
      const p = this.chunks[c]?.[i];
      if (!p || p.off >= stop) break;
      const pe = endOf(p);
      if (pe > stop) {
        onOverlap?.(p.data.subarray(0, stop - p.off), data.subarray(p.off - off, stop - off));
        stop = p.off;
        break;
      }
      absorbed.push(p);
      if (++i >= this.chunks[c]!.length) {
        c++;
        i = 0;
      }
    }
    if (stop <= start) return 0; // the rest was a held piece's head (case 2, right edge)
    const piece = Buffer.allocUnsafe(stop - start);
    data.copy(piece, 0, start - off, stop - off);
    for (const p of absorbed) {
      onOverlap?.(p.data, data.subarray(p.off - off, endOf(p) - off));
      p.data.copy(piece, p.off - start);
    }
    // the absorbed pieces sit right at (ci, pi), in order
    for (let n = absorbed.length; n > 0; ) {
      const ch = this.chunks[ci]!;
      const k = Math.min(n, ch.length - pi);
      ch.splice(pi, k);
      n -= k;
      if (ch.length === 0) this.chunks.splice(ci, 1);
      else if (pi >= ch.length) {
        ci++;
        pi = 0;
      }
    }
    let added = piece.length;
    for (const p of absorbed) {
      added -= p.data.length;
      this.bytes -= p.data.length;
    }
    this.count -= absorbed.length;
    this.put(ci, pi, { off: start, data: piece });
    return added;
  }

  /** Position (chunk, index) of the first piece that ends after `off`; past the end when none. */
  private locate(off: number): [number, number] {
    const chunks = this.chunks;
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const ch = chunks[mid]!;
      if (endOf(ch[ch.length - 1]!) <= off) lo = mid + 1;
      else hi = mid;
    }
    if (lo === chunks.length) return [lo, 0];
    const ch = chunks[lo]!;
    let a = 0;
    let b = ch.length;
    while (a < b) {
      const mid = (a + b) >> 1;
      if (endOf(ch[mid]!) <= off) a = mid + 1;
      else b = mid;
    }
    return [lo, a];
  }

  private put(ci: number, pi: number, p: Piece): void {
    this.count++;
    this.bytes += p.data.length;
    const chunks = this.chunks;
    if (chunks.length === 0) {
      chunks.push([p]);
      return;
    }
    if (ci >= chunks.length) {
      ci = chunks.length - 1;
      pi = chunks[ci]!.length;
    }
    const ch = chunks[ci]!;
    if (pi === ch.length) ch.push(p);
    else ch.splice(pi, 0, p);
    if (ch.length > 2 * CHUNK) chunks.splice(ci + 1, 0, ch.splice(CHUNK));
  }
}
