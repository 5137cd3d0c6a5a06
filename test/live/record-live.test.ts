import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProtocol } from '../../src/protocol/protocol';
import { readRecording } from '../../src/recording/reader';
import { GameServer } from '../../src/testbed/game-server';
import { runGameClient, type GameClientResult } from '../../src/testbed/game-client';
import { gs, ROOT, startCli } from '../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'gs-reclive-'));
const tg = loadProtocol('testgame', ROOT);
let server: GameServer;

beforeAll(async () => {
  server = new GameServer(tg, { port: 0, seed: 11 });
  await server.start();
});
afterAll(() => server.stop());

/** Every message the clients exchanged: their TCP messages both ways, and a position and its reply per round. */
const expectedMessages = (rs: GameClientResult[]): number => rs.reduce((n, r) => n + r.sent + r.received + 2 * r.rounds, 0);

async function play(clients: number, rounds: number): Promise<GameClientResult[]> {
  return Promise.all(
    Array.from({ length: clients }, (_, i) => runGameClient(tg, { port: server.port, udpPort: server.udpPort, name: `p${i}`, rounds, seed: 100 + i, timeout: 10_000 })),
  );
}

describe('recording the test game live on loopback', () => {
  it('records three clients at full speed with no byte lost, and the recording decodes with no error', async () => {
    const rec = join(dir, 'full.gsrec');
    const recorder = await startCli(['record', '-p', 'testgame', '--port', `${server.port},${server.udpPort}`, '-o', rec, '--duration', '20'], 'capturing on');
    const results = await play(3, 60);
    await new Promise((r) => setTimeout(r, 300));
    recorder.child.kill('SIGINT');
    const done = await recorder.done;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toMatch(/dropped 0/);
    expect(done.stderr).toMatch(/recorded 3 TCP connections, 3 UDP flows, \d+ bytes of payload, 0 gaps/);

    const d = gs(['decode', '-r', rec, '--json']);
    expect(d.code, d.stderr).toBe(0);
    const msgs = d.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string | null; error?: unknown; raw?: unknown });
    expect(msgs.filter((m) => m.error || m.raw || !m.name)).toEqual([]);
    expect(msgs).toHaveLength(expectedMessages(results));

    const info = gs(['info', rec, '--json']);
    const j = JSON.parse(info.stdout) as { complete: boolean; protocolFile: string; coverage: { failed: number; byName: Record<string, { count: number }> } };
    expect(j.complete).toBe(true);
    expect(j.protocolFile).toBe('matches');
    expect(j.coverage.failed).toBe(0);
    expect(j.coverage.byName.snapshot.count).toBe(180);
  });

  it('a recorder killed with SIGKILL leaves a recording that reads up to its last whole record', async () => {
    const rec = join(dir, 'killed.gsrec');
    const recorder = await startCli(['record', '-p', 'testgame', '--port', `${server.port},${server.udpPort}`, '-o', rec], 'capturing on');
    const results = await play(1, 20);
    // The writer flushes at least every 200 ms.
    await new Promise((r) => setTimeout(r, 600));
    recorder.child.kill('SIGKILL');
    await recorder.done;
    let records = 0;
    const read = await readRecording(rec, () => records++);
    expect(read.finished).toBe(false);
    expect(read.warning).toMatch(/cut short|ends inside a record/);
    expect(records).toBeGreaterThan(0);
    const d = gs(['decode', '-r', rec, '--json']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stderr).toMatch(/warning: the recording has no end marker/);
    expect(d.stdout.trim().split('\n')).toHaveLength(expectedMessages(results));
  });
});
