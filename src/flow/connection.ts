import type { Direction, Endpoint, StreamEnd } from '../core/types';
import type { GapReason, StreamSink } from '../reassembly/assembler';
import { ReassemblyBudget, TcpStreamAssembler, type AssemblerOptions } from '../reassembly/assembler';

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
}

abstract class Flow {
  packets: [number, number] = [0, 0];
  /** The same packet captured twice (loopback devices that see both directions). */
  duplicates: [number, number] = [0, 0];
  readonly lastSig: [PacketSignature, PacketSignature] = [new PacketSignature(), new PacketSignature()];
  lastTs: number;

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
  readonly c2s: TcpStreamAssembler;
  readonly s2c: TcpStreamAssembler;
  state: ConnectionState = 'handshake';
  /** Packet time at which both directions had ended, or -1. */
  closedAt = -1;
  /** The id of the connection on the same 4-tuple that idle eviction ended and this one continues, or -1. */
  resumes = -1;

  constructor(
    id: number,
    key: string,
    client: Endpoint,
    server: Endpoint,
    clientKey: string,
    firstTs: number,
    listener: FlowListener,
    budget: ReassemblyBudget,
    opts: AssemblerOptions,
  ) {
    super(id, key, client, server, clientKey, firstTs);
    this.c2s = new TcpStreamAssembler(this.sinkFor('c2s', listener), budget, opts);
    this.s2c = new TcpStreamAssembler(this.sinkFor('s2c', listener), budget, opts);
  }

  stream(dir: Direction): TcpStreamAssembler {
    return dir === 'c2s' ? this.c2s : this.s2c;
  }

  get closed(): boolean {
    return this.closedAt >= 0;
  }

  private sinkFor(dir: Direction, l: FlowListener): StreamSink {
    return {
      data: (chunk, offset, ts) => l.data?.(this, dir, chunk, offset, ts),
      gap: (length, offset, ts, reason) => l.gap?.(this, dir, length, offset, ts, reason),
      end: (reason, ts) => {
        l.end?.(this, dir, reason, ts);
        if (this.c2s.ended !== null && this.s2c.ended !== null) {
          this.closedAt = ts;
          if (this.state !== 'reset') this.state = 'closed';
          l.close?.(this, ts);
        } else if (this.state !== 'reset') {
          this.state = 'closing';
        }
      },
    };
  }
}
