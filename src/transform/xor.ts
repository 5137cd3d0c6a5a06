import type { Place, Transform, TransformArgs, TransformKind } from './types';

/**
 * XOR with a repeating key. On a stream the key runs on across chunks and gaps (a gap moves its
 * position by the gap's length, so the bytes after it decode); on a frame or field it starts
 * again at the key's first byte (a per-frame mask, such as WebSocket's, is a key from the frame).
 */
export const XOR: TransformKind = {
  name: 'xor',
  doc: 'XOR with a repeating key (on a stream the key runs on across chunks and gaps; on a frame or field it starts at its first byte)',
  places: ['stream', 'frame', 'field'],
  lengthPreserving: true,
  params: [{ name: 'key', kind: 'bytes', required: true, doc: 'the key (bytes, or an expression giving bytes: a frame mask, a session key)' }],
  create(args: TransformArgs, place: Place): Transform {
    const key = args.key as Buffer;
    let pos = 0;
    const run = (input: Buffer): Buffer => {
      const out = Buffer.allocUnsafe(input.length);
      const k = key.length;
      let p = place === 'stream' ? pos : 0;
      for (let i = 0; i < input.length; i++) {
        out[i] = input[i]! ^ key[p]!;
        if (++p === k) p = 0;
      }
      if (place === 'stream') pos = p;
      return out;
    };
    return {
      decode: run,
      encode: run,
      gap(length) {
        if (place === 'stream') pos = (pos + (length % key.length)) % key.length;
        return 0;
      },
    };
  },
};
