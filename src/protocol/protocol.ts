/**
 * A loaded protocol: the checked description, its compiled functions, and per transport the
 * operations the rest of gamesniff uses (decode a frame body, encode a message, frame a body).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bytesIn } from '../core/bytes';
import type { Direction } from '../core/types';
import { generate, messageList, type MessageRef } from './codegen';
import { CounterReader, writeCounter } from '../framing/counter';
import { wrapFrame, type FrameHeaderCodec, type FramingSpec } from '../framing/spec';
import type { Framing, ProtocolDef, TransformUse, TransportDef } from './ir';
import { ProtocolError, parseProtocol } from './load';
import { isPlainMap, mapFieldsOf, mapProblem, mapToEncode } from './keyed';
import { DEFAULT_DECODE_LIMITS, DecodeError, EncodeError, Writer, newCtx, runtime, sameValue, type ConnectionBudget, type Ctx, type DecodeLimits, type Original, type Span } from './runtime';

type DecodeFn = (b: Buffer, c: Ctx) => Record<string, unknown>;
type EncodeFn = (w: Writer, v: unknown, c: Ctx) => void;
type StateFn = (c: Ctx) => unknown;
interface Module {
  M: DecodeFn[];
  EM?: EncodeFn[];
  W?: (StateFn | null)[];
  [k: string]: unknown;
}

export interface DecodedMessage {
  /** Undefined when no message matched (unknown id, or no message for this direction/state). */
  name?: string;
  /** The name where one alone could be ambiguous: `c2s.chat` for a name used both ways, else the name. */
  label?: string;
  id?: number;
  fields?: Record<string, unknown>;
  /** The transport's head fields (decoded before the id), when it declares `head:`. */
  head?: Record<string, unknown>;
  /** The frame header's fields, when the framing has a header. */
  frame?: Record<string, unknown>;
  /** Why the message could not be decoded; the body is kept raw. */
  error?: { message: string; path: string; offset: number };
  /** The bytes the fields were decoded from (the payload, after the frame's transforms), which spans refer to. */
  body: Buffer;
  /** Bytes after the last field that the description does not cover. */
  trailing: number;
  spans?: Span[];
}

/**
 * A message decoded whole: its body is a view made when asked for (most callers never do: a
 * conversation keeps positions), of the bytes it was decoded in place from.
 */
class Decoded implements DecodedMessage {
  // set only on the messages that have them (no slot written on every message)
  declare head?: Record<string, unknown>;
  declare spans?: Span[];

  constructor(
    readonly name: string,
    readonly label: string,
    readonly id: number | undefined,
    readonly fields: Record<string, unknown>,
    public trailing: number,
    private readonly src: Buffer,
    private readonly s: number,
    private readonly e: number,
    public frame: Record<string, unknown> | undefined,
  ) {}

  get body(): Buffer {
    return bytesIn(this.src, this.s, this.e);
  }
}

export interface EncodeOptions {
  /** Which way the message goes: picks the message when its name is used both ways. */
  dir?: Direction;
  /** The head's values (those the id does not give). */
  head?: Record<string, unknown>;
  /** The id to write, for a message with several (default: its first). */
  id?: number;
  /** The frame header's values, when compression depends on them (a per-frame flag). */
  frame?: Record<string, unknown>;
}

/** A message as decoded, to encode again (replay's rewrites, a proxy's changes). */
export interface DecodedOriginal {
  name: string;
  dir: Direction;
  id?: number;
  head?: Record<string, unknown>;
  fields: Record<string, unknown>;
  /** The payload the fields were decoded from (after the frame's transforms). */
  body: Buffer;
  /** The frame header's fields, with header framing. */
  frame?: Record<string, unknown>;
}

/** What lies between a transport's byte stream and its messages (the conversation builds its chains from it). */
export interface TransportLayers {
  /** The framing, or the choices by state (the first whose `when` holds: an index for layerValue). */
  framings: { when: number | null; spec: FramingSpec }[];
  stream: TransformUse[];
  frame: TransformUse[];
  /** Framing over the frame bodies taken as one stream. */
  inner: FramingSpec | null;
}

export interface DecodeOptions {
  /** Record the byte span of every field (for hex highlighting). */
  spans?: boolean;
  /** What one message may cost (default DEFAULT_DECODE_LIMITS). */
  limits?: DecodeLimits;
  /** The connection's running total, checked against limits.connectionInflate. */
  budget?: ConnectionBudget;
  /** The frame header's fields, as the framer read them (what `frame.x` reads). */
  frame?: Record<string, unknown>;
}

const NO_OPTIONS: DecodeOptions = {};

/** A transport's dispatch for one direction: the fields of the message at key (id + 1, 0 without ids), or undefined when no route. */
type RouteFn = (b: Buffer, c: Ctx, key: number) => Record<string, unknown> | undefined;

/**
 * The dispatch over the ids that name one message whatever the state, as code: a switch whose
 * cases call their message's decoder directly (V8 can inline a call it knows the target of; one
 * call through an array of decoders it cannot, and that cost as much as the dispatch). Messages
 * that share a decoder (one shape: see codegen's sharedDecodeFunction) share its call too: their
 * cases pick the decoder and a second switch calls it, so that it is one call site to warm up and
 * inline, not one per id. Only numbers reach the source: the keys, and indices into the decoders.
 */
function routeFunction(table: Map<number, MessageRef[]>, fast: Module): RouteFn {
  const picked: { key: number; index: number }[] = [];
  for (const [id, list] of table) {
    const ref = list[0]!;
    if (list.length > 1 || fast.W?.[ref.index] || !Number.isSafeInteger(id) || id < -1) continue;
    if (!Number.isSafeInteger(ref.index) || ref.index < 0) throw new Error(`message index ${ref.index}`);
    picked.push({ key: id + 1, index: ref.index });
  }
  // the first index of each decoder names it, and how many ids call it
  const first = new Map<unknown, number>();
  const calls = new Map<number, number>();
  for (const { index } of picked) {
    const f = fast.M[index];
    if (!first.has(f)) first.set(f, index);
    const n = first.get(f)!;
    calls.set(n, (calls.get(n) ?? 0) + 1);
  }
  const cases: string[] = [];
  const shared = new Set<number>();
  for (const { key, index } of picked) {
    const n = first.get(fast.M[index])!;
    if (calls.get(n)! > 1) {
      shared.add(n);
      cases.push(`case ${key}: c.mi = ${index}; f = ${n}; break;`);
    } else cases.push(`case ${key}: c.mi = ${index}; return M${n}(b, c);`);
  }
  const second = shared.size ? `switch (f) {\n${[...shared].map((n) => `case ${n}: return M${n}(b, c);`).join('\n')}\n}\n` : '';
  const src =
    `"use strict";\n${[...calls.keys()].map((i) => `const M${i} = M[${i}];`).join('\n')}\n` +
    `return function route(b, c, key) {\nlet f = -1;\nswitch (key) {\n${cases.join('\n')}\n}\n${second}return undefined;\n};`;
  return new Function('M', src)(fast.M) as RouteFn;
}

export class Transport {
  readonly kind: 'tcp' | 'udp';
  /** The framing as described (with a header's fields and length expression). */
  readonly framing: Framing;
  /** The framing as framers use it (a header's codec compiled). */
  readonly spec: FramingSpec;
  /** The layers between the byte stream and the message codec (see conversation/). */
  readonly layers: TransportLayers;
  private readonly layerCtx = newCtx({}, false);
  private readonly LX: StateFn[];
  readonly ports: number[];
  /** Candidates per direction and id (or -1 without ids), in file order. */
  private readonly table: Record<Direction, Map<number, MessageRef[]>> = { c2s: new Map(), s2c: new Map() };
  /** The ids that name one message whatever the state, per direction, as code: see routeFunction. */
  private readonly c2sRoute: RouteFn;
  private readonly s2cRoute: RouteFn;
  /** Messages by index in the protocol's list (what a route leaves in ctx.mi). */
  private readonly byIndex: MessageRef[] = [];
  /** Keyed msgpack transports: candidates per direction and naming value. */
  private readonly keyed: Record<Direction, Map<string | number, MessageRef[]>> = { c2s: new Map(), s2c: new Map() };
  private readonly ctx = newCtx({}, false);
  /** The message id's reader (the transport's `id:` counter). */
  private readonly idReader: CounterReader | null;
  /** A head, an id expression or msgpack: decodeAt always takes decodeFrame. */
  private readonly general: boolean;
  /** Each message's label (Protocol.label), by index. */
  private readonly labels: string[] = [];
  /** The compiled head, id expression and frame header (see codegen's generate). */
  private readonly fn: {
    H?: DecodeFn;
    dH?: DecodeFn;
    IDX?: StateFn;
    EH?: EncodeFn;
    FH?: DecodeFn;
    FL?: StateFn;
    EFH?: EncodeFn;
  };

  constructor(
    readonly protocol: Protocol,
    readonly def: TransportDef,
    refs: MessageRef[],
    private readonly fast: Module,
    private readonly debug: Module,
  ) {
    this.kind = def.kind;
    this.framing = def.framing;
    this.ports = def.ports;
    const k = this.kind;
    this.fn = {
      H: fast[`H_${k}`] as DecodeFn | undefined,
      dH: debug[`H_${k}`] as DecodeFn | undefined,
      IDX: fast[`IDX_${k}`] as StateFn | undefined,
      EH: fast[`EH_${k}`] as EncodeFn | undefined,
      FH: fast[`FH_${k}`] as DecodeFn | undefined,
      FL: fast[`FL_${k}`] as StateFn | undefined,
      EFH: fast[`EFH_${k}`] as EncodeFn | undefined,
    };
    this.spec = this.specOf(this.framing);
    this.LX = (fast[`LX_${k}`] as StateFn[] | undefined) ?? [];
    this.layers = {
      framings: def.framings ? def.framings.map((c) => ({ when: c.when ?? null, spec: c.framing === this.framing ? this.spec : this.specOf(c.framing) })) : [{ when: null, spec: this.spec }],
      stream: def.stream,
      frame: def.frame,
      inner: def.inner ? this.specOf(def.inner) : null,
    };
    this.idReader = def.id ? new CounterReader(def.id) : null;
    this.general = !!(def.msgpack || this.fn.H || this.fn.IDX);
    for (const r of refs) {
      this.labels[r.index] = protocol.label(r);
      if (def.msgpack) {
        for (const dir of ['c2s', 's2c'] as const) {
          if (r.def.dir && r.def.dir !== dir) continue;
          const list = this.keyed[dir].get(r.def.key!) ?? [];
          list.push(r);
          this.keyed[dir].set(r.def.key!, list);
        }
        continue;
      }
      for (const dir of ['c2s', 's2c'] as const) {
        if (r.def.dir && r.def.dir !== dir) continue;
        for (const key of r.def.ids ?? [r.def.id ?? -1]) {
          const list = this.table[dir].get(key) ?? [];
          list.push(r);
          this.table[dir].set(key, list);
        }
      }
    }
    for (const r of refs) this.byIndex[r.index] = r;
    this.c2sRoute = routeFunction(this.table.c2s, fast);
    this.s2cRoute = routeFunction(this.table.s2c, fast);
  }

  /** Decode one frame body (what the framer produced). Never throws on bad traffic. */
  decode(dir: Direction, frame: Buffer, state: Record<string, unknown>, opts: DecodeOptions = {}): DecodedMessage {
    return this.decodeAt(dir, frame, 0, frame.length, state, opts);
  }

  /**
   * Decode the frame body buf[start, end) in place: no view of it is made unless asked for (the
   * result's body), or the message fails (errors and spans are relative to the body).
   *
   * The common case (an id that names one message whatever the state, or none, and it decodes) is
   * written out flat here: every call that V8 does not inline costs about as much as the
   * dispatch itself. Everything else, failures included, goes through decodeFrame.
   */
  decodeAt(dir: Direction, buf: Buffer, start: number, end: number, state: Record<string, unknown>, opts: DecodeOptions = NO_OPTIONS): DecodedMessage {
    // kept under V8's inlining limit (460 bytes of bytecode): the rare cases are calls
    const c = this.freshCtx(state, opts);
    if (this.general || opts.spans) return this.decodeFrame(dir, buf, start, end, state, opts);
    let id: number | undefined;
    const r = this.idReader;
    c.p = start;
    if (r) {
      id = r.read(buf, start, end);
      c.p = r.next;
    }
    c.e = end;
    let fields: Record<string, unknown> | undefined;
    try {
      // read() gives NaN when the id is cut short: no route, and decodeFrame says why
      fields = (dir === 'c2s' ? this.c2sRoute : this.s2cRoute)(buf, c, id === undefined ? 0 : id + 1);
    } catch (err) {
      return this.routeFailed(err, id, buf, start, end, r ? r.next : start, state, opts);
    }
    if (fields === undefined) return this.decodeFrame(dir, buf, start, end, state, opts);
    if (opts.budget) opts.budget.inflated += c.inflated;
    const ref = this.byIndex[c.mi]!;
    return new Decoded(ref.def.name, this.labels[ref.index]!, id, fields, end - c.p, buf, start, end, opts.frame);
  }

  /** The message a route picked threw: why, from the debug variant (see messageFailed). */
  private routeFailed(err: unknown, id: number | undefined, buf: Buffer, start: number, end: number, p: number, state: Record<string, unknown>, opts: DecodeOptions): DecodedMessage {
    const c = this.ctx;
    const failed = this.messageFailed(err, this.byIndex[c.mi]!, id, undefined, bytesIn(buf, start, end), p - start, state, opts, opts.limits ?? DEFAULT_DECODE_LIMITS);
    if (opts.budget) opts.budget.inflated += c.inflated;
    return failed;
  }

  /** Any frame body (decodeAt's common case included), from a fresh context. */
  private decodeFrame(dir: Direction, buf: Buffer, s: number, e: number, state: Record<string, unknown>, opts: DecodeOptions): DecodedMessage {
    const c = this.ctx;
    let out: DecodedMessage;
    try {
      out = this.decodeFrameIn(dir, buf, s, e, state, opts, opts.limits ?? DEFAULT_DECODE_LIMITS);
    } finally {
      if (opts.budget) opts.budget.inflated += c.inflated;
    }
    if (opts.frame) out.frame = opts.frame;
    return out;
  }

  private decodeFrameIn(dir: Direction, buf: Buffer, s: number, e: number, state: Record<string, unknown>, opts: DecodeOptions, limits: DecodeLimits): DecodedMessage {
    const c = this.ctx;
    if (this.def.msgpack) return this.decodeKeyed(dir, bytesIn(buf, s, e), opts);
    let start = s;
    let head: Record<string, unknown> | undefined;
    if (this.fn.H) {
      c.p = s;
      c.e = e;
      try {
        head = this.fn.H(buf, c);
      } catch {
        return this.headFailed(bytesIn(buf, s, e), state, opts, limits);
      }
      start = c.p;
      c.hd = head;
    }
    let id: number | undefined;
    if (this.idReader) {
      const v = this.idReader.read(buf, start, e);
      if (Number.isNaN(v)) return { ...this.failed(bytesIn(buf, s, e), 'message id cut short', start - s), head };
      id = v;
      start = this.idReader.next;
    } else if (this.fn.IDX) {
      const v = this.fn.IDX(c);
      if (typeof v !== 'number' || !Number.isInteger(v)) return { ...this.failed(bytesIn(buf, s, e), `the id expression gives ${String(v)}`, 0), head };
      id = v;
    }
    const ref = this.pick(dir, id ?? -1, c);
    if (!ref) return this.unknown(dir, id, head, buf, s, e);
    return this.decodeMessage(ref, id, head, buf, s, start, e, state, opts, limits);
  }

  private unknown(dir: Direction, id: number | undefined, head: Record<string, unknown> | undefined, buf: Buffer, s: number, e: number): DecodedMessage {
    const why = id === undefined ? `no ${dir} message applies in this state` : `unknown ${dir} id ${id} (0x${id.toString(16)})`;
    return { id, head, body: bytesIn(buf, s, e), trailing: 0, error: { message: why, path: '', offset: 0 } };
  }

  /** The message ref's fields from buf[start, e) (its frame body buf[s, e)). */
  private decodeMessage(ref: MessageRef, id: number | undefined, head: Record<string, unknown> | undefined, buf: Buffer, s: number, start: number, e: number, state: Record<string, unknown>, opts: DecodeOptions, limits: DecodeLimits): DecodedMessage {
    const c = this.ctx;
    c.p = start;
    c.e = e;
    try {
      const out = new Decoded(ref.def.name, this.labels[ref.index]!, id, this.fast.M[ref.index](buf, c), 0, buf, s, e, undefined);
      out.trailing = e - c.p;
      if (head) out.head = head;
      if (opts.spans) out.spans = this.spans(ref, out.body, start - s, state, head, opts.frame);
      return out;
    } catch (err) {
      return this.messageFailed(err, ref, id, head, bytesIn(buf, s, e), start - s, state, opts, limits);
    }
  }

  /** Rerun with the debug variant on the body alone (offsets and spans are the body's): it knows the field path. State is left untouched. */
  private messageFailed(err: unknown, ref: MessageRef, id: number | undefined, head: Record<string, unknown> | undefined, body: Buffer, start: number, state: Record<string, unknown>, opts: DecodeOptions, limits: DecodeLimits): DecodedMessage {
    const name = ref.def.name;
    const d = newCtx(state, !!opts.spans, limits);
    d.noSet = true;
    d.hd = head ?? null;
    d.fr = opts.frame ?? null;
    d.p = start;
    d.e = body.length;
    d.path.push(name);
    const { message, path, offset } = this.explain(err, () => this.debug.M[ref.index](body, d), d, name, start);
    const out: DecodedMessage = { name, label: this.labels[ref.index], id, body, trailing: 0, error: { message, path, offset }, spans: d.spans ?? undefined };
    if (head) out.head = head;
    return out;
  }

  /** A keyed msgpack message: one map, named by the value at the transport's key (see keyed.ts). */
  private decodeKeyed(dir: Direction, body: Buffer, opts: DecodeOptions): DecodedMessage {
    const c = this.ctx;
    const nameKey = this.def.msgpack!.key;
    let v: unknown;
    try {
      v = runtime.unpack(body, 0, body.length, c);
    } catch (e) {
      return this.failed(body, (e as Error).message, 0);
    }
    if (!isPlainMap(v)) return this.failed(body, `expected a msgpack map naming the message with '${nameKey}', found ${Array.isArray(v) ? 'a list' : typeof v}`, 0);
    const key = Object.prototype.hasOwnProperty.call(v, nameKey) ? v[nameKey] : undefined;
    if (typeof key !== 'string' && typeof key !== 'number') return this.failed(body, `the map has no '${nameKey}' naming the message`, 0);
    const list = this.keyed[dir].get(key);
    const ref = list?.find((r) => {
      const w = this.fast.W![r.index];
      return !w || w(c);
    });
    const id = typeof key === 'number' ? key : undefined;
    if (!ref) return { id, body, trailing: 0, error: { message: `no ${dir} message has ${nameKey} ${JSON.stringify(key)}${list ? ' in this state' : ''}`, path: '', offset: 0 } };
    const name = ref.def.name;
    const label = this.protocol.label(ref);
    const fields = mapFieldsOf(v, nameKey);
    const problem = mapProblem(ref.def.mapFields!, fields);
    if (problem) return { name, label, id, body, trailing: 0, error: { message: problem.message, path: `${name}.${problem.key}`, offset: 0 } };
    // its set: over the keys, compiled once (codegen's mapSetFunction)
    this.fast.M[ref.index](fields as never, c);
    const out: DecodedMessage = { name, label, id, fields, body, trailing: 0 };
    if (opts.spans) out.spans = [{ path: name, start: 0, end: body.length, depth: 1 }];
    return out;
  }

  /** The path and offset of a decode error, from a rerun of the debug variant. */
  private explain(e: unknown, rerun: () => void, d: Ctx, name: string, start: number): { message: string; path: string; offset: number } {
    let message = (e as Error).message;
    let path = name;
    let offset = start;
    try {
      rerun();
    } catch (de) {
      message = (de as Error).message;
      if (de instanceof DecodeError) {
        path = de.path;
        offset = de.offset;
        if (de.inner) message += ' (offset inside a decompressed region)';
      } else {
        path = d.path.length ? d.path.slice(0, 64).map((x, i) => (typeof x === 'number' ? `[${x}]` : i ? `.${x}` : x)).join('') : name;
        offset = d.starts.length ? d.starts[d.starts.length - 1] : start;
      }
    }
    return { message, path, offset };
  }

  private headFailed(body: Buffer, state: Record<string, unknown>, opts: DecodeOptions, limits: DecodeLimits): DecodedMessage {
    const d = newCtx(state, false, limits);
    d.noSet = true;
    d.fr = opts.frame ?? null;
    d.e = body.length;
    d.path.push('head');
    const { message, path, offset } = this.explain(new Error('head'), () => this.fn.dH!(body, d), d, 'head', 0);
    return { body, trailing: 0, error: { message, path, offset } };
  }

  /**
   * Field byte ranges of a decoded message body (after decompression), for showing one message:
   * decoding keeps them only when asked, this recomputes them on demand. Conditions on session
   * state see `state` (the initial state when not given).
   */
  spansFor(name: string, body: Buffer, state: Record<string, unknown> = this.protocol.newState(), dir?: Direction, head?: Record<string, unknown>, frame?: Record<string, unknown>): Span[] {
    const ref = this.protocol.message(name, dir);
    if (!ref || ref.transport !== this.kind) return [];
    try {
      const start = this.bodyStart(body, state);
      return this.spans(ref, body, start, state, head, frame);
    } catch {
      return [];
    }
  }

  /**
   * A message's fields decoded again from its body, by name: exact when no field reads the state
   * (`protocol.fieldsReadState` false), so the TUI can drop the fields of old messages and get
   * them back on demand. Undefined when that cannot be exact, or the body no longer decodes.
   */
  fieldsFor(name: string, body: Buffer, dir: Direction, frame?: Record<string, unknown>): Record<string, unknown> | undefined {
    if (this.protocol.fieldsReadState || this.def.msgpack) return undefined;
    const ref = this.protocol.message(name, dir);
    if (!ref || ref.transport !== this.kind) return undefined;
    // nothing reads the state; a message's set: writes to it
    const c = this.freshCtx(this.scratch, frame ? { frame } : NO_OPTIONS);
    try {
      let start = 0;
      if (this.fn.H) {
        c.p = 0;
        c.e = body.length;
        c.hd = this.fn.H(body, c);
        start = c.p;
      }
      c.p = this.afterId(body, start);
      c.e = body.length;
      return this.fast.M[ref.index](body, c);
    } catch {
      return undefined;
    }
  }

  private readonly scratch: Record<string, unknown> = {};
  /** The limits ctx holds. */
  private ctxLimits: DecodeLimits | null = null;

  /** The one context every message is decoded with, set for another: decoding is synchronous and not re-entered. */
  private freshCtx(state: Record<string, unknown>, opts: DecodeOptions): Ctx {
    const c = this.ctx;
    const limits = opts.limits ?? DEFAULT_DECODE_LIMITS;
    c.st = state;
    c.n = 0;
    c.inflated = 0;
    c.depth = 0;
    if (limits !== this.ctxLimits) {
      this.ctxLimits = limits;
      c.maxN = limits.elements;
      c.maxInflate = limits.inflate;
      c.maxDepth = limits.depth;
    }
    c.hd = null;
    c.fr = opts.frame ?? null;
    return c;
  }

  /** Where a message's own fields start: after the head and the id. */
  private bodyStart(body: Buffer, state: Record<string, unknown>): number {
    let p = 0;
    if (this.fn.dH) {
      const d = newCtx(state, false);
      d.noSet = true;
      d.e = body.length;
      this.fn.dH(body, d);
      p = d.p;
    }
    return this.afterId(body, p);
  }

  /** Past the message id at p, when the transport has one and it is whole. */
  private afterId(body: Buffer, p: number): number {
    return this.idReader && !Number.isNaN(this.idReader.read(body, p, body.length)) ? this.idReader.next : p;
  }

  private failed(body: Buffer, message: string, offset: number): DecodedMessage {
    return { body, trailing: 0, error: { message, path: '', offset } };
  }

  private pick(dir: Direction, key: number, c: Ctx): MessageRef | undefined {
    const list = this.table[dir].get(key);
    if (!list) return undefined;
    const W = this.fast.W!;
    for (const r of list) {
      const w = W[r.index];
      if (!w || w(c)) return r;
    }
    return undefined;
  }

  private spans(ref: MessageRef, body: Buffer, start: number, state: Record<string, unknown>, head?: Record<string, unknown>, frame?: Record<string, unknown>): Span[] {
    if (this.def.msgpack) return [{ path: ref.def.name, start: 0, end: body.length, depth: 1 }];
    const spans: Span[] = [];
    if (this.fn.dH) {
      const h = newCtx(state, true);
      h.noSet = true;
      h.fr = frame ?? null;
      h.e = body.length;
      h.path.push('head');
      this.fn.dH(body, h);
      spans.push(...h.spans!, { path: 'head', start: 0, end: h.p, depth: 1 });
    }
    const d = newCtx(state, true);
    d.noSet = true;
    d.hd = head ?? null;
    d.fr = frame ?? null;
    d.p = start;
    d.e = body.length;
    d.path.push(ref.def.name);
    this.debug.M[ref.index](body, d);
    const idStart = this.def.id ? spans.find((x) => x.path === 'head')?.end ?? 0 : start;
    if (this.def.id && start > idStart) spans.push({ path: `${ref.def.name}.id`, start: idStart, end: start, depth: 2 });
    spans.push(...d.spans!);
    spans.push({ path: ref.def.name, start: 0, end: d.p, depth: 1 });
    return spans;
  }

  /**
   * The frame body for a message (head, id, fields, then compression when the state turns it
   * on). `name` may be qualified (`c2s.chat`); a name used both ways needs it, or `opts.dir`.
   */
  /**
   * Encode a decoded message again, maybe changed: unchanged, it is its original bytes exactly;
   * changed, every field (and list element) that kept its value is its original bytes, sizes are
   * recomputed from the data, and only what changed is encoded anew (a msgpack map keeps its
   * map16, a non-minimal varint stays non-minimal, padding keeps its bytes).
   */
  reencode(orig: DecodedOriginal, fields: Record<string, unknown>, state: Record<string, unknown>, head: Record<string, unknown> | undefined = orig.head): Buffer {
    if (sameValue(fields, orig.fields) && sameValue(head, orig.head)) return orig.body;
    const ref = this.protocol.message(orig.name, orig.dir);
    if (!ref || ref.transport !== this.kind) throw new EncodeError(`no ${this.kind} message named '${orig.name}'`, '');
    const spans = new Map<string, Span>();
    try {
      const start = this.bodyStart(orig.body, { ...state });
      for (const sp of this.spans(ref, orig.body, start, { ...state }, orig.head, orig.frame)) spans.set(sp.path, sp);
    } catch {
      // the original does not decode whole any more: encode everything anew
    }
    const original: Original = { roots: { [orig.name]: orig.fields, head: orig.head }, body: orig.body, spans };
    return this.encodeWith(orig.name, fields, state, { dir: orig.dir, head, id: orig.id, frame: orig.frame }, original);
  }

  encode(name: string, fields: unknown, state: Record<string, unknown>, opts: EncodeOptions = {}): Buffer {
    return this.encodeWith(name, fields, state, opts, null);
  }

  private encodeWith(name: string, fields: unknown, state: Record<string, unknown>, opts: EncodeOptions, original: Original | null): Buffer {
    const ref = this.protocol.message(name, opts.dir);
    if (!ref || ref.transport !== this.kind) {
      const both = this.protocol.named(name).length > 1;
      throw new EncodeError(both ? `'${name}' is a message both ways: say which (c2s.${name} or s2c.${name})` : `no ${this.kind} message named '${name}'${opts.dir ? ` for ${opts.dir}` : ''}`, '');
    }
    if (this.def.msgpack) {
      if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) throw new EncodeError(`${name}: expected its fields as a map`, name);
      const f = { ...(fields as Record<string, unknown>) };
      for (const k of ref.def.mapFields!) {
        // bytes as JSON and vectors write them: a hex string, a list of bytes
        if (k.kind !== 'bytes' || f[k.name] === undefined || f[k.name] instanceof Uint8Array) continue;
        const c = newCtx(state, false);
        c.path.push(name, k.name);
        f[k.name] = runtime.toBytes(f[k.name], c);
      }
      const problem = mapProblem(ref.def.mapFields!, f);
      if (problem) throw new EncodeError(problem.message, `${name}.${problem.key}`);
      return runtime.pack(mapToEncode(this.def.msgpack.key, ref.def.key!, f));
    }
    const id = opts.id ?? ref.def.id;
    if (opts.id !== undefined && !(ref.def.ids ?? [ref.def.id]).includes(opts.id)) throw new EncodeError(`${name} has no id ${opts.id}`, '');
    const c = newCtx(state, false);
    c.fr = opts.frame ?? null;
    c.orig = original;
    const w = new Writer();
    if (this.fn.EH) {
      // a head field the id expression is (id: { value: function }) comes from the id
      const head: Record<string, unknown> = { ...(opts.head ?? {}) };
      const x = this.def.idExpr?.e;
      if (x?.t === 'id' && head[x.name] === undefined) head[x.name] = id;
      c.path.push('head');
      this.fn.EH(w, head, c);
      c.path.pop();
      c.hd = head;
      if (this.fn.IDX && this.fn.IDX(c) !== id) throw new EncodeError(`the head gives id ${String(this.fn.IDX(c))}, and ${name} is ${id}`, 'head');
    }
    c.path.push(ref.def.name);
    if (this.def.id) w.bytes(writeCounter(this.def.id, id!));
    this.fast.EM![ref.index](w, fields, c);
    return w.finish();
  }

  private specOf(f: Framing): FramingSpec {
    return f.k === 'header' ? { k: 'header', codec: this.headerCodec(f) } : f;
  }

  /** The value of a layer expression (TransportDef.exprs[ix]) for this state and frame header. */
  layerValue(ix: number, state: Record<string, unknown>, frame?: Record<string, unknown>): unknown {
    const c = this.layerCtx;
    c.st = state;
    c.fr = frame ?? null;
    return this.LX[ix]!(c);
  }

  /** The compiled frame header: read by the header framer, written by wrapFrame. */
  private headerCodec(f: Framing & { k: 'header' }): FrameHeaderCodec {
    const c = newCtx({}, false);
    const FH = this.fn.FH!;
    const FL = this.fn.FL!;
    const EFH = this.fn.EFH!;
    // The length field: a bare name in the length expression, maybe +/- a number.
    const x = f.length.e;
    const k = x.t === 'bin' && (x.op === '+' || x.op === '-') && x.a.t === 'id' && x.b.t === 'num' ? (x.op === '+' ? x.b.v : -x.b.v) : 0;
    const named = x.t === 'id' ? x.name : x.t === 'bin' && x.a.t === 'id' && k !== 0 ? x.a.name : null;
    return {
      magic: f.magic,
      strip: f.strip,
      max: f.max,
      read(b) {
        c.p = 0;
        c.e = b.length;
        c.depth = 0;
        c.n = 0;
        let fields: Record<string, unknown>;
        try {
          fields = FH(b, c);
        } catch (e) {
          if (e instanceof DecodeError && e.short) return 'short';
          return { error: (e as Error).message };
        }
        c.fr = fields;
        const n = FL(c);
        const bodyLength = typeof n === 'bigint' && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
        if (typeof bodyLength !== 'number' || !Number.isInteger(bodyLength) || bodyLength < 0) return { error: `the body length expression gives ${String(n)}` };
        return { fields, size: c.p, bodyLength };
      },
      write(bodyLength, given) {
        const values: Record<string, unknown> = { ...given };
        if (named) values[named] = bodyLength - k;
        const e = newCtx({}, false);
        e.path.push('frame');
        const w = new Writer();
        EFH(w, values, e);
        e.fr = values;
        const want = Number(FL(e));
        if (want !== bodyLength) throw new EncodeError(`the header's length gives ${want} bytes, the body has ${bodyLength}`, 'frame');
        return w.finish();
      },
    };
  }

  /** A frame body as it goes on the wire (length prefix, header, delimiter...). `frame`: the header's values. */
  frame(body: Buffer, frame: Record<string, unknown> = {}): Buffer {
    return wrapFrame(this.spec, body, frame);
  }
}

export class Protocol {
  readonly name: string;
  readonly file: string;
  /** sha256 of the description file, recorded with sessions. */
  readonly hash: string;
  readonly tcp?: Transport;
  readonly udp?: Transport;
  readonly messages: MessageRef[];
  readonly source: { fast: string; debug: string };
  /** Whether a message's fields may depend on the state (see codegen's GeneratedSource). */
  readonly fieldsReadState: boolean;
  /** Messages by name: one, or two when the name is used both ways. */
  private readonly byName = new Map<string, MessageRef[]>();

  constructor(
    readonly def: ProtocolDef,
    /** The description file's text (recordings embed it). */
    readonly text: string,
  ) {
    this.name = def.name;
    this.file = def.file;
    this.hash = createHash('sha256').update(text).digest('hex');
    this.messages = messageList(def);
    for (const m of this.messages) this.byName.set(m.def.name, [...(this.byName.get(m.def.name) ?? []), m]);
    const gen = generate(def);
    this.source = { fast: gen.fast, debug: gen.debug };
    this.fieldsReadState = gen.fieldsReadState;
    const build = (src: string): Module => new Function('rt', 'K', src)({ ...runtime, Writer }, gen.K) as Module;
    const fast = build(gen.fast);
    const debug = build(gen.debug);
    for (const kind of ['tcp', 'udp'] as const) {
      const t = def[kind];
      if (t) this[kind] = new Transport(this, t, this.messages.filter((m) => m.transport === kind), fast, debug);
    }
  }

  /**
   * The message `name` names: `chat`, or qualified `c2s.chat`. A name used both ways needs the
   * direction (qualified, or `dir`); undefined when there is no such message or it is ambiguous.
   */
  message(name: string, dir?: Direction): MessageRef | undefined {
    const q = /^(c2s|s2c)\.(.+)$/.exec(name);
    if (q) return this.message(q[2]!, q[1] as Direction);
    const refs = this.byName.get(name) ?? [];
    if (dir) return refs.find((r) => !r.def.dir || r.def.dir === dir);
    return refs.length === 1 ? refs[0] : undefined;
  }

  /** Every message `name` names (both directions for a name used both ways; a qualified name, one). */
  named(name: string): MessageRef[] {
    const q = /^(c2s|s2c)\.(.+)$/.exec(name);
    if (q) return (this.byName.get(q[2]!) ?? []).filter((r) => !r.def.dir || r.def.dir === q[1]);
    return this.byName.get(name) ?? [];
  }

  /** How a message is named where a name alone could be ambiguous: `chat`, or `c2s.chat` for a name used both ways. */
  label(ref: MessageRef): string {
    return (this.byName.get(ref.def.name)?.length ?? 0) > 1 && ref.def.dir ? `${ref.def.dir}.${ref.def.name}` : ref.def.name;
  }

  transport(kind: 'tcp' | 'udp'): Transport | undefined {
    return kind === 'tcp' ? this.tcp : this.udp;
  }

  /** A fresh copy of the session state's initial values. */
  newState(): Record<string, unknown> {
    return { ...this.def.state };
  }


}

export function compileProtocol(text: string, file: string): Protocol {
  return new Protocol(parseProtocol(text, file), text);
}

/**
 * PROTOCOL is a path (a protocol.yaml or a directory holding one) or a name under protocols/
 * (looked up from the working directory, then from the package).
 */
export function resolveProtocolPath(spec: string, cwd = process.cwd()): string {
  const candidates = [resolve(cwd, spec), join(cwd, 'protocols', spec), join(__dirname, '../../protocols', spec)];
  for (const c of candidates) {
    if (!existsSync(c)) continue;
    if (statSync(c).isDirectory()) {
      if (existsSync(join(c, 'protocol.yaml'))) return join(c, 'protocol.yaml');
      continue;
    }
    return c;
  }
  throw new ProtocolError([`${spec}: no such protocol file, directory, or name under protocols/ (${listProtocols(cwd).join(', ') || 'none found'})`]);
}

/** The description named NAME under protocols/ (the working directory's, then the package's), or null. Never a path. */
export function findProtocolByName(name: string, cwd = process.cwd()): string | null {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) return null;
  for (const dir of [join(cwd, 'protocols'), join(__dirname, '../../protocols')]) {
    const f = join(dir, name, 'protocol.yaml');
    if (existsSync(f)) return f;
  }
  return null;
}

export function listProtocols(cwd = process.cwd()): string[] {
  const names = new Set<string>();
  for (const dir of [join(cwd, 'protocols'), join(__dirname, '../../protocols')]) {
    if (!existsSync(dir)) continue;
    for (const d of readdirSync(dir)) if (existsSync(join(dir, d, 'protocol.yaml'))) names.add(d);
  }
  return [...names].sort();
}

export function loadProtocol(spec: string, cwd = process.cwd()): Protocol {
  const file = resolveProtocolPath(spec, cwd);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ProtocolError([`${file}: cannot read: ${(e as Error).message}`]);
  }
  return compileProtocol(text, file);
}
