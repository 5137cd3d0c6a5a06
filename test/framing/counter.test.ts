/**
 * CounterReader (the framers' and id dispatch's reader, no object per read) against readCounter,
 * over every counter kind, at any place and with the bytes cut anywhere.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CounterReader, readCounter, type Counter } from '../../src/framing/counter';

const KINDS: Counter[] = [
  ...([1, 2, 3, 4] as const).flatMap((size) => [false, true].flatMap((signed) => [false, true].map((le) => ({ k: 'int', size, signed, le }) as Counter))),
  { k: 'int', size: 8, signed: false, le: true },
  { k: 'varint', zigzag: false },
  { k: 'varint', zigzag: true },
  { k: 'varint', zigzag: false, width: 32 },
];

describe('CounterReader', () => {
  it('reads what readCounter reads (value and end), and NaN where it gives null', () => {
    fc.assert(
      fc.property(fc.constantFrom(...KINDS), fc.uint8Array({ maxLength: 12 }), fc.nat(12), fc.nat(12), (t, bytes, p, cut) => {
        const b = Buffer.from(bytes);
        const end = Math.min(b.length, cut);
        const want = readCounter(t, b, p, end);
        const r = new CounterReader(t);
        const v = r.read(b, p, end);
        if (want === null) expect(v).toBeNaN();
        else expect({ value: v, next: r.next }).toEqual(want);
      }),
      { numRuns: 5000, seed: 18 },
    );
  });
});
