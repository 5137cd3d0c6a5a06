/**
 * AES modes games use, through Node's crypto. CFB8 and CTR are stream modes (length-preserving,
 * one cipher per direction running across chunks); CBC works on whole frames or fields.
 */
import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';
import { TransformError, type Place, type Transform, type TransformArgs, type TransformKind } from './types';

const aesName = (key: Buffer, mode: string): string => `aes-${key.length * 8}-${mode}`;

/**
 * AES-128 in CFB8 mode, as a voxel game's online mode uses it after its encryption request (the
 * shared secret as key and IV). CFB8 resynchronises by itself: after a gap the next 16 bytes
 * cannot be decrypted (they rebuild the shift register), and everything after them can.
 */
export const AES_128_CFB8: TransformKind = {
  name: 'aes-128-cfb8',
  doc: 'AES-128 in CFB8 mode (one cipher per direction; on a field, each field on its own); after a gap, 16 bytes are lost and it is in step again',
  places: ['stream', 'frame', 'field'],
  lengthPreserving: true,
  params: [
    { name: 'key', kind: 'bytes', required: true, lengths: [16], doc: '16 bytes' },
    { name: 'iv', kind: 'bytes', required: true, lengths: [16], doc: '16 bytes (a voxel game uses the key)' },
  ],
  create(args: TransformArgs, place: Place): Transform {
    const key = args.key as Buffer;
    let dec: Decipher | null = null;
    let enc: Cipher | null = null;
    /** After a gap: the ciphertext gathered to rebuild the shift register (null when in step). */
    let resync: Buffer[] | null = null;
    let resyncLength = 0;
    return {
      decode(b) {
        if (!resync) return (dec ??= createDecipheriv('aes-128-cfb8', key, args.iv as Buffer)).update(b);
        const need = 16 - resyncLength;
        const take = b.subarray(0, need);
        resync.push(take);
        resyncLength += take.length;
        if (resyncLength < 16) return Buffer.alloc(b.length);
        dec = createDecipheriv('aes-128-cfb8', key, Buffer.concat(resync));
        resync = null;
        return Buffer.concat([Buffer.alloc(take.length), dec.update(b.subarray(take.length))]);
      },
      encode: (b) => (enc ??= createCipheriv('aes-128-cfb8', key, args.iv as Buffer)).update(b),
      gap() {
        if (place !== 'stream') return 'aes-128-cfb8 over frames: its state was lost with the frames a gap took';
        resync = [];
        resyncLength = 0;
        return 16;
      },
    };
  },
};

/** Adds n to a 128-bit big-endian counter. */
function counterPlus(iv: Buffer, n: number): Buffer {
  const out = Buffer.from(iv);
  let carry = n;
  for (let i = 15; i >= 0 && carry > 0; i--) {
    const v = out[i]! + (carry % 256);
    out[i] = v & 0xff;
    carry = Math.floor(carry / 256) + (v >> 8);
  }
  return out;
}

/** AES in counter mode: seekable, so a gap of any length costs nothing after it. */
export const AES_CTR: TransformKind = {
  name: 'aes-ctr',
  doc: 'AES (128, 192 or 256 by the key size) in counter mode, one counter per direction (on a field, each field on its own); after a gap it is in step at once',
  places: ['stream', 'frame', 'field'],
  lengthPreserving: true,
  params: [
    { name: 'key', kind: 'bytes', required: true, lengths: [16, 24, 32], doc: '16, 24 or 32 bytes' },
    { name: 'iv', kind: 'bytes', required: true, lengths: [16], doc: 'the initial 16-byte counter block' },
  ],
  create(args: TransformArgs, place: Place): Transform {
    const key = args.key as Buffer;
    const iv = args.iv as Buffer;
    let dec: Decipher | null = null;
    let enc: Cipher | null = null;
    /** Bytes decoded so far (for seeking past a gap). */
    let pos = 0;
    return {
      decode(b) {
        dec ??= createDecipheriv(aesName(key, 'ctr'), key, iv);
        pos += b.length;
        return dec.update(b);
      },
      encode: (b) => (enc ??= createCipheriv(aesName(key, 'ctr'), key, iv)).update(b),
      gap(length) {
        if (place !== 'stream') return 'aes-ctr over frames: its counter was lost with the frames a gap took';
        pos += length;
        dec = createDecipheriv(aesName(key, 'ctr'), key, counterPlus(iv, Math.floor(pos / 16)));
        dec.update(Buffer.alloc(pos % 16));
        return 0;
      },
    };
  },
};

/** AES-CBC over one frame or field at a time (each its own IV), PKCS#7 padding unless told otherwise. */
export const AES_CBC: TransformKind = {
  name: 'aes-cbc',
  doc: 'AES (128, 192 or 256 by the key size) in CBC mode over each frame or field on its own; padding: PKCS#7 (default) or none',
  places: ['frame', 'field'],
  lengthPreserving: false,
  params: [
    { name: 'key', kind: 'bytes', required: true, lengths: [16, 24, 32], doc: '16, 24 or 32 bytes' },
    { name: 'iv', kind: 'bytes', required: true, lengths: [16], doc: '16 bytes (often from the frame header or the state)' },
    { name: 'padding', kind: 'bool', required: false, doc: 'PKCS#7 padding (default true)' },
  ],
  create(args: TransformArgs): Transform {
    const key = args.key as Buffer;
    const iv = args.iv as Buffer;
    const padding = args.padding !== false;
    return {
      decode(b) {
        if (b.length % 16) throw new TransformError(`aes-cbc: ${b.length} bytes is not a whole number of 16-byte blocks`);
        const d = createDecipheriv(aesName(key, 'cbc'), key, iv);
        d.setAutoPadding(padding);
        try {
          return Buffer.concat([d.update(b), d.final()]);
        } catch {
          throw new TransformError('aes-cbc: the padding is wrong (a wrong key or IV?)');
        }
      },
      encode(b) {
        if (!padding && b.length % 16) throw new TransformError(`aes-cbc without padding: ${b.length} bytes is not a whole number of 16-byte blocks`);
        const c = createCipheriv(aesName(key, 'cbc'), key, iv);
        c.setAutoPadding(padding);
        return Buffer.concat([c.update(b), c.final()]);
      },
      gap: () => 0,
    };
  },
};
