/**
 * `gamesniff proxy` with its terminal UI in a pseudo-terminal: `i` holds the client's messages,
 * `a` sends the held one on, `q` quits with exit 0.
 */
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { openClient, serve } from '../../src/client/open';
import { loadProtocol } from '../../src/protocol/protocol';
import { CLI, ROOT } from '../helpers/cli';

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b[()][0-9A-Za-z]/g, '');
const testgame = loadProtocol('testgame', ROOT);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!hasScript)('gamesniff proxy, terminal UI', () => {
  it('holds, sends on, quits', async () => {
    const seen: string[] = [];
    const srv = await serve(testgame, { port: 0, udpPort: 0 }, (peer) =>
      peer.on('chat', (m) => {
        seen.push(String(m.fields!.text));
        peer.send('chat_msg', { from: 1, name: 'srv', text: m.fields!.text });
      }),
    );
    const listen = 24700 + Math.floor(Math.random() * 200);
    const cmd = `stty cols 160 rows 40; ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} proxy --listen ${listen} --target 127.0.0.1:${srv.port} -p testgame --no-udp`;
    const child = spawn('script', ['-qfc', cmd, '/dev/null'], { cwd: ROOT, env: { ...process.env, TERM: 'xterm' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
    const closed = new Promise<number | null>((r) => child.on('close', r));
    const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      for (let i = 0; i < 50 && !plain(out).includes('messages'); i++) await sleep(100);
      child.stdin.write('i');
      await sleep(300);
      const c = await openClient(testgame, { port: listen, udpPort: 0 });
      c.send('chat', { text: 'held for a moment' });
      // held: the server does not get it (the status bar says so, drawn in pieces)
      await sleep(800);
      expect(seen).toEqual([]);
      expect(plain(out)).toMatch(/holding c2s/);
      child.stdin.write('a');
      expect((await c.next('chat_msg', 5000)).fields!.text).toBe('held for a moment');
      expect(seen).toEqual(['held for a moment']);
      await c.close();
      await sleep(300);
      child.stdin.write('q');
      expect(await closed).toBe(0);
    } finally {
      clearTimeout(kill);
      child.kill();
      await srv.close();
    }
  }, 30_000);
});
