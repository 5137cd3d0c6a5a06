/**
 * The browser-style test game (WebSocket, permessage-deflate, msgpack maps named by `t`), live on
 * loopback: every message the game's own client logged is decoded off the wire, named, in order,
 * with the same fields; a recording of it replays as client against a fresh server and as server
 * to a fresh client, with no options, exit 0.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runWsGameClient, WsGameServer } from '../../src/testbed/ws-game';
import { startCli, type CliResult } from '../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'gs-ws-'));
const servers: WsGameServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

async function server(seed: number): Promise<WsGameServer> {
  const s = new WsGameServer({ port: 0, seed });
  await s.start();
  servers.push(s);
  return s;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

interface Line {
  dir: string;
  name: string | null;
  fields?: Record<string, unknown>;
  raw?: string;
  error?: unknown;
  frame?: Record<string, unknown>;
}
const lines = (r: CliResult) => r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
/** The game's log writes bytes as {hex}; gamesniff's JSON as a hex string. */
const unhex = (v: unknown): unknown => JSON.parse(JSON.stringify(v), (_k, x) => (x && typeof x === 'object' && typeof x.hex === 'string' && Object.keys(x).length === 1 ? x.hex : x));
const OWN = new Set(['http_request', 'http_response', 'ws_ping', 'ws_pong', 'ws_close']);

describe('the browser-style test game, live on loopback', () => {
  const rec = join(dir, 'ws.gsrec');
  const log = join(dir, 'client.jsonl');
  let port = 0;

  it('every message the client logged is decoded, named, in order, with its fields; 0 errors, 0 raw', async () => {
    const s = await server(5);
    port = s.port;
    const decode = await startCli(['decode', '--port', String(s.port), '-p', 'wsgame', '--json', '--full'], 'capturing on');
    const record = await startCli(['record', '--port', String(s.port), '-p', 'wsgame', '-o', rec], 'capturing on');
    const r = await runWsGameClient({ port: s.port, seed: 9, rounds: 6, messageLog: log, timeout: 10_000 });
    expect(r.rounds).toBe(6);
    await new Promise((res) => setTimeout(res, 300));
    decode.child.kill('SIGINT');
    record.child.kill('SIGINT');
    const [d, rc] = await Promise.all([decode.done, record.done]);
    expect(d.code, d.stderr).toBe(0);
    expect(rc.code, rc.stderr).toBe(0);
    const got = lines(d);
    expect(got.filter((m) => m.raw || m.error)).toEqual([]);
    const logged = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { dir: string; name: string; fields: unknown });
    const app = got.filter((m) => !OWN.has(m.name!));
    expect(app.map((m) => `${m.dir}.${m.name}`)).toEqual(logged.map((m) => `${m.dir}.${m.name}`));
    app.forEach((m, i) => expect(m.fields, `${m.dir}.${m.name} #${i}`).toEqual(unhex(logged[i]!.fields)));
    // the layer's own messages: the upgrade both ways, the ping among the map's fragments and its pong, the closes
    expect(got.slice(0, 2).map((m) => m.name)).toEqual(['http_request', 'http_response']);
    expect(got.map((m) => m.name)).toEqual(expect.arrayContaining(['ws_ping', 'ws_pong', 'ws_close']));
    const map = got.find((m) => m.name === 'map')!;
    expect(map.frame).toMatchObject({ compressed: true });
    expect(map.frame!.fragments as number).toBeGreaterThanOrEqual(4);
    expect(got.find((m) => m.name === 'report')!.frame!.fragments as number).toBeGreaterThan(1);
  }, 30_000);

  it('the recording replays as client against a fresh server with the same seed: exit 0, no options', async () => {
    const s = await server(5);
    const r = await (await startCli(['replay', rec, '--as', 'client', '--target', `127.0.0.1:${s.port}`, '--fast'], null)).done;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/0 divergences/);
    // the token the live server gave went into our moves (carry), so they were encoded anew
    expect(r.stdout).toMatch(/\([1-9]\d* rewritten\)/);
  }, 30_000);

  it('and as server to a fresh client: exit 0', async () => {
    const listen = await freePort();
    const replay = await startCli(['replay', rec, '--as', 'server', '--listen', String(listen), '--fast'], 'listening on');
    const r = await runWsGameClient({ port: listen, seed: 9, rounds: 6, timeout: 10_000 });
    expect(r.rounds).toBe(6);
    const done = await replay.done;
    expect(done.code, done.stdout + done.stderr).toBe(0);
    expect(done.stdout).toMatch(/0 divergences/);
    expect(port).toBeGreaterThan(0);
  }, 30_000);

  it('the recording decodes the same as the capture did, and another seed diverges field by field', async () => {
    const d = await (await startCli(['decode', '-r', rec, '--json'], null)).done;
    expect(d.code, d.stderr).toBe(0);
    expect(lines(d).every((m) => m.name)).toBe(true);
    const s = await server(6);
    const r = await (await startCli(['replay', rec, '--as', 'client', '--target', `127.0.0.1:${s.port}`, '--fast'], null)).done;
    expect(r.code, r.stdout).toBe(1);
    expect(r.stdout).toMatch(/map\.tiles/);
  }, 30_000);
});
