/**
 * The example bots (src/examples/bot/), compiled, against the test games: the bot against
 * GameServer plain and secure (through a relay that decodes what passes, with the server's key
 * log), the ws bot against WsGameServer (its message log); and the generated clients they are
 * built on are what `gamesniff codegen` makes today.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Conversation, type ConversationMessage } from '../../src/conversation/conversation';
import { Proxy } from '../../src/proxy/proxy';
import type { ProxyScript } from '../../src/proxy/script';
import { KeyLog } from '../../src/conversation/keylog';
import { loadProtocol, type Protocol } from '../../src/protocol/protocol';
import { generateTypeScript } from '../../src/protocol/typescript';
import { GameServer, type GameServerOptions } from '../../src/testbed/game-server';
import { WsGameServer } from '../../src/testbed/ws-game';
import { ROOT } from '../helpers/cli';

const testgame = loadProtocol('testgame', ROOT);
const dir = mkdtempSync(join(tmpdir(), 'gs-bot-'));
const stops: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const s of stops) await s();
});

function run(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'dist/examples/bot', script), ...args], { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill(), 30_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** A TCP relay to `port` that decodes both directions as they pass (keys from `keylog`): what went over the wire, as `dir name`. */
async function decodingRelay(protocol: Protocol, port: number, keylog?: string, onMessage?: (m: ConversationMessage<null>) => void): Promise<{ port: number; seen: string[] }> {
  const seen: string[] = [];
  const keys = keylog ? new KeyLog(keylog) : null;
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    const conv = new Conversation(protocol, 'tcp', (m) => (seen.push(`${m.dir} ${m.name ?? `raw (${m.raw ?? m.error?.message})`}`), onMessage?.(m)), {
      flow: null,
      keys: keys ? () => keys.keysFor({ addr: upstream.localAddress ?? '', port: upstream.localPort ?? 0 }) : undefined,
    });
    const offset = { c2s: 0, s2c: 0 };
    const pass = (dir: 'c2s' | 's2c', from: net.Socket, to: net.Socket): void => {
      from.on('data', (d: Buffer) => {
        conv.received(dir, d, offset[dir], 0);
        offset[dir] += d.length;
        to.write(d);
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
    };
    pass('c2s', client, upstream);
    pass('s2c', upstream, client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  stops.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as net.AddressInfo).port, seen };
}

/** The test game server, its UDP on port + 1 (tried again on other ports when that one is taken). */
async function startGame(o: Omit<GameServerOptions, 'port'>): Promise<GameServer> {
  for (let attempt = 1; ; attempt++) {
    const s = new GameServer(testgame, { ...o, port: 0 });
    try {
      await s.start();
      stops.push(() => s.stop());
      return s;
    } catch (e) {
      if (attempt === 5) throw e;
    }
  }
}

describe('the example bot (src/examples/bot/bot.ts)', () => {
  for (const secure of [false, true]) {
    it(`walks to its target against the test game server${secure ? ' with --secure (the key exchange)' : ''}: exit 0`, async () => {
      const keylog = join(dir, `keys-${secure}.log`);
      writeFileSync(keylog, '');
      const log: string[] = [];
      const s = await startGame({ seed: 7, secure, keylog, log: (l) => log.push(l) });
      const relay = await decodingRelay(testgame, s.port, keylog);
      const r = await run('bot.js', ['--port', String(relay.port), '--udp-port', String(s.udpPort), '--target', '40,60', '--name', `bot${secure ? 's' : 'p'}`]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^arrived at \d+\.\d+,\d+\.\d+$/m);
      expect(r.stdout).toMatch(/^npc \d+ .* used an item/m);
      if (secure) expect(r.stdout).toMatch(/key exchange done/);
      // the server had nothing to complain about
      expect(log.filter((l) => /disconnecting/.test(l))).toEqual([]);
      // and the wire shows the session as the bot tells it, all decoded (the secure one with the server's key log)
      const seen = relay.seen;
      expect(seen.filter((x) => x.includes('raw'))).toEqual([]);
      const c2s = seen.filter((x) => x.startsWith('c2s ')).map((x) => x.slice(4));
      expect([...new Set(c2s)]).toEqual(['hello', 'login', ...(secure ? ['key_response'] : []), 'ack_login', 'chat', 'move', 'use_item', 'bye']);
      expect(c2s.filter((x) => x === 'move').length).toBeGreaterThan(3);
      expect(seen).toContain('s2c snapshot');
      expect(seen).toContain('s2c chat_msg');
      expect(seen.includes('s2c key_request')).toBe(secure);
    });
  }
});

describe('the example bot through gamesniff proxy', () => {
  it('a script rewrites its chat on the way: the server saw the rewritten text, and the bot still arrives', async () => {
    const s = await startGame({ seed: 8 });
    const seen: string[] = [];
    // what reaches the server, decoded on the wire between the proxy and the server
    const relay = await decodingRelay(testgame, s.port, undefined, (m) => m.name === 'chat' && seen.push(String(m.fields!.text)));
    const script: ProxyScript = {
      onMessage(msg) {
        if (msg.dir === 'c2s' && msg.name === 'chat') (msg.fields as { text: string }).text = 'rewritten by the proxy';
      },
    };
    const px = new Proxy({ protocol: testgame, listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: relay.port }, script });
    await px.start();
    stops.push(() => px.stop());
    const r = await run('bot.js', ['--port', String(px.port), '--udp-port', String(s.udpPort), '--target', '30,30', '--name', 'proxied']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^arrived at /m);
    expect(seen).toEqual(['rewritten by the proxy']);
    expect(px.stats.modified).toBe(1);
  });
});

describe('the example ws bot (src/examples/bot/ws-bot.ts)', () => {
  it('joins, walks, chats and leaves the WebSocket test game: exit 0', async () => {
    const messageLog = join(dir, 'ws-messages.log');
    const log: string[] = [];
    const s = new WsGameServer({ port: 0, seed: 3, messageLog, log: (l) => log.push(l) });
    await s.start();
    stops.push(() => s.stop());
    const r = await run('ws-bot.js', ['--port', String(s.port), '--target', '12,9']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^arrived at 12\.00,9\.00$/m);
    const messages = readFileSync(messageLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { dir: string; name: string; fields: Record<string, unknown> });
    const c2s = messages.filter((m) => m.dir === 'c2s');
    expect([...new Set(c2s.map((m) => m.name))]).toEqual(['join', 'move', 'chat', 'leave']);
    const token = messages.find((m) => m.name === 'welcome')!.fields.token;
    expect(c2s.filter((m) => m.name === 'move').every((m) => m.fields.token === token)).toBe(true);
    expect(messages.at(-1)).toMatchObject({ dir: 's2c', name: 'bye', fields: { reason: 'leave' } });
    expect(log.filter((l) => /closing \((?!1000)/.test(l))).toEqual([]);
  });
});

describe('the generated clients in src/examples/bot/', () => {
  it.each(['testgame', 'wsgame'])('%s.ts is what codegen makes from protocols/ today', (name) => {
    const committed = readFileSync(join(ROOT, 'src/examples/bot', `${name}.ts`), 'utf8');
    const fresh = generateTypeScript(loadProtocol(name, ROOT), { importFrom: '../../index' });
    expect(committed === fresh, `src/examples/bot/${name}.ts is out of date: run gamesniff codegen ${name} --ts src/examples/bot --import ../../index`).toBe(true);
  });
});
