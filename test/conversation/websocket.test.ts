/**
 * The WebSocket layer through the conversation, without capture: a real `ws` server and client
 * talk through a tap that keeps the bytes each way; the bytes go into a conversation cut anywhere,
 * with gaps and mid-stream joins; hostile frames; and the conversation as a client of a real
 * `ws` server (our frames, masks and compression are what `ws` accepts).
 */
import { Packr } from 'msgpackr';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { Conversation, type ConversationMessage } from '../../src/conversation/conversation';
import { acceptFor } from '../../src/conversation/websocket';
import type { Direction } from '../../src/core/types';
import { writeWsFrame } from '../../src/framing/websocket';
import { compileProtocol, loadProtocol } from '../../src/protocol/protocol';
import { ROOT } from '../helpers/cli';

const wsgame = loadProtocol('wsgame', ROOT);
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, variableMapSize: true });

interface Tapped {
  dir: Direction;
  bytes: Buffer;
}

/** A TCP proxy in front of `port` that keeps every chunk each way, in the order they passed. */
async function tap(port: number): Promise<{ port: number; chunks: Tapped[]; close: () => Promise<void> }> {
  const chunks: Tapped[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (b) => {
      chunks.push({ dir: 'c2s', bytes: Buffer.from(b) });
      upstream.write(b);
    });
    upstream.on('data', (b) => {
      chunks.push({ dir: 's2c', bytes: Buffer.from(b) });
      client.write(b);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    chunks,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

interface Logged {
  dir: Direction;
  name: string;
  fields: Record<string, unknown>;
}

/** A session between a real ws server and client through the tap; what each side sent, in order. */
async function realSession(): Promise<{ chunks: Tapped[]; sent: Logged[] }> {
  const sent: Logged[] = [];
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 64 } });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const t = await tap((wss.address() as net.AddressInfo).port);
  const bigTiles = Buffer.alloc(70_000);
  for (let i = 0; i < bigTiles.length; i++) bigTiles[i] = (i * 7919) % 251 ^ (i >> 9);
  wss.on('connection', (ws) => {
    const send = (name: string, fields: Record<string, unknown>, opts?: { fragments?: number }) => {
      sent.push({ dir: 's2c', name, fields });
      const bytes = packr.pack({ t: name, ...fields });
      if (!opts?.fragments) return ws.send(bytes);
      const n = opts.fragments;
      const size = Math.ceil(bytes.length / n);
      for (let i = 0; i < n; i++) {
        ws.send(bytes.subarray(i * size, (i + 1) * size), { binary: true, fin: i === n - 1 });
        if (i === 1) ws.ping(Buffer.from('mid-map'));
      }
    };
    ws.on('message', (data) => {
      const m = packr.unpack(data as Buffer) as Record<string, unknown>;
      if (m.t === 'join') send('welcome', { player: 1, token: 'tok-1', room: m.room, players: [m.name] });
      else if (m.t === 'chat') send('chat', { from: 'ann', text: m.text });
      else if (m.t === 'map_request') send('map', { room: 'lobby', width: 280, height: 250, tiles: bigTiles }, { fragments: 5 });
      else if (m.t === 'leave') {
        send('bye', { reason: 'leave' });
        ws.close(1000, 'bye');
      }
    });
  });
  const client = new WebSocket(`ws://127.0.0.1:${t.port}/play`, { perMessageDeflate: true });
  const inbox: Record<string, unknown>[] = [];
  let wake: (() => void) | null = null;
  client.on('message', (d) => {
    inbox.push(packr.unpack(d as Buffer) as Record<string, unknown>);
    wake?.();
  });
  const next = async (t: string) => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const i = inbox.findIndex((m) => m.t === t);
      if (i >= 0) return inbox.splice(i, 1)[0]!;
      if (Date.now() > deadline) throw new Error(`no ${t}`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  await new Promise<void>((r, j) => client.once('open', () => r()).once('error', j));
  const say = (name: string, fields: Record<string, unknown>) => {
    sent.push({ dir: 'c2s', name, fields });
    client.send(packr.pack({ t: name, ...fields }));
  };
  say('join', { room: 'lobby', name: 'ann' });
  await next('welcome');
  say('chat', { text: 'hello '.repeat(40) });
  await next('chat');
  say('map_request', { room: 'lobby' });
  await next('map');
  await new Promise<void>((r) => client.ping(Buffer.from('are you there'), undefined, () => r()));
  await new Promise((r) => setTimeout(r, 50));
  say('leave', {});
  await next('bye');
  await new Promise<void>((r) => (client.readyState === WebSocket.CLOSED ? r() : client.once('close', () => r())));
  await new Promise((r) => setTimeout(r, 50));
  await t.close();
  await new Promise<void>((r) => wss.close(() => r()));
  return { chunks: t.chunks, sent };
}

/** The tapped bytes into a conversation: each direction cut at `cuts` (cycled), in the order they passed; `from` skips the first bytes of each direction (a mid-stream join). */
function decode(chunks: Tapped[], cuts: number[] = [1 << 30], from: Record<Direction, number> = { c2s: 0, s2c: 0 }): ConversationMessage<null>[] {
  const got: ConversationMessage<null>[] = [];
  const conv = new Conversation(wsgame, 'tcp', (m) => got.push(m), { flow: null });
  const offset = { c2s: 0, s2c: 0 };
  let k = 0;
  for (const c of chunks) {
    let i = 0;
    while (i < c.bytes.length) {
      const n = Math.min(cuts[k++ % cuts.length]!, c.bytes.length - i);
      const at = offset[c.dir];
      const piece = c.bytes.subarray(i, i + n);
      const skip = Math.max(0, Math.min(n, from[c.dir] - at));
      if (skip < n) conv.received(c.dir, piece.subarray(skip), at + skip, 0);
      offset[c.dir] += n;
      i += n;
    }
  }
  conv.end('c2s', 0);
  conv.end('s2c', 0);
  return got;
}

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (x && x.type === 'Buffer' && Array.isArray(x.data) ? Buffer.from(x.data).toString('hex') : x)));

describe('websocket layer with a real ws peer', () => {
  let real: { chunks: Tapped[]; sent: Logged[] };
  beforeAll(async () => {
    real = await realSession();
  }, 20_000);

  it('names every message, the upgrade and the control frames, in order, with the fields sent; 0 raw, 0 errors', () => {
    const got = decode(real.chunks);
    expect(got.filter((m) => m.raw || m.error).map((m) => m.raw ?? m.error?.message)).toEqual([]);
    const app = got.filter((m) => !m.name!.startsWith('ws_') && !m.name!.startsWith('http_'));
    expect(app.map((m) => `${m.dir}.${m.name}`)).toEqual(real.sent.map((s) => `${s.dir}.${s.name}`));
    app.forEach((m, i) => expect(plain(m.fields)).toEqual(plain(real.sent[i]!.fields)));
    const names = got.map((m) => m.name);
    expect(names[0]).toBe('http_request');
    expect(names).toContain('http_response');
    const req = got[0]!;
    expect(req.fields).toMatchObject({ method: 'GET', path: '/play' });
    const res = got.find((m) => m.name === 'http_response')!;
    expect(res.fields).toMatchObject({ status: 101 });
    expect((res.fields!.headers as Record<string, string>)['sec-websocket-accept']).toBe(acceptFor((req.fields!.headers as Record<string, string>)['sec-websocket-key']!));
    // the map: five fragments, a ping between them shown before the map is whole, compressed
    const map = got.find((m) => m.name === 'map')!;
    expect(map.header).toMatchObject({ opcode: 'binary', fragments: 5, compressed: true });
    expect(map.size).toBe(map.wire.length);
    const ping = got.find((m) => m.name === 'ws_ping' && m.dir === 's2c')!;
    expect(Buffer.from(ping.fields!.data as Buffer).toString()).toBe('mid-map');
    expect(got.indexOf(ping)).toBeLessThan(got.indexOf(map));
    expect(got.find((m) => m.name === 'ws_pong' && m.dir === 's2c')).toBeTruthy();
    expect(got.filter((m) => m.name === 'ws_close').map((m) => [m.dir, m.fields!.code, m.fields!.reason])).toEqual(expect.arrayContaining([['s2c', 1000, 'bye']]));
    // the client's frames are masked, and their wire bytes are what passed
    const join = got.find((m) => m.name === 'join')!;
    expect(join.header).toMatchObject({ masked: true });
    const c2s = Buffer.concat(real.chunks.filter((c) => c.dir === 'c2s').map((c) => c.bytes));
    expect(c2s.subarray(join.offset, join.offset + join.size).equals(join.wire)).toBe(true);
  });

  it('gives the same messages whatever the cuts', () => {
    const whole = decode(real.chunks).map((m) => `${m.dir}.${m.name}`);
    for (const cuts of [[1], [2, 3, 5], [7, 1, 13, 1000], [4096, 1]]) {
      const got = decode(real.chunks, cuts);
      expect(got.filter((m) => m.raw || m.error)).toEqual([]);
      expect(got.map((m) => `${m.dir}.${m.name}`)).toEqual(whole);
    }
  });

  it('joined after the upgrade: finds frame boundaries, says why the bytes before are raw', () => {
    const whole = decode(real.chunks);
    // start both directions inside the first application message
    const join = whole.find((m) => m.name === 'join')!;
    const welcome = whole.find((m) => m.name === 'welcome')!;
    const got = decode(real.chunks, [1 << 30], { c2s: join.offset + 3, s2c: welcome.offset + 3 });
    const raw = got.filter((m) => m.raw);
    if (raw.some((r) => !/joined mid-stream|before the capture/.test(r.raw!))) console.log(got.map((m) => `${m.dir} ${m.offset} ${m.size} ${m.name} ${m.raw ?? ''} ${m.wire.subarray(0, 6).toString('hex')}`).join('\n'));
    expect(raw.length).toBeGreaterThan(0);
    for (const r of raw) expect(r.raw).toMatch(/joined mid-stream|before the capture/);
    expect([...new Set(raw.filter((r) => /joined mid-stream/.test(r.raw!)).map((r) => r.dir))].sort()).toEqual(['c2s', 's2c']);
    // what follows is named: uncompressed messages, control frames; compressed ones that point into
    // the window from before the capture are raw with why
    const after = got.filter((m) => m.name).map((m) => `${m.dir}.${m.name}`);
    // (which frames come first after the join depends on the session's random masks and compression)
    expect(after).toEqual(expect.arrayContaining(['c2s.leave', 's2c.bye', 's2c.ws_close', 'c2s.ws_close']));
    expect(got.filter((m) => m.raw && !/joined mid-stream/.test(m.raw)).every((m) => /before the capture/.test(m.raw!))).toBe(true);
  });
});

describe('websocket layer: hostile frames', () => {
  const upgrade = (ext = 'permessage-deflate') => ({
    req: Buffer.from('GET /play HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'),
    res: Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n${ext ? `Sec-WebSocket-Extensions: ${ext}\r\n` : ''}\r\n`),
  });

  /** The upgrade, then `evil` from the server, then a good message from the client: the client side goes on. */
  function afterUpgrade(evil: Buffer, ext?: string): ConversationMessage<null>[] {
    const got: ConversationMessage<null>[] = [];
    const conv = new Conversation(wsgame, 'tcp', (m) => got.push(m), { flow: null });
    const u = upgrade(ext);
    conv.received('c2s', u.req, 0, 0);
    conv.received('s2c', u.res, 0, 0);
    conv.received('s2c', evil, u.res.length, 0);
    const good = writeWsFrame(2, packr.pack({ t: 'chat', text: 'still here' }), { mask: true });
    conv.received('c2s', good, u.req.length, 0);
    conv.received('s2c', writeWsFrame(2, packr.pack({ t: 'bye', reason: 'x' })), u.res.length + evil.length, 0);
    return got;
  }

  it('a 2^63 length, a reserved opcode, a control frame over 125 bytes: the direction goes raw with the reason, the other goes on', () => {
    const huge = Buffer.from([0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
    const reserved = Buffer.from([0x83, 0x01, 0x00]);
    const longPing = Buffer.concat([Buffer.from([0x89, 0x7e, 0x00, 0x80]), Buffer.alloc(128)]);
    const huge2 = Buffer.from([0x82, 0x7f, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const masked = writeWsFrame(2, Buffer.from('x'), { mask: true });
    for (const [evil, why] of [
      [masked, /a server frame that is masked/],
      [huge, /top bit/],
      [reserved, /reserved opcode 0x3/],
      [longPing, /ping frame of more than 125/],
      [huge2, /over the \d+-byte limit/],
    ] as const) {
      const got = afterUpgrade(evil);
      const raw = got.filter((m) => m.raw);
      expect(raw.length).toBeGreaterThan(0);
      for (const r of raw) {
        expect(r.dir).toBe('s2c');
        expect(r.raw).toMatch(why);
      }
      expect(got.find((m) => m.name === 'chat')?.fields).toEqual({ text: 'still here' });
      expect(got.some((m) => m.name === 'bye')).toBe(false);
    }
  });

  it('a compression bomb: refused by the budget with the reason, memory bounded', () => {
    const zlib = require('node:zlib') as typeof import('node:zlib');
    const bomb = zlib.deflateRawSync(Buffer.alloc(64 << 20), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const before = process.memoryUsage().rss;
    const got = afterUpgrade(writeWsFrame(2, bomb, { rsv1: true }));
    expect(process.memoryUsage().rss - before).toBeLessThan(200 << 20);
    const raw = got.filter((m) => m.raw && m.dir === 's2c');
    expect(raw[0]!.raw).toMatch(/permessage-deflate: .*(limit|budget|more than)/i);
    expect(got.find((m) => m.name === 'chat')).toBeTruthy();
  });

  it('RSV1 without permessage-deflate, a 1-byte close body, a continuation with no message, an answer other than 101', () => {
    let got = afterUpgrade(writeWsFrame(2, Buffer.from('x'), { rsv1: true }), '');
    expect(got.find((m) => m.raw)!.raw).toMatch(/RSV1 set and permessage-deflate was not negotiated/);
    got = afterUpgrade(writeWsFrame(8, Buffer.from([3])));
    expect(got.find((m) => m.raw)!.raw).toMatch(/1-byte body/);
    got = afterUpgrade(writeWsFrame(0, Buffer.from('tail')));
    expect(got.find((m) => m.raw)!.raw).toMatch(/continuation frame with no message begun/);
    // a refused upgrade: both directions say so
    const msgs: ConversationMessage<null>[] = [];
    const conv = new Conversation(wsgame, 'tcp', (m) => msgs.push(m), { flow: null });
    const u = upgrade();
    conv.received('c2s', u.req, 0, 0);
    conv.received('c2s', Buffer.from('more'), u.req.length, 0);
    conv.received('s2c', Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'), 0, 0);
    expect(msgs.find((m) => m.name === 'http_response')!.fields).toMatchObject({ status: 404 });
    expect(msgs.filter((m) => m.raw).map((m) => m.dir)).toEqual(['c2s']);
    expect(msgs.find((m) => m.raw)!.raw).toMatch(/HTTP 404 Not Found, not 101/);
  });

  it('a gap: what it cut is raw, the frames after it are found again', () => {
    const got: ConversationMessage<null>[] = [];
    const conv = new Conversation(wsgame, 'tcp', (m) => got.push(m), { flow: null });
    const u = upgrade('');
    conv.received('c2s', u.req, 0, 0);
    conv.received('s2c', u.res, 0, 0);
    const frames = [1, 2, 3].map((i) => writeWsFrame(2, packr.pack({ t: 'chat', from: 'a', text: `line ${i}` })));
    let at = u.res.length;
    conv.received('s2c', frames[0]!.subarray(0, 5), at, 0);
    conv.gap('s2c', frames[0]!.length - 5 + 3, at + 5, 0);
    at += frames[0]!.length + 3;
    conv.received('s2c', Buffer.concat([frames[1]!.subarray(3), frames[2]!]), at, 0);
    conv.end('s2c', 0);
    const named = got.filter((m) => m.name === 'chat').map((m) => m.fields!.text);
    expect(named).toEqual(['line 3']);
    expect(got.filter((m) => m.raw).every((m) => /gap|boundary/.test(m.raw!))).toBe(true);
  });
});

describe('websocket layer: the conversation as a peer of a real ws server', () => {
  let wss: WebSocketServer;
  let port: number;
  const received: unknown[] = [];
  beforeAll(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0, serverMaxWindowBits: 10, clientMaxWindowBits: 10 } });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    port = (wss.address() as net.AddressInfo).port;
    wss.on('connection', (ws) => {
      ws.on('message', (d) => {
        const m = packr.unpack(d as Buffer) as Record<string, unknown>;
        received.push(m);
        if (m.t === 'chat') ws.send(packr.pack({ t: 'chat', from: 'srv', text: String(m.text).toUpperCase() }));
      });
    });
  });
  afterAll(() => new Promise<void>((r) => wss.close(() => r())));

  it('our upgrade, masked and compressed frames are accepted, and its answers decode', async () => {
    const got: ConversationMessage<null>[] = [];
    const conv = new Conversation(wsgame, 'tcp', (m) => got.push(m), { flow: null });
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    let s2c = 0;
    sock.on('data', (b) => {
      conv.received('s2c', b, s2c, 0);
      s2c += b.length;
    });
    const key = 'AAAAAAAAAAAAAAAAAAAAAA==';
    sock.write(conv.send('c2s', 'http_request', { method: 'GET', path: '/', version: 'HTTP/1.1', headers: { host: `127.0.0.1:${port}`, upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': key, 'sec-websocket-version': '13', 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' } }));
    const until = async (pred: () => boolean) => {
      for (let i = 0; i < 100 && !pred(); i++) await new Promise((r) => setTimeout(r, 20));
      expect(pred()).toBe(true);
    };
    await until(() => got.some((m) => m.name === 'http_response'));
    const res = got.find((m) => m.name === 'http_response')!;
    expect(res.fields).toMatchObject({ status: 101 });
    expect((res.fields!.headers as Record<string, string>)['sec-websocket-accept']).toBe(acceptFor(key));
    const a = conv.send('c2s', 'chat', { text: 'hello hello hello hello' });
    const b = conv.send('c2s', 'chat', { text: 'hello hello hello hello' });
    // compressed (RSV1), masked, with fresh masks; the second shorter (the window carries on)
    expect(a[0]! & 0x40).toBe(0x40);
    expect(a[1]! & 0x80).toBe(0x80);
    expect(a.subarray(2, 6).equals(b.subarray(2, 6))).toBe(false);
    expect(b.length).toBeLessThan(a.length);
    sock.write(Buffer.concat([a, b]));
    sock.write(conv.send('c2s', 'ws_ping', { data: Buffer.from('hi') }));
    await until(() => got.filter((m) => m.name === 'chat').length === 2 && got.some((m) => m.name === 'ws_pong'));
    expect(got.filter((m) => m.name === 'chat').map((m) => m.fields)).toEqual([
      { from: 'srv', text: 'HELLO HELLO HELLO HELLO' },
      { from: 'srv', text: 'HELLO HELLO HELLO HELLO' },
    ]);
    expect(received).toEqual([{ t: 'chat', text: 'hello hello hello hello' }, { t: 'chat', text: 'hello hello hello hello' }]);
    expect(got.filter((m) => m.raw || m.error)).toEqual([]);
    sock.destroy();
  });

  it('a recorded 101 sent again accepts the live client\'s key', () => {
    const conv = new Conversation(wsgame, 'tcp', () => undefined, { flow: null });
    const req = Buffer.from('GET / HTTP/1.1\r\nSec-WebSocket-Key: bGl2ZSBrZXkgMTIzNDU2Nw==\r\n\r\n');
    conv.received('c2s', req, 0, 0);
    const recorded = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
    const out = conv.resend('s2c', recorded, recorded, { http: 'response' }).toString('latin1');
    expect(out).toContain(`Sec-WebSocket-Accept: ${acceptFor('bGl2ZSBrZXkgMTIzNDU2Nw==')}\r\n`);
    expect(out.replace(/Accept: .*\r\n/, '')).toBe(recorded.toString('latin1').replace(/Accept: .*\r\n/, ''));
  });
});

describe('keyed msgpack messages', () => {
  it('dispatch on the key, check listed keys, keep others, encode back; a description error has file:line:col', () => {
    const t = wsgame.tcp!;
    const body = packr.pack({ t: 'move', seq: 3, x: 1.5, y: 2.5, token: 'k', extra: [1] });
    const d = t.decode('c2s', body, wsgame.newState());
    expect(d.name).toBe('move');
    expect(d.fields).toEqual({ seq: 3, x: 1.5, y: 2.5, token: 'k', extra: [1] });
    expect(t.encode('move', d.fields, wsgame.newState(), { dir: 'c2s' }).equals(body)).toBe(true);
    expect(t.decode('c2s', packr.pack({ t: 'move', seq: 'x', x: 1, y: 1, token: 'k' }), {}).error).toMatchObject({ path: 'move.seq', message: 'expected int, found a string' });
    expect(t.decode('c2s', packr.pack({ t: 'move', x: 1 }), {}).error).toMatchObject({ path: 'move.seq' });
    expect(t.decode('c2s', packr.pack({ t: 'nope' }), {}).error!.message).toMatch(/no c2s message has t "nope"/);
    expect(t.decode('c2s', packr.pack([1, 2]), {}).error!.message).toMatch(/expected a msgpack map/);
    expect(t.decode('s2c', packr.pack({ t: 'chat', from: 'a', text: 'b' }), {}).label).toBe('s2c.chat');
    expect(() => compileProtocol('protocol: p\ntcp:\n  websocket: true\n  msgpack: t\n  messages:\n    a: { fields: { x: integer } }\n', 'p.yaml')).toThrow(/p\.yaml:6:23: expected a msgpack value kind/);
    expect(() => compileProtocol('protocol: p\ntcp:\n  websocket: true\n  msgpack: t\n  messages:\n    ws_ping: {}\n', 'p.yaml')).toThrow(/p\.yaml:6:5: 'ws_ping' is a message of the WebSocket layer/);
    expect(() => compileProtocol('protocol: p\ntcp:\n  framing: message\n  messages:\n    a: {}\n', 'p.yaml')).toThrow(/p\.yaml:3:12: 'message' framing .* needs websocket: true/);
    expect(() => compileProtocol('protocol: p\nstate: { n: 0 }\ntcp:\n  websocket: true\n  msgpack: t\n  messages:\n    a: { fields: { x: int }, set: { n: y } }\n', 'p.yaml')).toThrow(/unknown name 'y'/);
    const withSet = compileProtocol('protocol: p\nstate: { n: 0 }\ntcp:\n  websocket: true\n  msgpack: t\n  messages:\n    a: { fields: { x: int }, set: { n: x + 1 } }\n', 'p.yaml');
    const st = withSet.newState();
    withSet.tcp!.decode('c2s', packr.pack({ t: 'a', x: 41 }), st);
    expect(st.n).toBe(42);
  });
});

describe('websocket layer under a description', () => {
  const wire = (frames: Buffer[]) => Buffer.concat(frames);
  const up = {
    req: Buffer.from('GET / HTTP/1.1\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'),
    res: Buffer.from('HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n'),
  };
  const run = (p: ReturnType<typeof compileProtocol>, s2c: Buffer, cut = 1 << 30): ConversationMessage<null>[] => {
    const got: ConversationMessage<null>[] = [];
    const conv = new Conversation(p, 'tcp', (m) => got.push(m), { flow: null });
    conv.received('c2s', up.req, 0, 0);
    const all = Buffer.concat([up.res, s2c]);
    for (let i = 0; i < all.length; i += cut) conv.received('s2c', all.subarray(i, i + cut), i, 0);
    conv.end('s2c', 0);
    return got.filter((m) => !m.name?.startsWith('http_'));
  };

  it('a framing over the payloads: several messages in one WebSocket message, one message across several', () => {
    const p = compileProtocol('protocol: packed\ntcp:\n  websocket: true\n  framing: { length: u8 }\n  id: u8\n  messages:\n    text: { id: 1, fields: { s: { type: string, until: end } } }\n', 'packed.yaml');
    const m = (s: string) => Buffer.concat([Buffer.from([s.length + 1, 1]), Buffer.from(s)]);
    const two = Buffer.concat([m('ab'), m('cde')]);
    const split = m('split across');
    for (const cut of [1, 5, 1 << 30]) {
      const got = run(p, wire([writeWsFrame(2, two), writeWsFrame(2, split.subarray(0, 4)), writeWsFrame(2, split.subarray(4))]), cut);
      expect(got.map((x) => x.raw ?? x.fields!.s)).toEqual(['ab', 'cde', 'split across']);
    }
  });

  it('frame.opcode in a frame transform: text frames xor-masked, binary ones not', () => {
    const p = compileProtocol("protocol: texty\ntcp:\n  websocket: true\n  frame:\n    - transform: xor\n      when: \"frame.opcode == 'text'\"\n      key: [0x55]\n  id: u8\n  messages:\n    say: { id: 1, fields: { s: { type: string, until: end } } }\n", 'texty.yaml');
    const body = Buffer.from([1, ...Buffer.from('hi')]);
    const xored = Buffer.from(body.map((b) => b ^ 0x55));
    const got = run(p, wire([writeWsFrame(1, xored), writeWsFrame(2, body)]));
    expect(got.map((x) => [x.header!.opcode, x.fields?.s])).toEqual([['text', 'hi'], ['binary', 'hi']]);
  });
});

describe('websocket layer: a gap where the upgrade was (from a review)', () => {
  it('the client direction does not wait for an answer that was lost: its frames decode', () => {
    const got: ConversationMessage<null>[] = [];
    const conv = new Conversation(wsgame, 'tcp', (m) => got.push(m), { flow: null });
    const req = Buffer.from('GET / HTTP/1.1\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    conv.received('c2s', req, 0, 0);
    conv.gap('s2c', 129, 0, 0);
    let at = req.length;
    for (const text of ['a', 'b', 'c']) {
      const f = writeWsFrame(2, packr.pack({ t: 'chat', text }), { mask: true });
      conv.received('c2s', f, at, 0);
      at += f.length;
    }
    conv.received('s2c', writeWsFrame(2, packr.pack({ t: 'bye', reason: 'x' })), 129, 0);
    conv.end('c2s', 0);
    conv.end('s2c', 0);
    expect(got.filter((m) => m.dir === 'c2s').map((m) => m.name)).toEqual(['http_request', 'chat', 'chat', 'chat']);
    expect(got.find((m) => m.dir === 's2c' && m.name === 'bye')).toBeTruthy();
  });

  it('control frames the layer sends are checked: at most 125 bytes, a close code from 1000 to 4999', () => {
    const conv = new Conversation(wsgame, 'tcp', () => undefined, { flow: null });
    expect(() => conv.send('c2s', 'ws_ping', { data: Buffer.alloc(126) })).toThrow(/at most 125 bytes/);
    expect(() => conv.send('c2s', 'ws_close', { code: 70000, reason: '' })).toThrow(/1000 to 4999/);
    expect(conv.send('c2s', 'ws_close', { code: 1000, reason: 'bye' }).length).toBe(2 + 4 + 5);
  });
});
