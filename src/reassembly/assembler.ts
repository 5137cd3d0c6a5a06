import { RangeStore } from '../core/ranges';
import { differing, RetainedWindow } from './retained';
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
 *   3-5. N against pending segments     -> the range store's cases (core/ranges.ts): inside one
 *        (dropped), over an edge (the rest kept), covering whole ones (merged, first copy wins)
 *
 * Missing bytes become one `gap(n)` of the exact size: when the peer
 * acknowledges past the hole, when buffers overflow, on timeout or close.
 *
 * Cost: the out-of-order buffer is a RangeStore, so any arrival order costs
 * O(log n) a segment; delivered bytes not yet acknowledged are copied into one
 * circular window per stream (retained.ts), so in-order data costs a copy and no
 * allocation; with lent packets (the budget's `lent`), only the bytes still
 * unacknowledged when the caller takes its buffers back. Each buffered piece counts PIECE_COST bytes on top of its length
 * against the budgets, so a flood of one-byte pieces is bounded like bytes are;
 * a retained window counts its capacity.
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
  /**
   * With lent packets, the retained windows holding views of them (retained.ts): the caller
   * calls returnLent() before it reuses the buffers delivered chunks came from.
   */
  readonly lent: RetainedWindow[] | null;
  constructor(
    readonly maxPending = 256 * 1024 * 1024,
    readonly maxRetained = 32 * 1024 * 1024,
    lentPackets = false,
  ) {
    this.lent = lentPackets ? [] : null;
  }

  /** The buffers of lent packets are about to be reused: the windows copy what they still hold of them. */
  returnLent(): void {
    const lent = this.lent;
    if (!lent || lent.length === 0) return;
    for (let i = 0; i < lent.length; i++) lent[i]!.copyLent();
    lent.length = 0;
  }
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
  maxPendingPerStream: 32 * 1024 * 1024,
  maxRetainedPerStream: 256 * 1024,
  maxJump: 64 * 1024 * 1024,
};

/** Segments further than this from the stream position are noise, not data. */
const WINDOW = 1 << 30;

/** What one held piece costs besides its bytes (object, Buffer, slot), counted against budgets. */
export const PIECE_COST = 96;

/** A far jump waiting for a second packet to confirm it. */
interface FarJump {
  off: number;
  end: number;
  data: Buffer | null;
}

/**
 * What one direction of a connection amounts to: plain data on the connection's record, kept up
 * to date by its assembler (the flow table owns the assemblers; a recording player fills the same
 * facts without any).
 */
export interface DirectionFacts {
  /** The stream was joined mid-way: no SYN seen before its first byte. */
  midstream: boolean;
  synSeen: boolean;
  /** The stream continues one dropped for idleness: it started at a known sequence number. */
  resumed: boolean;
  ended: StreamEnd | null;
  readonly stats: StreamStats;
}

export function newDirectionFacts(): DirectionFacts {
  return {
    midstream: false,
    synSeen: false,
    resumed: false,
    ended: null,
    stats: { bytes: 0, gaps: 0, gapBytes: 0, overlapConflicts: 0, retransmittedBytes: 0, outOfOrderSegments: 0, afterEndBytes: 0, outOfWindow: 0 },
  };
}

export class TcpStreamAssembler {
  started = false;
  isn = 0;
  /** Offset of the next byte to deliver. */
  nextOff = 0;
  /** Highest offset any segment (or FIN) of this direction reached, captured or not. */
  maxEnd = 0;
  finOff = -1;

  /** Sequence number of nextOff. */
  private baseSeq = 0;
  private readonly pending = new RangeStore();
  /** What the pending store costs (bytes + PIECE_COST a piece), as last added to the budget. */
  private pendingCost = 0;
  private readonly retained: RetainedWindow;
  private far: FarJump | null = null;

  constructor(
    private readonly sink: StreamSink,
    private readonly budget: ReassemblyBudget = new ReassemblyBudget(),
    private readonly opts: AssemblerOptions = DEFAULT_ASSEMBLER_OPTIONS,
    /** Where this direction's facts go (the connection record's). */
    readonly facts: DirectionFacts = newDirectionFacts(),
  ) {
    this.retained = new RetainedWindow(opts.maxRetainedPerStream, budget);
  }

  get stats(): StreamStats {
    return this.facts.stats;
  }
  get synSeen(): boolean {
    return this.facts.synSeen;
  }
  get midstream(): boolean {
    return this.facts.midstream;
  }
  get resumed(): boolean {
    return this.facts.resumed;
  }
  get ended(): StreamEnd | null {
    return this.facts.ended;
  }

  /** The sequence number of the next byte to deliver (of nextOff). */
  get nextSeq(): number {
    return this.baseSeq;
  }

  /**
   * Continue a stream another assembler followed until it was dropped (idle eviction): bytes
   * start at sequence number `seq`, which is stream offset `offset`. Anything before it was
   * delivered (or reported as a gap) already; anything missing after it will be a gap.
   */
  resumeAt(seq: number, offset: number): void {
    this.start(seq);
    this.nextOff = offset;
    this.maxEnd = offset;
    this.facts.resumed = true;
  }

  /** Stream offset of a sequence number (wrap-safe within ±2^31 of the current position). */
  offsetOf(seq: number): number {
    return this.nextOff + seqDiff(seq, this.baseSeq);
  }

  segment(seq: number, syn: boolean, fin: boolean, data: Buffer, declaredLen: number, ts: number): void {
    if (this.facts.ended !== null) {
      this.facts.stats.afterEndBytes += declaredLen;
      return;
    }
    let dataSeq = seq;
    if (syn) {
      // a SYN (re)starts the stream while nothing has been delivered or held:
      // retransmitted SYNs and SYN-ACKs with a new ISN take the latest ISN
      if (!this.started || (this.facts.synSeen && this.facts.stats.bytes === 0 && this.pending.count === 0 && this.facts.stats.gaps === 0)) {
        this.start(seqAdd(seq, 1));
        this.facts.synSeen = true;
        this.isn = seq;
      }
      dataSeq = seqAdd(seq, 1);
    } else if (!this.started) {
      if (declaredLen === 0 && !fin) return;
      this.start(seq);
      this.facts.midstream = true;
    }
    const off = this.offsetOf(dataSeq);
    if (off < this.nextOff - WINDOW) {
      this.facts.stats.outOfWindow++;
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
    if (!this.started || this.facts.ended !== null) return;
    const ackOff = this.offsetOf(ackSeq);
    if (ackOff <= this.nextOff) {
      this.retained.release(ackOff);
      return;
    }
    if (this.isFarJump(ackOff) && !this.confirmJump(ackOff, ackOff, null, ts)) return;
    this.retained.release(ackOff);
    // the peer has bytes we never saw: every hole before the acknowledged point is lost to us
    let holeEnd = ackOff;
    if (this.finOff >= 0 && holeEnd > this.finOff) holeEnd = this.finOff;
    // an ACK is evidence of bytes this capture never saw (even past the last segment seen)
    if (holeEnd > this.maxEnd) this.maxEnd = holeEnd;
    if (holeEnd <= this.nextOff) return;
    while (this.nextOff < holeEnd && this.facts.ended === null) {
      const first = this.pending.first();
      this.gapTo(first && first.off < holeEnd ? first.off : holeEnd, 'ack', ts);
      this.flushPending(ts);
    }
  }

  /** End the stream: deliver everything held, with gaps for the holes, then end(reason). */
  close(reason: StreamEnd, ts: number): void {
    if (this.facts.ended !== null) return;
    for (let first = this.pending.first(); first && this.facts.ended === null; first = this.pending.first()) {
      if (first.off > this.nextOff) this.gapTo(first.off, 'close', ts);
      this.flushPending(ts);
    }
    if (this.facts.ended !== null) return;
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
      this.facts.stats.outOfWindow++;
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
    if (this.finOff >= 0 && this.nextOff >= this.finOff && this.facts.ended === null) this.finish('fin', ts);
  }

  private finish(reason: StreamEnd, ts: number): void {
    this.facts.ended = reason;
    this.pending.clear();
    this.syncPending();
    this.retained.free();
    this.sink.end(reason, ts);
  }

  private insert(off: number, data: Buffer, ts: number): void {
    const next = this.nextOff;
    if (off < next) {
      const old = Math.min(data.length, next - off);
      this.facts.stats.overlapConflicts += this.retained.conflicts(off, data.subarray(0, old));
      this.facts.stats.retransmittedBytes += old;
      if (old === data.length) return; // case 1
      data = data.subarray(old); // case 2
      off = next;
    }
    if (this.pending.count === 0 && off === next) {
      this.deliver(data, ts); // in order with nothing held: handed on as it came, no copy
      return;
    }
    // cases 3-5: the range store keeps what is new and reports what repeats
    const added = this.pending.insert(off, data, this.onOverlap);
    if (added > 0 && off > this.nextOff) this.facts.stats.outOfOrderSegments++;
    this.flushPending(ts);
    this.enforceBudget(ts);
  }

  private readonly onOverlap = (held: Buffer, again: Buffer): void => {
    this.facts.stats.retransmittedBytes += held.length;
    this.countConflicts(held, again);
  };

  /** Over a budget: give up on the first hole (a gap) and deliver what follows it. */
  private enforceBudget(ts: number): void {
    while (
      this.pending.count > 0 &&
      this.facts.ended === null &&
      (this.pendingCost > this.opts.maxPendingPerStream || this.budget.pending > this.budget.maxPending)
    ) {
      const first = this.pending.first()!;
      if (first.off > this.nextOff) this.gapTo(first.off, 'buffer', ts);
      this.flushPending(ts);
    }
  }

  /** Bring the shared budget up to date with the pending store. */
  private syncPending(): void {
    const cost = this.pending.bytes + this.pending.count * PIECE_COST;
    this.budget.pending += cost - this.pendingCost;
    this.pendingCost = cost;
  }

  private flushPending(ts: number): void {
    const pending = this.pending;
    for (let first = pending.first(); first && first.off <= this.nextOff; first = pending.first()) {
      const s = pending.shift()!;
      const end = s.off + s.data.length;
      if (end <= this.nextOff) continue;
      this.deliver(s.off === this.nextOff ? s.data : s.data.subarray(this.nextOff - s.off), ts);
      if (this.facts.ended !== null) break;
    }
    this.syncPending();
    this.checkFin(ts);
  }

  private deliver(data: Buffer, ts: number): void {
    const off = this.nextOff;
    if (this.finOff >= 0 && off + data.length > this.finOff) {
      // bytes beyond the FIN are not part of the stream
      const keep = Math.max(0, this.finOff - off);
      this.facts.stats.afterEndBytes += data.length - keep;
      data = data.subarray(0, keep);
      if (data.length === 0) return;
    }
    this.nextOff = off + data.length;
    this.baseSeq = seqAdd(this.baseSeq, data.length);
    this.facts.stats.bytes += data.length;
    this.retained.add(off, data);
    this.sink.data(data, off, ts);
  }

  private gapTo(upTo: number, reason: GapReason, ts: number): void {
    const n = upTo - this.nextOff;
    const off = this.nextOff;
    this.nextOff = upTo;
    this.baseSeq = seqAdd(this.baseSeq, n);
    this.facts.stats.gaps++;
    this.facts.stats.gapBytes += n;
    this.sink.gap(n, off, ts, reason);
  }

  private countConflicts(first: Buffer, again: Buffer): void {
    this.facts.stats.overlapConflicts += differing(first, 0, again, 0, first.length);
  }
}
