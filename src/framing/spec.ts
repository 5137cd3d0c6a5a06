/**
 * What a framer needs to know, decided once from a protocol description: the kind of framing and
 * its numbers, and for a header of fields the compiled header codec (the protocol builds it; the
 * framer only calls it). `wrapFrame` is the encode side: a body as it goes on the wire.
 */
import { EncodeError } from '../core/errors';
import { writeCounter, type Counter } from './counter';

/** A frame header of fields, compiled by the protocol: read on decode, written on encode. */
export interface FrameHeaderCodec {
  /** Decode a header at b[0..): its fields and size, and the body's length; 'short' when more bytes are needed. */
  read(b: Buffer): { fields: Record<string, unknown>; size: number; bodyLength: number } | 'short' | { error: string };
  /** The header for a body of `bodyLength` bytes: `values` with the length field computed. */
  write(bodyLength: number, values: Record<string, unknown>): Buffer;
  /** The magic the header starts with (for finding the next frame after a gap), or null. */
  magic: Buffer | null;
  strip: boolean;
  max: number;
}

export type FramingSpec =
  /** [length][body]; offset > 0: the length field sits after `offset` bytes of the frame, and the frame is passed on whole. */
  | { k: 'length'; t: Counter; includesLength: boolean; adjust: number; max: number; offset: number }
  /** A header of fields (magic, flags, a length...) decoded before each body. */
  | { k: 'header'; codec: FrameHeaderCodec }
  | { k: 'delimiter'; bytes: Buffer; max: number }
  | { k: 'fixed'; size: number }
  /** One frame per delivered chunk (or per datagram). */
  | { k: 'chunk' }
  | { k: 'datagram' };

/** A frame body as it goes on the wire (length prefix, header, delimiter...); `header`: the header's values. */
export function wrapFrame(f: FramingSpec, body: Buffer, header: Record<string, unknown> = {}): Buffer {
  switch (f.k) {
    case 'length': {
      if (f.offset > 0) return patchLength(body, f);
      let value = body.length - f.adjust;
      if (f.includesLength) {
        // The prefix counts itself; with a varint its own size depends on the value.
        let size = writeCounter(f.t, value).length;
        for (let i = 0; i < 3; i++) size = writeCounter(f.t, body.length - f.adjust + size).length;
        value = body.length - f.adjust + size;
      }
      if (value < 0) throw new EncodeError(`a ${body.length}-byte body cannot be framed with adjust ${f.adjust}`, '');
      return Buffer.concat([writeCounter(f.t, value), body]);
    }
    case 'header':
      return Buffer.concat([f.codec.write(body.length, header), body]);
    case 'delimiter':
      if (body.indexOf(f.bytes) >= 0) throw new EncodeError('the message contains the frame delimiter', '');
      return Buffer.concat([body, f.bytes]);
    case 'fixed':
      if (body.length > f.size) throw new EncodeError(`${body.length} bytes do not fit a ${f.size}-byte frame`, '');
      return Buffer.concat([body, Buffer.alloc(f.size - body.length)]);
    case 'chunk':
    case 'datagram':
      return body;
  }
}

/** A whole frame whose length field sits at an offset: the field is written from the frame's size. */
function patchLength(frame: Buffer, f: FramingSpec & { k: 'length' }): Buffer {
  const size = (f.t as { size: number }).size;
  if (frame.length < f.offset + size) throw new EncodeError(`a ${frame.length}-byte frame is too short for its length field at byte ${f.offset}`, '');
  const value = (f.includesLength ? frame.length : frame.length - f.offset - size) - f.adjust;
  const out = Buffer.from(frame);
  writeCounter(f.t, value).copy(out, f.offset);
  return out;
}
