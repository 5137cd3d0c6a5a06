import { mkdtempSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProtocol } from '../../src/protocol/protocol';
import { GameServer } from '../../src/testbed/game-server';
import { runGameClient, type GameClientOptions } from '../../src/testbed/game-client';
import { ROOT, startCli, type CliResult } from '../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'gs-replay-'));
const tg = loadProtocol('testgame', ROOT);
const SEED = 5;
const servers: GameServer[] = [];
const solo = join(dir, 'solo.gsrec');
const duo = join(dir, 'duo.gsrec');
const client = (name: string, seed: number): Omit<GameClientOptions, 'port' | 'udpPort'> => ({ name, rounds: 12, seed, timeout: 10_000 });

async function server(seed: number): Promise<GameServer> {
  const s = new GameServer(tg, { port: 0, seed });
  await s.start();
  servers.push(s);
  return s;
}

/** Record the clients playing against a fresh server with SEED. */
async function record(file: string, clients: Omit<GameClientOptions, 'port' | 'udpPort'>[]): Promise<void> {
  const s = await server(SEED);
  const rec = await startCli(['record', '-p', 'testgame', '--port', `${s.port},${s.udpPort}`, '-o', file], 'capturing on');
  await Promise.all(clients.map((c) => runGameClient(tg, { ...c, port: s.port, udpPort: s.udpPort })));
  await new Promise((r) => setTimeout(r, 300));
  rec.child.kill('SIGINT');
  const done = await rec.done;
  expect(done.code, done.stderr).toBe(0);
}

async function replay(args: string[]): Promise<CliResult> {
  const r = await startCli(['replay', ...args], null);
  return r.done;
}

beforeAll(async () => {
  await record(solo, [client('solo', 21)]);
  await record(duo, [client('ann', 31), client('ben', 32)]);
}, 30_000);
afterAll(async () => {
  for (const s of servers) await s.stop();
});

describe('replay against the live test game', () => {
  it('as client, against a fresh server with the same seed: nothing diverges (exit 0)', async () => {
    const s = await server(SEED);
    // no --rewrite: the protocol file's carry: [token] on login_ok carries the live token back
    const r = await replay([solo, '--as', 'client', '--target', `127.0.0.1:${s.port}`, '--fast']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/1 rewritten\), \d+ received, \d+ compared, 0 divergences/);
    expect(r.stdout).toMatch(/result: same as recorded/);
  });

  it('two connections and their UDP flows replay in the recorded order, paced as recorded', async () => {
    const s = await server(SEED);
    // Which of two clients' sockets the server reads first is up to its event loop, live as when
    // recorded: the other player's position in a UDP reply is not repeatable, so it is ignored.
    const r = await replay([duo, '--as', 'client', '--target', `127.0.0.1:${s.port}`, '--rewrite', 'login_ok.token', '--ignore', 'positions.players', '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { result: string; connections: number; compared: number; divergences: unknown[] };
    expect(j).toMatchObject({ result: 'same', connections: 4, divergences: [] });
    expect(j.compared).toBeGreaterThan(50);
  });

  it('against a server with another seed: exit 1, naming the fields', async () => {
    const s = await server(SEED + 1);
    const r = await replay([solo, '--as', 'client', '--target', `127.0.0.1:${s.port}`, '--rewrite', 'login_ok.token', '--fast']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`#0 s2c [0] hello_ack.motd: recorded "welcome to testgame (seed ${SEED})", live "welcome to testgame (seed ${SEED + 1})"`);
    expect(r.stdout).toMatch(/#0 s2c \[1\] login_ok\.spawn\.x: recorded [\d.]+, live [\d.]+/);
    expect(r.stdout).toMatch(/result: diverged/);
  });

  it('a modified reply: exit 1, and only that field is reported', async () => {
    const s = await server(SEED);
    // A proxy that changes one byte of the server's greeting on its way to the client.
    const proxy = net.createServer((down) => {
      const up = net.connect(s.port, '127.0.0.1');
      let first = true;
      up.on('data', (d: Buffer) => {
        if (first) {
          first = false;
          const at = d.indexOf(`(seed ${SEED})`);
          if (at >= 0) d[at + 6] = 'X'.charCodeAt(0);
        }
        down.write(d);
      });
      down.on('data', (d) => up.write(d));
      up.on('end', () => down.end());
      down.on('end', () => up.end());
      up.on('error', () => down.destroy());
      down.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const port = (proxy.address() as net.AddressInfo).port;
    // UDP goes straight to the server.
    const r = await replay([solo, '--as', 'client', '--target', `127.0.0.1:${port}`, '--udp-target', `127.0.0.1:${s.udpPort}`, '--rewrite', 'login_ok.token', '--fast', '--json']);
    proxy.close();
    expect(r.code, r.stderr).toBe(1);
    const j = JSON.parse(r.stdout) as { divergences: { path: string; recorded: string; live: string; index: number; name: string }[] };
    expect(j.divergences).toEqual([expect.objectContaining({ kind: 'field', index: 0, name: 'hello_ack', path: 'hello_ack.motd', recorded: `welcome to testgame (seed ${SEED})`, live: 'welcome to testgame (seed X)' })]);
  });

  it('as server: the test game client plays all its rounds against the recording (exit 0)', async () => {
    const rp = await startCli(['replay', solo, '--as', 'server', '--listen', '0', '--fast'], 'replay listening on');
    const m = /listening on 127\.0\.0\.1:(\d+), udp 127\.0\.0\.1:(\d+)/.exec(rp.stderr())!;
    const result = await runGameClient(tg, { ...client('solo', 21), port: Number(m[1]), udpPort: Number(m[2]) });
    expect(result.rounds).toBe(12);
    const r = await rp.done;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/as server: 2 connections, \d+ messages sent .* 0 divergences/);
  });

  it('as server: a garbage connection and a silent one before the real client take no place (exit 0, both noted)', async () => {
    const rp = await startCli(['replay', solo, '--as', 'server', '--listen', '0', '--fast'], 'replay listening on');
    const m = /listening on 127\.0\.0\.1:(\d+), udp 127\.0\.0\.1:(\d+)/.exec(rp.stderr())!;
    const port = Number(m[1]);
    const silent = net.connect(port, '127.0.0.1');
    const garbage = net.connect(port, '127.0.0.1', () => garbage.write(Buffer.from('0200ffee', 'hex')));
    garbage.on('error', () => undefined);
    silent.on('error', () => undefined);
    await new Promise((r) => garbage.on('close', r));
    const result = await runGameClient(tg, { ...client('solo', 21), port, udpPort: Number(m[2]) });
    expect(result.rounds).toBe(12);
    silent.destroy();
    const r = await rp.done;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/note: ignored a connection closed because its first message does not decode/);
  });

  it('bad use is an error (exit 2): no target, a refused connection, a rule naming no message', async () => {
    expect((await replay([solo, '--as', 'client'])).stderr).toMatch(/--as client needs --target/);
    const free = net.createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const port = (free.address() as net.AddressInfo).port;
    await new Promise((r) => free.close(r));
    const refused = await replay([solo, '--as', 'client', '--target', `127.0.0.1:${port}`, '--fast', '--connect-wait', '300']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/cannot connect to 127\.0\.0\.1:\d+ \(recorded connection #0\): connect ECONNREFUSED/);
    const bad = await replay([solo, '--as', 'client', '--target', '127.0.0.1:1', '--rewrite', 'nosuch.token']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/protocol testgame has no message "nosuch"/);
  });
});
