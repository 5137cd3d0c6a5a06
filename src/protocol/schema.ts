/**
 * A JSON Schema (draft-07) for protocol.yaml, for editors: with the first line
 * `# yaml-language-server: $schema=../protocol.schema.json` the YAML language server (VS Code's
 * YAML extension, and other editors through it) completes keys, shows what they mean and
 * underlines unknown ones. `gamesniff schema -o protocols/protocol.schema.json` writes it.
 *
 * It is built from the loader's own tables (load.ts: the keys of each level, the built-in types,
 * the framings) and the transform registry, never from a copy: every key a table holds needs an
 * entry here (with its value and a line of help), or building the schema throws, and a test
 * checks that the schema's keys are the tables'. The loader stays the judge: the schema does not
 * check expressions, names (a named type, an enum, a state variable), sizes or widths that must
 * add up, or ids that clash; `gamesniff check` does.
 */
import { transformKind, transformNames } from '../transform/registry';
import type { ParamSpec, Place } from '../transform/types';
import {
  BIT_ORDERS,
  COMPRESSION_KEYS,
  COMPRESS_ALGORITHMS,
  COUNTER_TYPES,
  DIRECTIONS,
  ENCODINGS,
  ENDIANS,
  FRAMING_KEYS,
  FRAMING_WORDS,
  ID_EXPR_KEYS,
  MAP_FIELD_KEYS,
  MAP_VALUE_KINDS,
  MESSAGE_KEYS,
  PRIMITIVE_TYPES,
  PROTOCOL_NAME,
  SETTING_TRANSFORMS,
  SIZED_TYPES,
  SPEC_COMMON_KEYS,
  SPEC_KEYS,
  SPEC_KIND_KEYS,
  TOP_KEYS,
  TRANSPORT_KEYS,
} from './load';

export type JsonSchema = { [key: string]: unknown };

const README = 'protocols/README.md';
const IDENT = '^[A-Za-z_][A-Za-z0-9_]*$';
const ref = (name: string): JsonSchema => ({ $ref: `#/definitions/${name}` });
/** A schema with a line of help (a $ref goes under allOf: draft-07 ignores a $ref's siblings). */
const doc = (description: string, s: JsonSchema): JsonSchema => ('$ref' in s ? { description, allOf: [s] } : { ...s, description });

const byte: JsonSchema = { type: 'integer', minimum: 0, maximum: 255 };
const byteList: JsonSchema = { type: 'array', items: byte };
/** Shapes used in many places, each once under definitions. */
const SHARED: Record<string, JsonSchema> = {
  // (no descriptions: an editor would show them instead of the help of the key that uses them)
  // an expression over earlier fields and the state (README: Expressions)
  expression: { type: ['string', 'number', 'boolean'] },
  // bytes as a string (its UTF-8), a byte, or a list of bytes: magic, terminator, delimiter
  bytes: { anyOf: [{ type: 'string', minLength: 1 }, byte, byteList] },
  // a size or count: a number, or an expression
  size: { anyOf: [{ type: 'integer', minimum: 0, maximum: 2 ** 30 }, { type: ['string', 'boolean'] }] },
  // u8..u64, s8..s64 (le/be), f32, f64, varint, zigzag, varint32, varint64, bool
  builtin: { enum: [...PRIMITIVE_TYPES] },
  // the integer types that count: u8..u32 (le/be), s8..s32, varint, varint32, zigzag
  counter: { enum: [...COUNTER_TYPES] },
  port: { type: 'integer', minimum: 1, maximum: 65535 },
};
const expression = ref('expression');
const bytesValue = ref('bytes');
const lenValue = ref('size');
const names = (values: JsonSchema): JsonSchema => ({ type: 'object', propertyNames: { pattern: IDENT }, additionalProperties: values });
const stringOrList: JsonSchema = { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] };

/** `{ key: schema }` for exactly the keys the loader's table holds; a key without an entry here is a bug. */
function pick(keys: readonly string[], table: Record<string, JsonSchema>, where: string): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  for (const k of keys) {
    const s = table[k];
    if (!s) throw new Error(`src/protocol/schema.ts: the loader accepts '${k}' in ${where}, and the schema has no entry for it`);
    out[k] = s;
  }
  return out;
}

/** The entries without their help (the map's shared `properties` carry it once, for hover and completion). */
function bare(table: Record<string, JsonSchema>): Record<string, JsonSchema> {
  return Object.fromEntries(
    Object.entries(table).map(([k, { description: _, ...s }]) => {
      const only = Object.keys(s).length === 1 && Array.isArray(s.allOf) && s.allOf.length === 1;
      return [k, only ? (s.allOf as JsonSchema[])[0]! : s];
    }),
  );
}

/** A map with exactly these keys (the loader rejects others). */
function closed(keys: readonly string[], table: Record<string, JsonSchema>, where: string, extra: JsonSchema = {}): JsonSchema {
  return { type: 'object', properties: pick(keys, table, where), additionalProperties: false, ...extra };
}

/** The table must name exactly the loader's keys: an entry for a key the loader does not know is a mistake too. */
function exactly(table: Record<string, JsonSchema>, keys: Iterable<string>, where: string): Record<string, JsonSchema> {
  const known = new Set(keys);
  for (const k of Object.keys(table)) if (!known.has(k)) throw new Error(`src/protocol/schema.ts: '${k}' in ${where} is not a key the loader accepts`);
  return table;
}

// ---- types (fields, named types, array elements, switch cases) ----

const SPEC = exactly(
  {
    type: doc('a built-in type (u8, u16be, f32, varint, bool...), string, bytes, msgpack or a named type', { type: 'string' }),
    fields: doc('a nested struct: its fields in order (name: type)', ref('fields')),
    array: doc('an array of this element type; ended by exactly one of count, prefix, until, sentinel', ref('type')),
    switch: doc('an expression whose value picks the type among cases', expression),
    cases: doc('value: type, for switch', { type: 'object', additionalProperties: ref('type') }),
    default: doc('the type when no case matches (without it, an unmatched value is a decode error)', ref('type')),
    magic: doc('bytes that must be there (a string, a byte or a list of bytes); not in the output', bytesValue),
    pad: doc('bytes skipped (zeros when encoding); not in the output', { type: 'integer', minimum: 1, maximum: 2 ** 20 }),
    enum: doc('an enum from enums: by name, or inline { name: value }; decodes to the member name', { anyOf: [{ type: 'string', pattern: IDENT }, names({ type: 'integer' })] }),
    flags: doc('bit masks: { name: mask }; decodes to { name: true/false }', names({ type: 'integer', minimum: 1 })),
    bits: doc('bit fields, most significant first: { name: width } (s12: a signed 12-bit field); the widths add up to the type', names({ anyOf: [{ type: 'integer', minimum: 1, maximum: 64 }, { type: 'string', pattern: '^[su][0-9]+$' }] })),
    bit_order: doc('msb (default: the first bit field in the most significant bits) or lsb', { enum: [...BIT_ORDERS] }),
    const: doc('the value the field must have', { type: 'number' }),
    length: doc('a byte size: a number or an expression over earlier fields', lenValue),
    prefix: doc('a length (or, on an array, an element count) prefix of this integer type', ref('counter')),
    terminator: doc('read up to these bytes (a byte, a string or a list of bytes), which are consumed', bytesValue),
    until: doc('end: the rest of the message or region; on an array also a condition on `item`, the element that ends it', { anyOf: [{ const: 'end' }, expression] }),
    keep: doc('with until: CONDITION on an array: the ending element stays in the array', { type: 'boolean' }),
    end: doc('with until: CONDITION and keep: false: the element encoding writes to end the array', {}),
    sentinel: doc('the array ends at an element equal to this (consumed, not kept)', { type: ['number', 'string', 'boolean'] }),
    count: doc('a fixed element count, or an expression over earlier fields', lenValue),
    encoding: doc('the string encoding (default utf8)', { enum: Object.keys(ENCODINGS) }),
    padded: doc('a fixed-length string: trailing NULs stripped, padded with NULs when encoding', { type: 'boolean' }),
    xor: doc('xor the region with a repeating key: a byte, a list of bytes or "0x.." hex', { anyOf: [byte, byteList, { type: 'string', pattern: '^0x([0-9a-fA-F]{2})+$' }] }),
    compress: doc('the region is compressed: zlib or raw deflate', { enum: [...COMPRESS_ALGORITHMS] }),
    process: doc(`transforms of the region, undone in order when decoding (${README}, Transforms)`, { anyOf: [ref('fieldTransform'), { type: 'array', items: ref('fieldTransform') }] }),
    if: doc('the field is present only when this expression holds', expression),
    doc: doc('a line of documentation (shown by codegen)', { type: 'string' }),
  },
  SPEC_KEYS,
  'a type',
);

/**
 * The map forms of a type, one per kind in the loader's table, chosen as the loader chooses: the
 * first of pad, magic, array, switch, fields present, else by `type:` (string, bytes, msgpack, a
 * built-in type, else a named type). Each takes only its own keys.
 */
function specKinds(): JsonSchema {
  const common = [...SPEC_COMMON_KEYS];
  // until: end, except on an array, where it may be a condition
  const untilEnd = { until: { const: 'end' } };
  const kind = (k: keyof typeof SPEC_KIND_KEYS, required: string[], over: Record<string, JsonSchema> = {}, extra: JsonSchema = {}): JsonSchema =>
    closed([...SPEC_KIND_KEYS[k], ...common], { ...bare(SPEC), ...(k === 'array' ? {} : untilEnd), ...over }, `a type (${k})`, { required, title: k, ...extra });
  // exactly one way to end: the loader asks for it (as it does for a string's size)
  const oneOf = (...ways: string[]): JsonSchema => ({ oneOf: ways.map((w) => ({ required: [w] })) });
  const has = (k: string): JsonSchema => ({ required: [k] });
  const typeIs = (t: JsonSchema): JsonSchema => ({ properties: { type: t }, required: ['type'] });
  return chain(
    [
      [has('pad'), kind('pad', ['pad'])],
      [has('magic'), kind('magic', ['magic'])],
      [has('array'), kind('array', ['array'], {}, oneOf('count', 'prefix', 'until', 'sentinel'))],
      [has('switch'), kind('switch', ['switch', 'cases'])],
      [has('fields'), kind('struct', ['fields'])],
      ...SIZED_TYPES.map((t): [JsonSchema, JsonSchema] => [typeIs({ const: t }), kind(t, ['type'], { type: { const: t } }, oneOf('length', 'prefix', 'terminator', 'until'))]),
      [typeIs(ref('builtin')), kind('primitive', ['type'], { type: ref('builtin') })],
    ],
    kind('ref', ['type'], { type: { type: 'string', pattern: IDENT, not: { anyOf: [{ enum: [...SIZED_TYPES] }, ref('builtin')] } } }),
  );
}

/** if A then a, else if B then b, ..., else last: the first that applies, as the loader decides. */
function chain(cases: [JsonSchema, JsonSchema][], last: JsonSchema): JsonSchema {
  return cases.reduceRight<JsonSchema>((rest, [when, then]) => ({ if: when, then, else: rest }), last);
}

// ---- transforms (stream, frame, field) ----

function paramSchema(p: ParamSpec): JsonSchema {
  switch (p.kind) {
    case 'bytes':
      return doc(`${p.doc}: a list of bytes, "0x.." hex, or an expression (a state variable, frame.NAME)`, { anyOf: [byteList, { type: 'string' }] });
    case 'int':
      return doc(p.doc, { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string' }] });
    case 'bool':
      return doc(p.doc, { anyOf: [{ type: 'boolean' }, { type: 'string' }] });
    case 'choice':
      return doc(p.doc, { enum: [...(p.choices ?? [])] });
    case 'counter':
      return doc(p.doc, ref('counter'));
  }
}

/** The registry's transforms that a description names at this place, each with its parameters. */
function transformSchema(place: Place): JsonSchema {
  const usable = transformNames().filter((n) => transformKind(n)!.places.includes(place) && !SETTING_TRANSFORMS.has(n));
  const when: Record<string, JsonSchema> = place === 'field' ? {} : { when: doc(place === 'stream' ? 'on from the message boundary where this holds' : 'on for the frames for which this holds (frame.NAME: the frame header)', expression) };
  const variants = usable.map((n) => {
    const kind = transformKind(n)!;
    const params = Object.fromEntries(kind.params.map((p) => [p.name, paramSchema(p)]));
    return {
      type: 'object',
      description: kind.doc,
      properties: { transform: { const: n }, ...when, ...params },
      required: ['transform', ...kind.params.filter((p) => p.required).map((p) => p.name)],
      additionalProperties: false,
    };
  });
  return {
    type: 'object',
    description: `a transform from the registry (${README}, Layers): transform: NAME and its parameters`,
    properties: { transform: { enum: usable, description: usable.map((n) => `${n}: ${transformKind(n)!.doc}`).join('\n') } },
    required: ['transform'],
    anyOf: variants,
  };
}

const transformLists = (item: string, description: string): JsonSchema => ({
  description,
  anyOf: [
    { type: 'array', items: ref(item) },
    closed(DIRECTIONS, { c2s: doc('client to server', { type: 'array', items: ref(item) }), s2c: doc('server to client', { type: 'array', items: ref(item) }) }, `${item} by direction`),
  ],
});

// ---- framing ----

const FRAMING = exactly(
  {
    header: doc('fields decoded before each body (magic, flags, a length...); visible to messages as frame.NAME', ref('fields')),
    length: doc('length framing: the prefix type (u16, u32be, varint...); header framing: an expression over the header giving the body size', { anyOf: [ref('counter'), expression] }),
    strip: doc('header framing: false keeps the header as the start of each message (default true)', { type: 'boolean' }),
    max: doc('larger frames are taken as corruption (default 16 MiB)', { type: 'integer', minimum: 1, maximum: 2 ** 30 }),
    includes_length: doc('the length counts the prefix itself', { type: 'boolean' }),
    adjust: doc('body size = length + adjust', { type: 'integer', minimum: -65536, maximum: 65536 }),
    offset: doc('the length field comes after this many bytes of the frame, which is passed on whole', { type: 'integer', minimum: 0, maximum: 65536 }),
    delimiter: doc('frames end with these bytes (a string, a byte or a list of bytes), not part of the body', bytesValue),
    fixed: doc('every frame is this many bytes', { type: 'integer', minimum: 1, maximum: 2 ** 24 }),
  },
  Object.values(FRAMING_KEYS).flat(),
  'framing',
);

/** Which framing words each transport takes (the loader: datagram is udp's, chunk tcp's, message WebSocket's). */
const WORDS: Record<'tcp' | 'udp', readonly string[]> = { tcp: ['chunk', 'message'], udp: ['datagram'] };
const WORD_DOCS: Record<string, string> = {
  datagram: 'each datagram is one message',
  chunk: 'no framing: each piece of data TCP delivered is one message',
  message: 'with websocket: true (the default there), each WebSocket message is one message',
};

function framingSchemas(kind: 'tcp' | 'udp'): { one: JsonSchema; choice: JsonSchema } {
  const words = WORDS[kind];
  const word: JsonSchema = { enum: [...words], description: words.map((w) => `${w}: ${WORD_DOCS[w]}`).join('\n') };
  const when = { when: doc('this framing is used while this holds (the first choice that holds; the last has no when)', expression) };
  if (kind === 'udp') {
    // udp frames are whole datagrams: no framing written as a map
    return { one: doc(`how the bytes are cut into messages (${README}, Transports and framing)`, word), choice: closed(['when', 'framing'], { ...when, framing: word }, 'a framing choice', { required: ['framing'] }) };
  }
  const over = (k: string): Record<string, JsonSchema> => (k === 'header' ? { length: doc("an expression over the header's fields giving the body size", expression) } : k === 'length' ? { length: doc('the length prefix type', ref('counter')) } : {});
  // a map: its kind is the first of header, length, delimiter, fixed present (as in the loader)
  const maps = (extra: string[], extraTable: Record<string, JsonSchema>): JsonSchema => {
    const kinds = Object.entries(FRAMING_KEYS).map(([k, keys]): [JsonSchema, JsonSchema] => [
      { required: [k] },
      closed([...extra, ...keys], { ...bare(FRAMING), ...over(k), ...extraTable }, `${k} framing`, { required: k === 'header' ? ['header', 'length'] : [k], title: `${k} framing` }),
    ]);
    const all = [...new Set(Object.values(FRAMING_KEYS).flat())];
    return { type: 'object', properties: { ...pick(extra, extraTable, 'a framing choice'), ...pick(all, FRAMING, 'framing') }, ...chain(kinds, { required: ['length'] }) };
  };
  const one: JsonSchema = {
    description: `how the bytes are cut into messages (${README}, Transports and framing)`,
    anyOf: [word, maps([], {})],
  };
  const choice: JsonSchema = {
    type: 'object',
    description: 'a framing choice: when: and a framing (its keys, or framing: WORD)',
    // framing: WORD (or a map) under its own key, else the framing's keys beside when:
    ...chain([[{ required: ['framing'] }, closed(['when', 'framing'], { ...when, framing: word }, 'a framing choice', { required: ['framing'] })]], maps(['when'], when)),
  };
  return { one, choice };
}

// ---- messages ----

const MESSAGE = exactly(
  {
    id: doc('the message id (required when the transport has id:); a list for several', { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 1 }] }),
    dir: doc('c2s (client to server) or s2c; omit for both directions (not under c2s:/s2c:)', { enum: [...DIRECTIONS] }),
    when: doc('only when this expression over the state (and head.NAME, frame.NAME) holds', expression),
    fields: doc(`the fields in order, name: type (${README}, Fields and types)`, { anyOf: [{ type: 'null' }, ref('fields')] }),
    set: doc('state updates after decoding: variable: expression', names(expression)),
    volatile: doc('fields that differ from session to session (replay ignores them)', stringOrList),
    carry: doc("replay: the live peer's value goes where the recorded one was in later messages; { path: [MESSAGE.PATH] } says where", {
      anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }, { type: 'object', additionalProperties: stringOrList }],
    }),
    doc: doc('a line of documentation (shown by codegen)', { type: 'string' }),
  },
  MESSAGE_KEYS,
  'a message',
);

const MSGPACK_MESSAGE: Record<string, JsonSchema> = {
  ...MESSAGE,
  id: doc('the value at the msgpack key that names this message (default: its name)', { type: ['string', 'integer'] }),
  fields: doc('the keys the map must have: name: kind, or { type: KIND, optional: true }', { anyOf: [{ type: 'null' }, names(ref('mapField'))] }),
};

const messages = (message: string, description: string): JsonSchema => doc(description, names(ref(message)));
const SECTIONS: Record<string, string> = {
  messages: `the messages, name: definition (${README}, Messages)`,
  c2s: 'the messages from client to server (a name can mean another message each way)',
  s2c: 'the messages from server to client',
};

// ---- transports ----

function transportSchema(kind: 'tcp' | 'udp'): JsonSchema {
  const table = exactly(
    {
      ports: doc('the server port(s): the default --port', { anyOf: [ref('port'), { type: 'array', items: ref('port') }] }),
      websocket: doc('the HTTP upgrade, then WebSocket frames both ways (tcp)', { type: 'boolean' }),
      msgpack: doc('each message is one msgpack map, named by its value at this key', { type: 'string' }),
      framing: doc(`how the bytes are cut into messages, or a list of choices by state (${README}, Transports and framing)`, {
        anyOf: [ref(`framing_${kind}`), { type: 'array', minItems: 1, items: ref(`framingChoice_${kind}`) }],
      }),
      stream: transformLists('streamTransform', 'transforms on the byte stream before framing (a cipher), for both directions or by c2s:/s2c:'),
      frame: transformLists('frameTransform', "transforms on each frame's body (a mask, deflate), for both directions or by c2s:/s2c:"),
      inner: doc('framing again over the frame bodies taken as one stream (length, delimiter, fixed)', {
        anyOf: [{ enum: [...WORDS.tcp] }, ...Object.entries(FRAMING_KEYS).filter(([k]) => k !== 'header').map(([k, keys]) => closed(keys, { ...FRAMING, length: doc('the length prefix type', ref('counter')) }, `${k} framing`, { required: [k] }))],
      }),
      compression: doc(
        `frame compression switched on by the state (${README}, State)`,
        closed(
          COMPRESSION_KEYS,
          {
            when: doc('frames are compressed while this holds (frame.NAME for a flag in the frame header)', expression),
            algorithm: doc('zlib (default) or deflate', { enum: [...COMPRESS_ALGORITHMS] }),
            length: doc('an uncompressed-size prefix of this type before the data (0: this frame is not compressed)', ref('counter')),
            threshold: doc('encoding compresses bodies of at least this many bytes', expression),
          },
          'compression',
          { required: ['when'] },
        ),
      ),
      head: doc('fields every message starts with, before the id; visible as head.NAME', ref('fields')),
      id: doc("the type of the message id after the head, or { value: EXPRESSION } over the head's fields", {
        anyOf: [ref('counter'), closed(ID_EXPR_KEYS, { value: doc("the id, computed from the head's fields", expression) }, 'id', { required: ['value'] })],
      }),
      messages: doc(SECTIONS.messages!, { type: 'object' }),
      c2s: doc(SECTIONS.c2s!, { type: 'object' }),
      s2c: doc(SECTIONS.s2c!, { type: 'object' }),
    },
    TRANSPORT_KEYS,
    `the ${kind} section`,
  );
  // udp has no byte stream: the loader refuses stream:, inner: and framing maps there
  const keys = kind === 'udp' ? TRANSPORT_KEYS.filter((k) => k !== 'stream' && k !== 'inner') : TRANSPORT_KEYS;
  const sections = (message: string): Record<string, JsonSchema> => Object.fromEntries(Object.entries(SECTIONS).map(([k, d]) => [k, messages(message, d)]));
  // with msgpack: each message is one map its key names, so no id: or head: (the loader says so)
  const keyed = keys.filter((k) => k !== 'id' && k !== 'head');
  return closed(keys, table, `the ${kind} section`, {
    description: kind === 'tcp' ? 'the TCP transport: framing, ids and messages' : 'the UDP transport: one message per datagram',
    allOf: [
      { anyOf: [{ required: ['messages'] }, { required: ['c2s'] }, { required: ['s2c'] }] },
      // WebSocket frames by itself (framing: message); otherwise framing: is required
      { if: { properties: { websocket: { const: true } }, required: ['websocket'] }, then: {}, else: { required: ['framing'] } },
      // a keyed msgpack transport: no id or head, and its messages list map keys
      { if: { required: ['msgpack'] }, then: { properties: { ...Object.fromEntries(keyed.map((k) => [k, {}])), ...sections('msgpackMessage') }, additionalProperties: false }, else: { properties: sections('message') } },
    ],
  });
}

// ---- the whole file ----

export function protocolSchema(): JsonSchema {
  const union = new Set([...Object.values(SPEC_KIND_KEYS).flat(), ...SPEC_COMMON_KEYS]);
  if ([...union].sort().join() !== [...SPEC_KEYS].sort().join()) throw new Error('src/protocol/load.ts: SPEC_KEYS is not the union of SPEC_KIND_KEYS and SPEC_COMMON_KEYS');
  const wordsUsed = new Set([...WORDS.tcp, ...WORDS.udp]);
  if ([...wordsUsed].sort().join() !== [...FRAMING_WORDS].sort().join()) throw new Error('src/protocol/schema.ts: WORDS does not cover FRAMING_WORDS');
  const tcp = framingSchemas('tcp');
  const udp = framingSchemas('udp');
  const TOP = exactly(
    {
      protocol: doc('the name: letters, digits, _ and - (required)', { type: 'string', pattern: PROTOCOL_NAME.source }),
      description: doc('free text', { type: 'string' }),
      endian: doc('le (default) or be: the byte order of types written without le/be', { enum: [...ENDIANS] }),
      state: doc(`session variables and their initial values (${README}, State)`, names({ type: ['number', 'string', 'boolean'] })),
      enums: doc('named enums: name: { member: value }', names(names({ type: 'integer' }))),
      types: doc(`named reusable types (${README}, Named types)`, { ...names(ref('type')), propertyNames: { pattern: IDENT, not: ref('builtin') } }),
      tcp: ref('tcp'),
      udp: ref('udp'),
    },
    TOP_KEYS,
    'the protocol',
  );
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $comment: 'Generated by `gamesniff schema` from the loader (src/protocol/schema.ts); do not edit: run `gamesniff schema -o protocols/protocol.schema.json`.',
    title: 'gamesniff protocol description (protocol.yaml)',
    description: `How a game's traffic is framed and what its messages mean (${README})`,
    ...closed(TOP_KEYS, TOP, 'the protocol', { required: ['protocol'], anyOf: [{ required: ['tcp'] }, { required: ['udp'] }] }),
    definitions: {
      tcp: transportSchema('tcp'),
      udp: transportSchema('udp'),
      framing_tcp: tcp.one,
      framing_udp: udp.one,
      framingChoice_tcp: tcp.choice,
      framingChoice_udp: udp.choice,
      streamTransform: transformSchema('stream'),
      frameTransform: transformSchema('frame'),
      fieldTransform: transformSchema('field'),
      message: closed(MESSAGE_KEYS, MESSAGE, 'a message', { description: 'a message: its id, direction, fields and state updates' }),
      msgpackMessage: closed(MESSAGE_KEYS, MSGPACK_MESSAGE, 'a message', { description: 'a message that is one msgpack map' }),
      mapField: {
        description: `what a key of the map holds: ${MAP_VALUE_KINDS.join(', ')}`,
        anyOf: [
          { enum: [...MAP_VALUE_KINDS] },
          closed(MAP_FIELD_KEYS, { type: { enum: [...MAP_VALUE_KINDS] }, optional: doc('the key may be missing', { type: 'boolean' }), doc: doc('a line of documentation', { type: 'string' }) }, 'a msgpack field', { required: ['type'] }),
        ],
      },
      fields: { type: 'object', propertyNames: { pattern: IDENT }, additionalProperties: ref('type') },
      type: {
        description: `a type: a name (u16, vec2) or a map of settings (${README}, Fields and types)`,
        anyOf: [
          { type: 'string', anyOf: [ref('builtin'), { pattern: IDENT, description: 'a named type from types:' }] },
          // all the keys for completion and help; each kind of map takes only its own
          { type: 'object', properties: SPEC, ...specKinds() },
        ],
      },
      ...SHARED,
    },
  };
}

/** The schema as written to protocols/protocol.schema.json. */
export function protocolSchemaText(): string {
  return JSON.stringify(protocolSchema(), null, 2) + '\n';
}
