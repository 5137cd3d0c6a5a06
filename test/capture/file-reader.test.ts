import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CaptureParser, readCaptureFile } from '../../src/capture/file-reader';
import { pcapngBlock, PcapngWriter, PcapWriter } from '../../src/capture/file-writer';
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
    await expect(readCaptureFile(join(dir, 'nope.pcap'), () => {})).rejects.toThrow(/nope.pcap: no such file/);
  });
});

const ngBlock = pcapngBlock;

describe('hostile files: blocks too short for their type, timestamps out of range', () => {
  const shb = ngBlock(0x0a0d0d0a, Buffer.from('4d3c2b1a01000000ffffffffffffffff', 'hex'));
  const idb = (opts = Buffer.alloc(0)) => {
    const head = Buffer.alloc(8);
    head.writeUInt16LE(LINKTYPE.ETHERNET, 0);
    head.writeUInt32LE(65535, 4);
    return ngBlock(1, Buffer.concat([head, opts]));
  };
  const epb = (pkt: Buffer, ts = T0, ifIndex = 0) => {
    const h = Buffer.alloc(20);
    h.writeUInt32LE(ifIndex, 0);
    h.writeUInt32LE(Math.floor(ts / 2 ** 32), 4);
    h.writeUInt32LE(ts % 2 ** 32, 8);
    h.writeUInt32LE(pkt.length, 12);
    h.writeUInt32LE(pkt.length, 16);
    return ngBlock(6, Buffer.concat([h, pkt]));
  };

  it.each([
    ['an interface block of 12 bytes as the last block', ngBlock(1, Buffer.alloc(0))],
    ['an empty enhanced packet block', ngBlock(6, Buffer.alloc(0))],
    ['an empty obsolete packet block', ngBlock(2, Buffer.alloc(0))],
    ['an empty simple packet block', ngBlock(3, Buffer.alloc(0))],
    ['an empty statistics block', ngBlock(5, Buffer.alloc(0))],
  ])('%s is skipped and counted; the packets before it are read', async (_name, bad) => {
    const f = join(dir, 'short.pcapng');
    writeFileSync(f, Buffer.concat([shb, idb(), epb(samples[0]!), epb(samples[1]!), bad]));
    const { pkts, stats } = await readAll(f);
    expect(pkts).toHaveLength(2);
    expect(stats.corruptBlocks).toBe(1);
  });

  it('a short interface block keeps its index: packets on it are counted as unreadable, packets on the next interface are read', async () => {
    const f = join(dir, 'short-idb.pcapng');
    writeFileSync(f, Buffer.concat([shb, ngBlock(1, Buffer.alloc(2)), idb(), epb(samples[0]!, T0, 0), epb(samples[1]!, T0, 1)]));
    const { pkts, stats } = await readAll(f);
    expect(pkts.map((p) => p.ifi)).toEqual([1]);
    expect(stats.unsupportedLinkPackets).toEqual({ 'unreadable interface block': 1 });
  });

  it('an if_tsoffset option of length 0 is ignored, not read past', async () => {
    const f = join(dir, 'tsoffset.pcapng');
    const opt = Buffer.from('0e000000' + '00000000', 'hex'); // if_tsoffset, length 0, then opt_endofopt
    writeFileSync(f, Buffer.concat([shb, idb(opt), epb(samples[0]!)]));
    const { pkts } = await readAll(f);
    expect(pkts.map((p) => p.ts)).toEqual([T0]);
  });

  it('timestamps out of range (negative offset, past year 2255) take the previous packet\'s time and are counted', async () => {
    const f = join(dir, 'ts.pcapng');
    const offset = (sec: number) => {
      const o = Buffer.alloc(12);
      o.writeUInt16LE(14, 0);
      o.writeUInt16LE(8, 2);
      o.writeBigInt64LE(BigInt(sec), 4);
      return o;
    };
    // interface 0 is sane, interface 1 is shifted 2^62 seconds back, interface 2 far forward
    writeFileSync(f, Buffer.concat([shb, idb(), idb(offset(-(2 ** 62))), idb(offset(2 ** 50)), epb(samples[0]!, T0, 0), epb(samples[1]!, T0, 1), epb(samples[2]!, T0, 2)]));
    const { pkts, stats } = await readAll(f);
    expect(pkts.map((p) => p.ts)).toEqual([T0, T0, T0]);
    expect(stats.badTimestamps).toBe(2);
  });
});

describe('input from a pipe', () => {
  const pipeRead = (bytes: Buffer, path = '-') =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      // a child reads its stdin (a real pipe, not seekable) through readCaptureFile
      const code = `require(${JSON.stringify(join(__dirname, '../../dist/capture/file-reader.js'))}).readCaptureFile(${JSON.stringify(path)}, () => {}).then((s) => console.log(JSON.stringify(s)), (e) => { console.error(e.message); process.exit(2); })`;
      // through bash and cat, so that stdin is a real pipe (node's own stdio pipes are sockets)
      const child = require('node:child_process').spawn('bash', ['-c', 'cat | "$0" -e "$1"', process.execPath, code]);
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (err += d));
      child.on('close', (c: number | null) => resolve({ code: c, out, err }));
      child.stdin.end(bytes);
    });

  it.each(['-', '/dev/stdin'])('reads pcap, pcapng and gzip from %s', async (path) => {
    for (const f of ['a.pcap', 'ns.pcap']) {
      const plain = readFileSync(join(dir, f));
      for (const bytes of [plain, gzipSync(plain)]) {
        const r = await pipeRead(bytes, path);
        expect(r.err).toBe('');
        expect(JSON.parse(r.out).packets).toBe(f === 'a.pcap' ? 5 : 1);
      }
    }
  });

  it('a directory is an input error that says so', async () => {
    await expect(readCaptureFile(dir, () => {})).rejects.toThrow(/is a directory/);
  });

  it('a record of 40 MB inside a gzip stream is read in linear time (the carry doubles, never re-concatenated per chunk)', async () => {
    const f = join(dir, 'big.pcap.gz');
    const w = new PcapWriter(join(dir, 'big.pcap'), LINKTYPE.ETHERNET);
    w.write(Buffer.alloc(40 << 20, 1), T0);
    w.write(samples[0]!, T0 + 1);
    w.close();
    writeFileSync(f, gzipSync(readFileSync(join(dir, 'big.pcap')), { level: 1 }));
    const { pkts } = await readAll(f);
    expect(pkts.map((p) => p.len)).toEqual([40 << 20, samples[0]!.length]);
  });
});
