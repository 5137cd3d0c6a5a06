/**
 * Per-message JSON serialisers generated from the IR, as the decoders are (fast-json-stringify's
 * idea): a message's fields are an object literal the decoder built from the same IR, so its keys
 * and their order are known, and each value's type too. The generated function writes the keys as
 * literals and each value by its type, without asking Object.entries or typeof what it is, as
 * bytes straight into the output block (./json-bytes.ts: hex and numbers make no string each).
 *
 * Output: exactly the UTF-8 of what `jsonValue` (./json-line.ts) gives for the same value. Every typed path
 * checks the value has the type the IR says and otherwise hands it to `jsonValue` (the generic
 * walk), so a surprise costs speed, never correctness.
 *
 * Why this is safe with hostile description files: nothing from the description reaches the
 * generated source but keys, each already a JSON literal escaped by `jsonString` and then emitted
 * as a JavaScript string literal with JSON.stringify, and numbers made by this generator. Values
 * come only from the decoded message, at run time.
 */
import type { LineBlock } from '../core/line-block';
import type { Field, ProtocolDef, Ty } from '../protocol/ir';
import type { OutputLimits } from './format';
import { putArray, putFinite, putHex, putText } from './json-bytes';
import { jsonString, jsonValue } from './json-line';

/** Writes a message's fields (the decoder's object) as JSON into the block, within the limits; false where JSON leaves them out. */
export type FieldsWriter = (fields: unknown, limits: OutputLimits, block: LineBlock) => boolean;

/** Text already JSON and terminal-safe. */
function putLiteral(B: LineBlock, s: string): true {
  B.text(s);
  return true;
}

class JsonGen {
  out: string[] = [];
  /** Numbers the locals, from 0 in each message's function (see `emit`). */
  n = 0;
  private fns = 0;
  /** Functions emitted, by their text with `$` for their name: one function for each shape. */
  private readonly emitted = new Map<string, string>();
  /** The generated function of each named type, made on first use (types may refer to themselves). */
  readonly typeFn = new Map<string, string>();
  private readonly pending: { name: string; fn: string }[] = [];

  constructor(readonly def: ProtocolDef) {}

  v(prefix: string): string {
    return `${prefix}${this.n++}`;
  }

  fn(prefix: string): string {
    return `${prefix}${this.fns++}`;
  }

  /**
   * A function writing `ret` after `body`, by name. Messages (and arrays) of the same shape get the
   * same text, and so one function: each generated function is one more to warm up before the JIT
   * compiles it, and a capture spreads its messages over all of them (40 messages of one shape
   * took 1.5 µs a message more than one function for all, on 145k messages).
   */
  emit(prefix: string, params: string, body: string[], ret: string): string {
    const text = [`function $(${params}) {`, ...body, `return ${ret};`, '}'].join('\n');
    let name = this.emitted.get(text);
    if (!name) {
      name = this.fn(prefix);
      this.emitted.set(text, name);
      this.out.push(text.replace('$', name));
    }
    return name;
  }

  /**
   * An expression that writes the value in variable `x` of type `ty` into the block `B` and is
   * true, or writes nothing and is false (where JSON leaves the value out). May emit statements
   * first, into `body`.
   */
  value(ty: Ty, x: string, body: string[]): string {
    switch (ty.k) {
      case 'int':
        // up to 32 bits the decoder gives numbers; 64-bit ones are bigints (the generic path)
        return ty.size <= 4 ? `(typeof ${x} === "number" && ${x} - ${x} === 0 ? N(B, ${x}) : G(B, ${x}, L))` : `G(B, ${x}, L)`;
      case 'float':
        return `(typeof ${x} === "number" && ${x} - ${x} === 0 ? N(B, ${x}) : G(B, ${x}, L))`;
      case 'bool':
        return `(${x} === true ? W(B, "true") : ${x} === false ? W(B, "false") : G(B, ${x}, L))`;
      case 'str':
        return `(typeof ${x} === "string" ? S(B, ${x}, L) : G(B, ${x}, L))`;
      case 'bytes':
        return `(${x} instanceof Uint8Array ? X(B, ${x}, L) : G(B, ${x}, L))`;
      case 'array': {
        const e = this.v('e');
        const inner: string[] = [];
        const w = this.value(ty.of, e, inner);
        const f = this.emit('A', `${e}, L, B`, inner, w);
        return `(Array.isArray(${x}) ? R(B, ${x}, L, ${f}) : G(B, ${x}, L))`;
      }
      case 'struct':
        return this.struct(ty.fields, x, body);
      case 'ref': {
        const t = this.def.types.get(ty.name);
        if (!t) return `G(B, ${x}, L)`;
        let fn = this.typeFn.get(ty.name);
        if (!fn) {
          fn = this.fn('T');
          this.typeFn.set(ty.name, fn);
          this.pending.push({ name: ty.name, fn });
        }
        return `${fn}(${x}, L, B)`;
      }
      case 'window':
        return this.value(ty.inner, x, body);
      default:
        // enums (a name or an unknown number), flags and bits (objects with an _other),
        // varints, constants, msgpack, switches: the generic walk
        return `G(B, ${x}, L)`;
    }
  }

  /** A struct the decoder built as one object literal: its visible fields, in order. */
  struct(fields: Field[], x: string, body: string[]): string {
    const visible = fields.filter((f) => !f.hidden);
    // a name given twice would make the literal keep the first place and the last value
    if (new Set(visible.map((f) => f.name)).size !== visible.length) return `G(B, ${x}, L)`;
    const s = this.v('s');
    const first = this.v('o');
    const isObj = `(${x} !== null && typeof ${x} === "object" && !Array.isArray(${x}) && !(${x} instanceof Uint8Array))`;
    // Only an object with exactly these keys, in this order, is written by the plan; anything else by G.
    body.push(`let ${s} = true;`);
    body.push(`if (${isObj} && K(${x}, ${JSON.stringify(visible.map((f) => f.name))})) {`);
    body.push('W(B, "{");');
    // where the first field would start: a field after it is written with its comma
    body.push(`const ${first} = B.mark();`);
    for (const f of visible) {
      const y = this.v('y');
      const at = this.v('m');
      const inner: string[] = [];
      const key = `${jsonString(f.name)}:`;
      body.push(`const ${y} = ${x}[${JSON.stringify(f.name)}];`);
      body.push(`if (${y} !== undefined) {`);
      body.push(`const ${at} = B.mark();`);
      body.push(`W(B, ${at} > ${first} ? ${JSON.stringify(`,${key}`)} : ${JSON.stringify(key)});`);
      const expr = this.value(f.ty, y, inner);
      body.push(...inner);
      // JSON leaves the field out: so does the line, key and all
      body.push(`if (!${expr}) B.cut(${at});`);
      body.push('}');
    }
    body.push('W(B, "}");');
    body.push(`} else ${s} = G(B, ${x}, L);`);
    return s;
  }

  /** A function for every named type used so far (and those they use). */
  types(): void {
    for (let p = this.pending.shift(); p; p = this.pending.shift()) {
      const body: string[] = [];
      this.n = 0;
      const w = this.value(this.def.types.get(p.name)!.ty, 'v', body);
      this.out.push(`function ${p.fn}(v, L, B) {`, ...body, `return ${w};`, '}');
    }
  }
}

/**
 * Whether `o` has exactly the keys `keys`, in that order (Object.keys order is what JSON.stringify
 * follows). The decoder's literals always do; this keeps a reshaped object on the generic path.
 */
function sameKeys(o: object, keys: string[]): boolean {
  let i = 0;
  for (const k in o) {
    if (!Object.prototype.hasOwnProperty.call(o, k)) return false;
    if (keys[i++] !== k) return false;
  }
  return i === keys.length;
}

/**
 * A serialiser per message that has declared fields, by `transport dir name` (a message declared
 * for both directions under each). Keyed msgpack transports, whose fields are the map as it came,
 * and names declared twice for one direction are left out (the generic path writes them).
 * `generic` is the walk for what the IR does not pin down (tests pass one that throws).
 */
export function fieldWriters(def: ProtocolDef, generic: typeof jsonValue = jsonValue): Map<string, FieldsWriter> {
  const g = new JsonGen(def);
  const entries: { key: string; fn: string }[] = [];
  const seen = new Map<string, number>();
  for (const t of [def.tcp, def.udp]) {
    if (!t || t.msgpack) continue;
    for (const m of t.messages) {
      if (m.mapFields) continue;
      const body: string[] = [];
      g.n = 0;
      const w = g.struct(m.fields, 'v', body);
      const fn = g.emit('M', 'v, L, B', body, w);
      for (const dir of m.dir ? [m.dir] : ['c2s', 's2c']) {
        const key = `${t.kind} ${dir} ${m.name}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        entries.push({ key, fn });
      }
    }
  }
  g.types();
  const src = `"use strict";\n${g.out.join('\n')}\nreturn { ${entries.map((e, i) => `${JSON.stringify(String(i))}: ${e.fn}`).join(', ')} };`;
  const G = (B: LineBlock, v: unknown, L: OutputLimits): boolean => {
    const s = generic(v, L);
    if (s === undefined) return false;
    B.text(s);
    return true;
  };
  const fns = new Function('G', 'S', 'X', 'R', 'K', 'N', 'W', src)(G, putText, putHex, putArray, sameKeys, putFinite, putLiteral) as Record<string, FieldsWriter>;
  const out = new Map<string, FieldsWriter>();
  entries.forEach((e, i) => {
    if (seen.get(e.key) === 1) out.set(e.key, fns[String(i)]);
  });
  return out;
}

