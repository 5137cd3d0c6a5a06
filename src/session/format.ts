/** Decoded values as text (one-line summaries) and as JSON-safe data. Shared by the CLI and the TUI. */
import { endpointString } from '../core/types';
import type { Message } from './messages';

/** Buffers as hex, bigints as numbers when exact (strings otherwise). */
export function toJsonValue(v: unknown): unknown {
  if (v === null || v === undefined) return v;
  if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : String(v);
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(toJsonValue);
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toJsonValue(x);
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
  if (m.raw) return `${m.body.length}B (${m.raw}) ${hexPreview(m.body)}`;
  if (m.error) return `error at ${m.error.path || 'frame'} +${m.error.offset}: ${m.error.message} | ${hexPreview(m.body)}`;
  const extra = m.trailing ? ` (+${m.trailing}B undecoded)` : '';
  return summarize(m.fields, budget) + extra;
}

export function clockTime(tsUs: number): string {
  const d = new Date(Math.floor(tsUs / 1000));
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(Math.floor(tsUs / 1000) % 1000, 3)}`;
}

/** One message as a JSON-safe object: `decode --json` lines and the TUI's export. */
export function messageJson(m: Message, spans = false): Record<string, unknown> {
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
  if (m.fields) o.fields = toJsonValue(m.fields);
  if (m.trailing) o.trailing = m.trailing;
  if (m.compressed) o.compressed = true;
  if (m.raw) o.raw = m.raw;
  if (m.error) o.error = m.error;
  if (m.raw || m.error) o.hex = m.body.toString('hex');
  if (spans && m.spans) o.spans = m.spans;
  return o;
}

