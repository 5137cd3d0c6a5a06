import * as net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProtocol } from '../../src/protocol/protocol';
import { runGameClient } from '../../src/testbed/game-client';
import { GameServer } from '../../src/testbed/game-server';
import { chatClient, chatServer, echoClient, echoServer } from '../../src/testbed/seeds';

const protocol = loadProtocol(join(__dirname, '../../protocols/testgame'));

/** Open a raw connection, send bytes, and collect what comes back until the server closes. */
function rawSession(port: number, bytes: Buffer[], vanish = false): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => {
      for (const b of bytes) s.write(b);
      if (vanish) setTimeout(() => s.destroy(), 50);
    });
    s.on('data', (d) => parts.push(d));
    s.on('close', () => resolve(Buffer.concat(parts)));
    s.on('error', () => undefined);
    setTimeout(() => s.destroy(), 3000);
  });
}

describe('test game server and client on 127.0.0.1', () => {
  const server = new GameServer(protocol, { port: 0, seed: 7 });
  beforeAll(() => server.start());
  afterAll(() => server.stop());

  it('several clients play their rounds at once', async () => {
    const results = await Promise.all(
      ['ann', 'bob', 'cy'].map((name, i) => runGameClient(protocol, { port: server.port, udpPort: server.udpPort, name, rounds: 8 + i, seed: i + 1 })),
    );
    expect(results.map((r) => r.rounds)).toEqual([8, 9, 10]);
    expect(new Set(results.map((r) => r.playerId)).size).toBe(3);
  });

  const t = protocol.tcp!;
  const errorOf = (reply: Buffer) => {
    const len = reply.readUInt16LE(0);
    return t.decode('s2c', reply.subarray(2, 2 + len), protocol.newState());
  };

  const hostile: [string, Buffer[], RegExp][] = [
    ['garbage', [Buffer.from('GET / HTTP/1.1\r\n\r\n')], /unframed input|bad message/],
    ['an oversized length', [Buffer.from([0xff, 0xff, 1, 2, 3])], /unframed input: unframed after an implausible frame length/],
    ['an unknown message id', [Buffer.from([2, 0, 0x55, 0])], /bad message: frame: unknown c2s id 85/],
    ['a message before login', [t.frame(t.encode('move', { seq: 1, pos: { x: 0, y: 0 }, running: false }, protocol.newState()))], /move before login/],
    ['a wrong version', [t.frame(t.encode('hello', { version: 9, features: [] }, protocol.newState()))], /version 9 not supported/],
  ];
  for (const [what, bytes, re] of hostile) {
    it(`answers ${what} with an error message and a disconnect`, async () => {
      const reply = await rawSession(server.port, bytes);
      const m = errorOf(reply);
      expect(m.name).toBe('error');
      expect(String(m.fields!.message)).toMatch(re);
    });
  }

  it('a client vanishing mid-message does not disturb the others', async () => {
    const hello = t.frame(t.encode('hello', { version: 3, features: [] }, protocol.newState()));
    const [, r] = await Promise.all([rawSession(server.port, [hello.subarray(0, 5)], true), runGameClient(protocol, { port: server.port, udpPort: server.udpPort, name: 'dee', rounds: 3, seed: 9 })]);
    expect(r.rounds).toBe(3);
  });

  it('same seed and inputs give the same replies, volatile fields aside', async () => {
    const a = new GameServer(protocol, { port: 0, udpPort: 0, seed: 3 });
    const b = new GameServer(protocol, { port: 0, udpPort: 0, seed: 3 });
    await a.start();
    await b.start();
    const snapshots = async (srv: GameServer) => {
      const got: unknown[] = [];
      const s = net.connect(srv.port, '127.0.0.1');
      const { Peer } = await import('../../src/client/peer');
      const peer = new Peer(protocol, s, 's2c', (m) => m.raw === undefined && got.push([m.name, m.fields]));
      await new Promise((r) => s.once('connect', r));
      peer.send('hello', { version: 3, features: [] });
      peer.send('login', { name: 'same', password: 'x', client: 'c' });
      await new Promise((r) => setTimeout(r, 100));
      const ok = (got.find((g) => (g as [string])[0] === 'login_ok') as [string, { token: Buffer }])[1];
      peer.send('ack_login', { token: ok.token });
      for (let i = 1; i <= 4; i++) peer.send('move', { seq: i, pos: { x: i, y: i }, running: false });
      await new Promise((r) => setTimeout(r, 150));
      s.destroy();
      return got.map((g) => JSON.stringify(g, (k, v) => (k === 'server_time' || k === 'token' ? undefined : typeof v === 'bigint' ? String(v) : v)));
    };
    const [x, y] = [await snapshots(a), await snapshots(b)];
    await a.stop();
    await b.stop();
    expect(x.length).toBe(8);
    expect(x).toEqual(y);
  });
});

describe("the seeds' pairs", () => {
  it('echo: the receiver prints the sender\'s bytes', async () => {
    const lines: string[] = [];
    const srv = await echoServer({ port: 0, once: true, log: (s) => lines.push(s) });
    const port = (srv.address() as net.AddressInfo).port;
    const closed = new Promise<void>((r) => srv.on('close', () => r()));
    await echoClient({ port, bytes: Buffer.from([44, 55, 66]) });
    await closed;
    expect(lines[0]).toMatch(/received 3 bytes from 127\.0\.0\.1:\d+: 2c3742/);
  });

  it('chat room: users see each other\'s lines', async () => {
    const log: string[] = [];
    const srv = await chatServer({ port: 0, log: (s) => log.push(s) });
    const port = (srv.address() as net.AddressInfo).port;
    const seen: string[] = [];
    await Promise.all([chatClient({ port, name: 'al', lines: ['hi'], log: (s) => seen.push(s) }), chatClient({ port, name: 'bo', lines: ['yo'], log: (s) => seen.push(s) })]);
    srv.close();
    expect(log).toContain('---- al joined ----');
    expect(seen.join('\n')).toMatch(/!al\t: hi/);
  });
});
