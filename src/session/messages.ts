/** The flow table's events as messages: a conversation per connection (see conversation/). */
import { Conversation, type ConversationMessage } from '../conversation/conversation';
import { FifoMap } from '../core/fifo-map';
import type { Direction, StreamEnd } from '../core/types';
import { UdpFlow, type FlowListener, type TcpConnection } from '../flow/connection';
import type { GapReason } from '../reassembly/assembler';
import type { Protocol } from '../protocol/protocol';
import type { DecodeLimits } from '../protocol/runtime';

/** A message of a connection or flow: what its conversation decoded (see conversation/). */
export type Message = ConversationMessage<TcpConnection | UdpFlow>;

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
  /** State a connection starts with that its traffic does not show (keys from a key log). */
  keys?: (flow: TcpConnection | UdpFlow) => Record<string, unknown> | undefined;
}

/** Conversations of connections idle eviction ended, kept for a continuation (FlowTable resumes them). */
const MAX_DORMANT = 10_000;

/**
 * Turns the flow table's events into messages: one conversation per connection (and per UDP
 * flow), fed the reassembled bytes, gaps and ends. Bytes that do not frame or decode still come
 * out, as messages with `raw` or `error` set.
 */
/** A flow's bytes so far, for MessageDecoder.redecode: in order, with their stream offsets (tcp). */
export interface RedecodeFlow {
  flow: TcpConnection | UdpFlow;
  chunks: { dir: Direction; bytes: Buffer; offset: number; ts: number }[];
  /** Where each direction's first chunk starts when the flow's start is not held. */
  start?: { c2s: number; s2c: number };
}

export class MessageDecoder implements FlowListener {
  private readonly conversations = new Map<number, Conversation<TcpConnection>>();
  private readonly udpConversations = new Map<number, Conversation<UdpFlow>>();
  /** Conversations of connections ended by idle eviction, by connection id. */
  private readonly dormant = new FifoMap<number, Conversation<TcpConnection>>();

  constructor(
    public protocol: Protocol | null,
    private readonly sink: MessageSink,
    private readonly opts: MessageDecoderOptions = {},
  ) {}

  /**
   * Decode again with another protocol (an edited description): each flow's bytes so far, in
   * order, go through a fresh conversation; the messages come back (not to the sink), and the
   * flows still open carry on with those conversations, so what arrives next decodes in step
   * (compression, a cipher, the phase). Flows not given start afresh when their next bytes come.
   */
  redecode(protocol: Protocol, flows: RedecodeFlow[]): Message[] {
    // bytes the old conversations hold that no message has yet go to the new ones too
    for (const f of flows) {
      const old = f.flow instanceof UdpFlow ? undefined : this.conversations.get(f.flow.id);
      for (const dir of ['c2s', 's2c'] as const) {
        const p = old?.takePending(dir);
        if (p) f.chunks.push({ dir, bytes: p.bytes, offset: p.offset, ts: f.flow.lastTs });
      }
    }
    this.protocol = protocol;
    this.conversations.clear();
    this.udpConversations.clear();
    this.dormant.clear();
    const out: Message[] = [];
    for (const f of flows) {
      let target: (m: Message) => void = (m) => out.push(m);
      const handler = (m: Message): void => target(m);
      if (f.flow instanceof UdpFlow) {
        if (!protocol.udp) continue;
        const conv = this.newConversation(protocol, 'udp', f.flow, handler);
        for (const c of f.chunks) conv.datagram(c.dir, c.bytes, c.ts);
        if (!f.flow.closed) this.udpConversations.set(f.flow.id, conv);
      } else {
        if (!protocol.tcp) continue;
        const flow = f.flow;
        const conv = this.newConversation(protocol, 'tcp', flow, handler);
        const at = { c2s: f.start?.c2s ?? 0, s2c: f.start?.s2c ?? 0 };
        for (const c of f.chunks) {
          if (c.offset > at[c.dir]) conv.gap(c.dir, c.offset - at[c.dir], at[c.dir], c.ts);
          if (c.offset + c.bytes.length <= at[c.dir]) continue;
          const skip = Math.max(0, at[c.dir] - c.offset);
          conv.received(c.dir, c.bytes.subarray(skip), c.offset + skip, c.ts);
          at[c.dir] = c.offset + c.bytes.length;
        }
        if (!flow.closed) this.conversations.set(flow.id, conv);
        else for (const d of ['c2s', 's2c'] as const) conv.end(d, flow.lastTs);
      }
      target = (m) => this.sink.message(m);
    }
    return out;
  }

  /** A conversation for a flow, with this decoder's options and the flow's keys. */
  private newConversation<F extends TcpConnection | UdpFlow>(protocol: Protocol, kind: 'tcp' | 'udp', flow: F, handler: (m: Message) => void): Conversation<F> {
    return new Conversation<F>(protocol, kind, handler as (m: ConversationMessage<F>) => void, { flow, spans: this.opts.spans, limits: this.opts.limits, keys: this.keysOf(flow) });
  }

  private conversation(c: TcpConnection): Conversation<TcpConnection> | null {
    let conv = this.conversations.get(c.id);
    if (!conv && this.protocol?.tcp) {
      conv = this.newConversation(this.protocol, 'tcp', c, (m) => this.sink.message(m));
      this.conversations.set(c.id, conv);
    }
    return conv ?? null;
  }

  /** The state a flow's conversation holds now (live, not a copy): after its last message, before its next. */
  stateOf(flow: TcpConnection | UdpFlow): Record<string, unknown> | undefined {
    return (flow instanceof UdpFlow ? this.udpConversations.get(flow.id) : this.conversations.get(flow.id))?.state;
  }

  /** No protocol, or none for tcp: the bytes come out raw, one message per delivery. */
  private raw(flow: TcpConnection | UdpFlow, transport: 'tcp' | 'udp', dir: Direction, bytes: Buffer, offset: number, ts: number, reason: string): void {
    const count = this.rawCount.get(flow) ?? [0, 0];
    this.rawCount.set(flow, count);
    const d = dir === 'c2s' ? 0 : 1;
    this.sink.message({ flow, transport, dir, index: count[d]++, offset, ts, wire: bytes, frame: bytes, payload: bytes, size: bytes.length, raw: reason, trailing: 0, compressed: false } as Message);
  }

  private readonly rawCount = new WeakMap<object, [number, number]>();

  /** A connection's keys: from the key log given, else those its record holds (a recording that stored them). */
  private keysOf(flow: TcpConnection | UdpFlow): () => Record<string, unknown> | undefined {
    const keys = this.opts.keys;
    return keys ? () => keys(flow) ?? flow.keys : () => flow.keys;
  }

  private noProtocol(kind: 'tcp' | 'udp'): string {
    return this.protocol ? `protocol ${this.protocol.name} has no ${kind} section` : 'no protocol';
  }

  open(c: TcpConnection, ts: number): void {
    // A continuation of a connection evicted while idle: the game's state (compression, a cipher, the phase) carries on.
    const d = c.resumes >= 0 ? this.dormant.get(c.resumes) : undefined;
    if (d) {
      this.dormant.delete(c.resumes);
      this.conversations.set(c.id, d.continuedAs(c));
    } else this.conversation(c);
    this.sink.open?.(c, ts);
  }

  data(c: TcpConnection, dir: Direction, chunk: Buffer, offset: number, ts: number): void {
    const conv = this.conversation(c);
    if (conv) conv.received(dir, chunk, offset, ts);
    else this.raw(c, 'tcp', dir, chunk, offset, ts, this.noProtocol('tcp'));
  }

  gap(c: TcpConnection, dir: Direction, length: number, offset: number, ts: number, reason: GapReason): void {
    this.conversation(c)?.gap(dir, length, offset, ts);
    this.sink.gap?.(c, dir, length, offset, ts, reason);
  }

  end(c: TcpConnection, dir: Direction, reason: StreamEnd, ts: number): void {
    this.conversations.get(c.id)?.end(dir, ts);
    this.sink.end?.(c, dir, reason, ts);
  }

  close(c: TcpConnection, ts: number): void {
    const conv = this.conversations.get(c.id);
    this.conversations.delete(c.id);
    if (conv && c.c2s.ended === 'timeout' && c.s2c.ended === 'timeout') {
      this.dormant.set(c.id, conv);
      if (this.dormant.size > MAX_DORMANT) this.dormant.shift();
    }
    this.sink.close?.(c, ts);
  }

  udpOpen(f: UdpFlow, ts: number): void {
    this.udpConversation(f);
    this.sink.open?.(f, ts);
  }

  private udpConversation(f: UdpFlow): Conversation<UdpFlow> | null {
    let conv = this.udpConversations.get(f.id);
    if (!conv && this.protocol?.udp) {
      conv = this.newConversation(this.protocol, 'udp', f, (m) => this.sink.message(m));
      this.udpConversations.set(f.id, conv);
    }
    return conv ?? null;
  }

  datagram(f: UdpFlow, dir: Direction, payload: Buffer, declaredLen: number, ts: number): void {
    const conv = this.udpConversation(f);
    if (!conv) return this.raw(f, 'udp', dir, payload, -1, ts, this.noProtocol('udp'));
    if (declaredLen > payload.length) conv.cutDatagram(dir, payload, declaredLen, ts);
    else conv.datagram(dir, payload, ts);
  }

  udpClose(f: UdpFlow, ts: number): void {
    this.udpConversations.delete(f.id);
    this.sink.close?.(f, ts);
  }
}
