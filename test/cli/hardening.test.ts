import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { zlibBomb } from '../../src/bench/adversarial';
import { loadProtocol } from '../../src/protocol/protocol';
import { recordPackr } from '../../src/recording/writer';
import { CLI, gs, ROOT, startCli } from '../helpers/cli';
import { writeSession } from '../helpers/session';
import { sender } from '../helpers/wire';

/** What a new user and a fuzzer hit first: every one ends as a clear line (exit 2) or a counted error, never a stack or a raw escape. */

const dir = mkdtempSync(join(tmpdir(), 'gs-hard-'));
const testgame = loadProtocol('testgame', ROOT);
const ESC = '\u001b';
const isRoot = process.getuid?.() === 0;

/** Run the CLI with bytes on stdin (a real pipe, through bash). */
function gsStdin(args: string[], input: Buffer, opts: { cwd?: string } = {}): { code: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync('bash', ['-c', 'cat | "$0" "$@"', process.execPath, CLI, ...args], { input, cwd: opts.cwd ?? ROOT, timeout: 30_000, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}


const noInternal = (stderr: string) => expect(stderr).not.toMatch(/internal error|at .*\.js:\d+/);

/** Records of a recording, and a way to write one with a changed header. */
function records(file: string): unknown[] {
  const out: unknown[] = [];
  new Unpackr({ useRecords: false }).unpackMultiple(readFileSync(file), (v: unknown) => {
    out.push(v);
  });
  return out;
}
function withHeader(file: string, change: (h: Record<string, unknown>) => void, out: string): string {
  const all = records(file);
  const h = { ...(all[0] as Record<string, unknown>) };
  change(h);
  writeFileSync(out, Buffer.concat([recordPackr.pack(h), ...all.slice(1).map((r) => Buffer.from(recordPackr.pack(r)))]));
  return out;
}

const cap = join(dir, 'two.pcap');
// two connections: testgame on 24000, something else on 25000
writeSession(join(dir, 'a.pcap'), []);
{
  const send = sender(testgame);
  writeSession(cap, [
    { dir: 'c2s', bytes: send('c2s', 'chat', { text: 'on 24000' }) },
    { dir: 's2c', bytes: send('s2c', 'inventory', { items: { [`sword${ESC}]0;pwned\u0007`]: 1 } }) },
  ]);
  const other = join(dir, 'other.pcap');
  writeSession(other, [{ dir: 'c2s', bytes: Buffer.from('0500ffeeeeee', 'hex') }], { dport: 25000, sport: 52000 });
  // one file with both: pcap records after the header, concatenated
  writeFileSync(cap, Buffer.concat([readFileSync(cap), readFileSync(other).subarray(24)]));
}
const rec = join(dir, 'two.gsrec');
const made = gs(['record', '-r', cap, '-p', 'testgame', '-o', rec]);
if (made.code !== 0) throw new Error(made.stderr);

describe('terminal escapes from traffic and files never reach the terminal raw', () => {
  it('decode: an escape sequence in a msgpack map key is shown escaped', () => {
    const r = gs(['decode', '-p', 'testgame', '-r', cap, '--port', '24000']);
    expect(r.stdout).toContain('sword\\x1b]0;pwned\\x07');
    expect(r.stdout).not.toContain(ESC);
    const j = gs(['decode', '-p', 'testgame', '-r', cap, '--port', '24000', '--json']);
    expect(j.stdout).not.toContain(ESC);
    expect(j.stdout.trim().split('\n').map((l) => JSON.parse(l).name)).toContain('inventory');
  });

  it('info and streams: header fields and addresses from a recording are escaped', () => {
    const all = records(rec);
    const h = { ...(all[0] as Record<string, unknown>), source: { kind: 'file', name: `evil${ESC}]2;title${'\u0007'}` } };
    const body = all.slice(1).map((r) => {
      const x = r as Record<string, unknown>;
      return x.t === 'open' ? { ...x, client: [`1.2.3.4${ESC}[2J`, 1] } : x;
    });
    const evil = join(dir, 'evil.gsrec');
    writeFileSync(evil, Buffer.concat([recordPackr.pack(h), ...body.map((r) => Buffer.from(recordPackr.pack(r)))]));
    for (const args of [['info', evil], ['streams', '-r', evil], ['decode', '-r', evil]]) {
      const r = gs(args);
      noInternal(r.stderr);
      expect(r.stdout + r.stderr, args.join(' ')).not.toContain(ESC);
    }
    expect(gs(['info', evil]).stdout).toContain('evil\\x1b]2;title\\x07');
  });

  it('an error message that repeats what the user or a file said is escaped too', () => {
    const r = gs(['decode', '-p', `no${ESC}[31mproto`, '-r', cap]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no\\x1b[31mproto');
    expect(r.stderr).not.toContain(ESC);
  });
});

describe('the command line: what does not apply, and what does not exist', () => {
  it('an unknown command is an error with a suggestion, not the UI; help is help', () => {
    const r = gs(['strems']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "strems" \(did you mean streams\?\)/);
    const h = gs(['help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/Usage: gamesniff/);
  });

  it('an option that does not apply says so', () => {
    const r = gs(['decode', '-p', 'testgame', '-r', cap, '--spans']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--spans adds the byte spans to the JSON output: give --json too/);
    const f = gs(['streams', '-r', rec, '--filter', 'tcp']);
    expect(f.code).toBe(2);
    expect(f.stderr).toMatch(/a recording holds streams, not packets/);
  });

  it('a directory, a missing file, a port in use: one clear line, exit 2', () => {
    for (const args of [['streams', '-r', dir], ['decode', '-p', 'testgame', '-r', dir]]) {
      const r = gs(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(`gamesniff: ${dir} is a directory; give a capture (pcap, pcapng) or a recording (.gsrec)`);
    }
    for (const cmd of [['info'], ['export', '--pcap', join(dir, 'x.pcapng')], ['replay', '--as', 'client', '--target', '127.0.0.1:1']]) {
      const r = gs([cmd[0]!, join(dir, 'nope.gsrec'), ...cmd.slice(1)]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(`gamesniff: ${join(dir, 'nope.gsrec')}: no such file`);
    }
  });

  it('a port already in use', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = gs(['testbed', 'server', '--port', String(port), '--udp-port', '0', '--duration', '1']);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(`gamesniff: cannot start the test game server on 127.0.0.1:${port}: the port is in use (another server already running? choose another with --port)`);
    } finally {
      blocker.close();
    }
  });
});

describe('--port and --filter select from files as they do live', () => {
  it('captures: decode, streams and record read through the same BPF as live', () => {
    const conns = (args: string[]) => new Set(gs(['streams', ...args, '--json']).stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).server));
    expect(conns(['-r', cap])).toEqual(new Set(['127.0.0.1:24000', '127.0.0.1:25000']));
    expect(conns(['-r', cap, '--port', '24000'])).toEqual(new Set(['127.0.0.1:24000']));
    expect(conns(['-r', cap, '--filter', 'tcp port 25000'])).toEqual(new Set(['127.0.0.1:25000']));
    const d = gs(['decode', '-p', 'testgame', '-r', cap, '--port', '24000', '--json']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stderr).toMatch(/filter "\(tcp or udp\) and \(port 24000\)": \d+ of \d+ packets left out/);
    const r = join(dir, 'only25000.gsrec');
    expect(gs(['record', '-r', cap, '--port', '25000', '-o', r]).code).toBe(0);
    expect(conns(['-r', r])).toEqual(new Set(['127.0.0.1:25000']));
    const bad = gs(['streams', '-r', cap, '--filter', 'tcp port (']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad capture filter ".*tcp port \(.*": /);
  });

  it('recordings: --port selects their connections', () => {
    const all = gs(['streams', '-r', rec, '--json', '--hash']).stdout.trim().split('\n');
    const some = gs(['streams', '-r', rec, '--port', '25000', '--json']).stdout.trim().split('\n');
    expect(all).toHaveLength(4);
    expect(some).toHaveLength(2);
  });
});

describe('standard input and output', () => {
  it('-r - reads a capture, a gzip capture and a recording; export --pcap - writes to stdout', () => {
    const plain = gs(['streams', '-r', cap, '--json', '--hash']).stdout;
    expect(gsStdin(['streams', '-r', '-', '--json', '--hash'], readFileSync(cap)).stdout.toString()).toBe(plain);
    expect(gsStdin(['streams', '-r', '/dev/stdin', '--json', '--hash'], gzipSync(readFileSync(cap))).stdout.toString()).toBe(plain);
    const viaRec = gsStdin(['decode', '-r', '-', '--port', '24000'], readFileSync(rec));
    expect(viaRec.code, viaRec.stderr).toBe(0);
    expect(viaRec.stdout.toString()).toMatch(/chat text="on 24000"/);
    const exported = gsStdin(['export', '-', '--pcap', '-'], readFileSync(rec));
    expect(exported.code, exported.stderr).toBe(0);
    const back = gsStdin(['streams', '-r', '-', '--json', '--hash'], exported.stdout);
    const shas = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l).sha256).sort();
    expect(shas(back.stdout.toString())).toEqual(shas(plain));
  });
});

describe('recordings', () => {
  it('hold the protocol description: decode, info and replay need no -p, from anywhere', () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'gs-elsewhere-'));
    const own = join(elsewhere, 'mine.yaml');
    copyFileSync(join(ROOT, 'protocols/testgame/protocol.yaml'), own);
    const r = join(dir, 'own.gsrec');
    expect(gs(['record', '-r', cap, '-p', own, '-o', r]).code).toBe(0);
    const d = gs(['decode', '-r', r, '--port', '24000'], { cwd: elsewhere });
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/chat text="on 24000"/);
    expect(gs(['info', r], { cwd: elsewhere }).stdout).toMatch(/protocol: testgame \(sha256 [0-9a-f]{12}…, embedded; decoded with .*own\.gsrec#protocol: matches\)/);
  });

  it('when protocols/NAME changed since, say which description decodes (the recording\'s; -p for the file)', () => {
    const proj = mkdtempSync(join(tmpdir(), 'gs-proj-'));
    mkdirSync(join(proj, 'protocols/testgame'), { recursive: true });
    writeFileSync(join(proj, 'protocols/testgame/protocol.yaml'), readFileSync(join(ROOT, 'protocols/testgame/protocol.yaml'), 'utf8') + '\n# changed\n');
    const d = gs(['decode', '-r', rec, '--port', '24000'], { cwd: proj });
    expect(d.code, d.stderr).toBe(0);
    expect(d.stderr).toMatch(/protocols\/testgame\/protocol\.yaml has changed since .* decoding with the description the recording holds \(-p testgame to use the file\)/);
    const p = gs(['decode', '-r', rec, '--port', '24000', '-p', 'testgame'], { cwd: proj });
    expect(p.stderr).toMatch(/note: decoding with .*protocol\.yaml \(-p\); .* was recorded with another version of it/);
  });

  it.each([
    ['no source', (h: Record<string, unknown>) => delete h.source, /source is missing/],
    ['ports not a list', (h: Record<string, unknown>) => (h.source = { kind: 'file', name: 'x', ports: 'all' }), /source\.ports is not a list of ports/],
    ['a protocol without hash', (h: Record<string, unknown>) => (h.protocol = { name: 'testgame' }), /protocol\.hash is not a sha256/],
    ['a protocol name that is a number', (h: Record<string, unknown>) => (h.protocol = { name: 7, hash: 'a'.repeat(64) }), /protocol\.name is not a protocol name/],
    ['a protocol name that is a path', (h: Record<string, unknown>) => (h.protocol = { name: '/etc/hostname', hash: 'a'.repeat(64) }), /protocol\.name is not a protocol name/],
    ['a creation date that is not text', (h: Record<string, unknown>) => (h.created = 5), /created is not a date/],
  ])('a header with %s is refused whole, by every command, in one line', (_what, change, why) => {
    const bad = withHeader(rec, change, join(dir, 'bad-header.gsrec'));
    for (const args of [['info', bad], ['decode', '-r', bad, '-p', 'testgame'], ['export', bad, '--pcap', join(dir, 'bad.pcapng')], ['streams', '-r', bad], ['replay', bad, '--as', 'client', '--target', '127.0.0.1:1']]) {
      const r = gs(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).toMatch(/malformed recording header/);
      noInternal(r.stderr);
    }
  });

  it('timestamps out of range end the reading at that record, with a warning; export still writes what came before', () => {
    for (const ts of [-5, 2e16, 1e308]) {
      const all = records(rec);
      const i = all.findIndex((r) => (r as { t?: string }).t === 'data');
      all[i] = { ...(all[i] as object), ts };
      const bad = join(dir, 'bad-ts.gsrec');
      writeFileSync(bad, Buffer.concat(all.map((r) => Buffer.from(recordPackr.pack(r)))));
      for (const args of [['info', bad], ['export', bad, '--pcap', join(dir, 'ts.pcapng')], ['decode', '-r', bad]]) {
        const r = gs(args);
        noInternal(r.stderr);
        expect(r.stderr + r.stdout, `${ts} ${args[0]}`).toMatch(/out of range/);
      }
    }
  });

  it('keep the facts of the handshake: streams on a recording equals streams on its capture', () => {
    const a = gs(['streams', '-r', cap, '--json', '--hash']).stdout;
    const b = gs(['streams', '-r', rec, '--json', '--hash']).stdout;
    expect(b).toBe(a);
    expect(JSON.parse(a.split('\n')[0]!)).toMatchObject({ syn: true, packets: expect.any(Number) });
  });

  it('a record that cannot start leaves no recording behind', () => {
    const out = join(dir, 'never.gsrec');
    const r = gs(['record', '--port', '24999', '--filter', 'tcp port (', '-o', out]);
    expect(r.code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});

describe('hostile traffic costs bounded output and memory', () => {
  it('a zlib bomb is a decode error naming the budget, and the output stays small', () => {
    const bomb = join(dir, 'bomb.pcap');
    zlibBomb(bomb, 24);
    const r = gs(['decode', '-p', 'testgame', '-r', bomb, '--json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/more than the 16 MiB decode budget of one message/);
    expect(r.stdout.length).toBeLessThan(200_000);
    noInternal(r.stderr);
  });

  it('a big frame of an unknown id is shown as 4 KiB of hex with the rest counted; --full shows it all', () => {
    const big = join(dir, 'big-unknown.pcap');
    const body = Buffer.alloc(60_000, 0xab);
    body[0] = 0x70; // no such id
    const len = Buffer.alloc(2);
    len.writeUInt16LE(body.length);
    writeSession(big, [{ dir: 'c2s', bytes: Buffer.concat([len, body]) }]);
    const r = gs(['decode', '-p', 'testgame', '-r', big, '--json']);
    const line = JSON.parse(r.stdout.trim().split('\n')[0]!);
    expect(line.error.message).toMatch(/unknown c2s id 112/);
    expect(line.hex).toMatch(/…\(\+55904 bytes\)$/);
    const full = JSON.parse(gs(['decode', '-p', 'testgame', '-r', big, '--json', '--full']).stdout.trim().split('\n')[0]!);
    expect(full.hex).toBe(body.toString('hex'));
  });
});

describe.skipIf(!isRoot)('Ctrl-C', () => {
  it('a second Ctrl-C during shutdown does not kill decode before its summary', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    blocker.close();
    const run = await startCli(['decode', '-p', 'testgame', '--port', String(port)], 'capturing on');
    run.child.kill('SIGINT');
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/packets: .* TCP connections/);
  });
});
