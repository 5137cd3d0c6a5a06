import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadProtocol } from '../../src/protocol/protocol';
import { GameServer } from '../../src/testbed/game-server';
import { runGameClient } from '../../src/testbed/game-client';
import { CLI, ROOT } from '../helpers/cli';

/** The terminal UI end to end, in a real terminal: tmux runs it, capture-pane reads the screen. */
const SOCKET = `gs-test-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'gs-tmux-'));
const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8', timeout: 10_000 });
const screen = (s: string): string => tmux('capture-pane', '-p', '-t', s);
let server: GameServer;

async function until(what: string, s: string, ok: (text: string) => boolean, ms = 10_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const text = screen(s);
    if (ok(text)) return text;
    if (Date.now() > deadline) throw new Error(`${what} did not happen; the screen shows:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Run a command in a new tmux session (150x40 unless said); the shell prints EXITED <code> when it ends. */
function session(name: string, cmd: string, size: [number, number] = [150, 40], cwd = ROOT): void {
  tmux('new-session', '-d', '-s', name, '-x', String(size[0]), '-y', String(size[1]), `cd ${cwd} && ${cmd}; echo EXITED $?; sleep 60`);
}

beforeAll(async () => {
  server = new GameServer(loadProtocol('testgame', ROOT), { port: 0, seed: 3 });
  await server.start();
});
afterAll(async () => {
  try {
    tmux('kill-server');
  } catch {
    // no server left
  }
  await server.stop();
});

describe('gamesniff --port N -p testgame in a terminal', () => {
  it('shows decoded messages live, filters with /, and q exits cleanly, restoring the terminal', async () => {
    session('live', `${process.execPath} ${CLI} --port ${server.port},${server.udpPort} -p testgame`);
    await until('the TUI opening', 'live', (t) => t.includes('protocol testgame') && t.includes('waiting for messages'));
    await runGameClient(loadProtocol('testgame', ROOT), { port: server.port, udpPort: server.udpPort, name: 'tux', seed: 4, rounds: 9, timeout: 10_000 });
    // the connection closes (FIN) after the last message shows: wait for that too, not just the messages
    const closed = /#0 tcp 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ closed/;
    const shown = await until('decoded messages and the close', 'live', (t) => t.includes('<- snapshot tick=9') && t.includes('-> bye') && closed.test(t));
    expect(shown).toMatch(/#0\s+-> move seq=9 pos=/);
    expect(shown).toMatch(/#1u\s+-> position player_id=/);
    expect(shown).toMatch(closed);

    tmux('send-keys', '-t', 'live', '/');
    // the filter line starts reading on blessed's next tick: keys typed in the same instant can be lost
    await new Promise((r) => setTimeout(r, 300));
    tmux('send-keys', '-t', 'live', '-l', 'chat_msg.text ~ "round 6"');
    tmux('send-keys', '-t', 'live', 'Enter');
    const rows = (t: string): string[] => t.split('\n').filter((l) => /^x\d\d:\d\d:\d\d\.\d{3} #/.test(l));
    const filtered = await until('the filter', 'live', (t) => t.includes('filter: chat_msg.text ~ "round 6" (1)') && rows(t).length === 1);
    const list = rows(filtered);
    expect(list).toHaveLength(1);
    expect(list[0]).toContain('<- chat_msg');
    expect(list[0]).toContain('round 6 from tux');

    tmux('send-keys', '-t', 'live', 'q');
    const after = await until('the exit', 'live', (t) => t.includes('EXITED'));
    expect(after).toMatch(/EXITED 0/);
    // The alternate screen is gone: nothing of the TUI is left on the terminal.
    expect(after).not.toContain('connections');
    expect(after).not.toContain('snapshot');
  });

  it('-r opens a recording in the same screen; without -p a live capture asks for the protocol', async () => {
    session('file', `${process.execPath} ${CLI} -r recordings/testgame-solo.gsrec`);
    const text = await until('the recording shown', 'file', (t) => t.includes('end of file') && t.includes('<- bye'));
    expect(text).toContain('protocol testgame | 91 msgs');
    tmux('send-keys', '-t', 'file', 'q');
    expect(await until('the exit', 'file', (t) => t.includes('EXITED'))).toMatch(/EXITED 0/);

    session('pick', `${process.execPath} ${CLI} --port ${server.port}`);
    const picker = await until('the protocol picker', 'pick', (t) => t.includes('testgame') && t.includes('(none: show streams as raw chunks)'));
    expect(picker).toContain('chatroom');
    tmux('send-keys', '-t', 'pick', 'q');
    await until('the TUI without a protocol', 'pick', (t) => t.includes('no protocol (raw chunks)'));
    tmux('send-keys', '-t', 'pick', 'q');
    expect(await until('the exit', 'pick', (t) => t.includes('EXITED'))).toMatch(/EXITED 0/);
  });

  it('a broken protocol file: the same clear message as the CLI, exit 2, no screen', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'protocol: bad\ntcp:\n  framing: { length: u9 }\n');
    session('bad', `${process.execPath} ${CLI} --port 24000 -p ${bad}`);
    const text = await until('the exit', 'bad', (t) => t.includes('EXITED'));
    expect(text).toMatch(/gamesniff: protocol .*bad\.yaml/);
    expect(text).toMatch(/bad\.yaml:\d+:\d+/);
    expect(text).toMatch(/EXITED 2/);
  });

  it('without capture privilege: says how to fix it, exit 2, no screen', async () => {
    session('priv', `setpriv --bounding-set -net_raw,-net_admin --inh-caps -net_raw,-net_admin ${process.execPath} ${CLI} --port ${server.port} -p testgame`);
    const text = await until('the exit', 'priv', (t) => t.includes('EXITED'));
    expect(text).toMatch(/EXITED 2/);
    expect(text).toMatch(/gamesniff: .*(permission|privilege|CAP_NET_RAW|root)/i);
    expect(text).not.toContain('connections');
  });

  for (const size of [[80, 24], [200, 50]] as [number, number][]) {
    it(`at ${size[0]}x${size[1]}: search, mark and diff, follow stream, save as a vector, reload after an edit, inspect bytes, propose fields; nothing wraps`, async () => {
      const work = mkdtempSync(join(tmpdir(), 'gs-tmux-tools-'));
      const proto = join(work, 'protocol.yaml');
      writeFileSync(proto, readFileSync(join(ROOT, 'protocols/testgame/protocol.yaml'), 'utf8'));
      const name = `tools${size[0]}`;
      const keys = async (...k: string[]) => {
        tmux('send-keys', '-t', name, ...k);
        await new Promise((r) => setTimeout(r, 250));
      };
      session(name, `${process.execPath} ${CLI} -r ${join(ROOT, 'recordings/testgame-solo.gsrec')} -p ${proto}`, size, work);
      await until('the recording shown', name, (t) => t.includes('end of file'));
      // every line fits the terminal: none wraps into the next
      for (const line of screen(name).split('\n')) expect(line.length).toBeLessThanOrEqual(size[0]);
      await keys('g');
      await keys('s');
      tmux('send-keys', '-t', name, '-l', 'chat');
      await keys('Enter');
      await until('the search', name, (t) => /found "chat" at \[\d+\]/.test(t));
      await keys('m');
      // the next match is the server's chat_msg, the one after it the next chat
      await keys('n');
      await keys('n');
      await keys('d');
      await until('the diff', name, (t) => t.includes('diff (any key closes)') && /fields:/.test(t));
      await keys('Escape');
      await keys('F');
      await until('the followed stream', name, (t) => /stream #0 tcp: \d+ bytes/.test(t) && /-> \[0\] hello/.test(t));
      await keys('Escape');
      await keys('y');
      await keys('Enter');
      await until('the message saved', name, (t) => /saved recordings\/message-\d+\.vector\.yaml/.test(t));
      expect(readdirSync(join(work, 'recordings')).some((f) => f.endsWith('.vector.yaml'))).toBe(true);
      // the author renames a message: R decodes everything again
      writeFileSync(proto, readFileSync(proto, 'utf8').replace(/^( {4})chat_msg:$/m, '$1relayed:'));
      await keys('R');
      await until('the reload', name, (t) => t.includes('reloaded testgame: 91 messages decoded again'));
      // no line of the details pane runs onto the next (the header is cut with …)
      const details = await until('the details', name, (t) => t.includes('bytes'));
      expect(details).not.toMatch(/xxat(…| \d)/);
      // the data inspector: a byte on, then a row of the dump on (4 bytes a row at 80 columns, 16 at 200)
      const send = async (k: string) => {
        tmux('send-keys', '-t', name, '-l', k);
        await new Promise((r) => setTimeout(r, 250));
      };
      await send(']');
      const inspected = await until('the inspector', name, (t) => /@1 of \d+ +u8 \d+ +s8 -?\d+/.test(t));
      expect(inspected).toMatch(/inspector at byte 1 of \d+/);
      // the chat's u16le length, both orders on one row, beside the list (no row wraps)
      expect(inspected).toMatch(/x+u16le \d+ +u16be \d+ +x/);
      expect(inspected).toMatch(/string "/);
      await send('}');
      await until('the cursor a row on', name, (t) => t.includes(`@${1 + (size[0] === 80 ? 4 : 16)} of `));
      // P: fields proposed from every chat, YAML for protocol.yaml; y in it saves them
      await keys('P');
      const proposed = await until('the proposed fields', name, (t) => /fields for c2s chat: \d+ messages/.test(t));
      expect(proposed).toMatch(/# looked at \d+ c2s chat messages/);
      expect(proposed).toContain('text: { type: string, prefix: u16le }');
      await keys('y');
      const saved = await until('the fields saved', name, (t) => /saved recordings\/message-\d+\.fields\.yaml/.test(t));
      const file = /saved (recordings\/message-\d+\.fields\.yaml)/.exec(saved)![1]!;
      expect(parse(readFileSync(join(work, file), 'utf8'))).toEqual({ fields: { text: { type: 'string', prefix: 'u16le' } } });
      // escape closes the inspector
      await keys('Escape');
      await until('the inspector closed', name, (t) => !/@\d+ of \d+ +u8/.test(t));
      await keys('q');
      expect(await until('the exit', name, (t) => t.includes('EXITED'))).toMatch(/EXITED 0/);
    });
  }
});

