import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RetainedWindow } from '../../src/reassembly/retained';

/**
 * The retained window against a model: the newest unacknowledged bytes of the contiguous run last
 * delivered, at most `max` of them; conflicts count differing bytes where a copy overlaps them.
 */
class Model {
  bytes = new Map<number, number>();
  start = 0;
  end = 0;
  constructor(readonly max: number) {}
  add(off: number, data: Buffer): void {
    if (data.length === 0) return;
    if (off !== this.end) {
      this.bytes.clear();
      this.start = off;
    }
    for (let i = 0; i < data.length; i++) this.bytes.set(off + i, data[i]!);
    this.end = off + data.length;
    this.start = Math.max(this.start, this.end - this.max);
  }
  release(upTo: number): void {
    this.start = Math.min(this.end, Math.max(this.start, upTo));
  }
  conflicts(off: number, data: Buffer): number {
    let n = 0;
    for (let i = 0; i < data.length; i++) {
      const o = off + i;
      if (o >= this.start && o < this.end && this.bytes.get(o) !== data[i]) n++;
    }
    return n;
  }
}

type Op = { kind: 'add'; jump: number; data: number[] } | { kind: 'release'; back: number } | { kind: 'check'; back: number; data: number[]; flip: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), jump: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 50 })), data: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 300 }) }),
  fc.record({ kind: fc.constant('release' as const), back: fc.integer({ min: 0, max: 400 }) }),
  fc.record({ kind: fc.constant('check' as const), back: fc.integer({ min: 1, max: 600 }), data: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 200 }), flip: fc.integer({ min: 0, max: 3 }) }),
);

/** The stream so far (so that a check can repeat it, with some bytes changed) and where it ends. */
interface Run {
  next: number;
  stream: Map<number, number>;
}

/** One op on the window and the model alike; an added chunk is returned (the caller may lend it). */
function step(w: RetainedWindow, m: Model, run: Run, o: Op): Buffer | null {
  if (o.kind === 'add') {
    const off = run.next + o.jump;
    const data = Buffer.from(o.data);
    data.forEach((b, i) => run.stream.set(off + i, b));
    w.add(off, data);
    m.add(off, data);
    run.next = off + data.length;
    return data;
  }
  if (o.kind === 'release') {
    w.release(run.next - o.back);
    m.release(run.next - o.back);
  } else {
    const off = run.next - o.back;
    const data = Buffer.from(o.data.map((b, i) => (run.stream.get(off + i) ?? b) ^ (i % 4 === 0 ? o.flip : 0)));
    expect(w.conflicts(off, data)).toBe(m.conflicts(off, data));
  }
  return null;
}

describe('RetainedWindow', () => {
  it('holds the newest unacknowledged bytes and counts differing copies as the model does', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1200 }), fc.array(op, { maxLength: 60 }), (max, ops) => {
        const budget = { retained: 0, maxRetained: 1 << 30 };
        const w = new RetainedWindow(max, budget);
        const m = new Model(max);
        const run: Run = { next: 1000, stream: new Map() };
        for (const o of ops) {
          step(w, m, run, o);
          expect(w.size).toBe(m.end - m.start);
          expect(w.capacity).toBeLessThanOrEqual(Math.max(max, 0) * 2);
        }
        w.free();
        expect(budget.retained).toBe(0);
      }),
      { numRuns: 400 },
    );
  });

  it('with lent chunks, copies what is unacknowledged when they are taken back, and counts as the model does', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1200 }), fc.array(fc.oneof(op, fc.constant({ kind: 'return' as const })), { maxLength: 60 }), (max, ops) => {
        const budget = { retained: 0, maxRetained: 1 << 30, lent: [] as RetainedWindow[] };
        const w = new RetainedWindow(max, budget);
        const m = new Model(max);
        const run: Run = { next: 1000, stream: new Map() };
        // the caller's buffers: overwritten once taken back, as a reader reusing them would
        let lent: Buffer[] = [];
        const takeBack = (): void => {
          for (const l of budget.lent) l.copyLent();
          budget.lent.length = 0;
          for (const b of lent) b.fill(0xee);
          lent = [];
        };
        for (const o of ops) {
          if (o.kind === 'return') takeBack();
          else {
            const added = step(w, m, run, o);
            if (added) lent.push(added);
          }
          expect(w.size).toBe(m.end - m.start);
        }
        takeBack();
        expect(w.size).toBe(m.end - m.start);
        w.free();
        expect(budget.retained).toBe(0);
      }),
      { numRuns: 400 },
    );
  });

  it('copies nothing from lent chunks that were acknowledged before they were taken back', () => {
    const budget = { retained: 0, maxRetained: 1 << 20, lent: [] as RetainedWindow[] };
    const w = new RetainedWindow(65536, budget);
    w.add(0, Buffer.alloc(1000, 1));
    w.add(1000, Buffer.alloc(1000, 2));
    expect(budget.lent).toEqual([w]);
    w.release(2000);
    w.copyLent();
    expect(w.capacity).toBe(0);
    w.add(2000, Buffer.alloc(1000, 3));
    w.release(2500);
    w.copyLent();
    expect(w.size).toBe(500);
    expect(w.capacity).toBe(512);
  });

  it('keeps no lent chunk once all of it is acknowledged (an idle connection would pin its reads)', () => {
    const budget = { retained: 0, maxRetained: 1 << 20, lent: [] as RetainedWindow[] };
    const w = new RetainedWindow(65536, budget);
    const chunks = [Buffer.alloc(100, 1), Buffer.alloc(100, 2), Buffer.alloc(100, 3)];
    chunks.forEach((c, i) => w.add(i * 100, c));
    w.release(150);
    w.release(300);
    w.copyLent();
    // what the window still refers to (its fields, and the array of the chunks after the first)
    const held = Object.values(w as unknown as Record<string, unknown>).flatMap((v) => (Array.isArray(v) ? v : [v]));
    for (const c of chunks) expect(held).not.toContain(c);
  });

  it('checks only the newest max bytes of lent chunks, as a window that had copied them', () => {
    const budget = { retained: 0, maxRetained: 1 << 20, lent: [] as RetainedWindow[] };
    const w = new RetainedWindow(100, budget);
    w.add(0, Buffer.alloc(200, 1));
    w.add(200, Buffer.alloc(100, 2));
    expect(w.size).toBe(100);
    expect(w.conflicts(0, Buffer.alloc(300, 9))).toBe(100);
    w.copyLent();
    expect(w.conflicts(0, Buffer.alloc(300, 9))).toBe(100);
    expect(w.conflicts(150, Buffer.alloc(100, 1))).toBe(50);
  });

  it('retains nothing once the shared budget is spent, and gives its capacity back when freed', () => {
    const budget = { retained: 0, maxRetained: 8192 };
    const a = new RetainedWindow(65536, budget);
    const b = new RetainedWindow(65536, budget);
    a.add(0, Buffer.alloc(6000, 1));
    expect(a.capacity).toBe(8192);
    b.add(0, Buffer.alloc(100, 2));
    expect(b.capacity).toBe(0);
    expect(b.conflicts(0, Buffer.alloc(100, 3))).toBe(0);
    expect(a.conflicts(10, Buffer.alloc(10, 9))).toBe(10);
    a.free();
    expect(budget.retained).toBe(0);
    b.add(100, Buffer.alloc(100, 2));
    expect(b.capacity).toBe(256);
  });
});
