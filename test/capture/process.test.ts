/**
 * --process / --pid: the ports of a running application from /proc, followed as it opens them.
 * A made-up /proc for the rules, and a live game server on a random port found by its name.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findPids, portsOf, ProcessPorts } from '../../src/capture/process';
import { gs, ROOT, startCli } from '../helpers/cli';

/** A /proc with one process (pid 42, command "mygame") holding sockets 100-103. */
function fakeProc(): string {
  const proc = mkdtempSync(join(tmpdir(), 'gs-proc-'));
  mkdirSync(join(proc, '42/fd'), { recursive: true });
  mkdirSync(join(proc, 'net'));
  writeFileSync(join(proc, '42/comm'), 'mygame\n');
  writeFileSync(join(proc, '42/cmdline'), '/usr/games/mygame\0--fast\0');
  writeFileSync(join(proc, '42/stat'), '42 (mygame) S');
  ['100', '101', '102', '103'].forEach((ino, i) => symlinkSync(`socket:[${ino}]`, join(proc, `42/fd/${i + 3}`)));
  symlinkSync('pipe:[7]', join(proc, '42/fd/9'));
  const head = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
  // 100: listening on 0x5DC0 (24000); 101: a client of it (served here); 102: a client of a remote server on 0x1F90 (8080); 999: someone else's
  writeFileSync(join(proc, 'net/tcp'), head +
    '   0: 0100007F:5DC0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1\n' +
    '   1: 0100007F:5DC0 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 101 1\n' +
    '   2: 0100007F:D431 0A000001:1F90 01 00000000:00000000 00:00000000 00000000     0        0 102 1\n' +
    '   3: 0100007F:1234 0100007F:4321 01 00000000:00000000 00:00000000 00000000     0        0 999 1\n');
  // 103: a UDP socket bound to 0x5DC1 (24001)
  writeFileSync(join(proc, 'net/udp'), head + '   0: 0100007F:5DC1 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 103 2\n');
  writeFileSync(join(proc, 'net/tcp6'), head);
  writeFileSync(join(proc, 'net/udp6'), head);
  return proc;
}

describe('the ports of a process', () => {
  it('listening ports, the server port of its client connections, bound UDP ports; by command or argv[0]', () => {
    const proc = fakeProc();
    expect(findPids({ name: 'mygame' }, proc)).toEqual([42]);
    expect(findPids({ name: 'other' }, proc)).toEqual([]);
    expect([...portsOf([42], proc)].sort()).toEqual([24000, 24001, 8080]);
    expect(() => new ProcessPorts({ name: 'nosuch' }, proc)).toThrow(/--process nosuch: no process of that name/);
    expect(() => findPids({ pid: 7 }, proc)).toThrow(/--pid 7: no such process/);
  });

  it('bad combinations are usage errors (exit 2)', () => {
    for (const [args, why] of [
      [['decode', '-p', 'testgame', '--process', 'no-such-game-here'], /no process of that name/],
      [['decode', '-p', 'testgame', '--pid', '999999999'], /--pid 999999999: no such process/],
      [['decode', '-p', 'testgame', '--process', 'x', '--port', '24000'], /leave --port out/],
      [['decode', '-p', 'testgame', '--process', 'x', '--pid', '1'], /not both/],
      [['decode', '-r', join(ROOT, 'recordings/echo.gsrec'), '--process', 'x'], /--process and --pid are for live capture/],
    ] as const) {
      const r = gs([...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(why);
    }
  });

  it('live: a game that starts listening on a random port after the capture began is found and decoded', async () => {
    const name = `gs-late-game-${process.pid}`;
    // a process under a name of its own that waits a moment, then serves the test game on a random port
    const script = `setTimeout(() => { const { GameServer } = require(${JSON.stringify(join(ROOT, 'dist/testbed/game-server.js'))}); const { loadProtocol } = require(${JSON.stringify(join(ROOT, 'dist/protocol/protocol.js'))}); const s = new GameServer(loadProtocol('testgame'), { port: 0, udpPort: 0, seed: 1 }); s.start().then(() => console.log('PORT ' + s.port)); setTimeout(() => process.exit(0), 8000); }, 1500);`;
    const game = spawn('bash', ['-c', `exec -a ${name} ${JSON.stringify(process.execPath)} -e ${JSON.stringify(script)}`], { cwd: ROOT });
    let out = '';
    game.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await new Promise((r) => setTimeout(r, 300));
      const dec = await startCli(['decode', '-p', 'testgame', '--process', name, '--json'], 'capturing on');
      for (let i = 0; i < 50 && !/PORT \d+/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
      const port = Number(/PORT (\d+)/.exec(out)![1]);
      // the poll sees the new port within a second or so
      await new Promise((r) => setTimeout(r, 1600));
      const client = gs(['testbed', 'client', '--port', String(port), '--udp-port', '0', '--rounds', '2']);
      expect(client.code, client.stderr).toBe(0);
      await new Promise((r) => setTimeout(r, 300));
      dec.child.kill('SIGINT');
      const d = await dec.done;
      expect(d.code, d.stderr).toBe(0);
      expect(d.stderr).toMatch(new RegExp(`process ${name}: ports \\(none yet\\)`));
      expect(d.stderr).toMatch(new RegExp(`process ${name}: ports now ${port}`));
      const names = d.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { name: string }).name);
      expect(names.slice(0, 2)).toEqual(['hello', 'hello_ack']);
      expect(names).toContain('bye');
    } finally {
      game.kill();
    }
  }, 30_000);
});
