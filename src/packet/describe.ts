import { linkTypeName } from '../capture/linktypes';
import { formatIp, formatMac } from './address';
import { DecodedPacket, PacketDecoder, TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG } from './packet';

/**
 * The packet view: every header field the decoder knows, as plain objects
 * for the TUI's packet pane and for `--json` output. Allocates; not for the
 * hot path (which reads DecodedPacket directly).
 */

export interface TcpOptions {
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  sack?: Array<[number, number]>;
  timestamp?: { value: number; echo: number };
  fastOpenCookie?: string;
  other?: number[];
  malformed?: boolean;
}

export interface PacketView {
  link: {
    type: string;
    srcMac?: string;
    dstMac?: string;
    etherType?: number;
    vlan?: number;
    sllPacketType?: number;
  };
  ip?: {
    version: number;
    headerLength: number;
    tos: number;
    totalLength: number;
    id: number;
    dontFragment: boolean;
    moreFragments: boolean;
    fragmentOffset: number;
    ttl: number;
    protocol: number;
    checksum?: number;
    flowLabel?: number;
    src: string;
    dst: string;
    optionsLength?: number;
  };
  tcp?: {
    srcPort: number;
    dstPort: number;
    seq: number;
    ack: number;
    headerLength: number;
    flags: string[];
    window: number;
    checksum: number;
    urgentPointer: number;
    options: TcpOptions;
  };
  udp?: { srcPort: number; dstPort: number; length: number; checksum: number };
  icmp?: { version: 4 | 6; type: number; code: number; checksum: number };
  arp?: { operation: number; senderMac: string; senderIp: string; targetMac: string; targetIp: string };
  payloadLength: number;
  capturedPayloadLength: number;
  status: string;
  malformed?: string;
}

const FLAG_NAMES: Array<[number, string]> = [
  [TCP_SYN, 'SYN'],
  [TCP_ACK, 'ACK'],
  [TCP_PSH, 'PSH'],
  [TCP_FIN, 'FIN'],
  [TCP_RST, 'RST'],
  [TCP_URG, 'URG'],
  [TCP_ECE, 'ECE'],
  [TCP_CWR, 'CWR'],
];

export function tcpFlagNames(flags: number): string[] {
  const out: string[] = [];
  for (const [bit, name] of FLAG_NAMES) if (flags & bit) out.push(name);
  return out;
}

export function parseTcpOptions(buf: Buffer, off: number, end: number): TcpOptions {
  const o: TcpOptions = {};
  while (off < end) {
    const kind = buf[off]!;
    if (kind === 0) break;
    if (kind === 1) {
      off++;
      continue;
    }
    if (off + 2 > end) {
      o.malformed = true;
      break;
    }
    const len = buf[off + 1]!;
    if (len < 2 || off + len > end) {
      o.malformed = true;
      break;
    }
    const v = off + 2;
    switch (kind) {
      case 2:
        if (len === 4) o.mss = buf.readUInt16BE(v);
        break;
      case 3:
        if (len === 3) o.windowScale = buf[v]!;
        break;
      case 4:
        o.sackPermitted = true;
        break;
      case 5: {
        o.sack = [];
        for (let i = v; i + 8 <= off + len; i += 8) o.sack.push([buf.readUInt32BE(i), buf.readUInt32BE(i + 4)]);
        break;
      }
      case 8:
        if (len === 10) o.timestamp = { value: buf.readUInt32BE(v), echo: buf.readUInt32BE(v + 4) };
        break;
      case 34:
        o.fastOpenCookie = buf.subarray(v, off + len).toString('hex');
        break;
      default:
        (o.other ??= []).push(kind);
    }
    off += len;
  }
  return o;
}

function viewOf(p: DecodedPacket, status: string): PacketView {
  const buf = p.buf;
  const view: PacketView = {
    link: { type: linkTypeName(p.linkType) },
    payloadLength: 0,
    capturedPayloadLength: 0,
    status,
  };
  // the packet is buf[p.start, p.end): offsets index buf
  if (p.linkType === 1 && p.end - p.start >= 14) {
    view.link.dstMac = formatMac(buf, p.start);
    view.link.srcMac = formatMac(buf, p.start + 6);
  }
  if (p.etherType >= 0) view.link.etherType = p.etherType;
  if (p.vlan >= 0) view.link.vlan = p.vlan;
  if (p.sllPacketType >= 0) view.link.sllPacketType = p.sllPacketType;
  if (p.malformed) view.malformed = p.malformed;
  if (p.ipVersion) {
    view.ip = {
      version: p.ipVersion,
      headerLength: p.ipHdrLen,
      tos: p.tos,
      totalLength: p.ipTotalLen,
      id: p.ipId,
      dontFragment: p.df,
      moreFragments: p.mf,
      fragmentOffset: p.fragOffset,
      ttl: p.ttl,
      protocol: p.protocol,
      src: formatIp(buf, p.srcOff, p.addrLen),
      dst: formatIp(buf, p.dstOff, p.addrLen),
    };
    if (p.ipVersion === 4) {
      view.ip.checksum = p.ipChecksum;
      view.ip.optionsLength = p.ipHdrLen - 20;
    } else {
      view.ip.flowLabel = p.flowLabel;
    }
  }
  if (status === 'arp' && p.end >= p.l3Off + 28) {
    const a = p.l3Off;
    view.arp = {
      operation: buf.readUInt16BE(a + 6),
      senderMac: formatMac(buf, a + 8),
      senderIp: formatIp(buf, a + 14, 4),
      targetMac: formatMac(buf, a + 18),
      targetIp: formatIp(buf, a + 24, 4),
    };
  }
  if (status === 'tcp') {
    view.tcp = {
      srcPort: p.srcPort,
      dstPort: p.dstPort,
      seq: p.seq,
      ack: p.ack,
      headerLength: p.tcpHdrLen,
      flags: tcpFlagNames(p.tcpFlags),
      window: p.window,
      checksum: p.l4Checksum,
      urgentPointer: p.urgPtr,
      options: parseTcpOptions(buf, p.l4Off + 20, p.l4Off + p.tcpHdrLen),
    };
  } else if (status === 'udp') {
    view.udp = { srcPort: p.srcPort, dstPort: p.dstPort, length: p.payloadLen + 8, checksum: p.l4Checksum };
  } else if (status === 'icmp') {
    view.icmp = { version: p.ipVersion === 6 ? 6 : 4, type: p.icmpType, code: p.icmpCode, checksum: p.l4Checksum };
  }
  if (status === 'tcp' || status === 'udp' || status === 'icmp' || status === 'other') {
    view.payloadLength = p.payloadLen;
    view.capturedPayloadLength = p.capPayloadLen;
  }
  return view;
}

/** Decode one captured packet into its header view. Never throws on bad input. */
export function describePacket(linkType: number, buf: Buffer): PacketView {
  const d = new PacketDecoder();
  const status = d.decode(linkType, buf);
  return viewOf(d.pkt, status);
}
