/**
 * `decode --json` lines written straight into the output block (core/line-block, through
 * ./json-bytes.ts): byte for byte the UTF-8 of what
 * `escapeJson(JSON.stringify({ n, ...messageJson(m, spans, limits) }))` gives, without the
 * intermediate objects, without a string per value, without JSON.stringify scanning every hex digit, and without escapeJson
 * scanning the whole line again. Each piece is escaped as it is written: hex and numbers need
 * nothing, a string only when a quick test finds a character that needs it, and then through
 * JSON.stringify and escapeJson themselves (so the rare case is exact by construction).
 * Fields of messages the description declares go through serialisers generated from it
 * (./json-codegen.ts); anything else through `jsonValue`, the generic walk.
 */
import { LineBlock } from '../core/line-block';
import { escapeJson, UNSAFE_CLASS } from '../core/terminal';
import { endpointString, type Endpoint } from '../core/types';
import type { Protocol } from '../protocol/protocol';
import { boundedHex, DEFAULT_LIMITS, type OutputLimits } from './format';
import { putHex, putMicros, putNumberOrNull, putString, putValue } from './json-bytes';
import { fieldWriters, type FieldsWriter } from './json-codegen';
import type { Message } from './messages';

/** What JSON.stringify escapes (quote, backslash, C0, lone surrogates) and escapeJson after it. */
export const NEEDS_ESCAPE = new RegExp(`["\\\\${UNSAFE_CLASS}\\ud800-\\udfff]`);

/** A string as a terminal-safe JSON string literal. */
export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? escapeJson(JSON.stringify(s)) : `"${s}"`;
}

/** A decoded string within the limits (toJsonValue's cut), as a JSON literal. */
export function jsonText(s: string, limits: OutputLimits): string {
  return jsonString(s.length > limits.chars ? `${s.slice(0, limits.chars)}…(+${s.length - limits.chars} chars)` : s);
}

/** Bytes as a hex JSON literal within the limits: hex digits and `…(+N bytes)` need no escaping. */
export function jsonHex(b: Uint8Array, limits: OutputLimits): string {
  return `"${boundedHex(b, limits.bytes)}"`;
}

/**
 * Any decoded value as JSON, as `escapeJson(JSON.stringify(toJsonValue(v, limits)))` gives it;
 * undefined where JSON.stringify would leave the value out (undefined, functions, symbols).
 */
export function jsonValue(v: unknown, limits: OutputLimits = DEFAULT_LIMITS): string | undefined {
  switch (typeof v) {
    case 'string':
      return jsonText(v, limits);
    case 'number':
      return Number.isFinite(v) ? String(v) : `"${v}"`;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      // exact as a number within ±2^53 (where its digits are the number's), a string beyond
      return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? String(v) : `"${v}"`;
    case 'object':
      if (v === null) return 'null';
      if (v instanceof Uint8Array) return jsonHex(v, limits);
      if (Array.isArray(v)) return jsonArray(v, limits, jsonValue);
      return jsonObject(v as Record<string, unknown>, limits);
    default:
      return undefined;
  }
}

/** An array within the limits, its elements by `each` (undefined ones as null, as JSON.stringify). */
export function jsonArray(v: unknown[], limits: OutputLimits, each: (x: unknown, limits: OutputLimits) => string | undefined): string {
  const n = v.length <= limits.elements ? v.length : limits.elements;
  let s = '[';
  for (let i = 0; i < n; i++) {
    if (i > 0) s += ',';
    s += each(v[i], limits) ?? 'null';
  }
  if (n < v.length) s += `${n > 0 ? ',' : ''}"…(+${v.length - n} more elements)"`;
  return s + ']';
}

function jsonObject(v: Record<string, unknown>, limits: OutputLimits): string {
  let s = '{';
  for (const [k, x] of Object.entries(v)) {
    // toJsonValue copies into a fresh object, where __proto__ is no own key
    if (x === undefined || k === '__proto__') continue;
    const w = jsonValue(x, limits);
    if (w === undefined) continue;
    s += `${s.length > 1 ? ',' : ''}${jsonString(k)}:${w}`;
  }
  return s + '}';
}

/** A top-level value of messageJson, as JSON.stringify writes it (no toJsonValue: non-finite numbers are null). */
function plain(v: unknown): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (typeof v === 'string') return jsonString(v);
  return v === undefined ? undefined : escapeJson(JSON.stringify(v));
}

/** `,"key":value` for a top-level value (`comma_key` is `,"key":`), nothing where JSON.stringify leaves it out. */
function putProp(B: LineBlock, commaKey: string, v: unknown): void {
  if (typeof v === 'number') {
    B.text(commaKey);
    putNumberOrNull(B, v);
  } else if (typeof v === 'string') {
    B.text(commaKey);
    putString(B, v);
  } else {
    const w = plain(v);
    if (w === undefined) return;
    B.text(commaKey);
    B.text(w);
  }
}

/** `,"key":` then the value by the generic walk; the key taken back where JSON leaves the value out. */
function putPart(B: LineBlock, commaKey: string, v: unknown, L: OutputLimits): void {
  const at = B.mark();
  B.text(commaKey);
  if (!putValue(B, v, L)) B.cut(at);
}

/** Where a message's connection is, as JSON (the same for every message of a connection). */
interface FlowPart {
  client: Endpoint;
  server: Endpoint;
  id: unknown;
  transport: string;
  /** `,"conn":…,"transport":…,"client":…,"server":…` as UTF-8. */
  bytes: Buffer;
  /** The same, then `,"dir":"c2s","index":` (what comes before the index), and for s2c. */
  c2s: Buffer;
  s2c: Buffer;
}

/** A declared message's serialiser, and `,"name":<its name>,"id":` (what comes before its id). */
interface Declared {
  fields: FieldsWriter;
  nameThenId: string;
  /**
   * `,"name":…,"id":<id>,"size":` as UTF-8 for the id last seen under this name (a name has one id
   * but in odd descriptions): the constant stretch of a line in one copy rather than three pieces
   * written character by character.
   */
  id: number;
  nameIdSize: Buffer | null;
}

/** What comes between the connection and the index, for the two directions. */
const DIR_C2S = ',"dir":"c2s","index":';
const DIR_S2C = ',"dir":"s2c","index":';

/**
 * Messages as `decode --json` lines, written into the output block (`write`) or as a string
 * (`line`, without its newline). Either is terminal-safe as it comes.
 */
export class MessageJsonWriter {
  /** Declared messages by name, for tcp c2s, tcp s2c, udp c2s, udp s2c (see `declared`). */
  private readonly byDir: Map<string, Declared>[] = [new Map(), new Map(), new Map(), new Map()];
  /** The connection's part of the line, rebuilt when its ends change (the table may learn who the server is). */
  private readonly flows = new WeakMap<object, FlowPart>();
  private lastFlow: object | null = null;
  private lastPart: FlowPart | undefined = undefined;

  constructor(
    protocol: Protocol | null,
    private readonly spans = false,
    private readonly limits: OutputLimits = DEFAULT_LIMITS,
  ) {
    if (!protocol) return;
    for (const [key, fields] of fieldWriters(protocol.def)) {
      // `tcp c2s name`: the name may hold spaces
      const name = key.slice(8);
      this.byDir[(key.startsWith('udp') ? 2 : 0) + (key.slice(4, 7) === 's2c' ? 1 : 0)].set(name, { fields, nameThenId: `,"name":${jsonString(name)},"id":`, id: NaN, nameIdSize: null });
    }
  }

  private declared(m: Message): Declared | undefined {
    return m.name === undefined ? undefined : this.byDir[(m.transport === 'udp' ? 2 : 0) + (m.dir === 's2c' ? 1 : 0)].get(m.name);
  }

  private flowPart(m: Message): FlowPart {
    const f = m.flow as unknown as { id: unknown; client: Endpoint; server: Endpoint };
    // messages come in runs from one connection: the last one's part without the WeakMap's hashing
    let p = f === this.lastFlow ? this.lastPart : this.flows.get(f);
    if (!p || p.client !== f.client || p.server !== f.server || p.id !== f.id || p.transport !== m.transport) {
      // the same keys in the same order as messageJson: conn, transport, client, server
      const json = `${prop('conn', f.id)}${prop('transport', m.transport)}${prop('client', endpointString(f.client))}${prop('server', endpointString(f.server))}`;
      p = { client: f.client, server: f.server, id: f.id, transport: m.transport, bytes: Buffer.from(json), c2s: Buffer.from(json + DIR_C2S), s2c: Buffer.from(json + DIR_S2C) };
      this.flows.set(f, p);
    }
    this.lastFlow = f;
    this.lastPart = p;
    return p;
  }

  /** The line of message `n`, without its newline, into the block (the caller ends the line). */
  write(m: Message, n: number, B: LineBlock): void {
    const L = this.limits;
    B.text('{"n":');
    putNumberOrNull(B, n);
    B.text(',"ts":');
    putMicros(B, m.ts);
    const flow = this.flowPart(m);
    if ((m.dir === 'c2s' || m.dir === 's2c') && typeof m.index === 'number') {
      B.bytes(m.dir === 'c2s' ? flow.c2s : flow.s2c);
      putNumberOrNull(B, m.index);
    } else {
      B.bytes(flow.bytes);
      putProp(B, ',"dir":', m.dir);
      putProp(B, ',"index":', m.index);
    }
    const d = this.declared(m);
    if (d && typeof m.id === 'number' && typeof m.size === 'number' && Number.isSafeInteger(m.id)) {
      if (m.id !== d.id) {
        d.id = m.id;
        d.nameIdSize = Buffer.from(`${d.nameThenId}${m.id},"size":`);
      }
      B.bytes(d.nameIdSize!);
      putNumberOrNull(B, m.size);
    } else {
      if (d) B.text(d.nameThenId);
      else {
        B.text(',"name":');
        if (m.name === undefined || m.name === null) B.text('null');
        else B.text(plain(m.name)!);
        B.text(',"id":');
      }
      if (m.id === undefined || m.id === null) B.text('null');
      else if (typeof m.id === 'number') putNumberOrNull(B, m.id);
      else B.text(plain(m.id)!);
      putProp(B, ',"size":', m.size);
    }
    if (m.header) putPart(B, ',"frame":', m.header, L);
    if (m.head) putPart(B, ',"head":', m.head, L);
    if (m.fields) {
      if (d) {
        const at = B.mark();
        B.text(',"fields":');
        if (!d.fields(m.fields, L, B)) B.cut(at);
      } else putPart(B, ',"fields":', m.fields, L);
    }
    if (m.trailing) putProp(B, ',"trailing":', m.trailing);
    if (m.compressed) B.text(',"compressed":true');
    if (m.raw) putProp(B, ',"raw":', m.raw);
    if (m.error) putProp(B, ',"error":', m.error);
    if (m.raw || m.error) {
      B.text(',"hex":');
      putHex(B, m.payload, L);
    }
    if (this.spans && m.spans) putProp(B, ',"spans":', m.spans);
    B.text('}');
  }

  /** The line of message `n` as a string, without its newline. */
  line(m: Message, n: number): string {
    const B = new LineBlock(() => {}, Infinity, 1024);
    this.write(m, n, B);
    return B.buf.toString('utf8', 0, B.pos);
  }
}

function prop(key: string, v: unknown): string {
  const w = plain(v);
  return w === undefined ? '' : `,"${key}":${w}`;
}
