import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadProtocol } from '../../src/protocol/protocol';
import { GameServer } from '../../src/testbed/game-server';
import { gs, ROOT, startCli } from '../helpers/cli';

const SAMPLES = readdirSync(join(ROOT, 'recordings')).filter((f) => f.endsWith('.gsrec'));
const servers: GameServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

describe('the sample recordings in recordings/', () => {
  it('are there: the test game alone and with two players, the echo pair, the chat room', () => {
    expect(SAMPLES.sort()).toEqual(['chatroom.gsrec', 'echo.gsrec', 'testgame-duo.gsrec', 'testgame-solo.gsrec']);
  });

  it.each(SAMPLES)('%s is complete, made with the current protocol file, and decodes without an error', (name) => {
    const r = gs(['info', join('recordings', name), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { complete: boolean; protocolFile: string; coverage: { messages: number; failed: number } };
    expect(j.complete).toBe(true);
    // When a protocol file changes, `npm run samples` makes the samples again.
    expect(j.protocolFile).toBe('matches');
    expect(j.coverage.messages).toBeGreaterThan(0);
    expect(j.coverage.failed).toBe(0);
  });

  it('testgame-solo replays with no divergence against a server with the seed it was made with', async () => {
    const s = new GameServer(loadProtocol('testgame', ROOT), { port: 0, seed: 1 });
    await s.start();
    servers.push(s);
    const r = await (await startCli(['replay', 'recordings/testgame-solo.gsrec', '--as', 'client', '--target', `127.0.0.1:${s.port}`, '--fast'], null)).done;
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});
