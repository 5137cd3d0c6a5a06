/**
 * What replay compares and what it rewrites: ignore patterns (from --ignore and the protocol's
 * `volatile:` lists) and rewrite rules (a value the live peer sent, carried into later messages).
 */
import { GamesniffError } from '../core/errors';
import type { Protocol } from '../protocol/protocol';

/**
 * An ignore pattern is `message.path`, `*.path` or a bare `path` (any message); `[]` in a path
 * matches any index, and a pattern covers everything below it (`snapshot.entities` ignores all
 * entities).
 */
export class IgnoreList {
  private readonly patterns: string[] = [];

  constructor(protocol: Protocol, given: string[]) {
    for (const m of protocol.messages) for (const v of protocol.volatile(m.def.name)) this.patterns.push(`${m.def.name}.${v}`);
    for (const g of given) {
      const first = g.split(/[.[]/)[0]!;
      this.patterns.push(first === '*' || protocol.message(first) ? g : `*.${g}`);
    }
  }

  ignored(name: string, path: string): boolean {
    const full = path ? `${name}.${path}` : name;
    const wild = full.replace(/\[\d+\]/g, '[]');
    for (const raw of this.patterns) {
      const p = raw.startsWith('*.') ? `${name}${raw.slice(1)}` : raw;
      for (const c of [full, wild]) if (c === p || c.startsWith(p + '.') || c.startsWith(p + '[')) return true;
    }
    return false;
  }

  /** Also ignore this exact path (a rewrite's source differs by design). */
  add(pattern: string): void {
    this.patterns.push(pattern);
  }

  list(): string[] {
    return [...this.patterns];
  }
}

/** `login_ok.token` or `login_ok.token:ack_login.token,other.path`. */
export interface RewriteRule {
  /** The peer's message and the path of the value to take from it. */
  message: string;
  path: string;
  /** Where to put it: message + path pairs; empty means wherever the recorded value appears. */
  targets: { message: string; path: string }[];
  text: string;
}

function splitPath(spec: string, protocol: Protocol, what: string): { message: string; path: string } {
  const dot = spec.indexOf('.');
  if (dot <= 0 || dot === spec.length - 1) throw new GamesniffError('USAGE', `--rewrite ${what} "${spec}": expected MESSAGE.FIELD (e.g. login_ok.token)`);
  const message = spec.slice(0, dot);
  if (!protocol.message(message)) throw new GamesniffError('USAGE', `--rewrite ${what} "${spec}": protocol ${protocol.name} has no message "${message}"`);
  return { message, path: spec.slice(dot + 1) };
}

export function parseRewrite(text: string, protocol: Protocol): RewriteRule {
  const [src, dst] = text.split(':') as [string, string | undefined];
  const from = splitPath(src, protocol, 'source');
  const targets = dst ? dst.split(',').map((d) => splitPath(d.trim(), protocol, 'target')) : [];
  return { ...from, targets, text };
}

/** The value at `a.b[2].c`, or undefined. */
export function valueAt(root: unknown, path: string): unknown {
  let v: unknown = root;
  for (const part of path.match(/[^.[\]]+/g) ?? []) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** A copy of `root` with the value at `path` replaced (intermediate objects copied, never shared). */
export function withValueAt(root: unknown, path: string, value: unknown): unknown {
  const parts = path.match(/[^.[\]]+/g) ?? [];
  const put = (node: unknown, i: number): unknown => {
    if (i === parts.length) return value;
    if (node === null || typeof node !== 'object') return node;
    const copy: Record<string, unknown> = Array.isArray(node) ? ([...node] as unknown as Record<string, unknown>) : { ...(node as Record<string, unknown>) };
    if (!(parts[i]! in copy)) return node;
    copy[parts[i]!] = put(copy[parts[i]!], i + 1);
    return copy;
  };
  return put(root, 0);
}

/** A key under which equal leaf values (bytes, strings, numbers, bigints) meet. */
export function leafKey(v: unknown): string | null {
  if (Buffer.isBuffer(v)) return `b:${v.toString('hex')}`;
  switch (typeof v) {
    case 'string':
      return `s:${v}`;
    case 'number':
      return `d:${v}`;
    case 'bigint':
      return `n:${v}`;
    default:
      return null;
  }
}

/** A copy with every leaf whose value is a key of `map` replaced by its live value. */
export function substitute(v: unknown, map: Map<string, unknown>): { value: unknown; changed: boolean } {
  let changed = false;
  const walk = (x: unknown): unknown => {
    const k = leafKey(x);
    if (k !== null) {
      if (!map.has(k)) return x;
      const live = map.get(k);
      if (leafKey(live) !== k) changed = true;
      return live;
    }
    if (Array.isArray(x)) return x.map(walk);
    if (x && typeof x === 'object' && !Buffer.isBuffer(x)) {
      const o: Record<string, unknown> = {};
      for (const [key, val] of Object.entries(x)) o[key] = walk(val);
      return o;
    }
    return x;
  };
  const value = walk(v);
  return { value, changed };
}
