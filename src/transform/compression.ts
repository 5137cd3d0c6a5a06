import { deflateRawSync, deflateSync } from 'node:zlib';
import { sizeText } from '../core/size';
import { readCounter, writeCounter, type Counter } from '../framing/counter';
import { TransformError, type Transform, type TransformArgs, type TransformKind, type TransformLimits } from './types';
import { inflateWithin } from './zlib';

/**
 * A frame body compressed when it is large enough, as a voxel game does once compression is on:
 * an uncompressed-size counter (0: this frame went uncompressed) and the compressed bytes; without
 * a counter, every frame is compressed. `threshold` is the smallest body the encoder compresses.
 * A description writes it as `compression:` (its `when:` says from which message on).
 */
export const COMPRESSION: TransformKind = {
  name: 'compression',
  doc: 'frame compression with an uncompressed-size prefix (0: not compressed) and a size threshold, or every frame compressed without a prefix',
  places: ['frame'],
  lengthPreserving: false,
  params: [
    { name: 'algorithm', kind: 'choice', required: true, choices: ['zlib', 'deflate'], doc: 'zlib or raw deflate' },
    { name: 'length', kind: 'counter', required: false, doc: 'the uncompressed-size counter before the compressed bytes' },
    { name: 'threshold', kind: 'int', required: false, doc: 'encoding compresses bodies of at least this size (default 0)' },
  ],
  create(args: TransformArgs, _place, limits: TransformLimits): Transform {
    const algorithm = args.algorithm as 'zlib' | 'deflate';
    const length = args.length as Counter | undefined;
    const threshold = (args.threshold as number | undefined) ?? 0;
    const deflate = (b: Buffer): Buffer => (algorithm === 'zlib' ? deflateSync(b) : deflateRawSync(b));
    const t: Transform = {
      decode(frame) {
        t.inflated = false;
        let at = 0;
        let expected = -1;
        if (length) {
          const len = readCounter(length, frame, 0);
          if (!len) throw new TransformError('compression header cut short');
          at = len.next;
          expected = len.value;
          // 0: this frame went uncompressed
          if (expected === 0) return frame.subarray(at);
          if (expected < 0) throw new TransformError(`the header says ${expected} bytes uncompressed`);
          if (expected > limits.output) throw new TransformError(`the header says ${expected} bytes uncompressed, more than the ${sizeText(limits.output)} decode budget of one message`);
        }
        const body = inflateWithin(frame.subarray(at), algorithm, limits.output);
        t.inflated = true;
        if (expected >= 0 && body.length !== expected) throw new TransformError(`decompressed to ${body.length} bytes, header says ${expected}`);
        return body;
      },
      encode(body) {
        if (!length) return deflate(body);
        if (body.length < threshold) return Buffer.concat([writeCounter(length, 0), body]);
        return Buffer.concat([writeCounter(length, body.length), deflate(body)]);
      },
      gap: () => 0,
    };
    return t;
  },
};
