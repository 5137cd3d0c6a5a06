/**
 * IR -> JavaScript source for decoders and encoders, compiled once with `new Function`.
 *
 * Why this is safe with hostile files: the only text from a protocol file that reaches the
 * generated source is (a) identifiers checked by `isIdentifier`, always emitted as JSON string
 * literals ("name"), never as code, (b) numbers that went through Number(), emitted with String(),
 * (c) strings emitted with JSON.stringify, and (d) expressions, which are our own AST printed by
 * `toJs` with every bare name replaced by a generated variable (v12) or by c.st["name"]. Byte
 * strings, enum tables and other values travel in the constant pool K, not in the source.
 *
 * The decoder comes in two variants from the same generator: the fast one, and a debug one that
 * tracks the field path (for error messages) and records spans (for hex highlighting). The fast
 * one runs first; the debug one reruns a message only when spans are asked for or decoding failed.
 */
import { toJs, type Expr } from './expr';
import type { Counter, Field, FieldTransform, Len, MapField, MessageDef, ProtocolDef, SourceExpr, TransportDef, Ty } from './ir';
import { fixedSize } from './ir';
import { ProtocolError } from './load';

export interface GeneratedModule {
  source: string;
}

type Scope = Map<string, string>;

/**
 * Buffer's per-encoding slice methods skip toString's argument normalisation (about 25% of a
 * small message's decode time). Undocumented, so used only when present.
 */
const FAST_SLICE: Record<string, string | undefined> = Object.fromEntries(
  (
    [
      ['utf8', 'utf8Slice'],
      ['latin1', 'latin1Slice'],
      ['utf16le', 'ucs2Slice'],
    ] as const
  ).map(([enc, m]) => [enc, typeof (Buffer.prototype as unknown as Record<string, unknown>)[m] === 'function' ? m : undefined]),
);

class Gen {
  out: string[] = [];
  n = 0;
  scopes: Scope[] = [];
  readonly typeFn = new Map<string, number>();
  /** The transport whose messages are being generated: its head and frame header are visible by name. */
  tport: TransportDef | null = null;
  /** Whether a field expression read the state (so a message's fields may depend on more than its bytes). */
  readsState = false;

  constructor(
    readonly def: ProtocolDef,
    readonly debug: boolean,
    readonly K: unknown[],
    readonly problems: string[],
  ) {
    [...def.types.keys()].forEach((name, i) => this.typeFn.set(name, i));
  }

  v(prefix = 'v'): string {
    return `${prefix}${this.n++}`;
  }
  emit(line: string): void {
    this.out.push(line);
  }
  k(value: unknown): string {
    const i = this.K.indexOf(value);
    if (i >= 0) return `K[${i}]`;
    this.K.push(value);
    return `K[${this.K.length - 1}]`;
  }

  /**
   * JS for an expression; names resolve to fields decoded so far (innermost first), then the
   * transport's `head` and `frame` (its frame header's fields), then state.
   */
  expr(x: SourceExpr, stateOnly = false): string {
    return toJs(x.e, (name, pos) => {
      if (!stateOnly) {
        for (let i = this.scopes.length - 1; i >= 0; i--) {
          const v = this.scopes[i].get(name);
          if (v) return v;
        }
      }
      if (name === 'head' && this.tport?.head) return 'c.hd';
      // the frame header's fields: a header framing's, or the WebSocket layer's (opcode, compressed...)
      if (name === 'frame' && (this.tport?.framing.k === 'header' || this.tport?.websocket)) return 'c.fr';
      if (Object.prototype.hasOwnProperty.call(this.def.state, name)) {
        if (!stateOnly) this.readsState = true;
        return `c.st[${JSON.stringify(name)}]`;
      }
      const known = stateOnly ? [] : this.scopes.flatMap((s) => [...s.keys()]);
      const state = Object.keys(this.def.state);
      const also = [this.tport?.head ? 'head' : '', this.tport?.framing.k === 'header' || this.tport?.websocket ? 'frame' : ''].filter(Boolean);
      this.problems.push(
        `${x.at(pos)}: unknown name '${name}' in '${x.src}'; ${stateOnly ? 'only state variables can be used here' : `fields decoded before this point: ${known.join(', ') || '(none)'}`}; ${also.length ? `${also.join(', ')}; ` : ''}state: ${state.join(', ') || '(none)'}`,
      );
      return 'undefined';
    });
  }

  /** A field's transforms as JS: [[name, {arg: value}], ...], names from the registry (checked by the loader), values literals or expressions. */
  steps(steps: FieldTransform[]): string {
    return `[${steps
      .map((st) => `[${this.k(st.name)}, {${Object.entries(st.args).map(([k, a]) => `${JSON.stringify(k)}: ${'lit' in a ? this.k(a.lit) : `(${this.expr(a.x)})`}`).join(', ')}}]`)
      .join(', ')}]`;
  }

  /** An expression over the head's fields (by bare name) and the state: the message id from the head. */
  headExpr(t: TransportDef, x: SourceExpr): string {
    this.scopes.push(new Map(t.head!.map((f) => [f.name, `c.hd[${JSON.stringify(f.name)}]`])));
    try {
      return this.expr(x);
    } finally {
      this.scopes.pop();
    }
  }

  /** The body length from the frame header's fields (by bare name). */
  frameExpr(fields: Field[], x: SourceExpr): string {
    this.scopes.push(new Map(fields.map((f) => [f.name, `c.fr[${JSON.stringify(f.name)}]`])));
    try {
      return this.expr(x);
    } finally {
      this.scopes.pop();
    }
  }

  // ---- decoding -------------------------------------------------------------------------------


  check(n: string | number): void {
    this.emit(`if (e - p < ${n}) rt.short(c, ${n}, p, e);`);
  }

  /** Read a fixed-size integer at p (bounds already checked) and advance. */
  readInt(t: { size: number; signed: boolean; le: boolean }, into: string): void {
    const { size, signed, le } = t;
    let x: string;
    if (size === 1) x = signed ? '((b[p] << 24) >> 24)' : 'b[p]';
    else if (size === 2) {
      const u = le ? '(b[p] | (b[p + 1] << 8))' : '((b[p] << 8) | b[p + 1])';
      x = signed ? `((${u} << 16) >> 16)` : u;
    } else if (size === 3) {
      const u = le ? '(b[p] | (b[p + 1] << 8) | (b[p + 2] << 16))' : '((b[p] << 16) | (b[p + 1] << 8) | b[p + 2])';
      x = signed ? `((${u} << 8) >> 8)` : u;
    } else if (size === 4) x = `b.read${signed ? 'Int32' : 'UInt32'}${le ? 'LE' : 'BE'}(p)`;
    else x = `b.read${signed ? 'BigInt64' : 'BigUInt64'}${le ? 'LE' : 'BE'}(p)`;
    this.emit(`${into} = ${x}; p += ${size};`);
  }

  readCounter(t: Counter, into: string, checked: boolean): void {
    if (t.k === 'varint') {
      const fn = t.width === 32 ? 'varint32' : t.width === 64 ? 'varint64' : t.zigzag ? 'zigzag' : 'varint';
      this.emit(`${into} = rt.${fn}(b, p, e, c); p = c.p;`);
      return;
    }
    if (!checked) this.check(t.size);
    this.readInt(t, into);
  }

  /** A byte count or element count into a fresh const; returns its name. */
  length(len: Len, what: string): string {
    const n = this.v('n');
    switch (len.k) {
      case 'fixed':
        return String(len.n);
      case 'expr':
        // a size from any integer field, 64-bit ones included while they fit
        this.emit(`const ${n} = rt.size(${this.expr(len.x)}, c, p);`);
        return n;
      case 'prefix':
        this.emit(`let ${n};`);
        this.readCounter(len.t, n, false);
        return n;
      case 'eos':
        this.emit(`const ${n} = e - p;`);
        return n;
      default:
        throw new Error(`${what}: length kind ${len.k} handled by the caller`);
    }
  }

  /** Decode `ty` at p into `into` (already declared). `checked`: the caller checked the bytes. */
  dec(ty: Ty, into: string, checked: boolean): void {
    switch (ty.k) {
      case 'int':
        if (!checked) this.check(ty.size);
        this.readInt(ty, into);
        return;
      case 'varint':
        this.readCounter(ty, into, checked);
        return;
      case 'float':
        if (!checked) this.check(ty.size);
        this.emit(`${into} = rt.f${ty.size * 8}${ty.le ? 'le' : 'be'}(b, p); p += ${ty.size};`);
        return;
      case 'bool':
        if (!checked) this.check(1);
        this.emit(`${into} = b[p] !== 0; p += 1;`);
        return;
      case 'enum': {
        const raw = this.v('r');
        this.emit(`let ${raw};`);
        this.readCounter(ty.base, raw, checked);
        this.emit(`${into} = ${this.k(ty.def.byValue)}.get(${raw}) ?? ${raw};`);
        return;
      }
      case 'flags': {
        const raw = this.v('r');
        this.emit(`let ${raw};`);
        this.readCounter(ty.base, raw, checked);
        const all = ty.names.reduce((m, [, mask]) => m | mask, 0) >>> 0;
        const props = ty.names.map(([name, mask]) => `${JSON.stringify(name)}: (${raw} & ${mask}) !== 0`).join(', ');
        this.emit(`${into} = { ${props} };`);
        this.emit(`if ((${raw} & ~${all}) !== 0) ${into}["_other"] = (${raw} & ~${all}) >>> 0;`);
        return;
      }
      case 'bits': {
        const raw = this.v('r');
        this.emit(`let ${raw};`);
        this.readCounter(ty.base, raw, checked);
        const bits = ty.base.size * 8;
        if (bits === 64) {
          this.emit(`${into} = rt.bitsOf(${raw}, ${this.k(ty.parts)}, 64, ${ty.lsbFirst});`);
          return;
        }
        // up to 32 bits: plain integer arithmetic, inline (a hot path: an entity's packed stats)
        let shift = ty.lsbFirst ? 0 : bits;
        const props = ty.parts.map(([name, width, signed]) => {
          if (!ty.lsbFirst) shift -= width;
          const u = width === 32 ? `(${raw} >>> 0)` : `((${raw} >>> ${shift}) & ${2 ** width - 1})`;
          const val = signed ? (width === 32 ? `(${raw} | 0)` : `((${u} << ${32 - width}) >> ${32 - width})`) : u;
          if (ty.lsbFirst) shift += width;
          return `${JSON.stringify(name)}: ${val}`;
        });
        this.emit(`${into} = { ${props.join(', ')} };`);
        return;
      }
      case 'const': {
        const start = this.v('s');
        this.emit(`const ${start} = p;`);
        this.dec(ty.base, into, checked);
        const lit = typeof ty.value === 'bigint' ? `${ty.value}n` : String(ty.value);
        this.emit(`if (${into} !== ${lit}) rt.fail(c, "expected the constant ${lit}, found " + String(${into}), ${start});`);
        return;
      }
      case 'magic':
        if (!checked) this.check(ty.bytes.length);
        this.emit(`if (!rt.matches(b, p, ${this.k(ty.bytes)})) rt.fail(c, ${JSON.stringify(`expected the magic ${JSON.stringify(ty.bytes.toString('latin1'))} (${ty.bytes.toString('hex')})`)} + ", found " + b.toString("hex", p, p + ${ty.bytes.length}), p);`);
        this.emit(`p += ${ty.bytes.length};`);
        return;
      case 'pad':
        if (!checked) this.check(ty.n);
        this.emit(`p += ${ty.n};`);
        return;
      case 'str':
      case 'bytes':
      case 'msgpack': {
        if (ty.len.k === 'term') {
          const i = this.v('i');
          const t = this.k(ty.len.bytes);
          this.emit(`const ${i} = rt.term(b, p, e, ${t}, c);`);
          this.emit(`${into} = ${this.slice(ty, 'p', i)}; p = ${i} + ${ty.len.bytes.length};`);
          return;
        }
        const n = this.length(ty.len, 'string');
        if (ty.len.k !== 'eos') this.check(n);
        this.emit(`${into} = ${this.slice(ty, 'p', `p + ${n}`)}; p += ${n};`);
        return;
      }
      case 'array':
        this.array(ty, into);
        return;
      case 'struct':
        this.struct(ty.fields, into);
        return;
      case 'ref':
        this.emit(`if (++c.depth > c.maxDepth) rt.tooDeep(c, p);`);
        this.emit(`c.p = p; c.e = e; ${into} = T${this.typeFn.get(ty.name)}(b, c); p = c.p; c.depth--;`);
        return;
      case 'switch': {
        const key = this.v('k');
        const start = this.v('s');
        this.emit(`const ${key} = ${this.expr(ty.on)}, ${start} = p;`);
        ty.cases.forEach((cs, i) => {
          this.emit(`${i ? '} else ' : ''}if (rt.eq(${key}, ${JSON.stringify(cs.key)})) {`);
          this.dec(cs.ty, into, false);
        });
        this.emit(ty.cases.length ? '} else {' : '{');
        if (ty.dflt) this.dec(ty.dflt, into, false);
        else this.emit(`rt.caseError(c, ${key}, ${start});`);
        this.emit('}');
        return;
      }
      case 'window': {
        const n = this.length(ty.len, 'region');
        this.check(n);
        if (ty.steps.length === 0) {
          const saved = this.v('e');
          this.emit(`const ${saved} = e; e = p + ${n};`);
          this.dec(ty.inner, into, false);
          this.emit(`if (p !== e) rt.fail(c, (e - p) + " bytes left at the end of a sized region", p);`);
          this.emit(`e = ${saved};`);
          return;
        }
        const w = this.v('w');
        this.emit(`const ${w} = rt.unprocess(b, p, p + ${n}, ${this.steps(ty.steps)}, c); p += ${n};`);
        // A block that shadows b, p and e: the inner type decodes the transformed bytes.
        this.emit(`{ const b = ${w}; let p = 0; let e = b.length; c.inner++;`);
        this.dec(ty.inner, into, false);
        this.emit(`if (p !== e) rt.fail(c, (e - p) + " bytes left at the end of a transformed region", p);`);
        this.emit('c.inner--; }');
        return;
      }
    }
  }

  slice(ty: Ty & { k: 'str' | 'bytes' | 'msgpack' }, from: string, to: string): string {
    if (ty.k === 'bytes') return `b.subarray(${from}, ${to})`;
    if (ty.k === 'msgpack') return `rt.unpack(b, ${from}, ${to}, c)`;
    const s = FAST_SLICE[ty.enc] ? `b.${FAST_SLICE[ty.enc]}(${from}, ${to})` : `b.toString(${JSON.stringify(ty.enc)}, ${from}, ${to})`;
    return ty.padded ? `rt.stripNul(${s})` : s;
  }

  array(ty: Ty & { k: 'array' }, into: string): void {
    const i = this.v('i');
    const x = this.v('x');
    const elemSize = fixedSize(ty.of);
    const body = () => {
      this.emit(`let ${x};`);
      this.emit(`if (++c.n > c.maxN) rt.tooMany(c, p);`);
      if (this.debug) this.emit(`rt.enter(c, ${i}, p);`);
      this.dec(ty.of, x, false);
      if (this.debug) this.emit('rt.leave(c, p);');
    };
    this.emit(`${into} = [];`);
    // An array ended by the data (to the end, at a sentinel) whose element took no bytes would
    // never end: that is an error at the element, not a loop until the budget runs out.
    const from = this.v('f');
    const progress = () => this.emit(`if (p === ${from}) rt.noProgress(c, p);`);
    if (ty.len.k === 'eos') {
      this.emit(`for (let ${i} = 0; p < e; ${i}++) { const ${from} = p;`);
      body();
      progress();
      this.emit(`${into}.push(${x}); }`);
      return;
    }
    if (ty.len.k === 'sentinel') {
      this.emit(`for (let ${i} = 0; ; ${i}++) { const ${from} = p;`);
      body();
      this.emit(`if (rt.eq(${x}, ${JSON.stringify(ty.len.value)})) break;`);
      progress();
      this.emit(`${into}.push(${x}); }`);
      return;
    }
    if (ty.len.k === 'cond') {
      const cond = ty.len;
      this.emit(`for (let ${i} = 0; ; ${i}++) { const ${from} = p;`);
      body();
      this.scopes.push(new Map([['item', x]]));
      this.emit(`if (${this.expr(cond.x)}) { ${cond.keep ? `${into}.push(${x}); ` : ''}break; }`);
      this.scopes.pop();
      progress();
      this.emit(`${into}.push(${x}); }`);
      return;
    }
    const n = this.length(ty.len, 'array');
    // A count larger than the bytes left is garbage; refuse before looping over it.
    if (elemSize > 0) this.check(elemSize === 1 ? n : `${n} * ${elemSize}`);
    else this.emit(`if (${n} > e - p) rt.fail(c, "count " + ${n} + " exceeds the " + (e - p) + " bytes left", p);`);
    this.emit(`for (let ${i} = 0; ${i} < ${n}; ${i}++) {`);
    body();
    this.emit(`${into}.push(${x}); }`);
  }

  /** Fields in order, each into its own variable, then one object literal (a stable shape). */
  struct(fields: Field[], into: string, after?: () => void): void {
    const scope: Scope = new Map();
    this.scopes.push(scope);
    const vars = fields.map(() => this.v());
    if (vars.length) this.emit(`let ${vars.join(', ')};`);
    // One bounds check for a run of fixed-size fields (the fast variant only: the debug one
    // checks field by field so that an error names the exact field).
    let covered = 0;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      const size = f.cond ? -1 : fixedSize(f.ty);
      let checked = false;
      if (!this.debug && size >= 0) {
        if (covered <= 0) {
          let run = 0;
          for (let j = i; j < fields.length && !fields[j].cond && fixedSize(fields[j].ty) >= 0; j++) run += fixedSize(fields[j].ty);
          if (run > 0) this.check(run);
          covered = run;
        }
        checked = true;
        covered -= size;
      } else covered = 0;
      if (f.cond) this.emit(`if (${this.expr(f.cond)}) {`);
      if (this.debug) this.emit(`rt.enter(c, ${JSON.stringify(f.name)}, p);`);
      this.dec(f.ty, vars[i], checked);
      if (this.debug) this.emit('rt.leave(c, p);');
      if (f.cond) this.emit('}');
      scope.set(f.name, vars[i]);
    }
    const props = fields.flatMap((f, i) => (f.hidden ? [] : [`${JSON.stringify(f.name)}: ${vars[i]}`]));
    this.emit(`${into} = { ${props.join(', ')} };`);
    after?.();
    this.scopes.pop();
  }

  /**
   * A keyed msgpack message's `set:` over its map (`v`, already checked by protocol/keyed.ts):
   * names resolve to its keys, then state. Returns the map.
   */
  mapSetFunction(name: string, keys: MapField[], sets: MessageDef['set']): void {
    this.emit(`function ${name}(v, c) {`);
    const saved = this.scopes;
    this.scopes = [new Map(keys.map((f) => [f.name, `v[${JSON.stringify(f.name)}]`]))];
    if (sets.length) {
      this.emit('if (!c.noSet) {');
      for (const s of sets) this.emit(`c.st[${JSON.stringify(s.name)}] = ${this.expr(s.x)};`);
      this.emit('}');
    }
    this.scopes = saved;
    this.emit('return v;');
    this.emit('}');
  }

  /** Message decoders emitted so far, by their text with `$` for their name (see sharedDecodeFunction). */
  private readonly decoders = new Map<string, string>();

  /**
   * decodeFunction for a message, or `name` as another name for an emitted decoder of the same
   * text: each generated function must warm up on its own before the JIT compiles it, and a
   * capture spreads its messages over all of them (a protocol's many messages of one shape,
   * empty ones or one integer, cost one warm-up, not one each). Locals are numbered from 0 in
   * each so that two decoders of one shape have one text.
   */
  sharedDecodeFunction(name: string, fields: Field[], sets: MessageDef['set']): void {
    const out = this.out;
    const n = this.n;
    this.out = [];
    this.n = 0;
    this.decodeFunction('$', fields, sets);
    const text = this.out.join('\n');
    this.out = out;
    this.n = n;
    const same = this.decoders.get(text);
    if (same) {
      this.emit(`const ${name} = ${same};`);
      return;
    }
    this.decoders.set(text, name);
    this.emit(text.replace('function $(', `function ${name}(`));
  }

  decodeFunction(name: string, fields: Field[] | Ty, sets: MessageDef['set'] = []): void {
    this.emit(`function ${name}(b, c) {`);
    this.emit('let p = c.p, e = c.e, out;');
    const saved = this.scopes;
    this.scopes = [];
    const after = () => {
      if (!sets.length) return;
      this.emit('if (!c.noSet) {');
      for (const s of sets) this.emit(`c.st[${JSON.stringify(s.name)}] = ${this.expr(s.x)};`);
      this.emit('}');
    };
    if (Array.isArray(fields)) this.struct(fields, 'out', after);
    else this.dec(fields, 'out', false);
    this.scopes = saved;
    this.emit('c.p = p; return out;');
    this.emit('}');
  }

  // ---- encoding -------------------------------------------------------------------------------

  encCounter(t: Counter, v: string): void {
    if (t.k === 'varint' && t.width) this.emit(`w.varint${t.width}(${v}, c);`);
    else if (t.k === 'varint') this.emit(`w.varint(${v}, ${t.zigzag}, c);`);
    else this.emit(`w.int(${v}, ${t.size}, ${t.signed}, ${t.le}, c);`);
  }

  /** Write a byte string whose size rule is `len`. */
  encSized(len: Len, data: string, padded: boolean): void {
    switch (len.k) {
      case 'fixed':
        this.emit(`rt.sized(w, ${data}, ${len.n}, ${padded}, c);`);
        return;
      case 'expr':
        this.emit(`rt.sized(w, ${data}, ${this.expr(len.x)}, ${padded}, c);`);
        return;
      case 'prefix':
        this.encCounter(len.t, `${data}.length`);
        this.emit(`w.bytes(${data});`);
        return;
      case 'term': {
        const t = this.k(len.bytes);
        this.emit(`rt.noTerm(${data}, ${t}, c); w.bytes(${data}); w.bytes(${t});`);
        return;
      }
      default:
        this.emit(`w.bytes(${data});`);
    }
  }

  enc(ty: Ty, v: string): void {
    switch (ty.k) {
      case 'int':
        this.emit(`w.int(${v}, ${ty.size}, ${ty.signed}, ${ty.le}, c);`);
        return;
      case 'varint':
        this.encCounter(ty, v);
        return;
      case 'float':
        this.emit(`w.float(${v}, ${ty.size}, ${ty.le}, c);`);
        return;
      case 'bool':
        this.emit(`w.int(${v} ? 1 : 0, 1, false, true, c);`);
        return;
      case 'enum':
        this.encCounter(ty.base, `rt.enumNum(${this.k(ty.def.byName)}, ${v}, c)`);
        return;
      case 'flags':
        this.encCounter(ty.base, `rt.flagsNum(${this.k(ty.names)}, ${v}, c)`);
        return;
      case 'bits':
        this.encCounter(ty.base, `rt.bitsNum(${this.k(ty.parts)}, ${ty.base.size * 8}, ${ty.lsbFirst}, ${v}, c)`);
        return;
      case 'const': {
        const lit = typeof ty.value === 'bigint' ? `${ty.value}n` : String(ty.value);
        if (ty.base.k === 'float') this.emit(`w.float(${lit}, ${ty.base.size}, ${ty.base.le}, c);`);
        else this.encCounter(ty.base, lit);
        return;
      }
      case 'magic':
        this.emit(`w.bytes(${this.k(ty.bytes)});`);
        return;
      case 'pad':
        this.emit(`w.zeros(${ty.n});`);
        return;
      case 'str':
      case 'bytes':
      case 'msgpack': {
        const d = this.v('d');
        const conv = ty.k === 'str' ? `rt.strBytes(${v}, ${JSON.stringify(ty.enc)}, c)` : ty.k === 'bytes' ? `rt.toBytes(${v}, c)` : `rt.pack(${v})`;
        this.emit(`const ${d} = ${conv};`);
        this.encSized(ty.len, d, ty.k === 'str' && ty.padded);
        return;
      }
      case 'array': {
        const a = this.v('a');
        const i = this.v('i');
        this.emit(`const ${a} = rt.arr(${v}, c);`);
        if (ty.len.k === 'prefix') this.encCounter(ty.len.t, `${a}.length`);
        else if (ty.len.k === 'fixed') this.emit(`rt.count(${a}, ${ty.len.n}, c);`);
        else if (ty.len.k === 'expr') this.emit(`rt.count(${a}, ${this.expr(ty.len.x)}, c);`);
        this.emit(`for (let ${i} = 0; ${i} < ${a}.length; ${i}++) { rt.epush(c, ${i});`);
        this.emit(`if (c.orig !== null && rt.copyOrig(w, c, ${a}[${i}])) { rt.epop(c); continue; }`);
        if (ty.len.k === 'cond') {
          // the condition must hold at the array's end (its last element, or the end written after it), nowhere before
          const cond = ty.len;
          this.scopes.push(new Map([['item', `${a}[${i}]`]]));
          const last = cond.keep ? `${i} === ${a}.length - 1` : 'false';
          this.emit(`if (!(${this.expr(cond.x)}) === (${last})) rt.untilBroken(c, ${last});`);
          this.scopes.pop();
        }
        this.enc(ty.of, `${a}[${i}]`);
        this.emit('rt.epop(c); }');
        if (ty.len.k === 'sentinel') this.enc(ty.of, JSON.stringify(ty.len.value));
        if (ty.len.k === 'cond' && !ty.len.keep) this.enc(ty.of, this.k(ty.len.end));
        if (ty.len.k === 'cond' && ty.len.keep) this.emit(`if (${a}.length === 0) rt.untilBroken(c, true);`);
        return;
      }
      case 'struct':
        this.encStruct(ty.fields, v);
        return;
      case 'ref':
        this.emit(`if (++c.depth > c.maxDepth) rt.etooDeep(c);`);
        this.emit(`ET${this.typeFn.get(ty.name)}(w, ${v}, c); c.depth--;`);
        return;
      case 'switch': {
        const key = this.v('k');
        this.emit(`const ${key} = ${this.expr(ty.on)};`);
        ty.cases.forEach((cs, i) => {
          this.emit(`${i ? '} else ' : ''}if (rt.eq(${key}, ${JSON.stringify(cs.key)})) {`);
          this.enc(cs.ty, v);
        });
        this.emit(ty.cases.length ? '} else {' : '{');
        if (ty.dflt) this.enc(ty.dflt, v);
        else this.emit(`rt.ecaseError(c, ${key});`);
        this.emit('}');
        return;
      }
      case 'window': {
        const sub = this.v('w');
        const d = this.v('d');
        this.emit(`const ${sub} = new rt.Writer(); { const w = ${sub};`);
        this.enc(ty.inner, v);
        this.emit('}');
        this.emit(`const ${d} = rt.process(${sub}.finish(), ${this.steps(ty.steps)}, c);`);
        this.encSized(ty.len, d, false);
        return;
      }
    }
  }

  /**
   * Fields that hold a later sibling's size or count (`n` where a later field says `length: n`,
   * or `n - 2`): encoding computes them from that sibling's data instead of trusting the value
   * given, so a changed string or list is written with the right size.
   */
  derivedSizes(fields: Field[]): Map<number, { target: string; kind: string; k: number }> {
    const out = new Map<number, { target: string; kind: string; k: number }>();
    fields.forEach((g, j) => {
      const t = g.ty;
      const len = t.k === 'array' || t.k === 'str' || t.k === 'bytes' || t.k === 'msgpack' ? t.len : null;
      if (!len || len.k !== 'expr' || (t.k === 'str' && t.padded)) return;
      const x = len.x.e;
      const k = x.t === 'bin' && (x.op === '+' || x.op === '-') && x.b.t === 'num' ? (x.op === '+' ? x.b.v : -x.b.v) : 0;
      const id = x.t === 'id' ? x.name : x.t === 'bin' && k !== 0 && x.a.t === 'id' ? x.a.name : null;
      const i = id === null ? -1 : fields.findIndex((f) => f.name === id);
      if (i < 0 || i >= j || fields[i]!.hidden || (fields[i]!.ty.k !== 'int' && fields[i]!.ty.k !== 'varint')) return;
      const kind = t.k === 'array' ? 'count' : t.k === 'str' ? `str:${t.enc}` : t.k;
      // the size field is what the data's size gives back through the expression
      out.set(i, { target: g.name, kind, k: -k });
    });
    return out;
  }

  encStruct(fields: Field[], v: string, after?: () => void): void {
    const o = this.v('o');
    this.emit(`const ${o} = rt.obj(${v}, c);`);
    const scope: Scope = new Map();
    this.scopes.push(scope);
    const derived = this.derivedSizes(fields);
    fields.forEach((f, i) => {
      const fv = this.v();
      const d = derived.get(i);
      if (f.hidden) this.emit(`const ${fv} = undefined;`);
      else if (d) this.emit(`const ${fv} = rt.sizeOfData(${o}[${JSON.stringify(d.target)}], ${JSON.stringify(d.kind)}, ${d.k}, ${o}[${JSON.stringify(f.name)}]);`);
      else this.emit(`const ${fv} = ${o}[${JSON.stringify(f.name)}];`);
      if (f.cond) this.emit(`if (${this.expr(f.cond)}) {`);
      this.emit(`rt.epush(c, ${JSON.stringify(f.name)});`);
      // re-encoding a decoded message: a field with its original value is its original bytes
      this.emit(`if (c.orig === null || !rt.copyOrig(w, c, ${fv})) {`);
      this.enc(f.ty, fv);
      this.emit('}');
      this.emit('rt.epop(c);');
      if (f.cond) this.emit('}');
      scope.set(f.name, fv);
    });
    after?.();
    this.scopes.pop();
  }

  encodeFunction(name: string, fields: Field[] | Ty): void {
    this.emit(`function ${name}(w, v, c) {`);
    const saved = this.scopes;
    this.scopes = [];
    if (Array.isArray(fields)) this.encStruct(fields, 'v');
    else this.enc(fields, 'v');
    this.scopes = saved;
    this.emit('}');
  }
}

export interface MessageRef {
  def: MessageDef;
  transport: 'tcp' | 'udp';
  index: number;
}

/** All messages of a protocol in a fixed order: tcp first, then udp. */
export function messageList(def: ProtocolDef): MessageRef[] {
  const out: MessageRef[] = [];
  for (const t of [def.tcp, def.udp]) if (t) for (const m of t.messages) out.push({ def: m, transport: t.kind, index: out.length });
  return out;
}

export interface GeneratedSource {
  fast: string;
  debug: string;
  K: unknown[];
  /** Whether decoding a message's fields (head, types, messages) reads the state: if not, a message's fields follow from its body and frame header alone. */
  fieldsReadState: boolean;
}

/**
 * The generated module bodies. Each returns `{ M, EM, W, ID, CW, CT }`: message decoders and
 * encoders by message index, 'when' tests, id readers, and the layers' expressions.
 */
export function generate(def: ProtocolDef): GeneratedSource {
  const K: unknown[] = [];
  const problems: string[] = [];
  const msgs = messageList(def);
  let fieldsReadState = false;
  const variant = (debug: boolean): string => {
    const g = new Gen(def, debug, K, problems);
    g.emit('"use strict";');
    g.emit(`// ${debug ? 'debug variant: tracks field paths and records spans' : 'fast variant'} for protocol ${JSON.stringify(def.name)}`);
    [...def.types.entries()].forEach(([name, t], i) => {
      g.emit(`// type ${name}`);
      g.decodeFunction(`T${i}`, t.ty.k === 'struct' ? t.ty.fields : t.ty);
    });
    for (const m of msgs) {
      g.tport = def[m.transport]!;
      g.emit(`// message ${m.def.name} (${m.transport}${m.def.id !== undefined ? ` id ${m.def.id}` : ''}${m.def.dir ? ` ${m.def.dir}` : ''})`);
      if (m.def.mapFields) g.mapSetFunction(`M${m.index}`, m.def.mapFields, m.def.set);
      else g.sharedDecodeFunction(`M${m.index}`, m.def.fields, m.def.set);
    }
    const exports = [`M: [${msgs.map((m) => `M${m.index}`).join(', ')}]`];
    for (const t of [def.tcp, def.udp]) {
      if (!t) continue;
      g.tport = t;
      // the transport's head (fields before the id) and frame header, decoded like message fields
      if (t.head) {
        g.emit(`// ${t.kind} head`);
        g.decodeFunction(`H_${t.kind}`, t.head);
        exports.push(`H_${t.kind}`);
      }
      if (t.framing.k === 'header') {
        g.emit(`// ${t.kind} frame header`);
        g.decodeFunction(`FH_${t.kind}`, t.framing.fields);
        exports.push(`FH_${t.kind}`);
      }
    }
    if (!debug) {
      fieldsReadState = g.readsState;
      g.tport = null;
      [...def.types.entries()].forEach(([name, t], i) => {
        g.emit(`// encode type ${name}`);
        g.encodeFunction(`ET${i}`, t.ty.k === 'struct' ? t.ty.fields : t.ty);
      });
      for (const m of msgs) {
        g.tport = def[m.transport]!;
        g.emit(`// encode message ${m.def.name}`);
        g.encodeFunction(`EM${m.index}`, m.def.fields);
      }
      exports.push(`EM: [${msgs.map((m) => `EM${m.index}`).join(', ')}]`);
      const when = msgs.map((m) => {
        g.tport = def[m.transport]!;
        return m.def.when ? `(c) => !!(${g.expr(m.def.when, true)})` : 'null';
      });
      exports.push(`W: [${when.join(', ')}]`);
      for (const t of [def.tcp, def.udp]) {
        if (!t) continue;
        g.tport = t;
        if (t.id) {
          g.emit(`function ID_${t.kind}(b, c) { let p = c.p, e = c.e, id;`);
          g.readCounter(t.id, 'id', false);
          g.emit('c.p = p; return id;');
          g.emit('}');
          exports.push(`ID_${t.kind}`);
        }
        if (t.idExpr) exports.push(`IDX_${t.kind}: (c) => ${g.headExpr(t, t.idExpr)}`);
        if (t.head) {
          g.emit(`// encode ${t.kind} head`);
          g.encodeFunction(`EH_${t.kind}`, t.head);
          exports.push(`EH_${t.kind}`);
        }
        if (t.framing.k === 'header') {
          g.emit(`// encode ${t.kind} frame header`);
          g.encodeFunction(`EFH_${t.kind}`, t.framing.fields);
          exports.push(`EFH_${t.kind}`);
          exports.push(`FL_${t.kind}: (c) => ${g.frameExpr(t.framing.fields, t.framing.length)}`);
        }
        // the layers' expressions (framing choices, transforms' when and arguments), over the state and the frame header
        if (t.exprs.length) exports.push(`LX_${t.kind}: [${t.exprs.map((x) => `(c) => ${g.expr(x, true)}`).join(', ')}]`);
      }
    }
    g.emit(`return { ${exports.join(', ')} };`);
    return g.out.join('\n');
  };
  const fast = variant(false);
  const debug = variant(true);
  if (problems.length) throw new ProtocolError([...new Set(problems)]);
  return { fast, debug, K, fieldsReadState };
}

/** Indent generated code for humans (`gamesniff check --print-code`). */
export function prettySource(src: string): string {
  let depth = 0;
  return src
    .split('\n')
    .map((line) => {
      const opens = (line.match(/{/g) ?? []).length;
      const closes = (line.match(/}/g) ?? []).length;
      if (line.startsWith('}')) depth = Math.max(0, depth - 1);
      const out = '  '.repeat(depth) + line;
      depth = Math.max(0, depth + opens - closes + (line.startsWith('}') ? 1 : 0));
      return out;
    })
    .join('\n');
}

export type { Expr };
