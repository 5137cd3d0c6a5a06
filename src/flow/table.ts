import { u32be } from '../core/bytes';
import { seqAdd } from '../core/seq';
import type { Direction, Endpoint, StreamEnd } from '../core/types';
import { formatIp } from '../packet/address';
import { Defragmenter } from '../packet/defrag';
import {
  PacketDecoder,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  dstKey,
  srcKey,
  tcpTsval,
  type DecodedPacket,
  type DecodeStatus,
} from '../packet/packet';
import { DEFAULT_ASSEMBLER_OPTIONS, ReassemblyBudget, TcpStreamAssembler, type AssemblerOptions, type GapReason, type StreamSink } from '../reassembly/assembler';
import { FifoMap } from '../core/fifo-map';
import { HEAD_PENDING, PacketSignature, TcpConnection, UdpFlow, type FlowListener } from './connection';

/**
 * The flow table: decodes each packet, finds its connection (TCP) or flow
 * (UDP) by 4-tuple, works out which side is the server, and feeds the two
 * stream assemblers. Call order: `push(...)` for every packet in capture
 * order, then `finish(ts)` once at the end of input. Time is always the
 * packet's timestamp, never the wall clock.
 */

export interface FlowTableOptions {
  /** Ports whose side is the server (`--port`). */
  serverPorts?: ReadonlySet<number>;
  /** A connection with no packet for this long (µs of packet time) is flushed and dropped. */
  idleTimeoutUs?: number;
  /** Two identical packets in one direction within this many µs are one packet captured twice. */
  duplicateWindowUs?: number;
  assembler?: Partial<AssemblerOptions>;
  maxPendingTotal?: number;
  maxRetainedTotal?: number;
  /**
   * Connections that have only sent a SYN are held as a few numbers, not as connections; beyond
   * this many, the oldest are dropped and counted (a SYN flood is the first thing a hostile
   * network sends).
   */
  maxHalfOpen?: number;
  /** Connections ended by idle eviction whose sequence numbers are kept, so a later packet resumes them exactly. */
  maxEvicted?: number;
  /**
   * Closed connections remembered (for LINGER_US of packet time) so that their late packets are not
   * taken for new connections; beyond this many, the oldest are forgotten early, so that memory
   * stays flat whatever the number of closed connections.
   */
  maxClosed?: number;
  /**
   * The buffers of pushed packets stay valid until `returnPackets()` (which the caller calls
   * before it reuses them): bytes kept to check retransmissions against are copied only then,
   * and only those not acknowledged by that time. Without it they are copied as they come.
   */
  lentPackets?: boolean;
}

export interface FlowTableStats {
  packets: number;
  tcpPackets: number;
  udpPackets: number;
  icmpPackets: number;
  arpPackets: number;
  otherPackets: number;
  malformed: number;
  malformedReasons: Record<string, number>;
  /** Packets whose capture is shorter than their length on the wire. */
  truncatedPackets: number;
  loopbackDuplicates: number;
  /** Packets for a connection that had already closed (late retransmissions, final ACKs). */
  lateTcpPackets: number;
  /** RST segments whose sequence number does not fit the connection: ignored. */
  ignoredResets: number;
  connections: number;
  udpFlows: number;
  evicted: number;
  /** Half-open connections (a SYN, never answered) dropped over maxHalfOpen: never reported as connections. */
  halfOpenDropped: number;
  /** Connections that continued one idle eviction had ended (same 4-tuple, exact sequence numbers). */
  resumed: number;
}

const LINGER_US = 10e6;
const RST_SLACK = 65535;

export class FlowTable {
  readonly stats: FlowTableStats = {
    packets: 0,
    tcpPackets: 0,
    udpPackets: 0,
    icmpPackets: 0,
    arpPackets: 0,
    otherPackets: 0,
    malformed: 0,
    malformedReasons: {},
    truncatedPackets: 0,
    loopbackDuplicates: 0,
    lateTcpPackets: 0,
    ignoredResets: 0,
    connections: 0,
    udpFlows: 0,
    evicted: 0,
    halfOpenDropped: 0,
    resumed: 0,
  };
  readonly decoder = new PacketDecoder();
  readonly defrag = new Defragmenter();
  readonly budget: ReassemblyBudget;
  private readonly tcp = new Map<string, Tracked>();
  /** Connections closed in the last few seconds: their late packets are not a new connection. */
  private readonly recentlyClosed = new FifoMap<string, Tombstone>();
  private readonly udp = new Map<string, TrackedUdp>();
  /** Bare SYNs not answered yet, oldest first: a connection is made when anything else arrives. */
  private readonly halfOpen = new FifoMap<string, HalfOpen>();
  /** Connections idle eviction ended, oldest first: where their streams stood. */
  private readonly evictedTuples = new FifoMap<string, Evicted>();
  private readonly maxHalfOpen: number;
  private readonly maxEvicted: number;
  private readonly maxClosed: number;
  /** lentPackets: packets' buffers are the caller's again after returnPackets(). */
  private readonly lent: boolean;
  /** UDP signatures holding a head to hash before the packets are returned. */
  private readonly pendingHeads: PacketSignature[] = [];
  private readonly serverPorts: ReadonlySet<number>;
  private readonly idleTimeoutUs: number;
  private readonly dupWindowUs: number;
  private readonly asmOpts: AssemblerOptions;
  private nextId = 0;
  private nextSweep = -Infinity;
  /** Set by tupleKey: the packet's source is the first endpoint of its key. */
  private srcLow = false;
  /** tupleKey's last IPv4 key and what it was made of (ports: the first's × 65536 + the second's). */
  private key = '';
  private keyA = -1;
  private keyZ = -1;
  private keyPorts = -1;
  private lastTs = 0;

  constructor(
    private readonly listener: FlowListener,
    opts: FlowTableOptions = {},
  ) {
    this.serverPorts = opts.serverPorts ?? new Set();
    this.idleTimeoutUs = opts.idleTimeoutUs ?? 300e6;
    this.dupWindowUs = opts.duplicateWindowUs ?? 2000;
    this.asmOpts = { ...DEFAULT_ASSEMBLER_OPTIONS, ...opts.assembler };
    this.budget = new ReassemblyBudget(opts.maxPendingTotal, opts.maxRetainedTotal, opts.lentPackets);
    this.maxHalfOpen = opts.maxHalfOpen ?? 100_000;
    this.maxEvicted = opts.maxEvicted ?? 200_000;
    this.maxClosed = opts.maxClosed ?? 65_536;
    this.lent = opts.lentPackets === true;
  }

  /** Connections and UDP flows currently in the table. */
  get size(): number {
    return this.tcp.size + this.udp.size;
  }

  push(linkType: number, data: Buffer, origLen: number, ts: number): DecodeStatus {
    return this.pushAt(linkType, data, 0, data.length, origLen, ts);
  }

  /** push() of the packet at buf[start, end), read in place (a capture batch, a file chunk). */
  pushAt(linkType: number, buf: Buffer, start: number, end: number, origLen: number, ts: number): DecodeStatus {
    const st = this.stats;
    st.packets++;
    if (origLen > end - start) st.truncatedPackets++;
    if (ts > this.lastTs) this.lastTs = ts;
    if (ts >= this.nextSweep) this.sweep(ts);
    let status = this.decoder.decode(linkType, buf, start, end);
    if (status === 'fragment') {
      const whole = this.defrag.push(this.decoder.pkt, ts);
      if (!whole) return status;
      status = this.decoder.decodeIp(whole);
    }
    const p = this.decoder.pkt;
    switch (status) {
      case 'tcp':
        st.tcpPackets++;
        this.tcpPacket(p, ts);
        break;
      case 'udp':
        st.udpPackets++;
        this.udpPacket(p, ts);
        break;
      case 'icmp':
        st.icmpPackets++;
        break;
      case 'arp':
        st.arpPackets++;
        break;
      case 'malformed':
        st.malformed++;
        st.malformedReasons[p.malformed] = (st.malformedReasons[p.malformed] ?? 0) + 1;
        break;
      default:
        st.otherPackets++;
    }
    return status;
  }

  /** With lentPackets: the buffers of the packets pushed so far are about to be reused. */
  returnPackets(): void {
    this.budget.returnLent();
    // datagram heads not hashed yet: hashed now, while their bytes are still there
    for (const sig of this.pendingHeads) {
      signatureHash(sig);
      sig.head = null;
    }
    this.pendingHeads.length = 0;
  }

  /** End of input: every connection still open is flushed (gaps for holes) and closed as 'open'. */
  finish(ts = this.lastTs): void {
    for (const [, h] of this.halfOpen) this.materialize(h, ts);
    this.halfOpen.clear();
    this.evictedTuples.clear();
    for (const t of this.tcp.values()) closeBoth(t, 'open', ts);
    this.tcp.clear();
    this.recentlyClosed.clear();
    for (const u of this.udp.values()) this.closeUdp(u.f, ts);
    this.udp.clear();
  }

  private tcpPacket(p: DecodedPacket, ts: number): void {
    const buf = p.buf;
    const key = this.tupleKey(p);
    const srcLow = this.srcLow;
    const flags = p.tcpFlags;
    const syn = (flags & TCP_SYN) !== 0;
    const ackFlag = (flags & TCP_ACK) !== 0;
    let t = this.tcp.get(key);
    let previous: Tombstone | undefined;
    if (t && syn && this.isNewIncarnation(t, p.seq, ackFlag)) {
      // port reuse: a SYN on an abandoned 4-tuple starts a new connection
      closeBoth(t, 'open', ts);
      this.tcp.delete(key);
      previous = tombstone(t, ts);
      t = undefined;
    }
    // the endpoints as keys: only for a packet of no connection yet
    const sk = t ? '' : srcKey(p);
    const dk = t ? '' : dstKey(p);
    if (!t) {
      const closed = this.recentlyClosed.get(key);
      if (closed) {
        if (!syn) {
          // late retransmissions and final ACKs of a closed connection
          this.stats.lateTcpPackets++;
          return;
        }
        this.recentlyClosed.delete(key);
        previous = closed;
      }
    }
    if (!t) {
      const h = this.halfOpen.get(key);
      if (syn && !ackFlag && !(flags & (TCP_RST | TCP_FIN)) && p.payloadLen === 0) {
        // a bare SYN: held as a few numbers until anything else arrives on its 4-tuple
        if (!h) return this.addHalfOpen(p, key, sk, dk, ts);
        if ((h.synDir === 'c2s') === (h.clientKey === sk)) {
          if (ts - h.lastTs <= this.dupWindowUs && h.isn === p.seq) {
            this.stats.loopbackDuplicates++;
            h.duplicates++;
          } else h.packets++;
          h.isn = p.seq;
          h.lastTs = ts;
          return;
        }
      }
      if (h) {
        this.halfOpen.delete(key);
        t = this.openConnection(p, key, sk, h.firstTs, h.clientKey, h.id);
        const d = h.synDir === 'c2s' ? 0 : 1;
        t.streams[d].segment(h.isn, true, false, EMPTY, 0, h.firstTs);
        t.c.packets[d] += h.packets;
        t.c.duplicates[d] += h.duplicates;
      } else {
        t = this.openConnection(p, key, sk, ts, this.srcIsServer(p, true) ? dk : sk, this.nextId++, true);
      }
      this.tcp.set(key, t);
      if (previous && syn && ackFlag) this.carrySyn(previous, t, p);
    }
    const c = t.c;
    const di = srcLow === t.clientLow ? 0 : 1;
    c.lastTs = ts;
    if (this.isDuplicate(c.lastSig[di]!, p, ts)) {
      c.duplicates[di]++;
      this.stats.loopbackDuplicates++;
      return;
    }
    c.packets[di]++;
    const sender = t.streams[di];
    const receiver = t.streams[1 - di]!;
    if (flags & TCP_RST) {
      if (this.acceptReset(sender, receiver, p)) {
        c.state = 'reset';
        closeBoth(t, 'rst', ts);
      } else {
        this.stats.ignoredResets++;
      }
    } else {
      const payload = p.capPayloadLen > 0 ? buf.subarray(p.payloadOff, p.payloadOff + p.capPayloadLen) : EMPTY;
      sender.segment(p.seq, syn, (flags & TCP_FIN) !== 0, payload, p.payloadLen, ts);
      if (ackFlag) receiver.ack(p.ack, ts);
      if (c.state === 'handshake' && ackFlag && !syn && c.c2s.synSeen && c.s2c.synSeen) c.state = 'open';
      else if (c.state === 'handshake' && (p.payloadLen > 0 || (!c.c2s.synSeen && !c.s2c.synSeen))) c.state = 'open';
    }
    if (c.closed) {
      // keep only a small tombstone, so that memory stays flat with many short connections
      this.tcp.delete(key);
      this.recentlyClosed.set(key, tombstone(t, c.closedAt));
      if (this.recentlyClosed.size > this.maxClosed) this.recentlyClosed.shift();
    }
  }

  /**
   * The key of the packet's connection: both endpoints' keys, the lower first (`sk <= dk ? sk + dk :
   * dk + sk`), and in srcLow whether the source is the first. IPv4 (nearly every packet) is made
   * from numbers in one string, without the two endpoint strings and their concatenation.
   */
  private tupleKey(p: DecodedPacket): string {
    if (p.addrLen !== 4) {
      const sk = srcKey(p);
      const dk = dstKey(p);
      this.srcLow = sk <= dk;
      return this.srcLow ? sk + dk : dk + sk;
    }
    const s = u32be(p.buf, p.srcOff);
    const d = u32be(p.buf, p.dstOff);
    const sp = p.srcPort;
    const dp = p.dstPort;
    // compared as the strings are, code unit by code unit: the address halves, then the port
    const low = s !== d ? s < d : sp <= dp;
    this.srcLow = low;
    const a = low ? s : d;
    const z = low ? d : s;
    const ports = low ? sp * 65536 + dp : dp * 65536 + sp;
    // the packet before was most likely of the same flow: its key string, hash computed, again
    if (a === this.keyA && z === this.keyZ && ports === this.keyPorts) return this.key;
    this.keyA = a;
    this.keyZ = z;
    this.keyPorts = ports;
    // the code units packet's endpointKey makes: each address as two 16-bit halves, then the port
    return (this.key = String.fromCharCode(a >>> 16, a & 0xffff, ports >>> 16, z >>> 16, z & 0xffff, ports & 0xffff));
  }

  /** A SYN without ACK starts a new connection when its ISN differs and data already flowed. */
  private isNewIncarnation(t: Tracked, seq: number, ackFlag: boolean): boolean {
    if (ackFlag) return false;
    const cs = t.streams[0];
    return cs.synSeen && cs.isn !== seq && (cs.stats.bytes > 0 || t.c.s2c.stats.bytes > 0);
  }

  /**
   * A SYN-ACK that opens a new incarnation answers a SYN seen by the old one
   * (a reset in between): carry that SYN's ISN over, so the client's stream
   * starts at its first byte rather than mid-way.
   */
  private carrySyn(previous: Tombstone, t: Tracked, p: DecodedPacket): void {
    for (const isn of [previous.clientIsn, previous.serverIsn]) {
      if (isn >= 0 && seqAdd(isn, 1) === p.ack) {
        t.streams[0].segment(isn, true, false, EMPTY, 0, t.c.firstTs);
        return;
      }
    }
  }

  /**
   * An RST counts only when its sequence number fits the sender's stream
   * (RFC 5961 in spirit): blind or injected RSTs far off the stream are ignored.
   */
  private acceptReset(sender: TcpStreamAssembler, receiver: TcpStreamAssembler, p: DecodedPacket): boolean {
    if (sender.started) {
      const off = sender.offsetOf(p.seq);
      // RST carries the sender's next sequence number: everything it sent precedes it in the capture
      return off >= sender.nextOff - 1 && off <= Math.max(sender.maxEnd, sender.nextOff) + RST_SLACK;
    }
    if (p.tcpFlags & TCP_ACK && receiver.started) {
      // answer to a SYN (SYN-SENT): valid only if it acknowledges the SYN and nothing unsent (RFC 793)
      const ackOff = receiver.offsetOf(p.ack);
      return ackOff >= 0 && ackOff <= receiver.maxEnd + 1;
    }
    return true;
  }

  private isDuplicate(sig: PacketSignature, p: DecodedPacket, ts: number): boolean {
    const tsval = p.tcpHdrLen > 20 ? tcpTsval(p) : -1;
    const dup =
      ts - sig.ts <= this.dupWindowUs &&
      sig.seq === p.seq &&
      sig.ack === p.ack &&
      sig.flags === p.tcpFlags &&
      sig.window === p.window &&
      sig.len === p.payloadLen &&
      sig.ipId === p.ipId &&
      sig.checksum === p.l4Checksum &&
      sig.extra === tsval;
    sig.ts = ts;
    sig.seq = p.seq;
    sig.ack = p.ack;
    sig.flags = p.tcpFlags;
    sig.window = p.window;
    sig.len = p.payloadLen;
    sig.ipId = p.ipId;
    sig.checksum = p.l4Checksum;
    sig.extra = tsval;
    return dup;
  }

  private endpoints(p: DecodedPacket, srcIsServer: boolean): [Endpoint, Endpoint] {
    const src = { addr: formatIp(p.buf, p.srcOff, p.addrLen), port: p.srcPort };
    const dst = { addr: formatIp(p.buf, p.dstOff, p.addrLen), port: p.dstPort };
    return srcIsServer ? [dst, src] : [src, dst];
  }

  /** The server is the --port side, else the SYN's target, else the lower port. */
  private srcIsServer(p: DecodedPacket, tcp: boolean): boolean {
    const sp = this.serverPorts;
    if (sp.size > 0) {
      const s = sp.has(p.srcPort);
      if (s !== sp.has(p.dstPort)) return s;
    }
    if (tcp && p.tcpFlags & TCP_SYN) return (p.tcpFlags & TCP_ACK) !== 0;
    return p.srcPort < p.dstPort;
  }

  /** A connection whose client is the side with key `clientKey` (sk or dk of packet p). */
  private openConnection(p: DecodedPacket, key: string, sk: string, ts: number, clientKey: string, id: number, mayResume = false): Tracked {
    const [client, server] = this.endpoints(p, clientKey !== sk);
    const t = this.track(new TcpConnection(id, key, client, server, clientKey, ts));
    if (mayResume) this.resume(t, key);
    this.stats.connections++;
    this.listener.open?.(t.c, ts);
    return t;
  }

  /** A connection record and the table's two assemblers for it, their facts on the record. */
  private track(c: TcpConnection): Tracked {
    const asm = (dir: Direction) => new TcpStreamAssembler(new DirectionSink(this.listener, c, dir), this.budget, this.asmOpts, c.stream(dir));
    // the client's key is the first half of the connection's (both, when the halves are equal)
    return { c, streams: [asm('c2s'), asm('s2c')], clientLow: c.key.startsWith(c.clientKey) };
  }

  private addHalfOpen(p: DecodedPacket, key: string, sk: string, dk: string, ts: number): void {
    const clientKey = this.srcIsServer(p, true) ? dk : sk;
    this.halfOpen.set(key, { id: this.nextId++, key, clientKey, synDir: clientKey === sk ? 'c2s' : 's2c', isn: p.seq, firstTs: ts, lastTs: ts, packets: 1, duplicates: 0, endpoints: this.endpoints(p, clientKey !== sk) });
    if (this.halfOpen.size > this.maxHalfOpen) {
      this.halfOpen.shift();
      this.stats.halfOpenDropped++;
    }
  }

  /** A SYN that never got an answer, reported as the connection it tried to be: opened, its SYN, closed. */
  private materialize(h: HalfOpen, ts: number, reason: 'open' | 'timeout' = 'open'): void {
    const [client, server] = h.endpoints;
    const t = this.track(new TcpConnection(h.id, h.key, client, server, h.clientKey, h.firstTs));
    const c = t.c;
    this.stats.connections++;
    this.listener.open?.(c, h.firstTs);
    const d = h.synDir === 'c2s' ? 0 : 1;
    c.packets[d] = h.packets;
    c.duplicates[d] = h.duplicates;
    c.lastTs = h.lastTs;
    t.streams[d].segment(h.isn, true, false, EMPTY, 0, h.firstTs);
    closeBoth(t, reason, ts);
  }

  /** A connection on a 4-tuple idle eviction ended continues where its streams stood: nothing is lost or invented. */
  private resume(t: Tracked, key: string): void {
    const c = t.c;
    const ev = this.evictedTuples.get(key);
    if (!ev) return;
    this.evictedTuples.delete(key);
    const sameWay = ev.clientKey === c.clientKey;
    for (const [i, stream] of t.streams.entries()) {
      const from = ev.streams[sameWay ? i : 1 - i]!;
      if (from) stream.resumeAt(from.seq, from.offset);
    }
    c.resumes = ev.id;
    this.stats.resumed++;
  }

  private udpPacket(p: DecodedPacket, ts: number): void {
    const buf = p.buf;
    const key = this.tupleKey(p);
    const srcLow = this.srcLow;
    let u = this.udp.get(key);
    if (!u) {
      const sk = srcKey(p);
      const dk = dstKey(p);
      const srcIsServer = this.srcIsServer(p, false);
      const [client, server] = this.endpoints(p, srcIsServer);
      const flow = new UdpFlow(this.nextId++, key, client, server, srcIsServer ? dk : sk, ts);
      u = { f: flow, clientLow: key.startsWith(flow.clientKey) };
      this.udp.set(key, u);
      this.stats.udpFlows++;
      this.listener.udpOpen?.(flow, ts);
    }
    const f = u.f;
    const di = srcLow === u.clientLow ? 0 : 1;
    f.lastTs = ts;
    // datagrams have no sequence number: the signature uses the IP id and a hash of the first bytes
    const sig = f.lastSig[di]!;
    // the head is hashed only when the rest of the signature matches the datagram before; with
    // lent packets a datagram's own hash waits until then, or until its buffer is returned (a
    // sixth of the CPU of live `streams` on a flood was hashing heads no copy ever followed)
    const maybe = ts - sig.ts <= this.dupWindowUs && sig.len === p.payloadLen && sig.ipId === p.ipId && sig.checksum === p.l4Checksum;
    let h = HEAD_PENDING;
    if (maybe || !this.lent) h = hashHead(buf, p.payloadOff, p.capPayloadLen);
    const dup = maybe && signatureHash(sig) === h;
    sig.ts = ts;
    sig.len = p.payloadLen;
    sig.ipId = p.ipId;
    sig.checksum = p.l4Checksum;
    sig.extra = h;
    if (h === HEAD_PENDING) {
      if (sig.head === null) this.pendingHeads.push(sig);
      sig.head = buf;
      sig.headAt = p.payloadOff;
      sig.headLen = p.capPayloadLen;
    }
    if (dup) {
      f.duplicates[di]++;
      this.stats.loopbackDuplicates++;
      return;
    }
    f.packets[di]++;
    f.bytes[di] += p.payloadLen;
    if (p.capPayloadLen < p.payloadLen) f.truncated[di]++;
    const l = this.listener;
    const dir = di === 0 ? 'c2s' : 's2c';
    const start = p.payloadOff;
    const end = start + p.capPayloadLen;
    if (l.datagramAt) l.datagramAt(f, dir, buf, start, end, p.payloadLen, ts);
    else l.datagram?.(f, dir, buf.subarray(start, end), p.payloadLen, ts);
  }

  /** Where the streams of an evicted connection stood, for a later packet on its 4-tuple. */
  private keepEvicted(key: string, t: Tracked): void {
    const at = (a: TcpStreamAssembler): StreamPoint | null => (a.started ? { seq: a.nextSeq, offset: a.nextOff } : null);
    this.evictedTuples.set(key, { id: t.c.id, clientKey: t.c.clientKey, streams: [at(t.streams[0]), at(t.streams[1])] });
    if (this.evictedTuples.size > this.maxEvicted) this.evictedTuples.shift();
  }

  private closeUdp(f: UdpFlow, ts: number): void {
    if (f.closed) return;
    f.closed = true;
    this.listener.udpClose?.(f, ts);
  }

  /** Drop idle connections and lingering closed ones; runs on packet time, a few times per timeout. */
  private sweep(ts: number): void {
    const idle = this.idleTimeoutUs;
    this.nextSweep = ts + Math.max(1e6, Math.min(idle, LINGER_US) / 4);
    this.defrag.expire(ts);
    const linger = Math.min(idle, LINGER_US);
    // insertion order is closing order
    for (let o = this.recentlyClosed.oldest(); o && ts - o[1].closedAt > linger; o = this.recentlyClosed.oldest()) this.recentlyClosed.shift();
    // oldest first, up to the first that is not idle (one kept young by SYN retransmissions holds
    // back those behind it until a later sweep: they are capped by maxHalfOpen meanwhile)
    for (let o = this.halfOpen.oldest(); o && ts - o[1].lastTs > idle; o = this.halfOpen.oldest()) {
      this.halfOpen.shift();
      this.materialize(o[1], ts, 'timeout');
      this.stats.evicted++;
    }
    for (const [key, t] of this.tcp) {
      if (ts - t.c.lastTs > idle) {
        closeBoth(t, 'timeout', ts);
        this.tcp.delete(key);
        this.stats.evicted++;
        this.keepEvicted(key, t);
      }
    }
    for (const [key, { f }] of this.udp) {
      if (ts - f.lastTs > idle) {
        f.end = 'timeout';
        this.closeUdp(f, ts);
        this.udp.delete(key);
        this.stats.evicted++;
      }
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** Where one direction's assembler delivers: the listener, told which connection and way (one small object, not closures: there may be 100,000 connections). */
class DirectionSink implements StreamSink {
  constructor(
    private readonly l: FlowListener,
    private readonly c: TcpConnection,
    private readonly dir: Direction,
  ) {}

  data(chunk: Buffer, offset: number, ts: number): void {
    this.l.data?.(this.c, this.dir, chunk, offset, ts);
  }

  gap(length: number, offset: number, ts: number, reason: GapReason): void {
    this.l.gap?.(this.c, this.dir, length, offset, ts, reason);
  }

  end(reason: StreamEnd, ts: number): void {
    const c = this.c;
    this.l.end?.(c, this.dir, reason, ts);
    if (c.c2s.ended !== null && c.s2c.ended !== null) {
      c.closedAt = ts;
      if (c.state !== 'reset') c.state = 'closed';
      this.l.close?.(c, ts);
    } else if (c.state !== 'reset') {
      c.state = 'closing';
    }
  }
}

/** A bare SYN nobody answered yet: what is needed to make it a connection later. */
interface HalfOpen {
  id: number;
  key: string;
  clientKey: string;
  /** Which way the SYN went (the client's unless --port says otherwise). */
  synDir: Direction;
  isn: number;
  firstTs: number;
  lastTs: number;
  packets: number;
  duplicates: number;
  endpoints: [Endpoint, Endpoint];
}

interface StreamPoint {
  seq: number;
  offset: number;
}

interface Evicted {
  id: number;
  clientKey: string;
  streams: [StreamPoint | null, StreamPoint | null];
}

/** What is kept of a closed connection while its late packets may still arrive (one small object: there may be 65,536). */
interface Tombstone {
  closedAt: number;
  /** ISNs of SYNs seen each way (-1: none), so that a SYN-ACK reopening the tuple can start from them. */
  clientIsn: number;
  serverIsn: number;
}

function tombstone(t: Tracked, closedAt: number): Tombstone {
  const [a, b] = t.streams;
  return { closedAt, clientIsn: a.synSeen ? a.isn : -1, serverIsn: b.synSeen ? b.isn : -1 };
}

/** A UDP flow the table follows, and which way a packet goes (as Tracked's clientLow). */
interface TrackedUdp {
  readonly f: UdpFlow;
  readonly clientLow: boolean;
}

/** A connection the table follows: its record, and the assemblers the table owns for it. */
interface Tracked {
  readonly c: TcpConnection;
  readonly streams: [TcpStreamAssembler, TcpStreamAssembler];
  /** The client is the lower endpoint of the key: a packet whose source is the lower one goes c2s. */
  readonly clientLow: boolean;
}

function closeBoth(t: Tracked, reason: StreamEnd, ts: number): void {
  t.streams[0].close(reason, ts);
  t.streams[1].close(reason, ts);
}

/** A UDP signature's head hash, computed now if it was left pending (its bytes are still held). */
function signatureHash(sig: PacketSignature): number {
  if (sig.extra === HEAD_PENDING) sig.extra = hashHead(sig.head!, sig.headAt, sig.headLen);
  return sig.extra;
}

/** FNV-1a over the first 32 bytes: cheap, enough to tell two datagrams apart. */
function hashHead(buf: Buffer, off: number, len: number): number {
  let h = 0x811c9dc5 ^ len;
  const end = off + Math.min(len, 32);
  for (let i = off; i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h >>> 0;
}
