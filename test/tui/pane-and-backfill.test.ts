import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCaptureFile } from '../../src/capture/file-reader';
import { backfill } from '../../src/cli/tui';
import { FlowTable } from '../../src/flow/table';
import { UdpFlow } from '../../src/flow/connection';
import { loadProtocol } from '../../src/protocol/protocol';
import { openRecording } from '../../src/recording/reader';
import { playRecording, RecordingPlayer } from '../../src/recording/player';
import { Recorder, RecordingWriter } from '../../src/recording/writer';
import { MessageDecoder, type Message } from '../../src/session/messages';
import { PacketRing } from '../../src/tui/model/packets';
import { SessionModel } from '../../src/tui/model/session';
import { renderDetails } from '../../src/tui/render';
import { ROOT } from '../helpers/cli';
import { writeSession } from '../helpers/session';
import { sender } from '../helpers/wire';

const tg = loadProtocol('testgame', ROOT);
const dir = mkdtempSync(join(tmpdir(), 'gs-tui-'));

describe('the details pane shows the packets behind a message', () => {
  it('a chat cut into three segments: its three packets, with their ports, in the pane', async () => {
    const send = sender(tg);
    const file = join(dir, 'segments.pcap');
    writeSession(file, [{ dir: 'c2s', bytes: send('c2s', 'chat', { text: 'x'.repeat(250) }) }], { mss: 100 });
    const model = new SessionModel(tg, {});
    const ring = new PacketRing();
    const table = new FlowTable(new MessageDecoder(tg, model));
    await readCaptureFile(file, (lt, d, o, ts) => {
      ring.push(lt, d, ts);
      table.push(lt, d, o, ts);
    });
    table.finish();
    const m = model.messages.at(0)!;
    expect(m.name).toBe('chat');
    const behind = ring.behind(m);
    expect(behind.map((p) => p.payloadLength)).toEqual([100, 100, m.size - 200]);
    expect(behind.every((p) => p.tcp?.srcPort === 51000 && p.tcp?.dstPort === 24000)).toBe(true);
    model.pane = 'details';
    const text = renderDetails(model, 100, 60, behind).join('\n');
    expect(text.match(/51000 -> 24000|51000 → 24000|:51000/g)?.length ?? 0).toBeGreaterThanOrEqual(3);
  });
});

describe('recording started mid-session (the UI\'s r)', () => {
  it('writes the open connections from their start, from the messages the view holds, and the recording decodes the same', async () => {
    // the view has seen the first 60 records of a session whose connections are still open
    const model = new SessionModel(tg, {});
    const decoder = new MessageDecoder(tg, model);
    const player = new RecordingPlayer(decoder);
    const rec = await openRecording(join(ROOT, 'recordings', 'testgame-solo.gsrec'));
    let n = 0;
    await rec.read((r) => {
      if (n++ < 60) player.record(r);
    });
    rec.close();
    const seen = model.messages.map((m) => `${m.dir} ${m.name}`);
    expect(seen.length).toBeGreaterThan(10);
    const out = join(dir, 'mid.gsrec');
    const writer = new RecordingWriter(out, { protocol: { name: tg.name, hash: tg.hash, text: tg.text }, source: { kind: 'recording', name: 'test' } });
    const written = backfill(model, new Recorder(writer));
    writer.close();
    expect(written).toBe(seen.length);
    const again: Message[] = [];
    await playRecording(out, new MessageDecoder(tg, { message: (m) => void again.push(m) }));
    expect(again.map((m) => `${m.dir} ${m.name}`)).toEqual(seen);
    expect(again.every((m) => !m.error && !m.raw)).toBe(true);
  });
});

describe('recording started mid-session: UDP flows', () => {
  it('a UDP flow silent for longer than the idle time is over, not open: it is not written', () => {
    const model = new SessionModel(tg, {});
    const flow = (id: number, port: number) => new UdpFlow(id, `k${id}`, { addr: '127.0.0.1', port }, { addr: '127.0.0.1', port: 24001 }, `127.0.0.1:${port}`, 0);
    const old = flow(1, 40001);
    const live = flow(2, 40002);
    const msg = (f: UdpFlow, ts: number) => ({ flow: f, transport: 'udp', dir: 'c2s', index: 0, offset: 0, ts, wire: Buffer.from([1, 2]), frame: Buffer.from([1, 2]), payload: Buffer.from([1, 2]), size: 2, trailing: 0, compressed: false }) as unknown as Message;
    old.lastTs = 1_000_000;
    model.message(msg(old, 1_000_000));
    live.lastTs = 100_000_000;
    model.message(msg(live, 99_000_000));
    model.message(msg(live, 100_000_000));
    const datagrams: number[] = [];
    const recorder = { datagram: (f: UdpFlow) => datagrams.push(f.id), data: () => undefined } as unknown as Recorder;
    expect(backfill(model, recorder)).toBe(2);
    expect(datagrams).toEqual([2, 2]);
  });
});
