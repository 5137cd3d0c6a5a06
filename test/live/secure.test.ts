/**
 * The test game with --secure: a key exchange after login, then both directions under
 * AES-128-CFB8. Decoded live with the client's key log every message is named; without it the
 * encrypted part is raw with the reason. A recording of it replays against a fresh server with
 * the key log: the same seed gives no divergence, another gives field-level divergences.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadProtocol } from '../../src/protocol/protocol';
import { runGameClient } from '../../src/testbed/game-client';
import { GameServer } from '../../src/testbed/game-server';
import { ROOT, startCli, type CliResult } from '../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'gs-secure-'));
const tg = loadProtocol('testgame', ROOT);
const servers: GameServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

async function server(seed: number, keylog?: string): Promise<GameServer> {
  const s = new GameServer(tg, { port: 0, udpPort: 0, seed, secure: true, keylog });
  await s.start();
  servers.push(s);
  return s;
}

const lines = (r: CliResult) => r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { name: string | null; raw?: string; error?: unknown; dir: string });

describe('the test game under a cipher, live on loopback', () => {
  const keylog = join(dir, 'client.keys');
  const rec = join(dir, 'secure.gsrec');
  const recKeyed = join(dir, 'secure-keys.gsrec');

  it('with the client\'s key log every message is named; without it the encrypted part is raw, with the reason; record keeps the session', async () => {
    writeFileSync(keylog, '');
    const s = await server(7);
    const ports = ['--port', String(s.port), '-p', 'testgame'];
    const withKeys = await startCli(['decode', ...ports, '--keylog', keylog, '--json'], 'capturing on');
    const without = await startCli(['decode', ...ports, '--json'], 'capturing on');
    const recording = await startCli(['record', ...ports, '-o', rec], 'capturing on');
    // record with the key log: the recording keeps the keys, and decodes without one
    const recordingKeys = await startCli(['record', ...ports, '--keylog', keylog, '-o', recKeyed], 'capturing on');
    const r = await runGameClient(tg, { port: s.port, udpPort: 0, name: 'sec', rounds: 6, seed: 3, secure: true, keylog, timeout: 10_000 });
    expect(r.rounds).toBe(6);
    await new Promise((res) => setTimeout(res, 300));
    for (const c of [withKeys, without, recording, recordingKeys]) c.child.kill('SIGINT');
    const [a, b, done, doneKeys] = await Promise.all([withKeys.done, without.done, recording.done, recordingKeys.done]);
    expect(done.code, done.stderr).toBe(0);
    expect(doneKeys.code, doneKeys.stderr).toBe(0);

    expect(a.code, a.stderr).toBe(0);
    const named = lines(a);
    expect(named.every((m) => m.name && !m.raw && !m.error)).toBe(true);
    expect(named.map((m) => m.name)).toEqual(expect.arrayContaining(['key_request', 'key_response', 'set_compression', 'inventory', 'ack_login', 'snapshot', 'bye']));
    expect(named.length).toBe(r.sent + r.received);

    expect(b.code).toBe(1);
    const plain = lines(b);
    const firstRaw = plain.findIndex((m) => m.raw);
    // everything up to the key exchange decodes; everything after it is raw, never garbage fields
    expect(plain.slice(0, firstRaw).map((m) => m.name)).toEqual(['hello', 'hello_ack', 'login', 'login_ok', 'key_request', 'key_response']);
    expect(plain.slice(firstRaw).every((m) => m.raw && !m.name)).toBe(true);
    expect(plain[firstRaw]!.raw).toMatch(/aes-128-cfb8.*session_key.*--keylog/);
    expect(readFileSync(keylog, 'utf8')).toMatch(/^127\.0\.0\.1:\d+ session_key [0-9a-f]{32}\n$/);
  }, 30_000);

  it('a recording made with --keylog holds the keys: it decodes without the key log, and info lists them', async () => {
    const d = await (await startCli(['decode', '-r', recKeyed, '--json'], null)).done;
    expect(d.code, d.stderr).toBe(0);
    expect(lines(d).every((m) => m.name)).toBe(true);
    const info = await (await startCli(['info', recKeyed], null)).done;
    expect(info.stdout).toMatch(/keys session_key/);
    // without keys recorded, the same session is raw past the key exchange
    const plain = await (await startCli(['decode', '-r', rec, '--json'], null)).done;
    expect(plain.code).toBe(1);
    // and it replays with the keys it holds
    const s = await server(7);
    const r = await (await startCli(['replay', recKeyed, '--as', 'client', '--target', `127.0.0.1:${s.port}`, '--fast'], null)).done;
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('the recording decodes with the key log, and replays against a fresh --secure server: same seed exit 0, another seed field by field', async () => {
    const d = await startCli(['decode', '-r', rec, '--keylog', keylog, '--json'], null);
    const dr = await d.done;
    expect(dr.code, dr.stderr).toBe(0);
    expect(lines(dr).every((m) => m.name)).toBe(true);

    const same = await server(7);
    const r1 = await (await startCli(['replay', rec, '--as', 'client', '--target', `127.0.0.1:${same.port}`, '--keylog', keylog, '--fast'], null)).done;
    expect(r1.code, r1.stdout + r1.stderr).toBe(0);
    expect(r1.stdout).toMatch(/0 divergences/);

    const other = await server(8);
    const r2 = await (await startCli(['replay', rec, '--as', 'client', '--target', `127.0.0.1:${other.port}`, '--keylog', keylog, '--fast'], null)).done;
    expect(r2.code, r2.stdout + r2.stderr).toBe(1);
    expect(r2.stdout).toContain('hello_ack.motd: recorded "welcome to testgame (seed 7)", live "welcome to testgame (seed 8)"');
    // past the key exchange too: the encrypted replies are compared field by field
    expect(r2.stdout).toMatch(/snapshot\.entities\[\d+\]\.pos\.x: recorded/);
    expect(r2.stdout).not.toMatch(/undecodable|do not decode/);
  }, 30_000);
});
