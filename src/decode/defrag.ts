import type { DecodedPacket } from './packet';

/**
 * IPv4 and IPv6 fragment reassembly. Call order: for every packet the decoder
 * marks 'fragment', `push(pkt, ts)`; when it returns a Buffer, that is a whole
 * IP packet (header + reassembled payload) to decode again as raw IP. Call
 * `expire(ts)` now and then to drop datagrams that never completed.
 * Memory is bounded by maxBytes; overlapping fragments keep the first copy.
 */

interface Piece {
  off: number;
  data: Buffer;
}

interface Pending {
  version: number;
  header: Buffer; // IPv4 header or IPv6 fixed header of the first fragment
  nextHeader: number; // IPv6: the protocol after the fragment header
  pieces: Piece[];
  totalLen: number; // -1 until the last fragment is seen
  bytes: number;
  firstTs: number;
  broken: boolean; // a fragment was truncated by the capture: cannot complete
}

export interface DefragStats {
  fragments: number;
  reassembled: number;
  expired: number;
  overlaps: number;
  truncated: number;
  dropped: number;
}

export class Defragmenter {
  readonly stats: DefragStats = { fragments: 0, reassembled: 0, expired: 0, overlaps: 0, truncated: 0, dropped: 0 };
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
        pieces: [],
        totalLen: -1,
        bytes: 0,
        firstTs: ts,
        broken: false,
      };
      this.table.set(key, e);
    }
    if (dataEnd > buf.length || dataEnd < dataStart) {
      e.broken = true;
      this.stats.truncated++;
    }
    if (e.broken) {
      // keep the entry so later fragments are recognised, but hold no data
      this.bytes -= e.bytes;
      e.pieces = [];
      e.bytes = 0;
      return null;
    }
    if (p.fragOffset === 0) e.header = Buffer.from(buf.subarray(p.l3Off, v6 ? p.l3Off + 40 : dataStart));
    const off = p.fragOffset;
    const end = off + (dataEnd - dataStart);
    if (!p.mf) e.totalLen = end;
    this.insert(e, off, buf.subarray(dataStart, dataEnd));
    this.enforceBudget();
    if (e.totalLen < 0 || e.header.length === 0) return null;
    // complete when the pieces cover [0, totalLen) without holes
    let covered = 0;
    for (const pc of e.pieces) {
      if (pc.off > covered) return null;
      covered = Math.max(covered, pc.off + pc.data.length);
    }
    if (covered < e.totalLen) return null;
    this.remove(key, e);
    this.stats.reassembled++;
    return this.build(e);
  }

  expire(ts: number): void {
    for (const [key, e] of this.table) {
      if (ts - e.firstTs <= this.timeoutUs) break; // insertion order is age order
      this.remove(key, e);
      this.stats.expired++;
    }
  }

  private insert(e: Pending, off: number, data: Buffer): void {
    const end = off + data.length;
    const pieces = e.pieces;
    let i = 0;
    while (i < pieces.length && pieces[i]!.off + pieces[i]!.data.length <= off) i++;
    let cur = off;
    const add: Piece[] = [];
    while (cur < end) {
      const pc = pieces[i];
      if (pc && pc.off < end) {
        if (pc.off > cur) add.push({ off: cur, data: Buffer.from(data.subarray(cur - off, pc.off - off)) });
        if (pc.off + pc.data.length > cur) this.stats.overlaps++;
        cur = Math.max(cur, pc.off + pc.data.length);
        i++;
      } else {
        add.push({ off: cur, data: Buffer.from(data.subarray(cur - off)) });
        cur = end;
      }
    }
    for (const a of add) {
      e.bytes += a.data.length;
      this.bytes += a.data.length;
      pieces.push(a);
    }
    if (add.length) pieces.sort((a, b) => a.off - b.off);
  }

  private enforceBudget(): void {
    for (const [key, e] of this.table) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(key, e);
      this.stats.dropped++;
    }
  }

  private remove(key: string, e: Pending): void {
    this.bytes -= e.bytes;
    this.table.delete(key);
  }

  private build(e: Pending): Buffer {
    const hlen = e.header.length;
    const out = Buffer.allocUnsafe(hlen + e.totalLen);
    e.header.copy(out, 0);
    for (const pc of e.pieces) pc.data.copy(out, hlen + pc.off, 0, Math.min(pc.data.length, e.totalLen - pc.off));
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
