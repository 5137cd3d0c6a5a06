import { seqAdd, seqDiff } from '../core/seq';
import type { StreamEnd } from '../core/types';

/**
 * One direction of a TCP connection turned into an ordered byte stream.
 *
 * Call order, per packet of this direction: `segment(seq, syn, fin, data,
 * declaredLen, ts)`; per packet of the other direction that carries an ACK:
 * `ack(ackSeq, ts)`. On a valid RST: `close('rst', ts)`; on idle timeout:
 * `close('timeout', ts)`; at the end of input: `close('open', ts)`.
 * Out come, in stream order, `sink.data(bytes)` and `sink.gap(n)` calls, and
 * one `sink.end(reason)`.
 *
 * Positions are 64-bit stream offsets (JS numbers) from the first byte after
 * the SYN (or the first byte seen when the stream is joined mid-way); raw
 * sequence numbers are only ever compared through seqDiff.
 *
 * Overlaps: the first copy of a byte wins. Where a later copy overlaps bytes
 * already held (pending out-of-order data, or delivered data not yet
 * acknowledged), the bytes are compared and differing ones counted as
 * overlapConflicts. The cases, new segment N against held data H:
 *
 *   1. N entirely before nextOff        |HHHH|   N:|nn|        -> retransmission, compare with retained
 *   2. N starts before nextOff          |HHHH|nnnn             -> compare the head, keep the tail
 *   3. N inside a pending segment          P:|pppppp| N:|nn|   -> compare, drop
 *   4. N covers pending segments           P:|pp| |pp|  N:|nnnnnnnn| -> compare the covered parts, keep the holes
 *   5. N partially overlaps a pending one  P:|pppp|  N:  |nnnn|  -> compare, keep the part after P
 *
 * Missing bytes become one `gap(n)` of the exact size: when the peer
 * acknowledges past the hole, when buffers overflow, on timeout or close.
 */

export type GapReason = 'ack' | 'buffer' | 'close';

export interface StreamSink {
  data(chunk: Buffer, offset: number, ts: number): void;
  gap(length: number, offset: number, ts: number, reason: GapReason): void;
  end(reason: StreamEnd, ts: number): void;
}

export interface StreamStats {
  /** Bytes delivered. */
  bytes: number;
  gaps: number;
  gapBytes: number;
  /** Bytes seen again whose content differs from the first copy. */
  overlapConflicts: number;
  /** Bytes received more than once (retransmissions, overlaps). */
  retransmittedBytes: number;
  /** Segments that arrived ahead of a hole and had to be buffered. */
  outOfOrderSegments: number;
  /** Payload bytes that arrived after the stream ended (after FIN or RST). */
  afterEndBytes: number;
  /** Segments ignored because their sequence number is far outside the window. */
  outOfWindow: number;
}

/** Shared limits across all streams, so that total buffered memory is bounded. */
export class ReassemblyBudget {
  pending = 0;
  retained = 0;
  constructor(
    readonly maxPending = 256 * 1024 * 1024,
    readonly maxRetained = 64 * 1024 * 1024,
  ) {}
}

export interface AssemblerOptions {
  /** Out-of-order bytes one stream may buffer before giving up on a hole. */
  maxPendingPerStream: number;
  /** Delivered-but-unacknowledged bytes kept per stream to check retransmissions against. */
  maxRetainedPerStream: number;
  /**
   * A segment or ACK further than this beyond everything seen so far is taken
   * as corruption unless a second packet confirms the jump (captures cut down
   * on purpose jump that far; bit-flipped sequence numbers do so once).
   */
  maxJump: number;
}

export const DEFAULT_ASSEMBLER_OPTIONS: AssemblerOptions = {
  maxPendingPerStream: 4 * 1024 * 1024,
  maxRetainedPerStream: 256 * 1024,
  maxJump: 64 * 1024 * 1024,
};

/** Segments further than this from the stream position are noise, not data. */
const WINDOW = 1 << 30;

interface Seg {
  off: number;
  data: Buffer;
}

/** A far jump waiting for a second packet to confirm it. */
interface FarJump {
  off: number;
  end: number;
  data: Buffer | null;
}

export class TcpStreamAssembler {
  started = false;
  /** The stream was joined mid-way: no SYN seen before its first byte. */
  midstream = false;
  synSeen = false;
  isn = 0;
  ended: StreamEnd | null = null;
  /** Offset of the next byte to deliver. */
  nextOff = 0;
  /** Highest offset any segment (or FIN) of this direction reached, captured or not. */
  maxEnd = 0;
  finOff = -1;
  readonly stats: StreamStats = {
    bytes: 0,
    gaps: 0,
    gapBytes: 0,
    overlapConflicts: 0,
    retransmittedBytes: 0,
    outOfOrderSegments: 0,
    afterEndBytes: 0,
    outOfWindow: 0,
  };

  /** Sequence number of nextOff. */
  private baseSeq = 0;
  private pending: Seg[] = [];
  private pendingBytes = 0;
  private retained: Seg[] = [];
  private retainedHead = 0;
  private retainedBytes = 0;
  private far: FarJump | null = null;

  constructor(
    private readonly sink: StreamSink,
    private readonly budget: ReassemblyBudget = new ReassemblyBudget(),
    private readonly opts: AssemblerOptions = DEFAULT_ASSEMBLER_OPTIONS,
  ) {}

  /** Stream offset of a sequence number (wrap-safe within ±2^31 of the current position). */
  offsetOf(seq: number): number {
    return this.nextOff + seqDiff(seq, this.baseSeq);
  }

  segment(seq: number, syn: boolean, fin: boolean, data: Buffer, declaredLen: number, ts: number): void {
    if (this.ended !== null) {
      this.stats.afterEndBytes += declaredLen;
      return;
    }
    let dataSeq = seq;
    if (syn) {
      // a SYN (re)starts the stream while nothing has been delivered or held:
      // retransmitted SYNs and SYN-ACKs with a new ISN take the latest ISN
      if (!this.started || (this.synSeen && this.stats.bytes === 0 && this.pending.length === 0 && this.stats.gaps === 0)) {
        this.start(seqAdd(seq, 1));
        this.synSeen = true;
        this.isn = seq;
      }
      dataSeq = seqAdd(seq, 1);
    } else if (!this.started) {
      if (declaredLen === 0 && !fin) return;
      this.start(seq);
      this.midstream = true;
    }
    const off = this.offsetOf(dataSeq);
    if (off < this.nextOff - WINDOW) {
      this.stats.outOfWindow++;
      return;
    }
    if (this.isFarJump(off) && !this.confirmJump(off, off + declaredLen, data, ts)) return;
    const end = off + declaredLen;
    if (end > this.maxEnd) this.maxEnd = end;
    if (fin && this.finOff < 0 && end >= this.nextOff) this.finOff = end;
    if (data.length > 0) this.insert(off, data, ts);
    this.checkFin(ts);
  }

  /** The peer acknowledged everything before ackSeq. */
  ack(ackSeq: number, ts: number): void {
    if (!this.started || this.ended !== null) return;
    const ackOff = this.offsetOf(ackSeq);
    if (ackOff <= this.nextOff) {
      this.releaseRetained(ackOff);
      return;
    }
    if (this.isFarJump(ackOff) && !this.confirmJump(ackOff, ackOff, null, ts)) return;
    this.releaseRetained(ackOff);
    // the peer has bytes we never saw: they are lost to us
    let holeEnd = ackOff;
    if (this.finOff >= 0 && holeEnd > this.finOff) holeEnd = this.finOff;
    // an ACK is evidence of bytes this capture never saw (even past the last segment seen)
    if (holeEnd > this.maxEnd) this.maxEnd = holeEnd;
    const first = this.pending[0];
    if (first && first.off < holeEnd) holeEnd = first.off;
    if (holeEnd > this.nextOff) {
      this.gapTo(holeEnd, 'ack', ts);
      this.flushPending(ts);
      this.checkFin(ts);
    }
  }

  /** End the stream: deliver everything held, with gaps for the holes, then end(reason). */
  close(reason: StreamEnd, ts: number): void {
    if (this.ended !== null) return;
    while (this.pending.length > 0) {
      const first = this.pending[0]!;
      if (first.off > this.nextOff) this.gapTo(first.off, 'close', ts);
      this.flushPending(ts);
    }
    const limit = this.finOff >= 0 ? this.finOff : this.maxEnd;
    if (limit > this.nextOff) this.gapTo(limit, 'close', ts);
    this.finish(reason, ts);
  }

  private isFarJump(off: number): boolean {
    return off > Math.max(this.maxEnd, this.nextOff) + this.opts.maxJump;
  }

  /**
   * A far jump counts once a second packet lands near the first: then the
   * held segment (if the first was data) goes in and the stream moves on.
   * Returns whether the current packet may proceed.
   */
  private confirmJump(off: number, end: number, data: Buffer | null, ts: number): boolean {
    const f = this.far;
    const limit = this.opts.maxJump;
    if (!f || off < f.off - limit || off > f.end + limit) {
      this.far = { off, end, data: data && data.length > 0 ? Buffer.from(data) : null };
      this.stats.outOfWindow++;
      return false;
    }
    this.far = null;
    const reach = Math.max(f.end, end);
    if (reach > this.maxEnd) this.maxEnd = reach;
    if (f.data) this.insert(f.off, f.data, ts);
    return true;
  }

  private start(seq: number): void {
    this.started = true;
    this.baseSeq = seq;
    this.nextOff = 0;
    this.maxEnd = 0;
    this.finOff = -1;
  }

  private checkFin(ts: number): void {
    if (this.finOff >= 0 && this.nextOff >= this.finOff && this.ended === null) this.finish('fin', ts);
  }

  private finish(reason: StreamEnd, ts: number): void {
    this.ended = reason;
    this.budget.pending -= this.pendingBytes;
    this.pendingBytes = 0;
    this.pending = [];
    this.releaseRetained(Infinity);
    this.sink.end(reason, ts);
  }

  private insert(off: number, data: Buffer, ts: number): void {
    const next = this.nextOff;
    if (off < next) {
      const old = Math.min(data.length, next - off);
      this.compareRetained(off, data.subarray(0, old));
      this.stats.retransmittedBytes += old;
      if (old === data.length) return; // case 1
      data = data.subarray(old); // case 2
      off = next;
    }
    if (this.pending.length === 0) {
      if (off === next) this.deliver(data, ts); // the in-order fast path: no copy
      else this.store(off, data, ts);
      return;
    }
    this.insertAgainstPending(off, data, ts);
  }

  /** Cases 3-5: clip the new segment against held out-of-order data. */
  private insertAgainstPending(off: number, data: Buffer, ts: number): void {
    const end = off + data.length;
    const pending = this.pending;
    let i = this.firstEndingAfter(off);
    let cur = off;
    const pieces: Seg[] = [];
    while (cur < end) {
      const p = pending[i];
      if (p && p.off < end) {
        if (p.off > cur) pieces.push({ off: cur, data: data.subarray(cur - off, p.off - off) });
        const ovStart = Math.max(cur, p.off);
        const ovEnd = Math.min(end, p.off + p.data.length);
        if (ovEnd > ovStart) {
          this.stats.retransmittedBytes += ovEnd - ovStart;
          this.countConflicts(
            p.data.subarray(ovStart - p.off, ovEnd - p.off),
            data.subarray(ovStart - off, ovEnd - off),
          );
        }
        cur = Math.max(cur, p.off + p.data.length);
        i++;
      } else {
        pieces.push({ off: cur, data: data.subarray(cur - off) });
        cur = end;
      }
    }
    for (const piece of pieces) {
      if (piece.off === this.nextOff) this.deliver(piece.data, ts);
      else this.store(piece.off, piece.data, ts);
    }
    this.flushPending(ts);
  }

  /** Index of the first pending segment that ends after off. */
  private firstEndingAfter(off: number): number {
    const pending = this.pending;
    let lo = 0;
    let hi = pending.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const p = pending[mid]!;
      if (p.off + p.data.length <= off) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private store(off: number, data: Buffer, ts: number): void {
    // held data must outlive the source's buffer: copy it
    const seg: Seg = { off, data: Buffer.from(data) };
    const pending = this.pending;
    let i = pending.length;
    while (i > 0 && pending[i - 1]!.off > off) i--;
    if (i === pending.length) pending.push(seg);
    else pending.splice(i, 0, seg);
    this.pendingBytes += data.length;
    this.budget.pending += data.length;
    this.stats.outOfOrderSegments++;
    while (
      this.pending.length > 0 &&
      (this.pendingBytes > this.opts.maxPendingPerStream || this.budget.pending > this.budget.maxPending)
    ) {
      const first = this.pending[0]!;
      if (first.off > this.nextOff) this.gapTo(first.off, 'buffer', ts);
      this.flushPending(ts);
    }
  }

  private flushPending(ts: number): void {
    const pending = this.pending;
    while (pending.length > 0 && pending[0]!.off <= this.nextOff) {
      const s = pending.shift()!;
      this.pendingBytes -= s.data.length;
      this.budget.pending -= s.data.length;
      const end = s.off + s.data.length;
      if (end <= this.nextOff) continue;
      this.deliver(s.off === this.nextOff ? s.data : s.data.subarray(this.nextOff - s.off), ts);
    }
    this.checkFin(ts);
  }

  private deliver(data: Buffer, ts: number): void {
    const off = this.nextOff;
    if (this.finOff >= 0 && off + data.length > this.finOff) {
      // bytes beyond the FIN are not part of the stream
      const keep = Math.max(0, this.finOff - off);
      this.stats.afterEndBytes += data.length - keep;
      data = data.subarray(0, keep);
      if (data.length === 0) return;
    }
    this.nextOff = off + data.length;
    this.baseSeq = seqAdd(this.baseSeq, data.length);
    this.stats.bytes += data.length;
    this.retain(off, data);
    this.sink.data(data, off, ts);
  }

  private gapTo(upTo: number, reason: GapReason, ts: number): void {
    const n = upTo - this.nextOff;
    const off = this.nextOff;
    this.nextOff = upTo;
    this.baseSeq = seqAdd(this.baseSeq, n);
    this.stats.gaps++;
    this.stats.gapBytes += n;
    this.sink.gap(n, off, ts, reason);
  }

  private retain(off: number, data: Buffer): void {
    const max = this.opts.maxRetainedPerStream;
    if (max === 0 || this.budget.retained >= this.budget.maxRetained) return;
    const keep = data.length > max ? data.subarray(data.length - max) : data;
    this.retained.push({ off: off + data.length - keep.length, data: Buffer.from(keep) });
    this.retainedBytes += keep.length;
    this.budget.retained += keep.length;
    while (this.retainedBytes > max) this.dropOldestRetained();
  }

  private dropOldestRetained(): void {
    const r = this.retained[this.retainedHead]!;
    this.retainedHead++;
    this.retainedBytes -= r.data.length;
    this.budget.retained -= r.data.length;
    if (this.retainedHead > 64 && this.retainedHead * 2 > this.retained.length) {
      this.retained = this.retained.slice(this.retainedHead);
      this.retainedHead = 0;
    }
  }

  private releaseRetained(upTo: number): void {
    while (this.retainedHead < this.retained.length) {
      const r = this.retained[this.retainedHead]!;
      if (r.off + r.data.length > upTo) break;
      this.dropOldestRetained();
    }
    if (this.retainedHead === this.retained.length && this.retainedHead > 0) {
      this.retained = [];
      this.retainedHead = 0;
    }
  }

  /** Compare a retransmission of delivered bytes with what was delivered, where still held. */
  private compareRetained(off: number, data: Buffer): void {
    const end = off + data.length;
    for (let i = this.retainedHead; i < this.retained.length; i++) {
      const r = this.retained[i]!;
      const rEnd = r.off + r.data.length;
      if (rEnd <= off) continue;
      if (r.off >= end) break;
      const s = Math.max(off, r.off);
      const e = Math.min(end, rEnd);
      this.countConflicts(r.data.subarray(s - r.off, e - r.off), data.subarray(s - off, e - off));
    }
  }

  private countConflicts(first: Buffer, again: Buffer): void {
    if (first.equals(again)) return;
    let n = 0;
    for (let i = 0; i < first.length; i++) if (first[i] !== again[i]) n++;
    this.stats.overlapConflicts += n;
  }
}
