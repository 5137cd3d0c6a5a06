import { parseIp } from '../packet/address';
import { buildIpPacket } from '../packet/build';
import { LINKTYPE } from '../capture/linktypes';
import { PcapngWriter } from '../capture/file-writer';
import type { EndRecord, EventRecord } from './format';
import { openRecording, type RecordingInput, type RecordingReadResult } from './reader';

/**
 * A recording as a pcapng capture (raw IP link type): each TCP connection gets a handshake, its
 * data as segments at the recorded offsets (a gap leaves its sequence numbers unsent, which is how
 * a capture shows lost bytes), and a FIN or RST where the direction ended that way; UDP datagrams
 * go out as they were. Checksums are correct, so that Wireshark and tshark show the same streams.
 */

const MAX_SEGMENT = 32768;
const FLAG = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16 };

interface Side {
  ip: Buffer;
  port: number;
  isn: number;
  /** Next stream offset not yet sent. */
  next: number;
  fin: boolean;
  /** A gap was recorded: the peer acknowledges past it after the next data, so a reader sees the hole closed as the original capture did. */
  ackGap: boolean;
}

interface Conn {
  id: number;
  tcp: boolean;
  /**
   * FIN and RST wait for the connection's close: a recording lists bytes the assembler flushed at
   * close after the end that triggered the flush, and a reader would drop data sent after a RST.
   */
  ends: EndRecord[];
  lastTs: number;
  v6: boolean;
  sides: [Side, Side];
}

/** An IP packet around `l4` (whose checksum field at `csumAt` is filled in here). */
function ipPacket(c: Conn, from: 0 | 1, proto: number, l4: Buffer, csumAt: number, declaredL4 = l4.length): Buffer {
  return buildIpPacket({ src: c.sides[from].ip, dst: c.sides[1 - from]!.ip, proto, l4, csumAt, declaredL4 });
}

export interface ExportResult {
  read: RecordingReadResult;
  packets: number;
  connections: number;
  /** Gaps of 2^31 bytes or more: TCP sequence numbers cannot say that much was skipped. */
  unrepresentable: number;
  /** Connections left out because their endpoints are not IP addresses (an edited or corrupt recording). */
  skippedConnections: number;
  /** Datagrams left out because they are larger than an IP packet can say. */
  skippedDatagrams: number;
}

/** Write a recording (a path, or one opened with openRecording) as pcapng to `out` ('-' for standard output). */
export async function exportPcapng(input: string | RecordingInput, out: string): Promise<ExportResult> {
  const rec = typeof input === 'string' ? await openRecording(input) : input;
  const recording = rec.name;
  const conns = new Map<number, Conn>();
  let packets = 0;
  let connections = 0;
  let unrepresentable = 0;
  let skippedConnections = 0;
  let skippedDatagrams = 0;
  let w: PcapngWriter | null = null;
  const writer = (): PcapngWriter => (w ??= new PcapngWriter(out, [{ linkType: LINKTYPE.RAW, name: `gamesniff export of ${recording}` }]));

  const emit = (pkt: Buffer, ts: number, origLen = pkt.length): void => {
    writer().write(pkt, ts, origLen);
    packets++;
  };
  const seqOf = (s: Side, offset: number): number => (s.isn + 1 + offset) >>> 0;
  const tcp = (c: Conn, from: 0 | 1, flags: number, offset: number, payload: Buffer, ts: number): void => {
    const me = c.sides[from];
    const peer = c.sides[1 - from]!;
    const th = Buffer.alloc(20 + payload.length);
    th.writeUInt16BE(me.port, 0);
    th.writeUInt16BE(peer.port, 2);
    th.writeUInt32BE(flags & FLAG.SYN ? me.isn : seqOf(me, offset), 4);
    th.writeUInt32BE(flags & FLAG.ACK ? seqOf(peer, peer.next) + (peer.fin ? 1 : 0) : 0, 8);
    th[12] = 5 << 4;
    th[13] = flags;
    th.writeUInt16BE(65535, 14);
    payload.copy(th, 20);
    emit(ipPacket(c, from, 6, th, 16), ts);
  };

  const closeConn = (c: Conn, ts: number): void => {
    for (const d of [0, 1] as const) {
      // A gap with no data after it: the acknowledgement alone shows the bytes were lost.
      if (c.tcp && c.sides[d].ackGap) tcp(c, (1 - d) as 0 | 1, FLAG.ACK, c.sides[1 - d]!.next, Buffer.alloc(0), c.lastTs);
    }
    for (const e of c.ends) {
      const side = c.sides[e.d];
      tcp(c, e.d, (e.why === 'fin' ? FLAG.FIN : FLAG.RST) | FLAG.ACK, side.next, Buffer.alloc(0), Math.max(e.ts, c.lastTs));
      if (e.why === 'fin') side.fin = true;
    }
    // The last FIN gets its ACK, as a real close would.
    if (c.tcp && c.sides[0].fin && c.sides[1].fin) tcp(c, 0, FLAG.ACK, c.sides[0].next + 1, Buffer.alloc(0), ts);
    conns.delete(c.id);
  };

  const onRecord = (r: EventRecord): void => {
    const known = conns.get((r as { c?: number }).c ?? -1);
    if (known && r.ts > known.lastTs) known.lastTs = r.ts;
    switch (r.t) {
      case 'open': {
        const ca = parseIp(r.client[0]);
        const sa = parseIp(r.server[0]);
        if (!ca || !sa || ca.length !== sa.length) {
          skippedConnections++;
          return;
        }
        // Fixed, distinct initial sequence numbers keep the export deterministic.
        const isn = (k: number): number => (Math.imul(r.c + 1, 0x9e3779b1) + k * 0x10000) >>> 0;
        const c: Conn = {
          id: r.c,
          ends: [],
          lastTs: r.ts,
          tcp: r.p === 'tcp',
          v6: ca.length === 16,
          sides: [
            { ip: ca, port: r.client[1], isn: isn(1), next: 0, fin: false, ackGap: false },
            { ip: sa, port: r.server[1], isn: isn(2), next: 0, fin: false, ackGap: false },
          ],
        };
        conns.set(r.c, c);
        if (c.tcp) {
          connections++;
          tcp(c, 0, FLAG.SYN, 0, Buffer.alloc(0), r.ts);
          tcp(c, 1, FLAG.SYN | FLAG.ACK, 0, Buffer.alloc(0), r.ts);
          tcp(c, 0, FLAG.ACK, 0, Buffer.alloc(0), r.ts);
        }
        return;
      }
      case 'data': {
        const c = conns.get(r.c);
        if (!c) return;
        if (!c.tcp) {
          const declared = Math.max(r.n ?? 0, r.b.length);
          if (8 + declared > 0xffff - (c.v6 ? 0 : 20)) {
            skippedDatagrams++;
            return;
          }
          const uh = Buffer.alloc(8 + r.b.length);
          uh.writeUInt16BE(c.sides[r.d].port, 0);
          uh.writeUInt16BE(c.sides[1 - r.d]!.port, 2);
          uh.writeUInt16BE(8 + declared, 4);
          r.b.copy(uh, 8);
          const pkt = ipPacket(c, r.d, 17, uh, 6, 8 + declared);
          emit(pkt, r.ts, pkt.length + declared - r.b.length);
          return;
        }
        const side = c.sides[r.d];
        for (let at = 0; at < r.b.length; at += MAX_SEGMENT) {
          const part = r.b.subarray(at, Math.min(r.b.length, at + MAX_SEGMENT));
          side.next = r.o + at + part.length;
          tcp(c, r.d, FLAG.PSH | FLAG.ACK, r.o + at, part, r.ts);
        }
        if (side.ackGap) {
          side.ackGap = false;
          tcp(c, (1 - r.d) as 0 | 1, FLAG.ACK, c.sides[1 - r.d]!.next, Buffer.alloc(0), r.ts);
        }
        return;
      }
      case 'gap': {
        // Nothing is sent for the missing bytes; the next segment starts after them.
        const c = conns.get(r.c);
        if (!c) return;
        if (r.n >= 0x80000000) unrepresentable++;
        c.sides[r.d].next = r.o + r.n;
        c.sides[r.d].ackGap = true;
        return;
      }
      case 'end': {
        const c = conns.get(r.c);
        if (c?.tcp && (r.why === 'fin' || r.why === 'rst')) c.ends.push(r);
        return;
      }
      case 'close': {
        const c = conns.get(r.c);
        if (c) closeConn(c, r.ts);
        return;
      }
      case 'keys':
      case 'finish':
        return;
    }
  };
  let read: RecordingReadResult;
  try {
    read = await rec.read(onRecord);
    // A recording cut short leaves connections open: their ends still go out.
    for (const c of [...conns.values()]) closeConn(c, c.lastTs);
    writer();
  } finally {
    (w as PcapngWriter | null)?.close();
    if (typeof input === 'string') rec.close();
  }
  return { read, packets, connections, unrepresentable, skippedConnections, skippedDatagrams };
}
