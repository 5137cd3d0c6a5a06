/**
 * What a proxy script is (`gamesniff proxy --script bot.ts`): hooks in the style of mitmproxy's
 * add-ons, called for each connection and each message. `gamesniff codegen --ts` types them from
 * a description (`Script` in the generated module is `ProxyScript<Messages>`).
 */
import type { Direction } from '../core/types';

/** Message names and their fields, per direction (a generated module's `Messages`). */
export interface MessageTypes {
  c2s: object;
  s2c: object;
}

/** Untyped: any name, any fields. */
export interface AnyMessages {
  c2s: Record<string, Record<string, unknown>>;
  s2c: Record<string, Record<string, unknown>>;
}

type Of<M extends MessageTypes, D extends Direction> = M[D] extends infer T ? T : never;

/** A message going through the proxy: change `fields` to have it encoded anew, or call ctx.drop(). */
export type ProxyMessage<M extends MessageTypes = AnyMessages> = {
  [D in Direction]: {
    [N in keyof Of<M, D>]: {
      dir: D;
      name: N;
      /** The name where one alone is ambiguous (`c2s.chat`). */
      label: string;
      fields: Of<M, D>[N];
      /** Its bytes as the sender wrote them. */
      wire: Buffer;
      /** Per direction, from 0. */
      index: number;
    };
  }[keyof Of<M, D>];
}[Direction];

export interface ProxyContext<M extends MessageTypes = AnyMessages> {
  /** The connection's number, from 0. */
  readonly conn: number;
  /** The client's address:port. */
  readonly client: string;
  /** Each side's protocol state (the client side's and the server side's conversations). */
  readonly state: { client: Record<string, unknown>; server: Record<string, unknown> };
  /** Do not pass this message on (onMessage only). */
  drop(): void;
  /** Send a message of our own: c2s to the server, s2c to the client. */
  inject<D extends Direction, N extends keyof Of<M, D> & string>(dir: D, name: N, fields: Of<M, D>[N]): void;
  /** Run `fn` every `ms` milliseconds while the connection lasts. */
  every(ms: number, fn: () => void): void;
  /** Close both sides. */
  close(): void;
  /** A line to the proxy's log (shown in the UI, or on stderr). */
  log(line: string): void;
}

export interface ProxyScript<M extends MessageTypes = AnyMessages> {
  onConnect?(ctx: ProxyContext<M>): void | Promise<void>;
  /** Each decoded message, before it is passed on (awaited: the direction waits for it). */
  onMessage?(msg: ProxyMessage<M>, ctx: ProxyContext<M>): void | Promise<void>;
  onClose?(ctx: ProxyContext<M>): void | Promise<void>;
}
