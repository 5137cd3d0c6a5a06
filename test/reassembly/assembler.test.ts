import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seqAdd } from '../../src/core/seq';
import type { StreamEnd } from '../../src/core/types';
import { DEFAULT_ASSEMBLER_OPTIONS, PIECE_COST, ReassemblyBudget, TcpStreamAssembler, type StreamSink } from '../../src/reassembly/assembler';

type Out = { data: string } | { gap: number } | { end: StreamEnd };

class Recorder implements StreamSink {
  out: Out[] = [];
  chunks: Array<[number, Buffer]> = [];
  data(chunk: Buffer, offset: number): void {
    this.chunks.push([offset, Buffer.from(chunk)]);
    const last = this.out[this.out.length - 1];
    if (last && 'data' in last) last.data += chunk.toString('latin1');
    else this.out.push({ data: chunk.toString('latin1') });
  }
  gap(length: number): void {
    this.out.push({ gap: length });
  }
  end(reason: StreamEnd): void {
    this.out.push({ end: reason });
  }
}

/** A scripted step: a segment at a relative seq (0 = first data byte), an ACK, or a close. */
type Step =
  | { seg: number; data?: string; len?: number; syn?: boolean; fin?: boolean }
  | { ack: number }
  | { close: StreamEnd };

function run(steps: Step[], isn = 1000, opts = DEFAULT_ASSEMBLER_OPTIONS): { out: Out[]; a: TcpStreamAssembler } {
  const rec = new Recorder();
  const a = new TcpStreamAssembler(rec, new ReassemblyBudget(), opts);
  for (const s of steps) {
    if ('seg' in s) {
      const data = Buffer.from(s.data ?? '', 'latin1');
      // relative seq r maps to isn + 1 + r; a SYN sits at isn itself
      const seq = s.syn ? isn : seqAdd(isn, 1 + s.seg);
      a.segment(seq >>> 0, !!s.syn, !!s.fin, data, s.len ?? data.length, 0);
    } else if ('ack' in s) a.ack(seqAdd(isn, 1 + s.ack), 0);
    else a.close(s.close, 0);
  }
  return { out: rec.out, a };
}

const SYN: Step = { seg: -1, syn: true };

describe('assembler: {segments in, chunks and gaps out}', () => {
  const cases: Array<{ name: string; steps: Step[]; out: Out[]; conflicts?: number }> = [
    { name: 'in order', steps: [SYN, { seg: 0, data: 'abc' }, { seg: 3, data: 'def' }, { close: 'open' }], out: [{ data: 'abcdef' }, { end: 'open' }] },
    {
      name: 'out of order is held until the hole fills',
      steps: [SYN, { seg: 3, data: 'def' }, { seg: 0, data: 'abc' }, { close: 'open' }],
      out: [{ data: 'abcdef' }, { end: 'open' }],
    },
    {
      name: 'exact retransmission delivered once',
      steps: [SYN, { seg: 0, data: 'abc' }, { seg: 0, data: 'abc' }, { seg: 3, data: 'd' }, { close: 'open' }],
      out: [{ data: 'abcd' }, { end: 'open' }],
    },
    {
      name: 'overlap case 2: starts before the stream position',
      steps: [SYN, { seg: 0, data: 'abcd' }, { seg: 2, data: 'cdef' }, { close: 'open' }],
      out: [{ data: 'abcdef' }, { end: 'open' }],
    },
    {
      name: 'overlap case 3: inside held data',
      steps: [SYN, { seg: 2, data: 'cdefg' }, { seg: 3, data: 'de' }, { seg: 0, data: 'ab' }, { close: 'open' }],
      out: [{ data: 'abcdefg' }, { end: 'open' }],
    },
    {
      name: 'overlap case 4: covers held segments, fills the holes between them',
      steps: [SYN, { seg: 2, data: 'cd' }, { seg: 6, data: 'gh' }, { seg: 1, data: 'bcdefghi' }, { seg: 0, data: 'a' }, { close: 'open' }],
      out: [{ data: 'abcdefghi' }, { end: 'open' }],
    },
    {
      name: 'overlap case 5: partial overlap with held data',
      steps: [SYN, { seg: 2, data: 'cdef' }, { seg: 4, data: 'efgh' }, { seg: 0, data: 'ab' }, { close: 'open' }],
      out: [{ data: 'abcdefgh' }, { end: 'open' }],
    },
    {
      name: 'different bytes in an overlap: first copy wins, differences counted',
      steps: [SYN, { seg: 2, data: 'GOOD' }, { seg: 2, data: 'EVIL' }, { seg: 0, data: 'ab' }, { seg: 0, data: 'aX' }, { close: 'open' }],
      out: [{ data: 'abGOOD' }, { end: 'open' }],
      conflicts: 5,
    },
    {
      name: 'FIN ends the stream; a retransmitted FIN changes nothing',
      steps: [SYN, { seg: 0, data: 'abc', fin: true }, { seg: 0, data: 'abc', fin: true }, { close: 'open' }],
      out: [{ data: 'abc' }, { end: 'fin' }],
    },
    {
      name: 'FIN before a hole waits for the hole',
      steps: [SYN, { seg: 3, data: 'def', fin: true }, { seg: 0, data: 'abc' }],
      out: [{ data: 'abcdef' }, { end: 'fin' }],
    },
    {
      name: 'mid-stream join starts at the first byte seen',
      steps: [{ seg: 500, data: 'xyz' }, { seg: 503, data: 'w' }, { seg: 400, data: 'old' }, { close: 'open' }],
      out: [{ data: 'xyzw' }, { end: 'open' }],
    },
    {
      name: 'the peer acknowledging past a hole makes it a gap of the exact size',
      steps: [SYN, { seg: 0, data: 'ab' }, { seg: 5, data: 'fg' }, { ack: 7 }, { seg: 2, data: 'cde' }, { close: 'open' }],
      out: [{ data: 'ab' }, { gap: 3 }, { data: 'fg' }, { end: 'open' }],
    },
    {
      name: 'an ACK beyond everything seen is a gap too (lost tail)',
      steps: [SYN, { seg: 0, data: 'ab' }, { ack: 10 }, { close: 'open' }],
      out: [{ data: 'ab' }, { gap: 8 }, { end: 'open' }],
    },
    {
      name: 'holes left at close become gaps',
      steps: [SYN, { seg: 4, data: 'ef' }, { seg: 10, data: 'k' }, { close: 'timeout' }],
      out: [{ gap: 4 }, { data: 'ef' }, { gap: 4 }, { data: 'k' }, { end: 'timeout' }],
    },
    {
      name: 'SYN with data (TCP Fast Open)',
      steps: [{ seg: -1, syn: true, data: 'hello' }, { seg: 5, data: '!' }, { close: 'open' }],
      out: [{ data: 'hello!' }, { end: 'open' }],
    },
    {
      name: 'a segment cut by the capture leaves a gap of exactly the missing bytes',
      steps: [SYN, { seg: 0, data: 'abc', len: 10 }, { seg: 10, data: 'k' }, { ack: 11 }, { close: 'open' }],
      out: [{ data: 'abc' }, { gap: 7 }, { data: 'k' }, { end: 'open' }],
    },
    {
      name: 'a segment cut at the end of the stream: gap at close',
      steps: [SYN, { seg: 0, data: 'abc', len: 10 }, { close: 'open' }],
      out: [{ data: 'abc' }, { gap: 7 }, { end: 'open' }],
    },
    {
      name: 'a single far jump (corrupted sequence number) is ignored',
      steps: [SYN, { seg: 0, data: 'ab' }, { seg: 400_000_000, data: 'zz' }, { seg: 2, data: 'cd' }, { close: 'open' }],
      out: [{ data: 'abcd' }, { end: 'open' }],
    },
    {
      name: 'a far jump confirmed by a second packet is followed',
      steps: [SYN, { seg: 0, data: 'ab' }, { seg: 400_000_000, data: 'yy' }, { ack: 400_000_002 }, { seg: 400_000_002, data: 'z' }, { close: 'open' }],
      out: [{ data: 'ab' }, { gap: 399_999_998 }, { data: 'yyz' }, { end: 'open' }],
    },
  ];
  it.each(cases)('$name', ({ steps, out, conflicts }) => {
    const r = run(steps);
    expect(r.out).toEqual(out);
    if (conflicts !== undefined) expect(r.a.stats.overlapConflicts).toBe(conflicts);
  });

  it('wraps around 2^32', () => {
    const { out } = run([SYN, { seg: 0, data: 'abcd' }, { seg: 4, data: 'efgh' }, { seg: 8, data: 'ij' }, { close: 'open' }], 0xfffffffa);
    expect(out).toEqual([{ data: 'abcdefghij' }, { end: 'open' }]);
  });

  it('overflowing the per-stream buffer turns the oldest hole into a gap', () => {
    const opts = { ...DEFAULT_ASSEMBLER_OPTIONS, maxPendingPerStream: 8 };
    const { out } = run([SYN, { seg: 2, data: 'cdef' }, { seg: 6, data: 'ghij' }, { seg: 10, data: 'k' }], 1000, opts);
    expect(out).toEqual([{ gap: 2 }, { data: 'cdefghijk' }]);
  });

  it('keeps no buffered bytes after the stream ends', () => {
    const budget = new ReassemblyBudget();
    const a = new TcpStreamAssembler(new Recorder(), budget);
    a.segment(1, true, false, Buffer.alloc(0), 0, 0);
    a.segment(100, false, false, Buffer.alloc(50), 50, 0);
    a.segment(2, false, false, Buffer.alloc(10), 10, 0);
    // each held piece also counts PIECE_COST for its bookkeeping; the retained window its capacity
    expect(budget.pending).toBe(50 + PIECE_COST);
    expect(budget.retained).toBe(256);
    a.close('rst', 0);
    expect(budget.pending).toBe(0);
    expect(budget.retained).toBe(0);
  });
});

/** Cut `data` into segments at random points; each segment is [offset, length]. */
const segmentation = (len: number) =>
  fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, len - 1) }), { maxLength: 40 }).map((cuts) => {
    const points = [0, ...cuts.filter((c) => c < len).sort((a, b) => a - b), len];
    const segs: Array<[number, number]> = [];
    for (let i = 0; i + 1 < points.length; i++) if (points[i + 1]! > points[i]!) segs.push([points[i]!, points[i + 1]! - points[i]!]);
    return segs;
  });

const isnArb = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0xffffff00, max: 0xffffffff }));

describe('assembler properties', () => {
  it('reordered, duplicated and overlapping segments give back the original bytes', () => {
    const scenario = fc
      .uint8Array({ minLength: 1, maxLength: 3000 })
      .chain((bytes) =>
        fc.tuple(
          fc.constant(Buffer.from(bytes)),
          segmentation(bytes.length),
          fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 10 }),
          isnArb,
          fc.integer(),
        ),
      );
    fc.assert(
      fc.property(scenario, ([data, segs, extra, isn, seed]) => {
        // extra overlapping retransmissions: random slices of the same bytes
        const all = [...segs];
        for (const [a, b] of extra) {
          const s = a % data.length;
          all.push([s, 1 + (b % (data.length - s))]);
        }
        shuffle(all, seed);
        const rec = new Recorder();
        const asm = new TcpStreamAssembler(rec);
        asm.segment(isn, true, false, Buffer.alloc(0), 0, 0);
        for (const [off, len] of all) asm.segment(seqAdd(isn, 1 + off), false, false, data.subarray(off, off + len), len, 0);
        asm.close('open', 0);
        expect(Buffer.concat(rec.chunks.map((c) => c[1])).equals(data)).toBe(true);
        expect(asm.stats.gaps).toBe(0);
        expect(asm.stats.overlapConflicts).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('with segments dropped, delivered bytes plus gap bytes account for every byte, in order', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 3000 }),
        isnArb,
        fc.integer(),
        fc.double({ min: 0, max: 0.7, noNaN: true }),
        (bytes, isn, seed, dropRate) => {
          const data = Buffer.from(bytes);
          const segs = cut(data.length, seed);
          const kept = segs.filter((_, i) => pseudo(seed + i) >= dropRate);
          shuffle(kept, seed);
          const rec = new Recorder();
          const asm = new TcpStreamAssembler(rec);
          asm.segment(isn, true, false, Buffer.alloc(0), 0, 0);
          for (const [off, len] of kept) asm.segment(seqAdd(isn, 1 + off), false, false, data.subarray(off, off + len), len, 0);
          // the peer acknowledged everything: what we never saw is lost
          asm.ack(seqAdd(isn, 1 + data.length), 0);
          asm.close('open', 0);
          let pos = 0;
          for (const item of rec.out) {
            if ('gap' in item) pos += item.gap;
            else if ('data' in item) {
              const chunk = Buffer.from(item.data, 'latin1');
              expect(chunk.equals(data.subarray(pos, pos + chunk.length))).toBe(true);
              pos += chunk.length;
            }
          }
          expect(pos).toBe(data.length);
          expect(asm.stats.bytes + asm.stats.gapBytes).toBe(data.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

function pseudo(n: number): number {
  const x = Math.sin(n) * 10000;
  return x - Math.floor(x);
}

function cut(len: number, seed: number): Array<[number, number]> {
  const segs: Array<[number, number]> = [];
  let off = 0;
  let i = 0;
  while (off < len) {
    const l = Math.min(len - off, 1 + Math.floor(pseudo(seed * 7 + i++) * 300));
    segs.push([off, l]);
    off += l;
  }
  return segs;
}

function shuffle<T>(a: T[], seed: number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(pseudo(seed + i * 13) * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
}
