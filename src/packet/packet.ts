import { LINKTYPE } from '../capture/linktypes';
import { u16be, u32be } from '../core/bytes';

/**
 * The hot-path packet decoder: link layer, IPv4/IPv6 (with extension headers),
 * TCP, UDP and ICMP headers, read in place from the packet buffer into one
 * reused DecodedPacket: no allocation per packet. `describePacket` builds
 * the allocating, human-facing view from the same fields.
 */

export type DecodeStatus =
  | 'tcp'
  | 'udp'
  | 'icmp'
  | 'arp'
  | 'other' // IP with another transport, or a non-IP EtherType
  | 'fragment' // an IP fragment: hand to the Defragmenter
  | 'malformed';

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_ARP = 0x0806;
const ETH_PPPOE_SESSION = 0x8864;
const ETH_MPLS = 0x8847;
const ETH_MPLS_MC = 0x8848;

function pppToEtherType(proto: number): number {
  return proto === 0x0021 ? ETH_IPV4 : proto === 0x0057 ? ETH_IPV6 : -1;
}

export class DecodedPacket {
  /** Holds the packet at [start, end): every offset below is an index into buf, not from start. */
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;
  linkType = 0;
  /** EtherType (or equivalent) of the layer-3 payload; -1 when the link layer has none. */
  etherType = -1;
  /** Outer VLAN id, or -1. */
  vlan = -1;
  /** SLL packet type (0 host, 4 outgoing...), or -1. */
  sllPacketType = -1;
  l3Off = 0;

  ipVersion = 0;
  ipHdrLen = 0; // IPv4 IHL*4; IPv6: 40 plus extension headers
  ipTotalLen = 0; // as declared (0 in the header means "take what was captured")
  ipEnd = 0; // declared end of the IP packet in buf (may exceed end when truncated)
  tos = 0;
  ipId = 0;
  df = false;
  mf = false;
  fragOffset = 0; // in bytes
  ttl = 0;
  protocol = 0; // upper-layer protocol after extension headers
  ipChecksum = 0;
  flowLabel = 0;
  addrLen = 0;
  srcOff = 0;
  dstOff = 0;
  /** IPv6: offset of the Fragment extension header, or -1. */
  frag6Off = -1;

  l4Off = 0;
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  tcpFlags = 0;
  window = 0;
  tcpHdrLen = 0;
  l4Checksum = 0;
  urgPtr = 0;
  icmpType = 0;
  icmpCode = 0;

  payloadOff = 0;
  /** Payload length as the headers declare it. */
  payloadLen = 0;
  /** Payload bytes actually captured (less than payloadLen when truncated). */
  capPayloadLen = 0;

  malformed = '';
}

export class PacketDecoder {
  readonly pkt = new DecodedPacket();

  /**
   * Decode the packet at buf[start, end) (captured with the given link type) into this.pkt. A
   * packet in a larger buffer (a capture batch, a file chunk) is read in place: no view of it is made.
   */
  decode(linkType: number, buf: Buffer, start = 0, end = buf.length): DecodeStatus {
    const p = this.pkt;
    p.buf = buf;
    p.start = start;
    p.end = end;
    p.linkType = linkType;
    p.etherType = -1;
    p.vlan = -1;
    p.sllPacketType = -1;
    p.ipVersion = 0;
    p.malformed = '';
    p.frag6Off = -1;
    const s = start;
    const len = end - s;
    let off = s;
    let et = -1;
    switch (linkType) {
      case LINKTYPE.ETHERNET: {
        if (len < 14) return this.bad('truncated Ethernet header');
        et = u16be(buf, s + 12);
        off = s + 14;
        while (et === 0x8100 || et === 0x88a8 || et === 0x9100) {
          if (off + 4 > end) return this.bad('truncated VLAN tag');
          if (p.vlan < 0) p.vlan = u16be(buf, off) & 0x0fff;
          et = u16be(buf, off + 2);
          off += 4;
        }
        if (et === ETH_PPPOE_SESSION) {
          // PPPoE header (6 bytes), then the PPP protocol number
          if (off + 8 > end) return this.bad('truncated PPPoE header');
          et = pppToEtherType(u16be(buf, off + 6));
          off += 8;
        } else if (et === ETH_MPLS || et === ETH_MPLS_MC) {
          // skip the label stack to the entry with bottom-of-stack set; the payload's version tells IPv4 from IPv6
          do {
            if (off + 4 > end) return this.bad('truncated MPLS label stack');
            off += 4;
          } while ((buf[off - 2]! & 0x01) === 0);
          if (off >= end) return this.bad('truncated MPLS payload');
          const v = buf[off]! >> 4;
          et = v === 4 ? ETH_IPV4 : v === 6 ? ETH_IPV6 : -1;
        }
        break;
      }
      case LINKTYPE.NULL:
      case LINKTYPE.LOOP: {
        if (len < 4) return this.bad('truncated loopback header');
        // the family is in the capturing host's byte order: accept either
        let fam = buf.readUInt32LE(s);
        if (fam > 0xffff) fam = buf.readUInt32BE(s);
        off = s + 4;
        if (fam === 2) et = ETH_IPV4;
        else if (fam === 10 || fam === 24 || fam === 28 || fam === 30) et = ETH_IPV6;
        else return this.other(-1);
        break;
      }
      case LINKTYPE.LINUX_SLL: {
        if (len < 16) return this.bad('truncated Linux SLL header');
        p.sllPacketType = u16be(buf, s);
        et = u16be(buf, s + 14);
        off = s + 16;
        break;
      }
      case LINKTYPE.LINUX_SLL2: {
        if (len < 20) return this.bad('truncated Linux SLL2 header');
        et = u16be(buf, s);
        p.sllPacketType = buf[s + 10]!;
        off = s + 20;
        break;
      }
      case LINKTYPE.PPP: {
        if (len < 2) return this.bad('truncated PPP header');
        if (buf[s] === 0xff && buf[s + 1] === 0x03) off = s + 2;
        if (off + 2 > end) return this.bad('truncated PPP header');
        et = pppToEtherType(u16be(buf, off));
        off += 2;
        break;
      }
      case LINKTYPE.RAW:
      case LINKTYPE.RAW_DLT:
      case LINKTYPE.RAW_DLT_OPENBSD:
      case LINKTYPE.IPV4:
      case LINKTYPE.IPV6: {
        if (len < 1) return this.bad('empty packet');
        const v = buf[s]! >> 4;
        et = v === 4 ? ETH_IPV4 : v === 6 ? ETH_IPV6 : -1;
        if (et < 0) return this.bad(`raw IP packet with version ${v}`);
        break;
      }
      default:
        return this.bad(`unsupported link type ${linkType}`);
    }
    p.etherType = et;
    p.l3Off = off;
    if (et === ETH_IPV4) return this.ipv4(off);
    if (et === ETH_IPV6) return this.ipv6(off);
    if (et === ETH_ARP) return 'arp';
    return this.other(et);
  }

  /** Decode an IP packet that starts at offset 0 (used after defragmentation). */
  decodeIp(buf: Buffer): DecodeStatus {
    return this.decode(LINKTYPE.RAW, buf);
  }

  private other(et: number): DecodeStatus {
    this.pkt.etherType = et;
    return 'other';
  }

  private bad(reason: string): DecodeStatus {
    this.pkt.malformed = reason;
    return 'malformed';
  }

  private ipv4(off: number): DecodeStatus {
    const p = this.pkt;
    const buf = p.buf;
    const end = p.end;
    if (off + 20 > end) return this.bad('truncated IPv4 header');
    const vihl = buf[off]!;
    if (vihl >> 4 !== 4) return this.bad(`IPv4 header with version ${vihl >> 4}`);
    const ihl = (vihl & 0x0f) * 4;
    if (ihl < 20) return this.bad(`IPv4 header length ${ihl} < 20`);
    if (off + ihl > end) return this.bad('truncated IPv4 options');
    const total = u16be(buf, off + 2);
    p.ipVersion = 4;
    p.ipHdrLen = ihl;
    p.ipTotalLen = total;
    // total length 0 appears on captured TSO segments: take what was captured
    p.ipEnd = total === 0 ? end : off + total;
    if (total !== 0 && total < ihl) return this.bad(`IPv4 total length ${total} < header length ${ihl}`);
    p.tos = buf[off + 1]!;
    p.ipId = u16be(buf, off + 4);
    const ff = u16be(buf, off + 6);
    p.df = (ff & 0x4000) !== 0;
    p.mf = (ff & 0x2000) !== 0;
    p.fragOffset = (ff & 0x1fff) * 8;
    p.ttl = buf[off + 8]!;
    p.protocol = buf[off + 9]!;
    p.ipChecksum = u16be(buf, off + 10);
    p.addrLen = 4;
    p.srcOff = off + 12;
    p.dstOff = off + 16;
    if (p.mf || p.fragOffset !== 0) return 'fragment';
    return this.transport(off + ihl);
  }

  private ipv6(off: number): DecodeStatus {
    const p = this.pkt;
    const buf = p.buf;
    const end = p.end;
    if (off + 40 > end) return this.bad('truncated IPv6 header');
    const w0 = u32be(buf, off);
    if (w0 >>> 28 !== 6) return this.bad(`IPv6 header with version ${w0 >>> 28}`);
    const plen = u16be(buf, off + 4);
    p.ipVersion = 6;
    p.tos = (w0 >>> 20) & 0xff;
    p.flowLabel = w0 & 0xfffff;
    p.ipTotalLen = 40 + plen;
    p.ipEnd = plen === 0 ? end : off + 40 + plen;
    p.ttl = buf[off + 7]!;
    p.addrLen = 16;
    p.srcOff = off + 8;
    p.dstOff = off + 24;
    p.ipId = 0;
    p.df = false;
    p.mf = false;
    p.fragOffset = 0;
    p.ipChecksum = 0;
    let next = buf[off + 6]!;
    let l4 = off + 40;
    // walk extension headers: hop-by-hop, routing, fragment, destination options, AH
    for (let guard = 0; guard < 16; guard++) {
      if (next === 0 || next === 43 || next === 60 || next === 135 || next === 139 || next === 140) {
        if (l4 + 8 > end) return this.bad('truncated IPv6 extension header');
        const hl = (buf[l4 + 1]! + 1) * 8;
        next = buf[l4]!;
        l4 += hl;
      } else if (next === 44) {
        if (l4 + 8 > end) return this.bad('truncated IPv6 fragment header');
        const fo = u16be(buf, l4 + 2);
        p.frag6Off = l4;
        p.fragOffset = fo & 0xfff8;
        p.mf = (fo & 1) !== 0;
        p.ipId = u32be(buf, l4 + 4);
        next = buf[l4]!;
        l4 += 8;
      } else if (next === 51) {
        if (l4 + 8 > end) return this.bad('truncated IPv6 AH header');
        const hl = (buf[l4 + 1]! + 2) * 4;
        next = buf[l4]!;
        l4 += hl;
      } else break;
    }
    p.protocol = next;
    p.ipHdrLen = l4 - off;
    if (p.frag6Off >= 0 && (p.mf || p.fragOffset !== 0)) return 'fragment';
    return this.transport(l4);
  }

  private transport(off: number): DecodeStatus {
    const p = this.pkt;
    const buf = p.buf;
    p.l4Off = off;
    const end = p.ipEnd;
    const have = p.end;
    if (end < off) return this.bad('IP length shorter than its headers');
    switch (p.protocol) {
      case PROTO_TCP: {
        if (off + 20 > have) return this.bad('truncated TCP header');
        const doff = (buf[off + 12]! >> 4) * 4;
        if (doff < 20) return this.bad(`TCP data offset ${doff} < 20`);
        if (off + doff > have) return this.bad('truncated TCP options');
        if (off + doff > end) return this.bad(`TCP header (${doff} bytes) longer than the IP payload`);
        p.srcPort = u16be(buf, off);
        p.dstPort = u16be(buf, off + 2);
        p.seq = u32be(buf, off + 4);
        p.ack = u32be(buf, off + 8);
        p.tcpFlags = buf[off + 13]!;
        p.window = u16be(buf, off + 14);
        p.l4Checksum = u16be(buf, off + 16);
        p.urgPtr = u16be(buf, off + 18);
        p.tcpHdrLen = doff;
        this.payload(off + doff, end);
        return 'tcp';
      }
      case PROTO_UDP: {
        if (off + 8 > have) return this.bad('truncated UDP header');
        p.srcPort = u16be(buf, off);
        p.dstPort = u16be(buf, off + 2);
        const ulen = u16be(buf, off + 4);
        p.l4Checksum = u16be(buf, off + 6);
        if (ulen !== 0 && ulen < 8) return this.bad(`UDP length ${ulen} < 8`);
        // the IP length is the truth when the UDP length disagrees (or is 0, as for jumbograms)
        const udpEnd = ulen === 0 ? end : Math.min(end, off + ulen);
        this.payload(off + 8, udpEnd);
        return 'udp';
      }
      case PROTO_ICMP:
      case PROTO_ICMPV6: {
        if (off + 4 > have) return this.bad('truncated ICMP header');
        p.icmpType = buf[off]!;
        p.icmpCode = buf[off + 1]!;
        p.l4Checksum = u16be(buf, off + 2);
        this.payload(off + 4, end);
        return 'icmp';
      }
      default:
        this.payload(off, end);
        return 'other';
    }
  }

  private payload(off: number, end: number): void {
    const p = this.pkt;
    p.payloadOff = off;
    p.payloadLen = end - off;
    const avail = p.end - off;
    p.capPayloadLen = avail <= 0 ? 0 : avail < p.payloadLen ? avail : p.payloadLen;
  }
}

/** The TCP timestamp option's TSval, or -1 when absent. Only reads options. */
export function tcpTsval(p: DecodedPacket): number {
  const buf = p.buf;
  let o = p.l4Off + 20;
  const end = p.l4Off + p.tcpHdrLen;
  while (o < end) {
    const kind = buf[o]!;
    if (kind === 0) return -1;
    if (kind === 1) {
      o++;
      continue;
    }
    if (o + 1 >= end) return -1;
    const l = buf[o + 1]!;
    if (l < 2) return -1;
    if (kind === 8 && l === 10 && o + 10 <= end) return u32be(buf, o + 2);
    o += l;
  }
  return -1;
}

/** Address and port of the source as a short string key (the flow table's; see endpointKey). */
export function srcKey(p: DecodedPacket): string {
  return endpointKey(p.buf, p.srcOff, p.addrLen, p.srcPort);
}

export function dstKey(p: DecodedPacket): string {
  return endpointKey(p.buf, p.dstOff, p.addrLen, p.dstPort);
}

/**
 * An address and port as a short string, two address bytes a UTF-16 code unit: made from numbers,
 * it costs half of slicing the bytes into a string (per packet, twice).
 */
function endpointKey(b: Buffer, o: number, len: number, port: number): string {
  if (len === 4) return String.fromCharCode(u16be(b, o), u16be(b, o + 2), port);
  let s = '';
  for (let i = 0; i < len; i += 2) s += String.fromCharCode(u16be(b, o + i));
  return s + String.fromCharCode(port);
}
