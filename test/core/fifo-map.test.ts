import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FifoMap } from '../../src/core/fifo-map';

describe('FifoMap', () => {
  it('behaves as a Map whose oldest entry is the one set longest ago (a model check)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('set', 'delete', 'shift'), fc.integer({ min: 0, max: 30 })), { maxLength: 3000 }), (ops) => {
        const f = new FifoMap<number, number>();
        const model: number[] = []; // keys in order of their last set
        const values = new Map<number, number>();
        ops.forEach(([op, k], i) => {
          if (op === 'set') {
            f.set(k, i);
            values.set(k, i);
            model.splice(model.indexOf(k) >>> 0, model.includes(k) ? 1 : 0);
            model.push(k);
          } else if (op === 'delete') {
            expect(f.delete(k)).toBe(values.delete(k));
            if (model.includes(k)) model.splice(model.indexOf(k), 1);
          } else {
            const o = f.shift();
            const m = model.shift();
            expect(o?.[0]).toBe(m);
            if (m !== undefined) values.delete(m);
          }
        });
        expect(f.size).toBe(values.size);
        expect([...f].map(([k]) => k)).toEqual(model);
        for (const [k, v] of values) expect(f.get(k)).toBe(v);
      }),
      { numRuns: 200 },
    );
  });

  it('dropping the oldest under churn stays linear: 300k inserts at a cap of 100k', () => {
    const f = new FifoMap<number, number>();
    let dropped = 0;
    for (let i = 0; i < 300_000; i++) {
      f.set(i, i);
      if (i % 3 === 0) f.delete(i - 1); // promoted half-open entries leave from the middle
      if (f.size > 100_000) {
        f.shift();
        dropped++;
      }
    }
    expect(f.size).toBe(100_000);
    expect(dropped).toBeGreaterThan(90_000);
    expect(f.oldest()![0]).toBeGreaterThan(100_000);
  });
});
