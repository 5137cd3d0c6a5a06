/**
 * The expression grammar shared by protocol files (lengths, counts, conditions, switch keys,
 * state updates) and the TUI filter line. Parsed by this small Pratt parser, never by eval:
 * compiled code refers to names only through identifiers the caller maps (see `toJs`).
 *
 *   expr    := cond
 *   cond    := or ('?' expr ':' expr)?
 *   binary  := operators by precedence, loosest first:
 *              ||   &&   |   ^   &   == != ~   < <= > >=   << >>   + -   * / %
 *   unary   := ('!' | '-') unary | postfix
 *   postfix := primary ('.' name | '[' expr ']')*
 *   primary := number | string | true | false | name | '(' expr ')'
 *
 * `a ~ b` is true when string `a` contains `b` (case-insensitive); `/` truncates toward zero.
 */

export type Expr =
  | { t: 'num'; v: number; pos: number }
  | { t: 'str'; v: string; pos: number }
  | { t: 'bool'; v: boolean; pos: number }
  | { t: 'id'; name: string; pos: number }
  | { t: 'member'; obj: Expr; name: string; pos: number }
  | { t: 'index'; obj: Expr; idx: Expr; pos: number }
  | { t: 'un'; op: '!' | '-'; a: Expr; pos: number }
  | { t: 'bin'; op: string; a: Expr; b: Expr; pos: number }
  | { t: 'cond'; c: Expr; a: Expr; b: Expr; pos: number };

/** A syntax error; `pos` is the 0-based column within the expression text. */
export class ExprError extends Error {
  constructor(message: string, readonly pos: number) {
    super(message);
  }
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Names that would reach Object.prototype machinery if used as keys. */
const RESERVED = new Set(['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty']);

export function isIdentifier(name: string): boolean {
  return IDENT.test(name) && !RESERVED.has(name);
}

const BINARY: Record<string, number> = {
  '||': 1, '&&': 2, '|': 3, '^': 4, '&': 5,
  '==': 6, '!=': 6, '~': 6,
  '<': 7, '<=': 7, '>': 7, '>=': 7,
  '<<': 8, '>>': 8,
  '+': 9, '-': 9,
  '*': 10, '/': 10, '%': 10,
};
const PUNCT = ['||', '&&', '==', '!=', '<=', '>=', '<<', '>>', '|', '^', '&', '~', '<', '>', '+', '-', '*', '/', '%', '!', '(', ')', '[', ']', '.', '?', ':'];

type Token = { k: 'num'; v: number; pos: number } | { k: 'str'; v: string; pos: number } | { k: 'id'; v: string; pos: number } | { k: 'op'; v: string; pos: number } | { k: 'end'; pos: number };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i];
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      i++;
      continue;
    }
    const start = i;
    if (/[0-9]/.test(ch)) {
      const m = /^(0[xX][0-9a-fA-F_]+|0[bB][01_]+|[0-9][0-9_]*(\.[0-9]+)?([eE][+-]?[0-9]+)?)/.exec(src.slice(i))!;
      const text = m[0].replace(/_/g, '');
      const v = text.length > 2 && text[1].toLowerCase() === 'b' ? parseInt(text.slice(2), 2) : Number(text);
      if (!Number.isFinite(v)) throw new ExprError(`bad number ${m[0]}`, start);
      i += m[0].length;
      if (i < src.length && /[A-Za-z_]/.test(src[i])) throw new ExprError(`bad number ${src.slice(start, i + 1)}`, start);
      out.push({ k: 'num', v, pos: start });
      continue;
    }
    if (/[A-Za-z_]/.test(ch)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      i += m[0].length;
      out.push({ k: 'id', v: m[0], pos: start });
      continue;
    }
    if (ch === '"' || ch === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new ExprError('unterminated string', start);
        const c = src[i++];
        if (c === ch) break;
        if (c !== '\\') {
          s += c;
          continue;
        }
        const e = src[i++];
        if (e === 'n') s += '\n';
        else if (e === 't') s += '\t';
        else if (e === 'r') s += '\r';
        else if (e === '0') s += '\0';
        else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(src.slice(i, i + 2))) {
          s += String.fromCharCode(parseInt(src.slice(i, i + 2), 16));
          i += 2;
        } else if (e === '\\' || e === '"' || e === "'") s += e;
        else throw new ExprError(`unknown escape \\${e ?? ''}`, i - 2);
      }
      out.push({ k: 'str', v: s, pos: start });
      continue;
    }
    const op = PUNCT.find((p) => src.startsWith(p, i));
    if (!op) throw new ExprError(`unexpected character '${ch}'`, i);
    i += op.length;
    out.push({ k: 'op', v: op, pos: start });
  }
  out.push({ k: 'end', pos: src.length });
  return out;
}

/** Parentheses, unary operators and conditionals nested deeper than this are refused (the parser recurses). */
export const MAX_EXPR_DEPTH = 64;

export function parseExpr(src: string): Expr {
  const toks = tokenize(src);
  let i = 0;
  let depth = 0;
  const deeper = (pos: number): void => {
    if (++depth > MAX_EXPR_DEPTH) throw new ExprError(`nested more than ${MAX_EXPR_DEPTH} deep`, pos);
  };
  const peek = () => toks[i];
  const isOp = (v: string) => {
    const t = toks[i];
    return t.k === 'op' && t.v === v;
  };
  const expect = (v: string) => {
    if (!isOp(v)) throw new ExprError(`expected '${v}'${describe(toks[i])}`, toks[i].pos);
    i++;
  };

  function primary(): Expr {
    const t = toks[i++];
    switch (t.k) {
      case 'num':
        return { t: 'num', v: t.v, pos: t.pos };
      case 'str':
        return { t: 'str', v: t.v, pos: t.pos };
      case 'id':
        if (t.v === 'true' || t.v === 'false') return { t: 'bool', v: t.v === 'true', pos: t.pos };
        if (RESERVED.has(t.v)) throw new ExprError(`'${t.v}' is not allowed as a name`, t.pos);
        return { t: 'id', name: t.v, pos: t.pos };
      case 'op':
        if (t.v === '(') {
          deeper(t.pos);
          const e = expr();
          expect(')');
          depth--;
          return e;
        }
        if (t.v === '!' || t.v === '-') {
          deeper(t.pos);
          const a = unary();
          depth--;
          return { t: 'un', op: t.v, a, pos: t.pos };
        }
        break;
    }
    throw new ExprError(`expected a value${describe(t)}`, t.pos);
  }
  function unary(): Expr {
    return postfix(primary());
  }
  function postfix(e: Expr): Expr {
    for (;;) {
      if (isOp('.')) {
        const dot = toks[i++];
        const n = toks[i++];
        if (n.k !== 'id' || RESERVED.has(n.v)) throw new ExprError(`expected a field name after '.'${describe(n)}`, n.pos);
        e = { t: 'member', obj: e, name: n.v, pos: dot.pos };
      } else if (isOp('[')) {
        const br = toks[i++];
        deeper(br.pos);
        const idx = expr();
        expect(']');
        depth--;
        e = { t: 'index', obj: e, idx, pos: br.pos };
      } else return e;
    }
  }
  function binary(minPrec: number): Expr {
    let left = unary();
    for (;;) {
      const t = peek();
      const prec = t.k === 'op' ? BINARY[t.v] : undefined;
      if (prec === undefined || prec < minPrec) return left;
      i++;
      const right = binary(prec + 1);
      left = { t: 'bin', op: (t as { v: string }).v, a: left, b: right, pos: t.pos };
    }
  }
  function expr(): Expr {
    const c = binary(1);
    if (!isOp('?')) return c;
    const q = toks[i++];
    deeper(q.pos);
    const a = expr();
    expect(':');
    const b = expr();
    depth--;
    return { t: 'cond', c, a, b, pos: q.pos };
  }

  const e = expr();
  if (peek().k !== 'end') throw new ExprError(`expected an operator or the end${describe(peek())}`, peek().pos);
  return e;
}

function describe(t: Token): string {
  if (t.k === 'end') return ', found the end';
  return `, found '${t.k === 'str' ? JSON.stringify(t.v) : t.v}'`;
}

/**
 * JavaScript source for an expression. Bare names become whatever `resolve` returns (the compiler
 * maps them to its own generated variables); member names were checked to be identifiers by the
 * parser and are emitted as JSON string keys, so no text from the file reaches the code unquoted.
 * Helpers are expected in scope as `rt`.
 */
export function toJs(e: Expr, resolve: (name: string, pos: number) => string): string {
  const js = (x: Expr): string => toJs(x, resolve);
  switch (e.t) {
    case 'num':
      return `(${String(e.v)})`;
    case 'str':
      return JSON.stringify(e.v);
    case 'bool':
      return e.v ? 'true' : 'false';
    case 'id':
      return resolve(e.name, e.pos);
    case 'member':
      return e.name === 'length' ? `rt.len(${js(e.obj)})` : `(${js(e.obj)})?.[${JSON.stringify(e.name)}]`;
    case 'index':
      return `(${js(e.obj)})?.[${js(e.idx)}]`;
    case 'un':
      return e.op === '-' ? `rt.neg(${js(e.a)})` : `(!${js(e.a)})`;
    case 'cond':
      return `(${js(e.c)} ? ${js(e.a)} : ${js(e.b)})`;
    case 'bin':
      switch (e.op) {
        case '==':
          return `rt.eq(${js(e.a)}, ${js(e.b)})`;
        case '!=':
          return `!rt.eq(${js(e.a)}, ${js(e.b)})`;
        case '~':
          return `rt.contains(${js(e.a)}, ${js(e.b)})`;
        case '&&':
        case '||':
        case '<':
        case '<=':
        case '>':
        case '>=':
          // comparisons work across numbers and bigints as they are
          return `(${js(e.a)} ${e.op} ${js(e.b)})`;
        default:
          return `rt.ar(${JSON.stringify(e.op)}, ${js(e.a)}, ${js(e.b)})`;
      }
  }
}

/** Arithmetic on numbers, and on bigints (64-bit fields) mixed with numbers: exact while it fits in 2^53, a bigint past it. */
function arith(op: string, a: unknown, b: unknown): unknown {
  if (typeof a === 'bigint' || typeof b === 'bigint') {
    const ia = typeof a === 'bigint' || (typeof a === 'number' && Number.isInteger(a));
    const ib = typeof b === 'bigint' || (typeof b === 'number' && Number.isInteger(b));
    if (!ia || !ib) return arith(op, Number(a), Number(b));
    const x = BigInt(a as never);
    const y = BigInt(b as never);
    let r: bigint;
    switch (op) {
      case '+': r = x + y; break;
      case '-': r = x - y; break;
      case '*': r = x * y; break;
      case '/': if (y === 0n) return Number(x) / 0; r = x / y; break;
      case '%': if (y === 0n) return NaN; r = x % y; break;
      case '&': r = x & y; break;
      case '|': r = x | y; break;
      case '^': r = x ^ y; break;
      case '<<': r = x << y; break;
      case '>>': r = x >> y; break;
      default: return undefined;
    }
    return r >= BigInt(Number.MIN_SAFE_INTEGER) && r <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(r) : r;
  }
  const x = a as number;
  const y = b as number;
  switch (op) {
    case '+': return (x as unknown as string) + (y as unknown as string);
    case '-': return x - y;
    case '*': return x * y;
    case '/': return Math.trunc(x / y);
    case '%': return x % y;
    case '&': return x & y;
    case '|': return x | y;
    case '^': return x ^ y;
    case '<<': return x << y;
    case '>>': return x >> y;
  }
  return undefined;
}

/** Runtime helpers the compiled expressions call; the interpreter uses the same ones. */
export const exprRuntime = {
  ar: arith,
  neg(v: unknown): unknown {
    return typeof v === 'bigint' ? arith('-', 0n, v) : -(v as number);
  },
  len(v: unknown): number | undefined {
    if (typeof v === 'string' || Array.isArray(v) || Buffer.isBuffer(v)) return v.length;
    return undefined;
  },
  /** Equality that lets enum names compare with strings and bigints with numbers. */
  eq(a: unknown, b: unknown): boolean {
    if (typeof a === 'bigint' || typeof b === 'bigint') {
      try {
        return BigInt(a as never) === BigInt(b as never);
      } catch {
        return false;
      }
    }
    return a === b;
  },
  contains(a: unknown, b: unknown): boolean {
    if (a === undefined || a === null) return false;
    const hay = Buffer.isBuffer(a) ? a.toString('latin1') : String(a);
    return hay.toLowerCase().includes(String(b).toLowerCase());
  },
};

/** The interpreter: same semantics as `toJs`, for filters typed at run time. */
export function evaluate(e: Expr, lookup: (name: string) => unknown): unknown {
  const ev = (x: Expr) => evaluate(x, lookup);
  switch (e.t) {
    case 'num':
    case 'str':
    case 'bool':
      return e.v;
    case 'id':
      return lookup(e.name);
    case 'member': {
      const o = ev(e.obj);
      if (e.name === 'length') return exprRuntime.len(o);
      return o !== null && typeof o === 'object' && Object.prototype.hasOwnProperty.call(o, e.name) ? (o as Record<string, unknown>)[e.name] : undefined;
    }
    case 'index': {
      const o = ev(e.obj);
      const k = ev(e.idx);
      if (o === null || typeof o !== 'object') return undefined;
      return Object.prototype.hasOwnProperty.call(o, k as PropertyKey) ? (o as Record<string, unknown>)[k as string] : undefined;
    }
    case 'un':
      return e.op === '!' ? !ev(e.a) : exprRuntime.neg(ev(e.a));
    case 'cond':
      return ev(e.c) ? ev(e.a) : ev(e.b);
    case 'bin': {
      if (e.op === '&&') return ev(e.a) && ev(e.b);
      if (e.op === '||') return ev(e.a) || ev(e.b);
      const a = ev(e.a) as never;
      const b = ev(e.b) as never;
      switch (e.op) {
        case '==': return exprRuntime.eq(a, b);
        case '!=': return !exprRuntime.eq(a, b);
        case '~': return exprRuntime.contains(a, b);
        case '<': return a < b;
        case '<=': return a <= b;
        case '>': return a > b;
        case '>=': return a >= b;
      }
      return arith(e.op, a, b);
    }
  }
}
