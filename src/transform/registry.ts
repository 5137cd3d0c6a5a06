/**
 * The transform registry: every transform a protocol description can name, by name. Transforms
 * are named byte-to-byte functions with a decode and an encode side, placed by a description on
 * the byte stream (before framing: a cipher), on each frame (after framing: compression, a
 * per-frame mask) or on a field (a sized region); like Kaitai's `process:` functions, but
 * stateful where the thing is (a cipher's position, an inflate context), one instance per
 * direction. A description names them and gives their parameters; it never supplies code.
 */
import { AES_128_CFB8, AES_CBC, AES_CTR } from './cipher';
import { COMPRESSION } from './compression';
import { RC4 } from './rc4';
import type { TransformKind } from './types';
import { XOR } from './xor';
import { DEFLATE, DEFLATE_SYNC, ZLIB } from './zlib';

const KINDS: ReadonlyMap<string, TransformKind> = new Map([XOR, RC4, AES_128_CFB8, AES_CTR, AES_CBC, ZLIB, DEFLATE, DEFLATE_SYNC, COMPRESSION].map((k) => [k.name, k]));

export function transformKind(name: string): TransformKind | undefined {
  return KINDS.get(name);
}

export function transformNames(): string[] {
  return [...KINDS.keys()].sort();
}

export { argsProblem, asBytes, TransformError, type Place, type Transform, type TransformArgs, type TransformKind, type TransformLimits } from './types';
