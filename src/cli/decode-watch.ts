/**
 * decode --watch: the input decoded again on every save of the protocol file (or of the input),
 * each run told as one summary line and what changed since the run before: messages now named
 * (by name, with counts), errors fixed and errors introduced (by message and field path), unknown
 * ids that went away or appeared. Counts only: memory stays bounded whatever the input's size.
 */
import type { Message } from '../session/messages';

/** Distinct names, error paths and unknown ids kept per run; past that they are counted together. */
const MAX_KEYS = 10_000;
const OTHER = '(others)';

function bump(map: Map<string, number>, key: string, n = 1): void {
  if (!map.has(key) && map.size >= MAX_KEYS) key = OTHER;
  map.set(key, (map.get(key) ?? 0) + n);
}

/** What one run decoded: counts by kind, by name, by error and by unknown id. */
export class DecodeTally {
  messages = 0;
  /** Decoded whole: a name and no error. */
  named = 0;
  /** A name, and an error at a field. */
  errors = 0;
  /** No message has the id. */
  unknown = 0;
  /** Bytes that did not frame (a gap, no protocol for the transport). */
  raw = 0;
  /** Messages decoded whole, by label. */
  readonly byName = new Map<string, number>();
  /** Errors by field path (indices as [], so that one mistake is one line), with the first one's wording. */
  readonly byError = new Map<string, number>();
  readonly errorText = new Map<string, string>();
  /** Unknown ids by `tcp c2s 0x99`. */
  readonly byUnknown = new Map<string, number>();

  add(m: Message): void {
    this.messages++;
    if (m.raw !== undefined) {
      this.raw++;
      return;
    }
    if (!m.name) {
      this.unknown++;
      bump(this.byUnknown, `${m.transport} ${m.dir} ${m.id === undefined ? '(no id)' : `0x${m.id.toString(16)}`}`);
      return;
    }
    const label = m.label ?? m.name;
    if (m.error) {
      this.errors++;
      const key = (m.error.path || label).replace(/\[\d+\]/g, '[]');
      bump(this.byError, key);
      if (!this.errorText.has(key) && this.errorText.size < MAX_KEYS) this.errorText.set(key, m.error.message);
      return;
    }
    this.named++;
    bump(this.byName, label);
  }

  /** `120 messages: 100 named, 5 errors, 12 unknown ids, 3 raw`, with the change since `prev` after each figure that moved. */
  summary(prev: DecodeTally | null): string {
    const d = (k: 'messages' | 'named' | 'errors' | 'unknown' | 'raw'): string => {
      const n = this[k] - (prev ? prev[k] : this[k]);
      return n ? ` (${n > 0 ? '+' : ''}${n})` : '';
    };
    return `${this.messages} messages${d('messages')}: ${this.named} named${d('named')}, ${this.errors} errors${d('errors')}, ${this.unknown} unknown ids${d('unknown')}, ${this.raw} raw${d('raw')}`;
  }

  /** What changed since `prev`, a line each; `no change` when nothing did. */
  changes(prev: DecodeTally): string[] {
    const out: string[] = [];
    const list = (label: string, items: [string, number][], text?: (k: string) => string | undefined): void => {
      if (!items.length) return;
      items.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
      if (text) {
        out.push(`  ${label}:`);
        for (const [k, n] of items) {
          const t = text(k);
          out.push(`    ${k} ×${n}${t ? `: ${t}` : ''}`);
        }
      } else out.push(`  ${label}: ${items.map(([k, n]) => `${k} ×${n}`).join(', ')}`);
    };
    const more = (a: Map<string, number>, b: Map<string, number>): [string, number][] => [...a].map(([k, n]): [string, number] => [k, n - (b.get(k) ?? 0)]).filter(([, n]) => n > 0);
    list('now named', more(this.byName, prev.byName));
    list('no longer named', more(prev.byName, this.byName));
    list('errors fixed', more(prev.byError, this.byError), (k) => prev.errorText.get(k));
    list('errors introduced', more(this.byError, prev.byError), (k) => this.errorText.get(k));
    list('unknown ids gone', more(prev.byUnknown, this.byUnknown));
    list('unknown ids new', more(this.byUnknown, prev.byUnknown));
    if (this.raw !== prev.raw) out.push(`  raw: ${prev.raw} -> ${this.raw}`);
    return out.length ? out : ['  no change'];
  }
}
