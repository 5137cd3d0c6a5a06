/**
 * Connections and flows as records: plain data about each (endpoints, figures, per-direction
 * facts) that the flow table keeps current and a recording player rebuilds; the table owns the
 * machinery (assemblers). toFacts/applyFacts are how a recording stores and restores the facts
 * only the packets knew.
 */
import type { Direction, Endpoint, StreamEnd } from '../core/types';
import { newDirectionFacts, type DirectionFacts, type GapReason } from '../reassembly/assembler';

/** What the flow table tells its listener. All callbacks are optional. */
export interface FlowListener {
  /** A TCP connection was seen for the first time. */
  open?(c: TcpConnection, ts: number): void;
  data?(c: TcpConnection, dir: Direction, chunk: Buffer, offset: number, ts: number): void;
  gap?(c: TcpConnection, dir: Direction, length: number, offset: number, ts: number, reason: GapReason): void;
  /** One direction ended. */
  end?(c: TcpConnection, dir: Direction, reason: StreamEnd, ts: number): void;
  /** Both directions ended; the connection's figures are final. */
  close?(c: TcpConnection, ts: number): void;
  udpOpen?(f: UdpFlow, ts: number): void;
  /** One UDP datagram; `declaredLen` exceeds payload.length when the capture truncated it. */
  datagram?(f: UdpFlow, dir: Direction, payload: Buffer, declaredLen: number, ts: number): void;
  /**
   * datagram() with the payload where it lies, buf[start, end) of the capture's buffer, valid during
   * the call only: no view of it is made (a listener that counts bytes pays for none). The flow table
   * calls it instead of datagram() when a listener has it; the recording player, the proxy and the
   * listeners that wrap others call datagram() only, so a listener with this has datagram() too.
   */
  datagramAt?(f: UdpFlow, dir: Direction, buf: Buffer, start: number, end: number, declaredLen: number, ts: number): void;
  udpClose?(f: UdpFlow, ts: number): void;
}

export type ConnectionState = 'handshake' | 'open' | 'closing' | 'closed' | 'reset';

/** The last packet of one direction, to recognise the same packet captured twice. */
export class PacketSignature {
  ts = -Infinity;
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  len = 0;
  ipId = 0;
  checksum = 0;
  extra = 0;
  /**
   * A datagram's head not hashed yet (extra is HEAD_PENDING), where it lies: set while the
   * signature is in the flow table's list of heads to hash when the packets are returned (then it
   * is hashed if still pending, and let go of).
   */
  head: Buffer | null = null;
  headAt = 0;
  headLen = 0;
}

/** PacketSignature.extra of a datagram whose head is hashed only if a copy of it may follow. */
export const HEAD_PENDING = -1;

abstract class Flow {
  packets: [number, number] = [0, 0];
  /** The same packet captured twice (loopback devices that see both directions). */
  duplicates: [number, number] = [0, 0];
  readonly lastSig: [PacketSignature, PacketSignature] = [new PacketSignature(), new PacketSignature()];
  lastTs: number;
  /** State its traffic does not show (session keys from a key log, or from a recording that stored them). */
  keys?: Record<string, Buffer>;

  constructor(
    readonly id: number,
    readonly key: string,
    readonly client: Endpoint,
    readonly server: Endpoint,
    /** The client's address and port in the flow table's key form. */
    readonly clientKey: string,
    readonly firstTs: number,
  ) {
    this.lastTs = firstTs;
  }
}

export class UdpFlow extends Flow {
  /** Payload bytes as declared by the headers. */
  bytes: [number, number] = [0, 0];
  /** Datagrams the capture cut short. */
  truncated: [number, number] = [0, 0];
  closed = false;
  /** 'timeout' when evicted for idleness, 'open' when the input ended first. */
  end: StreamEnd = 'open';
}

export class TcpConnection extends Flow {
  readonly c2s: DirectionFacts = newDirectionFacts();
  readonly s2c: DirectionFacts = newDirectionFacts();
  state: ConnectionState = 'handshake';
  /** Packet time at which both directions had ended, or -1. */
  closedAt = -1;
  /** The id of the connection on the same 4-tuple that idle eviction ended and this one continues, or -1. */
  resumes = -1;

  stream(dir: Direction): DirectionFacts {
    return dir === 'c2s' ? this.c2s : this.s2c;
  }

  get closed(): boolean {
    return this.closedAt >= 0;
  }
}

/** Per-direction facts of a connection or flow that only the packets knew ([c2s, s2c]): what a recording keeps of them. */
export interface StreamFacts {
  syn: [boolean, boolean];
  midstream: [boolean, boolean];
  packets: [number, number];
  duplicates: [number, number];
  retransmitted: [number, number];
  conflicts: [number, number];
}

export function toFacts(f: TcpConnection | UdpFlow): StreamFacts {
  const both = <T>(get: (d: DirectionFacts) => T, udp: T): [T, T] => (f instanceof TcpConnection ? [get(f.c2s), get(f.s2c)] : [udp, udp]);
  return {
    syn: both((d) => d.synSeen, false),
    midstream: both((d) => d.midstream, false),
    packets: [f.packets[0], f.packets[1]],
    duplicates: [f.duplicates[0], f.duplicates[1]],
    retransmitted: both((d) => d.stats.retransmittedBytes, 0),
    conflicts: both((d) => d.stats.overlapConflicts, 0),
  };
}

export function applyFacts(f: TcpConnection | UdpFlow, x: StreamFacts): void {
  f.packets = [x.packets[0], x.packets[1]];
  f.duplicates = [x.duplicates[0], x.duplicates[1]];
  if (f instanceof UdpFlow) return;
  for (const [i, d] of [f.c2s, f.s2c].entries()) {
    d.synSeen = x.syn[i]!;
    d.midstream = x.midstream[i]!;
    d.stats.retransmittedBytes = x.retransmitted[i]!;
    d.stats.overlapConflicts = x.conflicts[i]!;
  }
}
