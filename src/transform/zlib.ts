/**
 * Compression transforms. One-shot frames and fields go through Node's zlib (with an output
 * bound); a compressed stream, and per-message deflate with context takeover, need an inflate
 * context that lives across calls, which Node's synchronous zlib does not keep: those use pako.
 */
import type * as Pako from 'pako';

/** pako, loaded when a context is first made (most runs use none: 230 KB of modules a start-up). */
let pakoLoaded: typeof Pako | null = null;
const pakoLib = (): typeof Pako => (pakoLoaded ??= require('pako') as typeof Pako);
import { constants, deflateRawSync, deflateSync, inflateRawSync, inflateSync } from 'node:zlib';
import { tooLarge, TransformError, type Place, type Transform, type TransformArgs, type TransformKind, type TransformLimits } from './types';

/** The empty stored block a sync flush ends with; per-message deflate (RFC 7692) leaves it off the wire. */
const SYNC_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Inflate one whole buffer within `room` bytes of output; past it, a clear error. */
export function inflateWithin(data: Buffer, algorithm: 'zlib' | 'deflate', room: number, syncFlush = false): Buffer {
  const opts = { maxOutputLength: Math.max(1, room), ...(syncFlush ? { finishFlush: constants.Z_SYNC_FLUSH } : {}) };
  try {
    return algorithm === 'zlib' ? inflateSync(data, opts) : inflateRawSync(data, opts);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(room);
    throw new TransformError(`${algorithm}: ${(e as Error).message}`);
  }
}

/** A pako context fed piece by piece, each piece sync-flushed; output bounded per piece. */
class Context {
  private readonly engine: Pako.Inflate | Pako.Deflate;
  private readonly inflate: boolean;
  private out: Buffer[] = [];
  private size = 0;
  private broken = '';
  /** The compressed stream ended (inflate): what follows is not compressed. */
  ended = false;

  constructor(
    readonly what: string,
    inflate: boolean,
    raw: boolean,
    private readonly limit: number,
    windowBits = 15,
  ) {
    const pako = pakoLib();
    this.inflate = inflate;
    this.engine = inflate ? new pako.Inflate({ raw }) : new pako.Deflate({ raw, windowBits });
    this.engine.onData = (c: Uint8Array) => {
      this.size += c.length;
      if (this.size > this.limit) throw tooLarge(this.limit);
      this.out.push(Buffer.from(c.buffer, c.byteOffset, c.length));
    };
  }

  push(b: Buffer): Buffer {
    if (this.broken) throw new TransformError(this.broken);
    this.out = [];
    this.size = 0;
    try {
      this.engine.push(b, constants.Z_SYNC_FLUSH); // 2 in zlib and pako alike
    } catch (e) {
      this.broken = `${this.what}: ${(e as Error).message}; the context is lost for the rest of the direction`;
      throw e instanceof TransformError ? e : new TransformError(this.broken);
    }
    if (this.engine.err) {
      this.broken = `${this.what}: ${this.engine.msg || `error ${this.engine.err}`}; the context is lost for the rest of the direction`;
      throw new TransformError(this.broken);
    }
    if (this.inflate && (this.engine as unknown as { ended: boolean }).ended) this.ended = true;
    return this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out, this.size);
  }

  /** Bytes of the last push that came after the end of the compressed stream. */
  leftover(): number {
    return (this.engine as unknown as { strm: { avail_in: number } }).strm.avail_in;
  }
}

function zlibKind(name: 'zlib' | 'deflate', raw: boolean): TransformKind {
  return {
    name,
    doc: `${raw ? 'raw deflate (RFC 1951)' : 'zlib (RFC 1950)'}: each frame or field compressed on its own; on a stream, one compressed stream (sync-flushed), the rest of the direction raw after a gap`,
    places: ['stream', 'frame', 'field'],
    lengthPreserving: false,
    params: [],
    create(_args: TransformArgs, place: Place, limits: TransformLimits): Transform {
      if (place !== 'stream') {
        const t: Transform = {
          decode(b) {
            const out = inflateWithin(b, name, limits.output);
            t.inflated = true;
            return out;
          },
          encode: (b) => (raw ? deflateRawSync(b) : deflateSync(b)),
          gap: () => 0,
        };
        return t;
      }
      const inf = new Context(name, true, raw, limits.output);
      let def: Context | null = null;
      const t: Transform = {
        decode(b) {
          if (inf.ended) return b;
          const out = inf.push(b);
          t.inflated = true;
          // the compressed stream ended inside this chunk: what follows it is plain
          if (inf.ended && inf.leftover() > 0) return Buffer.concat([out, b.subarray(b.length - inf.leftover())]);
          return out;
        },
        encode: (b) => (def ??= new Context(name, false, raw, Number.MAX_SAFE_INTEGER)).push(b),
        gap: () => `${name}: a compressed stream cannot go on after lost bytes`,
      };
      return t;
    },
  };
}

export const ZLIB = zlibKind('zlib', false);
export const DEFLATE = zlibKind('deflate', true);

/**
 * Raw deflate per message, each ending in a sync flush whose 00 00 ff ff is left off the wire
 * (WebSocket's permessage-deflate, RFC 7692). With context takeover (the default) the messages of
 * a direction share one LZ77 window, so a lost message loses the rest of the direction.
 */
export const DEFLATE_SYNC: TransformKind = {
  name: 'deflate-sync',
  doc: 'raw deflate per frame, sync-flushed with the 00 00 ff ff tail left off (permessage-deflate); takeover: one window across the frames of a direction (default true)',
  places: ['frame'],
  lengthPreserving: false,
  params: [
    { name: 'takeover', kind: 'bool', required: false, doc: 'context takeover: frames share the window (default true)' },
    { name: 'window_bits', kind: 'int', required: false, doc: 'the window the peer allows when encoding, 8 to 15 (default 15; RFC 7692 max_window_bits)' },
  ],
  create(args: TransformArgs, _place: Place, limits: TransformLimits): Transform {
    const takeover = args.takeover !== false;
    // zlib has no raw 8-bit window: 9 is what a peer that asked for 8 gets (as ws does)
    const windowBits = typeof args.window_bits === 'number' ? Math.min(15, Math.max(9, Math.floor(args.window_bits))) : 15;
    let inf: Context | null = null;
    let def: Context | null = null;
    const strip = (b: Buffer): Buffer => (b.length >= 4 && b.subarray(b.length - 4).equals(SYNC_TAIL) ? b.subarray(0, b.length - 4) : b);
    const t: Transform = {
      decode(b) {
        const withTail = Buffer.concat([b, SYNC_TAIL]);
        const out = takeover ? (inf ??= new Context('deflate-sync', true, true, limits.output)).push(withTail) : inflateWithin(withTail, 'deflate', limits.output, true);
        t.inflated = true;
        return out;
      },
      encode(b) {
        if (takeover) return strip((def ??= new Context('deflate-sync', false, true, Number.MAX_SAFE_INTEGER, windowBits)).push(b));
        return strip(deflateRawSync(b, { finishFlush: constants.Z_SYNC_FLUSH, windowBits }));
      },
      gap: () => (takeover ? 'deflate-sync with context takeover: the window was lost with a frame a gap took' : 0),
    };
    return t;
  },
};
