import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFramer, type FrameSink } from '../../src/framing/framers';
import { wrapFrame } from '../../src/framing/spec';
import type { FramingSpec as Framing } from '../../src/framing/spec';
import { compileProtocol } from '../../src/protocol/protocol';

type Out = { frame?: string; raw?: string; offset: number; reason?: string };

function run(f: Framing, ops: (['data', Buffer] | ['gap', number])[]): Out[] {
  const out: Out[] = [];
  const sink: FrameSink = {
    frame: (buf, _s, bs, be, _e, offset) => out.push({ frame: buf.subarray(bs, be).toString('latin1'), offset }),
    raw: (b, offset, _ts, reason) => out.push({ raw: b.toString('latin1'), offset, reason }),
  };
  const fr = createFramer(f, sink);
  let off = 0;
  for (const [k, v] of ops) {
    if (k === 'data') {
      fr.push(v, off, 0);
      off += v.length;
    } else {
      fr.gap(v, off, 0);
      off += v;
    }
  }
  fr.end(0);
  return out;
}

const u16 = (n: number) => Buffer.from([n & 0xff, n >> 8]);
const lenFrame = (s: string) => Buffer.concat([u16(s.length), Buffer.from(s, 'latin1')]);
const LEN: Framing = { k: 'length', t: { k: 'int', size: 2, signed: false, le: true }, includesLength: false, adjust: 0, max: 1000 };

/** Every way of cutting `wire` into 1..4 chunks gives the same frames. */
function allSplits(f: Framing, wire: Buffer): Out[][] {
  const results: Out[][] = [];
  for (let a = 0; a <= wire.length; a++)
    for (let b = a; b <= wire.length; b += 3) results.push(run(f, [['data', wire.subarray(0, a)], ['data', wire.subarray(a, b)], ['data', wire.subarray(b)]]));
  return results;
}

describe('length-prefixed framing', () => {
  const wire = Buffer.concat(['hello', '', 'a', 'world!!'].map(lenFrame));
  const want = [
    { frame: 'hello', offset: 0 },
    { frame: '', offset: 7 },
    { frame: 'a', offset: 9 },
    { frame: 'world!!', offset: 12 },
  ];
  it('gives the same frames however the stream is cut', () => {
    for (const r of allSplits(LEN, wire)) expect(r).toEqual(want);
  });

  it('varint prefix, counting itself, with an adjustment', () => {
    const f: Framing = { k: 'length', t: { k: 'varint', zigzag: false }, includesLength: true, adjust: 2, max: 1000 };
    // total = value + 2; header 1 byte (value < 128) or 2 bytes
    const long = 'x'.repeat(200);
    const w = Buffer.concat([Buffer.from([4]), Buffer.from('abcde'), Buffer.from([0xc8, 0x01]), Buffer.from(long)]);
    for (const r of allSplits(f, w)) expect(r).toEqual([{ frame: 'abcde', offset: 0 }, { frame: long, offset: 6 }]);
  });

  it('a gap inside a frame of known length loses that frame only', () => {
    const out = run(LEN, [['data', wire.subarray(0, 3)], ['gap', 2], ['data', wire.subarray(5)]]);
    expect(out[0]).toMatchObject({ raw: '\x05\x00h', offset: 0, reason: 'frame of 7 bytes cut by a 2-byte gap' });
    expect(out[1]).toMatchObject({ raw: 'lo', offset: 5, reason: 'rest of a frame cut by a gap' });
    expect(out.slice(2)).toEqual(want.slice(1));
  });

  it('a gap that swallows a frame boundary leaves the rest raw, never garbage frames', () => {
    const out = run(LEN, [['data', wire.subarray(0, 3)], ['gap', 8], ['data', wire.subarray(11)]]);
    expect(out.every((o) => o.frame === undefined)).toBe(true);
    expect(out.at(-1)!.reason).toMatch(/unframed after a 8-byte gap at stream offset 3/);
    expect(out.map((o) => o.raw).join('')).toBe('\x05\x00h' + wire.subarray(11).toString('latin1'));
  });

  it('after a gap that swallows a frame boundary, framing starts again at a chunk that is whole frames', () => {
    // the chunk right after the gap starts mid-frame (raw); the next one starts at a frame
    const out = run(LEN, [['data', wire.subarray(0, 3)], ['gap', 8], ['data', wire.subarray(11, 12)], ['data', wire.subarray(12)], ['data', lenFrame('more')]]);
    expect(out.slice(0, 2).map((o) => o.frame)).toEqual([undefined, undefined]);
    expect(out[1]).toMatchObject({ raw: 'a', offset: 11 });
    expect(out.slice(2)).toEqual([
      { frame: 'world!!', offset: 12 },
      { frame: 'more', offset: 21 },
    ]);
    // a chunk whose lengths do not chain to its end stays raw
    const bad = run(LEN, [['data', wire.subarray(0, 3)], ['gap', 9], ['data', Buffer.concat([wire.subarray(12), Buffer.from([9])])]]);
    expect(bad.every((o) => o.frame === undefined)).toBe(true);
  });

  it('an implausible length turns the rest raw', () => {
    const out = run(LEN, [['data', Buffer.concat([lenFrame('ok'), Buffer.from([0xff, 0xff]), Buffer.from('zz')])]]);
    expect(out[0]).toEqual({ frame: 'ok', offset: 0 });
    expect(out[1].reason).toMatch(/implausible frame length at stream offset 4/);
  });

  it('a stream that ends inside a frame says so', () => {
    const out = run(LEN, [['data', wire.subarray(0, 11)]]);
    expect(out.at(-1)).toMatchObject({ raw: '\x01\x00', reason: 'stream ended inside a frame (2 of 3 bytes)' });
  });

  it('copies a frame only when it straddles chunks (no re-concatenation)', () => {
    const frames: Buffer[] = [];
    const chunk = Buffer.concat([lenFrame('abc'), lenFrame('defg')]);
    const fr = createFramer(LEN, { frame: (buf, _s, bs, be) => frames.push(buf.subarray(bs, be)), raw: () => {} });
    fr.push(chunk, 0, 0);
    expect(frames[0].buffer).toBe(chunk.buffer);
    expect(frames[1].buffer).toBe(chunk.buffer);
  });

  it('1 MB in 1-byte chunks stays linear', () => {
    const big = Buffer.concat(Array.from({ length: 20 }, () => lenFrame('y'.repeat(50_000))));
    let n = 0;
    const fr = createFramer({ ...LEN, max: 1 << 20 }, { frame: () => n++, raw: () => {} });
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < big.length; i++) fr.push(big.subarray(i, i + 1), i, 0);
    expect(n).toBe(20);
    // Quadratic re-parsing would take minutes here; linear takes well under a second.
    expect(Number(process.hrtime.bigint() - t0) / 1e9).toBeLessThan(10);
  });
});

describe('delimiter framing', () => {
  const f: Framing = { k: 'delimiter', bytes: Buffer.from('\r\n'), max: 100 };
  const wire = Buffer.from('one\r\ntwo\r\n\r\nthree\r\n');
  it('gives the same frames however the stream is cut, delimiter straddling chunks included', () => {
    for (const r of allSplits(f, wire)) expect(r.map((o) => o.frame)).toEqual(['one', 'two', '', 'three']);
  });
  it('resynchronises at the next delimiter after a gap', () => {
    const out = run(f, [['data', Buffer.from('one\r\ntw')], ['gap', 3], ['data', Buffer.from('xx\r\nfour\r\n')]]);
    expect(out.map((o) => o.frame ?? `raw:${o.raw}`)).toEqual(['one', 'raw:tw', 'raw:xx', 'four']);
  });
  it('a three-byte delimiter split over three chunks, and frames cut anywhere, give the same frames', () => {
    const end: Framing = { k: 'delimiter', bytes: Buffer.from('END'), max: 100 };
    const bytes = Buffer.from('aEbENcENDxyENDENDlastEN');
    const want = ['aEbENc', 'xy', '', 'raw:lastEN'];
    for (const r of allSplits(end, bytes)) expect(r.map((o) => o.frame ?? `raw:${o.raw}`)).toEqual(want);
    const oneByOne = run(end, [...bytes].map((b) => ['data', Buffer.from([b])] as ['data', Buffer]));
    expect(oneByOne.map((o) => o.frame ?? `raw:${o.raw}`)).toEqual(want);
  });
  it('a long frame in one-byte chunks costs each byte once (no re-joining of what is carried)', () => {
    const big: Framing = { k: 'delimiter', bytes: Buffer.from('\r\n'), max: 1 << 20 };
    const out: Buffer[] = [];
    const fr = createFramer(big, { frame: (buf, _s, bs, be) => out.push(buf.subarray(bs, be)), raw: () => undefined });
    const data = Buffer.alloc(500_000, 0x61);
    for (let i = 0; i < data.length; i++) fr.push(data.subarray(i, i + 1), i, 0);
    fr.push(Buffer.from('\r\n'), data.length, 0);
    expect(out).toHaveLength(1);
    expect(out[0]!.equals(data)).toBe(true);
  });
  it('a frame longer than max is passed raw, then framing resumes', () => {
    const out = run(f, [['data', Buffer.from('a'.repeat(150) + '\r\nok\r\n')]]);
    expect(out.at(-1)).toEqual({ frame: 'ok', offset: 152 });
    expect(out.slice(0, -1).every((o) => o.raw !== undefined)).toBe(true);
  });
});

describe('fixed-size framing', () => {
  const f: Framing = { k: 'fixed', size: 4 };
  it('keeps its alignment across any gap', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 13 }), (cut, gap) => {
        const wire = Buffer.from('AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIIIJJJJKKKKLLLLMMMMNNNN');
        const out = run(f, [['data', wire.subarray(0, cut)], ['gap', gap], ['data', wire.subarray(cut + gap)]]);
        for (const o of out) if (o.frame !== undefined) expect(o.frame).toBe(o.frame[0].repeat(4));
        for (const o of out) if (o.frame !== undefined) expect(o.offset % 4).toBe(0);
        const frames = out.filter((o) => o.frame !== undefined).length;
        expect(frames).toBeGreaterThanOrEqual(Math.floor((wire.length - gap) / 4) - 2);
      }),
    );
  });
});

describe('chunk framing', () => {
  it('one frame per chunk', () => {
    expect(run({ k: 'chunk' }, [['data', Buffer.from('a')], ['gap', 5], ['data', Buffer.from('bc')]])).toEqual([
      { frame: 'a', offset: 0 },
      { frame: 'bc', offset: 6 },
    ]);
  });
});

describe('header framing (the transport\'s compiled header)', () => {
  // magic be ef, a flags byte, a u24 length
  const p = compileProtocol(readFileSync(join(__dirname, '../fixtures/protocols/framed/protocol.yaml'), 'utf8'), 'framed.yaml');
  const t = p.tcp!;
  const frameOf = (body: string) => Buffer.concat([Buffer.from('beef00', 'hex'), Buffer.from([0, 0, body.length]), Buffer.from(body, 'latin1')]);
  const runWith = (ops: (['data', Buffer] | ['gap', number])[]): Out[] => {
    const out: Out[] = [];
    const fr = createFramer(t.spec, {
      frame: (buf, _s, bs, be, _e, offset, _ts, header) => out.push({ frame: buf.subarray(bs, be).toString('latin1'), offset, reason: JSON.stringify(header) }),
      raw: (b, offset, _ts, reason) => out.push({ raw: b.toString('latin1'), offset, reason }),
    });
    let off = 0;
    for (const [k, v] of ops) {
      if (k === 'data') fr.push(v, off, 0);
      else fr.gap(v, off, 0);
      off += k === 'data' ? v.length : v;
    }
    fr.end(0);
    return out;
  };
  const wire = Buffer.concat(['hello', '', 'a', 'world!!'].map(frameOf));

  it('gives the same frames and header fields however the stream is cut', () => {
    for (let a = 0; a <= wire.length; a++) {
      for (let b = a; b <= wire.length; b += 5) {
        const out = runWith([['data', wire.subarray(0, a)], ['data', wire.subarray(a, b)], ['data', wire.subarray(b)]]);
        expect(out.map((o) => o.frame)).toEqual(['hello', '', 'a', 'world!!']);
        expect(out[0]!.reason).toBe(JSON.stringify({ flags: { compressed: false, urgent: false }, length: 5 }));
      }
    }
  });

  it('after a gap, or a header that does not decode, it resumes at the next magic, with what it skipped raw', () => {
    const out = runWith([['data', frameOf('one')], ['data', frameOf('tw').subarray(0, 4)], ['gap', 5], ['data', Buffer.from('xx')], ['data', frameOf('three')]]);
    expect(out.filter((o) => o.frame !== undefined).map((o) => o.frame)).toEqual(['one', 'three']);
    const raws = out.filter((o) => o.raw !== undefined);
    expect(raws[0]!.reason).toMatch(/frame header cut by a 5-byte gap/);
    expect(raws.slice(1).every((o) => /up to the next frame header's magic/.test(o.reason!))).toBe(true);
    expect(raws.slice(1).map((o) => o.raw).join('')).toBe('xx');
    const bad = runWith([['data', Buffer.concat([Buffer.from('beefzz'), frameOf('ok')])]]);
    expect(bad.filter((o) => o.frame !== undefined).map((o) => o.frame)).toEqual(['ok']);
    expect(bad.some((o) => o.raw !== undefined && /skipped to the next frame header's magic after a frame header that does not decode/.test(o.reason!))).toBe(true);
  });

  it('a WebSocket-style length: 7 bits, or 16 or 64 more when the 7 say so, read across deliveries', () => {
    const ws = compileProtocol(
      'protocol: ws\ntcp:\n  framing:\n    header:\n      fin_op: u8\n      len7: { type: u8, bits: { masked: 1, n: 7 } }\n      ext16: { type: u16be, if: "len7.n == 126" }\n      ext64: { type: u64be, if: "len7.n == 127" }\n    length: "len7.n < 126 ? len7.n : len7.n == 126 ? ext16 : ext64"\n  messages:\n    m: { fields: { data: { type: bytes, until: end } } }\n',
      'ws.yaml',
    ).tcp!;
    const big = Buffer.alloc(70_000, 0x42);
    const wire = Buffer.concat([ws.frame(Buffer.from('hi'), { fin_op: 0x82, len7: { masked: 0, n: 2 } }), ws.frame(Buffer.alloc(300, 1), { fin_op: 0x82, len7: { masked: 0, n: 126 }, ext16: 300 }), ws.frame(big, { fin_op: 0x82, len7: { masked: 0, n: 127 }, ext64: 70_000n })]);
    expect(wire.subarray(0, 2).toString('hex')).toBe('8202');
    const sizes: number[] = [];
    const fr = createFramer(ws.spec, { frame: (_b, _s, bs, be) => sizes.push(be - bs), raw: (b, _o, _t, r) => sizes.push(-r.length) });
    for (let i = 0; i < wire.length; i += 1000) fr.push(wire.subarray(i, i + 1000), i, 0);
    fr.end(0);
    expect(sizes).toEqual([2, 300, 70_000]);
  });

  it('a length field at an offset (Modbus/TCP: u16be at byte 4, counting what follows it): the frame whole, split or merged', () => {
    const f: Framing = { k: 'length', t: { k: 'int', size: 2, signed: false, le: false }, includesLength: false, adjust: 0, max: 260, offset: 4 };
    const adu = (tid: number, pdu: string) => {
      const b = Buffer.alloc(6);
      b.writeUInt16BE(tid, 0);
      b.writeUInt16BE(pdu.length / 2, 4);
      return Buffer.concat([b, Buffer.from(pdu, 'hex')]);
    };
    const wire = Buffer.concat([adu(1, '1103006b0003'), adu(2, '110306022b00000064'), adu(3, '01')]);
    for (const r of allSplits(f, wire)) expect(r.map((o) => Buffer.from(o.frame!, 'latin1').toString('hex'))).toEqual([adu(1, '1103006b0003'), adu(2, '110306022b00000064'), adu(3, '01')].map((b) => b.toString('hex')));
  });
});

describe('every framer: wire bytes, wrapFrame, and stopping at a frame boundary', () => {
  const framed = compileProtocol(readFileSync(join(__dirname, '../fixtures/protocols/framed/protocol.yaml'), 'utf8'), 'framed.yaml').tcp!;
  const specs: [string, Framing, (body: Buffer) => Buffer][] = [
    ['u16le length', LEN, (b) => wrapFrame(LEN, b)],
    ['varint counting itself, adjust 2', { k: 'length', t: { k: 'varint', zigzag: false }, includesLength: true, adjust: 2, max: 1000, offset: 0 }, (b) => wrapFrame({ k: 'length', t: { k: 'varint', zigzag: false }, includesLength: true, adjust: 2, max: 1000, offset: 0 }, b)],
    ['header (magic, flags, u24)', framed.spec, (b) => framed.frame(b, { flags: { compressed: false, urgent: false } })],
    ['delimiter', { k: 'delimiter', bytes: Buffer.from('\r\n'), max: 100 }, (b) => wrapFrame({ k: 'delimiter', bytes: Buffer.from('\r\n'), max: 100 }, b)],
    ['fixed 6', { k: 'fixed', size: 6 }, (b) => wrapFrame({ k: 'fixed', size: 6 }, b)],
  ];
  const bodies = fc.array(fc.uint8Array({ minLength: 2, maxLength: 6 }).map((a) => Buffer.from(a.map((x) => (x === 13 ? 14 : x)))), { minLength: 1, maxLength: 8 });

  for (const [name, spec, wrap] of specs) {
    it(`${name}: the frames' wire bytes are the stream, cut anywhere; stopped at any frame, takeRest gives the rest to a new framer`, () => {
      fc.assert(
        fc.property(bodies, fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 20 }), fc.nat(10), (bs, cuts, stopAt) => {
          const stream = Buffer.concat(bs.map(wrap));
          const wires: Buffer[] = [];
          const frames: string[] = [];
          let framer = createFramer(spec, {
            frame: (buf, s, bs, be, e) => {
              wires.push(Buffer.from(buf.subarray(s, e)));
              frames.push(buf.subarray(bs, be).toString('hex'));
              return frames.length === stopAt;
            },
            raw: (b, _o, _t, r) => {
              throw new Error(`raw ${b.toString('hex')}: ${r}`);
            },
          });
          let off = 0;
          let i = 0;
          while (off < stream.length) {
            const n = Math.min(cuts[i++ % cuts.length]!, stream.length - off);
            framer.push(stream.subarray(off, off + n), off, 0);
            off += n;
            if (frames.length === stopAt && stopAt > 0) {
              // stopped: the bytes held go to a fresh framer, as a conversation does when its layers change
              const rest = framer.takeRest();
              framer = createFramer(spec, { frame: (buf, s, bs, be, e) => void (wires.push(Buffer.from(buf.subarray(s, e))), frames.push(buf.subarray(bs, be).toString('hex'))), raw: () => undefined });
              if (rest) framer.push(rest.bytes, rest.offset, 0);
              stopAt = -1;
            }
          }
          framer.end(0);
          expect(Buffer.concat(wires).equals(stream)).toBe(true);
          const want = bs.map((b) => (spec.k === 'fixed' ? Buffer.concat([b, Buffer.alloc(6 - b.length)]) : b).toString('hex'));
          expect(frames).toEqual(want);
        }),
        { numRuns: 150 },
      );
    });
  }
});
