/**
 * One end of a protocol conversation over a socket: what arrives goes through the conversation's
 * layers to messages, what is sent comes out of them as wire bytes. A bot's client, a mock
 * server's connection, the testbed's game and the proxy's two sides are peers; the
 * conversation (conversation/) does the work.
 */
import type { Socket } from 'node:net';
import { Conversation, type ConversationMessage } from '../conversation/conversation';
import { GamesniffError } from '../core/errors';
import type { Direction } from '../core/types';
import type { EncodeOptions, Protocol } from '../protocol/protocol';

export type PeerMessage = ConversationMessage<null>;
export type MessageListener = (m: PeerMessage) => void;

export interface PeerOptions {
  /** The largest frame accepted from the peer. */
  maxFrame?: number;
  /** State to start with. */
  state?: Record<string, unknown>;
  /** Keys the traffic does not show (a key log), asked for when the layers need one. */
  keys?: () => Record<string, unknown> | undefined;
  /** Messages kept for next() when nothing waits for them (oldest dropped first). */
  keep?: number;
}

export class Peer {
  readonly conv: Conversation<null>;
  private offset = 0;
  closed = false;
  /** Why the connection closed, when it was an error. */
  closeError: Error | null = null;
  /** The direction of what this end sends. */
  readonly outbound: Direction;
  private readonly listeners = new Map<string, Set<MessageListener>>();
  /** Received and not yet taken by next(). */
  private readonly unclaimed: PeerMessage[] = [];
  private readonly keep: number;
  private readonly waiters = new Set<{ names: string[] | null; resolve: (m: PeerMessage) => void; reject: (e: Error) => void }>();
  private readonly closeListeners: ((err: Error | null) => void)[] = [];

  constructor(
    readonly protocol: Protocol,
    readonly socket: Socket,
    /** The direction of what this end receives. */
    readonly inbound: Direction,
    onMessage?: MessageListener,
    opts: PeerOptions = {},
  ) {
    this.outbound = inbound === 'c2s' ? 's2c' : 'c2s';
    this.keep = opts.keep ?? 1000;
    if (onMessage) this.on('*', onMessage);
    this.conv = new Conversation(protocol, 'tcp', (m) => this.deliver(m), { flow: null, state: opts.state, maxFrame: opts.maxFrame, keys: opts.keys });
    socket.on('data', (d: Buffer) => {
      this.conv.received(inbound, d, this.offset, 0);
      this.offset += d.length;
    });
    socket.on('close', () => this.ended());
    socket.on('error', (e) => {
      this.closeError ??= e;
      this.ended();
    });
  }

  get state(): Record<string, unknown> {
    return this.conv.state;
  }

  /**
   * Call `listener` for each message named `name` (a qualified `s2c.chat` works too), `*` for every
   * message, `raw` for bytes that did not frame or decode (with the reason).
   */
  on(name: string, listener: MessageListener): this {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    return this;
  }

  off(name: string, listener: MessageListener): this {
    this.listeners.get(name)?.delete(listener);
    return this;
  }

  /** When the connection closes: with the error, if it was one. */
  onClose(listener: (err: Error | null) => void): this {
    if (this.closed) listener(this.closeError);
    else this.closeListeners.push(listener);
    return this;
  }

  /**
   * The next message named `names` (any of them; none: any message), oldest unclaimed first;
   * rejects after `timeoutMs`, or when the connection closes first.
   */
  next(names?: string | string[], timeoutMs = 5000): Promise<PeerMessage> {
    const want = names === undefined ? null : Array.isArray(names) ? names : [names];
    const i = this.unclaimed.findIndex((m) => matches(m, want));
    if (i >= 0) return Promise.resolve(this.unclaimed.splice(i, 1)[0]!);
    const what = want ? want.join(' or ') : 'a message';
    if (this.closed) return Promise.reject(new GamesniffError('FAILED', `the connection closed before ${what} came`, 1));
    return new Promise((resolve, reject) => {
      const w = {
        names: want,
        resolve: (m: PeerMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new GamesniffError('FAILED', `no ${what} within ${timeoutMs} ms`, 1));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  /** Encode with the current state through every layer and write; returns the wire bytes. `opts`: a head's or frame header's values, an id. */
  send(name: string, fields: unknown = {}, opts: EncodeOptions = {}): Buffer {
    const wire = this.conv.send(this.outbound, name, fields, opts);
    if (!this.closed) this.socket.write(wire);
    return wire;
  }

  /** Bytes as they are, past the conversation (tests of a peer's robustness). */
  sendBytes(bytes: Buffer): void {
    if (!this.closed) this.socket.write(bytes);
  }

  /** End the connection (our side first); resolves when it closed. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.onClose(() => resolve());
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 2000).unref();
    });
  }

  protected deliver(m: PeerMessage): void {
    const name = m.raw !== undefined || m.error || !m.name ? 'raw' : m.name;
    for (const w of this.waiters) {
      if (name !== 'raw' && matches(m, w.names)) {
        this.waiters.delete(w);
        w.resolve(m);
        this.emit(name, m);
        return;
      }
    }
    this.emit(name, m);
    if (name === 'raw') return;
    this.unclaimed.push(m);
    if (this.unclaimed.length > this.keep) this.unclaimed.shift();
  }

  private emit(name: string, m: PeerMessage): void {
    for (const l of this.listeners.get(name) ?? []) l(m);
    if (m.label && m.label !== name) for (const l of this.listeners.get(m.label) ?? []) l(m);
    for (const l of this.listeners.get('*') ?? []) l(m);
  }

  private ended(): void {
    if (this.closed) return;
    this.closed = true;
    this.conv.end(this.inbound, 0);
    for (const w of this.waiters) w.reject(new GamesniffError('FAILED', `the connection closed before ${w.names ? w.names.join(' or ') : 'a message'} came${this.closeError ? ` (${this.closeError.message})` : ''}`, 1));
    this.waiters.clear();
    for (const l of this.closeListeners.splice(0)) l(this.closeError);
  }
}

function matches(m: PeerMessage, names: string[] | null): boolean {
  if (!m.name || m.raw !== undefined || m.error) return false;
  return names === null || names.includes(m.name) || (m.label !== undefined && names.includes(m.label));
}
