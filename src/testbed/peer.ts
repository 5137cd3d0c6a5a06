/**
 * One end of a protocol conversation over a socket: what arrives goes through the conversation's
 * layers to messages, what is sent comes out of them as wire bytes. The testbed's server and
 * client use it; the conversation (conversation/) does the work.
 */
import type { Socket } from 'node:net';
import { Conversation, type ConversationMessage } from '../conversation/conversation';
import type { Direction } from '../core/types';
import type { Protocol } from '../protocol/protocol';

export class ProtocolPeer {
  readonly conv: Conversation<null>;
  private offset = 0;
  closed = false;
  /** The direction of what this end sends. */
  readonly outbound: Direction;

  constructor(
    readonly protocol: Protocol,
    readonly socket: Socket,
    /** The direction of what this end receives. */
    readonly inbound: Direction,
    onMessage: (m: ConversationMessage<null>) => void,
    opts: { maxFrame?: number; state?: Record<string, unknown> } = {},
  ) {
    this.outbound = inbound === 'c2s' ? 's2c' : 'c2s';
    this.conv = new Conversation(protocol, 'tcp', onMessage, { flow: null, state: opts.state, maxFrame: opts.maxFrame });
    socket.on('data', (d: Buffer) => {
      this.conv.received(inbound, d, this.offset, 0);
      this.offset += d.length;
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {
      this.closed = true;
    });
  }

  get state(): Record<string, unknown> {
    return this.conv.state;
  }

  /** Encode with the current state through every layer and write; returns the wire bytes. */
  send(name: string, fields: unknown): Buffer {
    const wire = this.conv.send(this.outbound, name, fields);
    if (!this.closed) this.socket.write(wire);
    return wire;
  }
}
