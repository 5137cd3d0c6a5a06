import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RangeStore } from '../../src/core/ranges';

/** The store's contents as one map offset -> byte. */
function contents(s: RangeStore): Map<number, number> {
  const m = new Map<number, number>();
  let prevEnd = -Infinity;
  for (const p of s) {
    expect(p.off).toBeGreaterThanOrEqual(prevEnd); // sorted, no overlap
    expect(p.data.length).toBeGreaterThan(0);
    for (let i = 0; i < p.data.length; i++) m.set(p.off + i, p.data[i]!);
    prevEnd = p.off + p.data.length;
  }
  return m;
}

describe('RangeStore', () => {
  it('the three overlap cases: inside, over an edge, covering whole pieces (first copy wins)', () => {
    const s = new RangeStore();
    const seen: string[] = [];
    const note = (held: Buffer, again: Buffer) => seen.push(`${held.toString()}/${again.toString()}`);
    expect(s.insert(10, Buffer.from('abcd'), note)).toBe(4);
    expect(s.insert(11, Buffer.from('XY'), note)).toBe(0); // case 1
    expect(s.insert(12, Buffer.from('ZZef'), note)).toBe(2); // case 2
    expect(s.insert(20, Buffer.from('g'), note)).toBe(1);
    expect(s.insert(22, Buffer.from('h'), note)).toBe(1);
    expect(s.insert(19, Buffer.from('1234567'), note)).toBe(5); // case 3: absorbs g and h
    expect(seen).toEqual(['bc/XY', 'cd/ZZ', 'g/2', 'h/4']);
    expect([...s].map((p) => [p.off, p.data.toString()])).toEqual([
      [10, 'abcdef'.slice(0, 4)],
      [14, 'ef'],
      [19, '1g3h567'],
    ]);
    expect(s.count).toBe(3);
    expect(s.bytes).toBe(13);
    expect(s.covers(10, 16)).toBe(true);
    expect(s.covers(10, 17)).toBe(false);
    expect(s.shift()!.off).toBe(10);
    expect(s.first()!.off).toBe(14);
  });

  it('copies what it stores: the source buffer may change afterwards', () => {
    const s = new RangeStore();
    const src = Buffer.from('hello');
    s.insert(0, src);
    src.fill(0);
    expect(s.first()!.data.toString()).toBe('hello');
  });

  it('matches a byte-by-byte model for any insert order (thousands of pieces, so chunks split)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 255 })), { maxLength: 600 }),
        (inserts) => {
          const s = new RangeStore();
          const model = new Map<number, number>();
          let overlapBytes = 0;
          let reported = 0;
          for (const [off, len, v] of inserts) {
            const data = Buffer.alloc(len, v);
            let added = 0;
            for (let i = 0; i < len; i++) {
              if (model.has(off + i)) overlapBytes++;
              else {
                model.set(off + i, v);
                added++;
              }
            }
            expect(s.insert(off, data, (held) => (reported += held.length))).toBe(added);
          }
          expect(reported).toBe(overlapBytes);
          expect(contents(s)).toEqual(model);
          expect(s.bytes).toBe(model.size);
          // shifting empties it in order
          let last = -Infinity;
          for (let p = s.shift(); p; p = s.shift()) {
            expect(p.off).toBeGreaterThan(last);
            last = p.off;
          }
          expect(s.count).toBe(0);
          expect(s.bytes).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a storm of one-byte pieces in shuffled order ends as every byte, in order', () => {
    const n = 50_000;
    const order = Array.from({ length: n }, (_, i) => i);
    let x = 12345;
    for (let i = n - 1; i > 0; i--) {
      x = (x * 1103515245 + 12345) >>> 0;
      const j = x % (i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const s = new RangeStore();
    for (const i of order) s.insert(i, Buffer.from([i & 0xff]));
    expect(s.count).toBe(n);
    expect(s.covers(0, n)).toBe(true);
    let i = 0;
    let wrong = 0;
    for (const p of s) if (p.off !== i || p.data[0] !== (i++ & 0xff)) wrong++;
    expect(wrong).toBe(0);
    // one covering segment absorbs all but the piece on its left edge
    s.insert(0, Buffer.alloc(n, 7));
    expect(s.count).toBe(2);
    expect([...s][1]!.data[4]).toBe(5);
  });
});
