import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PcapngWriter } from '../../src/capture/file-writer';
import { LINKTYPE } from '../../src/capture/linktypes';
import { CLI, gs, startCli } from '../helpers/cli';
import { ethernet, tcpSegment } from '../helpers/packets';

const dir = mkdtempSync(join(tmpdir(), 'gs-cli-'));

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

/** A short session: handshake, "hello" / "world!", a lost segment (acked), FIN both ways. */
function session(file: string): void {
  const c = (seq: number, flags: string, payload = '', ack = 0) =>
    ethernet(tcpSegment({ src: '127.0.0.1', dst: '127.0.0.1', sport: 51000, dport: 24000, seq, ack, flags, payload: Buffer.from(payload) }));
  const s = (seq: number, flags: string, payload = '', ack = 0) =>
    ethernet(tcpSegment({ src: '127.0.0.1', dst: '127.0.0.1', sport: 24000, dport: 51000, seq, ack, flags, payload: Buffer.from(payload) }));
  const w = new PcapngWriter(file, [{ linkType: LINKTYPE.ETHERNET }]);
  const pkts = [
    c(10, 'S'),
    s(90, 'SA', '', 11),
    c(11, 'A', '', 91),
    c(11, 'PA', 'hello', 91),
    s(91, 'PA', 'world!', 16),
    // c2s bytes 16..19 never captured; the next segment and the server's ACK show it
    c(20, 'PA', 'tail', 97),
    s(97, 'A', '', 24),
    c(24, 'FA', '', 97),
    s(97, 'FA', '', 25),
    c(25, 'A', '', 98),
  ];
  pkts.forEach((p, i) => w.write(p, 1.7e15 + i * 1000));
  w.close();
}

describe('gamesniff streams', () => {
  const file = join(dir, 'session.pcapng');
  session(file);

  it('prints one JSON object per connection direction', () => {
    const r = gs(['streams', '-r', file, '--json', '--hash']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      client: '127.0.0.1:51000',
      server: '127.0.0.1:24000',
      dir: 'c2s',
      bytes: 9,
      sha256: sha('hellotail'),
      gaps: 1,
      gapBytes: 4,
      overlapConflicts: 0,
      syn: true,
      end: 'fin',
    });
    expect(lines[1]).toMatchObject({ dir: 's2c', bytes: 6, sha256: sha('world!'), gaps: 0, end: 'fin' });
    expect(r.stderr).toMatch(/10 packets: 10 TCP/);
  });

  it('prints a readable line per direction without --json', () => {
    const r = gs(['streams', '-r', file, '--hash']);
    expect(r.stdout).toContain(`#0 tcp 127.0.0.1:51000 -> 127.0.0.1:24000 c2s bytes=9 sha256=${sha('hellotail')} gaps=1/4B`);
  });

  it('hashes only with --hash', () => {
    const text = gs(['streams', '-r', file]).stdout;
    expect(text).toContain('#0 tcp 127.0.0.1:51000 -> 127.0.0.1:24000 c2s bytes=9 gaps=1/4B');
    expect(text).not.toContain('sha256');
    const json = gs(['streams', '-r', file, '--json']).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(json.map((l) => 'sha256' in l)).toEqual([false, false]);
  });

  it('--write DIR writes each direction\'s delivered bytes', () => {
    const out = join(dir, 'out');
    expect(gs(['streams', '-r', file, '--write', out]).code).toBe(0);
    const files = readdirSync(out).sort();
    expect(files).toHaveLength(2);
    expect(readFileSync(join(out, files[0]!), 'utf8')).toBe('hellotail');
    expect(readFileSync(join(out, files[1]!), 'utf8')).toBe('world!');
  });

  it('--port filters to the application\'s connections', () => {
    expect(gs(['streams', '-r', file, '--port', '9999', '--json']).stdout).toBe('');
    expect(gs(['streams', '-r', file, '--port', '23000-24000', '--json']).stdout.trim().split('\n')).toHaveLength(2);
  });

  it('input and usage errors exit 2 with a clear message', () => {
    const bad = gs(['streams', '-r', join(dir, 'missing.pcap')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/missing\.pcap: no such file/);
    const notCapture = gs(['streams', '-r', CLI]);
    expect(notCapture.code).toBe(2);
    expect(notCapture.stderr).toMatch(/not a pcap or pcapng capture file/);
    const port = gs(['streams', '-r', file, '--port', '70000']);
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/ports go from 1 to 65535/);
    const unknown = gs(['streams', '--frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option/);
  });

  it('--help works for every command', () => {
    for (const args of [['--help'], ['streams', '--help']]) {
      const r = gs(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: gamesniff/);
    }
  });
});

const canDropCaps = process.getuid?.() === 0 && existsSync('/usr/bin/setpriv');

describe.skipIf(!canDropCaps)('live capture from the command line', () => {
  it('without capture privileges: exit 2 and say how to fix it', () => {
    const r = spawnSync('setpriv', ['--bounding-set', '-net_raw,-net_admin', '--inh-caps', '-net_raw,-net_admin', process.execPath, CLI, 'streams', '--port', '24000', '--duration', '1'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no permission to capture on lo\. Run as root \(sudo\), or .*setcap cap_net_raw,cap_net_admin=eip/);
  });

  it('streams --port captures a live session on loopback', async () => {
    const srv = net.createServer((sock) => sock.on('data', (d) => sock.write(d)).on('end', () => sock.end()));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const child = await startCli(['streams', '--port', String(port), '--duration', '4', '--json', '--hash'], 'capturing on');
    await new Promise<void>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => c.end('ping over loopback'));
      c.on('data', () => undefined);
      c.on('close', () => resolve());
    });
    const { code, stdout: out, stderr: err } = await child.done;
    srv.close();
    expect(code, err).toBe(0);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { dir: string; sha256: string; end: string });
    expect(lines.map((l) => [l.dir, l.sha256, l.end])).toEqual([
      ['c2s', sha('ping over loopback'), 'fin'],
      ['s2c', sha('ping over loopback'), 'fin'],
    ]);
    expect(err).toMatch(/capture on lo .*dropped 0/);
  });
});
