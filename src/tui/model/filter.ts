/**
 * The filter line: the protocol files' expression grammar over one message. Names:
 *   name, dir ("c2s"/"s2c"), conn, transport ("tcp"/"udp"), size, index, raw (true for raw bytes),
 *   error (true when decoding failed), and each message name, which is that message's fields when
 *   the message is one, and undefined otherwise:
 *     chat                          every chat message
 *     chat.text ~ "hello"           chat messages whose text contains hello (any case)
 *     snapshot.entities.length > 3
 *     dir == "s2c" && conn == 2
 *     s2c.chat.text ~ "hello"       one direction of a name used both ways (c2s, s2c: that direction's message)
 */
import { evaluate, ExprError, parseExpr, type Expr } from '../../protocol/expr';
import type { Message } from '../../session/messages';

export interface MessageFilter {
  text: string;
  test(m: Message): boolean;
}

const NAMES = new Set(['name', 'dir', 'conn', 'transport', 'size', 'index', 'raw', 'error']);

/** Null for an empty filter; throws ExprError (with the column) for a bad one. */
export function compileFilter(text: string): MessageFilter | null {
  if (!text.trim()) return null;
  const e: Expr = parseExpr(text);
  return {
    text,
    test(m: Message): boolean {
      const lookup = (id: string): unknown => {
        if (m.name !== undefined && id === m.name && !NAMES.has(id)) return m.fields ?? {};
        // c2s.chat: the message by name, in that direction only
        if ((id === 'c2s' || id === 's2c') && m.name !== undefined) return id === m.dir ? { [m.name]: m.fields ?? {} } : undefined;
        switch (id) {
          case 'name':
            return m.name ?? 'raw';
          case 'dir':
            return m.dir;
          case 'conn':
            return m.flow.id;
          case 'transport':
            return m.transport;
          case 'size':
            return m.size;
          case 'index':
            return m.index;
          case 'raw':
            return !!m.raw;
          case 'error':
            return !!m.error;
          default:
            return undefined;
        }
      };
      try {
        return !!evaluate(e, lookup);
      } catch {
        return false;
      }
    },
  };
}

export { ExprError };
