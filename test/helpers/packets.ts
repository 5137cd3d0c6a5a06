/** Builders for synthetic packets: Ethernet/IPv4/IPv6 + TCP/UDP, with correct lengths. */

import { parseIp } from '../../src/packet/address';
import { buildIpPacket } from '../../src/packet/build';

export interface TcpSpec {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  seq: number;
  ack?: number;
  flags: string; // letters: S A F R P
  payload?: Buffer;
  window?: number;
  ipId?: number;
  v6?: boolean;
  options?: Buffer;
}

const FLAG_BITS: Record<string, number> = { F: 1, S: 2, R: 4, P: 8, A: 16, U: 32 };

export function tcpSegment(s: TcpSpec): Buffer {
  const payload = s.payload ?? Buffer.alloc(0);
  const opts = s.options ?? Buffer.alloc(0);
  const th = Buffer.alloc(20 + opts.length);
  th.writeUInt16BE(s.sport ?? 40000, 0);
  th.writeUInt16BE(s.dport ?? 24000, 2);
  th.writeUInt32BE(s.seq >>> 0, 4);
  th.writeUInt32BE((s.ack ?? 0) >>> 0, 8);
  th[12] = ((20 + opts.length) / 4) << 4;
  let f = 0;
  for (const ch of s.flags) f |= FLAG_BITS[ch] ?? 0;
  th[13] = f;
  th.writeUInt16BE(s.window ?? 65535, 14);
  opts.copy(th, 20);
  return ipPacket(6, Buffer.concat([th, payload]), s.src, s.dst, s.ipId, s.v6);
}

export function udpDatagram(p: { src?: string; dst?: string; sport?: number; dport?: number; payload: Buffer; ipId?: number; v6?: boolean }): Buffer {
  const uh = Buffer.alloc(8);
  uh.writeUInt16BE(p.sport ?? 40000, 0);
  uh.writeUInt16BE(p.dport ?? 24001, 2);
  uh.writeUInt16BE(8 + p.payload.length, 4);
  return ipPacket(17, Buffer.concat([uh, p.payload]), p.src, p.dst, p.ipId, p.v6);
}

/** An IP packet (no link header) carrying `l4` as protocol `proto` (its transport checksum left as it is). */
export function ipPacket(proto: number, l4: Buffer, src?: string, dst?: string, ipId = 1, v6 = false): Buffer {
  const addr = (a: string | undefined) => parseIp(a ?? (v6 ? '::1' : '127.0.0.1'))!;
  return buildIpPacket({ src: addr(src), dst: addr(dst), proto, l4, ipId });
}

export function ethernet(ip: Buffer): Buffer {
  const e = Buffer.alloc(14);
  e.writeUInt16BE((ip[0]! >> 4) === 6 ? 0x86dd : 0x0800, 12);
  return Buffer.concat([e, ip]);
}
