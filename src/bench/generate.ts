import { existsSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter } from '../capture/file-writer';
import { LINKTYPE } from '../capture/linktypes';
import { Rng } from '../core/rng';

/**
 * A deterministic capture of game-like loopback traffic, for the benchmark and
 * the quick start: long sessions whose streams are length-prefixed messages
 * (u16 length, u8 id, payload) cut into segments that cross message
 * boundaries, with some reordering and retransmission, interleaved with many
 * short connections (handshake, a hello each way, FIN). Nothing is lost, so
 * a correct reassembly reports no gaps.
 */

export interface GenerateOptions {
  /** Payload bytes of the long sessions, both directions together. */
  sessionBytes: number;
  sessions: number;
  shortConnections: number;
  /** Sessions open at once (default 48). */
  concurrent?: number;
  seed?: number;
}

export interface GenerateResult {
  packets: number;
  payloadBytes: number;
  connections: number;
}

interface Side {
  ip: number;
  port: number;
  seq: number;
  /** Stream bytes still to send, as a message-framed buffer. */
  data: Buffer;
  sent: number;
  finSent: boolean;
}

interface Conn {
  a: Side; // client
  b: Side; // server
  /** Segments held back to be sent after the next one (reordering) or again (retransmission). */
  later: Array<{ from: Side; to: Side; seq: number; payload: Buffer }>;
  stage: number;
}

const ETH_IP_TCP = 14 + 20 + 20;

export function generateCapture(path: string, opts: GenerateOptions): GenerateResult {
  const rng = new Rng(opts.seed ?? 1);
  const w = new PcapWriter(path, LINKTYPE.ETHERNET, { snapLen: 262144 });
  const pool = Buffer.alloc(1 << 20);
  for (let i = 0; i < pool.length; i++) pool[i] = Math.floor(rng.next() * 256);
  const pkt = Buffer.alloc(ETH_IP_TCP + 65536);
  pkt.writeUInt16BE(0x0800, 12);
  let ts = 1_700_000_000_000_000;
  let ipId = 0;
  let packets = 0;
  let payloadBytes = 0;

  const emit = (from: Side, to: Side, seq: number, ack: number, flags: number, payload: Buffer | null): void => {
    const plen = payload ? payload.length : 0;
    const ip = 14;
    pkt[ip] = 0x45;
    pkt[ip + 1] = 0;
    pkt.writeUInt16BE(40 + plen, ip + 2);
    pkt.writeUInt16BE(ipId++ & 0xffff, ip + 4);
    pkt.writeUInt16BE(0x4000, ip + 6);
    pkt[ip + 8] = 64;
    pkt[ip + 9] = 6;
    pkt.writeUInt16BE(0, ip + 10);
    pkt.writeUInt32BE(from.ip, ip + 12);
    pkt.writeUInt32BE(to.ip, ip + 16);
    const t = ip + 20;
    pkt.writeUInt16BE(from.port, t);
    pkt.writeUInt16BE(to.port, t + 2);
    pkt.writeUInt32BE(seq >>> 0, t + 4);
    pkt.writeUInt32BE(ack >>> 0, t + 8);
    pkt[t + 12] = 0x50;
    pkt[t + 13] = flags;
    pkt.writeUInt16BE(65535, t + 14);
    pkt.writeUInt32BE(0, t + 16);
    if (payload) payload.copy(pkt, ETH_IP_TCP);
    ts += 2 + rng.int(0, 6);
    w.write(pkt.subarray(0, ETH_IP_TCP + plen), ts);
    packets++;
    payloadBytes += plen;
  };

  /** A stream of framed messages: u16 length (of id + payload), u8 id, payload. */
  const messages = (bytes: number): Buffer => {
    const out = Buffer.allocUnsafe(bytes);
    let o = 0;
    while (o < bytes) {
      const size = Math.min(bytes - o, rng.int(8, 600));
      const body = Math.max(0, size - 3);
      if (size >= 3) {
        out.writeUInt16BE(body + 1, o);
        out[o + 2] = rng.int(1, 40);
        const at = rng.int(0, pool.length - body - 1);
        pool.copy(out, o + 3, at, at + body);
      } else {
        out.fill(0, o, o + size);
      }
      o += size;
    }
    return out;
  };

  let nextPort = 1024;
  let nextIp = 0x7f000002;
  const side = (ip: number, port: number, bytes: number): Side => ({
    ip,
    port,
    seq: rng.int(0, 0xffffffff),
    data: bytes > 0 ? messages(bytes) : Buffer.alloc(0),
    sent: 0,
    finSent: false,
  });
  const newConn = (bytes: number): Conn => {
    if (nextPort > 65000) {
      nextPort = 1024;
      nextIp++;
    }
    const c2s = Math.floor(bytes / 3);
    return { a: side(nextIp, nextPort++, c2s), b: side(0x7f000001, 24000, bytes - c2s), later: [], stage: 0 };
  };

  const perSession = Math.floor(opts.sessionBytes / Math.max(1, opts.sessions));
  const sessions: Conn[] = [];
  for (let i = 0; i < opts.sessions; i++) sessions.push(newConn(perSession));
  let shortLeft = opts.shortConnections;
  const active: Conn[] = [];
  const ACTIVE = opts.concurrent ?? 48;

  const segmentSize = (): number => {
    const r = rng.next();
    if (r < 0.6) return rng.int(60, 1500);
    if (r < 0.9) return rng.int(1500, 16000);
    return rng.int(16000, 65000);
  };

  /** Send a segment held back for reordering or retransmission, if any. */
  const sendHeld = (c: Conn): boolean => {
    const held = c.later.shift();
    if (held) emit(held.from, held.to, held.seq, held.to.seq, 0x18, held.payload);
    return held !== undefined;
  };

  /** Advance one connection by one step; returns false when it is finished. */
  const step = (c: Conn): boolean => {
    const { a, b } = c;
    switch (c.stage) {
      case 0:
        emit(a, b, a.seq, 0, 0x02, null);
        c.stage = 1;
        return true;
      case 1:
        emit(b, a, b.seq, a.seq + 1, 0x12, null);
        a.seq = (a.seq + 1) >>> 0;
        b.seq = (b.seq + 1) >>> 0;
        c.stage = 2;
        return true;
      case 2: {
        if (sendHeld(c)) return true;
        const from = a.sent >= a.data.length ? b : b.sent >= b.data.length ? a : rng.next() < 0.35 ? a : b;
        const to = from === a ? b : a;
        if (from.sent >= from.data.length) {
          c.stage = 3;
          return true;
        }
        const len = Math.min(segmentSize(), from.data.length - from.sent);
        const payload = from.data.subarray(from.sent, from.sent + len);
        const seq = (from.seq + from.sent) >>> 0;
        from.sent += len;
        const r = rng.next();
        if (r < 0.01 && from.sent < from.data.length) {
          // reordering: this segment goes out after the next one
          c.later.push({ from, to, seq, payload });
          return true;
        }
        emit(from, to, seq, to.seq + to.sent, 0x18, payload);
        if (r > 0.995) c.later.push({ from, to, seq, payload }); // a retransmission, a little later
        if (rng.next() < 0.5) emit(to, from, to.seq + to.sent, from.seq + from.sent, 0x10, null);
        return true;
      }
      case 3: {
        if (sendHeld(c)) return true;
        const aEnd = (a.seq + a.data.length) >>> 0;
        const bEnd = (b.seq + b.data.length) >>> 0;
        emit(a, b, aEnd, bEnd, 0x11, null);
        emit(b, a, bEnd, aEnd + 1, 0x11, null);
        emit(a, b, aEnd + 1, bEnd + 1, 0x10, null);
        return false;
      }
    }
    return false;
  };

  while (sessions.length > 0 || active.length > 0 || shortLeft > 0) {
    while (active.length < ACTIVE && sessions.length > 0) active.push(sessions.pop()!);
    // short connections arrive between session steps
    if (shortLeft > 0 && (active.length === 0 || rng.next() < 0.2)) {
      const c = newConn(rng.int(40, 120));
      while (step(c));
      shortLeft--;
      if (active.length === 0) continue;
    }
    if (active.length === 0) continue;
    const i = rng.int(0, active.length - 1);
    if (!step(active[i]!)) {
      active[i] = active[active.length - 1]!;
      active.pop();
    }
  }
  w.close();
  return { packets, payloadBytes, connections: opts.sessions + opts.shortConnections };
}

/** Bump when the generator's output changes, so cached captures are made again. */
const GENERATOR_VERSION = 1;

/** A generated capture kept in the temporary directory between bench runs (made on first use). */
export function benchCapture(name: string, opts: GenerateOptions): string {
  const file = join(tmpdir(), `gamesniff-bench-v${GENERATOR_VERSION}-${name}.pcap`);
  if (!existsSync(file)) {
    process.stdout.write(`generating ${file} ...\n`);
    const tmp = `${file}.${process.pid}.tmp`;
    const g = generateCapture(tmp, opts);
    renameSync(tmp, file);
    process.stdout.write(`  ${g.packets} packets, ${g.connections} connections, ${(g.payloadBytes / 1e6).toFixed(1)} MB of payload\n`);
  }
  return file;
}
