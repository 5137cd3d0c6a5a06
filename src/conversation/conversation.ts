/**
 * One conversation per connection: the protocol state both directions share, and per direction a
 * chain of layers between the bytes on the wire and the messages:
 *
 *   wire ─► stream transforms (a cipher) ─► framer (chosen by state) ─► frame transforms
 *        (a mask, compression) ─► [inner framer over the frame bodies] ─► message codec
 *
 * received()/gap()/end() run a direction's chain forward and hand out messages; send() runs it
 * backwards and gives the exact wire bytes; resend() sends a recorded frame as recorded while
 * keeping every layer in step. Without I/O: the session (capture, recording), replay, the
 * testbed and a proxy drive it with the bytes they have.
 *
 * Layers change at message boundaries: after each message (received or sent), the framing
 * choices and the stream transforms' `when:` are evaluated again. When the direction that carried
 * the message changes, its framer stops at that frame, and the bytes after it go through the new
 * layers (a cipher that starts right after the message that turned it on); the other direction's
 * new layers apply to the bytes it receives from then on.
 *
 * Gaps go through the layers as data: a stream cipher says how many bytes after a gap it cannot
 * decode (CFB8: 16) or that nothing after it can (a compressed stream), and then the rest of that
 * direction comes out raw with the reason; nothing is made up.
 */
import { bytesIn } from '../core/bytes';
import type { Direction } from '../core/types';
import { createFramer, type Framer } from '../framing/framers';
import { wrapFrame, type FramingSpec } from '../framing/spec';
import type { LayerArg, TransformUse } from '../protocol/ir';
import type { DecodedMessage, DecodeOptions, EncodeOptions, Protocol, Transport } from '../protocol/protocol';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits, type Span } from '../protocol/runtime';
import { WS_MESSAGES, WsDirection, WsHandshake, type WsSink } from './websocket';
import { argsProblem, asBytes, transformKind, TransformError, type Transform, type TransformArgs, type TransformKind } from '../transform/registry';

export interface ConversationMessage<F = unknown> {
  /** What the conversation belongs to (the session's connection or flow). */
  flow: F;
  transport: 'tcp' | 'udp';
  dir: Direction;
  /** Per direction, from 0. */
  index: number;
  /** Stream offset of the frame's first byte (tcp), or the datagram number (udp). */
  offset: number;
  /** Time (µs) of the bytes that completed it. */
  ts: number;
  /** The bytes on the wire, header included: as captured (ciphertext under a stream cipher). */
  wire: Buffer;
  /** The frame after the stream transforms, header included: what resend() sends again. */
  frame: Buffer;
  /** The frame's body after the frame transforms: what the fields were decoded from. */
  payload: Buffer;
  /** wire.length. */
  size: number;
  name?: string;
  /** The name where one alone could be ambiguous: `c2s.chat` for a name used both ways. */
  label?: string;
  id?: number;
  fields?: Record<string, unknown>;
  head?: Record<string, unknown>;
  /** The frame header's fields, with header framing. */
  header?: Record<string, unknown>;
  /** Set when the bytes are not a whole frame, or could not go through the layers: why. */
  raw?: string;
  error?: { message: string; path: string; offset: number };
  trailing: number;
  /** A frame transform inflated the payload. */
  compressed: boolean;
  spans?: Span[];
  /** Drop what can be had again (fields, spans, views on the bytes); false when it cannot be (see Message). */
  chill?(): boolean;
}

export interface ConversationOptions<F> {
  /** Attached to every message. */
  flow: F;
  spans?: boolean;
  limits?: DecodeLimits;
  /** State values to start with. */
  state?: Record<string, unknown>;
  /** State the traffic does not show (keys from a key log), asked for whenever the layers are set up (a live key log grows). */
  keys?: () => Record<string, unknown> | undefined;
  /** The largest frame to accept (a server facing untrusted clients), below the description's own limit. */
  maxFrame?: number;
}

export type MessageHandler<F> = (m: ConversationMessage<F>) => void;

const DIRS: readonly Direction[] = ['c2s', 's2c'];

interface Active {
  use: TransformUse;
  kind: TransformKind;
  tx: Transform;
}

/** A frame transform: created when first on, created again when its arguments change (a per-frame key). */
interface FrameLayer {
  use: TransformUse;
  kind: TransformKind;
  tx: Transform | null;
  args: TransformArgs | null;
  /** Set when a gap broke its state: every later frame fails with this. */
  broken: string;
  /** Bytes lost before it was first needed (a lost frame may have been its first). */
  lostBefore: number;
}

/** The captured bytes of a direction not yet handed out in a message, while stream transforms change them. */
class WireQueue {
  private parts: { offset: number; bytes: Buffer }[] = [];

  push(bytes: Buffer, offset: number): void {
    if (bytes.length) this.parts.push({ offset, bytes });
  }

  /** The captured bytes at [offset, offset + length), dropping everything before their end; null when not held. */
  take(offset: number, length: number): Buffer | null {
    const end = offset + length;
    const out: Buffer[] = [];
    let have = 0;
    for (const p of this.parts) {
      const s = Math.max(offset, p.offset);
      const e = Math.min(end, p.offset + p.bytes.length);
      if (e > s) {
        out.push(p.bytes.subarray(s - p.offset, e - p.offset));
        have += e - s;
      }
    }
    this.drop(end);
    if (have !== length) return null;
    return out.length === 1 ? out[0]! : Buffer.concat(out, length);
  }

  drop(before: number): void {
    let i = 0;
    while (i < this.parts.length && this.parts[i]!.offset + this.parts[i]!.bytes.length <= before) i++;
    if (i) this.parts.splice(0, i);
    const first = this.parts[0];
    if (first && first.offset < before) {
      first.bytes = first.bytes.subarray(before - first.offset);
      first.offset = before;
    }
  }
}

const NO_FRAME_LAYERS: FrameLayer[] = [];

class Chain {
  /** Which framing choice and which stream transforms are on, as a key. */
  config = '';
  framing = 0;
  spec: FramingSpec;
  framer: Framer | null = null;
  stream: Active[] = [];
  /** Every stream transform on keeps lengths (stream offsets are the same before and after). */
  exact = true;
  frame: FrameLayer[] = NO_FRAME_LAYERS;
  inner: Framer | null = null;
  innerOffset = 0;
  /** The WebSocket layer (websocket: true), between the bytes and the framing. */
  ws: WsDirection | null = null;
  /** Offset in the stream of WebSocket payloads (a framing over them). */
  wsPos = 0;
  wire: WireQueue | null = null;
  /** Where the framer's stream is (differs from the wire's offset after a transform that changes lengths). */
  plainPos = 0;
  /** Bytes after a gap the stream transforms cannot decode. */
  skip = 0;
  /** Why the rest of the direction is raw ('' while it decodes). */
  lost = '';
  /** Lost for want of a key: a key log that grows may give it before the next bytes. */
  keyless = false;
  count = 0;
  /** The framer stopped at a frame boundary: the layers must be rebuilt before it goes on. */
  stopped = false;
  /** Bytes of this direction are being delivered (its framer is mid-push): rebuild it only once that returns. */
  delivering = false;

  constructor(readonly d: 0 | 1, spec: FramingSpec) {
    this.spec = spec;
  }
}

/**
 * A message as the conversation hands it out. Its wire and frame bytes are views made when first
 * read (most messages are never asked for them), of the delivery they came in.
 */
class Message<F> implements ConversationMessage<F> {
  readonly size: number;
  readonly name?: string;
  readonly label?: string;
  readonly id?: number;
  readonly head?: Record<string, unknown>;
  readonly trailing: number;
  spans?: Span[];
  private fl: Record<string, unknown> | undefined;
  private p: Buffer | null;
  /** Where the payload lies in src when it is not held as a view (p null). */
  private ps: number;
  private pl: number;
  private w: Buffer | null;
  private f: Buffer | null;

  constructor(
    readonly flow: F,
    readonly transport: 'tcp' | 'udp',
    readonly dir: Direction,
    readonly index: number,
    readonly offset: number,
    readonly ts: number,
    private readonly src: Buffer,
    private readonly s: number,
    private readonly e: number,
    wire: Buffer | null,
    payload: Buffer,
    ps: number,
    pe: number,
    readonly header: Record<string, unknown> | undefined,
    readonly compressed: boolean,
    dm: DecodedMessage | null,
    readonly raw: string | undefined,
    readonly error: ConversationMessage['error'],
    /** Decodes the fields again from the payload after chill(); null when that would not be exact. */
    public redo: Transport | null,
  ) {
    this.w = wire;
    this.f = null;
    // the payload in src: kept as positions (the view is made when asked for); every field
    // assigned once, in one order, so that every message has one shape
    const inSrc = payload === src;
    this.p = inSrc ? null : bytesIn(payload, ps, pe);
    this.ps = inSrc ? ps : -1;
    this.pl = inSrc ? pe - ps : 0;
    this.size = wire ? wire.length : e - s;
    this.name = dm?.name;
    this.label = dm?.label;
    this.id = dm?.id;
    this.fl = dm?.fields;
    this.head = dm?.head;
    this.trailing = dm?.trailing ?? 0;
    this.spans = dm?.spans;
  }

  get fields(): Record<string, unknown> | undefined {
    return this.fl ?? (this.redo ? this.redo.fieldsFor(this.name!, this.payload, this.dir, this.header) : undefined);
  }

  /** The frame's body after the frame transforms. */
  get payload(): Buffer {
    return this.p ?? bytesIn(this.src, this.ps, this.ps + this.pl);
  }
  set payload(b: Buffer) {
    this.p = b;
    this.ps = -1;
  }

  /**
   * Drop what can be had again (the fields, spans and the views on the bytes), for a message a
   * long session no longer shows: its fields are decoded again from its bytes when asked. False
   * when that would not give the same fields (they read the state, a layer made them).
   */
  chill(): boolean {
    if (!this.redo) return false;
    if (this.fl === undefined) return true;
    const p = this.p;
    if (p && p.buffer === this.src.buffer && p.byteOffset >= this.src.byteOffset && p.byteOffset + p.length <= this.src.byteOffset + this.src.length) {
      this.ps = p.byteOffset - this.src.byteOffset;
      this.pl = p.length;
      this.p = null;
    }
    this.fl = undefined;
    this.spans = undefined;
    // views that frame and wire make again from src
    const derived = (b: Buffer | null): boolean => !!b && b.buffer === this.src.buffer && b.byteOffset === this.src.byteOffset + this.s && b.length === this.e - this.s;
    if (derived(this.f)) this.f = null;
    if (derived(this.w)) this.w = null;
    return true;
  }

  get frame(): Buffer {
    return (this.f ??= bytesIn(this.src, this.s, this.e));
  }
  set frame(b: Buffer) {
    this.f = b;
  }
  get wire(): Buffer {
    return (this.w ??= this.frame);
  }
  set wire(b: Buffer) {
    this.w = b;
  }
}

export class Conversation<F = unknown> {
  readonly state: Record<string, unknown>;
  readonly transport: Transport;
  private readonly chains: [Chain, Chain];
  private readonly decodeOpts: DecodeOptions;
  private readonly limits: DecodeLimits;
  /** Whether any framing choice or stream transform depends on the state (checked after each message). */
  private readonly dynamic: boolean;
  private readonly maxFrame: number;
  private readonly keys?: () => Record<string, unknown> | undefined;
  /** What every message is attached to (mutable for a connection continued under another record: continuedAs). */
  private flow: F;
  /** The transport, when a message's fields can be decoded again from its bytes alone (Message.chill). */
  private readonly redo: Transport | null;
  /** WebSocket: each data message is one message (no framing over them). */
  private wsMessages = false;

  constructor(
    readonly protocol: Protocol,
    readonly kind: 'tcp' | 'udp',
    private readonly handler: MessageHandler<F>,
    opts: ConversationOptions<F>,
  ) {
    const t = protocol.transport(kind);
    if (!t) throw new Error(`protocol ${protocol.name} has no ${kind} section`);
    this.transport = t;
    this.redo = protocol.fieldsReadState || t.def.msgpack ? null : t;
    this.flow = opts.flow;
    this.state = protocol.newState();
    if (opts.state) Object.assign(this.state, opts.state);
    this.limits = opts.limits ?? DEFAULT_DECODE_LIMITS;
    this.maxFrame = opts.maxFrame ?? Number.MAX_SAFE_INTEGER;
    this.keys = opts.keys;
    this.decodeOpts = { spans: opts.spans, limits: this.limits, budget: { inflated: 0 } };
    const L = t.layers;
    this.dynamic = L.framings.some((f) => f.when !== null) || L.stream.some((u) => u.when !== undefined);
    this.chains = [new Chain(0, L.framings[0]!.spec), new Chain(1, L.framings[0]!.spec)];
    for (const c of this.chains) c.framing = -1;
    const layered = this.dynamic || L.stream.length > 0 || L.inner !== null;
    if (t.def.websocket) {
      const shake = new WsHandshake();
      // each WebSocket message one message (framing: message), or a framing over what they carry
      this.wsMessages = L.framings.every((f) => f.spec.k === 'datagram');
      // inflating counts against the connection's decode budget, as frame transforms do
      const limits = { frame: Math.min(this.maxFrame, this.limits.inflate), message: this.limits.inflate, budget: this.decodeOpts.budget, connectionInflate: this.limits.connectionInflate };
      for (const c of this.chains) c.ws = new WsDirection(DIRS[c.d]!, shake, this.wsSink(c), limits);
    }
    for (const c of this.chains) {
      if (L.frame.length) c.frame = L.frame.filter((u) => u.dirs.includes(DIRS[c.d]!)).map((use) => ({ use, kind: transformKind(use.name)!, tx: null, args: null, broken: '', lostBefore: 0 }));
      // most protocols have one framing and nothing else: no layer keys to work out per connection
      if (layered) this.configure(c, false);
      else c.framer = createFramer(limited(c.spec, this.maxFrame), this.frameSink(c));
    }
  }

  /** This conversation goes on as `flow` (a connection idle eviction ended, resumed): its state, layers and counts carry on. */
  continuedAs(flow: F): this {
    this.flow = flow;
    return this;
  }

  // ---- receiving ------------------------------------------------------------------------------

  /** Bytes of direction `dir` at stream offset `offset`, in order. */
  received(dir: Direction, bytes: Buffer, offset: number, ts: number): void {
    this.pushWire(this.chains[dir === 'c2s' ? 0 : 1], bytes, offset, ts);
  }

  /** `length` bytes of `dir` were lost at `offset`. */
  gap(dir: Direction, length: number, offset: number, ts: number): void {
    const c = this.chains[dir === 'c2s' ? 0 : 1];
    if (c.lost) return;
    if (c.ws) {
      c.ws.gap(length, offset, ts);
      if (!this.wsMessages) {
        c.framer!.gap(length, c.wsPos, ts);
        c.wsPos += length;
      }
      return;
    }
    let skip = 0;
    for (const a of c.stream) {
      const r = a.tx.gap(length);
      if (typeof r === 'string') {
        this.lose(c, `${r} (a ${length}-byte gap at stream offset ${offset})`, ts);
        return;
      }
      skip = Math.max(skip, r);
    }
    c.wire?.drop(offset + length);
    c.skip = skip;
    const at = c.exact ? offset : c.plainPos;
    c.framer!.gap(length, at, ts);
    c.plainPos = at + length;
    for (const f of c.frame) {
      if (f.broken) continue;
      if (!f.tx) {
        f.lostBefore += length;
        continue;
      }
      const r = f.tx.gap(length);
      if (typeof r === 'string') f.broken = r;
    }
    // the inner stream lost at least the bodies of the frames the gap took
    if (c.inner) {
      c.inner.gap(length, c.innerOffset, ts);
      c.innerOffset += length;
    }
  }

  end(dir: Direction, ts: number): void {
    const c = this.chains[dir === 'c2s' ? 0 : 1];
    if (c.lost) return;
    c.ws?.end(ts);
    c.framer!.end(ts);
    c.inner?.end(ts);
  }

  /**
   * The captured bytes of `dir` that no message holds yet (a frame not whole), taken out: for
   * handing a connection to another conversation (a protocol reloaded). Null when they cannot be
   * given as captured (under a stream transform).
   */
  takePending(dir: Direction): { bytes: Buffer; offset: number } | null {
    const c = this.chains[dir === 'c2s' ? 0 : 1];
    if (c.lost) return null;
    if (c.ws) return c.ws.takeHeld();
    if (c.stream.length) return null;
    return c.framer?.takeRest() ?? null;
  }

  /** One datagram of `dir` (udp). */
  datagram(dir: Direction, bytes: Buffer, ts: number): void {
    const c = this.chains[dir === 'c2s' ? 0 : 1];
    this.frameArrived(c, bytes, 0, bytes.length, null, bytes, 0, bytes.length, c.count, ts, undefined);
  }

  /** A datagram the capture cut short: not decodable, shown raw with the reason. */
  cutDatagram(dir: Direction, bytes: Buffer, declared: number, ts: number): void {
    const c = this.chains[dir === 'c2s' ? 0 : 1];
    this.emitRaw(c, bytes, bytes, c.count, ts, `datagram cut by the capture (${bytes.length} of ${declared} bytes)`);
  }

  private pushWire(c: Chain, bytes: Buffer, offset: number, ts: number): void {
    if (c.lost && !(c.keyless && this.keys && this.retryKeys(c))) return this.emitRaw(c, bytes, bytes, offset, ts, c.lost);
    const outer = c.delivering;
    c.delivering = true;
    try {
      this.deliver(c, bytes, offset, ts);
    } finally {
      c.delivering = outer;
    }
    if (c.stopped && !outer) this.restart(c, ts);
  }

  private deliver(c: Chain, bytes: Buffer, offset: number, ts: number): void {
    if (c.ws) {
      c.ws.push(bytes, offset, ts);
    } else if (c.stream.length === 0) {
      c.plainPos = offset + bytes.length;
      c.framer!.push(bytes, offset, ts);
    } else {
      c.wire?.push(bytes, offset);
      let plain = bytes;
      try {
        for (const a of c.stream) plain = a.tx.decode(plain);
      } catch (e) {
        this.lose(c, `${(e as Error).message}`, ts, bytes, offset);
        return;
      }
      let at = c.exact ? offset : c.plainPos;
      if (c.skip > 0) {
        // the bytes right after a gap that the cipher used to get back in step: shown as captured, framed as lost
        const n = Math.min(c.skip, plain.length);
        c.wire?.drop(offset + n);
        this.emitRaw(c, bytes.subarray(0, n), bytes.subarray(0, n), at, ts, `${c.stream.map((a) => a.use.name).join(', ')}: bytes after a gap that cannot be decrypted (the cipher gets back in step on them)`);
        c.framer!.gap(n, at, ts);
        c.skip -= n;
        plain = plain.subarray(n);
        at += n;
      }
      c.plainPos = at + plain.length;
      if (plain.length) c.framer!.push(plain, at, ts);
    }
  }

  /** A direction waiting for its key: set the layers up again with what the key log has now. */
  private retryKeys(c: Chain): boolean {
    const was = c.lost;
    c.lost = '';
    c.keyless = false;
    this.configure(c, true, true);
    if (!c.lost) return true;
    c.lost = was;
    return false;
  }

  /** The framer stopped after a message that changed the layers: rebuild, and send the rest through the new ones. */
  private restart(c: Chain, ts: number): void {
    c.stopped = false;
    const oldStream = c.stream;
    const oldExact = c.exact;
    const oldWire = c.wire;
    const rest = c.framer!.takeRest();
    const streamChanged = this.configure(c, true);
    if (!rest) return;
    if (!streamChanged) {
      c.plainPos = rest.offset + rest.bytes.length;
      c.delivering = true;
      try {
        c.framer!.push(rest.bytes, rest.offset, ts);
      } finally {
        c.delivering = false;
      }
      if (c.stopped) this.restart(c, ts);
      return;
    }
    // the rest went through the old stream transforms: take it again as captured
    let wire: Buffer | null = rest.bytes;
    if (oldStream.length) wire = oldExact && oldWire ? oldWire.take(rest.offset, rest.bytes.length) : null;
    if (!wire) {
      this.lose(c, 'the layers changed after a stream transform that changes lengths: the rest cannot be taken again', ts, rest.bytes, rest.offset);
      return;
    }
    this.pushWire(c, wire, rest.offset, ts);
  }

  /** From here on the direction is raw, with why. */
  private lose(c: Chain, why: string, ts: number, bytes?: Buffer, offset?: number): void {
    const held = c.framer?.takeRest();
    c.lost = why;
    if (held) this.emitRaw(c, held.bytes, held.bytes, held.offset, ts, why);
    if (bytes) this.emitRaw(c, bytes, bytes, offset!, ts, why);
  }

  private frameSink(c: Chain) {
    return {
      frame: (buf: Buffer, start: number, bodyStart: number, bodyEnd: number, end: number, offset: number, ts: number, header?: Record<string, unknown>): boolean => {
        // under a stream transform the bytes as captured come from the wire queue; else they are the frame
        const wire = c.stream.length === 0 ? null : c.exact && c.wire ? c.wire.take(offset, end - start) : null;
        this.frameArrived(c, buf, start, end, wire, buf, bodyStart, bodyEnd, offset, ts, header);
        return c.stopped;
      },
      raw: (bytes: Buffer, offset: number, ts: number, reason: string): void => {
        const captured = c.stream.length === 0 ? bytes : c.exact && c.wire ? c.wire.take(offset, bytes.length) ?? bytes : bytes;
        this.emitRaw(c, captured, bytes, offset, ts, reason);
      },
    };
  }

  /**
   * A frame (src[s, e), after the stream transforms; `wire` the captured bytes when they differ)
   * with its body body[bs, be) (body is src, or the bytes a layer made): through the frame
   * transforms, then the inner framer or the message codec.
   */
  private frameArrived(c: Chain, src: Buffer, s: number, e: number, wire: Buffer | null, body: Buffer, bs: number, be: number, offset: number, ts: number, header: Record<string, unknown> | undefined, inflated = false): void {
    if (c.frame.length === 0 && !c.inner) return this.decodeFrame(c, src, s, e, wire, body, bs, be, offset, ts, header, inflated);
    let payload = bytesIn(body, bs, be);
    let compressed = inflated;
    for (const f of c.frame) {
      try {
        const tx = this.frameTransformWithKeys(f, header);
        if (!tx) continue;
        payload = tx.decode(payload);
        if (tx.inflated) {
          compressed = true;
          const budget = this.decodeOpts.budget!;
          budget.inflated += payload.length;
          if (budget.inflated > this.limits.connectionInflate) throw new TransformError(`not inflated: this connection has inflated more than its decode budget`);
        }
      } catch (err) {
        const why = err instanceof TransformError ? err.message : `${f.use.name}: ${(err as Error).message}`;
        this.emit(c, src, s, e, wire, payload, 0, payload.length, offset, ts, header, compressed, null, undefined, { message: why, path: '', offset: 0 });
        return;
      }
    }
    if (c.inner) {
      const at = c.innerOffset;
      c.innerOffset += payload.length;
      c.inner.push(payload, at, ts);
      return;
    }
    this.decodeFrame(c, src, s, e, wire, payload, 0, payload.length, offset, ts, header, compressed);
  }

  /** The message in payload[ps, pe) (payload is src, or the bytes the frame transforms made), decoded in place. */
  private decodeFrame(c: Chain, src: Buffer, s: number, e: number, wire: Buffer | null, payload: Buffer, ps: number, pe: number, offset: number, ts: number, header: Record<string, unknown> | undefined, compressed: boolean): void {
    const opts = header ? { ...this.decodeOpts, frame: header } : this.decodeOpts;
    let dm = this.transport.decodeAt(DIRS[c.d]!, payload, ps, pe, this.state, opts);
    // a field keyed from the state may need a key the key log got since
    if (dm.error && this.learnKeys()) dm = this.transport.decodeAt(DIRS[c.d]!, payload, ps, pe, this.state, opts);
    this.emit(c, src, s, e, wire, payload, ps, pe, offset, ts, header, compressed, dm, undefined, dm.error, this.redo);
    if (this.dynamic) this.checkLayers(this.kind === 'tcp' ? c : null);
  }

  /** What the WebSocket layer hands on: its own messages, data messages, raw bytes. */
  private wsSink(c: Chain): WsSink {
    return {
      own: (name, fields, wire, payload, offset, ts, header) => {
        const dm: DecodedMessage = { name, label: name, fields, body: payload, trailing: 0 };
        this.emit(c, wire, 0, wire.length, null, payload, 0, payload.length, offset, ts, header, false, dm, undefined, undefined);
      },
      data: (wire, payload, offset, ts, header) => {
        if (this.wsMessages) return this.frameArrived(c, wire, 0, wire.length, null, payload, 0, payload.length, offset, ts, header, header.compressed === true);
        c.framer!.push(payload, c.wsPos, ts);
        c.wsPos += payload.length;
      },
      raw: (bytes, offset, ts, reason) => this.emitRaw(c, bytes, bytes, offset, ts, `websocket: ${reason}`),
    };
  }

  private emitRaw(c: Chain, wire: Buffer, plain: Buffer, offset: number, ts: number, reason: string): void {
    this.emit(c, plain, 0, plain.length, wire === plain ? null : wire, plain, 0, plain.length, offset, ts, undefined, false, null, reason, undefined);
  }

  /** Every message is built here. */
  private emit(c: Chain, src: Buffer, s: number, e: number, wire: Buffer | null, payload: Buffer, ps: number, pe: number, offset: number, ts: number, header: Record<string, unknown> | undefined, compressed: boolean, dm: DecodedMessage | null, raw: string | undefined, error: ConversationMessage['error'], redo: Transport | null = null): void {
    this.handler(new Message(this.flow, this.kind, DIRS[c.d]!, c.count++, offset, ts, src, s, e, wire, payload, ps, pe, header, compressed, dm, raw, error, redo && dm?.fields && !error ? redo : null));
  }

  // ---- sending --------------------------------------------------------------------------------

  /**
   * Encode a message for direction `dir` with the current state, through every layer: the exact
   * bytes to write. Its own `set:` applies to the state, as it does on the peer that decodes it.
   */
  send(dir: Direction, name: string, fields: unknown, opts: EncodeOptions = {}): Buffer {
    const c = this.chains[dir === 'c2s' ? 0 : 1];
    if (c.ws && (WS_MESSAGES as readonly string[]).includes(name)) {
      c.count++;
      return c.ws.encodeOwn(name, (fields ?? {}) as Record<string, unknown>);
    }
    // the state may have changed since the last message (a key learnt from it)
    if (this.dynamic) this.checkLayers(null);
    const payload = this.transport.encode(name, fields, this.state, { ...opts, dir });
    return this.sendPayload(dir, payload, opts.frame ?? {});
  }

  /** A payload (head, id and fields encoded) for `dir`, through the frame transforms, the framing and the stream transforms. */
  sendPayload(dir: Direction, payload: Buffer, header: Record<string, unknown> = {}): Buffer {
    const c = this.chains[dir === 'c2s' ? 0 : 1];
    const body = this.encodeBody(dir, payload, header);
    let frame = this.kind === 'udp' ? body : wrapFrame(c.spec, body, header);
    if (c.ws) frame = c.ws.encodeData(frame, typeof header.opcode === 'string' ? header.opcode : undefined);
    return this.sent(c, frame, payload, header);
  }

  /** A payload through `dir`'s frame transforms (and inner framing): the body a frame carries. No state changes but the transforms' own. */
  encodeBody(dir: Direction, payload: Buffer, header: Record<string, unknown> = {}): Buffer {
    const c = this.chains[dir === 'c2s' ? 0 : 1];
    let body = payload;
    for (let i = c.frame.length - 1; i >= 0; i--) {
      const tx = this.frameTransform(c.frame[i]!, header);
      if (tx) body = tx.encode(body);
    }
    return c.inner ? wrapFrame(this.transport.layers.inner!, body) : body;
  }

  /** A frame body as a framer would cut it (tests, vectors): through the frame transforms and the codec; emits its message. */
  frameBody(dir: Direction, body: Buffer, header?: Record<string, unknown>, ts = 0): void {
    const c = this.chains[dir === 'c2s' ? 0 : 1];
    this.frameArrived(c, body, 0, body.length, null, body, 0, body.length, c.count, ts, header);
    if (c.stopped) this.restart(c, ts);
  }

  /**
   * A recorded message sent again as recorded: its frame (after the stream transforms) goes
   * through the stream transforms, and every layer steps as if it had encoded it (so that a later
   * message encoded anew fits: a cipher's position, a deflate window).
   */
  resend(dir: Direction, frame: Buffer, payload: Buffer, header: Record<string, unknown> = {}): Buffer {
    const c = this.chains[dir === 'c2s' ? 0 : 1];
    if (c.ws && (header.http !== undefined || ['ping', 'pong', 'close'].includes(header.opcode as string))) {
      c.count++;
      return c.ws.resendOwn(frame, header);
    }
    const body = c.frame.length ? this.encodeBody(dir, payload, header) : payload;
    // a WebSocket message as recorded; a frame of a framing over them, in a message of its own
    if (c.ws) frame = this.wsMessages ? c.ws.resendData(frame, body, header) : c.ws.encodeData(frame);
    return this.sent(c, frame, payload, header);
  }

  /** Bytes that did not frame when recorded, sent again as they were: through the stream transforms only. */
  resendBytes(dir: Direction, plain: Buffer): Buffer {
    const c = this.chains[dir === 'c2s' ? 0 : 1];
    let wire = plain;
    for (let i = c.stream.length - 1; i >= 0; i--) wire = c.stream[i]!.tx.encode(wire);
    return wire;
  }

  private sent(c: Chain, frame: Buffer, payload: Buffer, header: Record<string, unknown>): Buffer {
    let wire = frame;
    for (let i = c.stream.length - 1; i >= 0; i--) wire = c.stream[i]!.tx.encode(wire);
    // what we send moves the state as it does on the peer (a cipher switched on, compression)
    this.transport.decode(DIRS[c.d]!, payload, this.state, { frame: header });
    c.count++;
    if (this.dynamic) this.checkLayers(null);
    return wire;
  }

  // ---- layers ---------------------------------------------------------------------------------

  /** After a message: rebuild the directions whose layers changed; `carrier` is the direction whose framer is mid-delivery. */
  private checkLayers(carrier: Chain | null): void {
    for (const c of this.chains) {
      if (c.lost || this.configKey(c) === c.config) continue;
      if (c === carrier || c.delivering) {
        c.stopped = true;
        continue;
      }
      // not mid-delivery: what its framer holds arrived before the change, under the old stream transforms
      const held = c.framer?.takeRest() ?? null;
      this.configure(c, true);
      if (held) c.framer!.push(held.bytes, held.offset, 0);
    }
  }

  private configKey(c: Chain): string {
    const L = this.transport.layers;
    let key = String(this.framingIndex());
    for (const u of L.stream) if (u.dirs.includes(DIRS[c.d]!)) key += u.when === undefined || this.truthy(u.when) ? '1' : '0';
    return key;
  }

  private framingIndex(): number {
    const F = this.transport.layers.framings;
    for (let i = 0; i < F.length - 1; i++) if (this.truthy(F[i]!.when!)) return i;
    return F.length - 1;
  }

  private truthy(ix: number, frame?: Record<string, unknown>): boolean {
    try {
      return !!this.transport.layerValue(ix, this.state, frame);
    } catch {
      return false;
    }
  }

  /** Set a direction's framer and stream transforms for the current state. True when the stream transforms changed. */
  private configure(c: Chain, rebuild: boolean, force = false): boolean {
    const L = this.transport.layers;
    this.learnKeys();
    const key = this.configKey(c);
    const framing = this.framingIndex();
    const streamKey = key.slice(String(framing).length);
    const oldStreamKey = c.config.slice(String(c.framing).length);
    const streamChanged = !rebuild || force || streamKey !== oldStreamKey;
    c.config = key;
    if (!c.framer || framing !== c.framing) {
      c.framing = framing;
      c.spec = limited(L.framings[framing]!.spec, this.maxFrame);
      c.framer = this.newFramer(c);
    }
    if (L.inner && !c.inner) c.inner = createFramer(L.inner, this.innerSink(c));
    if (streamChanged) {
      c.stream = [];
      c.exact = true;
      const uses = L.stream.filter((u) => u.dirs.includes(DIRS[c.d]!));
      uses.forEach((use, i) => {
        if (streamKey[i] !== '1') return;
        const kind = transformKind(use.name)!;
        const args = this.args(use, undefined);
        const problem = typeof args === 'string' ? args : argsProblem(kind, args);
        if (problem) {
          const key = typeof args === 'string' ? null : this.unknownKey(use, kind, args);
          c.lost = key ?? problem;
          c.keyless = key !== null;
          return;
        }
        c.stream.push({ use, kind, tx: kind.create(args as TransformArgs, 'stream', { output: this.limits.inflate }) });
        if (!kind.lengthPreserving) c.exact = false;
      });
      c.wire = c.stream.length && c.exact ? new WireQueue() : null;
      c.skip = 0;
    }
    return streamChanged;
  }

  /** A transform whose bytes argument is a state variable with no bytes in it yet: a key the traffic did not show. */
  private unknownKey(use: TransformUse, kind: TransformKind, args: TransformArgs): string | null {
    for (const p of kind.params) {
      const a = use.args[p.name];
      if (p.kind !== 'bytes' || !a || 'lit' in a || Buffer.isBuffer(args[p.name])) continue;
      const src = this.transport.def.exprs[a.x]!.src;
      return `encrypted from here (${use.name}) with ${p.name} ${src}, which this session did not show: keys a capture cannot see come from a key log (--keylog FILE)`;
    }
    return null;
  }

  private newFramer(c: Chain): Framer {
    return createFramer(c.spec, this.frameSink(c));
  }

  private innerSink(c: Chain) {
    return {
      frame: (buf: Buffer, start: number, bodyStart: number, bodyEnd: number, end: number, offset: number, ts: number): boolean => {
        this.decodeFrame(c, buf, start, end, null, buf, bodyStart, bodyEnd, offset, ts, undefined, false);
        return false;
      },
      raw: (bytes: Buffer, offset: number, ts: number, reason: string): void => this.emitRaw(c, bytes, bytes, offset, ts, `inner framing: ${reason}`),
    };
  }

  /** State the key log has that this conversation has not taken yet; true when something was new. */
  private learnKeys(): boolean {
    const known = this.keys?.();
    if (!known) return false;
    let changed = false;
    for (const [k, v] of Object.entries(known)) {
      const have = this.state[k];
      if (have === v || (Buffer.isBuffer(have) && Buffer.isBuffer(v) && have.equals(v))) continue;
      this.state[k] = v;
      changed = true;
    }
    return changed;
  }

  private frameTransformWithKeys(f: FrameLayer, header: Record<string, unknown> | undefined): Transform | null {
    try {
      return this.frameTransform(f, header);
    } catch (e) {
      if (!f.broken && this.learnKeys()) return this.frameTransform(f, header);
      throw e;
    }
  }

  /** A frame transform for this frame (null when its `when` does not hold), created again when its arguments change. */
  private frameTransform(f: FrameLayer, header: Record<string, unknown> | undefined): Transform | null {
    if (f.use.when !== undefined && !this.truthy(f.use.when, header)) return null;
    if (f.broken) throw new TransformError(f.broken);
    const args = this.args(f.use, header);
    if (typeof args === 'string') throw new TransformError(args);
    if (!f.tx || !sameArgs(args, f.args!)) {
      const problem = argsProblem(f.kind, args);
      if (problem) throw new TransformError(problem);
      f.tx = f.kind.create(args, 'frame', { output: this.limits.inflate });
      f.args = args;
      if (f.lostBefore) {
        const r = f.tx.gap(f.lostBefore);
        if (typeof r === 'string') f.broken = r;
        f.lostBefore = 0;
        if (f.broken) throw new TransformError(f.broken);
      }
    }
    return f.tx;
  }

  /** A transform's arguments for this state (and frame header), or why one cannot be evaluated. */
  private args(use: TransformUse, header: Record<string, unknown> | undefined): TransformArgs | string {
    const out: TransformArgs = {};
    for (const [name, a] of Object.entries(use.args)) {
      const v = argValue(a, (ix) => this.transport.layerValue(ix, this.state, header));
      if (v instanceof Error) return `${use.name}.${name}: ${v.message}`;
      out[name] = v;
    }
    return out;
  }
}

/** A framing with a lower frame size limit. */
function limited(f: FramingSpec, max: number): FramingSpec {
  switch (f.k) {
    case 'length':
    case 'delimiter':
      return max < f.max ? { ...f, max } : f;
    case 'header':
      return max < f.codec.max ? { k: 'header', codec: { ...f.codec, max } } : f;
    case 'fixed':
    case 'chunk':
    case 'datagram':
      return f;
  }
}

function argValue(a: LayerArg, evaluate: (ix: number) => unknown): TransformArgs[string] | Error {
  if ('lit' in a) return a.lit;
  let v: unknown;
  try {
    v = evaluate(a.x);
  } catch (e) {
    return e as Error;
  }
  if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= 0n ? Number(v) : new Error(`${v} is out of range`);
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  return asBytes(v) ?? (typeof v === 'string' ? v : undefined);
}

function sameArgs(a: TransformArgs, b: TransformArgs): boolean {
  for (const k of Object.keys(a)) {
    const x = a[k];
    const y = b[k];
    if (x === y) continue;
    if (Buffer.isBuffer(x) && Buffer.isBuffer(y) && x.equals(y)) continue;
    return false;
  }
  return true;
}
