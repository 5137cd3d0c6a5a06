/**
 * The proxy: byte for byte when nothing changes (sniffed on both legs: the same sha256 each way),
 * scripts that drop, modify and inject with both ends seeing exactly that, a script that throws,
 * the CLI (--json, -o, --script in TypeScript), and bounded memory under a peer that never reads.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openClient, serve } from '../../src/client/open';
import type { Peer } from '../../src/client/peer';
import { loadProtocol } from '../../src/protocol/protocol';
import { Proxy } from '../../src/proxy/proxy';
import type { ProxyScript } from '../../src/proxy/script';
import { GameServer } from '../../src/testbed/game-server';
import { runGameClient } from '../../src/testbed/game-client';
import { runWsGameClient, WsGameServer } from '../../src/testbed/ws-game';
import { ROOT, startCli } from '../helpers/cli';

const testgame = loadProtocol('testgame', ROOT);
const wsgame = loadProtocol('wsgame', ROOT);
const dir = mkdtempSync(join(tmpdir(), 'gs-proxy-'));
const stops: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const s of stops.reverse()) await s();
});

async function proxyTo(port: number, protocol = testgame, script?: ProxyScript, udpPort?: number, log?: string[]): Promise<Proxy> {
  const p = new Proxy({ protocol, listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port }, udp: udpPort ? { listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: udpPort } } : null, script, log: (l) => log?.push(l) });
  await p.start();
  stops.push(() => p.stop());
  return p;
}

interface StreamLine {
  conn: number;
  server: string;
  dir: 'c2s' | 's2c';
  sha256: string;
  bytes: number;
}

describe('proxy, byte for byte', () => {
  it('testgame through a script that changes nothing (compression, UDP), --secure and the WebSocket game without one: each leg carries the same bytes each way', async () => {
    const plain = new GameServer(testgame, { port: 0, seed: 3 });
    const secure = new GameServer(testgame, { port: 0, seed: 3, secure: true });
    const ws = new WsGameServer({ port: 0, seed: 3 });
    for (const s of [plain, secure, ws]) {
      await s.start();
      stops.push(() => s.stop());
    }
    // a script that changes nothing: messages pass through both conversations, as sent
    const pp = await proxyTo(plain.port, testgame, { onMessage: () => undefined }, plain.udpPort);
    const ps = await proxyTo(secure.port);
    const pw = await proxyTo(ws.port, wsgame);
    const ports = [plain.port, secure.port, ws.port, pp.port, ps.port, pw.port];
    const sniff = await startCli(['streams', '--json', '--hash', '--no-udp', ...ports.flatMap((p) => ['--port', String(p)])], 'capturing on');
    await runGameClient(testgame, { port: pp.port, udpPort: pp.udpPort, name: 'p', rounds: 8, seed: 1 });
    await runGameClient(testgame, { port: ps.port, udpPort: 0, name: 's', rounds: 8, seed: 1, secure: true });
    await runWsGameClient({ port: pw.port, seed: 1, rounds: 5 });
    await new Promise((r) => setTimeout(r, 400));
    sniff.child.kill('SIGINT');
    const r = await sniff.done;
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as StreamLine);
    const leg = (port: number, dir: 'c2s' | 's2c') => lines.filter((c) => c.server.endsWith(`:${port}`) && c.dir === dir);
    for (const [server, proxy] of [[plain.port, pp.port], [secure.port, ps.port], [ws.port, pw.port]] as const) {
      for (const d of ['c2s', 's2c'] as const) {
        const [toProxy] = leg(proxy, d);
        const [toServer] = leg(server, d);
        expect(toProxy && toServer, `legs for ${proxy} -> ${server}: ${r.stdout}`).toBeTruthy();
        expect(toProxy!.bytes).toBeGreaterThan(100);
        expect(toServer!.sha256, `${d} ${proxy} -> ${server} (plain ${pp.port}, secure ${ps.port}, ws ${pw.port}): ${toServer!.bytes} vs ${toProxy!.bytes}`).toBe(toProxy!.sha256);
      }
    }
    expect(pp.stats.messages).toBeGreaterThan(30);
    expect(pp.stats.modified + pp.stats.dropped + pp.stats.injected + pp.stats.scriptErrors).toBe(0);
  }, 60_000);
});

describe('proxy scripts', () => {
  /** A mock chat server that keeps what it received, and a client through the proxy. */
  async function setup(script: ProxyScript, log?: string[]) {
    const seen: { name: string; fields: Record<string, unknown> }[] = [];
    const srv = await serve(testgame, { port: 0, udpPort: 0 }, (peer: Peer) => {
      peer.on('*', (m) => {
        seen.push({ name: m.name!, fields: m.fields! });
        if (m.name === 'chat') peer.send('chat_msg', { from: 1, name: 'srv', text: m.fields!.text });
        if (m.name === 'ping') peer.send('ping', { nonce: m.fields!.nonce });
      });
    });
    stops.push(() => srv.close());
    const px = await proxyTo(srv.port, testgame, script, undefined, log);
    const c = await openClient(testgame, { port: px.port, udpPort: 0 });
    stops.push(() => c.close());
    return { seen, c, px };
  }

  it('modify: the server gets the changed field, the client the server\'s answer to it; drop: nothing reaches the server; inject: both ways', async () => {
    const script: ProxyScript = {
      onMessage(msg, ctx) {
        if (msg.name === 'chat' && msg.dir === 'c2s') {
          const f = msg.fields as { text: string };
          if (f.text === 'drop me') return ctx.drop();
          f.text = f.text.toUpperCase();
        }
        if (msg.name === 'ping' && msg.dir === 'c2s') ctx.inject('s2c', 'chat_msg', { from: 0, name: 'proxy', text: 'injected' });
      },
    };
    const { seen, c, px } = await setup(script);
    c.send('chat', { text: 'drop me' });
    c.send('chat', { text: 'hello' });
    expect((await c.next('chat_msg')).fields).toEqual({ from: 1, name: 'srv', text: 'HELLO' });
    c.send('ping', { nonce: 5 });
    expect((await c.next('chat_msg')).fields).toEqual({ from: 0, name: 'proxy', text: 'injected' });
    expect((await c.next('ping')).fields).toEqual({ nonce: 5 });
    expect(seen.map((s) => [s.name, s.fields])).toEqual([['chat', { text: 'HELLO' }], ['ping', { nonce: 5 }]]);
    expect(px.stats).toMatchObject({ modified: 1, dropped: 1, injected: 1, scriptErrors: 0 });
  });

  it('a script that throws: said with its stack, the message passes unchanged, the proxy goes on', async () => {
    const log: string[] = [];
    const { seen, c, px } = await setup({
      onMessage(msg) {
        if (msg.name === 'chat') throw new Error('bot bug');
      },
    }, log);
    c.send('chat', { text: 'still' });
    expect((await c.next('chat_msg')).fields!.text).toBe('still');
    expect(seen[0]!.fields).toEqual({ text: 'still' });
    expect(px.stats.scriptErrors).toBe(1);
    expect(log.join('\n')).toMatch(/script error in onMessage\(chat\): Error: bot bug\n\s+at /);
  });

  it('changes under compression stay in step: a long chat rewritten (compressed both legs), then more messages', async () => {
    const srv = new GameServer(testgame, { port: 0, seed: 9 });
    await srv.start();
    stops.push(() => srv.stop());
    const px = await proxyTo(srv.port, testgame, {
      onMessage(msg) {
        if (msg.name === 'chat' && msg.dir === 'c2s') (msg.fields as { text: string }).text += ' (via proxy)';
      },
    });
    const r = await runGameClient(testgame, { port: px.port, udpPort: 0, name: 'z', rounds: 9, seed: 2 });
    expect(r.rounds).toBe(9);
    expect(px.stats.modified).toBe(3);
  });
});

describe('proxy under hostile peers', () => {
  it('a client that never reads: the proxy stops reading the server (bounded), and goes on for others', async () => {
    let written = 0;
    let blocked = false;
    const flood = net.createServer((s) => {
      const chunk = Buffer.alloc(64 << 10, 7);
      const pump = () => {
        while (s.writable && written < 512 << 20) {
          written += chunk.length;
          if (!s.write(chunk)) {
            blocked = true;
            return;
          }
        }
      };
      s.on('drain', pump);
      s.on('error', () => undefined);
      pump();
    });
    await new Promise<void>((r) => flood.listen(0, '127.0.0.1', r));
    stops.push(() => new Promise<void>((r) => flood.close(() => r())));
    const px = await proxyTo((flood.address() as net.AddressInfo).port, testgame);
    const lazy = net.connect(px.port, '127.0.0.1');
    lazy.pause();
    stops.push(() => void lazy.destroy());
    await new Promise((r) => setTimeout(r, 1500));
    expect(blocked).toBe(true);
    // what the proxy took from the server and did not pass on is bounded by its buffers, not the flood
    expect(written).toBeLessThan(64 << 20);
    // garbage from another client passes as raw, and the proxy still serves
    const srv = await serve(testgame, { port: 0, udpPort: 0 }, (peer) => peer.on('hello', () => peer.send('hello_ack', { version: 3, server_time: 1n, motd: 'ok' })));
    stops.push(() => srv.close());
    const px2 = await proxyTo(srv.port);
    const junk = net.connect(px2.port, '127.0.0.1');
    junk.write(Buffer.from('\xff\xff\xff\xff garbage', 'latin1'));
    const c = await openClient(testgame, { port: px2.port, udpPort: 0 });
    c.send('hello', { version: 3, features: [] });
    expect((await c.next('hello_ack')).fields!.motd).toBe('ok');
    junk.destroy();
  }, 20_000);
});

describe('gamesniff proxy (CLI)', () => {
  it('--json, -o and a TypeScript --script: the printed and recorded session is what passed', async () => {
    const srv = new GameServer(testgame, { port: 0, seed: 4 });
    await srv.start();
    stops.push(() => srv.stop());
    const script = join(dir, 'shout.ts');
    writeFileSync(script, "import type { ProxyScript } from '../../../work/main/src/proxy/script';\nconst s: ProxyScript = { onMessage(msg) { if (msg.name === 'chat' && msg.dir === 'c2s') (msg.fields as { text: string }).text = 'rewritten'; } };\nexport default s;\n");
    const rec = join(dir, 'proxied.gsrec');
    const listen = await new Promise<number>((r) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => r(p));
      });
    });
    const px = await startCli(['proxy', '--listen', String(listen), '--target', `127.0.0.1:${srv.port}`, '-p', 'testgame', '--no-udp', '--json', '-o', rec, '--script', script], 'proxy 127.0.0.1');
    await runGameClient(testgame, { port: listen, udpPort: 0, name: 'cli', rounds: 3, seed: 1 });
    await new Promise((r) => setTimeout(r, 200));
    px.child.kill('SIGINT');
    const done = await px.done;
    expect(done.code, done.stderr).toBe(0);
    const lines = done.stdout.trim().split('\n').map((l) => JSON.parse(l) as { dir: string; name: string; fields: Record<string, unknown> });
    expect(lines.filter((l) => l.name === 'chat').map((l) => l.fields.text)).toEqual(['rewritten']);
    expect(lines.filter((l) => l.name === 'chat_msg').map((l) => l.fields.text)).toEqual(['rewritten']);
    expect(done.stderr).toMatch(/1 modified, 0 dropped, 0 injected\), 0 script errors/);
    const d = await (await startCli(['decode', '-r', rec, '--json'], null)).done;
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout.trim().split('\n').length).toBe(lines.length);
  }, 30_000);

  it('says what is wrong: no --target, a script that does not load, a port in use', async () => {
    const bad = join(dir, 'bad.ts');
    writeFileSync(bad, 'export const x = ;\n');
    const none = join(dir, 'none.js');
    writeFileSync(none, 'module.exports = { hello: 1 };\n');
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    stops.push(() => new Promise<void>((r) => taken.close(() => r())));
    const busy = (taken.address() as net.AddressInfo).port;
    for (const [args, why] of [
      [['proxy', '--listen', '0'], /give --target HOST:PORT/],
      [['proxy', '--target', 'nohost'], /--target "nohost": expected HOST:PORT/],
      [['proxy', '--target', '127.0.0.1:1', '--listen', '0', '--script', bad], /--script .*bad\.ts: it does not load/],
      [['proxy', '--target', '127.0.0.1:1', '--listen', '0', '--script', none], /exports none of onConnect, onMessage, onClose/],
      [['proxy', '--target', '127.0.0.1:1', '--listen', String(busy), '--no-udp'], /cannot start the proxy on 127\.0\.0\.1:\d+: the port is in use/],
    ] as const) {
      const r = await (await startCli([...args], null)).done;
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).not.toMatch(/internal error/);
    }
  });
});

describe('proxy intercept (the UI\'s keys)', () => {
  it('holds a direction; sends a held message as it is, edited, or drops it; composes one from a template', async () => {
    const { interceptHooks } = await import('../../src/cli/proxy');
    const seen: unknown[] = [];
    const srv = await serve(testgame, { port: 0, udpPort: 0 }, (peer) => peer.on('*', (m) => seen.push([m.name, m.fields])));
    stops.push(() => srv.close());
    const px = new Proxy({ protocol: testgame, listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: srv.port }, messageLevel: true });
    await px.start();
    stops.push(() => px.stop());
    const ic = interceptHooks(px);
    expect(ic.cycle()).toMatch(/holding c2s messages/);
    const c = await openClient(testgame, { port: px.port, udpPort: 0 });
    stops.push(() => c.close());
    c.send('chat', { text: 'one' });
    c.send('chat', { text: 'two' });
    c.send('chat', { text: 'three' });
    // a direction's messages stay in order: the next is held once the one before it is decided
    const held = async (text: string) => {
      for (let i = 0; i < 100 && ic.oldest()?.json !== JSON.stringify({ text }); i++) await new Promise((r) => setTimeout(r, 10));
      expect(ic.oldest()?.json).toBe(JSON.stringify({ text }));
    };
    await held('one');
    expect(ic.status()).toMatch(/\[hold c2s: 1 held; next #0 c2s chat\]/);
    expect(ic.accept()).toMatch(/sent chat as it was/);
    await held('two');
    expect(ic.accept('{oops')).toMatch(/not JSON.*still held/);
    expect(ic.accept('{"text": "TWO!"}')).toMatch(/with your fields/);
    await held('three');
    expect(ic.drop()).toMatch(/dropped chat/);
    expect(ic.template('c2s move')).toEqual({ json: '{"seq":0,"pos":{"x":0,"y":0},"running":false}' });
    expect(ic.template('c2s nope')).toMatch(/no c2s message nope/);
    expect(ic.send('c2s move', '{"seq":7,"pos":{"x":1.5,"y":2},"running":true}')).toMatch(/sent c2s move/);
    for (let i = 0; i < 50 && px.held.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
    // the composed message goes through the hold too; turning intercept off lets it go
    expect(ic.cycle()).toMatch(/holding s2c/);
    for (let i = 0; i < 50 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual([['chat', { text: 'one' }], ['chat', { text: 'TWO!' }], ['move', { seq: 7, pos: { x: 1.5, y: 2 }, running: true }]]);
  });
});

describe('proxy: ends, half-closes and early bytes (from a review)', () => {
  const echo = loadProtocol('echo', ROOT);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** A raw TCP server: `onConn` gets each socket (half-open allowed). */
  async function rawServer(onConn: (s: net.Socket) => void): Promise<number> {
    const srv = net.createServer({ allowHalfOpen: true }, onConn);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    stops.push(() => new Promise<void>((r) => srv.close(() => r())));
    return (srv.address() as net.AddressInfo).port;
  }

  /** Connect, optionally write and half-close, and collect everything until the server's end. */
  function collect(port: number, send?: string, halfClose = false): Promise<Buffer> {
    return new Promise((resolve) => {
      const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      const parts: Buffer[] = [];
      c.on('data', (d) => parts.push(d));
      c.on('end', () => {
        c.end();
        resolve(Buffer.concat(parts));
      });
      c.on('error', () => resolve(Buffer.concat(parts)));
      if (send !== undefined) c.write(send);
      if (halfClose) c.end();
    });
  }

  it('a server that sends and closes while a hook still waits: everything reaches the client', async () => {
    const payload = Buffer.alloc(1 << 20, 7);
    const port = await rawServer((s) => s.end(payload));
    const px = new Proxy({ protocol: echo, listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port }, script: { onMessage: () => sleep(2) } });
    await px.start();
    stops.push(() => px.stop());
    const got = await collect(px.port);
    expect(got.length).toBe(payload.length);
  });

  it('a client that half-closes still gets the answer the server sends after its FIN (with and without a script)', async () => {
    const port = await rawServer((s) => {
      const parts: Buffer[] = [];
      s.on('data', (d) => parts.push(d));
      s.on('end', () => s.end(`got ${Buffer.concat(parts).toString()}`));
    });
    for (const script of [undefined, { onMessage: () => undefined }]) {
      const px = new Proxy({ protocol: echo, listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port }, script });
      await px.start();
      stops.push(() => px.stop());
      expect((await collect(px.port, 'hello', true)).toString()).toBe('got hello');
    }
  });

  it('an onConnect that injects and then waits: the client\'s first bytes are not lost', async () => {
    let seen = '';
    const port = await rawServer((s) => {
      s.on('data', (d) => {
        seen += d.toString();
        if (seen.includes('client-hello')) s.end('ok');
      });
    });
    const px = new Proxy({
      protocol: echo,
      listen: { host: '127.0.0.1', port: 0 },
      target: { host: '127.0.0.1', port },
      script: {
        async onConnect(ctx) {
          ctx.inject('c2s', 'data', { bytes: Buffer.from('[INJ]') });
          await sleep(200);
        },
      },
    });
    await px.start();
    stops.push(() => px.stop());
    expect((await collect(px.port, 'client-hello')).toString()).toBe('ok');
    expect(seen).toBe('[INJ]client-hello');
  });
});
