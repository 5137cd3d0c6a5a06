/**
 * openClient and serve, with no code generated: against the test game server (plain and with
 * its UDP), the WebSocket game (a real `ws` server), and each other (a mock server).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openClient, serve } from '../../src/client/open';
import { loadProtocol } from '../../src/protocol/protocol';
import { GameServer } from '../../src/testbed/game-server';
import { WsGameServer } from '../../src/testbed/ws-game';
import { ROOT } from '../helpers/cli';

const testgame = loadProtocol('testgame', ROOT);
const wsgame = loadProtocol('wsgame', ROOT);
const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const s of stops) await s();
});

describe('openClient', () => {
  it('plays the test game: compression switched on by the server, UDP alongside, next() by name', async () => {
    const s = new GameServer(testgame, { port: 0, seed: 1 });
    await s.start();
    stops.push(() => s.stop());
    const c = await openClient(testgame, { port: s.port, udpPort: s.udpPort });
    const chats: string[] = [];
    c.on('chat_msg', (m) => chats.push(String(m.fields!.text)));
    c.send('hello', { version: 3, features: [1] });
    expect((await c.next('hello_ack')).fields!.motd).toMatch(/welcome to testgame/);
    c.send('login', { name: 'bot', password: 'pw', client: 'test' });
    const ok = (await c.next('login_ok')).fields!;
    await c.next('set_compression');
    expect(c.state.compression).toBe(64);
    await c.next('inventory');
    c.send('ack_login', { token: ok.token });
    c.send('chat', { text: 'x'.repeat(200) }); // over the threshold: compressed on the way out
    await c.next('chat_msg');
    expect(chats).toEqual(['x'.repeat(200)]);
    c.sendDatagram('position', { player_id: ok.player_id, seq: 1, pos: { x: 1, y: 2 }, heading: 3 });
    c.send('bye', { reason: 'quit' });
    await c.next('bye');
    await c.close();
    await expect(c.next('snapshot', 100)).rejects.toThrow(/closed before snapshot/);
  });

  it('talks WebSocket to a real ws server: the upgrade, masked and compressed frames, fragments both ways', async () => {
    const s = new WsGameServer({ port: 0, seed: 2 });
    await s.start();
    stops.push(() => s.stop());
    const c = await openClient(wsgame, { port: s.port, path: '/play' });
    c.send('join', { room: 'r1', name: 'bot' });
    const w = (await c.next('welcome')).fields!;
    c.send('move', { seq: 1, x: 1.5, y: 2.5, token: w.token });
    expect((await c.next('state')).fields!.tick).toBe(1);
    c.send('map_request', { room: 'r1' });
    expect(((await c.next('map')).fields!.tiles as Buffer).length).toBe(65536);
    c.send('report', { seq: 2, samples: Array.from({ length: 5000 }, (_, i) => i * 1.5) });
    expect((await c.next('report_ack')).fields).toEqual({ seq: 2, count: 5000 });
    c.send('leave', {});
    await c.next('bye');
    await c.next('ws_close');
  });

  it('a mock server from serve(): WebSocket upgrade answered, messages both ways', async () => {
    const srv = await serve(wsgame, { port: 0 }, (peer) => {
      peer.on('join', (m) => peer.send('welcome', { player: 7, token: 't', room: m.fields!.room, players: [m.fields!.name] }));
    });
    stops.push(() => srv.close());
    const c = await openClient(wsgame, { port: srv.port });
    c.send('join', { room: 'a', name: 'b' });
    expect((await c.next('welcome')).fields).toEqual({ player: 7, token: 't', room: 'a', players: ['b'] });
    await c.close();
  });

  it('says what went wrong: nothing listening, a refused upgrade', async () => {
    await expect(openClient(testgame, { port: 1, udpPort: 0, connectWaitMs: 200 })).rejects.toThrow(/cannot connect to 127\.0\.0\.1:1/);
    const srv = await serve(testgame, { port: 0, udpPort: 0 }, () => undefined);
    stops.push(() => srv.close());
    const notWs = await serve(wsgame, { port: 0 }, () => undefined);
    stops.push(() => notWs.close());
    // a plain TCP server that answers the upgrade with 404
    const net = await import('node:net');
    const http = net.createServer((s) => s.once('data', () => s.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    stops.push(() => new Promise((r) => http.close(() => r())));
    await expect(openClient(wsgame, { port: (http.address() as import('node:net').AddressInfo).port })).rejects.toThrow(/refused the WebSocket upgrade: HTTP 404 Not Found/);
  });
});
