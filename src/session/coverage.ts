/**
 * How much of the traffic a protocol description explains: per message name, unknown ids,
 * undecoded bytes, decode errors by field path, raw bytes by reason. Fed message by message.
 */
import type { Message } from './messages';

/** An unknown id: how often it came, its frame bodies' sizes, and the first bytes of the first one. */
export interface UnknownId {
  transport: 'tcp' | 'udp';
  dir: 'c2s' | 's2c';
  /** undefined: the frame matched no message and had no id (a computed id, msgpack). */
  id: number | undefined;
  count: number;
  min: number;
  max: number;
  /** The distinct body sizes, up to UNKNOWN_SIZES of them; null once there were more. */
  sizes: number[] | null;
  /** The first SAMPLE_BYTES bytes of the first body seen (a copy: nothing larger is kept). */
  sample: Buffer;
  /** The first body's whole length. */
  sampleSize: number;
}

/** Bytes kept of an unknown id's first body. */
export const SAMPLE_BYTES = 16;
/** Distinct sizes listed before the table says min–max instead. */
const UNKNOWN_SIZES = 4;
/** Distinct unknown ids kept (a stream of garbage has as many ids as its id type allows); the rest are counted together. */
export const MAX_UNKNOWN_IDS = 4096;
/** Rows of the unknown-id table per direction; the rest are summed up in one line. */
const UNKNOWN_ROWS = 20;

interface NameStats {
  count: number;
  bytes: number;
  errors: number;
  trailingBytes: number;
}

export class Coverage {
  messages = 0;
  failed = 0;
  readonly byName = new Map<string, NameStats>();
  /** Unknown ids by transport, direction and id: at most MAX_UNKNOWN_IDS of them, each with one sample. */
  readonly unknown = new Map<string, UnknownId>();
  /** Messages of unknown ids past MAX_UNKNOWN_IDS distinct ones, by transport and direction. */
  readonly unknownOverflow = new Map<string, number>();
  readonly errors = new Map<string, { count: number; message: string }>();
  readonly raw = new Map<string, { count: number; bytes: number }>();

  add(m: Message): void {
    this.messages++;
    if (m.raw) {
      this.failed++;
      // Reasons carry offsets; group them by their wording up to the first number.
      const key = m.raw.replace(/\d+/g, 'N');
      const r = this.raw.get(key) ?? { count: 0, bytes: 0 };
      r.count++;
      r.bytes += m.payload.length;
      this.raw.set(key, r);
      return;
    }
    if (!m.name) {
      this.failed++;
      this.addUnknown(m);
      return;
    }
    const name = m.label ?? m.name;
    const s = this.byName.get(name) ?? { count: 0, bytes: 0, errors: 0, trailingBytes: 0 };
    s.count++;
    s.bytes += m.size;
    s.trailingBytes += m.trailing;
    if (m.error) {
      this.failed++;
      s.errors++;
      const key = m.error.path || name;
      const e = this.errors.get(key) ?? { count: 0, message: m.error.message };
      e.count++;
      this.errors.set(key, e);
    }
    this.byName.set(name, s);
  }

  private addUnknown(m: Message): void {
    const key = unknownKey(m.transport, m.dir, m.id);
    const size = m.payload.length;
    const u = this.unknown.get(key);
    if (u) {
      u.count++;
      u.min = Math.min(u.min, size);
      u.max = Math.max(u.max, size);
      if (u.sizes && !u.sizes.includes(size)) {
        if (u.sizes.length < UNKNOWN_SIZES) u.sizes.push(size);
        else u.sizes = null;
      }
      return;
    }
    if (this.unknown.size >= MAX_UNKNOWN_IDS) {
      const k = `${m.transport} ${m.dir}`;
      this.unknownOverflow.set(k, (this.unknownOverflow.get(k) ?? 0) + 1);
      return;
    }
    // a copy of the first bytes: the message's payload may be a view on a large buffer
    const sample = Buffer.from(m.payload.subarray(0, SAMPLE_BYTES));
    this.unknown.set(key, { transport: m.transport, dir: m.dir, id: m.id, count: 1, min: size, max: size, sizes: [size], sample, sampleSize: size });
  }

  /** Unknown ids as counts by `tcp c2s id 153 (0x99)` (the form `info --json` has always given). */
  get unknownIds(): Map<string, number> {
    return new Map([...this.unknown].map(([k, u]) => [k, u.count]));
  }

  /**
   * The unknown-id table: per transport and direction, the ids by count (most first), each with
   * its frame bodies' sizes and the first bytes of one as hex. Empty when every id was known.
   */
  unknownTable(): string[] {
    if (this.unknown.size === 0 && this.unknownOverflow.size === 0) return [];
    const groups = new Map<string, UnknownId[]>();
    for (const u of this.unknown.values()) {
      const k = `${u.transport} ${u.dir}`;
      const g = groups.get(k);
      if (g) g.push(u);
      else groups.set(k, [u]);
    }
    for (const k of this.unknownOverflow.keys()) if (!groups.has(k)) groups.set(k, []);
    const order = (k: string): number => (k.startsWith('tcp') ? 0 : 2) + (k.endsWith('c2s') ? 0 : 1);
    const lines = ['unknown ids, most frequent first (sizes of the frame body; sample: its first bytes):'];
    for (const k of [...groups.keys()].sort((a, b) => order(a) - order(b))) {
      const list = groups.get(k)!.sort((a, b) => b.count - a.count || (a.id ?? -1) - (b.id ?? -1));
      const total = list.reduce((n, u) => n + u.count, 0) + (this.unknownOverflow.get(k) ?? 0);
      lines.push(`  ${k}: ${total} messages, ${list.length} ${list.length === 1 ? 'id' : 'ids'}`);
      lines.push(`    ${'id'.padEnd(18)} ${'count'.padStart(8)}  ${'sizes'.padEnd(16)} sample`);
      for (const u of list.slice(0, UNKNOWN_ROWS)) {
        const id = u.id === undefined ? '(none)' : `0x${u.id.toString(16)} (${u.id})`;
        const sizes = u.sizes ? [...u.sizes].sort((a, b) => a - b).join(', ') : `${u.min}–${u.max}`;
        const sample = u.sample.toString('hex') + (u.sampleSize > u.sample.length ? `… (${u.sampleSize} B)` : '');
        lines.push(`    ${id.padEnd(18)} ${String(u.count).padStart(8)}  ${sizes.padEnd(16)} ${sample || '(empty)'}`);
      }
      const rest = list.slice(UNKNOWN_ROWS);
      if (rest.length) lines.push(`    … ${rest.length} more ids, ${rest.reduce((n, u) => n + u.count, 0)} messages`);
      const over = this.unknownOverflow.get(k);
      if (over) lines.push(`    … ${over} messages of ids past the first ${MAX_UNKNOWN_IDS} distinct ones (not kept)`);
    }
    return lines;
  }

  report(): string[] {
    const lines = [`coverage: ${this.messages} messages, ${this.messages - this.failed} decoded, ${this.failed} not`];
    const names = [...this.byName.entries()].sort((a, b) => b[1].count - a[1].count);
    for (const [name, s] of names) {
      lines.push(`  ${name.padEnd(20)} ${String(s.count).padStart(8)} msgs ${String(s.bytes).padStart(10)} B` + (s.errors ? `  ${s.errors} errors` : '') + (s.trailingBytes ? `  ${s.trailingBytes} B undecoded` : ''));
    }
    for (const [path, e] of this.errors) lines.push(`  error at ${path}: ${e.count}× (${e.message})`);
    for (const [why, r] of this.raw) lines.push(`  raw: ${r.count} chunks, ${r.bytes} B: ${why}`);
    lines.push(...this.unknownTable());
    return lines;
  }

  toJSON(): unknown {
    return {
      messages: this.messages,
      failed: this.failed,
      byName: Object.fromEntries(this.byName),
      unknownIds: Object.fromEntries(this.unknownIds),
      unknown: [...this.unknown.values()].sort((a, b) => b.count - a.count).map((u) => ({ transport: u.transport, dir: u.dir, id: u.id ?? null, count: u.count, min: u.min, max: u.max, sizes: u.sizes, sample: u.sample.toString('hex'), sampleSize: u.sampleSize })),
      errors: Object.fromEntries(this.errors),
      raw: Object.fromEntries(this.raw),
    };
  }
}

function unknownKey(transport: string, dir: string, id: number | undefined): string {
  return `${transport} ${dir} ${id !== undefined ? `id ${id} (0x${id.toString(16)})` : 'no matching message'}`;
}
