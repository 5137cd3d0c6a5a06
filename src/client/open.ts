/**
 * A game client and a mock server from a protocol description, with no code generated: the
 * runtime side of `gamesniff codegen --ts` (whose typed module wraps these). Connections are
 * peers (peer.ts); layers (compression, ciphers, WebSocket) are the conversation's. A protocol
 * with UDP gets its datagrams on a companion socket.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { Conversation } from '../conversation/conversation';
import { KeyLog } from '../conversation/keylog';
import { upgradeAnswer, upgradeRequest } from '../conversation/websocket';
import { GamesniffError } from '../core/errors';
import { loadProtocol, type Protocol } from '../protocol/protocol';
import { connectWithRetry, listenError } from './net';
import { Peer, type PeerMessage, type PeerOptions } from './peer';

export interface ClientOptions {
  host?: string;
  port: number;
  /** The server's UDP port for the protocol's datagrams (default: port + 1 when the protocol has udp; 0: none). */
  udpPort?: number;
  /** A key log to read keys the traffic does not show (lines CLIENT_ADDR:PORT NAME HEX). */
  keylog?: string;
  /** State to start with. */
  state?: Record<string, unknown>;
  /** Keep trying a refused connection this long (a server just starting), ms. */
  connectWaitMs?: number;
  /** WebSocket protocols: the upgrade request's path and extra headers. */
  path?: string;
  headers?: Record<string, string>;
  /** How long the WebSocket upgrade may take, ms. */
  timeoutMs?: number;
}

/** A client: the TCP peer, with the protocol's UDP datagrams alongside. */
export class Client extends Peer {
  private udp: { socket: dgram.Socket; conv: Conversation<null>; host: string; port: number } | null = null;

  /** Encode a UDP message and send it to the server's UDP port; returns the datagram. */
  sendDatagram(name: string, fields: unknown = {}): Buffer {
    if (!this.udp) throw new GamesniffError('USAGE', `protocol ${this.protocol.name} has no udp section, or the client was opened with udpPort: 0`);
    const d = this.udp.conv.send('c2s', name, fields);
    this.udp.socket.send(d, this.udp.port, this.udp.host);
    return d;
  }

  /** @internal */
  attachUdp(host: string, port: number): Promise<void> {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const conv = new Conversation<null>(this.protocol, 'udp', (m) => this.deliver(m), { flow: null });
    socket.on('message', (d) => conv.datagram('s2c', d, 0));
    socket.on('error', () => undefined);
    this.udp = { socket, conv, host, port };
    this.onClose(() => socket.close());
    return new Promise((resolve) => socket.bind(0, () => resolve()));
  }
}

/** Connect to a server speaking `protocol` (a Protocol, or a name under protocols/ or a path). */
export async function openClient(protocol: Protocol | string, o: ClientOptions): Promise<Client> {
  const p = typeof protocol === 'string' ? loadProtocol(protocol) : protocol;
  if (!p.tcp) throw new GamesniffError('USAGE', `protocol ${p.name} has no tcp section to connect with`);
  const host = o.host ?? '127.0.0.1';
  const socket = await connectWithRetry(o.port, host, o.connectWaitMs);
  socket.setNoDelay(true);
  const log = o.keylog ? new KeyLog(o.keylog) : null;
  const me = { addr: socket.localAddress ?? '', port: socket.localPort ?? 0 };
  const client = new Client(p, socket, 's2c', undefined, { state: o.state, keys: log ? () => log.keysFor(me) : undefined });
  const udpPort = o.udpPort ?? o.port + 1;
  if (p.udp && udpPort !== 0) await client.attachUdp(host, udpPort);
  if (p.tcp.def.websocket) {
    client.send('http_request', upgradeRequest(`${host}:${o.port}`, o.path, o.headers));
    let answer: PeerMessage;
    try {
      answer = await client.next('http_response', o.timeoutMs ?? 5000);
    } catch (e) {
      socket.destroy();
      throw e;
    }
    if (answer.fields?.status !== 101) {
      socket.destroy();
      throw new GamesniffError('FAILED', `the server refused the WebSocket upgrade: HTTP ${String(answer.fields?.status)} ${String(answer.fields?.reason ?? '')}`, 1);
    }
  }
  return client;
}

export interface ServeOptions {
  host?: string;
  port: number;
  /** UDP port for the protocol's datagrams (default: port + 1 when the protocol has udp; 0: none). */
  udpPort?: number;
  /** The largest frame accepted from a client. */
  maxFrame?: number;
  state?: Record<string, unknown>;
}

/** A mock server: each connection a peer (receiving c2s); WebSocket upgrades are answered. */
export class Server {
  readonly peers = new Set<Peer>();
  port = 0;
  udpPort = 0;
  private tcp: net.Server | null = null;
  private udp: { socket: dgram.Socket; conv: Conversation<null> } | null = null;
  private readonly datagramListeners: ((m: PeerMessage, from: { address: string; port: number }) => void)[] = [];
  private lastFrom: { address: string; port: number } | null = null;

  constructor(
    readonly protocol: Protocol,
    private readonly o: ServeOptions,
    private readonly onPeer: (peer: Peer) => void,
  ) {}

  async start(): Promise<this> {
    const host = this.o.host ?? '127.0.0.1';
    const p = this.protocol;
    this.tcp = net.createServer((socket) => {
      socket.setNoDelay(true);
      const peer = new Peer(p, socket, 'c2s', undefined, { maxFrame: this.o.maxFrame, state: this.o.state });
      this.peers.add(peer);
      peer.onClose(() => this.peers.delete(peer));
      if (p.tcp?.def.websocket) {
        peer.on('http_request', (m) => peer.send('http_response', upgradeAnswer((m.fields?.headers ?? {}) as Record<string, string>)));
      }
      this.onPeer(peer);
    });
    await new Promise<void>((resolve, reject) => {
      this.tcp!.once('error', (e) => reject(listenError(e, `a ${p.name} server`, host, this.o.port)));
      this.tcp!.listen(this.o.port, host, () => resolve());
    });
    this.port = (this.tcp.address() as net.AddressInfo).port;
    const udpPort = this.o.udpPort ?? (this.o.port === 0 ? 0 : this.o.port + 1);
    if (p.udp && this.o.udpPort !== 0) {
      const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      const conv = new Conversation<null>(p, 'udp', (m) => {
        for (const l of this.datagramListeners) l(m, this.lastFrom!);
      }, { flow: null });
      socket.on('message', (d, r) => {
        this.lastFrom = { address: r.address, port: r.port };
        conv.datagram('c2s', d, 0);
      });
      await new Promise<void>((resolve, reject) => {
        socket.once('error', (e) => reject(listenError(e, `a ${p.name} udp server`, host, udpPort)));
        socket.bind(udpPort, host, () => resolve());
      });
      this.udp = { socket, conv };
      this.udpPort = socket.address().port;
    }
    return this;
  }

  /** Each UDP message a client sends, with where it came from. */
  onDatagram(listener: (m: PeerMessage, from: { address: string; port: number }) => void): this {
    this.datagramListeners.push(listener);
    return this;
  }

  /** Encode a UDP message for a client and send it. */
  sendDatagram(to: { address: string; port: number }, name: string, fields: unknown = {}): Buffer {
    if (!this.udp) throw new GamesniffError('USAGE', `protocol ${this.protocol.name} has no udp section, or the server has udpPort: 0`);
    const d = this.udp.conv.send('s2c', name, fields);
    this.udp.socket.send(d, to.port, to.address);
    return d;
  }

  async close(): Promise<void> {
    for (const peer of this.peers) peer.socket.destroy();
    this.udp?.socket.close();
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
  }
}

/** Start a mock server speaking `protocol`; `onPeer` gets each connection. */
export function serve(protocol: Protocol | string, o: ServeOptions, onPeer: (peer: Peer) => void): Promise<Server> {
  const p = typeof protocol === 'string' ? loadProtocol(protocol) : protocol;
  return new Server(p, o, onPeer).start();
}

export type { PeerOptions };
