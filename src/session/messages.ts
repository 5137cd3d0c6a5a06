/**
 * Stream -> framer -> decoder: turns the flow table's events into messages. Each connection has
 * one session state (shared by both directions, as a game's is) and one framer per direction.
 * Bytes that do not frame or decode still come out, as messages with `raw` or `error` set.
 */
import { FifoMap } from '../core/fifo-map';
import type { Direction, StreamEnd } from '../core/types';
import type { FlowListener, TcpConnection, UdpFlow } from '../flow/connection';
import { createFramer, type Framer } from '../framing/framers';
import type { GapReason } from '../reassembly/assembler';
import type { DecodedMessage, DecodeOptions, Protocol, Transport } from '../protocol/protocol';
import type { DecodeLimits, Span } from '../protocol/runtime';

export interface Message {
  /** Packet time (µs) of the chunk that completed the message. */
  ts: number;
  flow: TcpConnection | UdpFlow;
  transport: 'tcp' | 'udp';
  dir: Direction;
  /** Per connection and direction, from 0. */
  index: number;
  /** Stream offset of the frame (tcp), or the datagram number (udp). */
  offset: number;
  /** Bytes on the wire (frame header included). */
  size: number;
  /** The bytes fields and spans refer to (decompressed when the frame was). */
  body: Buffer;
  /** The frame as the framer cut it (compressed when it was; the datagram for udp). Replay resends it. */
  frame: Buffer;
  name?: string;
  /** The name where one alone could be ambiguous: `c2s.chat` for a name used both ways. */
  label?: string;
  id?: number;
  fields?: Record<string, unknown>;
  /** The transport's head fields (before the id), when it has a head. */
  head?: Record<string, unknown>;
  /** The frame header's fields, with header framing. */
  header?: Record<string, unknown>;
  /** Set when the bytes are not a frame at all (gap, framing lost, no protocol). */
  raw?: string;
  error?: { message: string; path: string; offset: number };
  trailing: number;
  compressed: boolean;
  spans?: Span[];
}

export interface MessageSink {
  message(m: Message): void;
  gap?(flow: TcpConnection, dir: Direction, length: number, offset: number, ts: number, reason: GapReason): void;
  open?(flow: TcpConnection | UdpFlow, ts: number): void;
  end?(flow: TcpConnection, dir: Direction, reason: StreamEnd, ts: number): void;
  close?(flow: TcpConnection | UdpFlow, ts: number): void;
}

export interface MessageDecoderOptions {
  spans?: boolean;
  /** What decoding may cost per message and per connection (default DEFAULT_DECODE_LIMITS). */
  limits?: DecodeLimits;
}

class Session {
  readonly state: Record<string, unknown>;
  readonly framers: [Framer | null, Framer | null] = [null, null];
  readonly count: [number, number] = [0, 0];
  /** The decode options of this connection: its own running budget. */
  readonly decodeOpts: DecodeOptions;
  constructor(protocol: Protocol | null, opts: MessageDecoderOptions) {
    this.state = protocol ? protocol.newState() : {};
    this.decodeOpts = { spans: opts.spans, limits: opts.limits, budget: { inflated: 0 } };
  }
}

const DIRS: Direction[] = ['c2s', 's2c'];

/** Sessions of connections idle eviction ended, kept for a continuation (FlowTable resumes them). */
const MAX_DORMANT = 10_000;

export class MessageDecoder implements FlowListener {
  private readonly sessions = new Map<number, Session>();
  private readonly udpSessions = new Map<number, Session>();
  /** Protocol state and message counts of connections ended by idle eviction, by connection id. */
  private readonly dormant = new FifoMap<number, { state: Record<string, unknown>; count: [number, number] }>();

  constructor(
    readonly protocol: Protocol | null,
    private readonly sink: MessageSink,
    private readonly opts: MessageDecoderOptions = {},
  ) {}

  private session(c: TcpConnection): Session {
    let s = this.sessions.get(c.id);
    if (!s) {
      s = new Session(this.protocol, this.opts);
      this.sessions.set(c.id, s);
      const t = this.protocol?.tcp;
      for (let d = 0; d < 2; d++) s.framers[d] = t ? createFramer(t.spec, this.frameSink(c, s, d, t)) : null;
    }
    return s;
  }

  private frameSink(c: TcpConnection, s: Session, d: number, t: Transport) {
    const dir = DIRS[d];
    return {
      frame: (wire: Buffer, body: Buffer, offset: number, ts: number, header?: Record<string, unknown>) => {
        const dm = t.decode(dir, body, s.state, header ? { ...s.decodeOpts, frame: header } : s.decodeOpts);
        this.sink.message(decodedMessage(dm, body, c, 'tcp', dir, ts, s.count[d]++, offset, wire.length));
      },
      raw: (bytes: Buffer, offset: number, ts: number, reason: string) => this.raw(c, 'tcp', s, d, bytes, offset, ts, reason),
    };
  }

  private raw(flow: TcpConnection | UdpFlow, transport: 'tcp' | 'udp', s: Session, d: number, bytes: Buffer, offset: number, ts: number, reason: string): void {
    this.sink.message({ ts, flow, transport, dir: DIRS[d], index: s.count[d]++, offset, size: bytes.length, body: bytes, frame: bytes, raw: reason, trailing: 0, compressed: false });
  }

  open(c: TcpConnection, ts: number): void {
    const s = this.session(c);
    // A continuation of a connection evicted while idle: the game's state (compression, phase) carries on.
    const d = c.resumes >= 0 ? this.dormant.get(c.resumes) : undefined;
    if (d) {
      this.dormant.delete(c.resumes);
      Object.assign(s.state, d.state);
      s.count[0] = d.count[0];
      s.count[1] = d.count[1];
    }
    this.sink.open?.(c, ts);
  }

  data(c: TcpConnection, dir: Direction, chunk: Buffer, offset: number, ts: number): void {
    const s = this.session(c);
    const d = dir === 'c2s' ? 0 : 1;
    const f = s.framers[d];
    if (f) f.push(chunk, offset, ts);
    else this.raw(c, 'tcp', s, d, chunk, offset, ts, this.protocol ? `protocol ${this.protocol.name} has no tcp section` : 'no protocol');
  }

  gap(c: TcpConnection, dir: Direction, length: number, offset: number, ts: number, reason: GapReason): void {
    const s = this.session(c);
    s.framers[dir === 'c2s' ? 0 : 1]?.gap(length, offset, ts);
    this.sink.gap?.(c, dir, length, offset, ts, reason);
  }

  end(c: TcpConnection, dir: Direction, reason: StreamEnd, ts: number): void {
    this.sessions.get(c.id)?.framers[dir === 'c2s' ? 0 : 1]?.end(ts);
    this.sink.end?.(c, dir, reason, ts);
  }

  close(c: TcpConnection, ts: number): void {
    const s = this.sessions.get(c.id);
    this.sessions.delete(c.id);
    if (s && c.c2s.ended === 'timeout' && c.s2c.ended === 'timeout') {
      this.dormant.set(c.id, { state: s.state, count: s.count });
      if (this.dormant.size > MAX_DORMANT) this.dormant.shift();
    }
    this.sink.close?.(c, ts);
  }

  udpOpen(f: UdpFlow, ts: number): void {
    this.udpSessions.set(f.id, new Session(this.protocol, this.opts));
    this.sink.open?.(f, ts);
  }

  datagram(f: UdpFlow, dir: Direction, payload: Buffer, declaredLen: number, ts: number): void {
    let s = this.udpSessions.get(f.id);
    if (!s) {
      s = new Session(this.protocol, this.opts);
      this.udpSessions.set(f.id, s);
    }
    const d = dir === 'c2s' ? 0 : 1;
    const t = this.protocol?.udp;
    if (!t) return this.raw(f, 'udp', s, d, payload, s.count[d], ts, this.protocol ? `protocol ${this.protocol.name} has no udp section` : 'no protocol');
    if (declaredLen > payload.length) return this.raw(f, 'udp', s, d, payload, s.count[d], ts, `datagram cut by the capture (${payload.length} of ${declaredLen} bytes)`);
    const dm = t.decode(dir, payload, s.state, s.decodeOpts);
    const index = s.count[d]++;
    this.sink.message(decodedMessage(dm, payload, f, 'udp', dir, ts, index, index, payload.length));
  }

  udpClose(f: UdpFlow, ts: number): void {
    this.udpSessions.delete(f.id);
    this.sink.close?.(f, ts);
  }
}

function decodedMessage(dm: DecodedMessage, frame: Buffer, flow: TcpConnection | UdpFlow, transport: 'tcp' | 'udp', dir: Direction, ts: number, index: number, offset: number, size: number): Message {
  return { ts, flow, transport, dir, index, offset, size, body: dm.body, frame, name: dm.name, label: dm.label, id: dm.id, head: dm.head, header: dm.frame, fields: dm.fields, error: dm.error, trailing: dm.trailing, compressed: dm.compressed, spans: dm.spans };
}

