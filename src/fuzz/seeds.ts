/**
 * Seeds per target. Everything a bare clone has (recordings/, protocols/, captures and WebSocket
 * sessions built in code, earlier finds in test/fixtures/fuzz), plus the third-party captures in
 * ../shared/captures or $GAMESNIFF_CAPTURES when they are there.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { compileProtocol } from '../protocol/protocol';
import { conversation, fragment4, fragment6, pcap, pcapng, tcp, udp, type Pkt } from './packets';
import { builtWsSessions } from './websocket';

export type TargetName = 'capture' | 'recording' | 'protocol' | 'websocket';
export const TARGETS: TargetName[] = ['capture', 'recording', 'protocol', 'websocket'];

export interface Seed {
  name: string;
  data: Buffer;
}

/** The largest seed taken from disk (bigger ones are cut: mutations of huge files are slow). */
const MAX_SEED = 1 << 20;

interface Vector {
  dir: 'c2s' | 's2c';
  transport?: string;
  state?: Record<string, unknown>;
  hex: string;
  message?: string;
}

/** Frame bodies of the testgame vectors, framed as they go on the wire, in a plausible session order. */
function testgameFrames(root: string): { tcp: { c2s: boolean; bytes: Buffer }[]; udp: { c2s: boolean; bytes: Buffer }[] } {
  const dir = join(root, 'protocols', 'testgame');
  const proto = compileProtocol(readFileSync(join(dir, 'protocol.yaml'), 'utf8'), join(dir, 'protocol.yaml'));
  const vectors = (parseYaml(readFileSync(join(dir, 'vectors.yaml'), 'utf8')) as { vectors: Vector[] }).vectors;
  const body = (v: Vector) => Buffer.from(String(v.hex).replace(/\s+/g, ''), 'hex');
  const plain: { c2s: boolean; bytes: Buffer }[] = [];
  const compressed: { c2s: boolean; bytes: Buffer }[] = [];
  let setCompression: Buffer | null = null;
  const udpFrames: { c2s: boolean; bytes: Buffer }[] = [];
  for (const v of vectors) {
    const b = body(v);
    if (v.transport === 'udp') {
      udpFrames.push({ c2s: v.dir === 'c2s', bytes: b });
      continue;
    }
    const framed = proto.tcp!.frame(b);
    if (v.message === 'set_compression') setCompression = framed;
    else if (v.state && typeof v.state.compression === 'number' && v.state.compression >= 0) compressed.push({ c2s: v.dir === 'c2s', bytes: framed });
    else {
      plain.push({ c2s: v.dir === 'c2s', bytes: framed });
      // the same body once compression is on: a 0 length (uncompressed) first
      compressed.push({ c2s: v.dir === 'c2s', bytes: proto.tcp!.frame(Buffer.concat([Buffer.from([0]), b])) });
    }
  }
  const tcpFrames = [...plain];
  if (setCompression) tcpFrames.push({ c2s: false, bytes: setCompression }, ...compressed.slice(0, 8));
  return { tcp: tcpFrames, udp: udpFrames };
}

/** Small captures built in code: every one a bare clone can make. */
export function builtCaptures(root: string): Seed[] {
  const frames = testgameFrames(root);
  const v4 = { src: '10.0.0.1', dst: '10.0.0.2', v6: false };
  const v6 = { src: 'fd00::1', dst: 'fd00::2', v6: true };
  const t0 = 1_700_000_000_000_000;
  const udpPkts = (a: typeof v4, t: number): Pkt[] =>
    frames.udp.map((f, i) => ({ ip: f.c2s ? udp(a, 40001, 24001, f.bytes) : udp({ src: a.dst, dst: a.src, v6: a.v6 }, 24001, 40001, f.bytes), ts: t + i * 50 }));
  const session4 = [...conversation(v4, 40000, 24000, frames.tcp, t0), ...udpPkts(v4, t0 + 10_000)].sort((a, b) => a.ts - b.ts);
  const session6 = [...conversation(v6, 40002, 24000, frames.tcp.slice(0, 6), t0), ...udpPkts(v6, t0 + 5_000)].sort((a, b) => a.ts - b.ts);
  // fragments: a UDP datagram in three IPv4 fragments (last one first), a TCP segment in two, an IPv6 datagram in two
  const bigUdp = udp(v4, 40001, 24001, Buffer.concat([frames.udp[1]?.bytes ?? Buffer.alloc(0), Buffer.alloc(40, 0x41)]));
  const f4 = fragment4(bigUdp, 16);
  const seg = tcp(v4, 40000, 24000, 1001, 500001, 'PA', frames.tcp[0]!.bytes);
  const f4t = fragment4(seg, 8);
  const f6 = fragment6(udp(v6, 40003, 24001, Buffer.concat([frames.udp[0]?.bytes ?? Buffer.alloc(0), Buffer.alloc(24, 0x42)])), 16, 0x1234);
  const frags: Pkt[] = [
    ...conversation(v4, 40000, 24000, [], t0).slice(0, 3),
    ...[f4[2]!, f4[0]!, f4[1]!, ...f4.slice(3)].map((ip, i) => ({ ip, ts: t0 + 1000 + i })),
    ...f4t.map((ip, i) => ({ ip, ts: t0 + 2000 + i })),
    ...f6.map((ip, i) => ({ ip, ts: t0 + 3000 + i })),
  ];
  // TCP with gaps, out of order, a retransmission and a RST
  const c = conversation(v4, 40010, 24000, frames.tcp.slice(0, 8), t0);
  const messy: Pkt[] = [c[0]!, c[1]!, c[2]!, c[4]!, c[3]!, c[4]!, c[6]!, c[7]!, c[9]!, { ip: tcp(v4, 40010, 24000, 99999, 0, 'R'), ts: t0 + 5000 }];
  return [
    { name: 'built/pcap-le-us-ethernet', data: pcap(session4, { le: true, ns: false, link: 'ethernet' }) },
    { name: 'built/pcap-be-ns-raw', data: pcap(session4, { le: false, ns: true, link: 'raw' }) },
    { name: 'built/pcap-le-ns-sll-ipv6', data: pcap(session6, { le: true, ns: true, link: 'sll' }) },
    { name: 'built/pcap-be-us-null-ipv6', data: pcap(session6, { le: false, ns: false, link: 'null' }) },
    { name: 'built/pcap-le-fragments', data: pcap(frags, { le: true, ns: false, link: 'ethernet' }) },
    { name: 'built/pcap-be-messy-tcp', data: pcap(messy, { le: false, ns: false, link: 'raw' }) },
    { name: 'built/pcap-le-snaplen', data: pcap(session4, { le: true, ns: false, link: 'ethernet', snap: 60 }) },
    { name: 'built/pcapng-le', data: pcapng([{ le: true, pkts: session4, links: ['ethernet'], extras: true }]) },
    { name: 'built/pcapng-be-two-ifaces', data: pcapng([{ le: false, pkts: session6, links: ['raw', 'ethernet'], tsresol: 9, tsoffset: 1, extras: true }]) },
    {
      name: 'built/pcapng-two-sections',
      data: pcapng([
        { le: true, pkts: frags, links: ['raw'], tsresol: 0x80 | 20 },
        { le: false, pkts: session4.slice(0, 12), links: ['ethernet'], tsresol: 3 },
      ]),
    },
    { name: 'built/pcapng-le-messy', data: pcapng([{ le: true, pkts: messy, links: ['raw'], extras: true }]) },
  ];
}

function readSeed(file: string): Buffer | null {
  try {
    if (!statSync(file).isFile()) return null;
    let b = readFileSync(file);
    if (b[0] === 0x1f && b[1] === 0x8b) {
      try {
        b = gunzipSync(b, { maxOutputLength: MAX_SEED });
      } catch {
        return null;
      }
    }
    return b.length > MAX_SEED ? b.subarray(0, MAX_SEED) : b;
  } catch {
    return null;
  }
}

/** The third-party capture directory, when there is one. */
export function sharedCaptureDir(root: string): string | null {
  const env = process.env.GAMESNIFF_CAPTURES;
  const dir = env ? resolve(env) : resolve(root, '..', 'shared', 'captures');
  return existsSync(dir) && statSync(dir).isDirectory() ? dir : null;
}

export const FIXTURE_DIR = (root: string) => join(root, 'test', 'fixtures', 'fuzz');

/** Fixture files (not sidecars) of a target: `<target>-<hash>.<ext>`. */
export function fixtureFiles(root: string, target?: TargetName): string[] {
  const dir = FIXTURE_DIR(root);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => !f.endsWith('.txt') && TARGETS.some((t) => f.startsWith(`${t}-`)) && (!target || f.startsWith(`${target}-`)))
    .sort()
    .map((f) => join(dir, f));
}

export function targetOfFixture(file: string): TargetName | null {
  const base = file.split(/[\\/]/).pop()!;
  return TARGETS.find((t) => base.startsWith(`${t}-`)) ?? null;
}

export interface SeedSet {
  seeds: Record<TargetName, Seed[]>;
  shared: string | null;
}

export function loadSeeds(root: string, opts: { shared?: boolean; fixtures?: boolean } = {}): SeedSet {
  const seeds: Record<TargetName, Seed[]> = { capture: builtCaptures(root), recording: [], protocol: [], websocket: builtWsSessions() };
  const rec = join(root, 'recordings');
  if (existsSync(rec)) {
    for (const f of readdirSync(rec).sort()) {
      if (!f.endsWith('.gsrec')) continue;
      const b = readSeed(join(rec, f));
      if (b) seeds.recording.push({ name: `recordings/${f}`, data: b });
    }
  }
  const protos = join(root, 'protocols');
  if (existsSync(protos)) {
    for (const d of readdirSync(protos).sort()) {
      const b = readSeed(join(protos, d, 'protocol.yaml'));
      if (b) seeds.protocol.push({ name: `protocols/${d}/protocol.yaml`, data: b });
    }
  }
  for (const t of opts.fixtures === false ? [] : TARGETS) {
    for (const f of fixtureFiles(root, t)) {
      const b = readSeed(f);
      if (b) seeds[t].push({ name: `fixture/${f.split(/[\\/]/).pop()}`, data: b });
    }
  }
  let shared: string | null = null;
  if (opts.shared !== false) {
    shared = sharedCaptureDir(root);
    if (shared) {
      for (const f of readdirSync(shared).sort()) {
        if (!/\.(pcap|pcapng|cap)(\.gz)?$/.test(f)) continue;
        const b = readSeed(join(shared, f));
        if (b) seeds.capture.push({ name: `shared/${f}`, data: b });
      }
    }
  }
  return { seeds, shared };
}
