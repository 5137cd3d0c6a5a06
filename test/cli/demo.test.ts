/**
 * `gamesniff demo` in a pseudo-terminal (util-linux `script`), both games: the UI comes up on the
 * test game's traffic and names its messages; `q` quits with exit 0.
 */
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../helpers/cli';

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b[()][0-9A-Za-z]/g, '');

/**
 * The demo for `seconds`, then `q`: what the screen showed and the exit code. With `readyWhen`,
 * the keys and the seconds count from when the screen first shows it (a loaded machine may take
 * a while to get traffic going; a key pressed before would find nothing to act on).
 */
function demo(args: string[], seconds: number, keys: [number, string][] = [], env: Record<string, string> = {}, readyWhen?: string): Promise<{ code: number | null; screen: string }> {
  const cmd = `stty cols 160 rows 40; ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} demo ${args.join(' ')}`;
  const child = spawn('script', ['-qfc', cmd, '/dev/null'], { cwd: ROOT, env: { ...process.env, TERM: 'xterm', ...env } });
  let started = false;
  const start = (): void => {
    started = true;
    for (const [ms, k] of keys) setTimeout(() => child.stdin.write(k), ms);
    setTimeout(() => child.stdin.write('q'), seconds * 1000);
  };
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString('latin1');
    if (!started && readyWhen !== undefined && plain(out).includes(readyWhen)) start();
  });
  if (readyWhen === undefined) start();
  const kill = setTimeout(() => child.kill('SIGKILL'), (seconds + 15) * 1000);
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

  it('the tcp game; F follows a stream, S shows statistics, with NO_COLOR no colour at all', async () => {
    const r = await demo(['--port', '24690'], 5, [[1200, 'F'], [2700, 'x'], [3100, 'S'], [4300, 'x']], { NO_COLOR: '1' }, 'login');
    expect(r.code).toBe(0);
    for (const name of ['hello', 'login', 'snapshot']) expect(r.screen).toContain(name);
    // the screen is drawn in pieces: blessed skips cells that did not change (spaces, and a digit
    // the screen already had there), so the stream's number may be missing from the output
    expect(r.screen).toMatch(/stream\s*#\d*\s*(tcp|udp):\s*\d*\s*bytes \(any key closes\)/);
    expect(r.screen).toMatch(/coverage\W*\d+\s*messages/);
  }, 30_000);
});
