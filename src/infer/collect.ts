/**
 * What inference reads: each TCP connection's bytes per direction (in order, up to a budget) and
 * each UDP flow's datagrams, grouped by server port. A FlowListener, fed by any input.
 */
import type { Direction } from '../core/types';
import type { FlowListener, TcpConnection, UdpFlow } from '../flow/connection';

export interface TcpSample {
  conn: number;
  port: number;
  /** Each direction's bytes from its start (or from where the capture joined), cut at the budget. */
  bytes: Record<Direction, Buffer>;
  /** Whether a direction's bytes stop before its end: the budget, or a gap in the capture. */
  cut: Record<Direction, boolean>;
  /** When each direction's bytes were delivered: [offset, ts µs] at each delivery. */
  times: Record<Direction, [number, number][]>;
  /** The capture joined the connection after its start. */
  midstream: boolean;
}

export interface UdpSample {
  flow: number;
  port: number;
  datagrams: { dir: Direction; bytes: Buffer; ts: number }[];
}

export interface InferInput {
  tcp: TcpSample[];
  udp: UdpSample[];
}

export interface CollectLimits {
  /** Bytes kept per direction of a connection (default 1 MiB). */
  perStream: number;
  /** Bytes kept over everything (default 64 MiB). */
  total: number;
  /** Datagrams kept per UDP flow (default 20,000). */
  perFlow: number;
}

const DEFAULTS: CollectLimits = { perStream: 1 << 20, total: 64 << 20, perFlow: 20_000 };

interface Open {
  sample: TcpSample;
  parts: Record<Direction, Buffer[]>;
  size: Record<Direction, number>;
  next: Record<Direction, number>;
}

export class StreamCollector implements FlowListener {
  private readonly live = new Map<number, Open>();
  private readonly flows = new Map<number, UdpSample>();
  private readonly done: TcpSample[] = [];
  private total = 0;
  private readonly limits: CollectLimits;

  constructor(limits: Partial<CollectLimits> = {}) {
    this.limits = { ...DEFAULTS, ...limits };
  }

  private entry(c: TcpConnection): Open {
    let o = this.live.get(c.id);
    if (!o) {
      o = {
        sample: { conn: c.id, port: c.server.port, bytes: { c2s: EMPTY, s2c: EMPTY }, cut: { c2s: false, s2c: false }, times: { c2s: [], s2c: [] }, midstream: c.c2s.midstream || c.s2c.midstream },
        parts: { c2s: [], s2c: [] },
        size: { c2s: 0, s2c: 0 },
        next: { c2s: -1, s2c: -1 },
      };
      this.live.set(c.id, o);
    }
    return o;
  }

  open(c: TcpConnection): void {
    this.entry(c);
  }

  data(c: TcpConnection, dir: Direction, chunk: Buffer, offset: number, ts: number): void {
    const o = this.entry(c);
    if (o.sample.cut[dir]) return;
    if (o.next[dir] >= 0 && offset !== o.next[dir]) {
      o.sample.cut[dir] = true;
      return;
    }
    const room = Math.min(this.limits.perStream - o.size[dir], this.limits.total - this.total);
    if (room <= 0) {
      o.sample.cut[dir] = true;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    o.sample.times[dir].push([o.size[dir], ts]);
    // copied: the reassembler may reuse its buffers
    o.parts[dir].push(Buffer.from(part));
    o.size[dir] += part.length;
    this.total += part.length;
    o.next[dir] = offset + chunk.length;
    if (part.length < chunk.length) o.sample.cut[dir] = true;
  }

  gap(c: TcpConnection, dir: Direction): void {
    // bytes after a hole cannot be framed from here: what came before stays
    this.entry(c).sample.cut[dir] = true;
  }

  close(c: TcpConnection): void {
    const o = this.live.get(c.id);
    if (!o) return;
    this.live.delete(c.id);
    this.finish(o);
  }

  datagram(f: UdpFlow, dir: Direction, payload: Buffer, _declared: number, ts: number): void {
    let s = this.flows.get(f.id);
    if (!s) {
      s = { flow: f.id, port: f.server.port, datagrams: [] };
      this.flows.set(f.id, s);
    }
    if (s.datagrams.length >= this.limits.perFlow || this.total + payload.length > this.limits.total) return;
    s.datagrams.push({ dir, bytes: Buffer.from(payload), ts });
    this.total += payload.length;
  }

  private finish(o: Open): void {
    for (const d of ['c2s', 's2c'] as const) o.sample.bytes[d] = Buffer.concat(o.parts[d]);
    if (o.size.c2s || o.size.s2c) this.done.push(o.sample);
  }

  /** Everything read so far (connections still open included). */
  result(): InferInput {
    for (const o of this.live.values()) this.finish(o);
    this.live.clear();
    const tcp = this.done.sort((a, b) => a.conn - b.conn);
    return { tcp, udp: [...this.flows.values()].filter((f) => f.datagrams.length) };
  }
}

const EMPTY = Buffer.alloc(0);
