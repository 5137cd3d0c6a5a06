/**
 * decode(encode(value)) == value for values generated from the protocol description itself: a
 * generator walks the IR, picking switch cases and conditions with the expression interpreter.
 */
import fc from 'fast-check';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/protocol/expr';
import type { Field, Len, Ty } from '../../src/protocol/ir';
import { loadProtocol, type Protocol } from '../../src/protocol/protocol';
import { diffValues } from '../../src/protocol/diff';
import { mulberry32 } from '../../src/core/rng';

type Rng = () => number;

class ValueGen {
  constructor(
    readonly p: Protocol,
    readonly r: Rng,
    readonly state: Record<string, unknown>,
  ) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)];
  }
  text(avoid?: Buffer): string {
    const chars = ['a', 'b', 'Z', ' ', '9', 'é', '你', '\t', ':', '!'];
    for (;;) {
      let s = '';
      const n = this.int(0, 12);
      for (let i = 0; i < n; i++) s += this.pick(chars);
      if (!avoid || Buffer.from(s).indexOf(avoid) < 0) return s;
    }
  }
  count(len: Len, scopes: Record<string, unknown>[]): number {
    if (len.k === 'fixed') return len.n;
    if (len.k === 'expr') {
      // a size that is an earlier field of the struct being made: give that field a small value
      const own = scopes[scopes.length - 1];
      if (len.x.e.t === 'id' && own && len.x.e.name in own) {
        const small = this.int(0, 5);
        own[len.x.e.name] = typeof own[len.x.e.name] === 'bigint' ? BigInt(small) : small;
      }
      return Number(evaluate(len.x.e, (n) => this.lookup(n, scopes)));
    }
    return this.int(0, 5);
  }
  lookup(name: string, scopes: Record<string, unknown>[]): unknown {
    for (let i = scopes.length - 1; i >= 0; i--) if (name in scopes[i]) return scopes[i][name];
    return this.state[name];
  }
  value(ty: Ty, scopes: Record<string, unknown>[]): unknown {
    switch (ty.k) {
      case 'int': {
        if (ty.size === 8) return ty.signed ? BigInt(this.int(-1e9, 1e9)) * 1000n : BigInt(this.int(0, 2e9)) * 1000n;
        const bits = ty.size * 8;
        return ty.signed ? this.int(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) : this.int(0, 2 ** bits - 1);
      }
      case 'varint':
        if (ty.width === 32) return this.pick([0, -1, 127, 128, -(2 ** 31), 2 ** 31 - 1, this.int(-1e9, 1e9)]);
        if (ty.width === 64) return this.pick([0n, -1n, 300n, -(1n << 63n), (1n << 63n) - 1n, BigInt(this.int(-1e9, 1e9)) * 1000n]);
        return ty.zigzag ? this.int(-1e6, 1e6) : this.pick([0, 1, 127, 128, 300, this.int(0, 2 ** 40)]);
      case 'float':
        return ty.size === 4 ? Math.fround((this.r() - 0.5) * 1e4) : (this.r() - 0.5) * 1e9;
      case 'bool':
        return this.r() < 0.5;
      case 'enum':
        return this.pick([...ty.def.byName.keys()]);
      case 'flags':
        return Object.fromEntries(ty.names.map(([n]) => [n, this.r() < 0.5]));
      case 'bits':
        return Object.fromEntries(
          ty.parts.map(([n, w, signed]) => {
            if (w > 53) return [n, signed ? -(1n << BigInt(w - 1)) : (1n << BigInt(w)) - 1n];
            return [n, signed ? this.int(-(2 ** (w - 1)), 2 ** (w - 1) - 1) : this.int(0, 2 ** w - 1)];
          }),
        );
      case 'const':
        return ty.value;
      case 'magic':
      case 'pad':
        return undefined;
      case 'str':
        if (ty.len.k === 'fixed' || ty.len.k === 'expr') return 'x'.repeat(this.count(ty.len, scopes));
        return this.text(ty.len.k === 'term' ? ty.len.bytes : undefined);
      case 'bytes':
        return Buffer.from(Array.from({ length: ty.len.k === 'fixed' || ty.len.k === 'expr' ? this.count(ty.len, scopes) : this.int(0, 20) }, () => this.int(0, 255)));
      case 'msgpack':
        return { sword: this.int(0, 9), names: [this.text()], nested: { ok: this.r() < 0.5 } };
      case 'array': {
        const len = ty.len;
        const n = len.k === 'sentinel' || len.k === 'cond' ? this.int(0, 4) : this.count(len, scopes);
        const ends = (v: unknown): boolean => len.k === 'cond' && !!evaluate(len.x.e, (name) => (name === 'item' ? v : this.lookup(name, scopes)));
        const out: unknown[] = [];
        while (out.length < n) {
          const v = this.value(ty.of, scopes);
          if ((len.k === 'sentinel' && v === len.value) || ends(v)) continue;
          out.push(v);
        }
        if (len.k === 'cond' && len.keep) {
          // the kept last element: any generated element that ends the array
          for (let v = this.value(ty.of, scopes); ; v = this.value(ty.of, scopes)) {
            if (!ends(v)) continue;
            out.push(v);
            break;
          }
        }
        return out;
      }
      case 'struct':
        return this.struct(ty.fields, scopes);
      case 'ref':
        return this.value(this.p.def.types.get(ty.name)!.ty, []);
      case 'switch': {
        const key = evaluate(ty.on.e, (n) => this.lookup(n, scopes));
        const c = ty.cases.find((x) => x.key === key);
        return this.value(c ? c.ty : ty.dflt!, scopes);
      }
      case 'window':
        return this.value(ty.inner, scopes);
    }
  }
  struct(fields: Field[], scopes: Record<string, unknown>[]): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const inner = [...scopes, out];
    for (const f of fields) {
      if (f.cond && !evaluate(f.cond.e, (n) => this.lookup(n, inner))) continue;
      const v = this.value(f.ty, inner);
      if (v !== undefined && !f.hidden) out[f.name] = v;
    }
    return out;
  }
}

describe('decode(encode(value)) for generated values', () => {
  for (const name of ['testgame', 'echo', 'chatroom', 'modbus', 'fixtures/constructs', 'fixtures/framed']) {
    const p = loadProtocol(name.startsWith('fixtures/') ? join(__dirname, '..', 'fixtures/protocols', name.slice(9)) : join(__dirname, '../../protocols', name));
    if (name === 'fixtures/framed') continue; // its head and flags have dependencies the generator does not know (its vectors cover it)
    for (const m of p.messages) {
      for (const compression of name === 'testgame' && m.transport === 'tcp' ? [-1, 0, 64] : [undefined]) {
        it(`${name} ${p.label(m)}${compression !== undefined ? ` (compression ${compression})` : ''}`, () => {
          fc.assert(
            fc.property(fc.integer(), (seed) => {
              const state = { ...p.newState(), ...(compression !== undefined ? { compression } : {}), joined: m.def.name !== 'join' };
              const gen = new ValueGen(p, mulberry32(seed), state);
              const t = p.transport(m.transport)!;
              const ids = m.def.ids ?? [m.def.id];
              const id = ids[seed % ids.length >>> 0];
              // a head, and frame header values when a condition or compression reads them
              const head = t.def.head ? gen.struct(t.def.head, []) : undefined;
              const frame = t.def.framing.k === 'header' ? gen.struct(t.def.framing.fields, []) : undefined;
              const value = gen.struct(m.def.fields, head || frame ? [{ head, frame }] : []);
              const body = t.encode(m.def.name, value, { ...state }, { dir: m.def.dir, head, id, frame });
              const dirs = m.def.dir ? [m.def.dir] : (['c2s', 's2c'] as const);
              for (const dir of dirs) {
                const d = t.decode(dir, body, { ...state }, { frame });
                expect(d.error).toBeUndefined();
                expect(d.name).toBe(m.def.name);
                expect(diffValues(d.fields, value)).toEqual([]);
                if (head) expect(diffValues(d.head, head).filter((x) => !x.startsWith('length'))).toEqual([]);
                expect(d.trailing).toBe(0);
              }
            }),
            { numRuns: 60 },
          );
        });
      }
    }
  }
});
