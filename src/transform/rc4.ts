import type { Place, Transform, TransformArgs, TransformKind } from './types';

/** Skipping more keystream than this after a gap is not worth the time: the rest is raw. */
const MAX_SKIP = 256 << 20;

/**
 * RC4, written out here: Node's OpenSSL 3 leaves it out unless the legacy provider is loaded,
 * and it is a few lines. Many older games use it per connection (often RC4-drop[n]).
 */
export const RC4: TransformKind = {
  name: 'rc4',
  doc: 'RC4 keystream (one per direction, running on across frames and chunks); drop: keystream bytes discarded first (RC4-drop[n])',
  places: ['stream', 'frame'],
  lengthPreserving: true,
  params: [
    { name: 'key', kind: 'bytes', required: true, doc: '1 to 256 bytes' },
    { name: 'drop', kind: 'int', required: false, doc: 'keystream bytes to discard before the first byte (default 0)' },
  ],
  create(args: TransformArgs, place: Place): Transform {
    const ks = new Rc4((args.key as Buffer).subarray(0, 256));
    ks.skip((args.drop as number | undefined) ?? 0);
    return {
      decode: (b) => ks.xor(b),
      encode: (b) => ks.xor(b),
      gap(length) {
        if (place !== 'stream') return 'rc4 over frames: its keystream position was lost with the frames a gap took';
        if (length > MAX_SKIP) return `rc4: a ${length}-byte gap is more keystream than worth skipping`;
        ks.skip(length);
        return 0;
      },
    };
  },
};

export class Rc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  constructor(key: Uint8Array) {
    const s = this.s;
    for (let i = 0; i < 256; i++) s[i] = i;
    for (let i = 0, j = 0; i < 256; i++) {
      j = (j + s[i]! + key[i % key.length]!) & 0xff;
      const t = s[i]!;
      s[i] = s[j]!;
      s[j] = t;
    }
  }

  xor(input: Buffer): Buffer {
    const out = Buffer.allocUnsafe(input.length);
    const s = this.s;
    let i = this.i;
    let j = this.j;
    for (let n = 0; n < input.length; n++) {
      i = (i + 1) & 0xff;
      j = (j + s[i]!) & 0xff;
      const t = s[i]!;
      s[i] = s[j]!;
      s[j] = t;
      out[n] = input[n]! ^ s[(s[i]! + s[j]!) & 0xff]!;
    }
    this.i = i;
    this.j = j;
    return out;
  }

  skip(n: number): void {
    const chunk = Buffer.alloc(Math.min(n, 65536));
    for (let left = n; left > 0; left -= chunk.length) this.xor(left >= chunk.length ? chunk : chunk.subarray(0, left));
  }
}
