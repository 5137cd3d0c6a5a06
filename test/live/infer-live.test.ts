import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProtocol } from '../../src/protocol/protocol';
import { GameServer } from '../../src/testbed/game-server';
import { runGameClient } from '../../src/testbed/game-client';
import { gs, ROOT, startCli } from '../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'gs-inferlive-'));
const tg = loadProtocol('testgame', ROOT);
let server: GameServer;

beforeAll(async () => {
  server = new GameServer(tg, { port: 0, seed: 5 });
  await server.start();
});
afterAll(() => server.stop());

describe('gamesniff infer, live on loopback', () => {
  it('infers the test game from its live traffic (Ctrl-C ends the capture), and the draft decodes a recording of it with 0 errors', async () => {
    const out = join(dir, 'draft');
    const rec = join(dir, 'game.gsrec');
    const ports = `${server.port},${server.udpPort}`;
    const inferring = await startCli(['infer', '--port', ports, '--duration', '20', '-o', out, '--name', 'live'], 'capturing on');
    const recording = await startCli(['record', '--port', ports, '-o', rec, '--duration', '20'], 'capturing on');
    await Promise.all([0, 1].map((i) => runGameClient(tg, { port: server.port, udpPort: server.udpPort, name: `p${i}`, rounds: 20, seed: 40 + i, timeout: 10_000 })));
    await new Promise((r) => setTimeout(r, 300));
    inferring.child.kill('SIGINT');
    recording.child.kill('SIGINT');
    const [r, d] = [await inferring.done, await recording.done];
    expect(r.code, r.stderr).toBe(0);
    expect(d.code, d.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^tcp port ${server.port}: framing length u16le$`, 'm'));
    expect(r.stdout).toMatch(/the draft decodes the input: (\d+) messages, \1 named, 0 errors, 0 raw/);
    expect(readFileSync(join(out, 'protocol.yaml'), 'utf8')).toMatch(/^protocol: live$/m);
    const decode = gs(['decode', '-p', join(out, 'protocol.yaml'), '-r', rec, '--port', ports]);
    expect(decode.code, decode.stderr).toBe(0);
  });
});
