import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExprError, evaluate, exprRuntime, parseExpr, toJs } from '../../src/protocol/expr';

/** Compile with names bound to an object, as the code generator does with its variables. */
function compiled(src: string, scope: Record<string, unknown>): unknown {
  const names: string[] = [];
  const js = toJs(parseExpr(src), (name) => {
    names.push(name);
    return `s[${JSON.stringify(name)}]`;
  });
  return new Function('rt', 's', `return ${js};`)(exprRuntime, scope);
}
const interp = (src: string, scope: Record<string, unknown>) => evaluate(parseExpr(src), (n) => scope[n]);

describe('expressions', () => {
  const scope = { n: 7, kind: 'player', ents: [{ hp: 3 }, { hp: 9 }], name: 'Alice', flags: { moving: true }, big: 5n };
  const cases: [string, unknown][] = [
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['n - 2 - 1', 4],
    ['n / 2', 3],
    ['-n / 2', -3],
    ['n % 4', 3],
    ['1 << 4 | 1', 17],
    ['n > 3 && n < 10', true],
    ['n == 7 ? "a" : "b"', 'a'],
    ["kind == 'player'", true],
    ['kind != "npc"', true],
    ['ents.length', 2],
    ['ents[1].hp', 9],
    ['ents[5].hp', undefined],
    ['name.length > 3', true],
    ['name ~ "ali"', true],
    ['name ~ "bob"', false],
    ['flags.moving && !flags.hidden', true],
    ['big == 5', true],
    ['0x10 + 0b11', 19],
    ['1_000', 1000],
  ];
  for (const [src, want] of cases) {
    it(`${src} = ${JSON.stringify(want)}, compiled and interpreted`, () => {
      expect(compiled(src, scope)).toEqual(want);
      expect(interp(src, scope)).toEqual(want);
    });
  }

  const errors: [string, number, RegExp][] = [
    ['1 +', 3, /expected a value, found the end/],
    ['a b', 2, /expected an operator or the end, found 'b'/],
    ['(1', 2, /expected '\)'/],
    ['a.', 2, /expected a field name/],
    ['"abc', 0, /unterminated string/],
    ['a = 1', 2, /unexpected character '='/],
    ['a;', 1, /unexpected character ';'/],
    ['__proto__', 0, /not allowed as a name/],
    ['a.constructor', 2, /expected a field name/],
    ['f(1)', 1, /expected an operator or the end, found '\('/],
  ];
  for (const [src, pos, re] of errors) {
    it(`rejects ${JSON.stringify(src)} at column ${pos}`, () => {
      let err: unknown;
      try {
        parseExpr(src);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ExprError);
      expect((err as ExprError).pos).toBe(pos);
      expect((err as ExprError).message).toMatch(re);
    });
  }

  it('compiled and interpreted agree on random arithmetic', () => {
    const leaf = fc.oneof(fc.integer({ min: -50, max: 50 }).map(String), fc.constantFrom('a', 'b', 'c'));
    const expr = fc.letrec((tie) => ({
      e: fc.oneof({ depthSize: 'small' }, leaf, fc.tuple(tie('e'), fc.constantFrom('+', '-', '*', '/', '%', '<', '>=', '==', '!=', '&&', '||', '&', '|', '^', '<<', '>>'), tie('e')).map(([x, op, y]) => `(${x} ${op} ${y})`), tie('e').map((x) => `!${x}`), fc.tuple(tie('e'), tie('e'), tie('e')).map(([c, x, y]) => `(${c} ? ${x} : ${y})`)),
    })).e as fc.Arbitrary<string>;
    fc.assert(
      fc.property(expr, fc.integer({ min: -9, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: -9, max: 9 }), (src, a, b, c) => {
        const s = { a, b, c };
        const x = compiled(src, s);
        const y = interp(src, s);
        expect(Object.is(x, y) || x === y).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
