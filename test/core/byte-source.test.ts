import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { feed, feedReusing, openBytes, paced } from '../../src/core/byte-source';
import { Rng } from '../../src/core/rng';

/** Records of a u32 length and that many bytes, some larger than one read. */
function records(seed: number): { file: Buffer; sums: number[] } {
  const rng = new Rng(seed);
  const parts: Buffer[] = [];
  const sums: number[] = [];
  for (let i = 0; i < 300; i++) {
    const len = i === 150 ? 9 << 20 : rng.int(0, 70_000);
    const r = Buffer.allocUnsafe(4 + len);
    r.writeUInt32LE(len, 0);
    let sum = 0;
    for (let k = 0; k < len; k += 997) {
      r[4 + k] = rng.int(0, 255);
    }
    for (let k = 0; k < len; k += 997) sum = (sum + r[4 + k]!) | 0;
    parts.push(r);
    sums.push(sum);
  }
  return { file: Buffer.concat(parts), sums };
}

/** A consumer of whole records: what it read of each, and the bytes it left. */
function reader(): { push: (b: Buffer) => number; sums: number[] } {
  const sums: number[] = [];
  return {
    sums,
    push: (b) => {
      let off = 0;
      while (off + 4 <= b.length) {
        const len = b.readUInt32LE(off);
        if (off + 4 + len > b.length) break;
        let sum = 0;
        for (let k = 0; k < len; k += 997) sum = (sum + b[off + 4 + k]!) | 0;
        sums.push(sum);
        off += 4 + len;
      }
      return off;
    },
  };
}

describe('feedReusing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gs-bytes-'));
  const { file, sums } = records(7);
  const plain = join(dir, 'records.bin');
  const gz = join(dir, 'records.bin.gz');
  writeFileSync(plain, Buffer.concat([file, Buffer.from([1, 0, 0])]));
  writeFileSync(gz, gzipSync(Buffer.concat([file, Buffer.from([1, 0, 0])])));

  it('hands on the same records as feed, a record larger than its buffer included, and the same leftover', async () => {
    for (const path of [plain, gz]) {
      for (const how of [feed, feedReusing]) {
        const src = await openBytes(path);
        // look ahead as the capture reader does, so that readInto first gives what head() read
        expect((await src.head(4)).length).toBe(4);
        const r = reader();
        const res = await how(src, r.push);
        src.close();
        expect(r.sums).toEqual(sums);
        expect(res).toEqual({ leftover: 3, stopped: false });
      }
    }
  });
});

describe('paced', () => {
  it('reads only once ready lets it: nothing is read while the consumer is held back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gs-paced-'));
    const file = join(dir, 'r.bin');
    writeFileSync(file, records(3).file);
    let release: () => void = () => undefined;
    let held = true;
    const ready = (): Promise<void> => (held ? new Promise<void>((r) => (release = r)) : Promise.resolve());
    for (const how of [feed, feedReusing]) {
      held = true;
      const src = paced(await openBytes(file), ready);
      const r = reader();
      const done = how(src, r.push);
      await new Promise((res) => setTimeout(res, 50));
      expect(r.sums).toEqual([]);
      held = false;
      release();
      await done;
      src.close();
      expect(r.sums).toEqual(records(3).sums);
    }
  });

  it('starts a read there and then when nothing holds it back (a read ahead overlaps the push before it)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gs-paced-'));
    const file = join(dir, 'r.bin');
    writeFileSync(file, records(3).file);
    const opened = await openBytes(file);
    expect(opened.readAhead).toBeDefined();
    const calls: string[] = [];
    const spy = Object.assign(Object.create(opened) as typeof opened, {
      readAhead: (t: Buffer, o: number) => (calls.push('readAhead'), opened.readAhead!(t, o)),
      readInto: (t: Buffer, o: number) => (calls.push('readInto'), opened.readInto(t, o)),
    });
    let hold: Promise<void> | null = null;
    const src = paced(spy, () => hold);
    // not held: the underlying read is asked for before the call returns
    const first = src.readAhead!(Buffer.alloc(64), 0);
    expect(calls).toEqual(['readAhead']);
    expect(await first).toBeGreaterThan(0);
    void src.readInto(Buffer.alloc(8), 0);
    expect(calls).toEqual(['readAhead', 'readInto']);
    // held: asked for only once the hold settles
    let release: () => void = () => undefined;
    hold = new Promise<void>((r) => (release = r));
    const later = src.readAhead!(Buffer.alloc(64), 0);
    await new Promise((res) => setTimeout(res, 20));
    expect(calls).toEqual(['readAhead', 'readInto']);
    release();
    await later;
    expect(calls).toEqual(['readAhead', 'readInto', 'readAhead']);
    opened.close();
  });
});
