/**
 * The test game server: speaks protocols/testgame over TCP (and UDP for positions), to as many
 * clients as connect. Given a seed it answers the same inputs with the same replies, except for
 * the fields the protocol marks volatile (server_time, the session token), which replay has to
 * ignore or rewrite. Bad input gets an `error` message and a disconnect; other clients go on.
 */
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { listenError } from '../client/net';
import type { Protocol } from '../protocol/protocol';
import { Peer } from '../client/peer';
import { mulberry32 } from '../core/rng';
import { round2 } from './random';
import { logSessionKey, openSessionKey, serverKey } from './secure';

export interface GameServerOptions {
  port: number;
  /** UDP port for positions (default port + 1; 0 = none). */
  udpPort?: number;
  host?: string;
  seed: number;
  log?: (line: string) => void;
  /** Largest frame accepted from a client. */
  maxFrame?: number;
  /** After login, a key exchange, then both directions encrypted (see secure.ts). */
  secure?: boolean;
  /** Append each session's key here (a key log gamesniff reads with --keylog). */
  keylog?: string;
}

interface Player {
  id: number;
  name: string;
  peer: Peer;
  token: Buffer;
  tick: number;
  pos: { x: number; y: number };
  items: Record<string, number>;
  acked: boolean;
  /** --secure: login_ok went out with a key_request; waiting for key_response. */
  keying: boolean;
}

const VERSION = 3;

export class GameServer {
  private tcp?: net.Server;
  private udp?: dgram.Socket;
  private readonly players = new Set<Player>();
  private nextId = 1;
  private readonly sockets = new Set<net.Socket>();
  private readonly key = serverKey();
  port = 0;
  udpPort = 0;

  constructor(
    readonly protocol: Protocol,
    readonly opts: GameServerOptions,
  ) {}

  private log(s: string): void {
    this.opts.log?.(s);
  }

  async start(): Promise<void> {
    const host = this.opts.host ?? '127.0.0.1';
    this.tcp = net.createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      this.tcp!.once('error', (e) => reject(listenError(e, 'the test game server', host, this.opts.port)));
      this.tcp!.listen(this.opts.port, host, () => resolve());
    });
    this.port = (this.tcp.address() as net.AddressInfo).port;
    const udpPort = this.opts.udpPort ?? this.port + 1;
    if (udpPort !== 0 && this.protocol.udp) {
      this.udp = dgram.createSocket('udp4');
      this.udp.on('message', (msg, rinfo) => this.datagram(msg, rinfo));
      await new Promise<void>((resolve, reject) => {
        this.udp!.once('error', (e) => {
          this.tcp?.close();
          reject(listenError(e, 'the test game server (udp)', host, udpPort));
        });
        this.udp!.bind(udpPort, host, () => resolve());
      });
      this.udpPort = this.udp.address().port;
    }
    this.log(`testgame server on ${host}:${this.port} tcp${this.udp ? `, ${this.udpPort} udp` : ''}, seed ${this.opts.seed}`);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.udp?.close();
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    let player: Player | undefined;
    const who = `${socket.remoteAddress}:${socket.remotePort}`;
    const fail = (code: number, message: string) => {
      this.log(`${who}: ${message}; disconnecting`);
      if (!peer.closed) {
        peer.send('error', { code, message });
        socket.end();
      }
    };
    const peer = new Peer(
      this.protocol,
      socket,
      'c2s',
      (m) => {
        if (peer.closed) return;
        if (m.raw !== undefined) return fail(1, `unframed input: ${m.raw}`);
        if (m.error || !m.name) return fail(2, `bad message: ${m.error ? `${m.error.path || 'frame'}: ${m.error.message}` : 'unknown'}`);
        try {
          player = this.handle(peer, player, m.name, m.fields ?? {});
        } catch (err) {
          fail(3, (err as Error).message);
        }
      },
      { maxFrame: this.opts.maxFrame ?? 4096 },
    );
    socket.on('close', () => {
      this.sockets.delete(socket);
      if (player) this.players.delete(player);
    });
    socket.on('error', () => undefined);
  }

  private handle(peer: Peer, player: Player | undefined, name: string, f: Record<string, unknown>): Player | undefined {
    const seed = this.opts.seed;
    if (!player && name !== 'hello' && name !== 'login') throw new Error(`${name} before login`);
    switch (name) {
      case 'hello':
        if (f.version !== VERSION) throw new Error(`version ${String(f.version)} not supported (want ${VERSION})`);
        peer.send('hello_ack', { server_time: BigInt(Date.now()), motd: `welcome to testgame (seed ${seed})` });
        return player;
      case 'login': {
        if (player) throw new Error('logged in twice');
        const nameStr = String(f.name);
        const rng = mulberry32(seed ^ hash(nameStr));
        const p: Player = {
          id: this.nextId++,
          name: nameStr,
          peer,
          token: randomBytes(16),
          tick: 0,
          pos: { x: round2(rng() * 100), y: round2(rng() * 100) },
          items: { potion: 3, sword: 1, arrows: 20 + Math.floor(rng() * 10) },
          acked: false,
          keying: !!this.opts.secure,
        };
        this.players.add(p);
        peer.send('login_ok', { player_id: p.id, token: p.token, spawn: p.pos, stats: [1 + (hash(nameStr) % 50), 10, 10] });
        // --secure: nothing more until the session key is agreed, so every later byte is encrypted
        if (p.keying) peer.send('key_request', { public_key: this.key.publicRaw });
        else this.welcome(p);
        return p;
      }
      case 'key_response': {
        if (!player!.keying) throw new Error('key_response without a key_request');
        const key = openSessionKey(this.key.privateKey, f.ephemeral as Buffer, f.sealed as Buffer);
        // the session's key, before anything it encrypts goes out (the description turns the cipher on at this message)
        peer.conv.state.session_key = key;
        logSessionKey(this.opts.keylog, { addr: peer.socket.remoteAddress ?? '', port: peer.socket.remotePort ?? 0 }, key);
        player!.keying = false;
        this.welcome(player!);
        return player;
      }
      case 'ack_login':
        if (!Buffer.isBuffer(f.token) || !f.token.equals(player!.token)) throw new Error('bad session token');
        player!.acked = true;
        return player;
    }
    const p = player!;
    if (!p.acked) throw new Error(`${name} before ack_login`);
    switch (name) {
      case 'move': {
        p.pos = f.pos as { x: number; y: number };
        p.tick++;
        peer.send('snapshot', { tick: p.tick, server_time: BigInt(Date.now()), entities: this.entities(p) });
        break;
      }
      case 'chat':
        for (const other of this.players) if (other.acked) other.peer.send('chat_msg', { from: p.id, name: p.name, text: f.text });
        break;
      case 'use_item': {
        const keys = Object.keys(p.items).sort();
        const k = keys[Number(f.slot) % keys.length];
        if (p.items[k] > 0) p.items[k]--;
        peer.send('inventory', { items: p.items });
        break;
      }
      case 'ping':
        peer.send('ping', { nonce: f.nonce });
        break;
      case 'bye':
        peer.send('bye', { reason: 'quit' });
        peer.socket.end();
        break;
      default:
        throw new Error(`unexpected ${name}`);
    }
    return p;
  }

  /** The rest of the login: compression on, the inventory. */
  private welcome(p: Player): void {
    p.peer.send('set_compression', { threshold: 64 });
    p.peer.send('inventory', { items: p.items });
  }

  /** The player, then NPCs and items that depend only on the seed, the player and the tick. */
  private entities(p: Player): unknown[] {
    const rng = mulberry32(this.opts.seed * 7919 + p.tick);
    const out: unknown[] = [
      { id: 1000 + p.id, kind: 'player', pos: p.pos, flags: { moving: true, hidden: false, hurt: false }, stats: { level: 5, team: 1, mood: 0 }, detail: p.name },
    ];
    const n = 2 + (p.tick % 4);
    for (let i = 0; i < n; i++) {
      const item = i % 3 === 2;
      out.push({
        id: 1 + i * 37,
        kind: item ? 'item' : 'npc',
        pos: { x: round2(rng() * 100), y: round2(rng() * 100) },
        flags: { moving: !item && rng() < 0.5, hidden: false, hurt: rng() < 0.2 },
        stats: { level: Math.floor(rng() * 64), team: 2, mood: Math.floor(rng() * 64) },
        detail: item ? { item_id: 100 + i, count: 1 + Math.floor(rng() * 5) } : this.patrol(rng()),
      });
    }
    return out;
  }

  private patrol(r: number): string {
    return r < 0.33 ? 'idle' : r < 0.66 ? 'patrol' : 'chase';
  }

  private datagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const t = this.protocol.udp!;
    const d = t.decode('c2s', msg, {});
    if (d.name !== 'position' || !d.fields) return; // garbage on UDP is dropped, as games do
    const f = d.fields as { player_id: number; pos: { x: number; y: number }; seq: number };
    for (const p of this.players) if (p.id === f.player_id) p.pos = f.pos;
    const players = [...this.players].map((p) => ({ id: p.id, pos: p.pos }));
    this.udp!.send(t.encode('positions', { tick: f.seq, players }, {}), rinfo.port, rinfo.address);
  }
}

export function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
