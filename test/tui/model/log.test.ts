import { describe, expect, it } from 'vitest';
import { compileProtocol } from '../../../src/protocol/protocol';
import { RecordingPlayer } from '../../../src/recording/player';
import { MessageDecoder } from '../../../src/session/messages';
import { SessionModel } from '../../../src/tui/model/session';
import { PacketRing } from '../../../src/tui/model/packets';
import { buildIpPacket } from '../../../src/packet/build';
import { LINKTYPE } from '../../../src/capture/linktypes';
import { TcpConnection } from '../../../src/flow/connection';
import { join } from 'node:path';
import { loadProtocol } from '../../../src/protocol/protocol';
import { playRecording } from '../../../src/recording/player';
import { renderDetails, renderMessages } from '../../../src/tui/render';
import { ROOT } from '../../helpers/cli';

const MOVE = compileProtocol(
  ['protocol: move', 'tcp:', '  framing: { length: u16le }', '  id: u8', '  messages:', '    move:', '      id: 0x11', '      fields:', '        x: u32le', '        name: { type: string, prefix: u8 }', ''].join('\n'),
  'move.yaml',
);

/** `count` move messages, delivered in chunks of 64 KiB as the reassembler hands them on. */
function session(count: number, keepBytes: number): { model: SessionModel; chunks: Buffer[] } {
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const name = Buffer.from(`p${i % 7}`);
    const f = Buffer.alloc(2 + 1 + 4 + 1 + name.length);
    f.writeUInt16LE(f.length - 2, 0);
    f[2] = 0x11;
    f.writeUInt32LE(i, 3);
    f[7] = name.length;
    name.copy(f, 8);
    frames.push(f);
  }
  const stream = Buffer.concat(frames);
  const model = new SessionModel(MOVE, { keepBytes });
  const player = new RecordingPlayer(new MessageDecoder(MOVE, model));
  player.record({ t: 'open', c: 0, p: 'tcp', ts: 1, client: ['127.0.0.1', 40000], server: ['127.0.0.1', 24000] });
  const chunks: Buffer[] = [];
  for (let o = 0; o < stream.length; o += 65536) {
    // not from Buffer's shared pool (a small chunk would share its memory with unrelated buffers)
    const b = Buffer.alloc(Math.min(65536, stream.length - o));
    stream.copy(b, 0, o);
    chunks.push(b);
    player.record({ t: 'data', c: 0, d: 0, ts: 2 + o, o, b });
  }
  return { model, chunks };
}

describe('TUI message log: memory that does not grow with the session', () => {
  it('holds as objects only the window (and a bounded cache), and no view numbers without a filter, however many messages', () => {
    const { model } = session(40_000, 500);
    expect(model.messages.length).toBe(40_000);
    const r = model.retained();
    expect(r.objects).toBeLessThanOrEqual(500);
    expect(r.viewNumbers).toBe(0);
    expect(r.spillBytes).toBeGreaterThan(0);
    // reading every old message back (a filter over all) leaves the count bounded
    let seen = 0;
    for (const m of model.messages) if ((m.fields as { x: number }).x === seen) seen++;
    expect(seen).toBe(40_000);
    expect(model.retained().objects).toBeLessThanOrEqual(500 + 2048);
    model.setFilter('move.x % 2 == 0');
    expect(model.view.length).toBe(20_000);
    expect(model.retained().viewNumbers).toBe(20_000);
    model.setFilter('');
    expect(model.retained().viewNumbers).toBe(0);
  });

  it('an old message holds none of the delivered chunks: its bytes are its own, read back from the spill', () => {
    const { model, chunks } = session(20_000, 100);
    const old = model.messages.at(5)!;
    const recent = model.messages.at(19_999)!;
    const delivered = new Set(chunks.map((c) => c.buffer));
    expect(delivered.has(recent.wire.buffer as ArrayBuffer)).toBe(true);
    for (const [k, b] of Object.entries({ wire: old.wire, frame: old.frame, payload: old.payload })) expect(delivered.has(b.buffer as ArrayBuffer), k).toBe(false);
    // and they are the bytes that were delivered
    expect(old.wire.equals(chunks[0]!.subarray(5 * 10, 6 * 10))).toBe(true);
    expect(old.fields).toEqual({ x: 5, name: 'p5' });
    expect(old.flow).toBe(recent.flow);
    expect(old.flow).toBeInstanceOf(TcpConnection);
  });
});

describe('TUI message log: fields that read the state', () => {
  it('are held when the message leaves the window, copied out of the delivery; its bytes come back from the spill', () => {
    const yaml = ['protocol: stateful', 'state:', '  width: 2', 'tcp:', '  framing: { length: u16le }', '  id: u8', '  messages:', '    blob:', '      id: 1', '      fields:', '        data: { type: bytes, length: width }', ''].join('\n');
    const p = compileProtocol(yaml, 'stateful.yaml');
    const model = new SessionModel(p, { keepBytes: 2 });
    const dec = new MessageDecoder(p, model);
    const flow = new TcpConnection(0, 'k', { addr: '127.0.0.1', port: 40000 }, { addr: '127.0.0.1', port: 24000 }, 'x', 0);
    dec.open(flow, 1);
    // not from Buffer's shared pool: a view of it is told apart from a copy by its memory
    const delivery = Buffer.alloc(50);
    for (let i = 0; i < 10; i++) Buffer.from([3, 0, 1, i, i + 1]).copy(delivery, i * 5);
    dec.data(flow, 'c2s', delivery, 0, 2);
    expect(model.messages.length).toBe(10);
    const old = model.messages.at(1)!;
    const data = (old.fields as { data: Buffer }).data;
    expect(data).toEqual(Buffer.from([1, 2]));
    expect(data.buffer).not.toBe(delivery.buffer);
    expect(old.wire).toEqual(delivery.subarray(5, 10));
    expect(old.wire.buffer).not.toBe(delivery.buffer);
    expect(model.retained().objects).toBeLessThanOrEqual(2 + 2048);
  });
});

describe('TUI message log: a message leaving the window', () => {
  it('keeps the inspector where it was (the message is the same number, made again as another object)', () => {
    const model = new SessionModel(MOVE, { keepBytes: 3 });
    const dec = new MessageDecoder(MOVE, model);
    const flow = new TcpConnection(0, 'k', { addr: '127.0.0.1', port: 40000 }, { addr: '127.0.0.1', port: 24000 }, 'x', 0);
    dec.open(flow, 1);
    const frame = (i: number): Buffer => Buffer.from([8, 0, 0x11, i, 0, 0, 0, 2, 0x61, 0x62]);
    dec.data(flow, 'c2s', Buffer.concat([0, 1, 2].map(frame)), 0, 2);
    model.last();
    model.moveCursor(4);
    const before = model.selectedMessage();
    dec.data(flow, 'c2s', Buffer.concat([3, 4, 5, 6, 7].map(frame)), 30, 3);
    expect(model.selectedMessage()).not.toBe(before);
    expect(model.selectedMessage()!.fields).toEqual({ x: 2, name: 'ab' });
    expect(model.byteCursor()).toBe(4);
    expect(model.inspection()).not.toBeNull();
  });
});

describe('TUI message log: a session read back from the spill', () => {
  const tg = loadProtocol('testgame', ROOT);
  const load = async (keepBytes?: number): Promise<{ model: SessionModel; decoder: MessageDecoder }> => {
    const model = new SessionModel(tg, { keepBytes });
    const decoder = new MessageDecoder(tg, model);
    await playRecording(join(ROOT, 'recordings', 'testgame-duo.gsrec'), decoder);
    return { model, decoder };
  };

  it('shows what a session held whole shows: rows, details, filter, search, follow stream, statistics, and a reload', async () => {
    const whole = await load();
    const spilled = await load(5);
    expect(spilled.model.retained().objects).toBeLessThan(whole.model.retained().objects);
    const same = (f: (m: SessionModel) => unknown): void => expect(f(spilled.model)).toEqual(f(whole.model));
    for (const m of [whole.model, spilled.model]) m.first();
    same((m) => renderMessages(m, 150, 30));
    same((m) => renderDetails(m, 90, 40, null));
    for (const m of [whole.model, spilled.model]) m.move(17);
    same((m) => renderDetails(m, 90, 40, null));
    same((m) => m.followStream(4, 160) && m.overlay);
    same((m) => m.find('ann', 1));
    same((m) => m.selected);
    same((m) => (m.showStatistics(), m.overlay));
    same((m) => (m.setFilter('chat || snapshot.entities.length > 1'), [...m.view]));
    same((m) => renderMessages(m, 150, 30));
    same((m) => m.messageAs('json'));
    for (const { model, decoder } of [whole, spilled]) {
      const { flows, kept } = model.redecodeInput();
      model.reload(tg, decoder.redecode(tg, flows), kept);
    }
    same((m) => m.messages.map((x) => [x.name, x.wire.toString('hex'), x.fields]));
  });
});

describe('packet ring', () => {
  const packet = (sport: number, payload: Buffer): Buffer => {
    const l4 = Buffer.alloc(20 + payload.length);
    l4.writeUInt16BE(sport, 0);
    l4.writeUInt16BE(24000, 2);
    l4[12] = 0x50;
    l4[13] = 0x18;
    payload.copy(l4, 20);
    return buildIpPacket({ src: Buffer.from([127, 0, 0, 1]), dst: Buffer.from([127, 0, 0, 1]), proto: 6, l4 });
  };

  it('copies what it keeps into its arena: the capture may reuse its buffer, and the ring pins none of them', () => {
    const ring = new PacketRing(64, 4096);
    const flow = { client: { addr: '127.0.0.1', port: 40000 }, server: { addr: '127.0.0.1', port: 24000 } };
    const batch = packet(40000, Buffer.from('hello'));
    ring.push(LINKTYPE.RAW, batch, 10);
    batch.fill(0);
    const seen = ring.behind({ flow, dir: 'c2s', ts: 10, size: 5 } as never);
    expect(seen.map((p) => p.payloadLength)).toEqual([5]);
    // past the arena's size, the oldest are gone, not wrong
    for (let i = 0; i < 100; i++) ring.push(LINKTYPE.RAW, packet(40001, Buffer.alloc(200, i)), 11);
    expect(ring.behind({ flow, dir: 'c2s', ts: 20, size: 5 } as never)).toEqual([]);
  });
});
