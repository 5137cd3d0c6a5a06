/**
 * The checked form of a protocol description, between the YAML loader and the code generator.
 * Every name in here has passed `isIdentifier`; every expression has been parsed and its names
 * resolved, so the generator can trust what it reads.
 */
import type { Counter, IntType, VarintType } from '../framing/counter';
import type { Expr } from './expr';

export type { Counter, IntType, VarintType };

/** An expression with where it came from, for messages about it. */
export interface SourceExpr {
  e: Expr;
  src: string;
  /** `file:line:col` of a position inside the expression text. */
  at(pos: number): string;
}

/** How many bytes (or elements) a thing takes. */
export type Len =
  | { k: 'fixed'; n: number }
  | { k: 'expr'; x: SourceExpr }
  | { k: 'prefix'; t: Counter }
  | { k: 'eos' }
  | { k: 'term'; bytes: Buffer }
  | { k: 'sentinel'; value: number | string | boolean }
  /** Arrays: until the expression holds for an element (`item`); `keep` keeps that element, else `end` is what encoding writes for it. */
  | { k: 'cond'; x: SourceExpr; keep: boolean; end?: unknown };

export type Encoding = 'utf8' | 'latin1' | 'utf16le';

export interface EnumDef {
  name: string;
  byValue: Map<number, string>;
  byName: Map<string, number>;
}

export type Ty =
  | IntType
  | VarintType
  | { k: 'float'; size: 4 | 8; le: boolean }
  | { k: 'bool' }
  | { k: 'enum'; base: Counter; def: EnumDef }
  | { k: 'flags'; base: IntType; names: [string, number][] }
  /** Bit fields: name, width, signed; most significant bits first unless lsbFirst. A 64-bit base decodes to bigints for parts wider than 53 bits. */
  | { k: 'bits'; base: IntType; parts: [string, number, boolean][]; lsbFirst: boolean }
  | { k: 'const'; base: IntType | VarintType | { k: 'float'; size: 4 | 8; le: boolean }; value: number | bigint }
  | { k: 'magic'; bytes: Buffer }
  | { k: 'pad'; n: number }
  | { k: 'str'; len: Len; enc: Encoding; padded: boolean }
  | { k: 'bytes'; len: Len }
  | { k: 'msgpack'; len: Len }
  | { k: 'array'; of: Ty; len: Len }
  | { k: 'struct'; fields: Field[] }
  | { k: 'ref'; name: string }
  | { k: 'switch'; on: SourceExpr; cases: { key: number | string | boolean; ty: Ty }[]; dflt?: Ty }
  /** A sized region decoded on its own: its transforms undone in order (decode), the inner type uses all of what they give. */
  | { k: 'window'; len: Len; steps: FieldTransform[]; inner: Ty };

/** A registry transform on a field's bytes (`process:`, or the `xor:`/`compress:` shorthands): arguments as literals or expressions over the fields before it and the state. */
export interface FieldTransform {
  name: string;
  args: Record<string, { lit: Buffer | number | boolean | string } | { x: SourceExpr }>;
}


export interface Field {
  name: string;
  ty: Ty;
  cond?: SourceExpr;
  /** Padding and magic are checked but left out of decoded values. */
  hidden: boolean;
  loc: string;
  doc?: string;
}

/** What a value in a keyed msgpack message must be (`msgpack: KEY` transports). */
export type MapValueKind = 'any' | 'string' | 'int' | 'float' | 'bool' | 'bytes' | 'list' | 'map' | 'nil';

/** A field of a keyed msgpack message: a key of its map. */
export interface MapField {
  name: string;
  kind: MapValueKind;
  optional: boolean;
  loc: string;
  doc?: string;
}

export interface MessageDef {
  name: string;
  /** Keyed msgpack transports: the value at the transport's key that names this message (default: its name). */
  key?: string | number;
  /** Keyed msgpack transports: the map's keys the message must have (others are kept as they come). */
  mapFields?: MapField[];
  /** Undefined for transports without an id field. The first of `ids` when there are several. */
  id?: number;
  /** Every id the message answers to (`id: [0x81, 0x83]`); encoding writes `id` unless told another. */
  ids?: number[];
  dir?: 'c2s' | 's2c';
  when?: SourceExpr;
  fields: Field[];
  set: { name: string; x: SourceExpr }[];
  /** Field paths that change from session to session (ignored by replay). */
  volatile: string[];
  /** Replay: values the live peer sends here that our later messages carry back (a session token), and where (none: wherever the recorded value appears). */
  carry: { path: string; targets: string[] }[];
  loc: string;
  doc?: string;
}

export type Framing =
  /** offset > 0: the length field sits after `offset` bytes of the frame, and the frame is passed on whole. */
  | { k: 'length'; t: Counter; includesLength: boolean; adjust: number; max: number; offset: number }
  /** A header of fields (magic, flags, a length...) decoded before each body; `length` gives the body's size. */
  | { k: 'header'; fields: Field[]; length: SourceExpr; strip: boolean; max: number; magic: Buffer | null; loc: string }
  | { k: 'delimiter'; bytes: Buffer; max: number }
  | { k: 'fixed'; size: number }
  | { k: 'chunk' }
  | { k: 'datagram' };

/** A transform argument: a literal, or an expression (over the state, and for frame transforms the frame header). */
export type LayerArg = { lit: Buffer | number | boolean | string | Counter } | { x: number };

/** A transform from the registry placed on the stream or on each frame, for the given directions. */
export interface TransformUse {
  /** A registry name (checked by the loader). */
  name: string;
  dirs: ('c2s' | 's2c')[];
  /** On while this holds (index into TransportDef.exprs); absent: always. */
  when?: number;
  args: Record<string, LayerArg>;
  loc: string;
}

/** Framing chosen by state: the first whose `when` holds (index into TransportDef.exprs); the last has none. */
export interface FramingChoice {
  when?: number;
  framing: Framing;
}

export interface TransportDef {
  kind: 'tcp' | 'udp';
  ports: number[];
  /** The framing when there is one (or the last, unconditional, choice). */
  framing: Framing;
  /** Framing that changes with the state (a text handshake, then binary frames): the choices, in order. */
  framings?: FramingChoice[];
  /** Transforms on the byte stream before framing (ciphers), in wire order: decoding applies the first first. */
  stream: TransformUse[];
  /** Transforms on each frame's body after framing (masks, compression), in wire order; `compression:` is the last. */
  frame: TransformUse[];
  /** Framing again, over the frame bodies taken as one stream (messages that span frames). */
  inner?: Framing;
  /** The expressions the layers use, compiled once (LX_<kind> in the generated module). */
  exprs: SourceExpr[];
  /**
   * When `when` holds, frame bodies are compressed: after an uncompressed-size prefix of type
   * `length` (0: this frame is not) when given, else the whole body (per-frame, e.g. a header flag).
   * `threshold`: encoding compresses bodies of at least this size (without it: whenever `when` holds).
   * Loaded as the last of `frame` (the registry's `compression`); kept for display.
   */
  compression?: { when: SourceExpr; algorithm: 'zlib' | 'deflate'; length?: Counter; threshold?: SourceExpr };
  /** Fields every message starts with, decoded before the id; visible as head.NAME. */
  head?: Field[];
  /** The message id: a counter read after the head... */
  id?: Counter;
  /** ...or an expression over the head (nothing more is read). */
  idExpr?: SourceExpr;
  messages: MessageDef[];
  /** Each message is one msgpack map; the value at `key` names it (a browser game's `{t: 'move', ...}`). */
  msgpack?: { key: string };
  /** The HTTP upgrade, then RFC 6455 frames both ways (see conversation/websocket.ts): messages are what the frames carry. */
  websocket?: boolean;
}

export interface ProtocolDef {
  name: string;
  file: string;
  description?: string;
  state: Record<string, number | string | boolean>;
  types: Map<string, { ty: Ty; loc: string }>;
  enums: Map<string, EnumDef>;
  tcp?: TransportDef;
  udp?: TransportDef;
}

/** Bytes a type always takes, or -1 when it varies (a condition, a varint, a size from the data). */
export function fixedSize(ty: Ty): number {
  switch (ty.k) {
    case 'int':
    case 'float':
      return ty.size;
    case 'bool':
      return 1;
    case 'enum':
    case 'const':
      return ty.base.k === 'varint' ? -1 : fixedSize(ty.base);
    case 'flags':
    case 'bits':
      return ty.base.size;
    case 'magic':
      return ty.bytes.length;
    case 'pad':
      return ty.n;
    case 'struct': {
      let s = 0;
      for (const f of ty.fields) {
        const fs = f.cond ? -1 : fixedSize(f.ty);
        if (fs < 0) return -1;
        s += fs;
      }
      return s;
    }
    default:
      return -1;
  }
}
