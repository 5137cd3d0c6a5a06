import { mkdtempSync, writeFileSync } from 'node:fs';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProtocol } from '../../src/protocol/protocol';
import { gs, ROOT, startCli } from '../helpers/cli';
import { writeSession, type Write } from '../helpers/session';
import { sender } from '../helpers/wire';

const dir = mkdtempSync(join(tmpdir(), 'gs-decode-'));

const tg = loadProtocol('testgame', ROOT);
const t = tg.tcp!;

/** A testgame session as the wire carries it: framed, compressed after set_compression. */
function gameWrites(): Write[] {
  const send = sender(tg);
  const w = (dir: 'c2s' | 's2c', name: string, fields: unknown): Write => ({ dir, bytes: send(dir, name, fields) });
  const entities = Array.from({ length: 30 }, (_, i) => ({ id: i, kind: 'npc', pos: { x: i, y: -i }, flags: { moving: true, hidden: false, hurt: false }, stats: { level: 1, team: 2, mood: 3 }, detail: 'patrol' }));
  return [
    w('c2s', 'hello', { version: 3, features: [1, 2] }),
    w('s2c', 'hello_ack', { server_time: 99n, motd: 'welcome' }),
    w('c2s', 'login', { name: 'ann', password: 'pw', client: 'test' }),
    w('s2c', 'login_ok', { player_id: 7, token: Buffer.alloc(16, 1), spawn: { x: 0, y: 0 }, stats: [1, 2, 3] }),
    w('s2c', 'set_compression', { threshold: 64 }),
    w('s2c', 'snapshot', { tick: 1, server_time: 5n, entities }),
    w('c2s', 'chat', { text: 'hello there' }),
    w('s2c', 'inventory', { items: { sword: 1 } }),
  ];
}

describe('gamesniff decode -r', () => {
  const file = join(dir, 'game.pcap');
  writeSession(file, gameWrites(), { mss: 100 });

  it('--json: one object a line, compressed frames included, exit 0', () => {
    const r = gs(['decode', '-p', 'testgame', '-r', file, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const msgs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(msgs.map((m) => `${m.dir} ${m.name}`)).toEqual([
      'c2s hello', 's2c hello_ack', 'c2s login', 's2c login_ok', 's2c set_compression', 's2c snapshot', 'c2s chat', 's2c inventory',
    ]);
    expect(msgs.map((m) => m.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(msgs[0]).toMatchObject({ conn: 0, client: '127.0.0.1:51000', server: '127.0.0.1:24000', id: 1, size: 14, fields: { version: 3, features: [1, 2] } });
    expect(typeof msgs[0].ts).toBe('number');
    expect(msgs[2].fields).toEqual({ name: 'ann', password: 'pw', client: 'test' });
    expect(msgs[3].fields).toMatchObject({ token: '01'.repeat(16) });
    expect(msgs[5]).toMatchObject({ compressed: true });
    expect((msgs[5].fields as { entities: unknown[] }).entities).toHaveLength(30);
    expect(msgs[7].fields).toEqual({ items: { sword: 1 } });
  });

  it('text lines: time, connection, direction, name, fields', () => {
    const r = gs(['decode', '-p', 'testgame', '-r', file]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[2]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} \[2\] #0 -> login name="ann" password="pw" client="test"$/);
    expect(lines[5]).toMatch(/ \[5\] #0 <- snapshot tick=1 server_time=5 entities=\[30\]\{\{id=0 kind="npc"/);
    // the number is the message's place in the output, from 0: the one `vectors add --message` takes
    expect(lines.map((l) => /^\S+ \[(\d+)\]/.exec(l)?.[1])).toEqual(lines.map((_, i) => String(i)));
  });

  it('--stats reports coverage; damaged traffic is shown raw and exits 1', () => {
    const writes = gameWrites();
    writes.splice(1, 0, { dir: 'c2s', bytes: Buffer.from([3, 0, 0x99, 1, 2]) }); // unknown id 0x99
    // A 505-byte chat whose third segment is lost: a gap inside a frame of known length.
    writes.splice(7, 0, { dir: 'c2s', bytes: t.frame(t.encode('chat', { text: 'x'.repeat(500) }, tg.newState())), loseSegment: 2 });
    const bad = join(dir, 'bad.pcap');
    writeSession(bad, writes, { mss: 100 });
    const r = gs(['decode', '-p', 'testgame', '-r', bad, '--stats', '--json']);
    expect(r.code).toBe(1);
    const msgs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const unknown = msgs.find((m) => m.id === 0x99)!;
    expect(unknown).toMatchObject({ name: null, hex: '990102', error: { message: 'unknown c2s id 153 (0x99)' } });
    const raw = msgs.filter((m) => m.raw);
    expect(raw.length).toBeGreaterThan(0);
    expect(String(raw[0].raw)).toMatch(/cut by a \d+-byte gap|gap/);
    expect(raw.map((m) => m.size)).toEqual([200, 100, 100, 5]);
    // After the damaged frame the client stream resynchronises: the next chat decodes.
    expect(msgs.some((m) => m.name === 'chat' && !m.error && (m.fields as { text: string }).text === 'hello there')).toBe(true);
    expect(r.stderr).toMatch(/coverage: 13 messages, 8 decoded, 5 not/);
    // the unknown-id table, last: id, count, sizes, the first bytes of one
    expect(r.stderr).toMatch(/unknown ids, most frequent first .*\n {2}tcp c2s: 1 messages, 1 id\n {4}id +count +sizes +sample\n {4}0x99 \(153\) +1 +3 +990102\n/);
    expect(r.stderr).toMatch(/raw: \d+ chunks/);
    expect(r.stderr).toMatch(/did not decode/);
    // --quiet: the same decoding and summary, no message printed, the same exit code
    const q = gs(['decode', '-p', 'testgame', '-r', bad, '--stats', '--quiet']);
    expect(q.code).toBe(1);
    expect(q.stdout).toBe('');
    expect(q.stderr).toMatch(/coverage: 13 messages, 8 decoded, 5 not/);
    expect(q.stderr).toMatch(/5 of 13 messages did not decode/);
    expect(gs(['decode', '-p', 'testgame', '-r', bad, '--quiet', '--json']).code).toBe(2);
  });

  it('decode errors name the field path and offset; the message is kept raw', () => {
    const body = t.encode('chat', { text: 'hello' }, tg.newState());
    const cut = Buffer.concat([Buffer.from([body.length - 2, 0]), body.subarray(0, -2)]);
    const f = join(dir, 'cut.pcap');
    writeSession(f, [{ dir: 'c2s', bytes: cut }]);
    const r = gs(['decode', '-p', 'testgame', '-r', f, '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ name: 'chat', error: { path: 'chat.text', offset: 3, message: 'needs 5 bytes, 3 left' }, hex: body.subarray(0, -2).toString('hex') });
  });

  it('a broken protocol file: exit 2 with file:line:col', () => {
    const p = join(dir, 'broken.yaml');
    writeFileSync(p, 'protocol: x\ntcp:\n  framing: { length: u16 }\n  id: u8\n  messages:\n    a:\n      id: 1\n      fields:\n        n: { type: strnig, prefix: u8 }\n');
    const r = gs(['decode', '-p', p, '-r', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${p}:9:20: unknown type 'strnig'`);
    const missing = gs(['decode', '-p', 'nosuch', '-r', file]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no such protocol .*chatroom, echo, modbus, testgame/);
  });

  it('without -p it says what is missing', () => {
    const r = gs(['decode', '-r', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/decode needs -p PROTOCOL \(only a recording made with -p names its own\)/);
  });
});

describe('gamesniff check', () => {
  it('validates and runs the vectors', () => {
    const r = gs(['check', 'testgame']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/protocol testgame, 19 messages, 2 types: ok/);
    expect(r.stdout).toMatch(/(\d+) of \1 vectors pass/);
  });
  it('--print-code shows the generated functions', () => {
    const r = gs(['check', 'chatroom', '--print-code']);
    expect(r.stdout).toMatch(/function M0\(b, c\)/);
    expect(r.stdout).toMatch(/c\.st\["joined"\] = true;/);
  });
  it('a failing vector exits 1 and says what differs', () => {
    const v = join(dir, 'v.yaml');
    writeFileSync(v, 'vectors:\n  - name: wrong\n    dir: c2s\n    hex: 1405\n    message: use_item\n    fields: { slot: 4 }\n');
    const r = gs(['check', 'testgame', '--vectors', v]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL wrong\n {2}decode: slot: got 5, expected 4/);
  });
});

const root = process.getuid?.() === 0;

describe.skipIf(!root)('gamesniff decode live on loopback', () => {
  it('decodes a real TCP session and UDP datagrams on 127.0.0.1', async () => {
    const all = gameWrites();
    const fromServer = Buffer.concat(all.filter((w) => w.dir === 's2c').map((w) => w.bytes));
    const fromClient = all.filter((w) => w.dir === 'c2s').map((w) => w.bytes);
    // As a game does: the server answers once it has the hello and login; the client sends its
    // last message (compressed, so after set_compression) once it has read everything.
    const srv = net.createServer((sock) => {
      let got = 0;
      sock.on('data', (d) => {
        got += d.length;
        if (got === fromClient[0].length + fromClient[1].length) sock.write(fromServer);
      });
      sock.on('end', () => sock.end());
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(port, '127.0.0.1', r));
    const child = await startCli(['decode', '-p', 'testgame', '--port', String(port), '--duration', '4', '--json'], 'capturing on');
    await new Promise<void>((resolve) => {
      let got = 0;
      const c = net.connect(port, '127.0.0.1', () => {
        c.write(fromClient[0]);
        c.write(fromClient[1]);
      });
      c.on('data', (d) => {
        got += d.length;
        if (got === fromServer.length) c.end(fromClient[2]);
      });
      c.on('close', () => resolve());
    });
    const sender = dgram.createSocket('udp4');
    const datagram = tg.udp!.encode('position', { player_id: 7, seq: 1, pos: { x: 1, y: 2 }, heading: -3 }, tg.newState());
    await new Promise<void>((r) => sender.send(datagram, port, '127.0.0.1', () => r()));
    sender.close();
    const { code, stdout: out, stderr: err } = await child.done;
    srv.close();
    udp.close();
    expect(code, err + out).toBe(0);
    const msgs = out.trim().split('\n').map((l) => JSON.parse(l) as { name: string; dir: string; server: string; transport: string; fields: unknown });
    const names = (dir: string, transport: string) => msgs.filter((m) => m.dir === dir && m.transport === transport).map((m) => m.name);
    expect(names('c2s', 'tcp')).toEqual(['hello', 'login', 'chat']);
    expect(names('s2c', 'tcp')).toEqual(['hello_ack', 'login_ok', 'set_compression', 'snapshot', 'inventory']);
    expect(msgs.find((m) => m.transport === 'udp')).toMatchObject({ name: 'position', dir: 'c2s', server: `127.0.0.1:${port}`, fields: { player_id: 7, heading: -3 } });
    expect(msgs[0].server).toBe(`127.0.0.1:${port}`);
  });
});
