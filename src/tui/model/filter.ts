/**
 * The filter line: the protocol files' expression grammar over one message. Names:
 *   name, dir ("c2s"/"s2c"), conn, transport ("tcp"/"udp"), size, index, id (the message id),
 *   hex (its bytes on the wire as hex: hex ~ "0a0b"), raw (true for raw bytes), error (true when
 *   decoding failed), and each message name, which is that message's fields when the message is
 *   one, and undefined otherwise. A name that is none of these is an error at its column:
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

const NAMES = new Set(['name', 'dir', 'conn', 'transport', 'size', 'index', 'id', 'hex', 'raw', 'error']);

/**
 * Null for an empty filter; throws ExprError (with the column) for a bad one. `messages`: the
 * message names there are (the protocol's, and its layers' own); a name that is neither one of
 * them nor a filter name is an error, not a filter that silently matches nothing.
 */
export function compileFilter(text: string, messages?: ReadonlySet<string>): MessageFilter | null {
  if (!text.trim()) return null;
  const e: Expr = parseExpr(text);
  if (messages) checkNames(e, messages);
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
          case 'id':
            return m.id;
          case 'hex':
            return m.wire.toString('hex');
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

/** Every bare name in `e` is a filter name, a message name, or c2s/s2c before a message name. */
function checkNames(e: Expr, messages: ReadonlySet<string>): void {
  const known = (name: string): boolean => NAMES.has(name) || messages.has(name);
  const walk = (x: Expr): void => {
    switch (x.t) {
      case 'id':
        if (!known(x.name)) throw new ExprError(unknownName(x.name, messages), x.pos);
        return;
      case 'member':
        if (x.obj.t === 'id' && (x.obj.name === 'c2s' || x.obj.name === 's2c')) {
          if (!messages.has(x.name)) throw new ExprError(`${x.obj.name}.${x.name}: no message is named ${x.name}`, x.pos);
          return;
        }
        return walk(x.obj);
      case 'index':
        walk(x.obj);
        return walk(x.idx);
      case 'un':
        return walk(x.a);
      case 'bin':
        walk(x.a);
        return walk(x.b);
      case 'cond':
        walk(x.c);
        walk(x.a);
        return walk(x.b);
      default:
        return;
    }
  };
  walk(e);
}

function unknownName(name: string, messages: ReadonlySet<string>): string {
  if (name === 'tcp' || name === 'udp') return `unknown name '${name}' (for the transport: transport == "${name}")`;
  if (name === 'c2s' || name === 's2c') return `unknown name '${name}' (for the direction: dir == "${name}"; before a name: ${name}.chat)`;
  const near = [...messages, ...NAMES].filter((n) => n.startsWith(name.slice(0, 3))).slice(0, 4);
  return `unknown name '${name}': not a message${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}; names: ${[...NAMES].join(', ')}`;
}

