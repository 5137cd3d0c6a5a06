/** Decoded values as text (one-line summaries) and as JSON-safe data. Shared by the CLI and the TUI. */
import { endpointString } from '../core/types';
import type { Message } from './messages';

/**
 * How much of one message the JSON output shows: a hostile frame of 64 MiB must not become 134 MB
 * of hex on a terminal. What is cut says so: `…(+N bytes)`, `…(+N chars)`, a last array element
 * `…(+N more elements)`. `FULL` (decode --full) shows everything.
 */
export interface OutputLimits {
  bytes: number;
  chars: number;
  elements: number;
}
export const DEFAULT_LIMITS: OutputLimits = { bytes: 4096, chars: 65536, elements: 100_000 };
export const FULL: OutputLimits = { bytes: Infinity, chars: Infinity, elements: Infinity };

/** Bytes as hex, at most `max` of them, then how many more there were. */
export function boundedHex(b: Uint8Array, max: number): string {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
  return buf.length > max ? `${buf.toString('hex', 0, max)}…(+${buf.length - max} bytes)` : buf.toString('hex');
}

/** Buffers as hex, bigints as numbers when exact (strings otherwise), within the limits. */
export function toJsonValue(v: unknown, limits: OutputLimits = DEFAULT_LIMITS): unknown {
  if (v === null || v === undefined) return v;
  if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : String(v);
  if (v instanceof Uint8Array) return boundedHex(v, limits.bytes);
  if (typeof v === 'string') return v.length > limits.chars ? `${v.slice(0, limits.chars)}…(+${v.length - limits.chars} chars)` : v;
  if (Array.isArray(v)) {
    if (v.length <= limits.elements) return v.map((x) => toJsonValue(x, limits));
    const out: unknown[] = [];
    for (let i = 0; i < limits.elements; i++) out.push(toJsonValue(v[i], limits));
    out.push(`…(+${v.length - limits.elements} more elements)`);
    return out;
  }
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toJsonValue(x, limits);
    return out;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}

/** A compact one-line rendering: `name="bob" pos={x=1.5 y=-2} entities=[2]{...}`. */
export function summarize(v: unknown, budget = 160): string {
  const out: string[] = [];
  let used = 0;
  const put = (s: string): boolean => {
    if (used >= budget) return false;
    out.push(s);
    used += s.length;
    return true;
  };
  const walk = (x: unknown, depth: number): void => {
    if (used >= budget) return;
    if (x === undefined) return;
    if (x === null) put('null');
    else if (typeof x === 'string') put(JSON.stringify(x.length > 60 ? x.slice(0, 60) + '…' : x));
    else if (typeof x === 'number') put(Number.isInteger(x) ? String(x) : String(Math.round(x * 1e4) / 1e4));
    else if (typeof x === 'bigint' || typeof x === 'boolean') put(String(x));
    else if (Buffer.isBuffer(x) || x instanceof Uint8Array) {
      const b = Buffer.from(x);
      put(b.length > 16 ? `${b.subarray(0, 16).toString('hex')}…(${b.length}B)` : b.toString('hex') || '""');
    } else if (Array.isArray(x)) {
      put(`[${x.length}]`);
      if (x.length && depth < 3) {
        put('{');
        x.slice(0, 3).forEach((el, i) => {
          if (i) put(', ');
          walk(el, depth + 1);
        });
        if (x.length > 3) put(', …');
        put('}');
      }
    } else if (typeof x === 'object') {
      const entries = Object.entries(x as Record<string, unknown>).filter(([, y]) => y !== undefined);
      if (depth > 0) put('{');
      entries.forEach(([k, y], i) => {
        if (i) put(' ');
        put(`${k}=`);
        walk(y, depth + 1);
      });
      if (depth > 0) put('}');
    }
  };
  walk(v, 0);
  const s = out.join('');
  return used > budget ? s.slice(0, budget) + '…' : s;
}

export function hexPreview(b: Buffer, max = 32): string {
  return b.length > max ? `${b.subarray(0, max).toString('hex')}…` : b.toString('hex');
}

/** The label a message goes by in lists: its name, or `raw` / `?id` when it has none. */
export function messageLabel(m: Message): string {
  if (m.raw) return 'raw';
  if (m.name) return m.error ? `${m.name}!` : m.name;
  return m.id !== undefined ? `?0x${m.id.toString(16)}` : '?';
}

/** What the text output shows after the label. */
export function messageDetail(m: Message, budget = 160): string {
  if (m.raw) return `${m.payload.length}B (${m.raw}) ${hexPreview(m.payload)}`;
  if (m.error) return `error at ${m.error.path || 'frame'} +${m.error.offset}: ${m.error.message} | ${hexPreview(m.payload)}`;
  const extra = m.trailing ? ` (+${m.trailing}B undecoded)` : '';
  return summarize(m.fields, budget) + extra;
}

export function clockTime(tsUs: number): string {
  const d = new Date(Math.floor(tsUs / 1000));
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(Math.floor(tsUs / 1000) % 1000, 3)}`;
}

/** One message as a JSON-safe object: `decode --json` lines and the TUI's export. */
export function messageJson(m: Message, spans = false, limits: OutputLimits = DEFAULT_LIMITS): Record<string, unknown> {
  const o: Record<string, unknown> = {
    ts: m.ts / 1e6,
    conn: m.flow.id,
    transport: m.transport,
    client: endpointString(m.flow.client),
    server: endpointString(m.flow.server),
    dir: m.dir,
    index: m.index,
    name: m.name ?? null,
    id: m.id ?? null,
    size: m.size,
  };
  if (m.header) o.frame = toJsonValue(m.header, limits);
  if (m.head) o.head = toJsonValue(m.head, limits);
  if (m.fields) o.fields = toJsonValue(m.fields, limits);
  if (m.trailing) o.trailing = m.trailing;
  if (m.compressed) o.compressed = true;
  if (m.raw) o.raw = m.raw;
  if (m.error) o.error = m.error;
  if (m.raw || m.error) o.hex = boundedHex(m.payload, limits.bytes);
  if (spans && m.spans) o.spans = m.spans;
  return o;
}

