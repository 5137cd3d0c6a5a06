import { RangeStore } from '../core/ranges';
import type { DecodedPacket } from './packet';

/**
 * IPv4 and IPv6 fragment reassembly. Call order: for every packet the decoder
 * marks 'fragment', `push(pkt, ts)`; when it returns a Buffer, that is a whole
 * IP packet (header + reassembled payload) to decode again as raw IP. Call
 * `expire(ts)` now and then to drop datagrams that never completed.
 * Memory is bounded by maxBytes (a fragment counts PIECE_COST besides its
 * bytes); overlapping fragments keep the first copy (the range store's rule).
 * Fragments that contradict each other (a piece past the end the last
 * fragment gave, two different ends) make the datagram inconsistent: it is
 * counted and never built.
 */

interface Pending {
  version: number;
  header: Buffer; // IPv4 header or IPv6 fixed header of the first fragment
  nextHeader: number; // IPv6: the protocol after the fragment header
  pieces: RangeStore;
  totalLen: number; // -1 until the last fragment is seen
  firstTs: number;
  /** Why it cannot complete ('' while it can): a fragment cut by the capture, or contradictory fragments. */
  broken: '' | 'truncated' | 'inconsistent';
}

/** What one held fragment costs besides its bytes. */
const PIECE_COST = 96;

export interface DefragStats {
  fragments: number;
  reassembled: number;
  expired: number;
  overlaps: number;
  truncated: number;
  /** Datagrams whose fragments contradict each other (past the end, or two ends). */
  inconsistent: number;
  dropped: number;
}

export class Defragmenter {
  readonly stats: DefragStats = { fragments: 0, reassembled: 0, expired: 0, overlaps: 0, truncated: 0, inconsistent: 0, dropped: 0 };
  private readonly table = new Map<string, Pending>();
  private bytes = 0;

  constructor(
    private readonly maxBytes = 16 * 1024 * 1024,
    private readonly timeoutUs = 30e6,
  ) {}

  push(p: DecodedPacket, ts: number): Buffer | null {
    this.stats.fragments++;
    const buf = p.buf;
    const v6 = p.ipVersion === 6;
    const dataStart = v6 ? p.frag6Off + 8 : p.l3Off + p.ipHdrLen;
    const dataEnd = p.ipEnd;
    const key =
      p.ipVersion +
      buf.toString('latin1', p.srcOff, p.srcOff + p.addrLen) +
      buf.toString('latin1', p.dstOff, p.dstOff + p.addrLen) +
      ':' +
      p.ipId +
      ':' +
      (v6 ? buf[p.frag6Off] : p.protocol);
    let e = this.table.get(key);
    if (!e) {
      e = {
        version: p.ipVersion,
        header: Buffer.alloc(0),
        nextHeader: v6 ? buf[p.frag6Off]! : p.protocol,
        pieces: new RangeStore(),
        totalLen: -1,
        firstTs: ts,
        broken: '',
      };
      this.table.set(key, e);
    }
    if (e.broken) return null; // kept so later fragments are recognised, holding no data
    if (dataEnd > p.end || dataEnd < dataStart) return this.breakOff(e, 'truncated');
    const off = p.fragOffset;
    const end = off + (dataEnd - dataStart);
    if (!p.mf) {
      if (e.totalLen >= 0 && e.totalLen !== end) return this.breakOff(e, 'inconsistent');
      e.totalLen = end;
    }
    if (e.totalLen >= 0 && Math.max(end, e.pieces.last()) > e.totalLen) return this.breakOff(e, 'inconsistent');
    if (p.fragOffset === 0) e.header = Buffer.from(buf.subarray(p.l3Off, v6 ? p.l3Off + 40 : dataStart));
    const before = cost(e);
    e.pieces.insert(off, buf.subarray(dataStart, dataEnd), this.onOverlap);
    this.bytes += cost(e) - before;
    this.enforceBudget();
    if (e.totalLen < 0 || e.header.length === 0 || !this.table.has(key)) return null;
    if (!e.pieces.covers(0, e.totalLen)) return null;
    this.remove(key, e);
    // the length fields hold 16 bits: a larger datagram is an attack (ping of death), not traffic
    if ((e.version === 4 ? e.header.length : 0) + e.totalLen > 0xffff) {
      this.stats.inconsistent++;
      return null;
    }
    this.stats.reassembled++;
    return this.build(e);
  }

  private readonly onOverlap = (): void => {
    this.stats.overlaps++;
  };

  private breakOff(e: Pending, why: 'truncated' | 'inconsistent'): null {
    e.broken = why;
    this.stats[why]++;
    this.bytes -= cost(e);
    e.pieces.clear();
    return null;
  }

  expire(ts: number): void {
    for (const [key, e] of this.table) {
      if (ts - e.firstTs <= this.timeoutUs) break; // insertion order is age order
      this.remove(key, e);
      this.stats.expired++;
    }
  }

  private enforceBudget(): void {
    for (const [key, e] of this.table) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(key, e);
      this.stats.dropped++;
    }
  }

  private remove(key: string, e: Pending): void {
    this.bytes -= cost(e);
    this.table.delete(key);
  }

  private build(e: Pending): Buffer {
    const hlen = e.header.length;
    const out = Buffer.allocUnsafe(hlen + e.totalLen);
    e.header.copy(out, 0);
    for (const pc of e.pieces) pc.data.copy(out, hlen + pc.off);
    if (e.version === 4) {
      out.writeUInt16BE(hlen + e.totalLen, 2);
      out.writeUInt16BE(out.readUInt16BE(6) & 0x4000, 6); // keep DF, clear MF and offset
    } else {
      out.writeUInt16BE(e.totalLen, 4);
      out[6] = e.nextHeader;
    }
    return out;
  }
}

function cost(e: Pending): number {
  return e.pieces.bytes + e.pieces.count * PIECE_COST;
}
