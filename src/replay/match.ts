/**
 * What replay compares and what it rewrites: ignore patterns (from --ignore and the protocol's
 * `volatile:` lists) and rewrite rules (a value the live peer sent, carried into later messages).
 */
import { GamesniffError } from '../core/errors';
import type { Direction } from '../core/types';
import type { Protocol } from '../protocol/protocol';
import { WS_VOLATILE } from '../conversation/websocket';
import { valueDiffs, type ValueDiff } from '../protocol/diff';

/**
 * An ignore pattern is `message.path`, `c2s.message.path` (one direction of a name used both
 * ways), `*.path` or a bare `path` (any message); `[]` in a path matches any index, and a pattern
 * covers everything below it (`snapshot.entities` ignores all entities).
 */
interface Pattern {
  /** The message name, or '*' for any. */
  msg: string;
  dir?: Direction;
  path: string;
}

export class IgnoreList {
  private readonly patterns: Pattern[] = [];

  constructor(
    private readonly protocol: Protocol,
    given: string[],
  ) {
    for (const m of protocol.messages) for (const v of m.def.volatile) this.patterns.push({ msg: m.def.name, dir: m.def.dir, path: v });
    if (protocol.tcp?.def.websocket) for (const [msg, path] of WS_VOLATILE) this.patterns.push({ msg, path });
    for (const g of given) this.add(g);
  }

  ignored(name: string, dir: Direction, path: string): boolean {
    const wild = path.replace(/\[\d+\]/g, '[]');
    for (const p of this.patterns) {
      if ((p.msg !== '*' && p.msg !== name) || (p.dir && p.dir !== dir)) continue;
      if (!p.path) return true;
      for (const c of [path, wild]) if (c === p.path || c.startsWith(p.path + '.') || c.startsWith(p.path + '[')) return true;
    }
    return false;
  }

  /** Also ignore this (a rewrite's source differs by design). */
  add(pattern: string): void {
    const { message, dir, path } = splitName(pattern, this.protocol);
    this.patterns.push({ msg: message ?? '*', dir, path });
  }

  list(): string[] {
    return this.patterns.map((p) => `${p.dir ? `${p.dir}.` : ''}${p.msg}${p.path ? `.${p.path}` : ''}`);
  }
}

/** `[c2s.]message.path`, `*.path` or a bare `path`: the message part when the first segments name one. */
function splitName(spec: string, protocol: Protocol): { message?: string; dir?: Direction; path: string } {
  const parts = spec.split('.');
  let dir: Direction | undefined;
  if ((parts[0] === 'c2s' || parts[0] === 's2c') && parts.length > 1) dir = parts.shift() as Direction;
  const head = parts[0]!.split('[')[0]!;
  if (head === '*') return { dir, path: parts.slice(1).join('.') };
  if (protocol.named(head).length) return { message: head, dir, path: parts.slice(1).join('.') };
  return { dir, path: parts.join('.') };
}

/** `login_ok.token` or `login_ok.token:ack_login.token,other.path` (names may be qualified: `s2c.chat.text`). */
export interface RewriteRule {
  /** The peer's message and the path of the value to take from it. */
  message: string;
  dir?: Direction;
  path: string;
  /** Where to put it: message + path pairs; empty means wherever the recorded value appears. */
  targets: { message: string; dir?: Direction; path: string }[];
  text: string;
}

function splitPath(spec: string, protocol: Protocol, what: string): { message: string; dir?: Direction; path: string } {
  const s = splitName(spec, protocol);
  if (!s.path) throw new GamesniffError('USAGE', `--rewrite ${what} "${spec}": expected MESSAGE.FIELD (e.g. login_ok.token)`);
  if (!s.message) throw new GamesniffError('USAGE', `--rewrite ${what} "${spec}": protocol ${protocol.name} has no message "${spec.split('.')[s.dir ? 1 : 0]}"`);
  return { message: s.message, dir: s.dir, path: s.path };
}

/** Does a rule's message (and direction, when it names one) match this one? */
export function sameMessage(rule: { message: string; dir?: Direction }, name: string | undefined, dir: Direction): boolean {
  return rule.message === name && (!rule.dir || rule.dir === dir);
}

export function parseRewrite(text: string, protocol: Protocol): RewriteRule {
  const [src, dst] = text.split(':') as [string, string | undefined];
  const from = splitPath(src, protocol, 'source');
  const targets = dst ? dst.split(',').map((d) => splitPath(d.trim(), protocol, 'target')) : [];
  return { ...from, targets, text };
}

/** The value at `a.b[2].c` (`.length` of a list, bytes or a string), or undefined. */
export function valueAt(root: unknown, path: string): unknown {
  let v: unknown = root;
  for (const part of path.match(/[^.[\]]+/g) ?? []) {
    if (typeof v === 'string' && part === 'length') return v.length;
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

/** leafKey's first letter, without making the key (most leaves are not in a map of a few values). */
function leafKind(v: unknown): string | null {
  if (Buffer.isBuffer(v)) return 'b';
  switch (typeof v) {
    case 'string':
      return 's';
    case 'number':
      return 'd';
    case 'bigint':
      return 'n';
    default:
      return null;
  }
}

/** Whether some leaf of `v` is a key of `map` (substitute would replace it), without copying anything. */
export function hasLeafIn(v: unknown, map: Map<string, unknown>): boolean {
  if (map.size === 0) return false;
  const kinds = new Set<string>();
  for (const k of map.keys()) kinds.add(k[0]!);
  const walk = (x: unknown): boolean => {
    const kind = leafKind(x);
    if (kind !== null) return kinds.has(kind) && map.has(leafKey(x)!);
    if (Array.isArray(x)) return x.some(walk);
    if (x && typeof x === 'object') {
      for (const key in x) if (walk((x as Record<string, unknown>)[key])) return true;
    }
    return false;
  };
  return walk(v);
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

/** A decoded value the comparison walks as plain data (objects, arrays, leaves); anything else takes the exact, slower way. */
const plain = (v: object): boolean => {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null || Array.isArray(v);
};

class Unusual extends Error {}

/**
 * What `valueDiffs(actual, substitute(expected, carried).value)` gives, in the same order, less
 * the differences whose path `keep` refuses; without copying the expected value or making a path
 * for what is equal (replay compares every message this way).
 */
export function fieldDiffs(actual: unknown, expected: unknown, carried: Map<string, unknown>, keep: (path: string) => boolean): ValueDiff[] {
  const kinds = new Set<string>();
  for (const k of carried.keys()) kinds.add(k[0]!);
  const out: ValueDiff[] = [];
  const parts: (string | number)[] = [];
  const pathOf = (): string => {
    let p = '';
    for (const x of parts) p = typeof x === 'number' ? `${p}[${x}]` : p ? `${p}.${x}` : x;
    return p;
  };
  const found = (kind: ValueDiff['kind'], a: unknown, e: unknown): void => {
    const path = pathOf();
    if (keep(path)) out.push({ path, kind, actual: a, expected: e });
  };
  // the carried value where the recorded one was (substitute's replacement of a leaf)
  const sub = (e: unknown): unknown => {
    if (kinds.size === 0) return e;
    const kind = leafKind(e);
    if (kind === null || !kinds.has(kind)) return e;
    const key = leafKey(e)!;
    return carried.has(key) ? carried.get(key) : e;
  };
  const walk = (a: unknown, e0: unknown): void => {
    const e = sub(e0);
    if (Buffer.isBuffer(a)) {
      if (Buffer.isBuffer(e)) {
        if (!a.equals(e)) found('value', a, e);
        return;
      }
      const exp = typeof e === 'string' ? e.replace(/\s+/g, '').toLowerCase() : e;
      if (a.toString('hex') !== exp) found('value', a, e);
      return;
    }
    if (typeof a === 'bigint' && (typeof e === 'number' || typeof e === 'bigint' || typeof e === 'string')) {
      let same = false;
      try {
        same = a === BigInt(e);
      } catch {
        // not an integer: different
      }
      if (!same) found('value', a, e);
      return;
    }
    if (e && typeof e === 'object' && !Buffer.isBuffer(e) && !plain(e)) throw new Unusual();
    if (Array.isArray(a) && Array.isArray(e)) {
      if (a.length !== e.length) found('length', a.length, e.length);
      const n = Math.min(a.length, e.length);
      for (let i = 0; i < n; i++) {
        parts.push(i);
        walk(a[i], e[i]);
        parts.pop();
      }
      return;
    }
    if (a && e && typeof a === 'object' && typeof e === 'object' && !Array.isArray(a) && !Array.isArray(e) && !Buffer.isBuffer(e)) {
      const ao = a as Record<string, unknown>;
      const eo = e as Record<string, unknown>;
      const visit = (k: string): void => {
        parts.push(k);
        if (eo[k] === undefined) found('extra', ao[k], undefined);
        else if (ao[k] === undefined) found('missing', undefined, valueOf(eo[k]));
        else walk(ao[k], eo[k]);
        parts.pop();
      };
      // valueDiffs' order: the live keys, then the recorded ones the live value lacks
      for (const k of Object.keys(ao)) if (ao[k] !== undefined) visit(k);
      for (const k of Object.keys(eo)) if (eo[k] !== undefined && !(Object.prototype.hasOwnProperty.call(ao, k) && ao[k] !== undefined)) visit(k);
      return;
    }
    if (!(Object.is(a, e) || a === e)) found('value', a, e);
  };
  // a missing value as substitute would have made it
  const valueOf = (e: unknown): unknown => (leafKind(e) !== null ? sub(e) : kinds.size && e && typeof e === 'object' ? substitute(e, carried).value : e);
  try {
    walk(actual, expected);
    return out;
  } catch (e) {
    if (!(e instanceof Unusual)) throw e;
    return valueDiffs(actual, substitute(expected, carried).value).filter((d) => keep(d.path));
  }
}
