/**
 * IR -> a Wireshark dissector in Lua (`gamesniff export-dissector`): the description's framing,
 * dispatch and fields as a Lua plugin for Wireshark and tshark. The fixed part of the dissector
 * (values with JavaScript's semantics, framing, state, layers) is lua-runtime.ts; this file
 * generates the protocol's fields, value strings, decoders and tables.
 *
 * What a dissector cannot follow is said in its tree, never guessed: an item
 * `PROTOCOL.not_decoded` ("not decoded in Lua: <reason>") where gamesniff would decode something
 * Lua cannot (a cipher, msgpack, a WebSocket layer, state changed by a message it could not read,
 * a 64-bit value past 2^53 in an expression...).
 *
 * Why this is safe with hostile files: nothing from a protocol file reaches the Lua source except
 * (a) strings, always emitted by `luaString` as a double-quoted literal in which every byte that is
 * not printable ASCII, and `"` and `\`, is a 3-digit decimal escape (so no quote, newline, `]]` or
 * `--` can end the literal, and the output is ASCII); (b) numbers that went through Number() or
 * BigInt, emitted by `luaNumber` (negative ones in parentheses, so `- -1` never becomes a `--`
 * comment; NaN and infinities as expressions); (c) names checked by `isIdentifier` (letters,
 * digits, _), which appear bare only in comments and are otherwise string literals too; and (d)
 * expressions, which are our own AST printed with every name resolved to a generated variable or
 * a quoted key. Lua identifiers in the output are all generated (HF, T12, s3...).
 */
import type { Expr } from './expr';
import type { Counter, EnumDef, Field, FieldTransform, Framing, LayerArg, Len, MessageDef, ProtocolDef, SourceExpr, TransformUse, TransportDef, Ty } from './ir';
import { fixedSize } from './ir';
import { LUA_DISSECTOR, LUA_VALUES } from './lua-runtime';

export interface LuaOptions {
  /** Wireshark's name for the protocol, the prefix of its fields (default: the description's name, lowercased, `-` as `_`). */
  name?: string;
}

/** A field the dissector registers: `abbrev` after the protocol's name and a dot. */
export interface LuaField {
  abbrev: string;
  /** `head`, `frame`, a message's name, or `` for the dissector's own fields (name, id, error...). */
  section: string;
  /** The field's path in the section, dotted (array elements share their array's path). */
  path: string;
}

export interface LuaDissector {
  source: string;
  /** Wireshark's protocol name (and field prefix); if Wireshark already has one of that name, the dissector calls itself `gs_<name>`. */
  name: string;
  fields: LuaField[];
  /** What the dissector shows as "not decoded in Lua", said once for the description (the CLI prints it). */
  notes: string[];
}

/** A Lua string literal holding exactly the UTF-8 bytes of `s` (or the bytes given): printable ASCII as is, every other byte, `"` and `\` escaped. */
export function luaString(s: string | Uint8Array): string {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  let out = '"';
  for (const c of b) out += c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c ? String.fromCharCode(c) : `\\${String(c).padStart(3, '0')}`;
  return `${out}"`;
}

/** A Lua numeric expression for `n`. */
export function luaNumber(n: number | bigint): string {
  if (typeof n === 'bigint') n = Number(n);
  if (Number.isNaN(n)) return '(0/0)';
  if (n === Infinity) return 'math.huge';
  if (n === -Infinity) return '(-math.huge)';
  const s = String(n);
  if (!/^-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?$/.test(s)) throw new Error(`not a number: ${s}`);
  return n < 0 ? `(${s})` : s;
}

/** Wireshark's protocol name for a description's name: lowercase letters, digits and _, starting with a letter. */
export function wiresharkName(name: string): string {
  const s = name.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return /^[a-z]/.test(s) ? s : `gs_${s}`;
}

/** A name from the description, checked again before it goes into a comment. */
function safe(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not a checked name: ${JSON.stringify(name)}`);
  return name;
}

/** Blocks a generated function may nest (Lua's parser allows 200 levels, expressions included). */
const MAX_BLOCKS = 60;
const MAX_EXPR_DEPTH = 40;
/** Structs, arrays, switches and regions nested in one function before the next level becomes a function of its own (Lua: 200 locals a function). */
const SPLIT_AT = 6;
/** Per-site copies of named types before they are shared (a description whose types nest wide and deep). */
const MAX_SITES = 2000;

function exprDepth(e: Expr): number {
  switch (e.t) {
    case 'num':
    case 'str':
    case 'bool':
    case 'id':
      return 1;
    case 'member':
      return 1 + exprDepth(e.obj);
    case 'index':
      return 1 + Math.max(exprDepth(e.obj), exprDepth(e.idx));
    case 'un':
      return 1 + exprDepth(e.a);
    case 'bin':
      return 1 + Math.max(exprDepth(e.a), exprDepth(e.b));
    case 'cond':
      return 1 + Math.max(exprDepth(e.c), exprDepth(e.a), exprDepth(e.b));
  }
}

/** Where a field's tree items go: the section (a message, the head, the frame header) and the path in it. */
interface Site {
  /** Identity of the section: fields of different sections never share a ProtoField. */
  sid: string;
  /** The section's name as abbrevs and the metadata show it. */
  section: string;
  parts: string[];
}

class Unsupported extends Error {}

/** The registered ProtoFields: one per section, path and kind (reused when all of those match). */
class Fields {
  readonly decl: string[] = [];
  readonly meta: LuaField[] = [];
  private readonly byKey = new Map<string, string>();
  private readonly taken = new Set<string>();

  /** The Lua expression of a ProtoField (`HF[n]`). `args` follow the abbrev and label: base, value string, mask, description. */
  get(site: Site | null, name: string, ctor: string, args: string[], label = name): string {
    const parts = site ? [site.section, ...site.parts] : [name];
    const base = parts.join('.').toLowerCase();
    const key = `${site?.sid ?? ''}|${site ? site.parts.join('.') : name}|${ctor}|${args.join(',')}|${name}`;
    const hit = this.byKey.get(key);
    if (hit) return hit;
    let abbrev = base;
    // the dissector's own fields have their names; a section's field that would take one gets a suffix
    if (site) for (let i = 2; this.taken.has(abbrev); i++) abbrev = `${base}_${i}`;
    this.taken.add(abbrev);
    const ref = `HF[${this.decl.length + 1}]`;
    this.decl.push(`${ref} = ProtoField.${ctor}(PROTO_NAME .. ${luaString(`.${abbrev}`)}, ${luaString(label)}${args.length ? `, ${args.join(', ')}` : ''})`);
    this.meta.push({ abbrev, section: site?.section ?? '', path: site ? site.parts.join('.') : name });
    this.byKey.set(key, ref);
    return ref;
  }

  reserve(abbrev: string): void {
    this.taken.add(abbrev);
  }
}

/** A counter as the runtime's table: { k = "int", size, signed, le } or { k = "varint", zigzag, width }. */
function counterLua(t: Counter): string {
  if (t.k === 'int') return `{ k = "int", size = ${t.size}, signed = ${t.signed}, le = ${t.le} }`;
  return `{ k = "varint", zigzag = ${t.zigzag}, width = ${t.width ?? 0} }`;
}

class LuaGen {
  readonly out: string[] = [];
  readonly fields = new Fields();
  readonly notes = new Set<string>();
  private readonly vs: string[] = [];
  private readonly vsByEnum = new Map<EnumDef, string>();
  private n = 0;
  private ind = 1;
  private blocks = 0;
  scopes: Map<string, string>[] = [];
  tport: TransportDef | null = null;
  /** Functions of named types per site: the stack of those being generated (recursion reuses one). */
  private readonly typeStack: { name: string; fn: string }[] = [];
  private sites = 0;
  private readonly shared = new Map<string, string>();
  readonly typeFns: string[] = [];

  constructor(readonly def: ProtocolDef) {}

  v(prefix = 'v'): string {
    return `${prefix}${this.n++}`;
  }
  emit(line: string): void {
    this.out.push('  '.repeat(this.ind) + line);
  }
  open(line: string): void {
    this.emit(line);
    this.ind++;
    this.blocks++;
  }
  close(line = 'end'): void {
    this.ind--;
    this.blocks--;
    this.emit(line);
  }

  /** The value string table of an enum (VS[n]), made once per enum. */
  valueString(def: EnumDef): string {
    const hit = this.vsByEnum.get(def);
    if (hit) return hit;
    const ref = `VS[${this.vs.length + 1}]`;
    const entries = [...def.byValue.entries()].map(([v, name]) => `[${luaNumber(v)}] = ${luaString(name)}`);
    this.vs.push(`${ref} = { ${entries.join(', ')} }`);
    this.vsByEnum.set(def, ref);
    return ref;
  }
  valueStrings(): string[] {
    return this.vs;
  }

  // ---- expressions ------------------------------------------------------------------------------

  /** Lua for an expression: names resolve to fields decoded so far (innermost first), then head, frame, state. */
  expr(x: SourceExpr, stateOnly = false): string {
    if (exprDepth(x.e) > MAX_EXPR_DEPTH) throw new Unsupported(`an expression nested too deeply for Lua ('${x.src.length > 40 ? `${x.src.slice(0, 40)}...` : x.src}')`);
    return this.luaExpr(x.e, stateOnly);
  }

  private luaExpr(e: Expr, stateOnly: boolean): string {
    const x = (y: Expr): string => this.luaExpr(y, stateOnly);
    switch (e.t) {
      case 'num':
        return luaNumber(e.v);
      case 'str':
        return luaString(e.v);
      case 'bool':
        return e.v ? 'true' : 'false';
      case 'id':
        return this.resolve(e.name, stateOnly);
      case 'member':
        return e.name === 'length' ? `LEN(${x(e.obj)})` : `MEM(${x(e.obj)}, ${luaString(e.name)})`;
      case 'index':
        return `IDX(${x(e.obj)}, ${x(e.idx)})`;
      case 'un':
        return e.op === '-' ? `NEG(${x(e.a)})` : `NOT(${x(e.a)})`;
      case 'cond':
        return `COND(${x(e.c)}, function() return ${x(e.a)} end, function() return ${x(e.b)} end)`;
      case 'bin': {
        const a = x(e.a);
        const b = x(e.b);
        switch (e.op) {
          case '&&':
            return `AND(${a}, function() return ${b} end)`;
          case '||':
            return `OR(${a}, function() return ${b} end)`;
          default: {
            const fn = { '==': 'EQ', '!=': 'NE', '~': 'CONTAINS', '<': 'LT', '<=': 'LE', '>': 'GT', '>=': 'GE', '+': 'ADD', '-': 'SUB', '*': 'MUL', '/': 'DIV', '%': 'MOD', '&': 'BAND', '|': 'BOR', '^': 'BXOR', '<<': 'SHL', '>>': 'SHR' }[e.op];
            if (!fn) throw new Error(`operator ${e.op}`);
            return `${fn}(${a}, ${b})`;
          }
        }
      }
    }
  }

  private resolve(name: string, stateOnly: boolean): string {
    if (!stateOnly) {
      for (let i = this.scopes.length - 1; i >= 0; i--) {
        const v = this.scopes[i]!.get(name);
        if (v) return v;
      }
    }
    if (name === 'head' && this.tport?.head) return 'c.hd';
    if (name === 'frame' && (this.tport?.framing.k === 'header' || this.tport?.websocket)) return 'c.fr';
    if (Object.prototype.hasOwnProperty.call(this.def.state, name)) return `c.st[${luaString(name)}]`;
    // the JavaScript generator accepted the description, so this is a name in a place Lua resolves otherwise
    throw new Unsupported(`the name '${safe(name)}' here`);
  }

  /** An expression, or code that ends the message as not decoded when Lua cannot have it. */
  exprOr(x: SourceExpr, stateOnly = false): string {
    try {
      return this.expr(x, stateOnly);
    } catch (e) {
      if (e instanceof Unsupported) {
        this.notes.add(e.message);
        return `raise_nd(${luaString(e.message)})`;
      }
      throw e;
    }
  }

  // ---- decoding ---------------------------------------------------------------------------------

  check(n: string | number): void {
    this.emit(`if e - p < ${n} then short(c, ${n}, p, e) end`);
  }

  addFn(le: boolean, size: number): string {
    return le && size > 1 ? 'add_le' : 'add';
  }

  /** A length or count into a fresh local; returns its name (or the literal). */
  length(len: Len): string {
    switch (len.k) {
      case 'fixed':
        return luaNumber(len.n);
      case 'expr': {
        const n = this.v('n');
        this.emit(`local ${n} = SIZE(${this.exprOr(len.x)}, c, p)`);
        return n;
      }
      case 'prefix': {
        const n = this.v('n');
        this.emit(`local ${n}; ${n}, p = counter(tvb, p, e, c, ${counterLua(len.t)})`);
        return n;
      }
      case 'eos': {
        const n = this.v('n');
        this.emit(`local ${n} = e - p`);
        return n;
      }
      default:
        throw new Error(`length kind ${len.k} handled by the caller`);
    }
  }

  intCtor(t: { size: number; signed: boolean }): string {
    return `${t.signed ? 'int' : 'uint'}${t.size * 8}`;
  }

  /** Containers (struct, array, switch, region) nested in the function being generated. */
  private nest = 0;

  /** Decode `ty` at p into `out` (a declared local), its tree items under `tree`; `label` is a Lua expression naming subtrees. */
  dec(ty: Ty, out: string, tree: string, site: Site, label: string, doc?: string): void {
    const container = ty.k === 'struct' || ty.k === 'array' || ty.k === 'switch' || ty.k === 'window';
    if (container && this.nest >= SPLIT_AT) {
      this.split(ty, out, tree, site, label, doc);
      return;
    }
    if (container) this.nest++;
    try {
      this.decInner(ty, out, tree, site, label, doc);
    } finally {
      if (container) this.nest--;
    }
  }

  /**
   * A deep container as a top-level function of its own: Lua allows 200 locals and 200 nested
   * levels a function. The enclosing structs it may read (their tables) go with it as S.
   */
  split(ty: Ty, out: string, tree: string, site: Site, label: string, doc?: string): void {
    const bases: string[] = [];
    const remap = (v: string): string =>
      v.replace(/^([a-z]+[0-9]+|S\[[0-9]+\])(?=\[|$)/, (b) => {
        let i = bases.indexOf(b);
        if (i < 0) i = bases.push(b) - 1;
        return `S[${i + 1}]`;
      });
    const scopes = this.scopes.map((m) => new Map([...m].map(([k, v]) => [k, remap(v)])));
    const fn = `TF[${this.typeFns.length + 1}]`;
    this.typeFns.push('');
    const idx = this.typeFns.length - 1;
    const saved = this.save();
    this.ind = 0;
    this.blocks = 0;
    this.nest = 0;
    this.scopes = scopes;
    this.open(`${fn} = function(tvb, tree, c, p, e, label, S) -- ${safe(site.parts[site.parts.length - 1] ?? 'nested')}`);
    this.emit('local out');
    this.dec(ty, 'out', 'tree', site, 'label', doc);
    this.emit('return p, out');
    this.close();
    this.typeFns[idx] = this.out.join('\n');
    this.restore(saved);
    this.emit(`p, ${out} = ${fn}(tvb, ${tree}, c, p, e, ${label}, { ${bases.join(', ')} })`);
  }

  /** Set the output aside to write a function of its own; restore() brings it back. */
  private save(): { out: string[]; ind: number; blocks: LuaGen['blocks']; scopes: LuaGen['scopes']; nest: number } {
    return { out: this.out.splice(0), ind: this.ind, blocks: this.blocks, scopes: this.scopes, nest: this.nest };
  }

  private restore(saved: ReturnType<LuaGen['save']>): void {
    this.out.splice(0, this.out.length, ...saved.out);
    this.ind = saved.ind;
    this.blocks = saved.blocks;
    this.scopes = saved.scopes;
    this.nest = saved.nest;
  }

  decInner(ty: Ty, out: string, tree: string, site: Site, label: string, doc?: string): void {
    const name = site.parts[site.parts.length - 1] ?? site.section;
    const desc = doc ? luaString(doc) : 'nil';
    switch (ty.k) {
      case 'int': {
        this.check(ty.size);
        const hf = this.fields.get(site, name, this.intCtor(ty), ['base.DEC', 'nil', 'nil', desc]);
        if (ty.size === 8) {
          this.emit(`${out} = i64_of(tvb:range(p, 8):${ty.le ? 'le_' : ''}${ty.signed ? 'int64' : 'uint64'}())`);
        } else this.emit(`${out} = ${ty.signed ? 'rdi' : 'rdu'}(tvb, p, ${ty.size}, ${ty.le})`);
        this.emit(`${tree}:${this.addFn(ty.le, ty.size)}(${hf}, R(tvb, p, ${ty.size})); p = p + ${ty.size}`);
        return;
      }
      case 'varint': {
        const q = this.v('q');
        if (ty.width === 64) {
          const x = this.v('x');
          const hf = this.fields.get(site, name, 'int64', ['base.DEC', 'nil', 'nil', desc]);
          this.emit(`local ${x}, ${q} = varint64(tvb, p, e, c)`);
          this.emit(`${out} = i64_of(${x}); ${tree}:add(${hf}, R(tvb, p, ${q} - p), ${x}); p = ${q}`);
          return;
        }
        const fn = ty.width === 32 ? 'varint32' : ty.zigzag ? 'zigzag' : 'varint';
        const ctor = ty.width === 32 ? 'int32' : ty.zigzag ? 'int64' : 'uint64';
        const hf = this.fields.get(site, name, ctor, ['base.DEC', 'nil', 'nil', desc]);
        const wrap = ty.width === 32 ? out : ty.zigzag ? `Int64.new(${out})` : `UInt64.new(${out})`;
        this.emit(`local ${q}; ${out}, ${q} = ${fn}(tvb, p, e, c)`);
        this.emit(`${tree}:add(${hf}, R(tvb, p, ${q} - p), ${wrap}); p = ${q}`);
        return;
      }
      case 'float': {
        this.check(ty.size);
        const hf = this.fields.get(site, name, ty.size === 4 ? 'float' : 'double', ['nil', desc]);
        this.emit(`${out} = tvb:range(p, ${ty.size}):${ty.le ? 'le_' : ''}float()`);
        this.emit(`${tree}:${ty.le ? 'add_le' : 'add'}(${hf}, R(tvb, p, ${ty.size})); p = p + ${ty.size}`);
        return;
      }
      case 'bool': {
        this.check(1);
        const hf = this.fields.get(site, name, 'bool', ['base.NONE', 'nil', 'nil', desc]);
        this.emit(`${out} = rdu(tvb, p, 1) ~= 0; ${tree}:add(${hf}, R(tvb, p, 1), ${out}); p = p + 1`);
        return;
      }
      case 'enum': {
        const vs = this.valueString(ty.def);
        const b = ty.base;
        if (b.k === 'int') {
          this.check(b.size);
          const hf = this.fields.get(site, name, this.intCtor(b), ['base.DEC', vs, 'nil', desc]);
          const r = this.v('r');
          this.emit(`local ${r} = ${b.signed ? 'rdi' : 'rdu'}(tvb, p, ${b.size}, ${b.le})`);
          this.emit(`${out} = ${vs}[${r}] or ${r}; ${tree}:${this.addFn(b.le, b.size)}(${hf}, R(tvb, p, ${b.size})); p = p + ${b.size}`);
          return;
        }
        const q = this.v('q');
        const r = this.v('r');
        if (b.width === 64) {
          // gamesniff looks a bigint up in the enum's numbers: never a member
          const hf = this.fields.get(site, name, 'int64', ['base.DEC', 'nil', 'nil', desc]);
          this.emit(`local ${r}, ${q} = varint64(tvb, p, e, c)`);
          this.emit(`${out} = i64_of(${r}); ${tree}:add(${hf}, R(tvb, p, ${q} - p), ${r}); p = ${q}`);
          return;
        }
        const signed = b.zigzag || b.width === 32;
        const fn = b.width === 32 ? 'varint32' : b.zigzag ? 'zigzag' : 'varint';
        const hf = this.fields.get(site, name, signed ? 'int32' : 'uint32', ['base.DEC', vs, 'nil', desc]);
        const wide = this.fields.get(site, name, signed ? 'int64' : 'uint64', ['base.DEC', 'nil', 'nil', desc]);
        this.emit(`local ${r}, ${q} = ${fn}(tvb, p, e, c)`);
        this.emit(`${out} = ${vs}[${r}] or ${r}`);
        const fits = signed ? `${r} >= -TWO31 and ${r} < TWO31` : `${r} < TWO32`;
        this.emit(`if ${fits} then ${tree}:add(${hf}, R(tvb, p, ${q} - p), ${r}) else ${tree}:add(${wide}, R(tvb, p, ${q} - p), ${signed ? 'Int64' : 'UInt64'}.new(${r})) end`);
        this.emit(`p = ${q}`);
        return;
      }
      case 'flags': {
        const b = ty.base;
        this.check(b.size);
        const bits = b.size * 8;
        const hf = this.fields.get(site, name, `uint${bits}`, ['base.HEX', 'nil', 'nil', desc]);
        const r = this.v('r');
        const ft = this.v('t');
        const all = ty.names.reduce((m, [, mask]) => (m | mask) >>> 0, 0) >>> 0;
        this.emit(`local ${r} = u32(${b.signed ? 'rdi' : 'rdu'}(tvb, p, ${b.size}, ${b.le}))`);
        this.emit(`local ${ft} = ${tree}:${this.addFn(b.le, b.size)}(${hf}, R(tvb, p, ${b.size}))`);
        this.emit(`${out} = new_struct()`);
        for (const [flag, mask] of ty.names) {
          const fhf = this.fields.get({ ...site, parts: [...site.parts, flag] }, flag, 'bool', [String(bits), 'nil', luaNumber(mask), 'nil']);
          this.emit(`${out}[${luaString(flag)}] = B.band(${r}, ${luaNumber(mask)}) ~= 0; ${ft}:${this.addFn(b.le, b.size)}(${fhf}, R(tvb, p, ${b.size}))`);
        }
        const ohf = this.fields.get({ ...site, parts: [...site.parts, '_other'] }, '_other', 'uint32', ['base.HEX', 'nil', 'nil', 'nil']);
        this.emit(`if B.band(${r}, ${luaNumber((~all >>> 0) >>> 0)}) ~= 0 then ${out}["_other"] = B.band(${r}, ${luaNumber((~all >>> 0) >>> 0)}); ${ft}:add(${ohf}, R(tvb, p, ${b.size}), ${out}["_other"]) end`);
        this.emit(`p = p + ${b.size}`);
        return;
      }
      case 'bits':
        this.bits(ty, out, tree, site, name, desc);
        return;
      case 'const': {
        const b = ty.base;
        const start = this.v('o');
        this.emit(`local ${start} = p`);
        this.dec(b, out, tree, site, label, doc);
        const lit = luaNumber(ty.value);
        const shown = typeof ty.value === 'bigint' ? `${ty.value}n` : String(ty.value);
        this.emit(`if unwrap(${out}) ~= ${lit} then fail(c, ${luaString(`expected the constant ${shown}, found `)} .. SHOW(${out}), ${start}) end`);
        return;
      }
      case 'magic': {
        const n = ty.bytes.length;
        this.check(n);
        const msg = `expected the magic ${JSON.stringify(ty.bytes.toString('latin1'))} (${ty.bytes.toString('hex')}), found `;
        this.emit(`if raw(tvb, p, ${n}) ~= ${luaString(ty.bytes)} then fail(c, ${luaString(msg)} .. hex(raw(tvb, p, ${n})), p) end`);
        this.emit(`${tree}:add(R(tvb, p, ${n}), ${label} .. ${luaString(`: ${ty.bytes.toString('hex')} (magic)`)}); p = p + ${n}`);
        return;
      }
      case 'pad':
        this.check(ty.n);
        this.emit(`${tree}:add(R(tvb, p, ${ty.n}), ${label} .. ${luaString(`: ${ty.n} byte${ty.n === 1 ? '' : 's'} of padding`)}); p = p + ${ty.n}`);
        return;
      case 'str':
      case 'bytes':
      case 'msgpack':
        this.sized(ty, out, tree, site, name, desc);
        return;
      case 'array':
        this.array(ty, out, tree, site, label);
        return;
      case 'struct': {
        const st = this.v('t');
        const s0 = this.v('o');
        this.emit(`local ${s0} = p; local ${st} = ${tree}:add(R(tvb, p, 0), ${label})`);
        this.struct(ty.fields, out, st, site);
        this.emit(`${st}:set_len(p - ${s0})`);
        return;
      }
      case 'ref':
        this.ref(ty.name, out, tree, site, label, doc);
        return;
      case 'switch': {
        const k = this.v('k');
        const s = this.v('o');
        this.emit(`local ${k}, ${s} = ${this.exprOr(ty.on)}, p`);
        ty.cases.forEach((cs, i) => {
          if (i === 0) this.open(`if EQ(${k}, ${this.literal(cs.key)}) then`);
          else {
            this.ind--;
            this.emit(`elseif EQ(${k}, ${this.literal(cs.key)}) then`);
            this.ind++;
          }
          this.dec(cs.ty, out, tree, site, label, doc);
        });
        if (ty.cases.length) {
          this.ind--;
          this.emit('else');
          this.ind++;
        } else this.open('do');
        if (ty.dflt) this.dec(ty.dflt, out, tree, site, label, doc);
        else this.emit(`fail(c, "no case for " .. SHOW(${k}), ${s})`);
        this.close();
        return;
      }
      case 'window':
        this.window(ty, out, tree, site, label, doc);
        return;
    }
  }

  literal(v: number | string | boolean): string {
    return typeof v === 'number' ? luaNumber(v) : typeof v === 'string' ? luaString(v) : String(v);
  }

  bits(ty: Ty & { k: 'bits' }, out: string, tree: string, site: Site, name: string, desc: string): void {
    const b = ty.base;
    const size = b.size;
    const bits = size * 8;
    this.check(size);
    const add = this.addFn(b.le, size);
    const bt = this.v('t');
    let shift = ty.lsbFirst ? 0 : bits;
    if (size === 8) {
      const x = this.v('x');
      const hf = this.fields.get(site, name, 'uint64', ['base.HEX', 'nil', 'nil', desc]);
      this.emit(`local ${x} = tvb:range(p, 8):${b.le ? 'le_' : ''}uint64()`);
      this.emit(`local ${bt} = ${tree}:${add}(${hf}, R(tvb, p, 8))`);
      this.emit(`${out} = new_struct()`);
      for (const [part, width, signed] of ty.parts) {
        if (!ty.lsbFirst) shift -= width;
        const mask = (1n << BigInt(width)) - 1n;
        const lo = luaNumber(Number(mask & 0xffffffffn));
        const hi = luaNumber(Number(mask >> 32n));
        const u = this.v('u');
        const phf = this.fields.get({ ...site, parts: [...site.parts, part] }, part, signed ? 'int64' : 'uint64', ['base.DEC', 'nil', 'nil', 'nil']);
        this.emit(`local ${u} = ${x}:rshift(${shift}):band(UInt64.new(${lo}, ${hi}))`);
        if (width <= 53) {
          const n = this.v('n');
          this.emit(`local ${n} = ${u}:tonumber()`);
          if (signed) this.emit(`if ${n} >= ${luaNumber(2 ** (width - 1))} then ${n} = ${n} - ${luaNumber(2 ** width)} end`);
          this.emit(`${out}[${luaString(part)}] = ${n}; ${bt}:add(${phf}, R(tvb, p, 8), ${signed ? 'Int64' : 'UInt64'}.new(${n}))`);
        } else if (signed) {
          // sign-extend from `width` bits: the bits above it set when its top bit is
          const fill = ~mask & 0xffffffffffffffffn;
          this.emit(`if ${u}:rshift(${width - 1}):band(UInt64.new(1)) == UInt64.new(1) then ${u} = ${u}:bor(UInt64.new(${luaNumber(Number(fill & 0xffffffffn))}, ${luaNumber(Number(fill >> 32n))})) end`);
          const s = this.v('s');
          this.emit(`local ${s} = Int64.new(${u}:lower(), ${u}:higher())`);
          this.emit(`${out}[${luaString(part)}] = i64_of(${s}); ${bt}:add(${phf}, R(tvb, p, 8), ${s})`);
        } else {
          this.emit(`${out}[${luaString(part)}] = i64_of(${u}); ${bt}:add(${phf}, R(tvb, p, 8), ${u})`);
        }
        if (ty.lsbFirst) shift += width;
      }
      this.emit('p = p + 8');
      return;
    }
    const hf = this.fields.get(site, name, `uint${bits}`, ['base.HEX', 'nil', 'nil', desc]);
    const r = this.v('r');
    this.emit(`local ${r} = rdu(tvb, p, ${size}, ${b.le})`);
    this.emit(`local ${bt} = ${tree}:${add}(${hf}, R(tvb, p, ${size}))`);
    this.emit(`${out} = new_struct()`);
    for (const [part, width, signed] of ty.parts) {
      if (!ty.lsbFirst) shift -= width;
      const mask = luaNumber(Number(((1n << BigInt(width)) - 1n) << BigInt(shift)));
      const phf = this.fields.get({ ...site, parts: [...site.parts, part] }, part, `${signed ? 'int' : 'uint'}${bits}`, ['base.DEC', 'nil', mask, 'nil']);
      const n = this.v('n');
      this.emit(`local ${n} = floor(${r} / ${luaNumber(2 ** shift)}) % ${luaNumber(2 ** width)}`);
      if (signed) this.emit(`if ${n} >= ${luaNumber(2 ** (width - 1))} then ${n} = ${n} - ${luaNumber(2 ** width)} end`);
      this.emit(`${out}[${luaString(part)}] = ${n}; ${bt}:${add}(${phf}, R(tvb, p, ${size}))`);
      if (ty.lsbFirst) shift += width;
    }
    this.emit(`p = p + ${size}`);
  }

  sized(ty: Ty & { k: 'str' | 'bytes' | 'msgpack' }, out: string, tree: string, site: Site, name: string, desc: string): void {
    const start = this.v('o');
    const n = this.v('n');
    let cover: string;
    if (ty.len.k === 'term') {
      this.emit(`local ${start} = p`);
      const i = this.v('i');
      const t = ty.len.bytes;
      this.emit(`local ${i} = term(tvb, p, e, ${luaString(t)}, c, ${luaString(JSON.stringify(t.toString('latin1')))})`);
      this.emit(`local ${n} = ${i} - p`);
      cover = `${n} + ${t.length}`;
    } else {
      const len = this.length(ty.len);
      if (ty.len.k !== 'eos') this.check(len);
      this.emit(`local ${n}, ${start} = ${len}, p`);
      cover = n;
    }
    // the item covers the data (and a terminator), not a length prefix
    if (ty.k === 'str') {
      const z = ty.len.k === 'term' && ty.len.bytes.length === 1 && ty.len.bytes[0] === 0;
      const hf = this.fields.get(site, name, z ? 'stringz' : 'string', ['base.NONE', desc]);
      this.emit(`${out} = text(raw(tvb, p, ${n}), ${luaString(ty.enc)}, ${ty.padded})`);
      this.emit(`${tree}:add(${hf}, R(tvb, p, ${z ? cover : n}), shown(${out}))`);
    } else if (ty.k === 'bytes') {
      const hf = this.fields.get(site, name, 'bytes', ['base.NONE', desc]);
      this.emit(`${out} = bytes_value(raw(tvb, p, ${n})); ${tree}:add(${hf}, R(tvb, p, ${n}))`);
    } else {
      const hf = this.fields.get(site, name, 'bytes', ['base.NONE', desc]);
      const why = 'msgpack (Lua does not decode it)';
      this.notes.add(`msgpack fields: shown as bytes with "not decoded in Lua: ${why}"`);
      this.emit(`${out} = nd_value(${luaString(why)}); ${tree}:add(${hf}, R(tvb, p, ${n})); not_decoded_item(${tree}, R(tvb, p, ${n}), ${luaString(why)})`);
    }
    this.emit(`p = ${start} + ${cover}`);
  }

  array(ty: Ty & { k: 'array' }, out: string, tree: string, site: Site, label: string): void {
    const a = this.v('a');
    const at = this.v('t');
    const a0 = this.v('o');
    this.emit(`local ${a} = new_array(); local ${a0} = p; local ${at} = ${tree}:add(R(tvb, p, 0), ${label})`);
    const elemLabel = (i: string) => `${label} .. "[" .. ${i} .. "]"`;
    const elem = (x: string, tr: string, i: string): void => {
      this.emit(`c.n = c.n + 1; if c.n > MAXN then fail(c, "more than " .. MAXN .. " array elements in one message (the decode budget)", p) end`);
      this.emit(`c.path[#c.path + 1] = ${i}`);
      this.dec(ty.of, x, tr, site, elemLabel(i));
      this.emit('c.path[#c.path] = nil');
    };
    const len = ty.len;
    if (len.k === 'sentinel' || len.k === 'cond') {
      // the ending element is decoded for its value alone first: consumed, it leaves no item
      const el = this.v('el');
      const i = this.v('i');
      const x = this.v('x');
      const f = this.v('f');
      const cn = this.v('cn');
      this.emit(`local ${i} = 0`);
      this.open(`local function ${el}(tr)`);
      this.emit(`local ${x}`);
      elem(x, 'tr', i);
      this.emit(`return ${x}`);
      this.close();
      this.open('while true do');
      this.emit(`local ${f}, ${cn} = p, c.n`);
      this.emit(`local ${x} = ${el}(NT)`);
      let ends: string;
      if (len.k === 'sentinel') ends = `EQ(${x}, ${this.literal(len.value)})`;
      else {
        this.scopes.push(new Map([['item', x]]));
        ends = `truthy(${this.exprOr(len.x)})`;
        this.scopes.pop();
      }
      const keep = len.k === 'cond' && len.keep;
      this.open(`if ${ends} then`);
      if (keep) this.emit(`p, c.n = ${f}, ${cn}; push(${a}, ${el}(${at}))`);
      else this.emit(`${at}:add(R(tvb, ${f}, p - ${f}), ${luaString(len.k === 'sentinel' ? 'end of the list' : 'the element that ends the list')})`);
      this.emit('break');
      this.close();
      this.emit(`if p == ${f} then fail(c, "an element took no bytes: an array ended by the data would never end here", p) end`);
      this.emit(`p, c.n = ${f}, ${cn}; push(${a}, ${el}(${at})); ${i} = ${i} + 1`);
      this.close();
    } else if (len.k === 'eos') {
      const i = this.v('i');
      const x = this.v('x');
      const f = this.v('f');
      this.emit(`local ${i} = 0`);
      this.open('while p < e do');
      this.emit(`local ${f}, ${x} = p, nil`);
      elem(x, at, i);
      this.emit(`if p == ${f} then fail(c, "an element took no bytes: an array ended by the data would never end here", p) end`);
      this.emit(`push(${a}, ${x}); ${i} = ${i} + 1`);
      this.close();
    } else {
      const n = this.length(len);
      const size = fixedSize(ty.of);
      if (size > 0) this.check(size === 1 ? n : `${n} * ${size}`);
      else this.emit(`if ${n} > e - p then fail(c, "count " .. ${n} .. " exceeds the " .. (e - p) .. " bytes left", p) end`);
      const i = this.v('i');
      const x = this.v('x');
      this.open(`for ${i} = 0, ${n} - 1 do`);
      this.emit(`local ${x}`);
      elem(x, at, i);
      this.emit(`push(${a}, ${x})`);
      this.close();
    }
    this.emit(`${at}:set_len(p - ${a0}); ${at}:append_text(" (" .. ${a}.n .. ")"); ${out} = ${a}`);
  }


  /** Fields in order, each in its own block; `out` gets a STRUCT of their values; `after` runs in their scope. */
  struct(fields: Field[], out: string, tree: string, site: Site, after?: () => void): void {
    const s = this.v('s');
    this.emit(`local ${s} = new_struct()`);
    const scope = new Map<string, string>();
    this.scopes.push(scope);
    for (const f of fields) {
      const fsite = { ...site, parts: [...site.parts, f.name] };
      this.open(`do -- ${safe(f.name)}`);
      if (this.blocks > MAX_BLOCKS) {
        const why = 'a description nested too deeply for Lua';
        this.notes.add(why);
        this.emit(`raise_nd(${luaString(why)})`);
      } else {
        this.emit(`c.path[#c.path + 1] = ${luaString(f.name)}`);
        const v = this.v();
        this.emit(`local ${v}`);
        if (f.cond) this.open(`if truthy(${this.exprOr(f.cond)}) then`);
        this.dec(f.ty, v, tree, fsite, luaString(f.name), f.doc);
        if (f.cond) this.close();
        if (!f.hidden) this.emit(`${s}[${luaString(f.name)}] = ${v}`);
        this.emit('c.path[#c.path] = nil');
      }
      this.close();
      scope.set(f.name, `${s}[${luaString(f.name)}]`);
    }
    after?.();
    this.scopes.pop();
    this.emit(`${out} = ${s}`);
  }

  /** A named type at a site: a function per site (its fields' abbrevs follow the site), shared once there are too many. */
  ref(name: string, out: string, tree: string, site: Site, label: string, doc?: string): void {
    const t = this.def.types.get(name)!;
    const rec = this.typeStack.find((s) => s.name === name);
    let fn: string;
    if (rec) fn = rec.fn;
    else if (this.sites >= MAX_SITES) {
      fn = this.shared.get(name) ?? this.typeFunction(name, t.ty, { sid: `type:${name}`, section: `type.${name}`, parts: [] }, doc, true);
    } else {
      this.sites++;
      fn = this.typeFunction(name, t.ty, site, doc, false);
    }
    this.emit(`c.depth = c.depth + 1; if c.depth > MAXDEPTH then fail(c, "types nested more than " .. MAXDEPTH .. " deep (the decode budget)", p) end`);
    this.emit(`p, ${out} = ${fn}(tvb, ${tree}, c, p, e, ${label}); c.depth = c.depth - 1`);
  }

  typeFunction(name: string, ty: Ty, site: Site, doc: string | undefined, shared: boolean): string {
    const fn = `TF[${this.typeFns.length + 1}]`;
    this.typeFns.push('');
    if (shared) this.shared.set(name, fn);
    const idx = this.typeFns.length - 1;
    // generated on its own, then put in place: a function's text is never inside another's
    const saved = this.save();
    this.ind = 0;
    this.blocks = 0;
    this.nest = 0;
    this.scopes = [];
    this.typeStack.push({ name, fn });
    this.open(`${fn} = function(tvb, tree, c, p, e, label) -- type ${safe(name)}`);
    this.emit('local out');
    this.dec(ty, 'out', 'tree', site, 'label', doc);
    this.emit('return p, out');
    this.close();
    this.typeStack.pop();
    this.typeFns[idx] = this.out.join('\n');
    this.restore(saved);
    return fn;
  }

  window(ty: Ty & { k: 'window' }, out: string, tree: string, site: Site, label: string, doc?: string): void {
    const n = this.length(ty.len);
    this.check(n);
    if (ty.steps.length === 0) {
      this.open('do');
      this.emit(`local e = p + ${n}`);
      this.dec(ty.inner, out, tree, site, label, doc);
      this.emit('if p ~= e then fail(c, (e - p) .. " bytes left at the end of a sized region", p) end');
      this.close();
      return;
    }
    const steps = ty.steps.map((st) => this.step(st)).join(', ');
    const w = this.v('w');
    const ok = this.v('ok');
    this.emit(`local ${ok}, ${w} = pcall(unprocess, tvb, p, ${n}, { ${steps} }, c)`);
    this.open(`if not ${ok} then`);
    // Lua cannot undo it (a cipher): the field is its bytes, its value unknown to what follows
    this.emit(`if not (is(${w}, Failure) and ${w}.kind == "nd") then error(${w}, 0) end`);
    const hf = this.fields.get(site, site.parts[site.parts.length - 1] ?? site.section, 'bytes', ['base.NONE', doc ? luaString(doc) : 'nil']);
    this.emit(`${tree}:add(${hf}, R(tvb, p, ${n})); not_decoded_item(${tree}, R(tvb, p, ${n}), ${w}.msg); ${out} = nd_value(${w}.msg); p = p + ${n}`);
    this.ind--;
    this.emit('else');
    this.ind++;
    this.emit(`p = p + ${n}`);
    this.open('do');
    this.emit(`local tvb, p, e = ${w}, 0, ${w}:len()`);
    this.dec(ty.inner, out, tree, site, label, doc);
    this.emit('if p ~= e then fail(c, (e - p) .. " bytes left at the end of a transformed region", p) end');
    this.close();
    this.close();
    for (const st of ty.steps) if (st.name !== 'xor' && st.name !== 'zlib' && st.name !== 'deflate') this.notes.add(`${st.name} on a field: the field's bytes with "not decoded in Lua"`);
  }

  step(st: FieldTransform): string {
    const parts = [`name = ${luaString(st.name)}`];
    const key = st.args.key;
    if (st.name === 'xor' && key) parts.push(`key = ${'lit' in key ? `bytes_value(${luaString(this.argBytes(key.lit))})` : this.exprOr(key.x)}`);
    return `{ ${parts.join(', ')} }`;
  }

  argBytes(v: unknown): Buffer {
    if (Buffer.isBuffer(v)) return v;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255) return Buffer.from([v]);
    if (typeof v === 'string') return Buffer.from(v, 'utf8');
    throw new Unsupported('a transform key that is not bytes');
  }

  /** A function decoding fields (a message, a head, a frame header): (tvb, tree, c, p, e) -> p, struct. */
  fieldsFunction(fn: string, comment: string, fields: Field[], site: Site, sets: MessageDef['set'] = [], returnsStruct = true): string {
    this.out.splice(0);
    this.ind = 0;
    this.blocks = 0;
    this.nest = 0;
    this.scopes = [];
    this.open(`${fn} = function(tvb, tree, c, p, e) -- ${comment}`);
    this.emit('local out');
    this.struct(fields, 'out', 'tree', site, () => {
      for (const s of sets) this.emit(`c.st[${luaString(s.name)}] = ${this.exprOr(s.x)}`);
    });
    this.emit(returnsStruct ? 'return p, out' : 'return p');
    this.close();
    return this.out.splice(0).join('\n');
  }
}

const TRANSFORM_WHY: Record<string, string> = {
  rc4: 'an RC4 cipher',
  'aes-128-cfb8': 'an AES-128-CFB8 cipher',
  'aes-ctr': 'an AES-CTR cipher',
  'aes-cbc': 'an AES-CBC cipher',
  zlib: 'one zlib stream across frames',
  deflate: 'one deflate stream across frames',
  xor: 'an xor that runs on across segments',
  'deflate-sync': 'deflate whose window runs on across frames (permessage-deflate)',
};

/** The Lua dissector for a protocol description. */
export function generateLua(def: ProtocolDef, opts: LuaOptions = {}): LuaDissector {
  const name = opts.name ?? wiresharkName(def.name);
  if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`a Wireshark protocol name is lowercase letters, digits and _, starting with a letter: ${JSON.stringify(name)}`);
  const g = new LuaGen(def);
  const F = g.fields;
  for (const a of ['name', 'dir', 'id', 'length', 'uncompressed_length', 'compressed', 'not_decoded', 'error', 'trailing', 'raw', 'expert']) F.reserve(a);
  const meta = {
    name: F.get(null, 'name', 'string', ['base.NONE', luaString(`the message, as gamesniff decode names it${def.description ? `; ${def.name}: ${def.description}` : ''}`)], 'Message'),
    dir: F.get(null, 'dir', 'string', ['base.NONE', luaString('c2s: client to server, s2c: server to client')], 'Direction'),
    id: F.get(null, 'id', 'int64', ['base.DEC', 'nil', 'nil', luaString('the message id')], 'Message id'),
    length: F.get(null, 'length', 'int64', ['base.DEC', 'nil', 'nil', luaString('the frame length field')], 'Frame length'),
    ulen: F.get(null, 'uncompressed_length', 'int64', ['base.DEC', 'nil', 'nil', luaString('the uncompressed size before compressed data (0: not compressed)')], 'Uncompressed length'),
    compressed: F.get(null, 'compressed', 'bool', ['base.NONE', 'nil', 'nil', luaString('the frame was compressed')], 'Compressed'),
    nd: F.get(null, 'not_decoded', 'string', ['base.NONE', luaString('what the Lua dissector cannot decode (gamesniff decode can), and why')], 'not decoded in Lua'),
    error: F.get(null, 'error', 'string', ['base.NONE', luaString('why the message does not decode')], 'Decode error'),
    trailing: F.get(null, 'trailing', 'uint32', ['base.DEC', 'nil', 'nil', luaString('bytes after the last field')], 'Bytes after the last field'),
    raw: F.get(null, 'raw', 'bytes', ['base.NONE', luaString('the bytes not decoded')], 'Undecoded bytes'),
  };

  // labels: `c2s.chat` for a name used both ways, as gamesniff shows it
  const count = new Map<string, number>();
  for (const t of [def.tcp, def.udp]) for (const m of t?.messages ?? []) count.set(m.name, (count.get(m.name) ?? 0) + 1);
  // who may set each variable, per direction: the literals they write, or false for any value
  const setters: Record<'c2s' | 's2c', Map<string, unknown[] | false>> = { c2s: new Map(), s2c: new Map() };
  const setterLua = (sets: MessageDef['set']): string => {
    const m = new Map<string, unknown[] | false>();
    for (const s of sets) addSetter(m, s);
    return settersLua(m);
  };
  const decoders: string[] = [];
  const transports: string[] = [];
  let msgIndex = 0;
  const mref: string[] = [];

  for (const t of [def.tcp, def.udp]) {
    if (!t) continue;
    g.tport = t;
    const T = t.kind.toUpperCase();
    const lines: string[] = [];
    let nd: string | null = null;
    if (t.websocket) nd = 'a WebSocket transport (the HTTP upgrade, masked frames, fragments and permessage-deflate)';
    else if (t.msgpack) nd = 'messages that are msgpack maps named by a key';
    if (nd) g.notes.add(`${t.kind}: ${nd}: every ${t.kind === 'tcp' ? 'segment' : 'datagram'} shows "not decoded in Lua"`);

    // layer expressions (over the state and the frame header)
    const lx = (i: number): string => {
      const x = t.exprs[i]!;
      return `function(c) return ${g.exprOr(x, true)} end`;
    };
    lines.push(`${T} = { kind = ${luaString(t.kind)}, ports = { ${t.ports.map(luaNumber).join(', ')} }, portset = { ${t.ports.map((p) => `[${luaNumber(p)}] = true`).join(', ')} } }`);
    if (nd) lines.push(`${T}.nd = ${luaString(nd)}`);
    lines.push(`${T}.framing = ${framingLua(g, t, t.framing, decoders)}`);
    if (t.framings) {
      // framing chosen by state: the header choice (if any) is t.framing, generated once
      const choice = (c: { when?: number; framing: Framing }): string => {
        const f = c.framing === t.framing ? `${T}.framing` : framingLua(g, t, c.framing, decoders);
        return c.when === undefined ? f : `with_when(${f}, ${lx(c.when)})`;
      };
      lines.push(`${T}.choices = { ${t.framings.map(choice).join(', ')} }`);
    }
    lines.push(`${T}.stream = { ${t.stream.map((u) => streamLua(g, t, u, lx)).join(', ')} }`);
    lines.push(`${T}.frame = { ${t.frame.map((u) => frameLua(g, t, u, lx)).join(', ')} }`);
    if (t.inner) {
      lines.push(`${T}.inner = ${luaString('messages framed inside frames (inner:)')}`);
      g.notes.add(`${t.kind}: inner framing: each outer frame shows "not decoded in Lua"`);
    }
    if (t.head && !nd) {
      decoders.push(g.fieldsFunction(`HEAD.${t.kind}`, `${t.kind} head`, t.head, { sid: 'head', section: 'head', parts: [] }));
      lines.push(`${T}.head = HEAD.${t.kind}`);
    }
    if (t.id) lines.push(`${T}.id = ${counterLua(t.id)}`);
    if (t.idExpr) {
      g.scopes = [new Map(t.head!.map((f) => [f.name, `c.hd[${luaString(f.name)}]`]))];
      lines.push(`${T}.idx = function(c) return ${g.exprOr(t.idExpr)} end`);
      g.scopes = [];
    }
    const by: Record<'c2s' | 's2c', Map<number, number[]>> = { c2s: new Map(), s2c: new Map() };
    for (const m of t.messages) {
      const i = ++msgIndex;
      for (const s of m.set) for (const d of m.dir ? [m.dir] : (['c2s', 's2c'] as const)) addSetter(setters[d], s);
      if (!nd) {
        const label = (count.get(m.name) ?? 0) > 1 && m.dir ? `${m.dir}.${m.name}` : m.name;
        decoders.push(g.fieldsFunction(`MSG[${i}]`, `message ${safe(m.name)}${m.dir ? ` (${m.dir})` : ''}`, m.fields, { sid: `m:${m.name}`, section: m.name, parts: [] }, m.set, false));
        const when = m.when ? `function(c) return ${g.exprOr(m.when, true)} end` : 'nil';
        mref.push(`MREF[${i}] = { name = ${luaString(m.name)}, label = ${luaString(label)}, when = ${when}, decode = MSG[${i}], setters = ${setterLua(m.set)} }`);
      }
      for (const dir of ['c2s', 's2c'] as const) {
        if (m.dir && m.dir !== dir) continue;
        for (const key of m.ids ?? [m.id ?? -1]) {
          const list = by[dir].get(key) ?? [];
          list.push(i);
          by[dir].set(key, list);
        }
      }
    }
    if (!nd) {
      const table = (d: 'c2s' | 's2c') => `{ ${[...by[d].entries()].map(([id, list]) => `[${luaNumber(id)}] = { ${list.map((i) => `MREF[${i}]`).join(', ')} }`).join(', ')} }`;
      lines.push(`${T}.by = { c2s = ${table('c2s')}, s2c = ${table('s2c')} }`);
    }
    transports.push(lines.join('\n'));
  }
  g.tport = null;

  const stateInit = Object.entries(def.state).map(([k, v]) => `[${luaString(k)}] = ${typeof v === 'number' ? luaNumber(v) : typeof v === 'string' ? luaString(v) : String(v)}`);
  const src: string[] = [
    `-- A Wireshark dissector generated by gamesniff export-dissector from the protocol description`,
    '-- (see PROTO_TITLE below): generate it again after changing the description.',
    '-- Load it with: tshark -X lua_script:THIS_FILE ...  (or put it in Wireshark\'s plugins folder)',
    '-- Fields: PROTOCOL.name (the message), PROTOCOL.<message>.<field path>, PROTOCOL.head.*, PROTOCOL.frame.*,',
    '-- PROTOCOL.not_decoded (what Lua cannot decode, with why), PROTOCOL.error (a message that does not decode).',
    LUA_VALUES,
    '-- ---- the protocol ------------------------------------------------------------------------------',
    `local PROTO_NAME = ${luaString(name)}`,
    `local PROTO_TITLE = ${luaString(`${def.name} (gamesniff)`)}`,
    'local ok_proto, proto = pcall(Proto.new, PROTO_NAME, PROTO_TITLE)',
    'if not ok_proto then',
    '  -- Wireshark has a protocol of that name (modbus, echo...): this one is gs_<name>',
    '  PROTO_NAME = "gs_" .. PROTO_NAME',
    '  proto = Proto.new(PROTO_NAME, PROTO_TITLE .. " as " .. PROTO_NAME)',
    'end',
    'local HF, VS, TF, MSG, MREF, HEAD, FH = {}, {}, {}, {}, {}, {}, {}',
    'local TCP, UDP',
    ...g.valueStrings(),
  ];
  // decoders reference HF entries created while generating them: fields first, then the code
  const body = [
    '-- ---- decoders ----------------------------------------------------------------------------------',
    'local not_decoded_item',
    ...g.typeFns,
    ...decoders,
    ...mref,
    '-- ---- transports --------------------------------------------------------------------------------',
    ...transports,
    `local INIT_STATE = { ${stateInit.join(', ')} }`,
    `local SETTERS = { c2s = ${settersLua(setters.c2s)}, s2c = ${settersLua(setters.s2c)} }`,
  ];
  src.push(
    ...F.decl,
    `local HF_NAME, HF_DIR, HF_ID, HF_LENGTH, HF_ULEN, HF_COMPRESSED, HF_ND, HF_ERROR, HF_TRAILING, HF_RAW = ${[meta.name, meta.dir, meta.id, meta.length, meta.ulen, meta.compressed, meta.nd, meta.error, meta.trailing, meta.raw].join(', ')}`,
    'local EX_ND = ProtoExpert.new(PROTO_NAME .. ".expert.not_decoded", "not decoded in Lua", expert.group.UNDECODED, expert.severity.NOTE)',
    'local EX_ERROR = ProtoExpert.new(PROTO_NAME .. ".expert.error", "message does not decode", expert.group.MALFORMED, expert.severity.ERROR)',
    'proto.fields = HF',
    'proto.experts = { EX_ND, EX_ERROR }',
    ...body,
    'not_decoded_item = function(tree, range, why) tree:add(HF_ND, range, why); tree:add_proto_expert_info(EX_ND, "not decoded in Lua: " .. why) end',
    LUA_DISSECTOR,
  );
  const source = src.join('\n') + '\n';
  return { source, name, fields: F.meta, notes: [...g.notes] };
}

/** A message's `set:` of a variable: the literal it writes, or any value. */
function addSetter(m: Map<string, unknown[] | false>, s: MessageDef['set'][number]): void {
  const e = s.x.e;
  const lit = e.t === 'num' || e.t === 'str' || e.t === 'bool' ? e.v : undefined;
  const cur = m.get(s.name);
  if (lit === undefined || cur === false) m.set(s.name, false);
  else m.set(s.name, [...(cur ?? []), lit]);
}

function settersLua(m: Map<string, unknown[] | false>): string {
  const lit = (v: unknown): string => (typeof v === 'number' ? luaNumber(v) : typeof v === 'string' ? luaString(v) : String(v === true));
  return `{ ${[...m].map(([k, v]) => `[${luaString(k)}] = ${v === false ? 'false' : `{ ${v.map(lit).join(', ')} }`}`).join(', ')} }`;
}

function framingLua(g: LuaGen, t: TransportDef, f: Framing, decoders: string[]): string {
  switch (f.k) {
    case 'length':
      return `{ k = "length", t = ${counterLua(f.t)}, includes = ${f.includesLength}, adjust = ${luaNumber(f.adjust)}, max = ${luaNumber(f.max)}, offset = ${luaNumber(f.offset)}, min = ${luaNumber(f.offset + (f.t.k === 'int' ? f.t.size : 1))} }`;
    case 'header': {
      decoders.push(g.fieldsFunction(`FH.${t.kind}`, `${t.kind} frame header`, f.fields, { sid: 'frame', section: 'frame', parts: [] }));
      g.scopes = [new Map(f.fields.map((x) => [x.name, `c.fr[${luaString(x.name)}]`]))];
      const len = `function(c) return ${g.exprOr(f.length)} end`;
      g.scopes = [];
      return `{ k = "header", decode = FH.${t.kind}, len = ${len}, strip = ${f.strip}, max = ${luaNumber(f.max)}, min = 1 }`;
    }
    case 'delimiter':
      return `{ k = "delimiter", bytes = ${luaString(f.bytes)}, max = ${luaNumber(f.max)} }`;
    case 'fixed':
      return `{ k = "fixed", size = ${luaNumber(f.size)}, min = ${luaNumber(f.size)} }`;
    case 'chunk':
      return '{ k = "chunk" }';
    case 'datagram':
      return '{ k = "datagram" }';
  }
}

function dirsLua(u: TransformUse): string {
  return `{ ${u.dirs.map((d) => `${d} = true`).join(', ')} }`;
}

function streamLua(g: LuaGen, t: TransportDef, u: TransformUse, lx: (i: number) => string): string {
  const why = `${TRANSFORM_WHY[u.name] ?? u.name} on the byte stream`;
  g.notes.add(`${t.kind}: ${why}: from where it is on, the rest of a direction shows "not decoded in Lua"`);
  return `{ name = ${luaString(u.name)}, dirs = ${dirsLua(u)}, when = ${u.when === undefined ? 'nil' : lx(u.when)}, why = ${luaString(why)} }`;
}

function frameLua(g: LuaGen, t: TransportDef, u: TransformUse, lx: (i: number) => string): string {
  const parts = [`name = ${luaString(u.name)}`, `dirs = ${dirsLua(u)}`, `when = ${u.when === undefined ? 'nil' : lx(u.when)}`];
  const arg = (a: LayerArg | undefined): string | null => {
    if (!a) return null;
    if ('x' in a) return `{ x = ${lx(a.x)} }`;
    try {
      return `{ lit = ${luaString(g.argBytes(a.lit))} }`;
    } catch {
      return null;
    }
  };
  if (u.name === 'compression') {
    const len = u.args.length && 'lit' in u.args.length ? (u.args.length.lit as Counter) : undefined;
    if (len) parts.push(`len = ${counterLua(len)}`);
    const algo = u.args.algorithm && 'lit' in u.args.algorithm ? u.args.algorithm.lit : 'zlib';
    parts.push(`algo = ${luaString(algo === 'deflate' ? 'deflate' : 'zlib')}`);
  } else if (u.name === 'xor') {
    const key = arg(u.args.key);
    if (key) parts.push(`key = ${key}`);
    else parts.push(`nd = ${luaString('xor with a key that is not bytes')}`);
  } else if (u.name !== 'zlib' && u.name !== 'deflate') {
    const why = `${TRANSFORM_WHY[u.name] ?? u.name} on each frame`;
    g.notes.add(`${t.kind}: ${why}: those frames show "not decoded in Lua"`);
    parts.push(`nd = ${luaString(why)}`);
  }
  return `{ ${parts.join(', ')} }`;
}

