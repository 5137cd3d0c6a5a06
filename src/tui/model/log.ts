/**
 * Every message of a TUI session, in arrival order, in memory that does not grow with the session:
 * the newest `window` are the objects the decoder made; each message is also a record in a spill
 * file (its figures and bytes), from which an older one is made again when asked, its fields
 * decoded again from its bytes. In memory per message: nothing but one spill position for every
 * SPARSE messages. A message whose fields cannot be had again from its bytes (they read the
 * state, a layer made them, it has a framing header or a head) keeps its fields in memory when it
 * leaves the window, copied (a view would keep the whole delivery it came in alive).
 *
 * The window is small on purpose: a message object holds views of the delivery or capture batch
 * it came in, so that each one kept pins memory many times its own size.
 */
import type { Direction } from '../../core/types';
import type { TcpConnection, UdpFlow } from '../../flow/connection';
import type { Transport } from '../../protocol/protocol';
import type { Span } from '../../protocol/runtime';
import type { Message } from '../../session/messages';
import { SpillFile } from './spill';

/** One spill position kept for every this many messages; a message between is found by hopping over records. */
const SPARSE = 32;
/** Messages made again from the spill that stay made (the rows on screen, the selection, marks compared). */
const CACHED = 2048;

// record layout (little-endian)
const LEN = 0;
const BITS = 4;
const FLOW = 5;
const KIND = 9;
const TS = 13;
const OFFSET = 21;
const INDEX = 29;
const TRAILING = 33;
const ID = 37;
const SIZE = 45;
const FRAME_LEN = 49;
const PAYLOAD_OFF = 53;
const PAYLOAD_LEN = 57;
const RAW_LEN = 61;
const ERROR_LEN = 65;
const HEADER = 69;

const S2C = 1;
const UDP = 2;
const COMPRESSED = 4;
const HELD = 8;
const FRAME_APART = 16;
const PAYLOAD_APART = 32;
const HAS_ID = 64;
const NONE = 0xffffffff;

export const EMPTY = Buffer.alloc(0);

type Flow = TcpConnection | UdpFlow;

interface Kind {
  transport: 'tcp' | 'udp';
  name: string | undefined;
  label: string | undefined;
  redo: Transport | null;
}

/** Whether `inner` lies within `outer`'s memory. */
function within(inner: Buffer, outer: Buffer): boolean {
  return inner.buffer === outer.buffer && inner.byteOffset >= outer.byteOffset && inner.byteOffset + inner.length <= outer.byteOffset + outer.length;
}

/** What a message out of the window keeps in memory when its bytes cannot give it back. */
interface Held {
  fields: Record<string, unknown> | undefined;
  header: Record<string, unknown> | undefined;
  head: Record<string, unknown> | undefined;
}

/** A message made again from its spill record: its fields are decoded from its payload when first asked (or were held). */
export class StoredMessage implements Message {
  readonly header: Record<string, unknown> | undefined;
  readonly head: Record<string, unknown> | undefined;
  spans?: Span[];
  private decoded: Record<string, unknown> | undefined | null = null;

  constructor(
    readonly flow: Flow,
    readonly transport: 'tcp' | 'udp',
    readonly dir: Direction,
    readonly index: number,
    readonly offset: number,
    readonly ts: number,
    readonly wire: Buffer,
    readonly frame: Buffer,
    readonly payload: Buffer,
    readonly name: string | undefined,
    readonly label: string | undefined,
    readonly id: number | undefined,
    readonly raw: string | undefined,
    readonly error: Message['error'],
    readonly trailing: number,
    readonly compressed: boolean,
    private readonly redo: Transport | null,
    held: Held | undefined,
  ) {
    this.header = held?.header;
    this.head = held?.head;
    if (held) this.decoded = held.fields;
  }

  get size(): number {
    return this.wire.length;
  }

  get fields(): Record<string, unknown> | undefined {
    if (this.decoded === null) this.decoded = this.redo && this.name !== undefined ? this.redo.fieldsFor(this.name, this.payload, this.dir) : undefined;
    return this.decoded;
  }
}

export class MessageLog implements Iterable<Message> {
  length = 0;
  private readonly spill = new SpillFile();
  /** Spill position of message k * SPARSE. */
  private readonly sparse: number[] = [];
  /** The newest `window` messages, message i at i % window. */
  private readonly ring: (Message | undefined)[];
  /** What messages out of the window keep that their bytes cannot give back, by number. */
  private readonly held = new Map<number, Held>();
  private readonly flows: Flow[] = [];
  private readonly flowNo = new Map<Flow, number>();
  private readonly kinds: Kind[] = [];
  private readonly kindNo = new Map<string, number>();
  private lastKind = -1;
  private lastFlow: Flow | null = null;
  private lastFlowNo = 0;
  private readonly cache = new Map<number, Message>();
  /** The last record found: a walk in order finds the next without hopping. */
  private lastAt = -1;
  private lastPos = 0;

  constructor(readonly window: number) {
    this.ring = new Array<Message | undefined>(Math.max(1, window));
  }

  push(m: Message): void {
    const i = this.length++;
    const slot = i % this.ring.length;
    const leaving = this.ring[slot];
    if (leaving && !redoable(leaving)) this.held.set(i - this.ring.length, { fields: detach(leaving.fields), header: detach(leaving.header), head: detach(leaving.head) });
    this.ring[slot] = m;
    if (i % SPARSE === 0) this.sparse.push(this.spill.size);
    this.write(m);
  }

  /** Message i (from 0), made again from the spill when it left the window. */
  at(i: number): Message | undefined {
    if (i < 0 || i >= this.length || !Number.isInteger(i)) return undefined;
    if (i >= this.length - this.ring.length) return this.ring[i % this.ring.length];
    let m = this.cache.get(i);
    if (m) {
      this.cache.delete(i);
      this.cache.set(i, m);
      return m;
    }
    m = this.read(i, true);
    this.cache.set(i, m);
    if (this.cache.size > CACHED) this.cache.delete(this.cache.keys().next().value!);
    return m;
  }

  /**
   * Message i for a walk over many (a filter, a search): made again without a copy of its bytes
   * (they are views of the spill's blocks, which are never written over) and not cached, so
   * that a walk costs an object a message and no more.
   */
  peek(i: number): Message | undefined {
    if (i < 0 || i >= this.length || !Number.isInteger(i)) return undefined;
    if (i >= this.length - this.ring.length) return this.ring[i % this.ring.length];
    return this.cache.get(i) ?? this.read(i, false);
  }

  /** Whether message i's object is in memory already (in the window, held, or made again recently). */
  resident(i: number): boolean {
    return i >= this.length - this.ring.length || this.cache.has(i);
  }

  /** Objects this log holds (the window, the held, the cache): what a session's memory grows with. */
  objects(): { window: number; held: number; cached: number; sparse: number; spillBytes: number } {
    return { window: Math.min(this.length, this.ring.length), held: this.held.size, cached: this.cache.size, sparse: this.sparse.length, spillBytes: this.spill.size };
  }

  *[Symbol.iterator](): Iterator<Message> {
    for (let i = 0; i < this.length; i++) yield this.peek(i)!;
  }

  /** The message's number, or -1: a search from the newest (where a selection usually is). */
  indexOf(m: Message): number {
    for (let i = this.length - 1; i >= 0; i--) if (this.at(i) === m) return i;
    return -1;
  }

  find(test: (m: Message, i: number) => boolean): Message | undefined {
    for (let i = 0; i < this.length; i++) if (test(this.peek(i)!, i)) return this.at(i);
    return undefined;
  }

  findIndex(test: (m: Message, i: number) => boolean): number {
    for (let i = 0; i < this.length; i++) if (test(this.peek(i)!, i)) return i;
    return -1;
  }

  filter(test: (m: Message, i: number) => boolean): Message[] {
    const out: Message[] = [];
    for (let i = 0; i < this.length; i++) if (test(this.peek(i)!, i)) out.push(this.at(i)!);
    return out;
  }

  some(test: (m: Message, i: number) => boolean): boolean {
    return this.findIndex(test) >= 0;
  }

  forEach(f: (m: Message, i: number) => void): void {
    for (let i = 0; i < this.length; i++) f(this.peek(i)!, i);
  }

  map<T>(f: (m: Message, i: number) => T): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.length; i++) out.push(f(this.peek(i)!, i));
    return out;
  }

  slice(from = 0, to = this.length): Message[] {
    const out: Message[] = [];
    for (let i = Math.max(0, from); i < Math.min(to, this.length); i++) out.push(this.at(i)!);
    return out;
  }

  /** The flow of message i, without making the message (follow stream walks every one). */
  flowOf(i: number): Flow | undefined {
    if (i >= this.length - this.ring.length) return this.ring[i % this.ring.length]?.flow;
    return this.flows[this.spill.record(this.position(i)).readUInt32LE(FLOW)];
  }

  close(): void {
    this.spill.close();
    this.cache.clear();
  }

  private write(m: Message): void {
    const wire = m.wire;
    const size = wire.length;
    const apart = redoable(m) ? 0 : HELD;
    const frame = m.frame === wire || (m.frame.buffer === wire.buffer && m.frame.byteOffset === wire.byteOffset && m.frame.length === wire.length) ? wire : m.frame;
    const payload = m.payload;
    const payloadIn = within(payload, frame);
    const raw = m.raw === undefined ? null : Buffer.from(m.raw);
    const err = !m.error ? null : Buffer.from(`${m.error.offset}\0${m.error.path}\0${m.error.message}`);
    const n = HEADER + wire.length + (frame !== wire ? frame.length : 0) + (payloadIn ? 0 : payload.length) + (raw?.length ?? 0) + (err?.length ?? 0);
    const { buf, at } = this.spill.reserve(n);
    buf.writeUInt32LE(n, at + LEN);
    buf[at + BITS] = (m.dir === 's2c' ? S2C : 0) | (m.transport === 'udp' ? UDP : 0) | (m.compressed ? COMPRESSED : 0) | apart | (frame !== wire ? FRAME_APART : 0) | (payloadIn ? 0 : PAYLOAD_APART) | (m.id !== undefined ? HAS_ID : 0);
    buf.writeUInt32LE(this.numberOfFlow(m.flow), at + FLOW);
    buf.writeUInt32LE(this.numberOfKind(m), at + KIND);
    buf.writeDoubleLE(m.ts, at + TS);
    buf.writeDoubleLE(m.offset, at + OFFSET);
    buf.writeUInt32LE(m.index >>> 0, at + INDEX);
    buf.writeUInt32LE(m.trailing >>> 0, at + TRAILING);
    buf.writeDoubleLE(m.id ?? 0, at + ID);
    buf.writeUInt32LE(size, at + SIZE);
    buf.writeUInt32LE(frame.length, at + FRAME_LEN);
    buf.writeUInt32LE(payloadIn ? payload.byteOffset - frame.byteOffset : 0, at + PAYLOAD_OFF);
    buf.writeUInt32LE(payload.length, at + PAYLOAD_LEN);
    buf.writeUInt32LE(raw ? raw.length : NONE, at + RAW_LEN);
    buf.writeUInt32LE(err ? err.length : NONE, at + ERROR_LEN);
    let p = at + HEADER;
    p += wire.copy(buf, p);
    if (frame !== wire) p += frame.copy(buf, p);
    if (!payloadIn) p += payload.copy(buf, p);
    if (raw) p += raw.copy(buf, p);
    if (err) err.copy(buf, p);
    this.spill.append(buf, n);
  }

  /** Where message i's record starts: from the nearest sparse position, hopping over records. */
  private position(i: number): number {
    let k: number;
    let pos: number;
    if (this.lastAt >= 0 && i >= this.lastAt && i - this.lastAt < SPARSE) {
      k = this.lastAt;
      pos = this.lastPos;
    } else {
      k = i - (i % SPARSE);
      pos = this.sparse[k / SPARSE]!;
    }
    for (; k < i; k++) pos += this.spill.lengthAt(pos);
    this.lastAt = i;
    this.lastPos = pos;
    return pos;
  }

  /** Message i made again from its record; `copy`: its bytes its own (else views of the spill's, copied only when still in its write buffer). */
  private read(i: number, copy: boolean): Message {
    const pos = this.position(i);
    const view = this.spill.record(pos);
    const rec = copy || this.spill.pending(pos) ? Buffer.from(view) : view;
    const bits = rec[BITS]!;
    const kind = this.kinds[rec.readUInt32LE(KIND)]!;
    const size = rec.readUInt32LE(SIZE);
    let p = HEADER;
    const wire = rec.subarray(p, (p += size));
    const frameLen = rec.readUInt32LE(FRAME_LEN);
    const frame = bits & FRAME_APART ? rec.subarray(p, (p += frameLen)) : wire;
    const payloadLen = rec.readUInt32LE(PAYLOAD_LEN);
    const off = rec.readUInt32LE(PAYLOAD_OFF);
    const payload = bits & PAYLOAD_APART ? rec.subarray(p, (p += payloadLen)) : frame.subarray(off, off + payloadLen);
    const rawLen = rec.readUInt32LE(RAW_LEN);
    const raw = rawLen === NONE ? undefined : rec.toString('utf8', p, (p += rawLen));
    const errLen = rec.readUInt32LE(ERROR_LEN);
    let error: Message['error'];
    if (errLen !== NONE) {
      const [offset, path, message] = rec.toString('utf8', p, p + errLen).split('\0');
      error = { offset: Number(offset), path: path!, message: message! };
    }
    return new StoredMessage(
      this.flows[rec.readUInt32LE(FLOW)]!,
      bits & UDP ? 'udp' : 'tcp',
      bits & S2C ? 's2c' : 'c2s',
      rec.readUInt32LE(INDEX),
      rec.readDoubleLE(OFFSET),
      rec.readDoubleLE(TS),
      wire,
      frame,
      payload,
      kind.name,
      kind.label,
      bits & HAS_ID ? rec.readDoubleLE(ID) : undefined,
      raw,
      error,
      rec.readUInt32LE(TRAILING),
      !!(bits & COMPRESSED),
      bits & HELD ? null : kind.redo,
      bits & HELD ? this.held.get(i) : undefined,
    );
  }

  private numberOfFlow(f: Flow): number {
    if (f === this.lastFlow) return this.lastFlowNo;
    let n = this.flowNo.get(f);
    if (n === undefined) {
      n = this.flows.length;
      this.flows.push(f);
      this.flowNo.set(f, n);
    }
    this.lastFlow = f;
    this.lastFlowNo = n;
    return n;
  }

  private numberOfKind(m: Message): number {
    // most messages are of the kind before them: no key to build
    const last = this.kinds[this.lastKind];
    if (last && last.name === m.name && last.label === m.label && last.transport === m.transport && (last.redo !== null || m.name === undefined)) return this.lastKind;
    const key = `${m.transport}\0${m.name ?? ''}\0${m.label ?? ''}`;
    let n = this.kindNo.get(key);
    if (n === undefined) {
      n = this.kinds.length;
      this.kinds.push({ transport: m.transport, name: m.name, label: m.label, redo: null });
      this.kindNo.set(key, n);
    }
    // the transport that decodes its fields again, from the first message that has one
    if (this.kinds[n]!.redo === null && m.name !== undefined) this.kinds[n]!.redo = redoOf(m);
    this.lastKind = n;
    return n;
  }
}

/** The transport that decodes a message's fields again from its payload alone, exactly (conversation's Message.redo), or null. */
function redoOf(m: Message): Transport | null {
  return (m as { redo?: Transport | null }).redo ?? null;
}

/** Whether the spill record gives the message back whole: its fields decode again from its payload, and nothing else is kept with it. */
function redoable(m: Message): boolean {
  if (m.header !== undefined || m.head !== undefined) return false;
  // no name: raw bytes or an unknown id, no fields (an error is in the record)
  return m.name === undefined || (!m.error && redoOf(m) !== null);
}

/** A value with every byte string in it copied: kept past the window, it should not keep the delivery it is a view of. */
function detach<T>(v: T): T {
  if (v instanceof Uint8Array) return Buffer.from(v) as T;
  if (Array.isArray(v)) return v.map(detach) as T;
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = detach(x);
    return out as T;
  }
  return v;
}
