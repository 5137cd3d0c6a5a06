/**
 * The browser-style test game (protocols/wsgame): WebSocket with permessage-deflate, each message
 * one binary msgpack map whose key `t` names it. Players join a room by name; then moves (answered
 * by a state), chat relayed to the room, a 64 KiB map sent in fragments with a ping among them, a
 * long report the client fragments too, and leave. Given a seed the server answers the same inputs
 * with the same replies, except `welcome.token` and `state.time`, which the protocol marks volatile.
 * Bad input (not msgpack, no `t`, an unknown `t`) closes that connection with 1003; others go on.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Packr } from 'msgpackr';
import WebSocket, { WebSocketServer } from 'ws';
import { GamesniffError } from '../core/errors';
import { mulberry32 } from '../core/rng';
import { hash } from './game-server';
import { listenError } from '../client/net';

/** Plain msgpack (no records extension), as gamesniff's runtime reads and writes it: integers stay integers. */
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, variableMapSize: true });

export const WS_GAME_PORT = 24080;
const MAP_SIZE = 256;
/** The server cuts the map message into pieces of this size, the client its report. */
const MAP_FRAGMENT = 16 * 1024;
const REPORT_FRAGMENT = 8 * 1024;
const REPORT_SAMPLES = 4300;

const C2S = ['join', 'move', 'chat', 'map_request', 'report', 'leave'];

type Fields = Record<string, unknown>;

/** A value as the message log writes it: Buffers as {hex}, bigints as strings. */
function logValue(v: unknown): unknown {
  if (v instanceof Uint8Array) return { hex: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(logValue);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, logValue(x)]));
  return v;
}

/** Append one application message to a message log: {"dir","name","fields"} on one line. */
function logMessage(file: string | undefined, dir: 'c2s' | 's2c', name: string, fields: Fields): void {
  if (file) appendFileSync(file, JSON.stringify({ dir, name, fields: logValue(fields) }) + '\n');
}

/** `{t, ...fields}`: `t` first, then the fields in the order given. */
function pack(name: string, fields: Fields): Buffer {
  return packr.pack({ t: name, ...fields });
}

/** A WebSocket message as {name, fields}, or why it is not one. */
function unpack(data: WebSocket.RawData, isBinary: boolean): { name: string; fields: Fields } | string {
  if (!isBinary) return 'a text message (want binary msgpack)';
  const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  let value: unknown;
  try {
    value = packr.unpack(buf);
  } catch (e) {
    return `not msgpack: ${(e as Error).message}`;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) return 'not a msgpack map';
  const { t, ...fields } = value as Fields;
  if (typeof t !== 'string') return 'no t';
  return { name: t, fields };
}

/** A float for a position from the seed: k.k5, never an integer (msgpack would pack it as an int). */
function coord(rng: () => number): number {
  return (Math.floor(rng() * MAP_SIZE * 10) + 0.5) / 10;
}

/** A room's tiles from the seed: runs of 1 to 24 of one of 16 tile values. */
export function wsGameTiles(seed: number, room: string): Buffer {
  const rng = mulberry32(seed ^ hash(`map:${room}`));
  const tiles = Buffer.alloc(MAP_SIZE * MAP_SIZE);
  for (let i = 0; i < tiles.length; ) {
    const run = 1 + Math.floor(rng() * 24);
    tiles.fill(Math.floor(rng() * 16), i, Math.min(tiles.length, i + run));
    i += run;
  }
  return tiles;
}

/** Close reasons are at most 123 bytes. */
function reason(s: string): string {
  const b = Buffer.from(s);
  return b.length <= 123 ? s : b.subarray(0, 120).toString() + '...';
}

export interface WsGameServerOptions {
  port: number;
  host?: string;
  seed: number;
  log?: (line: string) => void;
  /** Append one JSON line per application message sent or received. */
  messageLog?: string;
}

interface WsPlayer {
  id: number;
  name: string;
  room: string;
  token: string;
  tick: number;
  x: number;
  y: number;
  ws: WebSocket;
}

export class WsGameServer {
  private wss?: WebSocketServer;
  private readonly rooms = new Map<string, Set<WsPlayer>>();
  private readonly maps = new Map<string, Buffer>();
  port = 0;

  constructor(readonly opts: WsGameServerOptions) {}

  private log(s: string): void {
    this.opts.log?.(s);
  }

  async start(): Promise<void> {
    const host = this.opts.host ?? '127.0.0.1';
    const wss = new WebSocketServer({ host, port: this.opts.port, perMessageDeflate: { threshold: 256 }, maxPayload: 1 << 20 });
    await new Promise<void>((resolve, reject) => {
      wss.once('error', (e) => {
        wss.close();
        reject(listenError(e, 'the ws test game server', host, this.opts.port));
      });
      wss.once('listening', () => resolve());
    });
    wss.on('error', () => undefined);
    wss.on('connection', (ws, req) => this.accept(ws, req));
    this.wss = wss;
    this.port = (wss.address() as { port: number }).port;
    this.log(`wsgame server on ${host}:${this.port} tcp (websocket), seed ${this.opts.seed}`);
  }

  async stop(): Promise<void> {
    const wss = this.wss;
    if (!wss) return;
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    this.wss = undefined;
  }

  private send(ws: WebSocket, name: string, fields: Fields): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    logMessage(this.opts.messageLog, 's2c', name, fields);
    ws.send(pack(name, fields), { binary: true });
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const who = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    let player: WsPlayer | undefined;
    let closing = false;
    const close = (code: number, why: string): void => {
      if (closing) return;
      closing = true;
      this.log(`${who}: ${why}; closing (${code})`);
      ws.close(code, reason(why));
    };
    ws.on('message', (data, isBinary) => {
      if (closing) return;
      const m = unpack(data, isBinary);
      if (typeof m === 'string') return close(1003, m);
      if (!C2S.includes(m.name)) return close(1003, `unknown t "${m.name}"`);
      logMessage(this.opts.messageLog, 'c2s', m.name, m.fields);
      try {
        const r = this.handle(ws, player, m.name, m.fields);
        player = r.player;
        if (r.close) {
          closing = true;
          if (r.close.code !== 1000) this.log(`${who}: ${r.close.reason}; closing (${r.close.code})`);
          ws.close(r.close.code, r.close.reason);
        }
      } catch (e) {
        close(1003, (e as Error).message);
      }
    });
    ws.on('close', () => {
      if (player) this.leave(player);
      player = undefined;
    });
    ws.on('error', () => undefined);
  }

  private leave(p: WsPlayer): void {
    const room = this.rooms.get(p.room);
    room?.delete(p);
    if (room?.size === 0) this.rooms.delete(p.room);
  }

  private handle(ws: WebSocket, player: WsPlayer | undefined, name: string, f: Fields): { player?: WsPlayer; close?: { code: number; reason: string } } {
    const seed = this.opts.seed;
    if (name === 'join') {
      if (player) throw new Error('joined twice');
      if (typeof f.room !== 'string' || typeof f.name !== 'string') throw new Error('join wants room and name strings');
      const room = this.rooms.get(f.room) ?? new Set<WsPlayer>();
      this.rooms.set(f.room, room);
      // ids are per room, the lowest free one: the same session gets the same id whenever the room is empty
      let id = 1;
      while ([...room].some((o) => o.id === id)) id++;
      const rng = mulberry32(seed ^ hash(f.name));
      const p: WsPlayer = { id, name: f.name, room: f.room, token: randomBytes(8).toString('hex'), tick: 0, x: coord(rng), y: coord(rng), ws };
      room.add(p);
      this.send(ws, 'welcome', { player: p.id, token: p.token, room: p.room, players: this.inRoom(p.room).map((o) => o.name) });
      return { player: p };
    }
    if (!player) throw new Error(`${name} before join`);
    const p = player;
    switch (name) {
      case 'move': {
        if (f.token !== p.token) {
          this.send(ws, 'bye', { reason: 'bad token' });
          return { player: p, close: { code: 4001, reason: 'bad token' } };
        }
        if (typeof f.x !== 'number' || typeof f.y !== 'number') throw new Error('move wants numbers x and y');
        p.x = f.x;
        p.y = f.y;
        p.tick++;
        let time = Date.now() / 1000;
        if (Number.isInteger(time)) time += 0.0005; // a float on the wire, always
        this.send(ws, 'state', { tick: p.tick, time, players: this.inRoom(p.room).map((o) => ({ id: o.id, name: o.name, x: o.x, y: o.y })) });
        break;
      }
      case 'chat':
        if (typeof f.text !== 'string') throw new Error('chat wants a text string');
        for (const o of this.inRoom(p.room)) this.send(o.ws, 'chat', { from: p.name, text: f.text });
        break;
      case 'map_request':
        if (typeof f.room !== 'string') throw new Error('map_request wants a room string');
        this.sendMap(ws, f.room);
        break;
      case 'report':
        if (!Array.isArray(f.samples)) throw new Error('report wants a samples list');
        this.send(ws, 'report_ack', { seq: f.seq, count: f.samples.length });
        break;
      case 'leave':
        this.send(ws, 'bye', { reason: 'leave' });
        this.leave(p);
        return { close: { code: 1000, reason: 'bye' } };
    }
    return { player: p };
  }

  private inRoom(room: string): WsPlayer[] {
    return [...(this.rooms.get(room) ?? [])].sort((a, b) => a.id - b.id);
  }

  /** The map as one WebSocket message in 16 KiB fragments, with a ping between the 2nd and 3rd. */
  private sendMap(ws: WebSocket, room: string): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    let tiles = this.maps.get(room);
    if (!tiles) this.maps.set(room, (tiles = wsGameTiles(this.opts.seed, room)));
    const fields = { room, width: MAP_SIZE, height: MAP_SIZE, tiles };
    logMessage(this.opts.messageLog, 's2c', 'map', fields);
    const msg = pack('map', fields);
    for (let i = 0, n = 0; i < msg.length; i += MAP_FRAGMENT, n++) {
      if (n === 2) ws.ping(Buffer.from('mid-map'));
      ws.send(msg.subarray(i, i + MAP_FRAGMENT), { binary: true, fin: i + MAP_FRAGMENT >= msg.length });
    }
  }
}

export interface WsGameClientOptions {
  host?: string;
  port: number;
  room?: string;
  name?: string;
  /** Rounds to play (default 10). */
  rounds?: number;
  seed?: number;
  /** Pause between rounds, ms. */
  interval?: number;
  /** Give up waiting for a reply after this long, ms. */
  timeout?: number;
  /** Keep trying to connect this long while nothing listens yet (a server just started), ms. */
  connectWaitMs?: number;
  log?: (line: string) => void;
  /** Append one JSON line per application message sent or received. */
  messageLog?: string;
}

export interface WsGameClientResult {
  rounds: number;
  sent: number;
  received: number;
  player: number;
}

/** Open the WebSocket, retrying while the server is not listening yet, for up to `waitMs` (as connectWithRetry). */
async function openWithRetry(host: string, port: number, waitMs: number): Promise<WebSocket> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const ws = new WebSocket(`ws://${host}:${port}/play`, { perMessageDeflate: true });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      return ws;
    } catch (e) {
      ws.on('error', () => undefined);
      ws.terminate();
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'ECONNREFUSED' && code !== 'ECONNRESET') || Date.now() >= deadline) {
        throw new GamesniffError('FAILED', `cannot connect to ws://${host}:${port}/play: ${(e as Error).message}${code === 'ECONNREFUSED' ? ` (nothing listened there for ${waitMs / 1000} s: is the server running?)` : ''}`, 1);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * The ws test game client: join, then `rounds` rounds of move (answered by a state), a map_request
 * in round 2, a fragmented report in round 4, a chat every third round; then leave, and the
 * server's bye and close. Its messages come from the seed: two runs with the same name and seed
 * send the same messages.
 */
export async function runWsGameClient(o: WsGameClientOptions): Promise<WsGameClientResult> {
  const host = o.host ?? '127.0.0.1';
  const room = o.room ?? 'lobby';
  const name = o.name ?? 'player';
  const rounds = o.rounds ?? 10;
  const timeout = o.timeout ?? 5000;
  const ws = await openWithRetry(host, o.port, o.connectWaitMs ?? 5000);
  ws.on('error', () => undefined);
  const queue: { name: string; fields: Fields }[] = [];
  let waiter: (() => void) | null = null;
  let failure: string | null = null;
  let closed: { code: number; reason: string } | null = null;
  let sent = 0;
  let received = 0;
  ws.on('message', (data, isBinary) => {
    const m = unpack(data, isBinary);
    if (typeof m === 'string') failure = `the server sent ${m}`;
    else {
      received++;
      logMessage(o.messageLog, 's2c', m.name, m.fields);
      queue.push(m);
    }
    waiter?.();
  });
  ws.on('close', (code, why) => {
    closed = { code, reason: why.toString() };
    waiter?.();
  });

  const wait = async (what: string, done: () => boolean): Promise<void> => {
    const deadline = Date.now() + timeout;
    for (;;) {
      if (failure) throw new Error(failure);
      if (done()) return;
      if (closed) throw new Error(`connection closed (${closed.code}${closed.reason ? ` ${closed.reason}` : ''}) while waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`no ${what} from the server within ${timeout} ms`);
      await new Promise<void>((r) => {
        waiter = r;
        setTimeout(r, 50);
      });
      waiter = null;
    }
  };
  /** Wait for a message by name (and test); others' chat may come in between. A bye ends the session. */
  const expect = async (want: string, test: (f: Fields) => boolean = () => true): Promise<Fields> => {
    let got: Fields | undefined;
    await wait(want, () => {
      const i = queue.findIndex((m) => (m.name === want && test(m.fields)) || (m.name === 'bye' && want !== 'bye'));
      if (i < 0) return false;
      const [m] = queue.splice(i, 1);
      if (m!.name !== want) throw new Error(`the server said bye: ${String(m!.fields.reason)}`);
      got = m!.fields;
      return true;
    });
    return got!;
  };
  const send = (t: string, fields: Fields, fragment = 0): void => {
    if (ws.readyState !== WebSocket.OPEN) throw new Error(`connection closed before ${t}`);
    logMessage(o.messageLog, 'c2s', t, fields);
    const msg = pack(t, fields);
    if (!fragment) ws.send(msg, { binary: true });
    else for (let i = 0; i < msg.length; i += fragment) ws.send(msg.subarray(i, i + fragment), { binary: true, fin: i + fragment >= msg.length });
    sent++;
  };

  const rng = mulberry32(o.seed ?? 1);
  try {
    send('join', { room, name });
    const welcome = await expect('welcome');
    if (typeof welcome.token !== 'string') throw new Error('welcome without a token');
    const token = welcome.token;
    for (let r = 1; r <= rounds; r++) {
      send('move', { seq: r, x: coord(rng), y: coord(rng), token });
      await expect('state');
      if (r === 2) {
        send('map_request', { room });
        const map = await expect('map');
        const tiles = map.tiles;
        if (!(tiles instanceof Uint8Array) || tiles.length !== MAP_SIZE * MAP_SIZE) throw new Error(`map tiles are not ${MAP_SIZE * MAP_SIZE} bytes`);
      }
      if (r === 4) {
        const samples: number[] = [];
        for (let i = 0; i < REPORT_SAMPLES; i++) samples.push(i % 2 === 0 ? Math.floor(rng() * 1_000_000) : (Math.floor(rng() * 100_000) + 0.5) / 100);
        send('report', { seq: r, samples }, REPORT_FRAGMENT);
        const ack = await expect('report_ack');
        if (ack.count !== samples.length) throw new Error(`report_ack counted ${String(ack.count)} samples, not ${samples.length}`);
      }
      if (r % 3 === 0) {
        const text = `round ${r}`;
        send('chat', { text });
        await expect('chat', (f) => f.from === name && f.text === text);
      }
      if (o.interval) await new Promise((res) => setTimeout(res, o.interval));
    }
    send('leave', {});
    await expect('bye');
    await wait('the close', () => closed !== null);
    o.log?.(`ws client ${name}: ${rounds} rounds in room ${room}, ${sent} messages sent, ${received} received`);
    return { rounds, sent, received, player: Number(welcome.player) };
  } catch (e) {
    throw new GamesniffError('FAILED', `client: ${(e as Error).message}`, 1);
  } finally {
    if (!closed) {
      ws.terminate();
      await new Promise<void>((r) => (ws.readyState === WebSocket.CLOSED ? r() : ws.once('close', () => r())));
    }
  }
}
