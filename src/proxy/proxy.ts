/**
 * A man-in-the-middle proxy for one game: the client connects here, each connection gets one to
 * the real server, and every message goes through two conversations — the client side's (decodes
 * what the client sends, encodes what the client gets) and the server side's — so compression,
 * ciphers and WebSocket framing stay in step on both legs whatever a script changes. A message
 * nothing changed goes on as its sender wrote it (byte for byte); one a script changed is encoded
 * anew; one dropped is not sent; an injected one is encoded where it goes.
 *
 * Without a script, bytes pass as they arrive: the proxied session is byte for byte the
 * original, even where message-level passing would reorder (a WebSocket ping sent between the
 * fragments of a message goes out, at message level, before the message it interrupted).
 *
 * What went out on each leg (c2s: to the server, s2c: to the client) is handed to a flow listener
 * as a connection, the way a capture's connections are: the UI, `decode`'s printing and the
 * recorder show and keep the proxied session as they do a sniffed one.
 *
 * Bounded under hostile peers: a direction holds at most `maxQueued` messages waiting for the
 * script and at most `maxBuffered` bytes the other side has not read; past either, reading from
 * its sender pauses until it drains (backpressure both ways). Frames are bounded by `maxFrame`.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { Conversation, type ConversationMessage } from '../conversation/conversation';
import { KeyLog } from '../conversation/keylog';
import { connectWithRetry, listenError, type HostPort } from '../client/net';

export type { HostPort };
import { endpointString, type Direction, type Endpoint } from '../core/types';
import { TcpConnection, UdpFlow, type FlowListener } from '../flow/connection';
import type { Protocol } from '../protocol/protocol';
import { sameValue } from '../protocol/runtime';
import type { AnyMessages, ProxyContext, ProxyMessage, ProxyScript } from './script';


export interface ProxyOptions {
  protocol: Protocol | null;
  listen: HostPort;
  target: HostPort;
  /** UDP: where clients send datagrams, and the server's UDP address. */
  udp?: { listen: HostPort; target: HostPort } | null;
  script?: ProxyScript | null;
  /** Keys the traffic does not show, by the client's address (both sides use them). */
  keylog?: string;
  /** The largest frame taken from either side (default 16 MiB). */
  maxFrame?: number;
  /** Messages a direction may hold waiting for the script before it stops reading (default 256). */
  maxQueued?: number;
  /** Bytes a side may leave unread before the other stops reading (default 4 MiB). */
  maxBuffered?: number;
  /** How long a refused connection to the server is tried again (a server still starting), ms (default 5000). */
  connectWaitMs?: number;
  /** Pass messages through the conversations even without a script (intercept needs it; a script implies it). */
  messageLevel?: boolean;
  /** A line for the user (script errors, connections refused by the server). */
  log?: (line: string) => void;
}

export interface HeldMessage {
  seq: number;
  conn: number;
  dir: Direction;
  label: string;
  fields: Record<string, unknown>;
  resolve: (d: Record<string, unknown> | 'drop' | null) => void;
}

export interface ProxyStats {
  connections: number;
  open: number;
  messages: number;
  modified: number;
  dropped: number;
  injected: number;
  scriptErrors: number;
  refused: number;
  /** Datagrams dropped: a direction's queue was full, or too many UDP flows. */
  datagramsDropped: number;
}

const DIRS: Direction[] = ['c2s', 's2c'];
/** UDP clients followed at once (each has a socket to the server). */
const MAX_UDP_FLOWS = 4096;
const now = (): number => Date.now() * 1000;

/** One direction of a proxied connection: the chain its messages wait in, and its reading. */
interface Lane {
  /** The last task that is waiting (a hook that awaits, a held message); later ones go after it. */
  chain: Promise<void>;
  /** Tasks not yet done: while any waits, new ones queue behind it; else they run at once. */
  queued: number;
  offset: number;
}

export class Proxy {
  readonly stats: ProxyStats = { connections: 0, open: 0, messages: 0, modified: 0, dropped: 0, injected: 0, scriptErrors: 0, refused: 0, datagramsDropped: 0 };
  private server: net.Server | null = null;
  private udpSocket: dgram.Socket | null = null;
  private readonly conns = new Set<ProxiedConnection>();
  private readonly udpFlows = new Map<string, ProxiedDatagrams>();
  private nextId = 0;
  private listener: FlowListener = {};
  private readonly keylog: KeyLog | null;
  private stopped: (() => void) | null = null;
  readonly done: Promise<void>;
  port = 0;
  udpPort = 0;

  constructor(readonly o: ProxyOptions) {
    this.keylog = o.keylog ? new KeyLog(o.keylog) : null;
    this.done = new Promise((r) => (this.stopped = r));
  }

  /** Directions whose messages wait for a decision (the UI's intercept). */
  private readonly intercepting = new Set<Direction>();
  /** Messages held by intercept, oldest first. */
  readonly held: HeldMessage[] = [];
  private heldSeq = 0;

  intercepts(dir: Direction): boolean {
    return this.intercepting.has(dir);
  }

  /** Hold `dir`'s messages from now on (or not: what is held goes on as it is). */
  setIntercept(dirs: Direction[]): void {
    this.intercepting.clear();
    for (const d of dirs) this.intercepting.add(d);
    for (const h of [...this.held]) if (!this.intercepting.has(h.dir)) this.decide(h, null);
  }

  /** @internal a message held until decide(). */
  hold(conn: number, dir: Direction, label: string, fields: Record<string, unknown>): Promise<Record<string, unknown> | 'drop' | null> {
    return new Promise((resolve) => {
      this.held.push({ seq: this.heldSeq++, conn, dir, label, fields, resolve });
    });
  }

  /** A held message: on as it is (null), with these fields, or dropped. */
  decide(h: HeldMessage, decision: Record<string, unknown> | 'drop' | null): void {
    const i = this.held.indexOf(h);
    if (i < 0) return;
    this.held.splice(i, 1);
    h.resolve(decision);
  }

  /** A message of our own into connection `conn` (the newest open one when null); why not, or null. */
  inject(conn: number | null, dir: Direction, name: string, fields: unknown): string | null {
    const open = [...this.conns].filter((c) => !c.isEnded());
    const c = conn === null ? open[open.length - 1] : open.find((x) => x.id === conn);
    if (!c) return conn === null ? 'no open connection to send into' : `no open connection #${conn}`;
    if (!this.o.protocol) return 'no protocol to encode with (-p)';
    if (!this.o.protocol.message(name, dir)) return `protocol ${this.o.protocol.name} has no ${dir} message ${name}`;
    c.injectNow(dir, name, fields);
    return null;
  }

  /** Where what passes goes (the UI, the printer, a recorder). */
  attach(listener: FlowListener): this {
    this.listener = listener;
    return this;
  }

  async start(): Promise<this> {
    const { listen } = this.o;
    // a client that half-closes (FIN) still gets the server's answer
    this.server = net.createServer({ allowHalfOpen: true }, (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (e) => reject(listenError(e, 'the proxy', listen.host, listen.port)));
      this.server!.listen(listen.port, listen.host, () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    if (this.o.udp && this.o.protocol?.udp) {
      const u = this.o.udp;
      const sock = dgram.createSocket(u.listen.host.includes(':') ? 'udp6' : 'udp4');
      sock.on('message', (d, r) => this.datagramFromClient(d, { addr: r.address, port: r.port }));
      sock.on('error', (e) => this.log(`udp: ${e.message}`));
      await new Promise<void>((resolve, reject) => {
        sock.once('error', (e) => reject(listenError(e, 'the proxy (udp)', u.listen.host, u.listen.port)));
        sock.bind(u.listen.port, u.listen.host, () => resolve());
      });
      this.udpSocket = sock;
      this.udpPort = sock.address().port;
    }
    return this;
  }

  /** Stop accepting, close every connection; `done` resolves. */
  async stop(): Promise<void> {
    this.server?.close();
    this.setIntercept([]);
    for (const c of this.conns) c.close();
    for (const f of this.udpFlows.values()) f.close();
    this.udpSocket?.close();
    this.udpSocket = null;
    this.stopped?.();
  }

  log(line: string): void {
    this.o.log?.(line);
  }

  keysFor(client: Endpoint): (() => Record<string, unknown> | undefined) | undefined {
    const log = this.keylog;
    return log ? () => log.keysFor(client) : undefined;
  }

  private accept(socket: net.Socket): void {
    const client: Endpoint = { addr: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    const c = new ProxiedConnection(this, this.nextId++, socket, client, this.listener);
    this.conns.add(c);
    this.stats.connections++;
    this.stats.open++;
    c.closed.then(() => {
      this.conns.delete(c);
      this.stats.open--;
    });
  }

  private datagramFromClient(d: Buffer, from: Endpoint): void {
    const key = endpointString(from);
    let f = this.udpFlows.get(key);
    if (!f && this.udpFlows.size >= MAX_UDP_FLOWS) {
      // a flood of source addresses: no socket each
      this.stats.datagramsDropped++;
      return;
    }
    if (!f) {
      f = new ProxiedDatagrams(this, this.nextId++, from, this.listener, (back) => this.udpSocket?.send(back, from.port, from.addr));
      this.udpFlows.set(key, f);
      f.closed.then(() => this.udpFlows.delete(key));
    }
    f.fromClient(d);
  }
}

/** What both proxied transports share: script calls, and passing a message on through the other side's conversation. */
abstract class Proxied {
  protected readonly convs: Record<'client' | 'server', Conversation<null>>;
  protected readonly lanes: Record<Direction, Lane> = { c2s: { chain: Promise.resolve(), queued: 0, offset: 0 }, s2c: { chain: Promise.resolve(), queued: 0, offset: 0 } };
  protected timers: NodeJS.Timeout[] = [];
  protected ended = false;

  isEnded(): boolean {
    return this.ended;
  }
  readonly ctx: ProxyContext;
  private dropping = false;

  constructor(
    protected readonly proxy: Proxy,
    readonly id: number,
    readonly client: Endpoint,
    kind: 'tcp' | 'udp',
  ) {
    const p = proxy.o.protocol;
    const keys = proxy.keysFor(client);
    const opts = { flow: null, keys, maxFrame: proxy.o.maxFrame };
    // no protocol, or no script to show messages to: bytes pass as they come (byte for byte by
    // construction; what is shown and recorded is decoded from them by the listener)
    this.convs = p && (proxy.o.script || proxy.o.messageLevel)
      ? { client: new Conversation<null>(p, kind, (m) => this.arrived('c2s', m), opts), server: new Conversation<null>(p, kind, (m) => this.arrived('s2c', m), opts) }
      : (null as never);
    const self = this;
    this.ctx = {
      conn: id,
      client: endpointString(client),
      get state() {
        return { client: self.convs?.client.state ?? {}, server: self.convs?.server.state ?? {} };
      },
      drop: () => {
        this.dropping = true;
      },
      inject: (dir, name, fields) => this.enqueue(dir, () => this.inject(dir, String(name), fields)),
      every: (ms, fn) => {
        const t = setInterval(() => this.guard('every', () => fn()), Math.max(1, ms));
        this.timers.push(t);
      },
      close: () => this.close(),
      log: (line) => this.proxy.log(`#${id} ${line}`),
    };
  }

  /** The conversation that encodes what goes `dir`: the server side's for c2s, the client side's for s2c. */
  protected out(dir: Direction): Conversation<null> {
    return dir === 'c2s' ? this.convs.server : this.convs.client;
  }

  /** Bytes for the other side of `dir`. */
  protected abstract write(dir: Direction, bytes: Buffer): void;

  abstract close(): void;

  /**
   * Run `task` in `dir`'s turn: at once when nothing of that direction waits (most messages: no
   * promise, no microtask), else after what waits.
   */
  protected enqueue(dir: Direction, task: () => void | Promise<void>): void {
    const lane = this.lanes[dir];
    const fail = (e: unknown) => this.proxy.log(`#${this.id} ${dir}: ${(e as Error)?.stack ?? String(e)}`);
    const settle = () => {
      lane.queued--;
      this.backpressure(dir);
    };
    lane.queued++;
    if (lane.queued === 1) {
      let r: void | Promise<void> = undefined;
      try {
        r = task();
      } catch (e) {
        fail(e);
      }
      if (!r) return settle();
      lane.chain = r.catch(fail).finally(settle);
      this.backpressure(dir);
      return;
    }
    this.backpressure(dir);
    lane.chain = lane.chain.then(task).catch(fail).finally(settle);
  }

  protected backpressure(_dir: Direction): void {}

  private arrived(dir: Direction, m: ConversationMessage<null>): void {
    this.enqueue(dir, () => this.pass(dir, m));
  }

  /**
   * A message from `dir`'s sender: through the script and the intercept, then on to the other
   * side. Synchronous unless a hook returns a promise or the message is held.
   */
  private pass(dir: Direction, m: ConversationMessage<null>): void | Promise<void> {
    if (this.ended) return;
    const out = this.out(dir);
    this.proxy.stats.messages++;
    if (!m.name || m.raw !== undefined || m.error) {
      // not a message we understand: on as it came
      this.write(dir, m.raw !== undefined ? out.resendBytes(dir, m.frame) : out.resend(dir, m.frame, m.payload, m.header));
      return;
    }
    const onMessage = this.proxy.o.script?.onMessage;
    if (!onMessage) return this.decided(dir, m, m.fields!);
    const label = m.label ?? m.name;
    const msg = { dir, name: m.name, label, fields: copyValue(m.fields) as Record<string, unknown>, wire: m.wire, index: m.index } as ProxyMessage<AnyMessages>;
    this.dropping = false;
    const failed = (e: unknown): void => {
      this.proxy.stats.scriptErrors++;
      this.proxy.log(`#${this.id} script error in onMessage(${label}): ${(e as Error)?.stack ?? String(e)}`);
    };
    let r: void | Promise<void> = undefined;
    try {
      r = onMessage.call(this.proxy.o.script, msg, this.ctx);
    } catch (e) {
      // a hook that throws changes nothing: the message goes on as it came
      failed(e);
      return this.decided(dir, m, m.fields!);
    }
    const after = (ok: boolean): void | Promise<void> => {
      if (this.dropping && ok) {
        this.dropping = false;
        this.proxy.stats.dropped++;
        return;
      }
      this.dropping = false;
      return this.decided(dir, m, ok ? (msg.fields as Record<string, unknown>) : m.fields!);
    };
    if (r && typeof (r as Promise<void>).then === 'function') {
      return (r as Promise<void>).then(
        () => after(true),
        (e: unknown) => {
          failed(e);
          return after(false);
        },
      );
    }
    return after(true);
  }

  /** After the script: held while the direction is intercepted, then sent. */
  private decided(dir: Direction, m: ConversationMessage<null>, fields: Record<string, unknown>): void | Promise<void> {
    if (!this.proxy.intercepts(dir)) return this.send(dir, m, fields);
    return this.proxy.hold(this.id, dir, m.label ?? m.name!, fields).then((d) => {
      if (d === 'drop') {
        this.proxy.stats.dropped++;
        return;
      }
      this.send(dir, m, d ?? fields);
    });
  }

  /** On to the other side: as it came when unchanged, else encoded anew. */
  private send(dir: Direction, m: ConversationMessage<null>, fields: Record<string, unknown>): void {
    if (this.ended) return;
    const out = this.out(dir);
    if (fields !== m.fields && !sameValue(fields, m.fields)) {
      try {
        const payload = out.transport.reencode({ name: m.name!, dir, id: m.id, head: m.head, fields: m.fields!, body: m.payload, frame: m.header }, fields, out.state);
        this.write(dir, out.sendPayload(dir, payload, m.header ?? {}));
        this.proxy.stats.modified++;
        return;
      } catch (e) {
        this.proxy.stats.scriptErrors++;
        this.proxy.log(`#${this.id} ${m.label ?? m.name}: the changed fields do not encode (${(e as Error).message}); passed on unchanged`);
      }
    }
    this.write(dir, out.resend(dir, m.frame, m.payload, m.header));
  }

  /** A message of our own into this connection (the UI's `n`, a script's ctx.inject), in its direction's turn. */
  injectNow(dir: Direction, name: string, fields: unknown): void {
    this.enqueue(dir, () => this.inject(dir, name, fields));
  }

  private inject(dir: Direction, name: string, fields: unknown): void {
    if (this.ended) return;
    let bytes: Buffer;
    try {
      bytes = this.out(dir).send(dir, name, fields);
    } catch (e) {
      this.proxy.stats.scriptErrors++;
      this.proxy.log(`#${this.id} inject ${dir} ${name}: ${(e as Error).message}`);
      return;
    }
    this.proxy.stats.injected++;
    this.write(dir, bytes);
  }

  protected async runHook(name: 'onConnect' | 'onClose'): Promise<void> {
    const hook = this.proxy.o.script?.[name];
    if (hook) await this.guardAsync(name, () => hook.call(this.proxy.o.script, this.ctx));
  }

  /** A script error: said with its stack, and the proxy goes on. */
  private async guardAsync(what: string, fn: () => void | Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.proxy.stats.scriptErrors++;
      this.proxy.log(`#${this.id} script error in ${what}: ${(e as Error)?.stack ?? String(e)}`);
    }
  }

  private guard(what: string, fn: () => void): void {
    void this.guardAsync(what, fn);
  }
}

class ProxiedConnection extends Proxied {
  private upstream: net.Socket;
  private readonly conn: TcpConnection;
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private readonly sockets: Record<Direction, net.Socket>;
  private readonly readOffset: Record<Direction, number> = { c2s: 0, s2c: 0 };
  private readonly halfClosed: Record<Direction, boolean> = { c2s: false, s2c: false };
  private readonly waitingDrain: Record<Direction, boolean> = { c2s: false, s2c: false };

  constructor(
    proxy: Proxy,
    id: number,
    private readonly downstream: net.Socket,
    client: Endpoint,
    private readonly listener: FlowListener,
  ) {
    super(proxy, id, client, 'tcp');
    this.closed = new Promise((r) => (this.resolveClosed = r));
    const t = proxy.o.target;
    this.conn = new TcpConnection(id, `${endpointString(client)}|${t.host}:${t.port}`, client, { addr: t.host, port: t.port }, endpointString(client), now());
    downstream.setNoDelay(true);
    // nothing is read from the client until the server answered the connection
    downstream.pause();
    // a server that is still starting is waited for (connectWait), as the testbed's clients do
    this.upstream = new net.Socket();
    this.sockets = { c2s: downstream, s2c: this.upstream };
    // a side that goes away ends what it sent once that went through; the connection closes when both are done
    downstream.on('error', () => this.gone('c2s'));
    downstream.on('close', () => (this.conn.state === 'handshake' ? this.close() : this.gone('c2s')));
    connectWithRetry(t.port, t.host, proxy.o.connectWaitMs ?? 5000, { allowHalfOpen: true }).then(
      (sock) => {
        if (this.ended) return void sock.destroy();
        this.upstream = sock;
        this.sockets.s2c = sock;
        sock.setNoDelay(true);
        sock.on('error', () => this.gone('s2c'));
        sock.on('close', () => this.gone('s2c'));
        this.conn.state = 'open';
        this.listener.open?.(this.conn, now());
        void this.runHook('onConnect').then(() => {
          for (const d of DIRS) this.read(d);
        });
      },
      (e: Error) => {
        proxy.stats.refused++;
        proxy.log(`#${id} ${endpointString(client)}: ${e.message}; closing the client's connection`);
        this.close();
      },
    );
  }

  /**
   * The socket that sends `dir` closed (or failed): what it sent goes through first, then both
   * directions end (it can neither send nor be written to any more).
   */
  private gone(dir: Direction): void {
    if (this.ended) return;
    const other: Direction = dir === 'c2s' ? 's2c' : 'c2s';
    this.senderDone(dir);
    this.enqueue(other, () => this.finish(other));
  }

  /** `dir`'s sender is done (FIN or gone), once: flush what its framer held, then pass the end on. */
  private senderDone(dir: Direction): void {
    if (this.doneSending[dir]) return;
    this.doneSending[dir] = true;
    this.enqueue(dir, () => {
      (dir === 'c2s' ? this.convs?.client : this.convs?.server)?.end(dir, now());
      this.enqueue(dir, () => this.finish(dir));
    });
  }

  private readonly doneSending: Record<Direction, boolean> = { c2s: false, s2c: false };
  /** Reading started (after onConnect): backpressure may resume a socket only then. */
  private readonly reading: Record<Direction, boolean> = { c2s: false, s2c: false };

  /** Start reading what `dir`'s sender sends. */
  private read(dir: Direction): void {
    const from = this.sockets[dir];
    this.reading[dir] = true;
    const to = (): net.Socket => this.sockets[dir === 'c2s' ? 's2c' : 'c2s'];
    from.on('data', (b: Buffer) => {
      if (!this.convs) return this.enqueue(dir, () => this.write(dir, b));
      // the messages of one chunk leave in one write (not a segment each), once all of them went through
      const dst = to();
      dst.cork();
      const c = dir === 'c2s' ? this.convs.client : this.convs.server;
      c.received(dir, b, this.readOffset[dir], now());
      this.readOffset[dir] += b.length;
      this.enqueue(dir, () => dst.uncork());
    });
    // the sender is done: flush what the framer held, then pass the half-close on
    from.on('end', () => this.senderDone(dir));
    from.resume();
  }

  private finish(dir: Direction): void {
    if (this.ended || this.halfClosed[dir]) return;
    this.halfClosed[dir] = true;
    this.sockets[dir === 'c2s' ? 's2c' : 'c2s'].end();
    this.endStream(dir, 'fin');
    if (this.halfClosed.c2s && this.halfClosed.s2c) this.close();
  }

  private endStream(dir: Direction, why: 'fin' | 'rst'): void {
    const s = this.conn.stream(dir);
    if (s.ended !== null) return;
    s.ended = why;
    this.conn.state = why === 'rst' ? 'reset' : 'closing';
    this.listener.end?.(this.conn, dir, why, now());
  }

  protected write(dir: Direction, bytes: Buffer): void {
    if (this.ended || !bytes.length) return;
    const to = this.sockets[dir === 'c2s' ? 's2c' : 'c2s'];
    const lane = this.lanes[dir];
    // the bytes go first; showing and recording them comes after
    to.write(bytes);
    const ts = now();
    this.conn.lastTs = ts;
    this.conn.packets[dir === 'c2s' ? 0 : 1]++;
    this.listener.data?.(this.conn, dir, bytes, lane.offset, ts);
    lane.offset += bytes.length;
    this.backpressure(dir);
  }

  /** Pause `dir`'s sender while its messages wait or the other side does not read. */
  protected override backpressure(dir: Direction): void {
    const from = this.sockets?.[dir];
    if (!from || this.ended) return;
    const to = this.sockets[dir === 'c2s' ? 's2c' : 'c2s'];
    const unread = to.writableLength > (this.proxy.o.maxBuffered ?? 4 << 20);
    const full = this.lanes[dir].queued > (this.proxy.o.maxQueued ?? 256) || unread;
    if (full && !from.isPaused()) {
      from.pause();
      if (unread && !this.waitingDrain[dir]) {
        this.waitingDrain[dir] = true;
        to.once('drain', () => {
          this.waitingDrain[dir] = false;
          this.backpressure(dir);
        });
      }
    } else if (!full && from.isPaused() && this.reading[dir]) from.resume();
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    for (const h of [...this.proxy.held]) if (h.conn === this.id) this.proxy.decide(h, 'drop');
    for (const t of this.timers) clearInterval(t);
    for (const d of DIRS) {
      if (this.conn.stream(d).ended === null) this.endStream(d, this.halfClosed[d] ? 'fin' : 'rst');
    }
    // what is written still goes out; a peer that does not take it is cut after a while
    for (const sock of [this.downstream, this.upstream]) {
      sock.end();
      setTimeout(() => sock.destroy(), 2000).unref();
    }
    const opened = this.conn.state !== 'handshake';
    this.conn.closedAt = now();
    if (opened) {
      this.conn.state = 'closed';
      this.listener.close?.(this.conn, this.conn.closedAt);
    }
    void (opened ? this.runHook('onClose') : Promise.resolve()).then(() => this.resolveClosed());
  }
}

/** One client's UDP datagrams (by its address), each way through the two conversations. */
class ProxiedDatagrams extends Proxied {
  private readonly upstream: dgram.Socket;
  private readonly flow: UdpFlow;
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private idle: NodeJS.Timeout | null = null;

  constructor(
    proxy: Proxy,
    id: number,
    client: Endpoint,
    private readonly listener: FlowListener,
    private readonly toClient: (b: Buffer) => void,
  ) {
    super(proxy, id, client, 'udp');
    this.closed = new Promise((r) => (this.resolveClosed = r));
    const t = proxy.o.udp!.target;
    this.flow = new UdpFlow(id, `${endpointString(client)}|${t.host}:${t.port}`, client, { addr: t.host, port: t.port }, endpointString(client), now());
    this.upstream = dgram.createSocket(t.host.includes(':') ? 'udp6' : 'udp4');
    this.upstream.on('message', (d) => {
      this.touch();
      if (this.full('s2c')) return;
      if (this.convs) this.convs.server.datagram('s2c', d, now());
      else this.write('s2c', d);
    });
    this.upstream.on('error', (e) => proxy.log(`#${id} udp: ${e.message}`));
    this.listener.udpOpen?.(this.flow, now());
    void this.runHook('onConnect');
  }

  fromClient(d: Buffer): void {
    this.touch();
    if (this.full('c2s')) return;
    if (this.convs) this.convs.client.datagram('c2s', d, now());
    else this.write('c2s', d);
  }

  /** Datagrams have no backpressure: while a direction's queue is full (a hook that waits, a held message), they are dropped and counted. */
  full(dir: Direction): boolean {
    if (this.lanes[dir].queued <= (this.proxy.o.maxQueued ?? 256)) return false;
    this.proxy.stats.datagramsDropped++;
    return true;
  }

  /** A flow with no datagram for a minute is over. */
  private touch(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = setTimeout(() => this.close(), 60_000);
    this.idle.unref();
  }

  protected write(dir: Direction, bytes: Buffer): void {
    if (this.ended) return;
    const t = this.proxy.o.udp!.target;
    const ts = now();
    this.flow.lastTs = ts;
    const di = dir === 'c2s' ? 0 : 1;
    this.flow.packets[di]++;
    this.flow.bytes[di] += bytes.length;
    this.listener.datagram?.(this.flow, dir, bytes, bytes.length, ts);
    if (dir === 'c2s') this.upstream.send(bytes, t.port, t.host);
    else this.toClient(bytes);
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.idle) clearTimeout(this.idle);
    for (const t of this.timers) clearInterval(t);
    this.upstream.close();
    this.flow.closed = true;
    this.flow.end = 'timeout';
    this.listener.udpClose?.(this.flow, now());
    void this.runHook('onClose').then(() => this.resolveClosed());
  }
}

/** A deep copy a script may change freely: Buffers stay Buffers (structuredClone makes them Uint8Arrays). */
function copyValue(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return Buffer.from(v);
  if (Array.isArray(v)) return v.map(copyValue);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = copyValue(x);
    return out;
  }
  return v;
}
