import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { gs, ROOT, startCli, type RunningCli } from '../helpers/cli';

/** Wait until `what` holds of the CLI's stdout (polled), or fail saying what it printed. */
async function until(cli: RunningCli, label: string, what: (out: string) => boolean, ms = 15_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const out = cli.stdout();
    if (what(out)) return out;
    if (Date.now() > end) throw new Error(`${label}: not seen within ${ms} ms\nstdout:\n${out}\nstderr:\n${cli.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The text after the last `== ` run header (the last run's report). */
const lastRun = (out: string): string => out.slice(out.lastIndexOf('\n== ') + 1);
const runs = (out: string): number => out.split('\n').filter((l) => l.startsWith('== ')).length;

/** Save as editors that write a new file and rename it over the old one do (vim, most IDEs). */
function saveByRename(file: string, text: string): void {
  writeFileSync(`${file}.tmp~`, text);
  renameSync(`${file}.tmp~`, file);
}

/** The testgame description with `change` applied to its YAML document. */
function testgame(change: (d: ReturnType<typeof parseDocument>) => void): string {
  const d = parseDocument(readFileSync(join(ROOT, 'protocols/testgame/protocol.yaml'), 'utf8'));
  change(d);
  return d.toString();
}

describe('gamesniff decode --watch', () => {
  it('re-decodes on each save: figures and what changed (named, errors fixed and introduced); a broken file is said and the watch goes on; Ctrl-C ends it with 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gs-watch-decode-'));
    const proto = join(dir, 'protocol.yaml');
    const rec = join(dir, 'solo.gsrec');
    copyFileSync(join(ROOT, 'recordings/testgame-solo.gsrec'), rec);
    const original = readFileSync(join(ROOT, 'protocols/testgame/protocol.yaml'), 'utf8');
    // what the recording holds (npm run samples makes it anew): every message decodes with testgame
    const all = gs(['decode', '--json', '-r', rec, '-p', 'testgame']).stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string | null });
    const total = all.length;
    const moves = all.filter((m) => m.name === 'move').length;
    const chats = all.filter((m) => m.name === 'chat').length;
    expect(all.every((m) => m.name)).toBe(true);
    expect(moves * chats).toBeGreaterThan(0);
    // without move (client id 0x11) and chat (0x12)
    writeFileSync(proto, testgame((d) => (d.deleteIn(['tcp', 'messages', 'move']), d.deleteIn(['tcp', 'messages', 'chat']))));
    const cli = await startCli(['decode', '--watch', '-r', rec, '-p', proto], 'watching');
    try {
      // the first run: the figures and the coverage report, the unknown-id table last
      let out = await until(cli, 'first run', (o) => /unknown ids, most frequent first/.test(o));
      expect(out).toMatch(new RegExp(`^${total} messages: ${total - moves - chats} named, 0 errors, ${moves + chats} unknown ids, 0 raw\\n`));
      expect(out).toMatch(new RegExp(` {4}0x11 \\(17\\) +${moves} +[\\d, –]+ +11[0-9a-f]+\\n`));
      expect(out).not.toMatch(/\[0\]|== /); // no messages, no run header
      expect(cli.stderr()).toMatch(/recording .*solo\.gsrec: 1 TCP connections/);

      // move back, saved by rename: now named
      saveByRename(proto, testgame((d) => d.deleteIn(['tcp', 'messages', 'chat'])));
      out = await until(cli, 'move named', (o) => runs(o) === 1 && /now named/.test(lastRun(o)));
      expect(lastRun(out)).toBe(`${/^== \d\d:\d\d:\d\d\.\d{3} /.exec(lastRun(out))![0]}protocol.yaml changed\n${total} messages: ${total - chats} named (+${moves}), 0 errors, ${chats} unknown ids (-${moves}), 0 raw\n  now named: move ×${moves}\n  unknown ids gone: tcp c2s 0x11 ×${moves}\n`);

      // broken mid-edit, saved in place: its error as file:line:col, and still watching
      writeFileSync(proto, `${readFileSync(proto, 'utf8')}\ntcp: [\n`);
      out = await until(cli, 'broken', (o) => runs(o) === 2 && /protocol error/.test(lastRun(o)));
      expect(lastRun(out)).toMatch(new RegExp(`protocol error \\(still watching\\): ${proto.replace(/[.]/g, '\\.')} does not compile:\\n${proto.replace(/[.]/g, '\\.')}:\\d+:\\d+: `));

      // chat with a wrong length prefix: compared with the last run that compiled
      saveByRename(proto, testgame((d) => d.setIn(['tcp', 'messages', 'chat', 'fields', 'text', 'prefix'], 'u32')));
      out = await until(cli, 'errors introduced', (o) => runs(o) === 3 && /errors introduced/.test(lastRun(o)));
      expect(lastRun(out)).toMatch(new RegExp(`\\n${total} messages: ${total - chats} named, ${chats} errors \\(\\+${chats}\\), 0 unknown ids \\(-${chats}\\), 0 raw\\n {2}errors introduced:\\n {4}chat\\.text ×${chats}: needs \\d+ bytes, \\d+ left\\n {2}unknown ids gone: tcp c2s 0x12 ×${chats}\\n$`));

      // fixed
      saveByRename(proto, original);
      out = await until(cli, 'errors fixed', (o) => runs(o) === 4 && /errors fixed/.test(lastRun(o)));
      expect(lastRun(out)).toMatch(new RegExp(`\\n${total} messages: ${total} named \\(\\+${chats}\\), 0 errors \\(-${chats}\\), 0 unknown ids, 0 raw\\n {2}now named: chat ×${chats}\\n {2}errors fixed:\\n {4}chat\\.text ×${chats}: needs \\d+ bytes, \\d+ left\\n$`));

      // the input saved again: decoded again, nothing changed
      copyFileSync(join(ROOT, 'recordings/testgame-solo.gsrec'), rec);
      out = await until(cli, 'input changed', (o) => runs(o) === 5 && /no change/.test(lastRun(o)));
      expect(lastRun(out)).toMatch(new RegExp(`^== .* solo\\.gsrec changed\\n${total} messages: ${total} named, 0 errors, 0 unknown ids, 0 raw\\n {2}no change\\n$`));
    } finally {
      cli.child.kill('SIGINT');
    }
    const r = await cli.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/internal error/);
  });

  it('--all-messages prints the messages of every run, numbered; SIGTERM ends it with 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gs-watch-all-'));
    const proto = join(dir, 'protocol.yaml');
    copyFileSync(join(ROOT, 'protocols/echo/protocol.yaml'), proto);
    const rec = join(ROOT, 'recordings/echo.gsrec');
    const cli = await startCli(['decode', '--watch', '--all-messages', '-r', rec, '-p', proto], 'watching');
    const first = await until(cli, 'first run', (o) => /^\d+ messages: /m.test(o));
    const n = first.split('\n').filter((l) => / \[\d+\] #/.test(l)).length;
    expect(n).toBeGreaterThan(0);
    appendFileSync(proto, '\n# a comment\n');
    const out = await until(cli, 'second run', (o) => /no change/.test(o));
    expect(out.split('\n').filter((l) => / \[0\] #/.test(l))).toHaveLength(2);
    cli.child.kill('SIGTERM');
    expect((await cli.done).code).toBe(0);
  });

  it('usage: --watch needs -r FILE (not a live capture, not standard input); --json goes with --all-messages', () => {
    const live = gs(['decode', '--watch', '-p', 'testgame']);
    expect(live.code).toBe(2);
    expect(live.stderr).toMatch(/--watch decodes a file again on every save: give -r FILE/);
    const stdin = gs(['decode', '--watch', '-p', 'testgame', '-r', '-']);
    expect(stdin.code).toBe(2);
    const json = gs(['decode', '--watch', '--json', '-p', 'testgame', '-r', join(ROOT, 'recordings/echo.gsrec')]);
    expect(json.code).toBe(2);
    expect(json.stderr).toMatch(/--json goes with --all-messages/);
    const all = gs(['decode', '--all-messages', '-p', 'testgame', '-r', join(ROOT, 'recordings/echo.gsrec')]);
    expect(all.code).toBe(2);
  });
});

describe('gamesniff check --watch', () => {
  it('checks again on each save: now ok, the new error as file:line:col, the vectors that flipped; Ctrl-C ends it with 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gs-watch-check-'));
    const proto = join(dir, 'protocol.yaml');
    const vectors = join(dir, 'vectors.yaml');
    const original = readFileSync(join(ROOT, 'protocols/testgame/protocol.yaml'), 'utf8');
    writeFileSync(proto, original);
    copyFileSync(join(ROOT, 'protocols/testgame/vectors.yaml'), vectors);
    const cli = await startCli(['check', '--watch', dir], 'watching');
    try {
      let out = await until(cli, 'first run', (o) => /vectors pass/.test(o));
      const total = Number(/(\d+) of \1 vectors pass\n$/.exec(out)![1]);
      expect(out).toMatch(/^ok: .*: protocol testgame, \d+ messages, \d+ types\n/);
      expect(out).toBe(`ok: ${proto}: ${/protocol testgame, \d+ messages, \d+ types/.exec(out)![0]}\n${vectors}: ${total} of ${total} vectors pass\n`);

      // move's id changed: its vector fails
      saveByRename(proto, testgame((d) => d.setIn(['tcp', 'messages', 'move', 'id'], 0x31)));
      out = await until(cli, 'a vector fails', (o) => runs(o) === 1 && /now failing/.test(o));
      expect(lastRun(out)).toMatch(new RegExp(`^== .* protocol\\.yaml changed\\nok: .*\\n.*vectors\\.yaml: ${total - 1} of ${total} vectors pass \\(was ${total} of ${total}\\)\\n {2}now failing: move\\n {4}decode failed at \\(frame\\) offset 0: unknown c2s id 17 \\(0x11\\)\\n`));

      // a typo, saved in place: the error where it is, and the watch goes on
      const typo = original.replace(/^( +seq: )u16$/m, '$1u61');
      expect(typo).not.toBe(original);
      writeFileSync(proto, typo);
      out = await until(cli, 'broken', (o) => runs(o) === 2 && /broken/.test(lastRun(o)));
      const line = typo.split('\n').findIndex((l) => /^ +seq: u61$/.test(l)) + 1;
      expect(lastRun(out)).toMatch(new RegExp(`\\nnow broken: .*protocol\\.yaml does not compile:\\n.*protocol\\.yaml:${line}:\\d+: .*u61`));

      // fixed: now ok, and move passes again (compared with the last vectors that ran)
      saveByRename(proto, original);
      out = await until(cli, 'fixed', (o) => runs(o) === 3 && /now passing/.test(o.slice(o.lastIndexOf('\n== '))));
      expect(lastRun(out)).toMatch(new RegExp(`\\nnow ok: ${proto.replace(/[.]/g, '\\.')}: protocol testgame.*\\n.*: ${total} of ${total} vectors pass \\(was ${total - 1} of ${total}\\)\\n {2}now passing: move\\n$`));

      // a vector added to vectors.yaml: a run too
      appendFileSync(vectors, '\n  - name: mine\n    dir: c2s\n    hex: 1405\n    message: use_item\n    fields: { slot: 4 }\n');
      out = await until(cli, 'new vector', (o) => runs(o) === 4 && /new: mine/.test(o));
      expect(lastRun(out)).toMatch(new RegExp(`^== .* vectors\\.yaml changed\\nok: .*\\n.*: ${total} of ${total + 1} vectors pass \\(was ${total} of ${total}\\)\\n {2}new: mine: fails\\n {4}decode: slot: got 5, expected 4\\n`));
    } finally {
      cli.child.kill('SIGINT');
    }
    const r = await cli.done;
    expect(r.code, r.stderr).toBe(0);
  });

  it('a protocol broken from the start is said, and watched until it compiles', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gs-watch-check2-'));
    const proto = join(dir, 'p.yaml');
    writeFileSync(proto, 'protocol: x\ntcp:\n  framing: { length: u16 }\n  id: u8\n  messages:\n    a:\n      id: 1\n      fields:\n        n: { type: strnig, prefix: u8 }\n');
    const cli = await startCli(['check', '--watch', proto], 'watching');
    try {
      let out = await until(cli, 'broken', (o) => /does not compile/.test(o));
      expect(out).toContain(`broken: ${proto} does not compile:\n${proto}:9:20: unknown type 'strnig'`);
      saveByRename(proto, readFileSync(proto, 'utf8').replace('strnig', 'string'));
      out = await until(cli, 'ok', (o) => /now ok/.test(o));
      expect(lastRun(out)).toMatch(/now ok: .*p\.yaml: protocol x, 1 messages, 0 types\nno .*vectors\.yaml: nothing to run\n$/);
    } finally {
      cli.child.kill('SIGINT');
    }
    expect((await cli.done).code).toBe(0);
    const printCode = gs(['check', '--watch', '--print-code', 'testgame']);
    expect(printCode.code).toBe(2);
    expect(gs(['check', '--watch', join(dir, 'nosuch.yaml')]).code).toBe(2);
  });
});
