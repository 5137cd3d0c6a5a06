/**
 * Small captures built in code, as fuzzing seeds that every clone has: IPv4 and IPv6, TCP with
 * handshake, data and FIN, UDP, IPv4 and IPv6 fragments, in pcap (both byte orders, µs and ns)
 * and pcapng (both byte orders, options, several block types), over Ethernet and raw IP.
 */

import { parseIp } from '../packet/address';
import { buildIpPacket, inetChecksum } from '../packet/build';

export interface Pkt {
  /** An IP packet (no link header). */
  ip: Buffer;
  /** µs. */
  ts: number;
}

interface Addr {
  src: string;
  dst: string;
  v6: boolean;
}

let ipIdCounter = 1;

function addr(a: string): Buffer {
  const b = parseIp(a);
  if (!b) throw new Error(`fuzz seed: bad address ${a}`);
  return b;
}

export function ipPacket(a: Addr, proto: number, l4: Buffer, csumAt?: number): Buffer {
  return buildIpPacket({ src: addr(a.src), dst: addr(a.dst), proto, l4, csumAt, ipId: ipIdCounter++ });
}

const FLAGS: Record<string, number> = { F: 1, S: 2, R: 4, P: 8, A: 16 };

export function tcp(a: Addr, sport: number, dport: number, seq: number, ack: number, flags: string, payload: Buffer = Buffer.alloc(0), options: Buffer = Buffer.alloc(0)): Buffer {
  const th = Buffer.alloc(20 + options.length + payload.length);
  th.writeUInt16BE(sport, 0);
  th.writeUInt16BE(dport, 2);
  th.writeUInt32BE(seq >>> 0, 4);
  th.writeUInt32BE(ack >>> 0, 8);
  th[12] = ((20 + options.length) / 4) << 4;
  let f = 0;
  for (const ch of flags) f |= FLAGS[ch] ?? 0;
  th[13] = f;
  th.writeUInt16BE(65535, 14);
  options.copy(th, 20);
  payload.copy(th, 20 + options.length);
  return ipPacket(a, 6, th, 16);
}

export function udp(a: Addr, sport: number, dport: number, payload: Buffer): Buffer {
  const uh = Buffer.alloc(8 + payload.length);
  uh.writeUInt16BE(sport, 0);
  uh.writeUInt16BE(dport, 2);
  uh.writeUInt16BE(8 + payload.length, 4);
  payload.copy(uh, 8);
  return ipPacket(a, 17, uh, 6);
}

/** An IPv4 packet cut into fragments of `size` payload bytes (a multiple of 8). */
export function fragment4(pkt: Buffer, size: number): Buffer[] {
  const hl = (pkt[0]! & 0x0f) * 4;
  const payload = pkt.subarray(hl);
  const out: Buffer[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const part = payload.subarray(off, off + size);
    const h = Buffer.from(pkt.subarray(0, hl));
    h.writeUInt16BE(hl + part.length, 2);
    h.writeUInt16BE(((off + size < payload.length ? 0x2000 : 0) | (off / 8)) & 0xffff, 6);
    h.writeUInt16BE(0, 10);
    h.writeUInt16BE(inetChecksum([h]), 10);
    out.push(Buffer.concat([h, part]));
  }
  return out;
}

/** An IPv6 packet cut into fragments (a Fragment extension header in each). */
export function fragment6(pkt: Buffer, size: number, id: number): Buffer[] {
  const next = pkt[6]!;
  const payload = pkt.subarray(40);
  const out: Buffer[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const part = payload.subarray(off, off + size);
    const h = Buffer.from(pkt.subarray(0, 40));
    h[6] = 44;
    h.writeUInt16BE(8 + part.length, 4);
    const fh = Buffer.alloc(8);
    fh[0] = next;
    fh.writeUInt16BE(off | (off + size < payload.length ? 1 : 0), 2);
    fh.writeUInt32BE(id, 4);
    out.push(Buffer.concat([h, fh, part]));
  }
  return out;
}

/** A whole TCP conversation: handshake, the frames each way, FIN both ways. */
export function conversation(a: Addr, cport: number, sport: number, frames: { c2s: boolean; bytes: Buffer }[], t0: number): Pkt[] {
  const back: Addr = { src: a.dst, dst: a.src, v6: a.v6 };
  let cs = 1000;
  let ss = 500000;
  let ts = t0;
  const out: Pkt[] = [];
  const put = (ip: Buffer) => out.push({ ip, ts: (ts += 100) });
  put(tcp(a, cport, sport, cs, 0, 'S'));
  put(tcp(back, sport, cport, ss, cs + 1, 'SA'));
  cs++;
  ss++;
  put(tcp(a, cport, sport, cs, ss, 'A'));
  for (const f of frames) {
    if (f.c2s) {
      put(tcp(a, cport, sport, cs, ss, 'PA', f.bytes));
      cs += f.bytes.length;
    } else {
      put(tcp(back, sport, cport, ss, cs, 'PA', f.bytes));
      ss += f.bytes.length;
    }
  }
  put(tcp(a, cport, sport, cs, ss, 'FA'));
  put(tcp(back, sport, cport, ss, cs + 1, 'FA'));
  put(tcp(a, cport, sport, cs + 1, ss + 1, 'A'));
  return out;
}

function ethernet(ip: Buffer, vlan = false): Buffer {
  const e = Buffer.alloc(vlan ? 18 : 14);
  e.writeUInt32BE(0x02000000, 0);
  e.writeUInt16BE(0x0001, 4);
  e.writeUInt32BE(0x02000000, 6);
  e.writeUInt16BE(0x0002, 10);
  let o = 12;
  if (vlan) {
    e.writeUInt16BE(0x8100, 12);
    e.writeUInt16BE(7, 14);
    o = 16;
  }
  e.writeUInt16BE(ip[0]! >> 4 === 6 ? 0x86dd : 0x0800, o);
  return Buffer.concat([e, ip]);
}

export type Link = 'ethernet' | 'raw' | 'sll' | 'null';
const LINK_NUM: Record<Link, number> = { ethernet: 1, raw: 101, sll: 113, null: 0 };

function linkFrame(link: Link, ip: Buffer, i: number): Buffer {
  switch (link) {
    case 'ethernet':
      return ethernet(ip, i % 7 === 3);
    case 'sll': {
      const h = Buffer.alloc(16);
      h.writeUInt16BE(i % 2 ? 4 : 0, 0);
      h.writeUInt16BE(772, 2);
      h.writeUInt16BE(6, 4);
      h.writeUInt16BE(ip[0]! >> 4 === 6 ? 0x86dd : 0x0800, 14);
      return Buffer.concat([h, ip]);
    }
    case 'null': {
      const h = Buffer.alloc(4);
      h.writeUInt32LE(ip[0]! >> 4 === 6 ? 30 : 2, 0);
      return Buffer.concat([h, ip]);
    }
    default:
      return ip;
  }
}

export function pcap(pkts: Pkt[], o: { le: boolean; ns: boolean; link: Link; snap?: number }): Buffer {
  const parts: Buffer[] = [];
  const h = Buffer.alloc(24);
  const u32 = (b: Buffer, v: number, off: number) => (o.le ? b.writeUInt32LE(v >>> 0, off) : b.writeUInt32BE(v >>> 0, off));
  const u16 = (b: Buffer, v: number, off: number) => (o.le ? b.writeUInt16LE(v, off) : b.writeUInt16BE(v, off));
  u32(h, o.ns ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  u16(h, 2, 4);
  u16(h, 4, 6);
  u32(h, o.snap ?? 262144, 16);
  u32(h, LINK_NUM[o.link], 20);
  parts.push(h);
  pkts.forEach((p, i) => {
    const full = linkFrame(o.link, p.ip, i);
    const data = o.snap ? full.subarray(0, o.snap) : full;
    const r = Buffer.alloc(16);
    u32(r, Math.floor(p.ts / 1e6), 0);
    u32(r, o.ns ? (p.ts % 1e6) * 1000 : p.ts % 1e6, 4);
    u32(r, data.length, 8);
    u32(r, full.length, 12);
    parts.push(r, data);
  });
  return Buffer.concat(parts);
}

interface NgWriter {
  le: boolean;
  parts: Buffer[];
}

function ngBlock(w: NgWriter, type: number, body: Buffer): void {
  const pad = (4 - (body.length % 4)) % 4;
  const total = 12 + body.length + pad;
  const b = Buffer.alloc(total);
  const u32 = (v: number, off: number) => (w.le ? b.writeUInt32LE(v >>> 0, off) : b.writeUInt32BE(v >>> 0, off));
  u32(type, 0);
  u32(total, 4);
  body.copy(b, 8);
  u32(total, total - 4);
  w.parts.push(b);
}

function ngOptions(le: boolean, opts: [number, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  for (const [code, v] of opts) {
    const h = Buffer.alloc(4);
    le ? h.writeUInt16LE(code, 0) : h.writeUInt16BE(code, 0);
    le ? h.writeUInt16LE(v.length, 2) : h.writeUInt16BE(v.length, 2);
    parts.push(h, v, Buffer.alloc((4 - (v.length % 4)) % 4));
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

function u64(le: boolean, v: number): Buffer {
  const b = Buffer.alloc(8);
  le ? b.writeBigUInt64LE(BigInt(v)) : b.writeBigUInt64BE(BigInt(v));
  return b;
}

/** A pcapng section: SHB, IDBs (with options), then EPBs, an SPB, a PB, an NRB, an unknown block, an ISB. */
export function pcapngSection(w: NgWriter, pkts: Pkt[], o: { links: Link[]; tsresol?: number; tsoffset?: number; extras?: boolean }): void {
  const le = w.le;
  const shb = Buffer.alloc(16);
  le ? shb.writeUInt32LE(0x1a2b3c4d, 0) : shb.writeUInt32BE(0x1a2b3c4d, 0);
  le ? shb.writeUInt16LE(1, 4) : shb.writeUInt16BE(1, 4);
  shb.writeInt32LE(-1, 8);
  shb.writeInt32LE(-1, 12);
  ngBlock(w, 0x0a0d0d0a, Buffer.concat([shb, ngOptions(le, [[4, Buffer.from('gamesniff fuzz')]])]));
  for (const link of o.links) {
    const idb = Buffer.alloc(8);
    le ? idb.writeUInt16LE(LINK_NUM[link], 0) : idb.writeUInt16BE(LINK_NUM[link], 0);
    le ? idb.writeUInt32LE(262144, 4) : idb.writeUInt32BE(262144, 4);
    const opts: [number, Buffer][] = [[2, Buffer.from('lo')]];
    if (o.tsresol !== undefined) opts.push([9, Buffer.from([o.tsresol])]);
    if (o.tsoffset !== undefined) opts.push([14, u64(le, o.tsoffset)]);
    ngBlock(w, 1, Buffer.concat([idb, ngOptions(le, opts)]));
  }
  const units = o.tsresol === undefined ? 1 : o.tsresol & 0x80 ? 2 ** (o.tsresol & 0x7f) / 1e6 : 10 ** o.tsresol / 1e6;
  pkts.forEach((p, i) => {
    const ifi = i % o.links.length;
    const data = linkFrame(o.links[ifi]!, p.ip, i);
    const ts = BigInt(Math.round(p.ts * units));
    const hi = Number(ts >> 32n);
    const lo = Number(ts & 0xffffffffn);
    if (o.extras && i === 1 && ifi === 0) {
      // a Simple Packet Block (interface 0, no timestamp)
      const spb = Buffer.alloc(4);
      le ? spb.writeUInt32LE(data.length, 0) : spb.writeUInt32BE(data.length, 0);
      ngBlock(w, 3, Buffer.concat([spb, data]));
      return;
    }
    const h = Buffer.alloc(20);
    const put32 = (v: number, off: number) => (le ? h.writeUInt32LE(v >>> 0, off) : h.writeUInt32BE(v >>> 0, off));
    if (o.extras && i === 2) {
      // the obsolete Packet Block: u16 interface, u16 drops
      le ? h.writeUInt16LE(ifi, 0) : h.writeUInt16BE(ifi, 0);
      put32(hi, 4);
      put32(lo, 8);
      put32(data.length, 12);
      put32(data.length, 16);
      ngBlock(w, 2, Buffer.concat([h, data, ngOptions(le, [])]));
      return;
    }
    put32(ifi, 0);
    put32(hi, 4);
    put32(lo, 8);
    put32(data.length, 12);
    put32(data.length, 16);
    const opts = o.extras && i % 3 === 0 ? ngOptions(le, [[1, Buffer.from('comment')], [2, Buffer.from([0, 0, 0, 1])]]) : Buffer.alloc(0);
    ngBlock(w, 6, Buffer.concat([h, data, opts]));
  });
  if (o.extras) {
    // Name Resolution Block, an unknown block, an Interface Statistics Block with ifdrop
    const nrb = Buffer.alloc(4);
    le ? nrb.writeUInt16LE(1, 0) : nrb.writeUInt16BE(1, 0);
    le ? nrb.writeUInt16LE(12, 2) : nrb.writeUInt16BE(12, 2);
    ngBlock(w, 4, Buffer.concat([nrb, Buffer.from([127, 0, 0, 1]), Buffer.from('lhost\0\0\0'), Buffer.alloc(4)]));
    ngBlock(w, 0x0bad, Buffer.from('unknown block'));
    const isb = Buffer.alloc(12);
    ngBlock(w, 5, Buffer.concat([isb, ngOptions(le, [[5, u64(le, 3)]])]));
  }
}

export function pcapng(sections: { le: boolean; pkts: Pkt[]; links: Link[]; tsresol?: number; tsoffset?: number; extras?: boolean }[]): Buffer {
  const all: Buffer[] = [];
  for (const s of sections) {
    const w: NgWriter = { le: s.le, parts: [] };
    pcapngSection(w, s.pkts, s);
    all.push(...w.parts);
  }
  return Buffer.concat(all);
}
