import { describe, expect, it } from 'vitest';
import type { Direction } from '../../src/core/types';
import { loadProtocol } from '../../src/protocol/protocol';
import { ReplayEngine, type ReplayCommand, type ReplayOptions } from '../../src/replay/engine';
import type { ReplayScript, ScriptMessage, Step } from '../../src/replay/script';
import { Conversation, type ConversationMessage } from '../../src/conversation/conversation';
import { ROOT } from '../helpers/cli';
import { sender } from '../helpers/wire';

const tg = loadProtocol('testgame', ROOT);
const t = tg.tcp!;
const TOKEN = Buffer.alloc(16, 0xab);
const LIVE_TOKEN = Buffer.alloc(16, 0xcd);

/** A recorded session built message by message, framed and compressed as the wire had it. */
class ScriptBuilder {
  private readonly send = sender(tg);
  /** The recording's view: the wire decoded, as loadScript gets it. */
  private readonly seen: ConversationMessage<null>[] = [];
  private readonly decoder = new Conversation(tg, 'tcp', (m) => this.seen.push(m), { flow: null });
  private readonly offset = { c2s: 0, s2c: 0 };
  readonly steps: Step[] = [{ kind: 'open', conn: 0, ts: 0 }];
  private ts = 0;

  msg(dir: Direction, name: string, fields: Record<string, unknown>, dt = 1000): this {
    const bytes = this.send(dir, name, fields);
    this.decoder.received(dir, bytes, this.offset[dir], 0);
    this.offset[dir] += bytes.length;
    const d = this.seen.pop()!;
    this.ts += dt;
    const m: ScriptMessage = { conn: 0, transport: 'tcp', dir, index: d.index, ts: this.ts, name, fields: d.fields, frame: d.frame, payload: d.payload, wire: d.wire, header: d.header, unframed: false };
    this.steps.push({ kind: 'message', m });
    return this;
  }

  end(dir: Direction, how: 'fin' | 'rst' = 'fin'): this {
    this.steps.push({ kind: 'end', conn: 0, dir, how, ts: this.ts });
    return this;
  }

  build(): ReplayScript {
    return {
      protocol: tg,
      connections: new Map([[0, { conn: 0, transport: 'tcp', client: { addr: '127.0.0.1', port: 40000 }, server: { addr: '127.0.0.1', port: 24000 }, gaps: 0 }]]),
      steps: this.steps,
      read: { header: {} as never, records: 0, finished: true, fileBytes: 0 },
    };
  }
}

const hello = { version: 3, features: [1, 2] };
const helloAck = (motd = 'hi', time = 5n) => ({ version: 3, server_time: time, motd });
const login = { name: 'bob', password: 'pw', client: 'test' };
const loginOk = (token = TOKEN) => ({ player_id: 1, token, spawn: { x: 1, y: 2 }, stats: [1, 2, 3] });

function session(): ScriptBuilder {
  return new ScriptBuilder().msg('c2s', 'hello', hello).msg('s2c', 'hello_ack', helloAck()).msg('c2s', 'login', login).msg('s2c', 'login_ok', loginOk()).msg('c2s', 'ack_login', { token: TOKEN });
}

/** Wire bytes of one message as the live server would send them (uncompressed phase). */
const wire = (name: string, fields: unknown): Buffer => t.frame(t.encode(name, fields, tg.newState()));
const sends = (cmds: ReplayCommand[]): string[] =>
  cmds.filter((c) => c.kind === 'send').map((c) => t.decode('c2s', (c as { bytes: Buffer }).bytes.subarray(2), tg.newState()).name ?? '?');
const opts = (o: Partial<ReplayOptions> = {}): ReplayOptions => ({ role: 'client', speed: null, timeoutMs: 1000, ...o });

describe('replay engine, scripted', () => {
  it('as client: sends each message once the replies recorded before it came, and ends clean', () => {
    const e = new ReplayEngine(session().end('c2s').build(), opts());
    const first = e.start(0);
    expect(first[0]).toEqual({ kind: 'connect', conn: 0 });
    expect(sends(first)).toEqual(['hello']);
    expect(first.at(-1)).toEqual({ kind: 'timer', at: 1000 });
    expect(sends(e.received(0, wire('hello_ack', helloAck('hi', 99n)), 10))).toEqual(['login']);
    // A reply split across reads is framed before it is compared.
    const ok = wire('login_ok', loginOk());
    expect(e.received(0, ok.subarray(0, 5), 20)).toEqual([{ kind: 'timer', at: 1010 }]);
    const last = e.received(0, ok.subarray(5), 21);
    expect(sends(last)).toEqual(['ack_login']);
    expect(last.slice(-2)).toEqual([{ kind: 'close', conn: 0, how: 'fin' }, { kind: 'done' }]);
    expect(e.report).toMatchObject({ sent: 3, received: 2, compared: 2, divergences: [] });
  });

  it('reports a changed field by message index, name and path, with both values; volatile and --ignore fields are not compared', () => {
    const e = new ReplayEngine(session().build(), opts());
    e.start(0);
    e.received(0, wire('hello_ack', helloAck('changed', 123n)), 10);
    expect(e.report.divergences).toEqual([
      { kind: 'field', conn: 0, transport: 'tcp', dir: 's2c', index: 0, name: 'hello_ack', liveName: 'hello_ack', path: 'hello_ack.motd', diff: 'value', recorded: 'hi', live: 'changed', message: 'different value' },
    ]);
    const quiet = new ReplayEngine(session().build(), opts({ ignore: ['motd'] }));
    quiet.start(0);
    quiet.received(0, wire('hello_ack', helloAck('changed', 123n)), 10);
    expect(quiet.report.divergences).toEqual([]);
  });

  it('a reply that does not come within the timeout is missing, and the replay goes on', () => {
    const e = new ReplayEngine(session().build(), opts({ timeoutMs: 500 }));
    expect(e.start(0).at(-1)).toEqual({ kind: 'timer', at: 500 });
    expect(sends(e.tick(499))).toEqual([]);
    expect(sends(e.tick(500))).toEqual(['login']);
    expect(e.report.divergences[0]).toMatchObject({ kind: 'missing', index: 0, name: 'hello_ack', message: 'recorded hello_ack; nothing came within 500 ms' });
  });

  it('another message than recorded, and bytes that do not decode, are named', () => {
    const e = new ReplayEngine(session().build(), opts());
    e.start(0);
    e.received(0, wire('error', { code: 3, message: 'nope' }), 10);
    e.received(0, Buffer.from([0x01, 0x00, 0xee]), 11);
    expect(e.report.divergences.map((d) => [d.kind, d.index, d.name, d.liveName, d.message])).toEqual([
      ['name', 0, 'hello_ack', 'error', 'recorded hello_ack, live error'],
      ['undecodable', 1, 'login_ok', null, 'live bytes do not decode: unknown s2c id 238 (0xee)'],
    ]);
  });

  it('--rewrite carries the live token into later messages, re-encoded; by value or by path', () => {
    for (const rule of ['login_ok.token', 'login_ok.token:ack_login.token']) {
      const e = new ReplayEngine(session().build(), opts({ rewrite: [rule] }));
      e.start(0);
      e.received(0, wire('hello_ack', helloAck()), 1);
      const cmds = e.received(0, wire('login_ok', loginOk(LIVE_TOKEN)), 2);
      const sent = cmds.find((c) => c.kind === 'send') as { bytes: Buffer };
      const m = t.decode('c2s', sent.bytes.subarray(2), tg.newState());
      expect(m.name).toBe('ack_login');
      expect((m.fields as { token: Buffer }).token.equals(LIVE_TOKEN), rule).toBe(true);
      expect(e.report.rewritten).toBe(1);
      // The token is volatile in testgame, so the differing login_ok is not a divergence.
      expect(e.report.divergences).toEqual([]);
    }
  });

  it('an early close from the peer makes the rest missing; a message after the recording ends is unexpected', () => {
    const e = new ReplayEngine(session().end('s2c').build(), opts());
    e.start(0);
    e.peerClosed(0, 'rst', 5);
    expect(e.report.divergences.map((d) => `${d.kind} ${d.name}`)).toEqual(['missing hello_ack', 'missing login_ok']);
    const f = new ReplayEngine(new ScriptBuilder().msg('c2s', 'hello', hello).build(), opts());
    f.start(0);
    f.received(0, wire('hello_ack', helloAck()), 1);
    expect(f.report.divergences[0]).toMatchObject({ kind: 'unexpected', liveName: 'hello_ack', message: 'hello_ack came live; the recording has nothing more here' });
  });

  it('paces our messages as recorded, scaled by the speed', () => {
    const b = new ScriptBuilder().msg('c2s', 'hello', hello, 0).msg('c2s', 'ping', { nonce: 1 }, 400_000).msg('c2s', 'ping', { nonce: 2 }, 400_000);
    const e = new ReplayEngine(b.build(), opts({ speed: 2 }));
    const first = e.start(1000);
    expect(sends(first)).toEqual(['hello']);
    expect(first.at(-1)).toEqual({ kind: 'timer', at: 1200 });
    expect(sends(e.tick(1100))).toEqual([]);
    expect(sends(e.tick(1200))).toEqual(['ping']);
    expect(e.tick(1200).at(-1)).toEqual({ kind: 'timer', at: 1400 });
  });

  it('as server: waits for the client to connect and speak, then answers as recorded', () => {
    const e = new ReplayEngine(session().end('c2s').end('s2c').build(), opts({ role: 'server', openTimeoutMs: 60_000 }));
    expect(e.start(0)).toEqual([{ kind: 'timer', at: 60_000 }]);
    // the recorded client spoke first: the connection is a candidate until its first message shows it is that client
    const a = e.accepted(5);
    expect(a.conn).toBeLessThan(-1);
    expect(a.commands).toEqual([]);
    const st = tg.newState();
    const cw = (name: string, fields: unknown) => t.frame(t.encode(name, fields, st));
    const replies = e.received(a.conn, cw('hello', hello), 10);
    expect(replies[0]).toEqual({ kind: 'adopt', from: a.conn, conn: 0 });
    const names = replies.filter((c) => c.kind === 'send').map((c) => t.decode('s2c', (c as { bytes: Buffer }).bytes.subarray(2), tg.newState()).name);
    expect(names).toEqual(['hello_ack']);
    e.received(0, cw('login', login), 20);
    e.received(0, cw('ack_login', { token: TOKEN }), 30);
    const end = e.peerClosed(0, 'fin', 40);
    expect(end).toEqual([{ kind: 'done' }]);
    expect(e.report.divergences).toEqual([]);
    expect(e.accepted(50).conn).toBe(-1);
  });

  it('as server: garbage, a stranger and a silent half-open connection before the real client take no place', () => {
    const e = new ReplayEngine(session().end('c2s').end('s2c').build(), opts({ role: 'server', openTimeoutMs: 60_000 }));
    e.start(0);
    const silent = e.accepted(1).conn;
    const garbage = e.accepted(2).conn;
    // a frame with an unknown id (bytes that look like an unfinished frame, an HTTP request say, just wait and take no place)
    expect(e.received(garbage, Buffer.from('GET / HT'), 3)).toEqual([]);
    const unknown = e.accepted(3).conn;
    expect(e.received(unknown, Buffer.from('0200ffee', 'hex'), 3)).toEqual([{ kind: 'close', conn: unknown, how: 'rst' }]);
    const stranger = e.accepted(4).conn;
    const st = tg.newState();
    const cw = (name: string, fields: unknown) => t.frame(t.encode(name, fields, st));
    expect(e.received(stranger, cw('ping', { nonce: 9 }), 5)).toEqual([{ kind: 'close', conn: stranger, how: 'rst' }]);
    const real = e.accepted(6).conn;
    const replies = e.received(real, Buffer.concat([cw('hello', hello)]), 7);
    expect(replies[0]).toEqual({ kind: 'adopt', from: real, conn: 0 });
    e.received(0, cw('login', login), 20);
    e.received(0, cw('ack_login', { token: TOKEN }), 30);
    e.peerClosed(0, 'fin', 40);
    expect(e.report.divergences).toEqual([]);
    expect(e.report.ignored).toHaveLength(2);
    expect(e.report.ignored.join('\n')).toMatch(/its first message does not decode \(unknown c2s id 255/);
    expect(e.report.ignored.join('\n')).toMatch(/its first message is ping, not hello/);
    expect(silent).toBeLessThan(-1);
  });
});

/** The same script streamed: its steps handed to the engine a few at a time, as ScriptStream reads them. */
function streamed(full: ReplayScript): { script: ReplayScript; feed: (n: number) => void; finish: () => void } {
  const rest = [...full.steps];
  const script: ReplayScript = { ...full, steps: [], complete: false };
  return {
    script,
    feed: (n) => void script.steps.push(...rest.splice(0, n)),
    finish: () => {
      script.steps.push(...rest.splice(0));
      script.complete = true;
    },
  };
}

describe('replay engine, a streamed recording', () => {
  it('walks the steps as they come, holds a reply that came before its recorded step was read, and ends only once all is read', () => {
    const s = streamed(session().end('c2s').build());
    const e = new ReplayEngine(s.script, opts());
    // nothing read yet: nothing to do
    expect(e.start(0)).toEqual([]);
    s.feed(2); // open, hello
    const first = e.more(1);
    expect(first[0]).toEqual({ kind: 'connect', conn: 0 });
    expect(sends(first)).toEqual(['hello']);
    // the live hello_ack before the recorded one is read: kept, not unexpected
    expect(sends(e.received(0, wire('hello_ack', helloAck('hi', 99n)), 2))).toEqual([]);
    expect(e.report.divergences).toEqual([]);
    s.feed(2); // hello_ack, login
    expect(sends(e.more(3))).toEqual(['login']);
    expect(e.report).toMatchObject({ received: 1, compared: 1, divergences: [] });
    s.feed(2); // login_ok, ack_login
    const last = e.received(0, wire('login_ok', loginOk()), 4);
    expect(sends(last)).toEqual(['ack_login']);
    // the recording is not all read: not done yet
    expect(e.done).toBe(false);
    expect(last.some((c) => c.kind === 'done')).toBe(false);
    s.finish();
    expect(e.more(5).slice(-2)).toEqual([{ kind: 'close', conn: 0, how: 'fin' }, { kind: 'done' }]);
    expect(e.report).toMatchObject({ connections: 1, sent: 3, received: 2, compared: 2, divergences: [] });
  });

  it('a live difference held back is still reported, field by field, once its step is read; a close before the recorded end waits too', () => {
    const s = streamed(session().end('s2c').build());
    const e = new ReplayEngine(s.script, opts());
    s.feed(2);
    e.start(0);
    e.received(0, wire('hello_ack', helloAck('changed', 1n)), 1);
    e.peerClosed(0, 'fin', 2);
    expect(e.report.divergences).toEqual([]);
    s.feed(1);
    e.more(3);
    expect(e.report.divergences.map((d) => `${d.kind} ${d.path ?? d.name}`)).toEqual(['field hello_ack.motd']);
    s.finish();
    e.more(4);
    // the close matched the recorded end: what was recorded before it is missing, and no 'closed'
    expect(e.report.divergences.map((d) => `${d.kind} ${d.path ?? d.name}`)).toEqual(['field hello_ack.motd', 'missing login_ok']);
  });
});
