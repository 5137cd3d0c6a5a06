/** Builders for synthetic packets: Ethernet/IPv4/IPv6 + TCP/UDP, with correct lengths. */

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

function ip4(a: string): Buffer {
  return Buffer.from(a.split('.').map(Number));
}

function ip6(a: string): Buffer {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return b;
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

/** An IP packet (no link header) carrying `l4` as protocol `proto`. */
export function ipPacket(proto: number, l4: Buffer, src?: string, dst?: string, ipId = 1, v6 = false): Buffer {
  if (v6) {
    const h = Buffer.alloc(40);
    h.writeUInt32BE(0x60000000, 0);
    h.writeUInt16BE(l4.length, 4);
    h[6] = proto;
    h[7] = 64;
    ip6(src ?? '::1').copy(h, 8);
    ip6(dst ?? '::1').copy(h, 24);
    return Buffer.concat([h, l4]);
  }
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + l4.length, 2);
  h.writeUInt16BE(ipId & 0xffff, 4);
  h.writeUInt16BE(0x4000, 6);
  h[8] = 64;
  h[9] = proto;
  ip4(src ?? '127.0.0.1').copy(h, 12);
  ip4(dst ?? '127.0.0.1').copy(h, 16);
  return Buffer.concat([h, l4]);
}

export function ethernet(ip: Buffer): Buffer {
  const e = Buffer.alloc(14);
  e.writeUInt16BE((ip[0]! >> 4) === 6 ? 0x86dd : 0x0800, 12);
  return Buffer.concat([e, ip]);
}
