/**
 * `gamesniff codegen --ts`: a typed module for every shipped protocol and fixture, compiled with
 * the repository's TypeScript under --strict in one run (with checks that the types are real:
 * wrong calls fail), a hostile description that gets nothing into the module as code, and the
 * generated clients and servers at run time (the committed ones in src/examples/bot/).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as testgame from '../../src/examples/bot/testgame';
import * as wsgame from '../../src/examples/bot/wsgame';
import { loadProtocol } from '../../src/protocol/protocol';
import { generateTypeScript } from '../../src/protocol/typescript';
import { GameServer } from '../../src/testbed/game-server';
import { gs, ROOT } from '../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'gs-codegen-'));
const LIB = join(ROOT, 'src/index');
const descriptions = [
  ...readdirSync(join(ROOT, 'protocols'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(ROOT, 'protocols', d.name)),
  ...readdirSync(join(ROOT, 'test/fixtures/protocols'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(ROOT, 'test/fixtures/protocols', d.name)),
];

/** Everything a description holds that is not a checked identifier, with a payload that would be code if it got out. */
const HOSTILE = `protocol: hostile-1_x
description: "*/ INJECTED(); /* \` \${INJECTED()} \\" ' \\n INJECTED(); // \\u2028 INJECTED() \\r\\n @ts-nocheck \\u202e x \\u0000 \\x1b[2J"
state:
  v: "*/ INJECTED() /*"
  w: "\\u2028INJECTED()"
enums:
  k: { a_b: 1, Buffer: 2, __x: 3 }
  c2s: { a: 1 }
types:
  c2_s: { fields: { x: u8 } }          # PascalCase C2S is the module's own: C2SType
  vec2: { fields: { x: u8 } }
  Vec2: { fields: { y: u8 } }
  Promise: u8
  string: { type: string, prefix: u8 }
  a: b                                 # an alias cycle (the loader takes it)
  b: a
tcp:
  framing: { length: u16 }
  id: u8
  messages:
    then:
      id: 1
      doc: "*/ INJECTED(); /** @ts-ignore */ \`\${INJECTED()}\` </script>"
      fields:
        x: { type: u8, doc: "a\\n*/\\nINJECTED();\\n/*" }
        e: { type: u8, enum: k, doc: "*" }
        c: { type: u8, const: 7, doc: "/" }
        s: { switch: e, cases: { "*/INJECTED()/*": u8, a_b: u16 } }
        t: c2_s
        v: vec2
        V: Vec2
        p: Promise
        st: string
    toString_:
      id: 2
      dir: s2c
      doc: "@ts-expect-error"
udp:
  framing: datagram
  msgpack: "*/ INJECTED() /*"
  messages:
    m:
      id: "*/INJECTED()/* \\" \${INJECTED}"
      doc: "*/INJECTED()\\u2029INJECTED()"
      fields: { a: { type: string, doc: "*/INJECTED()" } }
`;

/** Compiles with every module (and fails if an expected error does not come: @ts-expect-error). */
const CHECKS = `import * as testgame from './testgame';
import * as wsgame from './wsgame';
import * as constructs from './constructs';
import * as modbus from './modbus';

/** Compiles only when the value's type is assignable to T. */
const is = <T>(v: T): T => v;

export async function client(): Promise<void> {
  const g = await testgame.connect({ port: 1 });
  g.send.move({ seq: 1, pos: { x: 1, y: 2 }, running: true });
  g.send.bye({ reason: 'kicked', note: 'spam' });
  g.send.bye({ reason: 7 }); // an enum value no member names
  // @ts-expect-error seq is a number
  g.send.move({ seq: '1', pos: { x: 1, y: 2 }, running: true });
  // @ts-expect-error running is missing
  g.send.move({ seq: 1, pos: { x: 1, y: 2 } });
  // @ts-expect-error not a member of bye_reason
  g.send.bye({ reason: 'bored' });
  // @ts-expect-error snapshot goes the other way
  g.send.snapshot({ tick: 1, server_time: 1n, entities: [] });
  // @ts-expect-error position is a datagram
  g.send.position({ player_id: 1, seq: 1, pos: { x: 0, y: 0 }, heading: 0 });
  g.sendDatagram.position({ player_id: 1, seq: 1, pos: { x: 0, y: 0 }, heading: -90 });
  // @ts-expect-error move goes over tcp
  g.sendDatagram.move({ seq: 1, pos: { x: 1, y: 2 }, running: true });
  // @ts-expect-error a token is bytes
  g.send.ack_login({ token: 'abc' });
  is<3>((await g.next('hello_ack')).version);
  const s = await g.next('snapshot');
  is<bigint>(s.server_time);
  // @ts-expect-error a u64 is a bigint
  is<number>(s.server_time);
  const e = s.entities[0]!;
  is<'player' | 'npc' | 'item' | number>(e.kind);
  // @ts-expect-error an enum field may be a number no member names
  is<'player' | 'npc' | 'item'>(e.kind);
  is<boolean>(e.flags.moving);
  is<number | undefined>(e.flags._other);
  is<number>(e.stats.level);
  is<testgame.Vec2>(e.pos);
  const b = await g.next('bye');
  // @ts-expect-error note is there only when the reason is kicked
  is<string>(b.note);
  g.on('positions', (f, msg) => is<number>(f.players[0]!.pos.x + msg.size));
  // @ts-expect-error a client does not receive c2s messages
  g.on('move', () => undefined);
  const m = await g.nextOf(['key_request', 'set_compression']);
  if (m.name === 'key_request') is<Buffer>(m.fields.public_key);
  else is<number>(m.fields.threshold);
  g.state.session_key = Buffer.alloc(16);
  await g.close();
}

export async function server(): Promise<void> {
  const srv = await testgame.serve({ port: 0 }, (c) => {
    c.on('move', (f) => c.send.snapshot({ tick: f.seq, server_time: 0n, entities: [] }));
    // @ts-expect-error a server sends s2c
    c.send.move({ seq: 1, pos: { x: 1, y: 2 }, running: true });
  });
  srv.onDatagram((m, from) => {
    if (m.name === 'position') srv.sendDatagram(from).positions({ tick: m.fields.seq, players: [] });
  });
}

export async function ws(): Promise<void> {
  const g = await wsgame.connect({ port: 1, path: '/play' });
  g.send.join({ room: 'a', name: 'b' });
  g.send.leave();
  g.send.move({ seq: 1, x: 1.5, y: 2n, token: 't', extra: true }); // keys not listed are kept
  // @ts-expect-error name is missing
  g.send.join({ room: 'a' });
  // @ts-expect-error room is a string
  g.send.join({ room: 1, name: 'b' });
  // @ts-expect-error chat needs text
  g.send.chat({ from: 'x' });
  is<number | bigint>((await g.next('welcome')).player);
  is<string>((await g.next('chat')).from); // s2c.chat
  is<number | null>((await g.next('ws_close')).code);
  g.send.ws_ping({ data: Buffer.from('x') });
}

export function shapes(c: constructs.C2S, u: constructs.S2C_UDP, d: constructs.C2S_UDP, r: modbus.S2C): void {
  is<bigint>(c.varints.c); // varint64
  is<number>(c.varints.a); // varint32
  is<number>(c.position.pos.x); // a signed 26-bit part of a u64
  is<bigint>(c.sized.n);
  is<number | undefined>(c.metadata.entries[0]?.value);
  is<unknown>(c.mixed.blob);
  is<number>(u.chat.from);
  // @ts-expect-error c2s.chat has no from
  is<number>(d.chat.from);
  is<'illegal_function' | 'illegal_data_address' | 'illegal_data_value' | 'server_device_failure' | 'acknowledge' | 'server_device_busy' | 'gateway_path_unavailable' | 'gateway_target_failed' | number>(r.exception.code);
}

export const script: testgame.Script = {
  onMessage(msg, ctx) {
    if (msg.name === 'chat') is<string>(msg.fields.text);
    if (msg.name === 'chat_msg') is<number>(msg.fields.from);
    if (msg.dir === 'c2s' && msg.name === 'position') ctx.log(String(msg.fields.heading));
    // @ts-expect-error no such message
    if (msg.name === 'nothing') return;
  },
};
`;

/** One error, and the compiler's own words for it. */
const WRONG = `import { connect } from './testgame';
export async function f(): Promise<void> {
  const g = await connect({ port: 1 });
  g.send.move({ seq: 'x', pos: { x: 1, y: 2 }, running: true });
}
`;

const files = new Map<string, string>();

beforeAll(() => {
  writeFileSync(join(dir, 'hostile.yaml'), HOSTILE);
  // udp alone: the types, no client (the runtime connects over tcp)
  writeFileSync(join(dir, 'udponly.yaml'), 'protocol: udponly\nudp:\n  framing: datagram\n  id: u8\n  messages:\n    a: { id: 1, fields: { x: u8 } }\n');
  for (const d of [...descriptions, join(dir, 'hostile.yaml'), join(dir, 'udponly.yaml')]) {
    const r = gs(['codegen', d, '--ts', dir, '--import', LIB]);
    expect(r.code, r.stderr).toBe(0);
    files.set(d, r.stdout.trim());
  }
});

describe('gamesniff codegen --ts', () => {
  it('writes OUT_DIR/<protocol name>.ts for every shipped protocol and fixture, and prints the path', () => {
    expect([...files.values()].map((f) => f.slice(dir.length + 1)).sort()).toEqual(['chatroom.ts', 'constructs.ts', 'echo.ts', 'framed.ts', 'hostile-1_x.ts', 'layered.ts', 'modbus.ts', 'testgame.ts', 'udponly.ts', 'wsgame.ts']);
    // the CLI writes what the library generates
    const p = loadProtocol(join(ROOT, 'protocols/testgame'));
    expect(readFileSync(join(dir, 'testgame.ts'), 'utf8')).toBe(generateTypeScript(p, { importFrom: LIB }));
  });

  it('every module compiles under --strict in one tsc run; wrong calls do not (the types are real)', () => {
    writeFileSync(join(dir, 'checks.ts'), CHECKS);
    writeFileSync(join(dir, 'wrong.ts'), WRONG);
    // the README's proxy script (typed by the generated testgame module) compiles too
    const readmeScript = /```ts\n([\s\S]*?)```/.exec(readFileSync(join(ROOT, 'README.md'), 'utf8'))![1]!;
    writeFileSync(join(dir, 'readme-script.ts'), readmeScript);
    const all = [...files.values(), join(dir, 'checks.ts'), join(dir, 'wrong.ts'), join(dir, 'readme-script.ts')];
    const t0 = Date.now();
    const r = spawnSync(
      join(ROOT, 'node_modules/.bin/tsc'),
      ['--strict', '--noEmit', '--target', 'es2022', '--module', 'commonjs', '--moduleResolution', 'node', '--esModuleInterop', '--skipLibCheck', '--noUnusedLocals', '--noUnusedParameters', '--pretty', 'false', ...all],
      { cwd: ROOT, encoding: 'utf8', timeout: 120_000 },
    );
    console.log(`tsc: ${all.length} files (and src/ through them) in ${Date.now() - t0} ms`);
    const errors = r.stdout.split('\n').filter((l) => / error TS\d+:/.test(l));
    // the only error is wrong.ts's, in TypeScript's words; every @ts-expect-error in checks.ts had its error
    expect(errors.map((l) => l.replace(/^.*\/(?=[^/]*\.ts\()/, ''))).toEqual(["wrong.ts(4,17): error TS2322: Type 'string' is not assignable to type 'number'."]);
  });

  it('a hostile description: its free text stays in comments and strings, its names make no clashes', async () => {
    const file = files.get(join(dir, 'hostile.yaml'))!;
    const src = readFileSync(file, 'utf8');
    expect(src).toMatch(/^[\x09\x0a\x20-\x7e]*$/); // ASCII only: no bidi overrides, no line separators
    const sf = ts.createSourceFile(file, src, ts.ScriptTarget.ES2022, true);
    const identifiers: string[] = [];
    const walk = (n: ts.Node): void => {
      if (ts.isIdentifier(n)) identifiers.push(n.text);
      n.forEachChild(walk);
    };
    walk(sf);
    expect(identifiers).not.toContain('INJECTED');
    // only the statements the generator writes, whatever the file says
    const kind = (s: ts.Statement): string =>
      ts.isImportDeclaration(s) ? 'import' : ts.isInterfaceDeclaration(s) ? 'interface' : ts.isTypeAliasDeclaration(s) ? 'type' : ts.isFunctionDeclaration(s) ? 'function' : ts.isClassDeclaration(s) ? 'class' : ts.isVariableStatement(s) ? 'const' : ts.SyntaxKind[s.kind];
    expect([...new Set(sf.statements.map(kind))].sort()).toEqual(['class', 'const', 'function', 'import', 'interface', 'type']);
    expect(sf.statements.filter(ts.isFunctionDeclaration).map((f) => f.name?.text)).toEqual(['protocol', 'connect', 'serve']);
    expect(sf.statements.filter(ts.isVariableStatement).flatMap((v) => v.declarationList.declarations.map((d) => d.name.getText(sf)))).toEqual(['DESCRIPTION', 'compiled', 'C2S_NAMES', 'S2C_NAMES', 'C2S_UDP_NAMES', 'S2C_UDP_NAMES']);
    // comment directives (@ts-ignore, @ts-nocheck) are defused: no comment holds one
    const scanner = ts.createScanner(ts.ScriptTarget.ES2022, false, ts.LanguageVariant.Standard, src);
    const comments: string[] = [];
    for (let t = scanner.scan(); t !== ts.SyntaxKind.EndOfFileToken; t = scanner.scan()) {
      if (t === ts.SyntaxKind.MultiLineCommentTrivia || t === ts.SyntaxKind.SingleLineCommentTrivia) comments.push(scanner.getTokenText());
    }
    expect(comments.join('\n')).toContain('INJECTED');
    expect(comments.filter((c) => /@ts-/.test(c))).toEqual([]);
    // type names: the module's own kept, the description's renamed around them
    expect(src).toContain('export interface C2SType {');
    expect(src).toContain('export interface Vec2Type {');
    expect(src).toContain('export type PromiseType = number;');
    expect(src).toContain('export type A = unknown;');
    // the description is embedded exactly (its hash is the file's)
    const mod = (await import(file)) as { DESCRIPTION: string; protocol(): { hash: string; name: string } };
    expect(mod.DESCRIPTION).toBe(HOSTILE);
    expect(mod.protocol().hash).toBe(createHash('sha256').update(HOSTILE).digest('hex'));
    expect(mod.protocol().name).toBe('hostile-1_x');
  });

  it('a broken description is file:line:col and exit 2; --ts is required', () => {
    writeFileSync(join(dir, 'broken.yaml'), 'protocol: broken\ntcp:\n  framing: { length: u16 }\n  messages:\n    m: { fields: { a: u77 } }\n');
    const r = gs(['codegen', join(dir, 'broken.yaml'), '--ts', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/broken\.yaml:5:\d+: unknown type 'u77'/);
    expect(gs(['codegen', 'testgame']).code).toBe(2);
  });
});

describe('the generated modules at run time', () => {
  const stops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const s of stops) await s();
  });

  it('carry their description: protocol() is the file under protocols/, hash and all', () => {
    expect(testgame.protocol().hash).toBe(loadProtocol('testgame', ROOT).hash);
    expect(wsgame.protocol().hash).toBe(loadProtocol('wsgame', ROOT).hash);
  });

  it('testgame: a typed client plays a short session against the test game server, UDP alongside', async () => {
    const s = new GameServer(loadProtocol('testgame', ROOT), { port: 0, seed: 1 });
    await s.start();
    stops.push(() => s.stop());
    const g = await testgame.connect({ port: s.port, udpPort: s.udpPort });
    const chats: string[] = [];
    g.on('chat_msg', (f) => chats.push(f.text));
    g.send.hello({ version: 3, features: [1] });
    expect((await g.next('hello_ack')).motd).toMatch(/welcome to testgame/);
    g.send.login({ name: 'typed', password: 'pw', client: 'test' });
    const ok = await g.next('login_ok');
    expect((await g.nextOf(['key_request', 'set_compression'])).name).toBe('set_compression');
    expect(g.state.compression).toBe(64);
    await g.next('inventory');
    g.send.ack_login({ token: ok.token });
    g.send.move({ seq: 1, pos: { x: 5, y: 6 }, running: false });
    const snap = await g.next('snapshot');
    expect(typeof snap.server_time).toBe('bigint');
    expect(snap.entities[0]).toMatchObject({ kind: 'player', pos: { x: 5, y: 6 }, detail: 'typed' });
    g.send.chat({ text: 'hello' });
    await g.next('chat_msg');
    expect(chats).toEqual(['hello']);
    g.sendDatagram.position({ player_id: ok.player_id, seq: 9, pos: { x: 1, y: 2 }, heading: 3 });
    const positions = await g.next('positions');
    expect(positions.tick).toBe(9);
    g.send.bye({ reason: 'quit' });
    expect((await g.next('bye')).reason).toBe('quit');
    await g.close();
  });

  it('wsgame: a typed mock server and client, `chat` resolved by direction both ways', async () => {
    const joined: string[] = [];
    const server = await wsgame.serve({ port: 0 }, (c) => {
      c.on('join', (f) => {
        joined.push(f.name);
        c.send.welcome({ player: 1, token: 't', room: f.room, players: [f.name] });
      });
      c.on('chat', (f) => c.send.chat({ from: 'server', text: f.text.toUpperCase() }));
    });
    stops.push(() => server.close());
    const g = await wsgame.connect({ port: server.port });
    g.send.join({ room: 'r', name: 'n' });
    expect(await g.next('welcome')).toEqual({ player: 1, token: 't', room: 'r', players: ['n'] });
    g.send.chat({ text: 'hi' });
    expect(await g.next('chat')).toEqual({ from: 'server', text: 'HI' });
    expect(joined).toEqual(['n']);
    await g.close();
  });

  it('testgame: a typed mock server answers datagrams where they came from', async () => {
    const none = await testgame.serve({ port: 0, udpPort: 0 }, () => undefined);
    stops.push(() => none.close());
    expect(none.udpPort).toBe(0);
    const withUdp = await testgame.serve({ port: 0 }, () => undefined); // udp on a port of its own
    stops.push(() => withUdp.close());
    expect(withUdp.udpPort).toBeGreaterThan(0);
    withUdp.onDatagram((m, from) => {
      if (m.name === 'position') withUdp.sendDatagram(from).positions({ tick: m.fields.seq, players: [{ id: m.fields.player_id, pos: m.fields.pos }] });
    });
    const g = await testgame.connect({ port: withUdp.port, udpPort: withUdp.udpPort });
    g.sendDatagram.position({ player_id: 4, seq: 2, pos: { x: 1, y: 2 }, heading: 0 });
    expect(await g.next('positions')).toEqual({ tick: 2, players: [{ id: 4, pos: { x: 1, y: 2 } }] });
    await g.close();
  });
});
