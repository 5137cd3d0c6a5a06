import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWsGameClient, WsGameServer } from '../../src/testbed/ws-game';

const dir = mkdtempSync(join(tmpdir(), 'gs-wsgame-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Logged {
  dir: 'c2s' | 's2c';
  name: string;
  fields: Record<string, unknown>;
}
const readLog = (file: string): Logged[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Logged);
const only = (log: Logged[], d: 'c2s' | 's2c') => log.filter((m) => m.dir === d);

/** The WebSocket frames in one direction of a connection, after the HTTP upgrade. */
function frames(bytes: Buffer): { fin: boolean; rsv1: boolean; opcode: number; payload: Buffer }[] {
  const out = [];
  let p = bytes.indexOf('\r\n\r\n') + 4;
  while (p + 2 <= bytes.length) {
    const b0 = bytes[p]!;
    const b1 = bytes[p + 1]!;
    let len = b1 & 0x7f;
    let h = 2;
    if (len === 126) (len = bytes.readUInt16BE(p + 2)), (h = 4);
    else if (len === 127) (len = Number(bytes.readBigUInt64BE(p + 2))), (h = 10);
    const mask = b1 & 0x80 ? bytes.subarray(p + h, p + h + 4) : null;
    if (mask) h += 4;
    if (p + h + len > bytes.length) break;
    const payload = Buffer.from(bytes.subarray(p + h, p + h + len));
    if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
    out.push({ fin: (b0 & 0x80) !== 0, rsv1: (b0 & 0x40) !== 0, opcode: b0 & 0x0f, payload });
    p += h + len;
  }
  return out;
}

/** A TCP proxy in front of `target` that keeps the bytes of each direction of each connection. */
async function tap(target: number): Promise<{ port: number; conns: { c2s: Buffer[]; s2c: Buffer[] }[]; close: () => Promise<void> }> {
  const conns: { c2s: Buffer[]; s2c: Buffer[] }[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const rec = { c2s: [] as Buffer[], s2c: [] as Buffer[] };
    conns.push(rec);
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (d) => (rec.c2s.push(d), upstream.write(d)));
    upstream.on('data', (d) => (rec.s2c.push(d), client.write(d)));
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    conns,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('the ws test game on 127.0.0.1', () => {
  const serverLog = join(dir, 'server.jsonl');
  const server = new WsGameServer({ port: 0, seed: 5, messageLog: serverLog });
  beforeAll(() => server.start());
  afterAll(() => server.stop());

  it('a session completes, and the client logged what the server logged, each direction in order', async () => {
    const clientLog = join(dir, 'client.jsonl');
    const r = await runWsGameClient({ port: server.port, room: 'one', name: 'ann', seed: 3, rounds: 10, messageLog: clientLog });
    expect(r).toMatchObject({ rounds: 10, player: 1 });
    const client = readLog(clientLog);
    const srv = readLog(serverLog);
    expect(only(client, 'c2s').map((m) => m.name)).toEqual(['join', 'move', 'move', 'map_request', 'move', 'chat', 'move', 'report', 'move', 'move', 'chat', 'move', 'move', 'move', 'chat', 'move', 'leave']);
    expect(only(srv, 'c2s')).toEqual(only(client, 'c2s'));
    expect(only(srv, 's2c')).toEqual(only(client, 's2c'));
    expect(only(client, 's2c').at(-1)).toEqual({ dir: 's2c', name: 'bye', fields: { reason: 'leave' } });
    // x and y are floats on the wire, samples a mix
    const move = only(client, 'c2s').find((m) => m.name === 'move')!;
    expect(Number.isInteger(move.fields.x)).toBe(false);
    const report = only(client, 'c2s').find((m) => m.name === 'report')!;
    expect((report.fields.samples as number[]).length).toBeGreaterThan(4000);
    const map = only(client, 's2c').find((m) => m.name === 'map')!;
    expect((map.fields.tiles as { hex: string }).hex).toHaveLength(2 * 65536);
  }, 20_000);

  it('a second client with the same seed gets the same replies, token and time aside', async () => {
    // token (in welcome, and carried back in each move) and time vary; nothing else does
    const steady = (log: Logged[]) =>
      log.map((m) => ({ ...m, fields: { ...m.fields, ...(m.name === 'welcome' || m.name === 'move' ? { token: '*' } : {}), ...(m.name === 'state' ? { time: '*' } : {}) } }));
    const logs = [join(dir, 'same-1.jsonl'), join(dir, 'same-2.jsonl')];
    for (const messageLog of logs) await runWsGameClient({ port: server.port, room: 'two', name: 'bo', seed: 8, rounds: 6, messageLog });
    const [a, b] = logs.map(readLog);
    expect(steady(only(a!, 'c2s'))).toEqual(steady(only(b!, 'c2s')));
    expect(steady(only(a!, 's2c'))).toEqual(steady(only(b!, 's2c')));
    // and the volatile fields did vary
    const token = (log: Logged[]) => log.find((m) => m.name === 'welcome')!.fields.token;
    expect(token(a!)).not.toEqual(token(b!));
  }, 20_000);

  it('closes a client that sends garbage with 1003; another client carries on', async () => {
    const garbage = new Promise<{ code: number; reason: string }>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/play`, { perMessageDeflate: true });
      ws.on('open', () => ws.send(Buffer.from('not msgpack at all'), { binary: true }));
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      ws.on('error', reject);
      setTimeout(() => reject(new Error('not closed')), 5000);
    });
    const [closed, r] = await Promise.all([garbage, runWsGameClient({ port: server.port, room: 'three', name: 'cy', seed: 2, rounds: 5, interval: 20 })]);
    expect(closed.code).toBe(1003);
    expect(closed.reason).toMatch(/not msgpack/);
    expect(r.rounds).toBe(5);
  }, 20_000);

  it('sends the map as fragments with a ping among them, compressed', async () => {
    const t = await tap(server.port);
    try {
      await runWsGameClient({ port: t.port, room: 'four', name: 'di', seed: 4, rounds: 4 });
    } finally {
      await t.close();
    }
    expect(t.conns).toHaveLength(1);
    const s2c = frames(Buffer.concat(t.conns[0]!.s2c));
    // the map: the one fragmented message, from its first frame (fin clear) to its last continuation
    const first = s2c.findIndex((f) => f.opcode === 2 && !f.fin);
    const last = s2c.findIndex((f, i) => i > first && f.opcode === 0 && f.fin);
    expect(first).toBeGreaterThanOrEqual(0);
    const map = s2c.slice(first, last + 1);
    expect(map.filter((f) => f.opcode !== 9).length).toBeGreaterThanOrEqual(4);
    expect(map.find((f) => f.opcode === 9)?.payload.toString()).toBe('mid-map');
    expect(map.slice(1).every((f) => f.opcode === 0 || f.opcode === 9)).toBe(true);
    expect(map[0]!.rsv1).toBe(true); // a compressed message: RSV1 on its first frame only
    expect(map.slice(1).some((f) => f.rsv1)).toBe(false);
    // the client's report goes in fragments too, and the client answered the ping
    const c2s = frames(Buffer.concat(t.conns[0]!.c2s));
    expect(c2s.filter((f) => f.opcode === 0).length).toBeGreaterThanOrEqual(2);
    expect(c2s.find((f) => f.opcode === 0xa)?.payload.toString()).toBe('mid-map');
    expect(c2s.some((f) => f.rsv1)).toBe(true);
  }, 20_000);

  it('a client keeps trying while the server is not listening yet', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const late = new WsGameServer({ port, seed: 1 });
    const client = runWsGameClient({ port, rounds: 2 });
    await new Promise((r) => setTimeout(r, 400));
    await late.start();
    try {
      expect((await client).rounds).toBe(2);
    } finally {
      await late.stop();
    }
  }, 20_000);

  it('a wrong token gets bye and close 4001', async () => {
    const got = await new Promise<{ code: number; bye: unknown }>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/play`);
      let bye: unknown;
      // msgpack by hand: {t: 'join', room: 'five', name: 'eve'}, then {t: 'move', seq: 1, x: 1.5, y: 2.5, token: 'nope'}
      const p = new Packr({ useRecords: false, mapsAsObjects: true });
      ws.on('open', () => ws.send(p.pack({ t: 'join', room: 'five', name: 'eve' })));
      ws.on('message', (d) => {
        const m = p.unpack(d as Buffer) as Record<string, unknown>;
        if (m.t === 'welcome') ws.send(p.pack({ t: 'move', seq: 1, x: 1.5, y: 2.5, token: 'nope' }));
        if (m.t === 'bye') bye = m;
      });
      ws.on('close', (code) => resolve({ code, bye }));
      ws.on('error', reject);
      setTimeout(() => reject(new Error('not closed')), 5000);
    });
    expect(got).toEqual({ code: 4001, bye: { t: 'bye', reason: 'bad token' } });
  }, 20_000);
});

describe('the ws test game server', () => {
  it('says so when the port is taken', async () => {
    const a = new WsGameServer({ port: 0, seed: 1 });
    await a.start();
    try {
      await expect(new WsGameServer({ port: a.port, seed: 1 }).start()).rejects.toThrow(/the port is in use/);
    } finally {
      await a.stop();
    }
  });
});
