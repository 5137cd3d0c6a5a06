import { Conversation } from '../../src/conversation/conversation';
import type { Direction } from '../../src/core/types';
import type { EncodeOptions, Protocol } from '../../src/protocol/protocol';

/**
 * A session's sender: messages as their sender writes them on the wire, through every layer of
 * the protocol with the state the session has then (compression switched on by a message applies
 * to the messages after it). Both directions share the state, as both ends of a game do.
 */
export function sender(protocol: Protocol, kind: 'tcp' | 'udp' = 'tcp'): (dir: Direction, name: string, fields: unknown, opts?: EncodeOptions) => Buffer {
  const conv = new Conversation(protocol, kind, () => undefined, { flow: null });
  return (dir, name, fields, opts) => conv.send(dir, name, fields, opts);
}
