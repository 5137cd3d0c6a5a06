/**
 * protocol.yaml -> checked IR. Every error names `file:line:col` and what was expected; the loader
 * keeps going after an error in one field or message so that `gamesniff check` lists them all.
 * The format is documented in protocols/README.md.
 */
import { LineCounter, Pair, Scalar, YAMLMap, YAMLSeq, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { ExprError, isIdentifier, parseExpr } from './expr';
import { transformKind, transformNames } from '../transform/registry';
import { WS_MESSAGES } from '../framing/websocket';
import type { Counter, Encoding, EnumDef, Field, FieldTransform, Framing, FramingChoice, IntType, LayerArg, Len, MapField, MapValueKind, MessageDef, ProtocolDef, SourceExpr, TransformUse, TransportDef, Ty } from './ir';

export class ProtocolError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

/** Thrown to abandon the current field or message; the message is already recorded. */
class Abandon extends Error {}

/*
 * The keys and names the loader accepts, as tables: the loader checks against them, and
 * src/protocol/schema.ts builds the JSON Schema for editors from them (one source, no drift).
 */

/** Every key a type written as a map may have (SPEC_KIND_KEYS says which go together). */
export const SPEC_KEYS: ReadonlySet<string> = new Set(['type', 'fields', 'array', 'switch', 'cases', 'default', 'magic', 'pad', 'enum', 'flags', 'bits', 'bit_order', 'const', 'length', 'prefix', 'terminator', 'until', 'keep', 'end', 'sentinel', 'count', 'encoding', 'padded', 'xor', 'compress', 'process', 'if', 'doc']);
/** Keys any type written as a map may have, whatever it is. */
export const SPEC_COMMON_KEYS = ['if', 'doc'] as const;
/**
 * The keys of each kind of type written as a map (besides SPEC_COMMON_KEYS). The kind is the first
 * of pad, magic, array, switch, fields present; else `type:` says it: string, bytes, msgpack, a
 * built-in type (`primitive`: u8, f32...) or a named type (`ref`).
 */
export const SPEC_KIND_KEYS = {
  pad: ['pad'],
  magic: ['magic'],
  array: ['array', 'count', 'prefix', 'until', 'keep', 'end', 'sentinel', 'length', 'xor', 'compress', 'process'],
  switch: ['switch', 'cases', 'default', 'length', 'prefix', 'until', 'xor', 'compress', 'process'],
  struct: ['fields', 'length', 'prefix', 'until', 'xor', 'compress', 'process'],
  string: ['type', 'length', 'prefix', 'terminator', 'until', 'encoding', 'padded', 'xor', 'compress', 'process'],
  bytes: ['type', 'length', 'prefix', 'terminator', 'until', 'xor', 'compress', 'process'],
  msgpack: ['type', 'length', 'prefix', 'terminator', 'until', 'xor', 'compress', 'process'],
  primitive: ['type', 'enum', 'flags', 'bits', 'bit_order', 'const'],
  ref: ['type', 'length', 'prefix', 'until', 'xor', 'compress', 'process'],
} as const satisfies Record<string, readonly string[]>;
/** The types that need a size (`{ type: string, prefix: u8 }`). */
export const SIZED_TYPES = ['string', 'bytes', 'msgpack'] as const;
export const TOP_KEYS = ['protocol', 'description', 'endian', 'state', 'enums', 'types', 'tcp', 'udp'] as const;
/** What `protocol:` (and so a directory under protocols/) may be called. */
export const PROTOCOL_NAME = /^[A-Za-z0-9_-]+$/;
export const ENDIANS = ['le', 'be'] as const;
export const TRANSPORT_KEYS = ['ports', 'websocket', 'msgpack', 'framing', 'stream', 'frame', 'inner', 'compression', 'head', 'id', 'messages', 'c2s', 's2c'] as const;
/** The keys of each kind of framing written as a map; the kind is the first of these keys present. */
export const FRAMING_KEYS = {
  header: ['header', 'length', 'strip', 'max'],
  length: ['length', 'includes_length', 'adjust', 'offset', 'max'],
  delimiter: ['delimiter', 'max'],
  fixed: ['fixed'],
} as const satisfies Record<string, readonly string[]>;
/** Framings written as a word: udp's datagram, tcp's chunk, WebSocket's message. */
export const FRAMING_WORDS = ['datagram', 'chunk', 'message'] as const;
export const COMPRESSION_KEYS = ['when', 'algorithm', 'length', 'threshold'] as const;
/** zlib or raw deflate: `compression: { algorithm }` and a field's `compress:`. */
export const COMPRESS_ALGORITHMS = ['zlib', 'deflate'] as const;
/** `id: { value: EXPRESSION }`. */
export const ID_EXPR_KEYS = ['value'] as const;
/** The directions: a message's `dir:`, and `stream:`/`frame:` as a map of a list per direction. */
export const DIRECTIONS = ['c2s', 's2c'] as const;
/** Transforms of the registry a description does not name in `stream:`/`frame:` (the transport's own settings make them). */
export const SETTING_TRANSFORMS: ReadonlySet<string> = new Set(['compression']);
export const MAP_VALUE_KINDS: readonly MapValueKind[] = ['any', 'string', 'int', 'float', 'bool', 'bytes', 'list', 'map', 'nil'];
/** A key of a keyed msgpack message written as a map. */
export const MAP_FIELD_KEYS = ['type', 'optional', 'doc'] as const;

export const MESSAGE_KEYS = ['id', 'dir', 'when', 'fields', 'set', 'volatile', 'carry', 'doc'] as const;
export const ENCODINGS: Readonly<Record<string, Encoding>> = { utf8: 'utf8', 'utf-8': 'utf8', latin1: 'latin1', ascii: 'latin1', utf16le: 'utf16le', 'utf-16le': 'utf16le' };
export const BIT_ORDERS = ['msb', 'lsb'] as const;

/** The built-in type names; `primitive()` gives each its meaning (the endian default applies to those without le/be). */
export const PRIMITIVE_TYPES: readonly string[] = [
  ...['u', 's'].flatMap((s) => [8, 16, 24, 32, 64].flatMap((b) => (b === 8 ? [`${s}8`] : ['', 'le', 'be'].map((e) => `${s}${b}${e}`)))),
  ...[32, 64].flatMap((b) => ['', 'le', 'be'].map((e) => `f${b}${e}`)),
  'varint',
  'zigzag',
  'varint32',
  'varint64',
  'bool',
];
const PRIMITIVES: ReadonlySet<string> = new Set(PRIMITIVE_TYPES);
/** The built-in types that can count (a length prefix, a count, a frame length, an id): integers up to 32 bits and varints but varint64. */
export const COUNTER_TYPES: readonly string[] = PRIMITIVE_TYPES.filter((n) => /^[us](8|16|24|32)(le|be)?$/.test(n) || n === 'varint' || n === 'varint32' || n === 'zigzag');
const COUNTERS: ReadonlySet<string> = new Set(COUNTER_TYPES);

function isOneOf<T extends string>(list: readonly T[], v: string): v is T {
  return (list as readonly string[]).includes(v);
}

/** Types nested deeper than this in one file are a mistake or an attack, not a protocol. */
const MAX_NESTING = 64;

export function parseProtocol(text: string, file: string): ProtocolDef {
  const lc = new LineCounter();
  const where = (offset: number) => {
    const { line, col } = lc.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  } catch (e) {
    // the YAML parser recurses: a document nested thousands deep overflows the stack
    if (e instanceof RangeError) throw new ProtocolError([`${file}:1:1: nested too deeply to read (${e.message})`]);
    throw e;
  }
  const problems: string[] = [];
  for (const err of doc.errors) problems.push(`${where(err.pos[0])}: ${err.message.split('\n')[0]}`);
  if (problems.length) throw new ProtocolError(problems);
  const l = new Loader(file, where, problems);
  const def = l.guard(() => l.protocol(doc.contents));
  if (problems.length) throw new ProtocolError(problems);
  return def!;
}

class Loader {
  endianLe = true;
  /** How deep spec() is in nested types now. */
  depth = 0;
  /** The transport being loaded is WebSocket (`framing: message` applies). */
  websocket = false;
  /** Named types loaded so far, for checks that look through references. */
  typeDefs = new Map<string, Ty>();
  enums = new Map<string, EnumDef>();
  typeNames = new Set<string>();
  /** Message names so far and the directions they take ('both' for no dir). */
  messageNames = new Map<string, Set<string>>();

  constructor(
    readonly file: string,
    readonly where: (offset: number) => string,
    readonly problems: string[],
  ) {}

  loc(n: Node | Pair | null | undefined): string {
    const node = n instanceof Pair ? (n.key as Node) : n;
    return this.where(node?.range?.[0] ?? 0);
  }
  fail(n: Node | Pair | null | undefined, msg: string): never {
    this.problems.push(`${this.loc(n)}: ${msg}`);
    throw new Abandon();
  }
  /** Run `f`, recording (not propagating) an abandoned part. */
  guard<T>(f: () => T): T | undefined {
    try {
      return f();
    } catch (e) {
      if (e instanceof Abandon) return undefined;
      throw e;
    }
  }

  map(n: unknown, what: string): YAMLMap<Scalar, Node> {
    if (!isMap(n)) this.fail(n as Node, `expected ${what} (a map)`);
    return n as YAMLMap<Scalar, Node>;
  }
  pairs(m: YAMLMap<Scalar, Node>): [string, Node, Pair<Scalar, Node>][] {
    return m.items.map((p) => {
      if (!isScalar(p.key)) this.fail(m, 'expected a plain key');
      const k = p.key.value;
      if (k === null || k === undefined || k === '') this.fail(p.value as Node ?? m, "a key is missing before ':'");
      return [String(k), p.value as Node, p];
    });
  }
  checkKeys(m: YAMLMap<Scalar, Node>, allowed: readonly string[] | ReadonlySet<string>, what: string): void {
    const ok: ReadonlySet<string> = allowed instanceof Set ? allowed : new Set(allowed as readonly string[]);
    for (const [k, , p] of this.pairs(m)) {
      if (!ok.has(k)) this.fail(p, `unknown key '${k}' in ${what}; expected one of ${[...ok].join(', ')}`);
    }
  }
  get(m: YAMLMap<Scalar, Node>, key: string): Node | undefined {
    const p = m.items.find((i) => isScalar(i.key) && String(i.key.value) === key);
    return p ? ((p.value ?? new Scalar(null)) as Node) : undefined;
  }
  scalar(n: Node | undefined, what: string): unknown {
    if (!isScalar(n)) this.fail(n, `expected ${what}`);
    return n.value;
  }
  int(n: Node | undefined, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.scalar(n, what);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(n, `expected ${what} (an integer from ${min} to ${max}), found ${JSON.stringify(v)}`);
    return v;
  }
  str(n: Node | undefined, what: string): string {
    const v = this.scalar(n, what);
    if (typeof v !== 'string') this.fail(n, `expected ${what} (a string), found ${JSON.stringify(v)}`);
    return v;
  }
  ident(n: Node | Pair | undefined, name: string, what: string): string {
    if (!isIdentifier(name)) this.fail(n, `'${name}' is not a valid ${what}: use letters, digits and _, starting with a letter or _ (and not a reserved word)`);
    return name;
  }
  expr(n: Node | undefined, what: string): SourceExpr {
    const v = this.scalar(n, what);
    const src = typeof v === 'number' || typeof v === 'boolean' ? String(v) : v;
    if (typeof src !== 'string') this.fail(n, `expected ${what} (an expression)`);
    const s = n as Scalar;
    const start = s.range?.[0] ?? 0;
    const quoted = s.type === 'QUOTE_DOUBLE' || s.type === 'QUOTE_SINGLE' ? 1 : 0;
    const at = (pos: number) => this.where(start + quoted + pos);
    try {
      return { e: parseExpr(src), src, at };
    } catch (e) {
      if (e instanceof ExprError) {
        this.problems.push(`${at(e.pos)}: in ${what} '${src}': ${e.message}`);
        throw new Abandon();
      }
      throw e;
    }
  }
  /** An xor key is bytes written as bytes: a byte, a list, or hex (0x5ac3). A bare word is a mistake, never its letters. */
  xorKey(n: Node): Buffer {
    if (isSeq(n)) return this.bytes(n, 'the xor key');
    const v = this.scalar(n, 'the xor key');
    if (typeof v === 'number') return Buffer.from([this.int(n, 'the xor key byte', 0, 255)]);
    if (typeof v === 'string' && /^0x([0-9a-fA-F]{2})+$/.test(v)) return Buffer.from(v.slice(2), 'hex');
    this.fail(n, `expected the xor key as bytes: a byte (0x5a), a list ([0x5a, 0xc3]) or hex ("0x5ac3"); found ${JSON.stringify(v)} (a key from the session state is not supported here)`);
  }

  bytes(n: Node | undefined, what: string): Buffer {
    if (isSeq(n)) return Buffer.from((n as YAMLSeq<Node>).items.map((i) => this.int(i, `a byte in ${what}`, 0, 255)));
    const v = this.scalar(n, what);
    if (typeof v === 'number') return Buffer.from([this.int(n, what, 0, 255)]);
    if (typeof v === 'string' && v.length > 0) return Buffer.from(v, 'utf8');
    this.fail(n, `expected ${what}: a string, a byte or a list of bytes`);
  }

  protocol(root: unknown): ProtocolDef | undefined {
    if (root === null || root === undefined) this.fail(null, "the file is empty: expected a protocol description (a map starting with 'protocol: NAME')");
    const m = this.map(root, "a protocol description (a map starting with 'protocol: NAME')");
    return this.guard(() => {
      this.checkKeys(m, TOP_KEYS, 'the protocol');
      const nameNode = this.get(m, 'protocol');
      if (!nameNode) this.fail(m, "missing 'protocol: NAME'");
      const name = this.str(nameNode, 'the protocol name');
      if (!PROTOCOL_NAME.test(name)) this.fail(nameNode, 'expected a protocol name of letters, digits, _ and -');
      const endian = this.get(m, 'endian');
      if (endian) {
        const e = this.str(endian, 'le or be');
        if (!isOneOf(ENDIANS, e)) this.fail(endian, `expected endian: le or be, found '${e}'`);
        this.endianLe = e === 'le';
      }
      const description = this.get(m, 'description');
      const def: ProtocolDef = {
        name,
        file: this.file,
        description: description ? this.str(description, 'a description') : undefined,
        state: {},
        types: new Map(),
        enums: this.enums,
      };
      const state = this.get(m, 'state');
      if (state) {
        for (const [k, v, p] of this.pairs(this.map(state, 'state variables'))) {
          this.guard(() => {
            this.ident(p, k, 'state variable name');
            const val = this.scalar(v, 'an initial value');
            if (typeof val !== 'number' && typeof val !== 'string' && typeof val !== 'boolean') this.fail(v, 'expected a number, string or boolean initial value');
            def.state[k] = val;
          });
        }
      }
      const enums = this.get(m, 'enums');
      if (enums) for (const [k, v, p] of this.pairs(this.map(enums, 'enums'))) this.guard(() => this.enums.set(this.ident(p, k, 'enum name'), this.enumDef(k, v)));
      const types = this.get(m, 'types');
      const typePairs = types ? this.pairs(this.map(types, 'types')) : [];
      // Names first, so types can refer to each other in any order.
      for (const [k, , p] of typePairs) this.guard(() => this.typeNames.add(this.ident(p, k, 'type name')));
      for (const [k, v, p] of typePairs) {
        this.guard(() => {
          if (this.primitive(k)) this.fail(p, `type name '${k}' hides the built-in type`);
          const ty = this.spec(v, `type ${k}`);
          def.types.set(k, { ty, loc: this.loc(p) });
          this.typeDefs.set(k, ty);
        });
      }
      for (const kind of ['tcp', 'udp'] as const) {
        const t = this.get(m, kind);
        if (t) def[kind] = this.guard(() => this.transport(kind, t));
      }
      if (!this.get(m, 'tcp') && !this.get(m, 'udp')) this.fail(m, "expected a 'tcp:' or 'udp:' section");
      return def;
    });
  }

  enumDef(name: string, n: Node): EnumDef {
    const def: EnumDef = { name, byValue: new Map(), byName: new Map() };
    for (const [k, v, p] of this.pairs(this.map(n, `enum ${name} (name: value)`))) {
      this.ident(p, k, 'enum member name');
      const val = this.int(v, `the value of ${name}.${k}`, -(2 ** 53), 2 ** 53);
      if (def.byValue.has(val)) this.fail(v, `${name}.${k} repeats the value ${val} of ${def.byValue.get(val)}`);
      def.byValue.set(val, k);
      def.byName.set(k, val);
    }
    return def;
  }

  transport(kind: 'tcp' | 'udp', n: Node): TransportDef {
    const m = this.map(n, `the ${kind} section`);
    this.checkKeys(m, TRANSPORT_KEYS, `the ${kind} section`);
    const portsNode = this.get(m, 'ports');
    const ports = portsNode ? (isSeq(portsNode) ? (portsNode as YAMLSeq<Node>).items.map((i) => this.int(i, 'a port', 1, 65535)) : [this.int(portsNode, 'a port', 1, 65535)]) : [];
    const wsNode = this.get(m, 'websocket');
    let websocket = false;
    if (wsNode) {
      if (!isScalar(wsNode) || typeof wsNode.value !== 'boolean') this.fail(wsNode, 'expected websocket: true (the HTTP upgrade, then WebSocket frames both ways) or false');
      websocket = wsNode.value as boolean;
      if (websocket && kind !== 'tcp') this.fail(wsNode, 'WebSocket runs over tcp: put websocket: true in the tcp section');
      if (websocket && this.get(m, 'stream')) this.fail(this.get(m, 'stream')!, "no 'stream:' transforms under WebSocket: a cipher on what the frames carry goes under 'frame:' (it applies to each WebSocket message)");
    }
    this.websocket = websocket;
    const mpNode = this.get(m, 'msgpack');
    let msgpack: TransportDef['msgpack'];
    if (mpNode) {
      msgpack = { key: this.str(mpNode, 'the map key naming each message (msgpack: t)') };
      for (const k of ['id', 'head'] as const) if (this.get(m, k)) this.fail(this.get(m, k)!, `'${k}:' does not apply with msgpack: ${msgpack.key} (each message is one msgpack map; its key '${msgpack.key}' names it)`);
    }
    const framingNode = this.get(m, 'framing') ?? (websocket ? new Scalar('message') : undefined);
    if (!framingNode) this.fail(m, `missing 'framing:' in the ${kind} section`);
    const exprs: SourceExpr[] = [];
    const exprIndex = (n: Node, what: string): number => exprs.push(this.expr(n, what)) - 1;
    let framing: Framing;
    let framings: FramingChoice[] | undefined;
    if (isSeq(framingNode)) {
      // framing chosen by state: [{ when: EXPR, ...framing }, ..., { ...framing }]
      const items = (framingNode as YAMLSeq<Node>).items;
      if (items.length === 0) this.fail(framingNode, 'expected at least one framing');
      framings = items.map((item, i) => {
        const im = this.map(item, 'a framing choice (a map: when, and the framing)');
        const whenNode = this.get(im, 'when');
        const last = i === items.length - 1;
        if (!whenNode && !last) this.fail(im, "every framing choice but the last needs 'when:' (the first whose condition holds is used)");
        if (whenNode && last) this.fail(whenNode, "the last framing choice has no 'when:': it is used when no other applies");
        const rest = new YAMLMap<Scalar, Node>();
        rest.items = im.items.filter((p) => !(isScalar(p.key) && p.key.value === 'when'));
        rest.range = im.range;
        const f = this.framing(kind, rest.items.length === 1 && isScalar(rest.items[0]!.key) && rest.items[0]!.key.value === 'framing' ? rest.items[0]!.value as Node : rest);
        return { when: whenNode ? exprIndex(whenNode, 'the framing choice') : undefined, framing: f };
      });
      if (framings.filter((c) => c.framing.k === 'header').length > 1) this.fail(framingNode, 'at most one framing choice can be a header of fields');
      framing = framings.find((c) => c.framing.k === 'header')?.framing ?? framings[framings.length - 1]!.framing;
    } else framing = this.framing(kind, framingNode);
    const stream = this.transforms(kind, 'stream', this.get(m, 'stream'), exprIndex);
    const frame = this.transforms(kind, 'frame', this.get(m, 'frame'), exprIndex);
    const innerNode = this.get(m, 'inner');
    let inner: Framing | undefined;
    if (innerNode) {
      if (kind === 'udp') this.fail(innerNode, "'inner:' frames a stream of frame bodies: it is for tcp");
      inner = this.framing(kind, innerNode);
      if (inner.k === 'header') this.fail(innerNode, "inner framing is length, delimiter or fixed (a header of fields goes in the outer 'framing:')");
    }
    const headNode = this.get(m, 'head');
    const head = headNode ? this.fields(headNode, `the ${kind} head`) : undefined;
    const idNode = this.get(m, 'id');
    let id: Counter | undefined;
    let idExpr: SourceExpr | undefined;
    if (idNode && isMap(idNode)) {
      const im = this.map(idNode, 'the message id');
      this.checkKeys(im, ID_EXPR_KEYS, 'the message id');
      if (!head) this.fail(idNode, "id: { value: EXPRESSION } computes the id from the head's fields: declare 'head:' too");
      idExpr = this.expr(this.get(im, 'value') ?? this.fail(im, "expected id: { value: EXPRESSION over the head's fields }"), 'the message id');
    } else if (idNode) id = this.counter(idNode, 'the message id type');
    const t: TransportDef = { kind, ports, framing, framings, stream, frame, inner, exprs, id, idExpr, head, messages: [], msgpack, websocket: websocket || undefined };
    const comp = this.get(m, 'compression');
    if (comp) {
      const cm = this.map(comp, 'compression settings');
      this.checkKeys(cm, COMPRESSION_KEYS, 'compression');
      const alg = this.get(cm, 'algorithm');
      const algorithm = alg ? this.str(alg, 'zlib or deflate') : 'zlib';
      if (!isOneOf(COMPRESS_ALGORITHMS, algorithm)) this.fail(alg, `expected algorithm: zlib or deflate, found '${algorithm}'`);
      const whenNode = this.get(cm, 'when') ?? this.fail(cm, "compression needs 'when:'");
      const lenNode = this.get(cm, 'length');
      const thrNode = this.get(cm, 'threshold');
      t.compression = {
        when: this.expr(whenNode, 'compression.when'),
        algorithm,
        length: lenNode ? this.counter(lenNode, 'the uncompressed length type') : undefined,
        threshold: thrNode ? this.expr(thrNode, 'compression.threshold') : undefined,
      };
      // compression is the registry's `compression`, the last transform on each frame
      const args: Record<string, LayerArg> = { algorithm: { lit: algorithm } };
      if (t.compression.length) args.length = { lit: t.compression.length };
      if (thrNode) args.threshold = { x: exprIndex(thrNode, 'compression.threshold') };
      t.frame.push({ name: 'compression', dirs: ['c2s', 's2c'], when: exprIndex(whenNode, 'compression.when'), args, loc: this.loc(comp) });
    }
    // messages: either way (dir: on each); c2s: and s2c: hold the messages of one direction, so
    // that one name can mean a request one way and its answer the other (chat both ways)
    const sections = (['messages', 'c2s', 's2c'] as const).filter((k) => this.get(m, k));
    if (sections.length === 0) this.fail(m, `missing 'messages:' (or 'c2s:' and 's2c:') in the ${kind} section`);
    for (const section of sections) {
      const node = this.get(m, section)!;
      for (const [k, v, p] of this.pairs(this.map(node, `${section} messages`))) {
        this.guard(() => {
          this.ident(p, k, 'message name');
          if (websocket && (WS_MESSAGES as readonly string[]).includes(k)) this.fail(p, `'${k}' is a message of the WebSocket layer itself (${WS_MESSAGES.join(', ')}): choose another name`);
          const def = this.message(k, v, p, t, section === 'messages' ? undefined : section);
          this.claimName(k, def.dir, p);
          t.messages.push(def);
        });
      }
    }
    if (!id && !idExpr && !msgpack && t.messages.filter((x) => !x.when).length > 2) this.fail(m, `without an 'id:' a transport dispatches on direction and 'when:' only; give the messages an id`);
    return t;
  }

  /** `stream:` or `frame:`: a list of transforms for both directions, or a map of c2s: and s2c: lists. */
  transforms(kind: 'tcp' | 'udp', place: 'stream' | 'frame', n: Node | undefined, exprIndex: (n: Node, what: string) => number): TransformUse[] {
    if (!n) return [];
    if (place === 'stream' && kind === 'udp') this.fail(n, "udp has no byte stream: put datagram transforms under 'frame:'");
    const lists: [Node, ('c2s' | 's2c')[]][] = [];
    if (isMap(n)) {
      const m = this.map(n, `${place} transforms`);
      this.checkKeys(m, DIRECTIONS, `${place} transforms (a list, or c2s: and s2c: lists)`);
      for (const d of DIRECTIONS) {
        const l = this.get(m, d);
        if (l) lists.push([l, [d]]);
      }
    } else lists.push([n, ['c2s', 's2c']]);
    const out: TransformUse[] = [];
    for (const [l, dirs] of lists) {
      if (!isSeq(l)) this.fail(l, `expected ${place}: a list of transforms (- transform: NAME ...)`);
      for (const item of (l as YAMLSeq<Node>).items) {
        const u = this.guard(() => this.transformUse(item, place, dirs, exprIndex));
        if (u) out.push(u);
      }
    }
    return out;
  }

  transformUse(n: Node, place: 'stream' | 'frame', dirs: ('c2s' | 's2c')[], exprIndex: (n: Node, what: string) => number): TransformUse {
    const m = this.map(n, 'a transform (a map: transform: NAME, when:, and its parameters)');
    const nameNode = this.get(m, 'transform') ?? this.fail(m, `expected 'transform: NAME' (one of ${transformNames().join(', ')})`);
    const name = this.str(nameNode, 'a transform name');
    const kind = transformKind(name);
    if (!kind) this.fail(nameNode, `unknown transform '${name}'; expected one of ${transformNames().join(', ')}`);
    if (!kind.places.includes(place)) this.fail(nameNode, `${name} cannot be used on ${place === 'stream' ? 'the stream' : 'a frame'} (it goes on: ${kind.places.join(', ')})`);
    if (SETTING_TRANSFORMS.has(name)) this.fail(nameNode, "write compression as the transport's 'compression:' settings");
    this.checkKeys(m, ['transform', 'when', ...kind.params.map((p) => p.name)], `transform ${name}`);
    const whenNode = this.get(m, 'when');
    const args: Record<string, LayerArg> = {};
    for (const p of kind.params) {
      const v = this.get(m, p.name);
      if (!v) {
        if (p.required) this.fail(m, `transform ${name} needs '${p.name}:' (${p.doc})`);
        continue;
      }
      args[p.name] = this.layerArg(v, p.kind, p.choices, `${name}.${p.name}`, exprIndex);
    }
    return { name, dirs, when: whenNode ? exprIndex(whenNode, `${name}.when`) : undefined, args, loc: this.loc(n) };
  }

  /** A literal (bytes as a list or "0x.." hex, a number, true/false, a choice) or else an expression. */
  layerArg(n: Node, kind: string, choices: string[] | undefined, what: string, exprIndex: (n: Node, what: string) => number): LayerArg {
    if (kind === 'counter') return { lit: this.counter(n, what) };
    if (kind === 'bytes' && isSeq(n)) return { lit: this.bytes(n, what) };
    const v = this.scalar(n, what);
    if (kind === 'bytes' && typeof v === 'string' && /^0x([0-9a-fA-F]{2})+$/.test(v)) return { lit: Buffer.from(v.slice(2), 'hex') };
    if (kind === 'bytes' && typeof v === 'number') this.fail(n, `expected ${what} as bytes: a list ([0x5a, 0xc3]), hex ("0x5ac3") or an expression (a state variable a message or a key log sets, frame.mask)`);
    if (kind === 'choice') {
      if (typeof v !== 'string' || !choices!.includes(v)) this.fail(n, `expected ${what}: ${choices!.join(' or ')}`);
      return { lit: v };
    }
    if (kind === 'int' && typeof v === 'number') return { lit: this.int(n, what) };
    if (kind === 'bool' && typeof v === 'boolean') return { lit: v };
    return { x: exprIndex(n, what) };
  }

  framing(kind: 'tcp' | 'udp', n: Node): Framing {
    if (isScalar(n)) {
      const v = String(n.value);
      if (!isOneOf(FRAMING_WORDS, v)) this.fail(n, `expected framing: datagram, chunk or a map with length, delimiter or fixed; found '${v}'`);
      if (v === 'datagram') {
        if (kind !== 'udp') this.fail(n, "'datagram' framing is for udp; for tcp use length, delimiter, fixed or chunk");
        return { k: 'datagram' };
      }
      if (v === 'message') {
        if (!this.websocket) this.fail(n, "'message' framing (each WebSocket message is one message) needs websocket: true");
        return { k: 'datagram' };
      }
      if (v === 'chunk') {
        if (kind !== 'tcp') this.fail(n, "'chunk' framing is for tcp; udp uses 'datagram'");
        return { k: 'chunk' };
      }
    }
    const m = this.map(n, 'framing');
    if (kind === 'udp') this.fail(n, "udp messages are whole datagrams: use 'framing: datagram'");
    const max = this.get(m, 'max') ? this.int(this.get(m, 'max'), 'the largest frame in bytes', 1, 1 << 30) : 16 << 20;
    if (this.get(m, 'header')) {
      this.checkKeys(m, FRAMING_KEYS.header, 'header framing');
      const fields = this.fields(this.get(m, 'header')!, 'the frame header');
      const lenNode = this.get(m, 'length') ?? this.fail(m, "header framing needs 'length:', an expression over the header's fields giving the body's size");
      const length = this.expr(lenNode, 'the body length');
      const stripNode = this.get(m, 'strip');
      const strip = stripNode ? this.scalar(stripNode, 'true or false') : true;
      if (typeof strip !== 'boolean') this.fail(stripNode, 'expected strip: true (messages start after the header) or false (the header is part of each message)');
      const first = fields[0];
      const magic = first && first.ty.k === 'magic' && !first.cond ? first.ty.bytes : null;
      return { k: 'header', fields, length, strip, max, magic, loc: this.loc(n) };
    }
    if (this.get(m, 'length')) {
      this.checkKeys(m, FRAMING_KEYS.length, 'length framing');
      const inc = this.get(m, 'includes_length');
      const includesLength = inc ? this.scalar(inc, 'true or false') : false;
      if (typeof includesLength !== 'boolean') this.fail(inc, 'expected includes_length: true or false');
      const adj = this.get(m, 'adjust');
      const t = this.counter(this.get(m, 'length')!, 'the length prefix type');
      const offNode = this.get(m, 'offset');
      const offset = offNode ? this.int(offNode, 'the bytes before the length field', 0, 1 << 16) : 0;
      if (offset > 0 && t.k === 'varint') this.fail(offNode, 'a length field at an offset must be a fixed-size integer (u16be...), not a varint');
      return { k: 'length', t, includesLength, adjust: adj ? this.int(adj, 'an adjustment', -65536, 65536) : 0, max, offset };
    }
    if (this.get(m, 'delimiter')) {
      this.checkKeys(m, FRAMING_KEYS.delimiter, 'delimiter framing');
      return { k: 'delimiter', bytes: this.bytes(this.get(m, 'delimiter'), 'the delimiter'), max };
    }
    if (this.get(m, 'fixed')) {
      this.checkKeys(m, FRAMING_KEYS.fixed, 'fixed framing');
      return { k: 'fixed', size: this.int(this.get(m, 'fixed'), 'the frame size', 1, 1 << 24) };
    }
    this.fail(n, 'expected framing with length, delimiter or fixed');
  }

  /** A name is unique per direction, across tcp and udp: once each way, or once for both. */
  claimName(name: string, dir: 'c2s' | 's2c' | undefined, p: Pair): void {
    const taken = this.messageNames.get(name) ?? new Set<string>();
    const want = dir ?? 'both';
    if (taken.has('both') || taken.has(want) || (want === 'both' && taken.size > 0)) {
      this.fail(p, `message '${name}' is defined twice for ${want === 'both' ? 'a direction' : want} (a name is unique per direction, across tcp and udp; the same name both ways goes under c2s: and s2c:)`);
    }
    taken.add(want);
    this.messageNames.set(name, taken);
  }

  message(name: string, n: Node, p: Pair, t: TransportDef, sectionDir?: 'c2s' | 's2c'): MessageDef {
    const m = this.map(n ?? new YAMLMap(), `message ${name}`);
    this.checkKeys(m, MESSAGE_KEYS, `message ${name}`);
    if (sectionDir && this.get(m, 'dir')) this.fail(this.get(m, 'dir'), `message ${name} is under ${sectionDir}: (its direction); 'dir:' is for messages under 'messages:'`);
    const idNode = this.get(m, 'id');
    let id: number | undefined;
    let ids: number[] | undefined;
    let key: string | number | undefined;
    if (t.msgpack) {
      // the value at the map's key that names this message: a string or an integer, the name by default
      const v = idNode ? this.scalar(idNode, `the value of ${t.msgpack.key} naming ${name}`) : name;
      if (typeof v !== 'string' && !(typeof v === 'number' && Number.isSafeInteger(v))) this.fail(idNode!, `expected the value of '${t.msgpack.key}' naming ${name}: a string or an integer`);
      key = v as string | number;
    } else if (t.id || t.idExpr) {
      if (!idNode) this.fail(p, `message ${name} needs an 'id:' (the ${t.kind} section declares an id)`);
      const max = t.id?.k === 'int' && t.id.size < 8 ? 2 ** (t.id.size * 8) - 1 : Number.MAX_SAFE_INTEGER;
      if (isSeq(idNode)) {
        ids = (idNode as YAMLSeq<Node>).items.map((i) => this.int(i, 'a message id', 0, max));
        if (ids.length === 0) this.fail(idNode, 'expected at least one id');
        id = ids[0];
      } else id = this.int(idNode, 'the message id', 0, max);
    } else if (idNode) this.fail(idNode, `message ${name} has an id but the ${t.kind} section has no 'id:' type`);
    const dirNode = this.get(m, 'dir');
    let dir: 'c2s' | 's2c' | undefined = sectionDir;
    if (dirNode) {
      const d = this.str(dirNode, 'c2s or s2c');
      if (!isOneOf(DIRECTIONS, d)) this.fail(dirNode, `expected dir: c2s or s2c, found '${d}'`);
      dir = d;
    }
    const whenNode = this.get(m, 'when');
    const when = whenNode ? this.expr(whenNode, `message ${name} 'when'`) : undefined;
    if (id !== undefined && !when) {
      const clash = t.messages.find((o) => o.id === id && !o.when && (!o.dir || !dir || o.dir === dir));
      if (clash) this.fail(idNode, `id ${id} of ${name} is already used by ${clash.name} in the same direction; give them 'dir:' or 'when:'`);
    }
    if (key !== undefined && !when) {
      const clash = t.messages.find((o) => o.key === key && !o.when && (!o.dir || !dir || o.dir === dir));
      if (clash) this.fail(idNode ?? p, `${t.msgpack!.key}: ${JSON.stringify(key)} of ${name} already names ${clash.name} in the same direction; give them 'dir:' or 'when:'`);
    }
    const fieldsNode = this.get(m, 'fields');
    const given = fieldsNode && !(isScalar(fieldsNode) && fieldsNode.value === null);
    const fields = given && !t.msgpack ? this.fields(fieldsNode, name) : [];
    const mapFields = t.msgpack ? (given ? this.mapFields(fieldsNode, name, t.msgpack.key) : []) : undefined;
    const set: MessageDef['set'] = [];
    const setNode = this.get(m, 'set');
    if (setNode) for (const [k, v, sp] of this.pairs(this.map(setNode, 'state updates (variable: expression)'))) set.push({ name: this.ident(sp, k, 'state variable'), x: this.expr(v, `set ${k}`) });
    const volNode = this.get(m, 'volatile');
    const volatile = volNode ? (isSeq(volNode) ? (volNode as YAMLSeq<Node>).items.map((i) => this.str(i, 'a field path')) : [this.str(volNode, 'a field path')]) : [];
    const carry: MessageDef['carry'] = [];
    const carryNode = this.get(m, 'carry');
    if (carryNode && isSeq(carryNode)) for (const i of (carryNode as YAMLSeq<Node>).items) carry.push({ path: this.str(i, 'a field path'), targets: [] });
    else if (carryNode && isMap(carryNode)) {
      for (const [k, v] of this.pairs(carryNode as YAMLMap<Scalar, Node>)) {
        const targets = isSeq(v) ? (v as YAMLSeq<Node>).items.map((i) => this.str(i, 'MESSAGE.PATH')) : [this.str(v, 'MESSAGE.PATH')];
        for (const tg of targets) if (!/^((c2s|s2c)\.)?[A-Za-z_][A-Za-z0-9_]*\.[^.]/.test(tg)) this.fail(v, `expected where to carry ${k} as MESSAGE.PATH (e.g. move.player_id), found '${tg}'`);
        carry.push({ path: k, targets });
      }
    } else if (carryNode) carry.push({ path: this.str(carryNode, 'a field path'), targets: [] });
    const doc = this.get(m, 'doc');
    return { name, id, ids, key, mapFields, dir, when, fields, set, volatile, carry, loc: this.loc(p), doc: doc ? this.str(doc, 'a description') : undefined };
  }

  /** The keys of a keyed msgpack message: `name: kind` or `name: { type: kind, optional: true }`. */
  mapFields(n: Node, owner: string, key: string): MapField[] {
    const out: MapField[] = [];
    const kindOf = (v: Node): MapValueKind => {
      const k = this.str(v, 'a msgpack value kind');
      if (!MAP_VALUE_KINDS.includes(k as MapValueKind)) this.fail(v, `expected a msgpack value kind (${MAP_VALUE_KINDS.join(', ')}), found '${k}'`);
      return k as MapValueKind;
    };
    for (const [k, v, p] of this.pairs(this.map(n, `the keys of ${owner} (name: kind)`))) {
      this.guard(() => {
        this.ident(p, k, 'field name');
        if (k === key) this.fail(p, `'${k}' is the key naming the message: it is not a field`);
        if (out.some((f) => f.name === k)) this.fail(p, `field '${k}' appears twice in ${owner}`);
        if (isMap(v)) {
          const fm = v as YAMLMap<Scalar, Node>;
          this.checkKeys(fm, MAP_FIELD_KEYS, `${owner}.${k}`);
          const opt = this.get(fm, 'optional');
          const optional = opt ? this.scalar(opt, 'true or false') : false;
          if (typeof optional !== 'boolean') this.fail(opt, 'expected optional: true or false');
          const doc = this.get(fm, 'doc');
          out.push({ name: k, kind: kindOf(this.get(fm, 'type') ?? this.fail(fm, `${owner}.${k} needs 'type:'`)), optional, loc: this.loc(p), doc: doc ? this.str(doc, 'a description') : undefined });
        } else out.push({ name: k, kind: kindOf(v), optional: false, loc: this.loc(p) });
      });
    }
    return out;
  }

  fields(n: Node, owner: string): Field[] {
    const out: Field[] = [];
    for (const [k, v, p] of this.pairs(this.map(n, `the fields of ${owner} (name: type)`))) {
      this.guard(() => {
        this.ident(p, k, 'field name');
        if (out.some((f) => f.name === k)) this.fail(p, `field '${k}' appears twice in ${owner}`);
        const m = isMap(v) ? (v as YAMLMap<Scalar, Node>) : undefined;
        const cond = m && this.get(m, 'if') ? this.expr(this.get(m, 'if'), `the condition of ${owner}.${k}`) : undefined;
        const ty = this.spec(v, `${owner}.${k}`);
        const doc = m && this.get(m, 'doc') ? this.str(this.get(m, 'doc'), 'a description') : undefined;
        out.push({ name: k, ty, cond, hidden: ty.k === 'pad' || ty.k === 'magic', loc: this.loc(p), doc });
      });
    }
    return out;
  }

  primitive(name: string): Ty | undefined {
    if (!PRIMITIVES.has(name)) return undefined;
    const m = /^([us])(8|16|24|32|64)(le|be)?$/.exec(name);
    if (m) {
      const size = (Number(m[2]) / 8) as IntType['size'];
      if (size === 1 && m[3]) return undefined;
      return { k: 'int', size, signed: m[1] === 's', le: m[3] ? m[3] === 'le' : this.endianLe };
    }
    const f = /^f(32|64)(le|be)?$/.exec(name);
    if (f) return { k: 'float', size: f[1] === '32' ? 4 : 8, le: f[2] ? f[2] === 'le' : this.endianLe };
    if (name === 'varint') return { k: 'varint', zigzag: false };
    if (name === 'zigzag') return { k: 'varint', zigzag: true };
    if (name === 'varint32') return { k: 'varint', zigzag: false, width: 32 };
    if (name === 'varint64') return { k: 'varint', zigzag: false, width: 64 };
    if (name === 'bool') return { k: 'bool' };
    return undefined;
  }

  counter(n: Node, what: string): Counter {
    const name = this.str(n, what);
    const t = COUNTERS.has(name) ? this.primitive(name) : undefined;
    if (!t || (t.k !== 'int' && t.k !== 'varint')) this.fail(n, `expected ${what}: u8, u16, u24, u32 (le/be), s8..s32, varint, varint32 or zigzag; found '${name}'`);
    return t;
  }

  /** A type written as a name or as a map of settings. */
  spec(n: Node, owner: string): Ty {
    if (this.depth >= MAX_NESTING) this.fail(n, `types nested more than ${MAX_NESTING} deep in ${owner}: use named types`);
    this.depth++;
    try {
      return this.specAt(n, owner);
    } finally {
      this.depth--;
    }
  }

  private specAt(n: Node, owner: string): Ty {
    if (isScalar(n)) {
      const name = String(n.value);
      const prim = this.primitive(name);
      if (prim) return prim;
      if (this.typeNames.has(name)) return { k: 'ref', name };
      if (isOneOf(SIZED_TYPES, name)) this.fail(n, `${name} needs a size: write { type: ${name}, prefix: u16 } (or length, terminator, until: end)`);
      this.fail(n, `unknown type '${name}' for ${owner}; expected u8..u64, s8..s64 (le/be), f32, f64, varint, zigzag, bool or one of the types: ${[...this.typeNames].join(', ') || '(none)'}`);
    }
    const m = this.map(n, `a type for ${owner}`);
    this.checkKeys(m, SPEC_KEYS, owner);
    const has = (k: string) => this.get(m, k) !== undefined;
    const only = (allowed: readonly string[], what: string) => {
      for (const [k, , p] of this.pairs(m)) if (!allowed.includes(k) && !isOneOf(SPEC_COMMON_KEYS, k)) this.fail(p, `'${k}' does not apply to ${what}`);
    };

    if (has('pad')) {
      only(SPEC_KIND_KEYS.pad, 'padding');
      return { k: 'pad', n: this.int(this.get(m, 'pad'), 'the padding size', 1, 1 << 20) };
    }
    if (has('magic')) {
      only(SPEC_KIND_KEYS.magic, 'a magic value');
      return { k: 'magic', bytes: this.bytes(this.get(m, 'magic'), 'the magic bytes') };
    }

    let ty: Ty;
    let sizeUsed = false;
    // For arrays, prefix/until give the element count, not a byte size.
    let countKey = '';
    if (has('array')) {
      only(SPEC_KIND_KEYS.array, 'an array');
      const of = this.spec(this.get(m, 'array')!, `${owner}[]`);
      const ways = ['count', 'prefix', 'until', 'sentinel'].filter(has);
      if (ways.length !== 1) this.fail(m, `array ${owner} needs exactly one of count, prefix, until (end or a condition on item), sentinel`);
      const way = ways[0];
      countKey = way;
      const node = this.get(m, way)!;
      let len: Len;
      if (way === 'count') len = this.lenValue(node, 'the element count');
      else if (way === 'prefix') len = { k: 'prefix', t: this.counter(node, 'the count prefix type') };
      else if (way === 'until') len = this.scalar(node, "until: end or a condition") === 'end' ? { k: 'eos' } : this.untilCond(m, node, owner);
      else {
        const v = this.scalar(node, 'a sentinel value');
        if (typeof v !== 'number' && typeof v !== 'string' && typeof v !== 'boolean') this.fail(node, 'expected a sentinel number, string or boolean');
        const el = this.resolved(of);
        // (a type defined further down is not known yet: its elements are checked when decoding)
        if (!['int', 'varint', 'float', 'bool', 'enum', 'str', 'ref'].includes(el.k)) {
          this.fail(node, `a sentinel compares whole elements, and the elements of ${owner} are ${el.k === 'struct' ? 'structs' : el.k}: end it with until: "item.FIELD == VALUE" instead`);
        }
        len = { k: 'sentinel', value: v };
      }
      if ((has('keep') || has('end')) && len.k !== 'cond') this.fail(m, `'keep' and 'end' go with until: "CONDITION" on array ${owner}`);
      ty = { k: 'array', of, len };
    } else if (has('switch')) {
      only(SPEC_KIND_KEYS.switch, 'a switch');
      const on = this.expr(this.get(m, 'switch'), `the switch of ${owner}`);
      const casesNode = this.get(m, 'cases') ?? this.fail(m, `switch ${owner} needs 'cases:'`);
      const cases: { key: number | string | boolean; ty: Ty }[] = [];
      for (const p of this.map(casesNode, 'cases (value: type)').items) {
        const key = (p.key as Scalar).value;
        if (typeof key !== 'number' && typeof key !== 'string' && typeof key !== 'boolean') this.fail(p, 'expected a case value: a number, string or boolean');
        cases.push({ key, ty: this.spec(p.value as Node, `${owner} (case ${String(key)})`) });
      }
      const dflt = has('default') ? this.spec(this.get(m, 'default')!, `${owner} (default)`) : undefined;
      ty = { k: 'switch', on, cases, dflt };
    } else if (has('fields')) {
      only(SPEC_KIND_KEYS.struct, 'a struct');
      ty = { k: 'struct', fields: this.fields(this.get(m, 'fields')!, owner) };
    } else {
      const typeNode = this.get(m, 'type') ?? this.fail(m, `${owner} needs 'type:' (or fields, array, switch, magic, pad)`);
      const name = this.str(typeNode, 'a type name');
      const prim = this.primitive(name);
      if (isOneOf(SIZED_TYPES, name)) {
        only(SPEC_KIND_KEYS[name], `a ${name}`);
        const len = this.sizeOf(m, `${name} ${owner}`, true);
        sizeUsed = true;
        if (name === 'string') {
          const encNode = this.get(m, 'encoding');
          const encName = encNode ? this.str(encNode, 'an encoding') : 'utf8';
          const enc = ENCODINGS[encName] ?? this.fail(encNode, `expected encoding: utf8, latin1, ascii or utf16le; found '${encName}'`);
          const paddedNode = this.get(m, 'padded');
          const padded = paddedNode ? this.scalar(paddedNode, 'true or false') === true : false;
          if (padded && len.k !== 'fixed' && len.k !== 'expr') this.fail(paddedNode, "'padded' is for strings of a fixed length");
          ty = { k: 'str', len, enc, padded };
        } else ty = name === 'bytes' ? { k: 'bytes', len } : { k: 'msgpack', len };
      } else if (prim) {
        ty = this.modified(prim, m, name, owner);
      } else if (this.typeNames.has(name)) {
        only(SPEC_KIND_KEYS.ref, `type ${name}`);
        ty = { k: 'ref', name };
      } else this.fail(typeNode, `unknown type '${name}' for ${owner}; expected a built-in type, string, bytes, msgpack or one of: ${[...this.typeNames].join(', ') || '(none)'}`);
    }

    const transform = has('xor') || has('compress') || has('process');
    const sized = ['length', 'prefix', 'until'].some((k) => k !== countKey && has(k));
    if (!sized && !transform) return ty;
    if (!sized) this.fail(m, `xor/compress/process on ${owner} need a size: length, prefix or until: end`);
    // The outer size frames the region; the inner thing takes all of it.
    const len = sizeUsed ? (ty as { len: Len }).len : countKey ? this.lenValueOf(m, owner) : this.sizeOf(m, owner, false);
    if (sizeUsed) {
      if (!transform) return ty;
      if (len.k === 'term') this.fail(m, `xor/compress/process on ${owner} need length, prefix or until: end`);
      (ty as { len: Len }).len = { k: 'eos' };
    }
    // decode order: xor, then inflate (the shorthands), then process: in its order
    const steps: FieldTransform[] = [];
    if (has('xor')) steps.push({ name: 'xor', args: { key: { lit: this.xorKey(this.get(m, 'xor')!) } } });
    if (has('compress')) {
      const c = this.str(this.get(m, 'compress'), 'zlib or deflate');
      if (!isOneOf(COMPRESS_ALGORITHMS, c)) this.fail(this.get(m, 'compress'), `expected compress: zlib or deflate, found '${c}'`);
      steps.push({ name: c, args: {} });
    }
    const proc = this.get(m, 'process');
    if (proc) for (const item of isSeq(proc) ? (proc as YAMLSeq<Node>).items : [proc]) steps.push(this.fieldTransform(item, owner));
    return { k: 'window', len, steps, inner: ty };
  }

  /** One `process:` entry: a registry transform that works on a field, with its arguments (literals, or expressions over the fields before it and the state). */
  fieldTransform(n: Node, owner: string): FieldTransform {
    const m = this.map(n, `a transform for ${owner} (transform: NAME and its parameters)`);
    const nameNode = this.get(m, 'transform') ?? this.fail(m, `expected 'transform: NAME' (one of ${transformNames().join(', ')})`);
    const name = this.str(nameNode, 'a transform name');
    const kind = transformKind(name);
    if (!kind) this.fail(nameNode, `unknown transform '${name}'; expected one of ${transformNames().join(', ')}`);
    if (!kind.places.includes('field')) this.fail(nameNode, `${name} cannot be used on a field (it goes on: ${kind.places.join(', ')})`);
    this.checkKeys(m, ['transform', ...kind.params.map((p) => p.name)], `transform ${name}`);
    const args: FieldTransform['args'] = {};
    for (const p of kind.params) {
      const v = this.get(m, p.name);
      if (!v) {
        if (p.required) this.fail(m, `transform ${name} needs '${p.name}:' (${p.doc})`);
        continue;
      }
      const a = this.layerArg(v, p.kind, p.choices, `${name}.${p.name}`, () => -1);
      args[p.name] = 'lit' in a ? { lit: a.lit as Buffer | number | boolean | string } : { x: this.expr(v, `${name}.${p.name}`) };
    }
    return { name, args };
  }

  /** An integer type with enum, flags, bits or const. */
  modified(prim: Ty, m: YAMLMap<Scalar, Node>, name: string, owner: string): Ty {
    const mods = ['enum', 'flags', 'bits', 'const'].filter((k) => this.get(m, k) !== undefined);
    for (const [k, , p] of this.pairs(m)) if (!isOneOf(SPEC_KIND_KEYS.primitive, k) && !isOneOf(SPEC_COMMON_KEYS, k)) this.fail(p, `'${k}' does not apply to ${name}`);
    if (this.get(m, 'bit_order') && !this.get(m, 'bits')) this.fail(this.get(m, 'bit_order'), "'bit_order' goes with bits");
    if (mods.length > 1) this.fail(m, `${owner}: choose one of enum, flags, bits, const`);
    if (!mods.length) return prim;
    const node = this.get(m, mods[0])!;
    const isInt = prim.k === 'int';
    switch (mods[0]) {
      case 'enum': {
        if (prim.k !== 'int' && prim.k !== 'varint') this.fail(node, 'enum needs an integer type');
        if (prim.k === 'int' && prim.size === 8) this.fail(node, 'enum needs an integer of up to 32 bits');
        let def: EnumDef;
        if (isScalar(node)) def = this.enums.get(String(node.value)) ?? this.fail(node, `unknown enum '${String(node.value)}'; declared: ${[...this.enums.keys()].join(', ') || '(none)'}`);
        else def = this.enumDef(`${owner}`, node);
        return { k: 'enum', base: prim, def };
      }
      case 'flags': {
        if (!isInt || (prim as IntType).size > 4) this.fail(node, 'flags need an integer type of up to 32 bits');
        const names: [string, number][] = [];
        for (const [k, v, p] of this.pairs(this.map(node, 'flags (name: bit mask)'))) {
          const mask = this.int(v, `the mask of flag ${k}`, 1, 2 ** ((prim as IntType).size * 8) - 1);
          names.push([this.ident(p, k, 'flag name'), mask]);
        }
        return { k: 'flags', base: prim as IntType, names };
      }
      case 'bits': {
        const base = prim as IntType;
        if (!isInt || base.size === 3) this.fail(node, 'bits need an integer type of 8, 16, 32 or 64 bits');
        const bits = base.size * 8;
        const parts: [string, number, boolean][] = [];
        for (const [k, v, p] of this.pairs(this.map(node, 'bit fields (name: width, or s12 for a signed 12-bit field)'))) {
          const raw = this.scalar(v, `the width of ${k}`);
          const sm = typeof raw === 'string' ? /^([su])(\d+)$/.exec(raw) : null;
          const width = sm ? Number(sm[2]) : typeof raw === 'number' ? raw : NaN;
          if (!Number.isInteger(width) || width < 1 || width > bits) this.fail(v, `expected the width of ${k}: 1 to ${bits}, or s1..s${bits} for a signed field; found ${JSON.stringify(raw)}`);
          parts.push([this.ident(p, k, 'bit field name'), width, sm?.[1] === 's']);
        }
        const total = parts.reduce((s, [, w]) => s + w, 0);
        if (total !== bits) this.fail(node, `bit widths add up to ${total}; ${name} has ${bits} bits`);
        const orderNode = this.get(m, 'bit_order');
        const order = orderNode ? this.str(orderNode, 'msb or lsb') : 'msb';
        if (!isOneOf(BIT_ORDERS, order)) this.fail(orderNode, `expected bit_order: msb (the first field in the most significant bits) or lsb; found '${order}'`);
        return { k: 'bits', base, parts, lsbFirst: order === 'lsb' };
      }
      default: {
        if (prim.k === 'bool') this.fail(node, 'const needs a number type');
        const v = this.scalar(node, 'a constant');
        if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(node, `expected a numeric constant, found ${JSON.stringify(v)}`);
        if (prim.k === 'float') return { k: 'const', base: prim, value: v };
        // an integer type: the constant must be a whole number it can hold
        const t = prim as IntType | { k: 'varint'; zigzag: boolean };
        const bits = t.k === 'int' ? t.size * 8 : 53;
        const signed = t.k === 'int' ? t.signed : t.zigzag;
        const min = signed ? -(2 ** (bits - 1)) : 0;
        const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
        if (!Number.isInteger(v) || v < min || v > max) this.fail(node, `expected a whole number from ${min} to ${max} for ${name}, found ${v}`);
        if (t.k === 'int' && t.size === 8) {
          if (!Number.isSafeInteger(v)) this.fail(node, `a 64-bit constant must be written exactly: ${v} is past 2^53 (write it as a smaller value or use a magic)`);
          return { k: 'const', base: t, value: BigInt(v) };
        }
        return { k: 'const', base: t, value: v };
      }
    }
  }

  /** The byte size of an array region: only `length` can say it (prefix/until count elements). */
  lenValueOf(m: YAMLMap<Scalar, Node>, owner: string): Len {
    const n = this.get(m, 'length') ?? this.fail(m, `xor/compress on array ${owner} need 'length:' (the byte size of the region)`);
    return this.lenValue(n, `the length of ${owner}`);
  }

  /** A named type's definition (types may refer to each other), for checks on what an element is. */
  resolved(ty: Ty, seen = new Set<string>()): Ty {
    if (ty.k !== 'ref' || seen.has(ty.name)) return ty;
    seen.add(ty.name);
    const def = this.typeDefs.get(ty.name);
    return def ? this.resolved(def, seen) : ty;
  }

  /** until: "item.key == 0xff": the array ends at the first element for which it holds. */
  untilCond(m: YAMLMap<Scalar, Node>, node: Node, owner: string): Len {
    const x = this.expr(node, `the end condition of ${owner} (item is the element)`);
    const keepNode = this.get(m, 'keep');
    const keep = keepNode ? this.scalar(keepNode, 'true or false') : false;
    if (typeof keep !== 'boolean') this.fail(keepNode, 'expected keep: true (the ending element is part of the array) or false (it is consumed)');
    const endNode = this.get(m, 'end');
    if (!keep && !endNode) this.fail(m, `array ${owner} consumes its ending element (keep: false): give end: (the element encoding writes to end it), or keep: true`);
    if (keep && endNode) this.fail(endNode, `'end' is for keep: false; with keep: true the ending element is the array's last`);
    return { k: 'cond', x, keep, end: endNode ? endNode.toJSON() : undefined };
  }

  untilEnd(n: Node): Len {
    const v = this.scalar(n, 'until: end');
    if (v !== 'end') this.fail(n, `expected 'until: end', found '${String(v)}'`);
    return { k: 'eos' };
  }
  lenValue(n: Node, what: string): Len {
    const v = this.scalar(n, what);
    if (typeof v === 'number') return { k: 'fixed', n: this.int(n, what, 0, 1 << 30) };
    return { k: 'expr', x: this.expr(n, what) };
  }
  /** The size of a string, bytes, msgpack or sized region. */
  sizeOf(m: YAMLMap<Scalar, Node>, owner: string, allowTerminator: boolean): Len {
    const ways = ['length', 'prefix', 'terminator', 'until'].filter((k) => this.get(m, k) !== undefined);
    if (ways.length !== 1 || (!allowTerminator && ways[0] === 'terminator')) this.fail(m, `${owner} needs exactly one of length, prefix, ${allowTerminator ? 'terminator, ' : ''}until: end`);
    const node = this.get(m, ways[0])!;
    switch (ways[0]) {
      case 'length':
        return this.lenValue(node, `the length of ${owner}`);
      case 'prefix':
        return { k: 'prefix', t: this.counter(node, 'the length prefix type') };
      case 'terminator':
        return { k: 'term', bytes: this.bytes(node, 'the terminator') };
      default:
        return this.untilEnd(node);
    }
  }
}
