/**
 * Structure-aware mutations of pcap and pcapng files: they find the records (blocks) and the IP,
 * TCP and UDP headers inside them, and change one thing while keeping the rest consistent, so a
 * case gets past the first length check and reaches the code behind it: blocks shrunk to a few
 * bytes (with their lengths fixed up), block types swapped, options of odd lengths, captured
 * lengths that disagree, fragments with other offsets and flags, header fields set to edge values.
 */
import type { Rng } from '../core/rng';

interface Rec {
  /** Offset of the record (pcap: its 16-byte header; pcapng: the block). */
  off: number;
  len: number;
  /** pcapng block type; -1 for pcap. */
  type: number;
  le: boolean;
  /** Offset and length of the packet bytes, when the record holds one. */
  data?: { off: number; len: number; link: number };
}

interface Parsed {
  format: 'pcap' | 'pcapng';
  le: boolean;
  recs: Rec[];
  /** Where the parse stopped (the rest is not understood). */
  end: number;
}

const u32 = (b: Buffer, off: number, le: boolean) => (le ? b.readUInt32LE(off) : b.readUInt32BE(off));
const u16 = (b: Buffer, off: number, le: boolean) => (le ? b.readUInt16LE(off) : b.readUInt16BE(off));
const w32 = (b: Buffer, off: number, v: number, le: boolean) => (le ? b.writeUInt32LE(v >>> 0, off) : b.writeUInt32BE(v >>> 0, off));
const w16 = (b: Buffer, off: number, v: number, le: boolean) => (le ? b.writeUInt16LE(v & 0xffff, off) : b.writeUInt16BE(v & 0xffff, off));

export function parseCapture(b: Buffer): Parsed | null {
  if (b.length < 12) return null;
  const be = b.readUInt32BE(0);
  if (be === 0x0a0d0d0a) {
    const recs: Rec[] = [];
    let off = 0;
    let le = true;
    const links: number[] = [];
    while (off + 12 <= b.length) {
      if (b.readUInt32BE(off) === 0x0a0d0d0a) {
        if (off + 12 > b.length) break;
        if (b.readUInt32LE(off + 8) === 0x1a2b3c4d) le = true;
        else if (b.readUInt32BE(off + 8) === 0x1a2b3c4d) le = false;
        else break;
        links.length = 0;
      }
      const type = u32(b, off, le);
      const len = u32(b, off + 4, le);
      if (len < 12 || len % 4 || off + len > b.length) break;
      const rec: Rec = { off, len, type, le };
      if (type === 1 && len >= 20) links.push(u16(b, off + 8, le));
      if ((type === 6 || type === 2) && len >= 32) {
        const ifi = type === 6 ? u32(b, off + 8, le) : u16(b, off + 8, le);
        const cap = u32(b, off + 20, le);
        if (off + 28 + cap <= off + len - 4) rec.data = { off: off + 28, len: cap, link: links[ifi] ?? 1 };
      }
      if (type === 3 && len >= 16) rec.data = { off: off + 12, len: len - 16, link: links[0] ?? 1 };
      recs.push(rec);
      off += len;
    }
    return { format: 'pcapng', le: recs[0]?.le ?? true, recs, end: off };
  }
  const le32 = b.readUInt32LE(0);
  const le = le32 === 0xa1b2c3d4 || le32 === 0xa1b23c4d;
  if (!le && be !== 0xa1b2c3d4 && be !== 0xa1b23c4d) return null;
  if (b.length < 24) return null;
  const link = u32(b, 20, le) & 0x0fffffff;
  const recs: Rec[] = [];
  let off = 24;
  while (off + 16 <= b.length) {
    const cap = u32(b, off + 8, le);
    if (off + 16 + cap > b.length) break;
    recs.push({ off, len: 16 + cap, type: -1, le, data: { off: off + 16, len: cap, link } });
    off += 16 + cap;
  }
  return { format: 'pcap', le, recs, end: off };
}

function linkHeaderLen(b: Buffer, d: { off: number; len: number; link: number }): number {
  switch (d.link) {
    case 1: {
      if (d.len < 14) return -1;
      let o = 12;
      while (o + 2 <= d.len && [0x8100, 0x88a8, 0x9100].includes(b.readUInt16BE(d.off + o))) o += 4;
      return o + 2;
    }
    case 0:
    case 108:
      return 4;
    case 113:
      return 16;
    case 276:
      return 20;
    case 9:
      return b[d.off] === 0xff ? 4 : 2;
    default:
      return 0;
  }
}

const EDGE16 = [0, 1, 7, 8, 19, 20, 21, 39, 40, 41, 0x3fff, 0x7fff, 0x8000, 0xfffe, 0xffff];
const EDGE32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x10000, 65535, 2 ** 31 - 65536];

/** One header field of the packet in a record set to an edge value (IP, fragments, TCP, UDP). */
function mutatePacket(r: Rng, b: Buffer, d: { off: number; len: number; link: number }): boolean {
  const lh = linkHeaderLen(b, d);
  if (lh < 0 || lh >= d.len) return false;
  const ip = d.off + lh;
  const end = d.off + d.len;
  const v = b[ip]! >> 4;
  if (v === 4 && ip + 20 <= end) {
    const ihl = (b[ip]! & 0x0f) * 4;
    const l4 = ip + ihl;
    const choices: (() => void)[] = [
      () => (b[ip] = 0x40 | r.pick([0, 4, 5, 6, 15])),
      () => b.writeUInt16BE(r.chance(0.5) ? r.pick(EDGE16) : Math.max(0, b.readUInt16BE(ip + 2) + r.pick([-8, -1, 1, 8, 100])) & 0xffff, ip + 2),
      // fragments: MF on/off, offsets moved, DF
      () => b.writeUInt16BE(b.readUInt16BE(ip + 6) ^ 0x2000, ip + 6),
      () => b.writeUInt16BE((b.readUInt16BE(ip + 6) & 0xe000) | r.pick([0, 1, 2, 3, 5, 0x1fff, r.below(0x2000)]), ip + 6),
      () => b.writeUInt16BE(r.pick([0x2000, 0x2001, 0x0001, 0x0002, 0x4000, 0x6000, 0x3fff]), ip + 6),
      () => b.writeUInt16BE(r.pick([0, 1, 0xffff]), ip + 4),
      () => (b[ip + 9] = r.pick([0, 1, 6, 17, 41, 58, 255])),
    ];
    if (l4 + 20 <= end && b[ip + 9] === 6) {
      choices.push(
        () => (b[l4 + 12] = (r.pick([0, 4, 5, 6, 15]) << 4) | (b[l4 + 12]! & 0x0f)),
        () => (b[l4 + 13] = r.pick([0x02, 0x12, 0x10, 0x11, 0x04, 0x14, 0x01, 0x18, 0x03, 0x07, 0xff, 0x00])),
        () => b.writeUInt32BE(r.pick(EDGE32), l4 + 4),
        () => b.writeUInt32BE(r.pick(EDGE32), l4 + 8),
        () => b.writeUInt32BE((b.readUInt32BE(l4 + 4) + r.pick([-1, 1, -100, 100, 65536, -65536, 2 ** 31])) >>> 0, l4 + 4),
      );
    }
    if (l4 + 8 <= end && b[ip + 9] === 17) choices.push(() => b.writeUInt16BE(r.pick(EDGE16), l4 + 4));
    r.pick(choices)();
    return true;
  }
  if (v === 6 && ip + 40 <= end) {
    const choices: (() => void)[] = [
      () => b.writeUInt16BE(r.pick(EDGE16), ip + 4),
      () => (b[ip + 6] = r.pick([0, 6, 17, 44, 43, 60, 0, 59, 58])),
    ];
    if (b[ip + 6] === 44 && ip + 48 <= end) {
      choices.push(
        () => b.writeUInt16BE(b.readUInt16BE(ip + 42) ^ 1, ip + 42),
        () => b.writeUInt16BE((r.pick([0, 1, 2, 3, 0x1fff, r.below(0x2000)]) << 3) | (b.readUInt16BE(ip + 42) & 1), ip + 42),
        () => (b[ip + 40] = r.pick([6, 17, 44, 0, 59])),
      );
    }
    r.pick(choices)();
    return true;
  }
  return false;
}

/** Rebuild a pcapng block with a body of `bodyLen` bytes (cut or zero-padded), lengths consistent. */
function ngBlock(b: Buffer, rec: Rec, bodyLen: number, type = rec.type): Buffer {
  const out = Buffer.alloc(12 + bodyLen);
  w32(out, 0, type, rec.le);
  w32(out, 4, 12 + bodyLen, rec.le);
  b.copy(out, 8, rec.off + 8, rec.off + 8 + Math.min(bodyLen, rec.len - 12));
  w32(out, 8 + bodyLen, 12 + bodyLen, rec.le);
  return out;
}

/** An option (code, length) put at the start of a block's option area, block lengths fixed up. */
function withOption(b: Buffer, rec: Rec, at: number, code: number, value: Buffer): Buffer {
  const opt = Buffer.alloc(4 + ((value.length + 3) & ~3));
  w16(opt, 0, code, rec.le);
  w16(opt, 2, value.length, rec.le);
  value.copy(opt, 4);
  const body = Buffer.concat([b.subarray(rec.off + 8, at), opt, b.subarray(at, rec.off + rec.len - 4)]);
  const out = Buffer.alloc(12 + body.length);
  w32(out, 0, rec.type, rec.le);
  w32(out, 4, out.length, rec.le);
  body.copy(out, 8);
  w32(out, out.length - 4, out.length, rec.le);
  return out;
}

function replace(b: Buffer, rec: Rec, by: Buffer): Buffer {
  return Buffer.concat([b.subarray(0, rec.off), by, b.subarray(rec.off + rec.len)]);
}

/** One structured mutation, or null when the bytes are not a capture we can parse. */
export function mutateCapture(r: Rng, b: Buffer): Buffer | null {
  const p = parseCapture(b);
  if (!p || !p.recs.length) return null;
  const rec = r.pick(p.recs);
  const packets = p.recs.filter((x) => x.data && x.data.len > 0);
  const op = r.below(10);
  // packet header fields: the most common, they reach defragmentation, reassembly and decoding
  if (op < 4 && packets.length) {
    const out = Buffer.from(b);
    for (let k = r.small(3); k > 0; k--) mutatePacket(r, out, r.pick(packets).data!);
    return out;
  }
  switch (op) {
    case 4: {
      // remove, duplicate or swap records
      const other = r.pick(p.recs);
      const a = b.subarray(rec.off, rec.off + rec.len);
      const o = b.subarray(other.off, other.off + other.len);
      const k = r.below(3);
      if (k === 0) return replace(b, rec, Buffer.alloc(0));
      if (k === 1) return replace(b, rec, Buffer.concat([a, a]));
      if (rec.off === other.off) return Buffer.concat([b.subarray(0, rec.off), a, b.subarray(rec.off)]);
      const [x, y, xb, yb] = rec.off < other.off ? [rec, other, a, o] : [other, rec, o, a];
      return Buffer.concat([b.subarray(0, x.off), yb, b.subarray(x.off + x.len, y.off), xb, b.subarray(y.off + y.len)]);
    }
    case 5:
      // cut at or just after a record boundary, or inside a record
      return b.subarray(0, r.chance(0.6) ? rec.off + rec.len - r.pick([0, 0, 1, 2, 4, 8]) : rec.off + r.below(rec.len));
    default:
      break;
  }
  if (p.format === 'pcap') {
    const out = Buffer.from(b);
    const k = r.below(4);
    if (k === 0) w32(out, 20, r.pick([0, 1, 9, 12, 14, 101, 108, 113, 228, 229, 276, 147, 0x10000001, r.u32()]), p.le);
    else if (k === 1) w32(out, 16, r.pick([0, 1, 14, 20, 54, 65535, 0xffffffff]), p.le);
    else if (k === 2) w32(out, rec.off + 12, r.pick([0, 1, rec.len - 17, rec.len - 15, 65535, 0xffffffff]), p.le);
    else {
      // caplen that disagrees with the record, shrinking the record to match
      const cap = r.pick([0, 1, 13, 14, 19, 20, 33, 34, 39, 40, 53, 54]);
      if (cap < rec.len - 16) {
        const hdr = Buffer.from(b.subarray(rec.off, rec.off + 16));
        w32(hdr, 8, cap, p.le);
        return replace(b, rec, Buffer.concat([hdr, b.subarray(rec.off + 16, rec.off + 16 + cap)]));
      }
      w32(out, rec.off + 8, cap, p.le);
    }
    return out;
  }
  // pcapng
  const body = rec.len - 12;
  switch (r.below(6)) {
    case 0:
      // a block cut down to a few bytes of body: 0 (12-byte block), 4, 8...
      return replace(b, rec, ngBlock(b, rec, Math.min(body, r.pick([0, 0, 4, 8, 12, 16, 20, 24, 28]))));
    case 1:
      // another type with the same body
      return replace(b, rec, ngBlock(b, rec, body, r.pick([1, 2, 3, 4, 5, 6, 10, 0x0bad, 0x80000001, 0x40000bad])));
    case 2: {
      // an option of an odd length in an IDB (if_tsresol 9, if_tsoffset 14...) or an ISB (ifdrop 5)
      const code = r.pick([9, 14, 5, 2, 1, 0, 12, 13, 0xffff]);
      const value = Buffer.alloc(r.pick([0, 1, 2, 3, 4, 7, 8, 9]), r.pick([0, 0xff, 0x7f, 0x80, 20, 64]));
      if (rec.type === 1 && body >= 8) return replace(b, rec, withOption(b, rec, rec.off + 16, code, value));
      if (rec.type === 5 && body >= 12) return replace(b, rec, withOption(b, rec, rec.off + 20, code, value));
      if (rec.type === 0x0a0d0d0a && body >= 16) return replace(b, rec, withOption(b, rec, rec.off + 24, code, value));
      return replace(b, rec, ngBlock(b, rec, Math.min(body, 8)));
    }
    case 3: {
      // EPB/PB fields: interface, timestamps, captured and original lengths
      const out = Buffer.from(b);
      if ((rec.type === 6 || rec.type === 2) && body >= 20) {
        const k = r.below(4);
        if (k === 0) w32(out, rec.off + 8, r.pick([1, 2, 3, 0xffff, 0xffffffff]), rec.le);
        else if (k === 1) w32(out, rec.off + 12, r.pick(EDGE32), rec.le);
        else if (k === 2) w32(out, rec.off + 20, r.pick([0, 1, body - 20, body - 19, body - 21, 0xffffffff]), rec.le);
        else w32(out, rec.off + 24, r.pick([0, 1, 0xffffffff]), rec.le);
      } else if (rec.type === 1 && body >= 8) {
        w16(out, rec.off + 8, r.pick([0, 1, 9, 101, 113, 276, 147, 0xffff]), rec.le);
      } else if (rec.type === 0x0a0d0d0a && body >= 16) {
        // the byte-order magic of a section swapped or broken
        w32(out, rec.off + 8, r.pick([0x4d3c2b1a, 0, 0x1a2b3c4d]), !rec.le);
      }
      return out;
    }
    case 4: {
      // the trailing length disagrees with the leading one
      const out = Buffer.from(b);
      w32(out, rec.off + rec.len - 4, r.pick([0, 12, rec.len + 4, 0xffffffff]), rec.le);
      return out;
    }
    default: {
      // a second section of the other byte order, made of blocks of this one
      const tail = b.subarray(p.recs[0]!.off, p.end);
      const flipped = Buffer.from(tail);
      for (const x of p.recs) {
        const o = x.off - p.recs[0]!.off;
        if (x.type === 0x0a0d0d0a) w32(flipped, o + 8, 0x1a2b3c4d, !x.le);
        else w32(flipped, o, x.type, !x.le);
        w32(flipped, o + 4, x.len, !x.le);
        w32(flipped, o + x.len - 4, x.len, !x.le);
      }
      return Buffer.concat([b, flipped]);
    }
  }
}
