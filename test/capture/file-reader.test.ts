import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CaptureParser, readCaptureFile } from '../../src/capture/file-reader';
import { PcapngWriter, PcapWriter } from '../../src/capture/file-writer';
import { LINKTYPE } from '../../src/capture/linktypes';
import { GamesniffError } from '../../src/core/errors';
import { ethernet, tcpSegment } from '../helpers/packets';

const dir = mkdtempSync(join(tmpdir(), 'gs-reader-'));

interface Got {
  lt: number;
  len: number;
  orig: number;
  ts: number;
  ifi: number;
  first: number;
}

async function readAll(path: string): Promise<{ pkts: Got[]; stats: Awaited<ReturnType<typeof readCaptureFile>> }> {
  const pkts: Got[] = [];
  const stats = await readCaptureFile(path, (lt, d, orig, ts, ifi) =>
    pkts.push({ lt, len: d.length, orig, ts, ifi, first: d[0] ?? -1 }),
  );
  return { pkts, stats };
}

const samples = [0, 1, 2, 3, 4].map((i) => ethernet(tcpSegment({ seq: 1000 + i, flags: 'PA', payload: Buffer.alloc(10 + i * 100, i) })));
const T0 = 1_700_000_000_000_000;

describe('pcap', () => {
  it('writes and reads back microsecond pcap', async () => {
    const f = join(dir, 'a.pcap');
    const w = new PcapWriter(f, LINKTYPE.ETHERNET);
    samples.forEach((p, i) => w.write(p, T0 + i * 1500, p.length + (i === 4 ? 7 : 0)));
    w.close();
    const { pkts, stats } = await readAll(f);
    expect(stats.format).toBe('pcap');
    expect(pkts.map((p) => p.len)).toEqual(samples.map((s) => s.length));
    expect(pkts.map((p) => p.ts)).toEqual(samples.map((_, i) => T0 + i * 1500));
    expect(pkts[4]!.orig).toBe(samples[4]!.length + 7);
    expect(stats.truncatedPackets).toBe(1);
  });

  it('reads nanosecond pcap in either byte order', async () => {
    const f = join(dir, 'ns.pcap');
    const w = new PcapWriter(f, LINKTYPE.ETHERNET, { nanos: true });
    w.write(samples[0]!, T0 + 0.25);
    w.close();
    const le = readFileSync(f);
    // the same file, big-endian: swap every header field
    const be = Buffer.from(le);
    for (const [off, size] of [[0, 4], [4, 2], [6, 2], [8, 4], [12, 4], [16, 4], [20, 4], [24, 4], [28, 4], [32, 4], [36, 4]] as const) {
      if (size === 4) be.writeUInt32BE(le.readUInt32LE(off), off);
      else be.writeUInt16BE(le.readUInt16LE(off), off);
    }
    const fb = join(dir, 'ns-be.pcap');
    writeFileSync(fb, be);
    for (const path of [f, fb]) {
      const { pkts } = await readAll(path);
      expect(pkts).toHaveLength(1);
      expect(pkts[0]!.ts).toBeCloseTo(T0 + 0.25, 1);
      expect(pkts[0]!.len).toBe(samples[0]!.length);
    }
  });

  it('reads a gzip-compressed capture', async () => {
    const f = join(dir, 'a.pcap');
    const g = join(dir, 'a.pcap.gz');
    writeFileSync(g, gzipSync(readFileSync(f)));
    const { pkts } = await readAll(g);
    expect(pkts).toHaveLength(5);
  });
});

describe('pcapng', () => {
  it('writes and reads back several interfaces with different link types', async () => {
    const f = join(dir, 'a.pcapng');
    const w = new PcapngWriter(f, [{ linkType: LINKTYPE.ETHERNET, name: 'eth0' }, { linkType: LINKTYPE.RAW }]);
    w.write(samples[0]!, T0 + 0.001, samples[0]!.length, 0);
    w.write(samples[1]!.subarray(14), T0 + 2, samples[1]!.length - 14, 1);
    w.close();
    const { pkts, stats } = await readAll(f);
    expect(stats.format).toBe('pcapng');
    expect(stats.interfaces).toBe(2);
    expect(pkts.map((p) => [p.lt, p.ifi])).toEqual([
      [LINKTYPE.ETHERNET, 0],
      [LINKTYPE.RAW, 1],
    ]);
    expect(pkts[0]!.ts).toBeCloseTo(T0 + 0.001, 2);
    expect(pkts[1]!.first >> 4).toBe(4);
  });

  it('reads a big-endian section followed by a little-endian one, skipping unknown blocks', async () => {
    const le = readFileSync(join(dir, 'a.pcapng'));
    const be = bigEndianPcapng(samples[2]!);
    const unknown = Buffer.alloc(16);
    // in the big-endian section's byte order
    unknown.writeUInt32BE(0x0bad, 0);
    unknown.writeUInt32BE(16, 4);
    unknown.writeUInt32BE(16, 12);
    const f = join(dir, 'mixed.pcapng');
    writeFileSync(f, Buffer.concat([be, unknown, le]));
    const { pkts, stats } = await readAll(f);
    expect(stats.sections).toBe(2);
    expect(stats.skippedBlocks).toBe(1);
    expect(pkts.map((p) => p.len)).toEqual([samples[2]!.length, samples[0]!.length, samples[1]!.length - 14]);
  });
});

/** A minimal big-endian pcapng: SHB, IDB (Ethernet), one EPB. */
function bigEndianPcapng(pkt: Buffer): Buffer {
  const block = (type: number, body: Buffer): Buffer => {
    const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
    const b = Buffer.alloc(12 + padded.length);
    b.writeUInt32BE(type, 0);
    b.writeUInt32BE(b.length, 4);
    padded.copy(b, 8);
    b.writeUInt32BE(b.length, b.length - 4);
    return b;
  };
  const shb = Buffer.alloc(16);
  shb.writeUInt32BE(0x1a2b3c4d, 0);
  shb.writeUInt16BE(1, 4);
  shb.writeInt32BE(-1, 8);
  shb.writeInt32BE(-1, 12);
  const idb = Buffer.alloc(8);
  idb.writeUInt16BE(1, 0);
  const epb = Buffer.alloc(20);
  epb.writeUInt32BE(0, 0);
  epb.writeUInt32BE(12, 12);
  epb.writeUInt32BE(pkt.length, 12);
  epb.writeUInt32BE(pkt.length, 16);
  return Buffer.concat([block(0x0a0d0d0a, shb), block(1, idb), block(6, Buffer.concat([epb, pkt]))]);
}

describe('bad input', () => {
  it('rejects a file that is not a capture, naming what it saw', async () => {
    const f = join(dir, 'text.pcap');
    writeFileSync(f, 'hello world, not a capture');
    await expect(readCaptureFile(f, () => {})).rejects.toThrow(/not a pcap or pcapng capture file \(it starts with 68 65 6c 6c/);
  });

  it('names an unsupported link type', async () => {
    const f = join(dir, 'wifi.pcap');
    const w = new PcapWriter(f, 105);
    w.close();
    const err = await readCaptureFile(f, () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GamesniffError);
    expect((err as GamesniffError).message).toMatch(/unsupported link type IEEE802_11 \(Wi-Fi\)/);
  });

  it('a file cut at any byte keeps every whole packet before the cut and says where it was cut', async () => {
    for (const name of ['a.pcap', 'a.pcapng']) {
      const whole = readFileSync(join(dir, name));
      const { pkts: all } = await readAll(join(dir, name));
      const ends: number[] = [];
      // offsets at which each packet's record is complete
      const parser = new CaptureParser('x', () => ends.push(-1));
      let consumed = 0;
      for (let i = 1; i <= whole.length; i++) {
        const n = parser.push(whole.subarray(consumed, i));
        if (n > 0) {
          consumed += n;
          while (ends.includes(-1)) ends[ends.indexOf(-1)] = consumed;
        }
      }
      expect(ends).toHaveLength(all.length);
      for (let cut = 24; cut < whole.length; cut += 7) {
        const f = join(dir, `cut-${name}`);
        writeFileSync(f, whole.subarray(0, cut));
        const { pkts, stats } = await readAll(f);
        const expected = ends.filter((e) => e <= cut).length;
        expect(pkts.length, `cut at ${cut}`).toBe(expected);
        if (!ends.includes(cut) && cut > (name.endsWith('ng') ? 0 : 24)) expect(stats.truncatedFile).toMatch(/file ends in the middle of a record/);
      }
    }
  });

  it('an empty file is an input error', async () => {
    const f = join(dir, 'empty.pcap');
    writeFileSync(f, '');
    await expect(readCaptureFile(f, () => {})).rejects.toThrow(/too short to be a capture/);
  });

  it('stops reading when its signal is aborted, keeping what was read', async () => {
    const f = join(dir, 'long.pcap');
    const w = new PcapWriter(f, LINKTYPE.ETHERNET);
    for (let i = 0; i < 2000; i++) w.write(samples[4]!, T0 + i);
    w.close();
    const abort = new AbortController();
    let n = 0;
    const stats = await readCaptureFile(f, () => {
      if (++n === 10) abort.abort();
    }, { signal: abort.signal });
    expect(stats.stopped).toBe(true);
    expect(n).toBeGreaterThanOrEqual(10);
    expect(n).toBeLessThan(2000);
  });

  it('a missing file is an input error', async () => {
    await expect(readCaptureFile(join(dir, 'nope.pcap'), () => {})).rejects.toThrow(/cannot open \(ENOENT\)/);
  });
});
