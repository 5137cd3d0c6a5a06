/** What a transform is and takes (the registry, registry.ts, lists them). */
import { sizeText } from '../core/size';
import type { Counter } from '../framing/counter';

export type Place = 'stream' | 'frame' | 'field';

export type ParamKind = 'bytes' | 'int' | 'bool' | 'choice' | 'counter';

export interface ParamSpec {
  name: string;
  kind: ParamKind;
  required: boolean;
  /** For 'choice'. */
  choices?: string[];
  /** For 'bytes': the lengths allowed (none: any, at least 1). */
  lengths?: number[];
  doc: string;
}

/** Evaluated parameters: bytes as Buffers, ints as numbers, a counter as its type. */
export type TransformArgs = Record<string, Buffer | number | boolean | string | Counter | undefined>;

export interface TransformLimits {
  /** The most bytes one decode may produce (decompression). */
  output: number;
}

/** Bytes a transform cannot take: the reason goes with the raw bytes. */
export class TransformError extends Error {}

export interface Transform {
  decode(input: Buffer): Buffer;
  encode(input: Buffer): Buffer;
  /**
   * `length` bytes (stream) or a frame (frame place) were lost before the next decode. Returns
   * how many bytes after them cannot be decoded either (0: in step again), or why nothing that
   * follows can be.
   */
  gap(length: number): number | string;
  /** Whether the last decode inflated something (shown as "compressed"). */
  inflated?: boolean;
}

export interface TransformKind {
  name: string;
  doc: string;
  places: readonly Place[];
  /** Output and input have the same length, byte for byte (a stream offset means the same byte before and after). */
  lengthPreserving: boolean;
  params: readonly ParamSpec[];
  create(args: TransformArgs, place: Place, limits: TransformLimits): Transform;
}

/** Why evaluated arguments do not suit the transform (a key of the wrong size...), or null. */
export function argsProblem(kind: TransformKind, args: TransformArgs): string | null {
  for (const p of kind.params) {
    const v = args[p.name];
    if (v === undefined) {
      if (p.required) return `${kind.name} needs ${p.name}`;
      continue;
    }
    switch (p.kind) {
      case 'bytes':
        if (!Buffer.isBuffer(v)) return `${kind.name}: ${p.name} must be bytes, found ${describe(v)}`;
        if (p.lengths ? !p.lengths.includes(v.length) : v.length === 0) return `${kind.name}: ${p.name} must be ${p.lengths ? p.lengths.join(', ') : 'at least 1'} bytes, found ${v.length}`;
        break;
      case 'int':
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return `${kind.name}: ${p.name} must be a whole number, found ${describe(v)}`;
        break;
      case 'bool':
        if (typeof v !== 'boolean') return `${kind.name}: ${p.name} must be true or false, found ${describe(v)}`;
        break;
      case 'choice':
        if (typeof v !== 'string' || !p.choices!.includes(v)) return `${kind.name}: ${p.name} must be ${p.choices!.join(' or ')}, found ${describe(v)}`;
        break;
      case 'counter':
        if (typeof v !== 'object' || v === null || Buffer.isBuffer(v)) return `${kind.name}: ${p.name} must be a counter type`;
        break;
    }
  }
  return null;
}

/** Bytes from an evaluated value: Buffers and byte arrays; anything else is not bytes. */
export function asBytes(v: unknown): Buffer | undefined {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)) return Buffer.from(v as number[]);
  return undefined;
}

function describe(v: unknown): string {
  if (Buffer.isBuffer(v)) return `${v.length} bytes`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  return String(v);
}

/** The error for output past the budget. */
export function tooLarge(limit: number): TransformError {
  return new TransformError(`inflates past the ${sizeText(limit)} decode budget of one message`);
}
