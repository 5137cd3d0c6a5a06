/**
 * One end of a protocol conversation over a socket: frames and decodes what arrives, encodes and
 * frames what is sent, with the session state both share (compression switched on by a message
 * applies to both directions). The testbed and replay use it.
 */
import type { Socket } from 'node:net';
import type { Direction } from '../core/types';
import { createFramer, type Framer } from '../framing/framers';
import type { DecodedMessage, Protocol, Transport } from '../protocol/protocol';

export type PeerEvent = { kind: 'message'; m: DecodedMessage; frame: Buffer } | { kind: 'raw'; bytes: Buffer; reason: string };

export class ProtocolPeer {
  readonly state: Record<string, unknown>;
  readonly t: Transport;
  private readonly framer: Framer;
  private offset = 0;
  closed = false;

  constructor(
    readonly protocol: Protocol,
    readonly socket: Socket,
    /** The direction of what this end receives. */
    readonly inbound: Direction,
    onEvent: (e: PeerEvent) => void,
    maxFrame?: number,
  ) {
    const t = protocol.tcp;
    if (!t) throw new Error(`protocol ${protocol.name} has no tcp section`);
    this.t = t;
    this.state = protocol.newState();
    const framing = maxFrame && t.spec.k === 'length' ? { ...t.spec, max: maxFrame } : t.spec;
    this.framer = createFramer(framing, {
      frame: (_wire, body, _o, _ts, header) => onEvent({ kind: 'message', m: t.decode(inbound, body, this.state, { frame: header }), frame: body }),
      raw: (bytes, _o, _ts, reason) => onEvent({ kind: 'raw', bytes, reason }),
    });
    socket.on('data', (d: Buffer) => {
      this.framer.push(d, this.offset, 0);
      this.offset += d.length;
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {
      this.closed = true;
    });
  }

  /**
   * Encode with the current state, frame, write. Returns the wire bytes. The message's own state
   * updates (`set:`) apply to this end too, as they do to the peer that decodes it.
   */
  send(name: string, fields: unknown): Buffer {
    const body = this.t.encode(name, fields, this.state, { dir: this.inbound === 'c2s' ? 's2c' : 'c2s' });
    const wire = this.t.frame(body);
    this.t.decode(this.inbound === 'c2s' ? 's2c' : 'c2s', body, this.state);
    if (!this.closed) this.socket.write(wire);
    return wire;
  }

  /** Write bytes as they are (replay of recorded frames). */
  sendRaw(wire: Buffer): void {
    if (!this.closed) this.socket.write(wire);
  }
}
