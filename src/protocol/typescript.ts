/**
 * A protocol description -> one TypeScript module: the messages as types (per direction, as the
 * runtime decodes them), a typed client (`connect`), a typed mock server (`serve`) and a proxy
 * script type (`Script`), wrapping the runtime's openClient/serve. The description's text is
 * embedded, so the module needs no protocols/ directory at run time. `gamesniff codegen --ts`.
 *
 * Why this is safe with hostile files: names (messages, fields, types, enum members, flags) are
 * identifiers checked by the loader, and checked again here: property names are bare only when
 * they are plain identifiers (else JSON string literals), enum members and message names in values
 * are JSON string literals, type names PascalCase made of their letters and digits; numbers go
 * through String(); free text (doc strings, the description, initial state values) only goes into
 * block comments, with `*\/`, `@` (comment directives such as @ts-ignore), control characters and
 * bidi overrides neutralised; the embedded text is JSON string literals. The output is ASCII.
 */
import { createHash } from 'node:crypto';
import type { EnumDef, Field, MapField, MessageDef, ProtocolDef, TransportDef, Ty } from './ir';
import type { Protocol } from './protocol';

export interface TypeScriptOptions {
  /** The module specifier the generated code imports gamesniff from: 'gamesniff', or a path ('../../index'). */
  importFrom: string;
  /** The description's text to embed (default: the Protocol's own). */
  text?: string;
}

/** A string literal (also a quoted property name): JSON, with everything past ASCII escaped. */
function lit(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A property name: bare when it is a plain identifier by our own check (the loader checked it too:
 * TypeScript's messages then say `Property 'running' is missing`), else a string literal.
 */
function prop(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : lit(name);
}

/** Free text made safe for the inside of a block comment, line by line. */
function commentLines(text: string): string[] {
  return text
    .trim()
    .split(/\r\n|[\r\n\u2028\u2029]/)
    .map((l) =>
      l
        .replace(/\*\//g, '*&#47;')
        .replace(/@/g, '&#64;')
        .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
        .replace(/[\u00a0-\uffff]/g, (c) => `&#${c.charCodeAt(0)};`)
        .trimEnd(),
    );
}

/** A JSDoc comment, or nothing for no text. */
function jsdoc(text: string | undefined, ind: string): string[] {
  if (!text || !text.trim()) return [];
  const lines = commentLines(text);
  if (lines.length === 1) return [`${ind}/** ${lines[0]} */`];
  return [`${ind}/**`, ...lines.map((l) => `${ind} *${l ? ` ${l}` : ''}`), `${ind} */`];
}

/** Names the generated module defines or uses as types: a description's type never takes one. */
const RESERVED_TYPES = new Set([
  'C2S', 'S2C', 'C2S_UDP', 'S2C_UDP', 'WebSocketLayer', 'Messages', 'State', 'Script', 'Received', 'Senders', 'TypedPeer', 'Typed', 'TypedClient',
  'GameClient', 'GameServerPeer', 'GameServer', 'Address',
  'Buffer', 'Promise', 'Error', 'Record', 'Pick', 'Array', 'ReadonlyArray', 'Object', 'String', 'Number', 'Boolean', 'BigInt', 'Symbol',
  'Function', 'Date', 'Map', 'Set', 'Partial', 'Readonly', 'Required', 'Omit', 'Exclude', 'Extract', 'NonNullable', 'Parameters',
  'ReturnType', 'Uint8Array', 'NodeJS', 'PropertyKey', 'Iterable', 'JSON', 'Math',
]);

/** A type name from a description's: its letters and digits only, PascalCase (`entity_kind` -> EntityKind). */
function pascal(name: string): string {
  const s = name
    .replace(/[^A-Za-z0-9_]/g, '')
    .split('_')
    .filter(Boolean)
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('');
  return s === '' || /^[0-9]/.test(s) ? `T${s}` : s;
}

/** The WebSocket layer's own messages, both ways (conversation/websocket.ts), as they decode. */
const WS_LAYER: [string, string, string][] = [
  ['http_request', 'the upgrade request', '{ method: string; path: string; version: string; headers: Record<string, string> }'],
  ['http_response', 'the answer to it (101 to upgrade)', '{ version: string; status: number; reason: string; headers: Record<string, string> }'],
  ['ws_ping', 'a ping frame', '{ data: Buffer }'],
  ['ws_pong', 'a pong frame', '{ data: Buffer }'],
  ['ws_close', 'a close frame (code null: none given)', '{ code: number | null; reason: string }'],
];

const KIND_TS: Record<MapField['kind'], string> = {
  any: 'unknown',
  string: 'string',
  int: 'number | bigint',
  float: 'number | bigint',
  bool: 'boolean',
  bytes: 'Buffer',
  list: 'unknown[]',
  map: 'Record<string, unknown>',
  nil: 'null',
};

/** A TS type and whether it is a union at the top (an array of it needs parentheses). */
type TsType = [text: string, union: boolean];

class TypeWriter {
  /** A description's type and enum names -> their TS names. */
  readonly typeNames = new Map<string, string>();
  readonly enumNames = new Map<EnumDef, string>();
  private readonly taken = new Set(RESERVED_TYPES);
  /**
   * Named types that are themselves through bare references, switch cases and sized regions
   * (`a: b`, `b: a`): the loader takes them (decoding one fails at the depth limit), TypeScript
   * would not. Inside their own declarations those references are `unknown`.
   */
  private readonly cyclic = new Set<string>();

  constructor(readonly def: ProtocolDef) {
    for (const [name, e] of def.enums) this.enumNames.set(e, this.claim(name));
    for (const name of def.types.keys()) this.typeNames.set(name, this.claim(name));
    const aliases = (t: Ty): string[] =>
      t.k === 'ref' ? [t.name] : t.k === 'window' ? aliases(t.inner) : t.k === 'switch' ? [...t.cases.map((c) => c.ty), ...(t.dflt ? [t.dflt] : [])].flatMap(aliases) : [];
    for (const name of def.types.keys()) {
      const seen = new Set<string>();
      const todo = aliases(def.types.get(name)!.ty);
      while (todo.length) {
        const n = todo.pop()!;
        if (seen.has(n)) continue;
        seen.add(n);
        const t = def.types.get(n);
        if (t) todo.push(...aliases(t.ty));
      }
      if (seen.has(name)) this.cyclic.add(name);
    }
  }

  private claim(name: string): string {
    const base = pascal(name);
    let ts = base;
    for (let i = 1; this.taken.has(ts); i++) ts = `${base}${i === 1 ? 'Type' : `Type${i}`}`;
    this.taken.add(ts);
    return ts;
  }

  enumUnion(e: EnumDef): string {
    return [...e.byName.keys()].map(lit).concat('number').join(' | ');
  }

  /** `alias`: at the top of a named type's own declaration (through switches and regions only). */
  ty(t: Ty, ind: string, alias = false): TsType {
    switch (t.k) {
      case 'int':
        return [t.size === 8 ? 'bigint' : 'number', false];
      case 'varint':
        return [t.width === 64 ? 'bigint' : 'number', false];
      case 'float':
        return ['number', false];
      case 'bool':
        return ['boolean', false];
      case 'enum': {
        const named = this.enumNames.get(t.def);
        return named ? [named, false] : [this.enumUnion(t.def), true];
      }
      case 'flags': {
        const props = t.names.map(([n]) => `${prop(n)}: boolean`);
        // bits set that no flag names
        if (!t.names.some(([n]) => n === '_other')) props.push('_other?: number');
        return [`{ ${props.join('; ')} }`, false];
      }
      case 'bits': {
        const wide = t.base.size === 8;
        return [`{ ${t.parts.map(([n, w]) => `${prop(n)}: ${wide && w > 53 ? 'bigint' : 'number'}`).join('; ')} }`, false];
      }
      case 'const':
        return [typeof t.value === 'bigint' ? `${t.value}n` : Number.isFinite(t.value) ? String(t.value) : 'number', false];
      case 'magic':
      case 'pad':
        return ['undefined', false];
      case 'str':
        return ['string', false];
      case 'bytes':
        return ['Buffer', false];
      case 'msgpack':
        return ['unknown', false];
      case 'array': {
        const [el, union] = this.ty(t.of, ind);
        return [union ? `(${el})[]` : `${el}[]`, false];
      }
      case 'struct':
        return [this.object(t.fields, ind), false];
      case 'ref':
        return [(alias && this.cyclic.has(t.name) ? undefined : this.typeNames.get(t.name)) ?? 'unknown', false];
      case 'switch': {
        const parts: string[] = [];
        for (const c of [...t.cases.map((c) => c.ty), ...(t.dflt ? [t.dflt] : [])]) {
          const [s] = this.ty(c, ind, alias);
          if (!parts.includes(s)) parts.push(s);
        }
        return parts.length === 0 ? ['never', false] : [parts.join(' | '), parts.length > 1 || parts[0]!.includes(' | ')];
      }
      case 'window':
        return this.ty(t.inner, ind, alias);
    }
  }

  /** A struct's visible fields as an object type; `if:` fields optional. */
  object(fields: Field[], ind: string): string {
    const visible = fields.filter((f) => !f.hidden);
    if (!visible.length) return 'Record<string, never>';
    const inner = `${ind}  `;
    const out = ['{'];
    for (const f of visible) {
      out.push(...jsdoc(f.doc, inner));
      out.push(`${inner}${prop(f.name)}${f.cond ? '?' : ''}: ${this.ty(f.ty, inner)[0]};`);
    }
    out.push(`${ind}}`);
    return out.join('\n');
  }

  /** A keyed msgpack message: its listed keys, and any others (kept as they come). */
  keyed(fields: MapField[], ind: string): string {
    const inner = `${ind}  `;
    const out = ['{'];
    for (const f of fields) {
      out.push(...jsdoc(f.doc, inner));
      out.push(`${inner}${prop(f.name)}${f.optional ? '?' : ''}: ${KIND_TS[f.kind]};`);
    }
    out.push(`${inner}[key: string]: unknown;`);
    out.push(`${ind}}`);
    return out.join('\n');
  }

  message(m: MessageDef, ind: string): string {
    return m.mapFields ? this.keyed(m.mapFields, ind) : this.object(m.fields, ind);
  }

  /** The named enums and types, as exported declarations. */
  declarations(): string[] {
    const out: string[] = [];
    for (const [name, e] of this.def.enums) {
      out.push(`/** enum ${name} (a value no member names decodes to its number) */`);
      out.push(`export type ${this.enumNames.get(e)!} = ${this.enumUnion(e)};`, '');
    }
    for (const [name, { ty }] of this.def.types) {
      const ts = this.typeNames.get(name)!;
      let inner = ty;
      while (inner.k === 'window') inner = inner.inner;
      out.push(`/** type ${name} */`);
      if (inner.k === 'struct' && inner.fields.some((f) => !f.hidden)) out.push(`export interface ${ts} ${this.object(inner.fields, '')}`, '');
      else out.push(`export type ${ts} = ${this.ty(inner, '', true)[0]};`, '');
    }
    return out;
  }
}

function idNote(m: MessageDef, t: TransportDef): string {
  const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;
  if (m.ids && m.ids.length > 1) return `ids ${m.ids.map(hex).join(', ')}`;
  if (m.id !== undefined) return `id ${hex(m.id)}`;
  if (t.msgpack && m.key !== undefined && m.key !== m.name) return `${t.msgpack.key}: ${JSON.stringify(m.key)}`;
  return '';
}

/** One direction's messages of a transport, as an interface. */
function messagesInterface(w: TypeWriter, name: string, doc: string, t: TransportDef | undefined, dir: 'c2s' | 's2c', ext?: string): string[] {
  const out = [...jsdoc(doc, ''), `export interface ${name}${ext ? ` extends ${ext}` : ''} {`];
  const msgs = (t?.messages ?? []).filter((m) => !m.dir || m.dir === dir);
  for (const m of msgs) {
    const note = idNote(m, t!);
    out.push(...jsdoc([note, m.doc].filter(Boolean).join(': '), '  '));
    out.push(`  ${prop(m.name)}: ${w.message(m, '  ')};`);
  }
  out.push('}', '');
  return out;
}

function namesOf(t: TransportDef | undefined, dir: 'c2s' | 's2c'): string[] {
  const own = (t?.messages ?? []).filter((m) => !m.dir || m.dir === dir).map((m) => m.name);
  return t?.websocket ? [...WS_LAYER.map(([n]) => n), ...own] : own;
}

function nameList(names: string[]): string {
  return `[${names.map(lit).join(', ')}]`;
}

/** The TypeScript module for a protocol: message types, connect, serve, Script. */
export function generateTypeScript(protocol: Protocol | ProtocolDef, opts: TypeScriptOptions): string {
  const isProtocol = 'def' in protocol && 'text' in protocol;
  const def: ProtocolDef = isProtocol ? protocol.def : protocol;
  const text = opts.text ?? (isProtocol ? protocol.text : undefined);
  if (text === undefined) throw new Error(`generateTypeScript: the text of ${def.name}'s description is needed to embed it (pass a Protocol, or opts.text)`);
  const sha = createHash('sha256').update(text).digest('hex');
  const w = new TypeWriter(def);
  const tcp = def.tcp;
  const udp = def.udp;
  const o: string[] = [];

  o.push(
    '/**',
    ` * Protocol ${def.name}, typed: generated by \`gamesniff codegen --ts\` from its description (embedded`,
    ' * below as DESCRIPTION). Do not edit; generate it again when the description changes.',
    ...(def.description ? [' *', ...commentLines(def.description).map((l) => ` *${l ? ` ${l}` : ''}`)] : []),
    ' *',
    ' * Messages decode to the types below and are sent as them: u64/s64/varint64 are bigints, bytes',
    " * Buffers, enums a member's name (or the number when no member names it), `if:` fields optional.",
    ' */',
    `import * as gs from ${lit(opts.importFrom)};`,
    '',
  );

  const decls = w.declarations();
  if (decls.length) o.push('// ---- named types ----', '', ...decls);

  o.push('// ---- messages, by direction ----', '');
  if (tcp?.websocket) {
    o.push('/** The WebSocket layer\'s own messages (the upgrade, ping, pong, close), both ways. */', 'export interface WebSocketLayer {');
    for (const [n, doc, ts] of WS_LAYER) o.push(`  /** ${doc} */`, `  ${n}: ${ts};`);
    o.push('}', '');
  }
  const keyedNote = tcp?.msgpack ? ` Each is one msgpack map named by its ${lit(tcp.msgpack.key)}; keys the description does not list are kept.` : '';
  const ext = tcp?.websocket ? 'WebSocketLayer' : undefined;
  o.push(...messagesInterface(w, 'C2S', `Client to server${udp ? ' over TCP' : ''}: what a client sends (\`send.NAME\`) and a server receives.${keyedNote}`, tcp, 'c2s', ext));
  o.push(...messagesInterface(w, 'S2C', `Server to client${udp ? ' over TCP' : ''}: what a client receives (\`on\`, \`next\`) and a server sends.${keyedNote}`, tcp, 's2c', ext));
  if (udp) {
    o.push(...messagesInterface(w, 'C2S_UDP', 'Client to server over UDP (`sendDatagram.NAME`).', udp, 'c2s'));
    o.push(...messagesInterface(w, 'S2C_UDP', 'Server to client over UDP (a client receives them with `on` and `next` as well).', udp, 's2c'));
  }
  const inC2S = udp ? 'C2S & C2S_UDP' : 'C2S';
  const inS2C = udp ? 'S2C & S2C_UDP' : 'S2C';
  o.push(
    '/** Every message each way (a `MessageTypes`). */',
    `export interface Messages {`,
    `  c2s: ${inC2S};`,
    `  s2c: ${inS2C};`,
    '}',
    '',
    '/** A proxy script typed with these messages: `const script: Script = { onMessage(msg, ctx) { if (msg.name === ...) msg.fields... } }`. */',
    'export type Script = gs.ProxyScript<Messages>;',
    '',
    '/** A connection\'s state: the description\'s variables (set by messages as it says), and keys given to it (a key log, or a bot\'s own). */',
    'export interface State {',
  );
  for (const [k, v] of Object.entries(def.state)) o.push(...jsdoc(`initially ${JSON.stringify(v)}`, '  '), `  ${prop(k)}: unknown;`);
  o.push('  [name: string]: unknown;', '}', '');

  o.push(
    '// ---- the description, embedded: the module needs no protocols/ directory at run time ----',
    '',
    `/** The description this module was generated from (sha256 ${sha}, which is \`protocol().hash\`). */`,
    'export const DESCRIPTION = [',
    ...text.split('\n').map((l) => `  ${lit(l)},`),
    '].join("\\n");',
    '',
    'let compiled: gs.Protocol | undefined;',
    '',
    '/** The description, compiled once on first use. */',
    'export function protocol(): gs.Protocol {',
    `  return (compiled ??= gs.compileProtocol(DESCRIPTION, ${lit(`${def.name} (embedded)`)}));`,
    '}',
    '',
  );

  if (!tcp) {
    o.push('// (no tcp section: no client or server to connect with; the types and `protocol()` stand alone)', '');
    return o.join('\n');
  }

  o.push(
    '// ---- a typed client and mock server over the runtime\'s openClient and serve ----',
    '',
    '/** The message names each way, as the runtime knows them. */',
    `export const C2S_NAMES: readonly (keyof C2S & string)[] = ${nameList(namesOf(tcp, 'c2s'))};`,
    `export const S2C_NAMES: readonly (keyof S2C & string)[] = ${nameList(namesOf(tcp, 's2c'))};`,
  );
  if (udp) {
    o.push(
      `export const C2S_UDP_NAMES: readonly (keyof C2S_UDP & string)[] = ${nameList(namesOf(udp, 'c2s'))};`,
      `export const S2C_UDP_NAMES: readonly (keyof S2C_UDP & string)[] = ${nameList(namesOf(udp, 's2c'))};`,
    );
  }
  o.push(
    '',
    '/** One of the messages of `T`, with its name: `if (m.name === "chat") m.fields` narrows. */',
    'export type Received<T> = gs.Received<T>;',
    '/** A function per message (`send.move({ ... })`) returning the bytes written. */',
    'export type Senders<T> = gs.Senders<T>;',
    '/** A connection typed with what it receives (`In`) and sends (`Out`), and this protocol\'s state. */',
    'export type TypedPeer<In, Out> = gs.TypedPeer<In, Out, State>;',
    '',
  );

  if (udp) {
    o.push(
      `/** A client: receives ${inS2C}, sends C2S over TCP and C2S_UDP as datagrams. */`,
      `export interface GameClient extends TypedPeer<${inS2C}, C2S> {`,
      '  readonly peer: gs.Client;',
      "  /** Encode a UDP message and send it to the server's UDP port: `sendDatagram.NAME(fields)`. */",
      '  readonly sendDatagram: Senders<C2S_UDP>;',
      '}',
      '',
      `class TypedClient extends gs.Typed<${inS2C}, C2S, State, gs.Client> implements GameClient {`,
      '  readonly sendDatagram = gs.senders<C2S_UDP>(C2S_UDP_NAMES, (name, fields) => this.peer.sendDatagram(name, fields));',
      '}',
      '',
    );
  } else {
    o.push('/** A client: receives S2C, sends C2S. */', 'export interface GameClient extends TypedPeer<S2C, C2S> {', '  readonly peer: gs.Client;', '}', '');
  }
  o.push(
    `/** Connect to a server speaking ${def.name} (port, host, keylog, state...: the runtime's ClientOptions).${tcp.websocket ? ' The WebSocket upgrade is done when it resolves.' : ''} */`,
    'export async function connect(opts: gs.ClientOptions): Promise<GameClient> {',
    `  return new ${udp ? 'TypedClient' : 'gs.Typed<S2C, C2S, State, gs.Client>'}(await gs.openClient(protocol(), opts), C2S_NAMES);`,
    '}',
    '',
    '/** A mock server\'s connection: receives C2S, sends S2C. */',
    'export type GameServerPeer = TypedPeer<C2S, S2C>;',
    '',
  );
  if (udp) o.push('/** Where a datagram came from, or goes. */', 'export interface Address {', '  address: string;', '  port: number;', '}', '');
  o.push('/** A mock server: a GameServerPeer per connection' + (tcp.websocket ? ' (WebSocket upgrades answered)' : '') + (udp ? ', datagrams alongside' : '') + '. */', 'export interface GameServer {', '  readonly server: gs.Server;', '  readonly port: number;');
  if (udp) {
    o.push(
      '  readonly udpPort: number;',
      '  /** Each UDP message a client sends, with where it came from. */',
      '  onDatagram(fn: (m: Received<C2S_UDP>, from: Address) => void): void;',
      '  /** Encode a UDP message and send it to `to`: `sendDatagram(from).NAME(fields)`. */',
      '  sendDatagram(to: Address): Senders<S2C_UDP>;',
    );
  }
  o.push(
    '  close(): Promise<void>;',
    '}',
    '',
    `/** Serve ${def.name} (a mock server): \`onClient\` gets each connection. */`,
    'export async function serve(opts: gs.ServeOptions, onClient: (client: GameServerPeer) => void): Promise<GameServer> {',
    '  const server = await gs.serve(protocol(), opts, (peer) => onClient(new gs.Typed<C2S, S2C, State>(peer, S2C_NAMES)));',
    '  return {',
    '    server,',
    '    port: server.port,',
  );
  if (udp) {
    o.push(
      '    udpPort: server.udpPort,',
      '    onDatagram: (fn) => void server.onDatagram((msg, from) => fn({ name: msg.name, fields: msg.fields, msg } as unknown as Received<C2S_UDP>, from)),',
      '    sendDatagram: (to) => gs.senders<S2C_UDP>(S2C_UDP_NAMES, (name, fields) => server.sendDatagram(to, name, fields)),',
    );
  }
  o.push('    close: () => server.close(),', '  };', '}', '');
  return o.join('\n');
}
