import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { PcapWriter } from '../capture/file-writer';
import { LINKTYPE } from '../capture/linktypes';
import type { StreamEnd } from '../core/types';
import { loadProtocol } from '../protocol/protocol';
import { Rng } from '../core/rng';

/**
 * Hostile captures, as a fuzzer or a hostile network produces them, each generated
 * deterministically (same arguments, same bytes) by one function with a size parameter, so that
 * the benchmark can run them big and tests tiny:
 *
 * - `synFlood`: SYNs from distinct sources, never answered (connection-table growth);
 * - `gapFlood`: one connection whose client leaves a one-byte hole between one-byte segments,
 *   acknowledged at the end (one gap per hole);
 * - `outOfOrderStorm`: one connection whose one-byte segments arrive shuffled (out-of-order
 *   buffer cost; a correct reassembly delivers every byte, no gap);
 * - `zlibBomb`: a testgame session that reaches its compressed phase, then one small frame that
 *   inflates to many MiB;
 * - `longIdle`: long-lived connections that go quiet for more than the 300 s idle timeout in
 *   the middle of their streams, then resume with reordered segments.
 *
 * Each returns what a correct reassembly has to deliver (bytes, sha256, gaps per direction), in
 * the terms `gamesniff streams --json` reports. Timestamps are packet time, from 2023-11-14.
 */

export type Link = 'ethernet' | 'raw';

export interface AdversarialOptions {
  /** Link type of the capture: Ethernet (1) or raw IPv4 (101). Defaults differ per capture. */
  link?: Link;
  seed?: number;
}

/** One direction as `gamesniff streams --json` should report it. */
export interface ExpectedStream {
  bytes: number;
  /** sha256 of the delivered bytes (gaps contribute nothing). */
  sha256: string;
  gaps: number;
  gapBytes: number;
  end: StreamEnd;
}

export interface ExpectedConnection {
  /** ip:port, as `streams` prints it. */
  client: string;
  server: string;
  c2s: ExpectedStream;
  s2c: ExpectedStream;
}

export interface AdversarialSummary {
  file: string;
  linkType: number;
  packets: number;
  /** TCP payload bytes in the capture. */
  payloadBytes: number;
  fileBytes: number;
  /** TCP connections a correct reader finds. */
  connections: number;
  /** Packet time from the first to the last packet, µs. */
  durationUs: number;
}

export interface SynFloodSummary extends AdversarialSummary {
  /** What every one of the `connections` half-open connections should report (client varies). */
  each: { server: string; c2s: ExpectedStream; s2c: ExpectedStream };
}

export interface ConnectionsSummary extends AdversarialSummary {
  expected: ExpectedConnection[];
}

export interface ZlibBombSummary extends ConnectionsSummary {
  content: 'zeros' | 'snapshot';
  /** Size the bomb frame inflates to (and its declared uncompressed length). */
  inflatedBytes: number;
  /** Size of the bomb's frame body on the wire (varint length + zlib data). */
  compressedBytes: number;
  /** Snapshot entities inside the bomb (0 for zeros). */
  entities: number;
  /**
   * Messages in order per direction, as `gamesniff decode -p testgame` names them; the bomb is
   * `null` for zeros (message id 0 does not exist) and 'snapshot' otherwise.
   */
  messages: { c2s: Array<string | null>; s2c: Array<string | null> };
}

export interface LongIdleSummary extends ConnectionsSummary {
  idleSeconds: number;
}

// ---------------------------------------------------------------------------------------------

const T0 = 1_700_000_000_000_000;
const SYN = 0x02;
const FIN = 0x01;
const PSH = 0x08;
const ACK = 0x10;
const SERVER = { ip: 0x7f000001, port: 24000 };

interface Endpoint {
  ip: number;
  port: number;
}

interface Segment {
  ts: number;
  from: Endpoint;
  to: Endpoint;
  seq: number;
  ack: number;
  flags: number;
  payload?: Buffer;
}

const ipString = (ip: number): string => `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
const endpoint = (e: Endpoint): string => `${ipString(e.ip)}:${e.port}`;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const EMPTY_SHA = sha256(Buffer.alloc(0));
const emptyStream = (end: StreamEnd): ExpectedStream => ({ bytes: 0, sha256: EMPTY_SHA, gaps: 0, gapBytes: 0, end });

/** Sum of big-endian 16-bit words, not folded. */
function sum16(b: Buffer, start: number, end: number, acc: number): number {
  let i = start;
  for (; i + 1 < end; i += 2) acc += (b[i]! << 8) | b[i + 1]!;
  if (i < end) acc += b[i]! << 8;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 65536);
  return ~acc & 0xffff;
}

/** Writes IPv4/TCP packets (valid checksums) to a classic pcap, Ethernet or raw IP. */
class Wire {
  readonly linkType: number;
  packets = 0;
  payloadBytes = 0;
  firstTs = -1;
  lastTs = T0;
  private readonly w: PcapWriter;
  private readonly l3: number;
  private readonly pkt: Buffer;
  private ipId = 0;

  constructor(
    readonly file: string,
    link: Link,
  ) {
    this.linkType = link === 'raw' ? LINKTYPE.RAW : LINKTYPE.ETHERNET;
    this.l3 = link === 'raw' ? 0 : 14;
    this.pkt = Buffer.alloc(this.l3 + 40 + 65495);
    if (this.l3) {
      this.pkt.writeUIntBE(0x020000000002, 0, 6); // locally administered MACs
      this.pkt.writeUIntBE(0x020000000001, 6, 6);
      this.pkt.writeUInt16BE(0x0800, 12);
    }
    this.w = new PcapWriter(file, this.linkType, { snapLen: 262144 });
  }

  write(s: Segment): void {
    const plen = s.payload ? s.payload.length : 0;
    if (plen > 65495) throw new RangeError(`a ${plen}-byte payload does not fit an IPv4 packet`);
    const p = this.pkt;
    const ip = this.l3;
    const t = ip + 20;
    p[ip] = 0x45;
    p[ip + 1] = 0;
    p.writeUInt16BE(40 + plen, ip + 2);
    p.writeUInt16BE(this.ipId++ & 0xffff, ip + 4);
    p.writeUInt16BE(0x4000, ip + 6);
    p[ip + 8] = 64;
    p[ip + 9] = 6;
    p.writeUInt16BE(0, ip + 10);
    p.writeUInt32BE(s.from.ip >>> 0, ip + 12);
    p.writeUInt32BE(s.to.ip >>> 0, ip + 16);
    p.writeUInt16BE(fold(sum16(p, ip, ip + 20, 0)), ip + 10);
    p.writeUInt16BE(s.from.port, t);
    p.writeUInt16BE(s.to.port, t + 2);
    p.writeUInt32BE(s.seq >>> 0, t + 4);
    p.writeUInt32BE(s.ack >>> 0, t + 8);
    p[t + 12] = 0x50;
    p[t + 13] = s.flags;
    p.writeUInt16BE(65535, t + 14);
    p.writeUInt32BE(0, t + 16); // checksum, urgent pointer
    if (s.payload) s.payload.copy(p, t + 20);
    // TCP checksum: pseudo header (addresses, protocol, TCP length), header and payload
    let acc = sum16(p, ip + 12, ip + 20, 6 + 20 + plen);
    acc = sum16(p, t, t + 20 + plen, acc);
    p.writeUInt16BE(fold(acc), t + 16);
    this.w.write(p.subarray(0, t + 20 + plen), s.ts);
    if (this.firstTs < 0) this.firstTs = s.ts;
    this.lastTs = s.ts;
    this.packets++;
    this.payloadBytes += plen;
  }

  close(connections: number): AdversarialSummary {
    this.w.close();
    return {
      file: this.file,
      linkType: this.linkType,
      packets: this.packets,
      payloadBytes: this.payloadBytes,
      fileBytes: statSync(this.file).size,
      connections,
      durationUs: this.packets ? this.lastTs - this.firstTs : 0,
    };
  }
}

/**
 * One TCP connection's packets. Offsets are stream offsets (0 = the first byte after the SYN);
 * `got[d]` is what side d has received in order from the other side, which its ACKs carry.
 * Side 0 is the client. Each packet is `step` µs after the previous one of this connection.
 */
class Conn {
  readonly isn: [number, number];
  readonly got: [number, number] = [0, 0];
  /** Highest stream offset each side has sent. */
  readonly hi: [number, number] = [0, 0];
  clock: number;

  constructor(
    private readonly emit: (s: Segment) => void,
    readonly client: Endpoint,
    readonly server: Endpoint,
    rng: Rng,
    start = T0,
    private readonly step = 10,
  ) {
    this.isn = [rng.u32(), rng.u32()];
    this.clock = start;
  }

  private send(d: 0 | 1, seq: number, flags: number, payload?: Buffer): void {
    const [from, to] = d === 0 ? [this.client, this.server] : [this.server, this.client];
    this.clock += this.step;
    this.emit({ ts: this.clock, from, to, seq: (this.isn[d] + seq) >>> 0, ack: flags & ACK ? (this.isn[1 - d]! + 1 + this.got[d]) >>> 0 : 0, flags, payload });
  }

  handshake(): void {
    this.send(0, 0, SYN);
    this.send(1, 0, SYN | ACK);
    this.send(0, 1, ACK);
  }

  /** Data from side d at stream offset `off`. */
  data(d: 0 | 1, off: number, payload: Buffer): void {
    this.send(d, 1 + off, PSH | ACK, payload);
    this.hi[d] = Math.max(this.hi[d], off + payload.length);
  }

  /** A pure ACK from side d, acknowledging `upTo` bytes of the other side (default: all it sent). */
  ack(d: 0 | 1, upTo = this.hi[1 - d]!): void {
    this.got[d] = upTo;
    this.send(d, 1 + this.hi[d], ACK);
  }

  /** FIN from the client, FIN+ACK from the server, last ACK: both directions end with 'fin'. */
  close(): void {
    this.got[0] = this.hi[1];
    this.send(0, 1 + this.hi[0], FIN | ACK);
    this.got[1] = this.hi[0] + 1;
    this.send(1, 1 + this.hi[1], FIN | ACK);
    this.got[0] = this.hi[1] + 1;
    this.send(0, 2 + this.hi[0], ACK);
  }
}

const expected = (c: Conn, c2s: Omit<ExpectedStream, 'end'>, s2c: Omit<ExpectedStream, 'end'>, end: StreamEnd = 'fin'): ExpectedConnection => ({
  client: endpoint(c.client),
  server: endpoint(c.server),
  c2s: { ...c2s, end },
  s2c: { ...s2c, end },
});

const stream = (b: Buffer): Omit<ExpectedStream, 'end'> => ({ bytes: b.length, sha256: sha256(b), gaps: 0, gapBytes: 0 });

// ---------------------------------------------------------------------------------------------

/**
 * `n` SYNs to 127.0.0.1:24000, each from its own address (10.0.0.1 upwards) and port, 10 µs
 * apart, never answered. Raw IPv4 link type unless `opts.link` says otherwise. A correct reader
 * reports `n` connections with nothing delivered, in bounded memory.
 */
export function synFlood(file: string, n: number, opts: AdversarialOptions = {}): SynFloodSummary {
  const wire = new Wire(file, opts.link ?? 'raw');
  const rng = new Rng(opts.seed ?? 11);
  let ts = T0;
  for (let i = 0; i < n; i++) {
    const from = { ip: (0x0a000001 + i) >>> 0, port: 1024 + ((i * 7919) % 64511) };
    wire.write({ ts: (ts += 10), from, to: SERVER, seq: rng.u32(), ack: 0, flags: SYN });
  }
  return { ...wire.close(n), each: { server: endpoint(SERVER), c2s: emptyStream('open'), s2c: emptyStream('open') } };
}

/**
 * One connection (handshake) whose client sends `holes` one-byte segments at odd stream offsets
 * 1, 3, ..., 2*holes-1, so that a one-byte hole precedes each; then the server acknowledges all
 * 2*holes bytes, then FIN both ways. A correct reassembly delivers `holes` bytes in `holes`
 * one-byte gaps.
 */
export function gapFlood(file: string, holes: number, opts: AdversarialOptions = {}): ConnectionsSummary {
  const wire = new Wire(file, opts.link ?? 'ethernet');
  const rng = new Rng(opts.seed ?? 12);
  const c = new Conn((s) => wire.write(s), { ip: 0x7f000002, port: 40001 }, SERVER, rng);
  c.handshake();
  const delivered = Buffer.allocUnsafe(holes);
  for (let k = 0; k < holes; k++) {
    const b = rng.u32() & 0xff;
    delivered[k] = b;
    c.data(0, 2 * k + 1, Buffer.of(b));
  }
  c.ack(1, 2 * holes);
  c.close();
  const c2s = { bytes: holes, sha256: sha256(delivered), gaps: holes, gapBytes: holes };
  return { ...wire.close(1), expected: [expected(c, c2s, stream(Buffer.alloc(0)))] };
}

/**
 * One connection (handshake) whose client sends the `n` bytes of its stream as `n` one-byte
 * segments in a shuffled order (Fisher-Yates, deterministic PRNG); then the server acknowledges
 * them all, then FIN both ways. A correct reassembly delivers all `n` bytes in order, no gap.
 */
export function outOfOrderStorm(file: string, n: number, opts: AdversarialOptions = {}): ConnectionsSummary {
  const wire = new Wire(file, opts.link ?? 'ethernet');
  const rng = new Rng(opts.seed ?? 13);
  const c = new Conn((s) => wire.write(s), { ip: 0x7f000002, port: 40002 }, SERVER, rng);
  const data = rng.bytes(n);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  c.handshake();
  for (let i = 0; i < n; i++) {
    const off = order[i]!;
    c.data(0, off, data.subarray(off, off + 1));
  }
  c.hi[0] = n;
  c.ack(1, n);
  c.close();
  return { ...wire.close(1), expected: [expected(c, stream(data), stream(Buffer.alloc(0)))] };
}

function varint(v: number): Buffer {
  const out: number[] = [];
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) b |= 0x80;
    out.push(b);
  } while (v > 0);
  return Buffer.from(out);
}

export interface ZlibBombOptions extends AdversarialOptions {
  /**
   * What the bomb inflates to: 'zeros' (default; message id 0, which testgame does not define),
   * or 'snapshot': a valid snapshot of as many 15-byte npc entities as fit (compresses about
   * half as well as zeros: at most about 31 MiB fits a frame).
   */
  content?: 'zeros' | 'snapshot';
  /** TCP segment size for the session's frames (default 1448). */
  mss?: number;
}

/**
 * A testgame session on 127.0.0.1:24000: hello, hello_ack, login, login_ok + set_compression
 * (threshold 64) + inventory, ack_login; then one server frame whose zlib data inflates to `mib`
 * MiB (one u16-framed frame holds at most 65535 bytes, so about 64 MiB of zeros at most: a
 * RangeError beyond), cut into `mss`-byte segments; then ping, bye and FIN both ways. Built with
 * the library's own encoder (`loadProtocol('testgame')`).
 */
export function zlibBomb(file: string, mib: number, opts: ZlibBombOptions = {}): ZlibBombSummary {
  const content = opts.content ?? 'zeros';
  const mss = opts.mss ?? 1448;
  const inflated = Math.round(mib * 1048576);
  let bombBody: Buffer;
  let entities = 0;
  if (content === 'zeros') {
    bombBody = Buffer.alloc(inflated);
  } else {
    // id, tick u32, server_time u64, entity count varint, then entities: id varint 0, kind npc (2), pos 0,0, flags 0, stats 0, npc state idle (u16 0)
    const head = 1 + 4 + 8;
    entities = Math.max(0, Math.floor((inflated - head - 4) / 15));
    const count = varint(entities);
    bombBody = Buffer.alloc(head + count.length + entities * 15);
    bombBody[0] = 0x10;
    bombBody.writeUInt32LE(1, 1);
    count.copy(bombBody, head);
    for (let i = 0, o = head + count.length + 1; i < entities; i++, o += 15) bombBody[o] = 2;
  }
  const inflatedBytes = bombBody.length;
  if (inflatedBytes < 64) throw new RangeError(`a bomb of ${inflatedBytes} bytes is under the compression threshold (64)`);
  const z = deflateSync(bombBody, { level: 9, memLevel: 9 });
  const bombFrameBody = Buffer.concat([varint(bombBody.length), z]);
  if (bombFrameBody.length > 65535) {
    throw new RangeError(`a ${mib} MiB ${content} bomb compresses to ${bombFrameBody.length} bytes: more than one u16-length frame holds (65535)`);
  }
  bombBody = Buffer.alloc(0); // let it go

  const protocol = loadProtocol('testgame');
  const t = protocol.tcp!;
  const plain = protocol.newState();
  const compressed = { ...plain, compression: 64 };
  const token = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const msg = (name: string, fields: unknown, state: Record<string, unknown>): Buffer => t.frame(t.encode(name, fields, state));

  const wire = new Wire(file, opts.link ?? 'ethernet');
  const rng = new Rng(opts.seed ?? 14);
  const c = new Conn((s) => wire.write(s), { ip: 0x7f000002, port: 40003 }, SERVER, rng, T0, 200);
  const sent: [Buffer[], Buffer[]] = [[], []];
  const names: [Array<string | null>, Array<string | null>] = [[], []];
  /** Side d writes these frames at once; the other side acknowledges. */
  const write = (d: 0 | 1, frames: Array<[string | null, Buffer]>): void => {
    const bytes = Buffer.concat(frames.map((f) => f[1]));
    for (const [name] of frames) names[d].push(name);
    sent[d].push(bytes);
    const base = c.hi[d];
    for (let o = 0, n = 0; o < bytes.length; o += mss, n++) {
      c.data(d, base + o, bytes.subarray(o, o + mss));
      if (n % 8 === 7) c.ack(d === 0 ? 1 : 0);
    }
    c.ack(d === 0 ? 1 : 0);
  };

  c.handshake();
  write(0, [['hello', msg('hello', { version: 3, features: [1, 2, 3] }, plain)]]);
  write(1, [['hello_ack', msg('hello_ack', { server_time: 1_700_000_000_000n, motd: 'welcome to testgame' }, plain)]]);
  write(0, [['login', msg('login', { name: 'mallory', password: 'hunter2', client: 'gamesniff-bench/1' }, plain)]]);
  write(1, [
    ['login_ok', msg('login_ok', { player_id: 7, token, spawn: { x: 1.5, y: -2 }, stats: [10, 20, 0] }, plain)],
    ['set_compression', msg('set_compression', { threshold: 64 }, plain)],
    ['inventory', msg('inventory', { items: { potion: 3, sword: 1 } }, compressed)],
  ]);
  write(0, [['ack_login', msg('ack_login', { token }, compressed)]]);
  write(1, [[content === 'zeros' ? null : 'snapshot', t.frame(bombFrameBody)]]);
  write(1, [['ping', msg('ping', { nonce: 0x12345678 }, compressed)]]);
  write(0, [['bye', msg('bye', { reason: 'quit' }, compressed)]]);
  c.close();

  const c2s = Buffer.concat(sent[0]);
  const s2c = Buffer.concat(sent[1]);
  return {
    ...wire.close(1),
    expected: [expected(c, stream(c2s), stream(s2c))],
    content,
    inflatedBytes,
    compressedBytes: bombFrameBody.length,
    entities,
    messages: { c2s: names[0], s2c: names[1] },
  };
}

export interface LongIdleOptions extends AdversarialOptions {
  /** Packet-time silence of each connection in the middle of its streams (default 400 s). */
  idleSeconds?: number;
}

/**
 * `conns` connections to 127.0.0.1:24000, started 50 ms apart. Each: handshake, four data
 * segments each way (100-1400 random bytes), then `idleSeconds` (default 400, more than the
 * default 300 s idle timeout) with no packet of its own, then resumes with reordered segments:
 * the client's 2nd and 3rd segments before its 1st, the server's 2nd before its 1st (with a
 * duplicate ACK), then six more segments each way in order, then FIN both ways. TCP has no idle
 * limit, so a correct reassembly delivers each direction whole as one connection: the expected
 * sha256 per direction is returned.
 */
export function longIdle(file: string, conns: number, opts: LongIdleOptions = {}): LongIdleSummary {
  const idleSeconds = opts.idleSeconds ?? 400;
  const rng = new Rng(opts.seed ?? 15);
  const segs: Segment[] = [];
  const expect: ExpectedConnection[] = [];
  for (let k = 0; k < conns; k++) {
    const client = { ip: 0x7f000002 + Math.floor(k / 40000), port: 20000 + (k % 40000) };
    const c = new Conn((s) => segs.push(s), client, SERVER, rng, T0 + k * 50_000, 1000);
    const chunks = (n: number): Buffer[] => Array.from({ length: n }, () => rng.bytes(rng.int(100, 1400)));
    // segments 0-3 before the silence, 4-12 (client) and 4-11 (server) after
    const list = [chunks(13), chunks(12)] as const;
    const off = list.map((l) => {
      let o = 0;
      return l.map((b) => (o += b.length) - b.length);
    });
    const seg = (d: 0 | 1, i: number): void => c.data(d, off[d]![i]!, list[d][i]!);
    const sentUpTo = (d: 0 | 1, i: number): number => off[d]![i]! + list[d][i]!.length;

    c.handshake();
    for (let i = 0; i < 4; i++) {
      seg(0, i);
      c.got[1] = sentUpTo(0, i);
      seg(1, i);
      c.got[0] = sentUpTo(1, i);
    }
    c.ack(0, sentUpTo(1, 3));
    // silence, longer than the idle timeout (other connections keep talking meanwhile)
    c.clock += idleSeconds * 1e6 + rng.int(0, 999_999);
    // resume out of order: client segments 5 and 6 before 4, server 5 before 4
    seg(0, 5);
    seg(0, 6);
    c.ack(1, sentUpTo(0, 3)); // duplicate ACK: the hole at segment 4
    seg(0, 4);
    c.ack(1, sentUpTo(0, 6));
    seg(1, 5);
    c.ack(0, sentUpTo(1, 3));
    seg(1, 4);
    c.ack(0, sentUpTo(1, 5));
    for (let j = 0; j < 6; j++) {
      seg(0, 7 + j);
      c.got[1] = sentUpTo(0, 7 + j);
      seg(1, 6 + j);
      c.got[0] = sentUpTo(1, 6 + j);
    }
    c.ack(1, sentUpTo(0, 12));
    c.close();
    expect.push(expected(c, stream(Buffer.concat(list[0])), stream(Buffer.concat(list[1]))));
  }
  // merge the connections' packets by time (stable: a connection's own order is kept)
  segs.sort((a, b) => a.ts - b.ts);
  const wire = new Wire(file, opts.link ?? 'ethernet');
  for (const s of segs) wire.write(s);
  return { ...wire.close(conns), expected: expect, idleSeconds };
}
