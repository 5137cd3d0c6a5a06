/**
 * Typed views of a peer, for the modules `gamesniff codegen --ts` writes: they supply the
 * message types (what each side receives and sends) and the state's, the behaviour is here, once.
 */
import type { Peer, PeerMessage } from './peer';

/** One of the messages of `T`, with its name: `if (m.name === "chat") m.fields` narrows. */
export type Received<T> = { [N in keyof T & string]: { name: N; fields: T[N]; msg: PeerMessage } }[keyof T & string];

/** A function per message (`send.move({ ... })`) returning the bytes written; a message with no required field needs no argument. */
export type Senders<T> = { readonly [N in keyof T & string]-?: {} extends T[N] ? (fields?: T[N]) => Buffer : (fields: T[N]) => Buffer };

/** A connection typed with what it receives (`In`), what it sends (`Out`) and its state (`S`). */
export interface TypedPeer<In, Out, S = Record<string, unknown>> {
  /** The runtime's peer underneath (untyped: `on("raw")`, `sendBytes`...). */
  readonly peer: Peer;
  /** The connection's state; set a key the traffic does not show here before the message that needs it. */
  readonly state: S;
  /** Encode with the current state through every layer and write: `send.NAME(fields)`. */
  readonly send: Senders<Out>;
  /** Call `fn` for each message named `name` as it arrives. */
  on<K extends keyof In & string>(name: K, fn: (fields: In[K], msg: PeerMessage) => void): this;
  /** The next message named `name` (the oldest not yet taken); rejects after `timeoutMs` (default 5000) or when the connection closes. */
  next<K extends keyof In & string>(name: K, timeoutMs?: number): Promise<In[K]>;
  /** The next of several messages, with its name. */
  nextOf<K extends keyof In & string>(names: readonly K[], timeoutMs?: number): Promise<Received<Pick<In, K>>>;
  /** When the connection closes: with the error, if it was one. */
  onClose(fn: (err: Error | null) => void): this;
  /** End the connection; resolves when it closed. */
  close(): Promise<void>;
}

/** `send.NAME(fields)` for each name, through `send`. */
export function senders<T>(names: readonly string[], send: (name: string, fields: unknown) => Buffer): Senders<T> {
  const out = {};
  for (const name of names) Object.defineProperty(out, name, { value: (fields: unknown = {}) => send(name, fields), enumerable: true });
  return out as Senders<T>;
}

export class Typed<In, Out, S = Record<string, unknown>, P extends Peer = Peer> implements TypedPeer<In, Out, S> {
  readonly send: Senders<Out>;
  constructor(
    readonly peer: P,
    out: readonly string[],
  ) {
    this.send = senders<Out>(out, (name, fields) => peer.send(name, fields));
  }
  get state(): S {
    return this.peer.state as S;
  }
  on<K extends keyof In & string>(name: K, fn: (fields: In[K], msg: PeerMessage) => void): this {
    this.peer.on(name, (m) => fn(m.fields as In[K], m));
    return this;
  }
  async next<K extends keyof In & string>(name: K, timeoutMs?: number): Promise<In[K]> {
    return (await this.peer.next(name, timeoutMs)).fields as In[K];
  }
  async nextOf<K extends keyof In & string>(names: readonly K[], timeoutMs?: number): Promise<Received<Pick<In, K>>> {
    const msg = await this.peer.next([...names], timeoutMs);
    return { name: msg.name, fields: msg.fields, msg } as unknown as Received<Pick<In, K>>;
  }
  onClose(fn: (err: Error | null) => void): this {
    this.peer.onClose(fn);
    return this;
  }
  close(): Promise<void> {
    return this.peer.close();
  }
}
