/**
 * How much of the traffic a protocol description explains: per message name, unknown ids,
 * undecoded bytes, decode errors by field path, raw bytes by reason. Fed message by message.
 */
import type { Message } from './messages';

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
  readonly unknownIds = new Map<string, number>();
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
      const key = `${m.transport} ${m.dir} ${m.id !== undefined ? `id ${m.id} (0x${m.id.toString(16)})` : 'no matching message'}`;
      this.unknownIds.set(key, (this.unknownIds.get(key) ?? 0) + 1);
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

  report(): string[] {
    const lines = [`coverage: ${this.messages} messages, ${this.messages - this.failed} decoded, ${this.failed} not`];
    const names = [...this.byName.entries()].sort((a, b) => b[1].count - a[1].count);
    for (const [name, s] of names) {
      lines.push(`  ${name.padEnd(20)} ${String(s.count).padStart(8)} msgs ${String(s.bytes).padStart(10)} B` + (s.errors ? `  ${s.errors} errors` : '') + (s.trailingBytes ? `  ${s.trailingBytes} B undecoded` : ''));
    }
    for (const [k, n] of this.unknownIds) lines.push(`  unknown: ${k}: ${n}`);
    for (const [path, e] of this.errors) lines.push(`  error at ${path}: ${e.count}× (${e.message})`);
    for (const [why, r] of this.raw) lines.push(`  raw: ${r.count} chunks, ${r.bytes} B: ${why}`);
    return lines;
  }

  toJSON(): unknown {
    return {
      messages: this.messages,
      failed: this.failed,
      byName: Object.fromEntries(this.byName),
      unknownIds: Object.fromEntries(this.unknownIds),
      errors: Object.fromEntries(this.errors),
      raw: Object.fromEntries(this.raw),
    };
  }
}
