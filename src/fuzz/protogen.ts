/**
 * Structured protocol cases: fast-check generates a small abstract protocol (transports, framing,
 * ids, compression, state, enums, named types, messages with nested fields of every kind), which is
 * rendered as protocol YAML. The protocol target then decodes random frames with it and encodes
 * what decoded back. References (lengths, counts, switches, conditions) are resolved at render
 * time to earlier fields in scope, so most generated files compile.
 */
import fc from 'fast-check';

type IntName = string;

type SizeA =
  | { k: 'length'; n: number }
  | { k: 'lengthExpr'; form: number }
  | { k: 'prefix'; t: IntName }
  | { k: 'terminator'; bytes: number[] }
  | { k: 'until' };

type TyA =
  | { k: 'prim'; name: string }
  | { k: 'str'; enc: string; size: SizeA; padded: boolean }
  | { k: 'bytes'; size: SizeA }
  | { k: 'msgpack'; size: SizeA }
  | { k: 'array'; of: TyA; way: 'count' | 'countExpr' | 'prefix' | 'until' | 'sentinel'; n: number; t: IntName; form: number }
  | { k: 'struct'; fields: FieldA[]; size?: SizeA; xor?: number[]; compress?: 'zlib' | 'deflate' }
  | { k: 'switch'; cases: TyA[]; dflt?: TyA; onState: boolean }
  | { k: 'enum'; base: IntName; named: boolean; members: number[] }
  | { k: 'flags'; base: IntName; masks: number[] }
  | { k: 'bits'; base: IntName; cuts: number[] }
  | { k: 'const'; base: string; value: number }
  | { k: 'magic'; bytes: number[] }
  | { k: 'pad'; n: number }
  | { k: 'ref'; idx: number };

interface FieldA {
  ty: TyA;
  cond: boolean;
}

interface MessageA {
  id: number;
  dir: 'c2s' | 's2c' | 'both';
  when: boolean;
  whenForm: number;
  fields: FieldA[];
  set: boolean;
  setForm: number;
}

interface TransportA {
  framing: { k: 'length'; t: IntName; inc: boolean; adjust: number; max?: number } | { k: 'delimiter'; bytes: number[] } | { k: 'fixed'; n: number } | { k: 'chunk' };
  id: IntName | null;
  compression: { alg: 'zlib' | 'deflate'; t: IntName; whenForm: number; thresholdForm: number } | null;
  messages: MessageA[];
}

interface ProtoA {
  endian: 'le' | 'be' | null;
  types: TyA[];
  enumMembers: number[];
  tcp: TransportA | null;
  udp: { id: IntName | null; messages: MessageA[] } | null;
}

const COUNTERS = ['u8', 'u16', 'u16be', 'u24', 'u32', 'u32be', 's8', 's16', 's32', 'varint', 'zigzag'];
const INTS = ['u8', 'u16', 'u16be', 'u24', 'u32le', 'u32be', 's8', 's16', 's24be', 's32', 'u64', 's64be', 'varint', 'zigzag'];
const PRIMS = [...INTS, 'f32', 'f64be', 'bool'];

const counter = fc.constantFrom(...COUNTERS);
const smallBytes = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 3 });

const size: fc.Arbitrary<SizeA> = fc.oneof(
  fc.record({ k: fc.constant('length' as const), n: fc.integer({ min: 0, max: 8 }) }),
  fc.record({ k: fc.constant('lengthExpr' as const), form: fc.nat(99) }),
  fc.record({ k: fc.constant('prefix' as const), t: counter }),
  fc.record({ k: fc.constant('terminator' as const), bytes: smallBytes }),
  fc.record({ k: fc.constant('until' as const) }),
);

const tyArb = fc.letrec<{ ty: TyA; field: FieldA; fields: FieldA[] }>((tie) => ({
  ty: fc.oneof(
    { maxDepth: 4, depthSize: 'small' },
    fc.record({ k: fc.constant('prim' as const), name: fc.constantFrom(...PRIMS) }),
    fc.record({ k: fc.constant('str' as const), enc: fc.constantFrom('utf8', 'latin1', 'utf16le', 'ascii'), size, padded: fc.boolean() }),
    fc.record({ k: fc.constant('bytes' as const), size }),
    fc.record({ k: fc.constant('msgpack' as const), size }),
    fc.record({ k: fc.constant('enum' as const), base: fc.constantFrom('u8', 'u16', 'varint', 's8'), named: fc.boolean(), members: fc.array(fc.integer({ min: -2, max: 300 }), { minLength: 1, maxLength: 4 }) }),
    fc.record({ k: fc.constant('flags' as const), base: fc.constantFrom('u8', 'u16be', 'u32'), masks: fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: 4 }) }),
    fc.record({ k: fc.constant('bits' as const), base: fc.constantFrom('u8', 'u16', 'u16be', 'u32'), cuts: fc.array(fc.integer({ min: 1, max: 31 }), { maxLength: 3 }) }),
    fc.record({ k: fc.constant('const' as const), base: fc.constantFrom('u8', 'u16', 'u64', 'varint', 'f32', 's8'), value: fc.integer({ min: -1, max: 300 }) }),
    fc.record({ k: fc.constant('magic' as const), bytes: smallBytes }),
    fc.record({ k: fc.constant('pad' as const), n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ k: fc.constant('ref' as const), idx: fc.nat(4) }),
    fc.record({
      k: fc.constant('array' as const),
      of: tie('ty'),
      way: fc.constantFrom('count' as const, 'countExpr' as const, 'prefix' as const, 'until' as const, 'sentinel' as const),
      n: fc.integer({ min: 0, max: 4 }),
      t: counter,
      form: fc.nat(99),
    }),
    fc.record(
      {
        k: fc.constant('struct' as const),
        fields: tie('fields'),
        size,
        xor: smallBytes,
        compress: fc.constantFrom('zlib' as const, 'deflate' as const),
      },
      { requiredKeys: ['k', 'fields'] },
    ),
    fc.record(
      { k: fc.constant('switch' as const), cases: fc.array(tie('ty'), { minLength: 1, maxLength: 3 }), dflt: tie('ty'), onState: fc.boolean() },
      { requiredKeys: ['k', 'cases', 'onState'] },
    ),
  ) as fc.Arbitrary<TyA>,
  field: fc.record({ ty: tie('ty') as fc.Arbitrary<TyA>, cond: fc.boolean() }),
  fields: fc.array(tie('field') as fc.Arbitrary<FieldA>, { minLength: 1, maxLength: 5 }),
}));

const message: fc.Arbitrary<MessageA> = fc.record({
  id: fc.integer({ min: 0, max: 300 }),
  dir: fc.constantFrom('c2s' as const, 's2c' as const, 'both' as const),
  when: fc.boolean(),
  whenForm: fc.nat(99),
  fields: tyArb.fields,
  set: fc.boolean(),
  setForm: fc.nat(99),
});

const framing = fc.oneof(
  fc.record({ k: fc.constant('length' as const), t: counter, inc: fc.boolean(), adjust: fc.integer({ min: -4, max: 4 }), max: fc.integer({ min: 1, max: 70000 }) }, { requiredKeys: ['k', 't', 'inc', 'adjust'] }),
  fc.record({ k: fc.constant('delimiter' as const), bytes: smallBytes }),
  fc.record({ k: fc.constant('fixed' as const), n: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ k: fc.constant('chunk' as const) }),
);

export const protoArb: fc.Arbitrary<ProtoA> = fc.record({
  endian: fc.constantFrom('le' as const, 'be' as const, null),
  types: fc.array(tyArb.ty, { maxLength: 3 }),
  enumMembers: fc.array(fc.integer({ min: 0, max: 10 }), { minLength: 1, maxLength: 4 }),
  tcp: fc.option(
    fc.record({
      framing,
      id: fc.option(fc.constantFrom('u8', 'u16', 'varint', 'u16be', 'zigzag'), { nil: null }),
      compression: fc.option(fc.record({ alg: fc.constantFrom('zlib' as const, 'deflate' as const), t: fc.constantFrom('varint', 'u8', 'u32'), whenForm: fc.nat(99), thresholdForm: fc.nat(99) }), { nil: null }),
      messages: fc.array(message, { minLength: 1, maxLength: 4 }),
    }),
    { nil: null },
  ),
  udp: fc.option(fc.record({ id: fc.option(fc.constantFrom('u8', 'varint'), { nil: null }), messages: fc.array(message, { minLength: 1, maxLength: 3 }) }), { nil: null }),
});

// ---------------------------------------------------------------------------------------------
// rendering

/**
 * Expression forms. The first ones are tame (most files decode something); the rest mix types
 * and edge values: negative and huge sizes, division by zero, big shifts, state that becomes a
 * string, a bigint (from a u64 field) or an array, compared and multiplied with numbers.
 */
const TAME = 0.7;
function pickForm(forms: readonly string[], n: number): string {
  const tame = Math.max(1, Math.floor(forms.length / 3));
  return n < TAME * 100 ? forms[n % tame]! : forms[tame + (n % (forms.length - tame))] ?? forms[0]!;
}
const SIZE_FORMS = ['F % 16', 'F * 2 % 16', 'F % 5', 'F - 3', 'F * 1000000', 'F / 0', 'F << 40', 's0', 'flag ? 1 : 2', 'F + s0', '-F', 'F % 0', 's0 * F'];
function sizeExpr(form: number, f: string | null): string {
  const e = pickForm(SIZE_FORMS, form);
  return f ? e.replace(/F/g, f) : e.includes('F') ? 's0 % 4' : e;
}
const WHEN_FORMS = ['s0 >= N', 's0 < N', 'flag', '!flag', "s0 == 'x'", 's0 * 2 > 1', "s0 ~ 'a'", 's0.length > 0', 's0[0] == 1', 's0 > flag'];
const SET_FORMS = [
  '{ s0: "s0 + 1", flag: "!flag" }', '{ s0: "s0 + 1" }', '{ flag: "!flag" }',
  '{ s0: "f0" }', '{ s0: "f0 * 2" }', '{ flag: "f0" }', `{ s0: "'x'" }`, '{ s0: "s0 << 40" }', '{ s0: "1 / 0" }',
  '{ s0: "f0.length" }', '{ s0: "-1" }', '{ s0: "s0 * 1000000000" }', '{ s0: "f0 ~ \'a\'" }', '{ flag: "s0" }',
];
const COMPRESSION_WHEN = ['s0 > 0', 'flag', 's0 >= 0', 's0 * 4 > 0', 's0', "s0 == 'x'", 's0 % 0 == 0'];
const THRESHOLDS = ['s0 * 4', 's0', 's0 - 100', "'x'", 'flag', 's0 / 0', '0 - s0'];

const INT_FIELD = /^[us](8|16|24|32)(le|be)?$|^varint$/;

class Renderer {
  lines: string[] = [];
  nTypes = 0;
  seq = 0;

  flowBytes(b: number[]): string {
    return `[${b.join(', ')}]`;
  }

  size(s: SizeA, scope: string[], allowTerm: boolean): string {
    switch (s.k) {
      case 'length':
        return `length: ${s.n}`;
      case 'lengthExpr':
        return `length: "${sizeExpr(s.form, scope.length ? scope[scope.length - 1]! : null)}"`;
      case 'prefix':
        return `prefix: ${s.t}`;
      case 'terminator':
        return allowTerm ? `terminator: ${this.flowBytes(s.bytes)}` : 'until: end';
      default:
        return 'until: end';
    }
  }

  /** One type as a YAML flow value; `scope` lists the integer fields decoded before it in the same struct. */
  ty(t: TyA, scope: string[], depth: number): string {
    switch (t.k) {
      case 'prim':
        return t.name;
      case 'str':
        return `{ type: string, encoding: ${t.enc}, ${this.size(t.size, scope, true)}${t.padded && (t.size.k === 'length' || t.size.k === 'lengthExpr') ? ', padded: true' : ''} }`;
      case 'bytes':
        return `{ type: bytes, ${this.size(t.size, scope, true)} }`;
      case 'msgpack':
        return `{ type: msgpack, ${this.size(t.size, scope, true)} }`;
      case 'enum': {
        if (t.named) return `{ type: ${t.base}, enum: kinds }`;
        const members = [...new Set(t.members)].map((v, i) => `m${i}: ${v}`);
        return `{ type: ${t.base}, enum: { ${members.join(', ')} } }`;
      }
      case 'flags': {
        const max = t.base === 'u8' ? 255 : 65535;
        return `{ type: ${t.base}, flags: { ${t.masks.map((m, i) => `fl${i}: ${Math.min(m, max)}`).join(', ')} } }`;
      }
      case 'bits': {
        const total = t.base === 'u8' ? 8 : t.base === 'u32' ? 32 : 16;
        const widths: number[] = [];
        let left = total;
        for (const c of t.cuts) {
          const w = Math.min(c, left - 1, 31);
          if (w < 1) break;
          widths.push(w);
          left -= w;
        }
        while (left > 31) {
          widths.push(31);
          left -= 31;
        }
        widths.push(left);
        return `{ type: ${t.base}, bits: { ${widths.map((w, i) => `b${i}: ${w}`).join(', ')} } }`;
      }
      case 'const':
        return `{ type: ${t.base}, const: ${t.base.startsWith('u') || t.base === 'varint' ? Math.abs(t.value) : t.value} }`;
      case 'magic':
        return `{ magic: ${this.flowBytes(t.bytes)} }`;
      case 'pad':
        return `{ pad: ${t.n} }`;
      case 'ref':
        return this.nTypes ? `t${t.idx % this.nTypes}` : 'u8';
      case 'array': {
        const of = this.ty(t.of, [], depth + 1);
        const f = scope.length ? scope[scope.length - 1] : null;
        switch (t.way) {
          case 'count':
            return `{ array: ${of}, count: ${t.n} }`;
          case 'countExpr':
            return `{ array: ${of}, count: "${sizeExpr(t.form, f)}" }`;
          case 'prefix':
            return `{ array: ${of}, prefix: ${t.t} }`;
          case 'until':
            return `{ array: ${of}, until: end }`;
          default:
            return `{ array: ${of}, sentinel: ${t.n} }`;
        }
      }
      case 'struct': {
        const inner = this.fields(t.fields, depth + 1);
        let extra = '';
        if (t.size) {
          extra = `, ${this.size(t.size, scope, false)}`;
          if (t.xor) extra += `, xor: ${this.flowBytes(t.xor)}`;
          if (t.compress) extra += `, compress: ${t.compress}`;
        }
        return `{ fields: ${inner}${extra} }`;
      }
      case 'switch': {
        const on = t.onState || !scope.length ? 's0' : scope[scope.length - 1]!;
        const cases = t.cases.map((c, i) => `${i}: ${this.ty(c, [], depth + 1)}`).join(', ');
        return `{ switch: ${on}, cases: { ${cases} }${t.dflt ? `, default: ${this.ty(t.dflt, [], depth + 1)}` : ''} }`;
      }
    }
  }

  fields(fs: FieldA[], depth: number): string {
    if (!fs.length) return '{}';
    const scope: string[] = [];
    const parts: string[] = [];
    fs.forEach((f, i) => {
      const name = `f${i}`;
      let v = this.ty(f.ty, scope, depth);
      if (f.cond && scope.length) {
        const cond = `if: "${scope[scope.length - 1]} > 1"`;
        v = v.startsWith('{') ? `{ ${cond}, ${v.slice(1).trimStart()}` : `{ type: ${v}, ${cond} }`;
      }
      parts.push(`${name}: ${v}`);
      if (f.ty.k === 'prim' && INT_FIELD.test(f.ty.name)) scope.push(name);
    });
    return `{ ${parts.join(', ')} }`;
  }

  messages(ms: MessageA[], idType: IntName | null, indent: string): void {
    const used = new Set<string>();
    ms.forEach((m) => {
      const name = `msg${this.seq++}`;
      this.lines.push(`${indent}${name}:`);
      if (idType) {
        let id = m.id % (idType === 'u8' ? 256 : 65536);
        while (used.has(`${id}/${m.dir}`) && !m.when) id = (id + 1) % 256;
        used.add(`${id}/${m.dir}`);
        this.lines.push(`${indent}  id: ${id}`);
      }
      if (m.dir !== 'both') this.lines.push(`${indent}  dir: ${m.dir}`);
      if (m.when || !idType) this.lines.push(`${indent}  when: "${pickForm(WHEN_FORMS, m.whenForm).replace('N', String(m.id % 3))}"`);
      this.lines.push(`${indent}  fields: ${this.fields(m.fields, 0)}`);
      if (m.set) this.lines.push(`${indent}  set: ${pickForm(SET_FORMS, m.setForm)}`);
    });
  }

  protocol(p: ProtoA): string {
    this.lines.push('protocol: generated');
    if (p.endian) this.lines.push(`endian: ${p.endian}`);
    this.lines.push('state: { s0: 0, flag: false }');
    this.lines.push(`enums: { kinds: { ${[...new Set(p.enumMembers)].map((v, i) => `k${i}: ${v}`).join(', ')} } }`);
    this.nTypes = p.types.length;
    if (p.types.length) {
      this.lines.push('types:');
      p.types.forEach((t, i) => this.lines.push(`  t${i}: ${this.ty(t.k === 'prim' ? { k: 'struct', fields: [{ ty: t, cond: false }] } : t, [], 0)}`));
    }
    const tcp = p.tcp;
    if (tcp || !p.udp) {
      const t = tcp ?? { framing: { k: 'chunk' as const }, id: null, compression: null, messages: [] };
      this.lines.push('tcp:', '  ports: [24000]');
      const f = t.framing;
      if (f.k === 'length') this.lines.push(`  framing: { length: ${f.t}${f.inc ? ', includes_length: true' : ''}${f.adjust ? `, adjust: ${f.adjust}` : ''}${f.max ? `, max: ${f.max}` : ''} }`);
      else if (f.k === 'delimiter') this.lines.push(`  framing: { delimiter: ${this.flowBytes(f.bytes)} }`);
      else if (f.k === 'fixed') this.lines.push(`  framing: { fixed: ${f.n} }`);
      else this.lines.push('  framing: chunk');
      if (t.id) this.lines.push(`  id: ${t.id}`);
      const cm = t.compression;
      if (cm) this.lines.push(`  compression: { when: "${pickForm(COMPRESSION_WHEN, cm.whenForm)}", algorithm: ${cm.alg}, length: ${cm.t}, threshold: "${pickForm(THRESHOLDS, cm.thresholdForm)}" }`);
      this.lines.push('  messages:');
      this.messages(t.messages.length ? t.messages : [{ id: 1, dir: 'both', when: false, whenForm: 0, fields: [], set: false, setForm: 0 }], t.id, '    ');
    }
    if (p.udp) {
      this.lines.push('udp:', '  ports: [24001]', '  framing: datagram');
      if (p.udp.id) this.lines.push(`  id: ${p.udp.id}`);
      this.lines.push('  messages:');
      this.messages(p.udp.messages, p.udp.id, '    ');
    }
    return this.lines.join('\n') + '\n';
  }
}

export function renderProtocol(p: ProtoA): string {
  return new Renderer().protocol(p);
}

/** One generated protocol description, reproducible from the seed. */
export function generateProtocol(seed: number): string {
  const [p] = fc.sample(protoArb, { seed, numRuns: 1 });
  return renderProtocol(p!);
}
