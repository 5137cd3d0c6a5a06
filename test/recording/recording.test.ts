import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { FORMAT_VERSION, type EventRecord } from '../../src/recording/format';
import { openRecording, readRecording, type Migration } from '../../src/recording/reader';
import { recordPackr, RecordingWriter } from '../../src/recording/writer';
import { playRecording } from '../../src/recording/player';
import { MessageDecoder, type Message } from '../../src/session/messages';
import { loadProtocol } from '../../src/protocol/protocol';
import { ROOT } from '../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'gs-rec-'));
const tg = loadProtocol('testgame', ROOT);

/** A small testgame session as records: one TCP connection with a gap, one UDP flow. */
function sampleRecords(): EventRecord[] {
  const t = tg.tcp!;
  const st = tg.newState();
  const frame = (name: string, fields: unknown): Buffer => t.frame(t.encode(name, fields, st));
  const hello = frame('hello', { version: 3, features: [1, 2] });
  const ack = frame('hello_ack', { version: 3, server_time: 5n, motd: 'hi' });
  const chat = frame('chat', { channel: 'all', text: 'hello there' });
  const ts = 1_700_000_000_000_000;
  const pos = tg.udp!.encode('position', { player_id: 1, seq: 1, pos: { x: 1, y: 2 }, heading: 3 }, {});
  return [
    { t: 'open', c: 0, p: 'tcp', ts, client: ['127.0.0.1', 40000], server: ['127.0.0.1', 24000] },
    { t: 'data', c: 0, d: 0, ts: ts + 10, o: 0, b: hello },
    { t: 'data', c: 0, d: 1, ts: ts + 20, o: 0, b: ack },
    { t: 'gap', c: 0, d: 0, ts: ts + 30, o: hello.length, n: chat.length, why: 'ack' },
    { t: 'data', c: 0, d: 0, ts: ts + 40, o: hello.length + chat.length, b: chat },
    { t: 'open', c: 1, p: 'udp', ts: ts + 50, client: ['::1', 40001], server: ['::1', 24001] },
    { t: 'data', c: 1, d: 0, ts: ts + 60, o: 0, b: pos },
    { t: 'end', c: 0, d: 0, ts: ts + 70, why: 'fin' },
    { t: 'end', c: 0, d: 1, ts: ts + 80, why: 'fin' },
    { t: 'close', c: 0, ts: ts + 80, state: 'closed' },
    { t: 'close', c: 1, ts: ts + 90, state: 'open' },
    { t: 'finish', ts: ts + 90, stats: { packets: 20 } },
  ];
}

function writeSample(file: string, records = sampleRecords()): void {
  const w = new RecordingWriter(file, { protocol: { name: tg.name, hash: tg.hash }, source: { kind: 'file', name: 'test' } });
  for (const r of records) w.write(r);
  w.close();
}

async function readAll(file: string, opts = {}): Promise<{ records: EventRecord[]; warning?: string; finished: boolean }> {
  const records: EventRecord[] = [];
  const r = await readRecording(file, (x) => records.push(x), opts);
  return { records, warning: r.warning, finished: r.finished };
}

/** Byte offset where each value of a msgpack stream ends. */
function recordEnds(buf: Buffer): number[] {
  const ends: number[] = [];
  new Unpackr({ useRecords: false }).unpackMultiple(buf, (_v: unknown, _s?: number, e?: number) => {
    ends.push(e!);
  });
  return ends;
}

describe('recording files', () => {
  it('read back exactly what was written, with the header', async () => {
    const file = join(dir, 'rt.gsrec');
    writeSample(file);
    const { records, warning, finished } = await readAll(file);
    expect(warning).toBeUndefined();
    expect(finished).toBe(true);
    expect(records).toEqual(sampleRecords());
    const h = (await openRecording(file)).header;
    expect(h).toMatchObject({ format: 'gamesniff-recording', version: FORMAT_VERSION, protocol: { name: 'testgame', hash: tg.hash }, source: { kind: 'file' } });
  });

  it('read across block boundaries as one stream', async () => {
    const file = join(dir, 'blocks.gsrec');
    const many: EventRecord[] = [{ t: 'open', c: 0, p: 'tcp', ts: 1, client: ['127.0.0.1', 1], server: ['127.0.0.1', 2] }];
    for (let i = 0; i < 500; i++) many.push({ t: 'data', c: 0, d: 0, ts: 2 + i, o: i * 37, b: Buffer.alloc(37, i & 0xff) });
    writeSample(file, many);
    const { records, warning } = await readAll(file, { blockSize: 100 });
    expect(warning).toMatch(/no end marker/);
    expect(records).toEqual(many);
  });

  it('cut at every byte of its last records: reads up to the last whole record, with a warning', async () => {
    const file = join(dir, 'full.gsrec');
    writeSample(file);
    const full = readFileSync(file);
    const ends = recordEnds(full);
    const all = sampleRecords();
    // From inside the fifth-last record to one byte before the end.
    const from = ends[ends.length - 6]! + 1;
    const cut = join(dir, 'cut.gsrec');
    let checked = 0;
    for (let at = from; at < full.length; at++) {
      writeFileSync(cut, full.subarray(0, at));
      const whole = ends.filter((e) => e <= at).length - 1; // minus the header
      const { records, warning } = await readAll(cut);
      expect(records, `cut at ${at}`).toEqual(all.slice(0, whole));
      expect(warning, `cut at ${at}`).toBeDefined();
      checked++;
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('cut inside its header: a clear input error', async () => {
    const file = join(dir, 'head.gsrec');
    writeSample(file);
    const full = readFileSync(file);
    const cut = join(dir, 'headcut.gsrec');
    writeFileSync(cut, full.subarray(0, recordEnds(full)[0]! - 3));
    await expect(readAll(cut)).rejects.toThrow(/not a gamesniff recording \(no complete header\)/);
    writeFileSync(cut, Buffer.alloc(0));
    await expect(readAll(cut)).rejects.toThrow(/empty file/);
  });

  it('a corrupt record ends the reading there, keeping what came before', async () => {
    const file = join(dir, 'corrupt.gsrec');
    writeSample(file);
    const full = readFileSync(file);
    const ends = recordEnds(full);
    // Replace the fourth record (a data record) with a well-formed msgpack value of the wrong shape.
    const bad = Buffer.concat([full.subarray(0, ends[3]), recordPackr.pack({ t: 'data', c: 0, ts: 5 }), full.subarray(ends[4])]);
    writeFileSync(file, bad);
    const { records, warning } = await readAll(file);
    expect(records).toEqual(sampleRecords().slice(0, 3));
    expect(warning).toBe(`corrupt record at byte ${ends[3]} (malformed data record); read the 3 records before it`);
  });

  it('refuse a newer format, and migrate an older one', async () => {
    const file = join(dir, 'v.gsrec');
    writeSample(file);
    const full = readFileSync(file);
    const ends = recordEnds(full);
    const header = new Unpackr({ useRecords: false }).unpack(full.subarray(0, ends[0])) as Record<string, unknown>;
    writeFileSync(file, Buffer.concat([recordPackr.pack({ ...header, version: FORMAT_VERSION + 1 }), full.subarray(ends[0])]));
    await expect(readAll(file)).rejects.toThrow(`recording format ${FORMAT_VERSION + 1} was written by a newer gamesniff`);

    // Read the current format as the old one of a future version that renamed data's `b` to `bytes`.
    writeFileSync(file, full);
    const rename: Migration = {
      from: FORMAT_VERSION,
      header: (h) => ({ ...h, migrated: true }),
      record: (r) => (r.t === 'data' ? { ...r, bytes: r.b } : r),
    };
    const seen: Record<string, unknown>[] = [];
    const res = await readRecording(file, (r) => seen.push(r as unknown as Record<string, unknown>), { migrations: [rename], targetVersion: FORMAT_VERSION + 1 });
    expect(res.header).toMatchObject({ migrated: true, version: FORMAT_VERSION + 1 });
    expect(seen.filter((r) => r.t === 'data').every((r) => Buffer.isBuffer(r.bytes))).toBe(true);
    await expect(readRecording(file, () => {}, { migrations: [], targetVersion: FORMAT_VERSION + 1 })).rejects.toThrow(/no migration from version 1/);
  });

  it('play back into the message decoder like a capture: gaps, UDP, both directions', async () => {
    const file = join(dir, 'play.gsrec');
    writeSample(file);
    const msgs: Message[] = [];
    const gaps: number[] = [];
    const { player, read } = await playRecording(file, new MessageDecoder(tg, { message: (m) => msgs.push(m), gap: (_c, _d, n) => gaps.push(n) }));
    expect(read.warning).toBeUndefined();
    expect(player.connections).toBe(1);
    expect(player.udpFlows).toBe(1);
    expect(gaps).toHaveLength(1);
    const names = msgs.map((m) => `${m.transport} ${m.dir} ${m.name ?? `raw:${m.raw}`}`);
    // A gap between frames: the chat after it is whole frames (its lengths chain to the end of its
    // chunk), so framing picks up again there; the gap itself is reported as one.
    expect(names).toEqual(['tcp c2s hello', 'tcp s2c hello_ack', 'tcp c2s chat', 'udp c2s position']);
    expect(msgs[3].flow.client).toEqual({ addr: '::1', port: 40001 });
  });
});
