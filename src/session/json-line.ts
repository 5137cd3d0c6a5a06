/**
 * `decode --json` lines written straight to text: byte for byte what
 * `escapeJson(JSON.stringify({ n, ...messageJson(m, spans, limits) }))` gives, without the
 * intermediate objects, without JSON.stringify scanning every hex digit, and without escapeJson
 * scanning the whole line again. Each piece is escaped as it is written: hex and numbers need
 * nothing, a string only when a quick test finds a character that needs it, and then through
 * JSON.stringify and escapeJson themselves (so the rare case is exact by construction).
 * Fields of messages the description declares go through serialisers generated from it
 * (./json-codegen.ts); anything else through `jsonValue`, the generic walk.
 */
import { escapeJson, UNSAFE_CLASS } from '../core/terminal';
import { endpointString, type Endpoint } from '../core/types';
import type { Protocol } from '../protocol/protocol';
import { boundedHex, DEFAULT_LIMITS, type OutputLimits } from './format';
import { fieldWriters, type FieldsWriter } from './json-codegen';
import type { Message } from './messages';

/** What JSON.stringify escapes (quote, backslash, C0, lone surrogates) and escapeJson after it. */
const NEEDS_ESCAPE = new RegExp(`["\\\\${UNSAFE_CLASS}\\ud800-\\udfff]`);

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

function prop(key: string, v: unknown): string {
  const w = plain(v);
  return w === undefined ? '' : `,"${key}":${w}`;
}

/** Where a message's connection is, as JSON (the same for every message of a connection). */
interface FlowPart {
  client: Endpoint;
  server: Endpoint;
  id: unknown;
  json: string;
}

/**
 * Messages as `decode --json` lines. `line(m, n)` is the line without its newline, terminal-safe
 * (LineWriter.safeLine takes it as it is).
 */
export class MessageJsonWriter {
  private readonly writers: Map<string, FieldsWriter>;
  /** The connection's part of the line, rebuilt when its ends change (the table may learn who the server is). */
  private readonly flows = new WeakMap<object, FlowPart>();

  constructor(
    protocol: Protocol | null,
    private readonly spans = false,
    private readonly limits: OutputLimits = DEFAULT_LIMITS,
  ) {
    this.writers = protocol ? fieldWriters(protocol.def) : new Map();
  }

  private flowPart(m: Message): string {
    const f = m.flow as unknown as { id: unknown; client: Endpoint; server: Endpoint };
    let p = this.flows.get(f);
    if (!p || p.client !== f.client || p.server !== f.server || p.id !== f.id) {
      p = { client: f.client, server: f.server, id: f.id, json: '' };
      // the same keys in the same order as messageJson: conn, transport (written apart), client, server
      p.json = `${prop('client', endpointString(f.client))}${prop('server', endpointString(f.server))}`;
      this.flows.set(f, p);
    }
    return `${prop('conn', f.id)}${prop('transport', m.transport)}${p.json}`;
  }

  line(m: Message, n: number): string {
    const L = this.limits;
    let s = `{"n":${plain(n)}${prop('ts', m.ts / 1e6)}${this.flowPart(m)}${prop('dir', m.dir)}${prop('index', m.index)}`;
    s += `,"name":${m.name === undefined || m.name === null ? 'null' : plain(m.name)},"id":${m.id === undefined || m.id === null ? 'null' : plain(m.id)}${prop('size', m.size)}`;
    if (m.header) s += part('frame', jsonValue(m.header, L));
    if (m.head) s += part('head', jsonValue(m.head, L));
    if (m.fields) {
      const w = m.name === undefined ? undefined : this.writers.get(`${m.transport} ${m.dir} ${m.name}`);
      s += part('fields', w ? w(m.fields, L) : jsonValue(m.fields, L));
    }
    if (m.trailing) s += prop('trailing', m.trailing);
    if (m.compressed) s += ',"compressed":true';
    if (m.raw) s += prop('raw', m.raw);
    if (m.error) s += prop('error', m.error);
    if (m.raw || m.error) s += `,"hex":${jsonHex(m.payload, L)}`;
    if (this.spans && m.spans) s += prop('spans', m.spans);
    return `${s}}`;
  }
}

function part(key: string, w: string | undefined): string {
  return w === undefined ? '' : `,"${key}":${w}`;
}
