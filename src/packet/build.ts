/**
 * IP packets built rather than parsed: the pcapng export of a recording and the fuzzer's seed
 * captures write packets that Wireshark and our own decoder must accept, checksums included.
 */

/** The Internet checksum (RFC 1071) over the parts, as if concatenated (each part even-aligned but the last). */
export function inetChecksum(parts: Buffer[]): number {
  let sum = 0;
  for (const b of parts) {
    const even = b.length & ~1;
    for (let i = 0; i < even; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
    if (b.length & 1) sum += b[b.length - 1]! << 8;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface IpPacketSpec {
  /** 4 or 16 bytes each. */
  src: Buffer;
  dst: Buffer;
  proto: number;
  /** The transport header and payload. */
  l4: Buffer;
  /** Where the transport checksum goes in `l4` (TCP 16, UDP 6); absent: left as it is. */
  csumAt?: number;
  /** The transport length the headers declare, when the capture cut the datagram short; no checksum can be computed then. */
  declaredL4?: number;
  ipId?: number;
}

/** An IPv4 (4-byte addresses) or IPv6 packet around `l4`, with the IPv4 header checksum and, when asked, the transport checksum filled in. */
export function buildIpPacket(p: IpPacketSpec): Buffer {
  const v6 = p.src.length === 16;
  const l4 = p.l4;
  const declared = p.declaredL4 ?? l4.length;
  if (p.csumAt !== undefined && declared === l4.length) {
    const pseudo = Buffer.alloc(v6 ? 40 : 12);
    p.src.copy(pseudo, 0);
    p.dst.copy(pseudo, v6 ? 16 : 4);
    if (v6) {
      pseudo.writeUInt32BE(declared, 32);
      pseudo[39] = p.proto;
    } else {
      pseudo[9] = p.proto;
      pseudo.writeUInt16BE(declared, 10);
    }
    l4.writeUInt16BE(0, p.csumAt);
    const sum = inetChecksum([pseudo, l4]);
    // UDP sends a computed 0 as 0xffff: 0 means "no checksum".
    l4.writeUInt16BE(p.proto === 17 && sum === 0 ? 0xffff : sum, p.csumAt);
  }
  if (v6) {
    const h = Buffer.alloc(40);
    h.writeUInt32BE(0x60000000, 0);
    h.writeUInt16BE(declared, 4);
    h[6] = p.proto;
    h[7] = 64;
    p.src.copy(h, 8);
    p.dst.copy(h, 24);
    return Buffer.concat([h, l4]);
  }
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + declared, 2);
  h.writeUInt16BE((p.ipId ?? 0) & 0xffff, 4);
  h.writeUInt16BE(0x4000, 6);
  h[8] = 64;
  h[9] = p.proto;
  p.src.copy(h, 12);
  p.dst.copy(h, 16);
  h.writeUInt16BE(inetChecksum([h]), 10);
  return Buffer.concat([h, l4]);
}
