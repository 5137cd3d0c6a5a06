/**
 * `gamesniff demo` in a pseudo-terminal (util-linux `script`), both games: the UI comes up on the
 * test game's traffic and names its messages; `q` quits with exit 0.
 */
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../helpers/cli';

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b[()][0-9A-Za-z]/g, '');

/** The demo for `seconds`, then `q`: what the screen showed and the exit code. */
function demo(args: string[], seconds: number): Promise<{ code: number | null; screen: string }> {
  const cmd = `stty cols 160 rows 40; ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} demo ${args.join(' ')}`;
  const child = spawn('script', ['-qfc', cmd, '/dev/null'], { cwd: ROOT, env: { ...process.env, TERM: 'xterm' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
  const kill = setTimeout(() => child.kill('SIGKILL'), (seconds + 10) * 1000);
  setTimeout(() => child.stdin.write('q'), seconds * 1000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(kill);
      resolve({ code, screen: plain(out) });
    }),
  );
}

describe.skipIf(!hasScript)('gamesniff demo', () => {
  it('--transport ws: the WebSocket game, its upgrade and messages named', async () => {
    const r = await demo(['--transport', 'ws', '--port', '24680'], 5);
    expect(r.code).toBe(0);
    for (const name of ['http_request', 'http_response', 'welcome', 'state']) expect(r.screen).toContain(name);
    expect(r.screen).not.toMatch(/internal error/);
  }, 30_000);

  it('the tcp game', async () => {
    const r = await demo(['--port', '24690'], 4);
    expect(r.code).toBe(0);
    for (const name of ['hello', 'login', 'snapshot']) expect(r.screen).toContain(name);
  }, 30_000);
});
