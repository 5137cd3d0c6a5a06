import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAP_PATCH } from '../../src/capture/live';
import { ethernet, tcpSegment } from '../helpers/packets';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const installer = require('../../src/capture/native/install.js') as {
  parsePatch(text: string): Array<{ path: string; hunks: unknown[] }>;
  applyHunks(source: string, file: { path: string; hunks: unknown[] }): string;
  patchVersion(text: string): number;
  diagnose(log: string): string;
  PATCH_FILE: string;
};

const ROOT = join(__dirname, '../..');
const isRoot = process.getuid?.() === 0;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';

/** The environment of a user's shell: nothing from an npm script this test may run under. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'INIT_CWD') env[k] = v;
  return env;
}

function run(cmd: string, args: string[], cwd: string, timeout: number): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env: userEnv(), encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
}

describe('the cap patch and its applier', () => {
  const patch = readFileSync(installer.PATCH_FILE, 'utf8');
  const files = installer.parsePatch(patch);

  it('patches src/binding.cc only, and its version is the one live capture expects', () => {
    expect(files.map((f) => f.path)).toEqual(['src/binding.cc']);
    expect(installer.patchVersion(patch)).toBe(CAP_PATCH);
  });

  const capSource = join(ROOT, 'node_modules/cap/src/binding.cc');
  it.skipIf(!existsSync(capSource))('applies to the published cap 0.2.1, and refuses a source whose context differs', () => {
    const src = readFileSync(capSource, 'utf8');
    const out = installer.applyHunks(src, files[0]!);
    expect(out).toContain('#define GAMESNIFF_PATCH');
    expect(out).toContain('class BpfFilter');
    // one context line changed
    const changed = src.replace('using namespace v8;', 'using namespace  v8;');
    expect(changed).not.toBe(src);
    expect(() => installer.applyHunks(changed, files[0]!)).toThrow(/src\/binding\.cc: hunk \d+ \(line \d+\) does not match at line \d+: expected "using namespace v8;"/);
    // already patched (as patch-package used to do in place)
    expect(() => installer.applyHunks(out, files[0]!)).toThrow(/does not match/);
  });

  it('says what is missing when the build fails', () => {
    expect(installer.diagnose('../src/binding.cc:4:10: fatal error: pcap/pcap.h: No such file or directory')).toMatch(/apt-get install libpcap-dev/);
    expect(installer.diagnose('/usr/bin/ld: cannot find -lpcap: No such file or directory')).toMatch(/libpcap-dev/);
    expect(installer.diagnose('gyp ERR! stack Error: not found: make')).toMatch(/build-essential/);
    expect(installer.diagnose('/bin/sh: 1: g++: not found')).toMatch(/C\+\+ compiler/);
  });
});

describe('npm pack', () => {
  it('ships dist, the installer and the patch, protocols and the sample recordings; no source maps, bench, fuzz or native build', () => {
    const r = run(NPM, ['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT, 60_000);
    expect(r.status, r.stderr).toBe(0);
    const files = (JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    for (const must of [
      'package.json',
      'README.md',
      'dist/cli/main.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/capture/live.js',
      'dist/capture/bpf.js',
      'protocols/testgame/protocol.yaml',
      'recordings/testgame-solo.gsrec',
      'src/capture/native/install.js',
      'src/capture/patches/cap-0.2.1.patch',
    ]) {
      expect(files, must).toContain(must);
    }
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files.filter((f) => /^dist\/(bench|fuzz|native)\//.test(f))).toEqual([]);
    expect(files.filter((f) => f.startsWith('src/') && !/^src\/capture\/(native\/install\.js|patches\/)/.test(f))).toEqual([]);
    expect(files.filter((f) => f.startsWith('test/') || f.startsWith('node_modules/'))).toEqual([]);
  });
});

/** A classic pcap file (Ethernet) with the given frames. */
function pcapFile(path: string, frames: Buffer[]): void {
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0);
  gh.writeUInt16LE(2, 4);
  gh.writeUInt16LE(4, 6);
  gh.writeUInt32LE(262144, 16);
  gh.writeUInt32LE(1, 20);
  const recs = frames.map((f, i) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(1_700_000_000, 0);
    h.writeUInt32LE(i, 4);
    h.writeUInt32LE(f.length, 8);
    h.writeUInt32LE(f.length, 12);
    return Buffer.concat([h, f]);
  });
  writeFileSync(path, Buffer.concat([gh, ...recs]));
}

/** `npx gamesniff streams` live on `port` while a client and a server on 127.0.0.1 exchange bytes. */
async function liveStreams(cwd: string, port: number, c2s: Buffer, s2c: Buffer): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const srv = net.createServer((sock) => {
    sock.on('data', () => {});
    sock.on('end', () => sock.end(s2c));
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
  const t0 = Date.now();
  const child = spawn(NPX, ['gamesniff', 'streams', '--port', String(port), '--duration', '2', '--json'], { cwd, env: userEnv() });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const done = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  // traffic once capturing (or as soon as it gave up)
  await Promise.race([
    done,
    new Promise<void>((r) => {
      const check = (): void => {
        if (err.includes('capturing on')) r();
      };
      child.stderr.on('data', check);
    }),
  ]);
  if (err.includes('capturing on')) {
    await new Promise<void>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => c.end(c2s));
      c.on('data', () => {});
      c.on('close', () => resolve());
      c.on('error', reject);
    });
  }
  const code = await done;
  clearTimeout(killer);
  srv.close();
  return { code, stdout: out, stderr: err, ms: Date.now() - t0 };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

describe('gamesniff installed from its tarball, with cap hoisted', () => {
  let tmp = '';
  let project = '';
  let packProblem = '';
  let installed: SpawnSyncReturns<string> | null = null;
  let installSeconds = 0;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'gs-install-'));
    const pack = run(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT, 60_000);
    if (pack.status !== 0) {
      packProblem = `npm pack failed: ${(pack.stderr || String(pack.error)).trim().split('\n').pop()}`;
      return;
    }
    const tarball = join(tmp, (JSON.parse(pack.stdout) as Array<{ filename: string }>)[0]!.filename);
    project = join(tmp, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'gs-consumer', version: '1.0.0', private: true }));
    const t0 = Date.now();
    installed = run(NPM, ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], project, 80_000);
    installSeconds = (Date.now() - t0) / 1000;
  }, 150_000);

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const pkgDir = (): string => join(project, 'node_modules/gamesniff');
  const binding = (): string => join(pkgDir(), 'dist/native/cap/build/Release/cap.node');

  it('npm install builds the patched binding next to gamesniff, leaving the hoisted cap as published', (ctx) => {
    if (packProblem) return ctx.skip(packProblem);
    expect(installed!.status, `${installed!.stdout}\n${installed!.stderr}`).toBe(0);
    // npm hoisted cap: the case patch-package missed
    expect(existsSync(join(project, 'node_modules/cap/package.json'))).toBe(true);
    expect(existsSync(join(pkgDir(), 'node_modules/cap'))).toBe(false);
    expect(readFileSync(join(project, 'node_modules/cap/src/binding.cc'), 'utf8')).not.toContain('gamesniff');
    const status = JSON.parse(readFileSync(join(pkgDir(), 'dist/native/status.json'), 'utf8')) as { ok: boolean; patch: number };
    expect(status).toMatchObject({ ok: true, patch: CAP_PATCH });
    expect(existsSync(binding())).toBe(true);
    console.log(`npm install of the tarball: ${installSeconds.toFixed(1)} s`);
  });

  it.skipIf(!isRoot)('captures live from there (npx gamesniff streams --port P --duration 2) and exits 0', async (ctx) => {
    if (packProblem) return ctx.skip(packProblem);
    const c2s = Buffer.from('hello from the installed gamesniff\n'.repeat(10));
    const s2c = Buffer.from('and a reply\n');
    const r = await liveStreams(project, await freePort(), c2s, s2c);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { dir: string; bytes: number });
    expect(lines.find((l) => l.dir === 'c2s')?.bytes).toBe(c2s.length);
    expect(lines.find((l) => l.dir === 's2c')?.bytes).toBe(s2c.length);
  });

  it('without the binding: live capture exits 2 at once saying how to fix it; files and empty filters still work; npm rebuild gamesniff restores it', async (ctx) => {
    if (packProblem) return ctx.skip(packProblem);
    rmSync(binding());
    const r = await liveStreams(project, await freePort(), Buffer.from('x'), Buffer.from('y'));
    expect(r.code).toBe(2);
    expect(r.ms).toBeLessThan(10_000);
    expect(r.stderr).toMatch(/patched libpcap binding .*cap\.node, which is missing/);
    expect(r.stderr).toContain('apt-get install libpcap-dev');
    expect(r.stderr).toContain(`node "${join(pkgDir(), 'src/capture/native/install.js')}"`);
    expect(r.stderr).toContain('npm rebuild gamesniff');

    // reading a file needs no binding
    const file = join(tmp, 'one.pcap');
    pcapFile(file, [ethernet(tcpSegment({ sport: 40000, dport: 24000, seq: 1, flags: 'S' }))]);
    const offline = run(NPX, ['gamesniff', 'streams', '-r', file, '--json'], project, 30_000);
    expect(offline.status, offline.stderr).toBe(0);

    // BPF for files: an empty expression loads nothing; a real one gives the same CAPTURE error
    const script = `
      const { compileOfflineFilter, offlineFilter } = require('gamesniff/dist/capture/bpf.js');
      if (offlineFilter('')(1, Buffer.alloc(4), 4) !== true) process.exit(3);
      try { compileOfflineFilter('tcp', 1); process.exit(4); } catch (e) { console.log(e.code + ' ' + e.message); }`;
    const bpf = run(process.execPath, ['-e', script], project, 30_000);
    expect(bpf.status, bpf.stderr).toBe(0);
    expect(bpf.stdout).toMatch(/^CAPTURE live capture needs gamesniff's patched libpcap binding/);

    const rebuilt = run(NPM, ['rebuild', 'gamesniff'], project, 60_000);
    expect(rebuilt.status, rebuilt.stderr).toBe(0);
    expect(existsSync(binding())).toBe(true);
  });
});

describe.skipIf(!isRoot)('live capture errors leave nothing open', () => {
  const live = join(ROOT, 'dist/capture/live.js');
  /** Runs `body` in a fresh node with LiveCapture in scope; it must exit by itself. */
  const child = (body: string): SpawnSyncReturns<string> =>
    run(process.execPath, ['-e', `const { LiveCapture } = require(${JSON.stringify(live)});\n${body}`], ROOT, 15_000);

  it('a bad filter: USAGE error, and the process exits by itself', () => {
    const r = child(`
      try { new LiveCapture({ device: 'lo', filter: 'tcp port' }).start(() => {}); process.exit(3); }
      catch (e) { console.log(e.code); }`);
    expect(r.signal, 'hung').toBe(null);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('USAGE');
  });

  it('a packet callback that throws: the capture closes, the error surfaces, the process exits by itself', () => {
    const r = child(`
      const dgram = require('dgram');
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => {
        const port = s.address().port;
        const cap = new LiveCapture({ device: 'lo', filter: 'udp port ' + port, timeoutMs: 10 });
        process.on('uncaughtException', (e) => { console.log('caught ' + e.message); s.close(); });
        cap.start(() => { throw new Error('boom'); });
        s.send('x', port, '127.0.0.1');
      });`);
    expect(r.signal, 'hung').toBe(null);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('caught boom');
  });

  it('stop() from inside a batch (a packet count reached) ends the capture cleanly', () => {
    const r = child(`
      const dgram = require('dgram');
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => {
        const port = s.address().port;
        const cap = new LiveCapture({ device: 'lo', filter: 'udp port ' + port, timeoutMs: 200 });
        let n = 0;
        cap.start(() => { if (++n === 3) { cap.stop(); s.close(); } });
        for (let i = 0; i < 50; i++) s.send('x' + i, port, '127.0.0.1');
        setTimeout(() => console.log(n), 500);
      });`);
    expect(r.signal, 'hung').toBe(null);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('3');
  });
});
