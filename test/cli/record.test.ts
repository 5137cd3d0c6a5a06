import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gs } from '../helpers/cli';
import { corpusFile, noCorpus } from '../helpers/corpus';
import { writeSession } from '../helpers/session';

const dir = mkdtempSync(join(tmpdir(), 'gs-record-'));

interface StreamLine {
  conn: number;
  dir: string;
  client: string;
  server: string;
  bytes: number;
  sha256: string;
  gaps: number;
  gapBytes: number;
}

function streams(file: string): StreamLine[] {
  const r = gs(['streams', '-r', file, '--json', '--hash']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as StreamLine);
}

const bytesOf = (s: StreamLine[]) => s.map(({ conn, dir, client, server, bytes, sha256, gapBytes }) => ({ conn, dir, client, server, bytes, sha256, gapBytes }));

// Gaps (acknowledged, at the end, leading, before a RST), IPv6, UDP over IPv6, Linux SLL, 32-bit wrap.
const CASES = [
  'suricata-verify__tcp-rst-unacked-stream-03-gap__input.pcap',
  'suricata-verify__eve-payload-06__tcp-leading-gap.pcap',
  'zeek__http__http-large-gap.pcap',
  'zeek__tcp__miss_end_data.pcap',
  'zeek__ftp__bigtransfer.pcap',
  'ndpi__bittorrent_tcp_miss.pcapng',
  'pcapplusplus__four_ipv6_http_streams.pcap',
  'ndpi__kcp.pcap',
  'pcapplusplus__sll.pcap',
];

describe.skipIf(noCorpus())('record -r on the third-party captures, then streams, info and export on the recording', () => {
  it.each(CASES)('%s: the recording holds the same streams, and so does its pcapng export', (name) => {
    const cap = corpusFile(name);
    const rec = join(dir, `${name}.gsrec`);
    const r = gs(['record', '-r', cap, '-o', rec]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/recorded \d+ TCP connections, \d+ UDP flows/);
    const original = streams(cap);
    expect(original.length).toBeGreaterThan(0);
    expect(streams(rec).map(({ conn, dir, bytes, sha256, gaps, gapBytes }) => ({ conn, dir, bytes, sha256, gaps, gapBytes }))).toEqual(
      original.map(({ conn, dir, bytes, sha256, gaps, gapBytes }) => ({ conn, dir, bytes, sha256, gaps, gapBytes })),
    );
    const pcap = join(dir, `${name}.pcapng`);
    const e = gs(['export', rec, '--pcap', pcap]);
    expect(e.code, e.stderr).toBe(0);
    expect(bytesOf(streams(pcap))).toEqual(bytesOf(original));
  });

  it('tshark reads the export with valid checksums and follows the same bytes', () => {
    const name = 'pcapplusplus__four_ipv6_http_streams.pcap';
    const rec = join(dir, 'tshark.gsrec');
    const pcap = join(dir, 'tshark.pcapng');
    expect(gs(['record', '-r', corpusFile(name), '-o', rec]).code).toBe(0);
    expect(gs(['export', rec, '--pcap', pcap]).code).toBe(0);
    const tshark = (args: string[]): string => {
      const t = spawnSync('tshark', ['-r', pcap, ...args], { encoding: 'utf8', timeout: 60_000 });
      expect(t.status, t.stderr).toBe(0);
      return t.stdout;
    };
    const bad = tshark(['-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-Y', 'tcp.checksum.status == 2 || _ws.malformed || tcp.analysis.flags', '-T', 'fields', '-e', 'frame.number']);
    expect(bad.trim()).toBe('');
    const ours = streams(rec);
    const conns = [...new Set(ours.map((s) => s.conn))];
    expect(conns).toHaveLength(4);
    for (let i = 0; i < conns.length; i++) {
      const out = tshark(['-q', '-z', `follow,tcp,raw,${i}`]);
      const body = out.split(/={10,}/)[1]!.split('\n').slice(5);
      const c2s = body.filter((l) => /^[0-9a-f]+$/.test(l)).join('');
      const s2c = body.filter((l) => /^\t[0-9a-f]+$/.test(l)).map((l) => l.trim()).join('');
      const sha = (hex: string) => createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex');
      const node0 = /Node 0: (\S+)/.exec(out)![1]!;
      const mine = ours.filter((s) => s.client === node0);
      expect(mine.find((s) => s.dir === 'c2s')!.sha256).toBe(sha(c2s));
      expect(mine.find((s) => s.dir === 's2c')!.sha256).toBe(sha(s2c));
    }
  });

  it('info describes a recording; decode reads it with the protocol it names', () => {
    const cap = corpusFile('zeek__tcp__miss_end_data.pcap');
    const rec = join(dir, 'info.gsrec');
    expect(gs(['record', '-r', cap, '-o', rec]).code).toBe(0);
    const text = gs(['info', rec]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/gamesniff recording, format 1/);
    expect(text.stdout).toMatch(/source: file .*miss_end_data\.pcap/);
    expect(text.stdout).toMatch(/protocol: none recorded/);
    expect(text.stdout).toMatch(/1 TCP connections, 0 UDP flows/);
    const json = JSON.parse(gs(['info', rec, '--json']).stdout) as { complete: boolean; connections: { bytes: number[]; gaps: number[] }[] };
    expect(json.complete).toBe(true);
    expect(json.connections[0].gaps.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    const d = gs(['decode', '-r', rec]);
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/decode needs -p PROTOCOL/);
  });

});

describe('record: bad input', () => {
  it('not a recording, an already-recorded file, no ports for a live capture', () => {
    const cap = join(dir, 'plain.pcap');
    writeSession(cap, [{ dir: 'c2s', bytes: Buffer.from('hello') }]);
    const notRec = gs(['info', cap]);
    expect(notRec.code).toBe(2);
    expect(notRec.stderr).toMatch(/not a gamesniff recording/);
    const rec = join(dir, 'again.gsrec');
    expect(gs(['record', '-r', cap, '-o', rec]).code).toBe(0);
    const twice = gs(['record', '-r', rec, '-o', join(dir, 'twice.gsrec')]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/is already a recording/);
    const noPort = gs(['record', '-o', join(dir, 'live.gsrec')]);
    expect(noPort.code).toBe(2);
    expect(noPort.stderr).toMatch(/record needs --port/);
  });
});
