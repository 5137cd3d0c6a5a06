/**
 * The `websocket` fuzz target: the WebSocket layer of a conversation (protocols/wsgame), fed two
 * byte streams the way a capture would feed them: cut anywhere, interleaved, with gaps.
 *
 * A case is one buffer: [u32 BE n][c2s: n bytes][u32 BE m][s2c: m bytes][script], maybe gzipped.
 * Lengths past the end are cut to what is there, so that any bytes are a case. The script is 3-byte steps (op, u16
 * BE arg) saying how the streams go in; an empty script gets cuts derived from the streams' hash.
 *
 * Besides "no exception escapes", each case checks (WsInvariantError when one breaks):
 *  - accounting: after end(), every byte fed in a direction is in exactly one message's wire, at
 *    its offset, equal to what was fed; no message covers a byte that was not fed (a gap, past the
 *    stream). A message whose frames had control frames between them (fragments, or raw) is laid
 *    out over the bytes not already emitted, from its offset on.
 *  - cuts: the same steps with each run of same-direction feeds joined into one feed give the same
 *    decoded (non-raw) messages: where a direction's bytes are cut between two events of the other
 *    direction does not change what is found.
 *  - payloads: an uncompressed data message's payload is its frames' payloads unmasked and joined;
 *    a ping's or pong's data is its payload.
 */
import { constants, deflateRawSync, gunzipSync } from 'node:zlib';
import * as pako from 'pako';
import { Packr } from 'msgpackr';
import { Conversation, type ConversationMessage } from '../conversation/conversation';
import { acceptFor } from '../conversation/websocket';
import { Rng } from '../core/rng';
import type { Direction } from '../core/types';
import { writeWsFrame } from '../framing/websocket';
import type { Protocol } from '../protocol/protocol';
import { DEFAULT_DECODE_LIMITS } from '../protocol/runtime';
import { hashBytes } from './rng';

/** A broken invariant of the layer (not an exception it threw): a find like a crash. */
export class WsInvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WsInvariantError';
  }
}

// ---------------------------------------------------------------------------------------------
// the case

export interface WsCase {
  c2s: Buffer;
  s2c: Buffer;
  script: Buffer;
}

/** Cases bigger than this are cut (a case must stay fast). */
export const MAX_WS_INPUT = 4 << 20;
/** Mutations stay below this. */
export const MAX_WS_MUTATED = 1 << 20;
/** What a client direction may hold waiting for the server's answer (conversation/websocket.ts MAX_EARLY), and a head's worth. */
const MAX_EARLY = (1 << 20) + (64 << 10);

export function encodeWsCase(c: WsCase): Buffer {
  const a = Buffer.alloc(4);
  a.writeUInt32BE(c.c2s.length);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(c.s2c.length);
  return Buffer.concat([a, c.c2s, b, c.s2c, c.script]);
}

/** A case may come gzipped (a fixture of megabytes that compress well). */
function gunzipped(data: Buffer): Buffer {
  if (data[0] !== 0x1f || data[1] !== 0x8b) return data;
  try {
    return gunzipSync(data, { maxOutputLength: MAX_WS_INPUT });
  } catch {
    return data;
  }
}

export function decodeWsCase(data: Buffer): WsCase {
  data = gunzipped(data);
  if (data.length > MAX_WS_INPUT) data = data.subarray(0, MAX_WS_INPUT);
  let p = 0;
  const stream = (): Buffer => {
    if (data.length - p < 4) {
      p = data.length;
      return Buffer.alloc(0);
    }
    const n = Math.min(data.readUInt32BE(p), data.length - p - 4);
    const out = data.subarray(p + 4, p + 4 + n);
    p += 4 + n;
    return out;
  };
  const c2s = stream();
  const s2c = stream();
  return { c2s, s2c, script: data.subarray(p) };
}

export type Step = { k: 'data'; dir: Direction; bytes: Buffer; offset: number } | { k: 'gap'; dir: Direction; length: number; offset: number } | { k: 'end'; dir: Direction };

export const OPS = { feedC2s: 0, feedS2c: 1, gapC2s: 2, gapS2c: 3, alternate: 4, endC2s: 5, endS2c: 6, restBoth: 7 } as const;

/** One script step. */
export function op(code: number, arg = 0): Buffer {
  return Buffer.from([code & 0xff, (arg >> 8) & 0xff, arg & 0xff]);
}

/** At most this many steps (a script of 1-byte feeds over a big stream). */
const MAX_STEPS = 300_000;

/** What the script says, as steps: feeds, gaps, ends; every byte of a stream fed or lost once, in order, each direction ended once. */
export function planSteps(c: WsCase): Step[] {
  const streams: Record<Direction, Buffer> = { c2s: c.c2s, s2c: c.s2c };
  const pos: Record<Direction, number> = { c2s: 0, s2c: 0 };
  const ended: Record<Direction, boolean> = { c2s: false, s2c: false };
  const steps: Step[] = [];
  const left = (d: Direction) => (ended[d] ? 0 : streams[d].length - pos[d]);
  const feed = (d: Direction, n: number) => {
    n = Math.min(n, left(d));
    if (n <= 0) return;
    steps.push({ k: 'data', dir: d, bytes: streams[d].subarray(pos[d], pos[d] + n), offset: pos[d] });
    pos[d] += n;
  };
  const gap = (d: Direction, n: number) => {
    n = Math.min(n, left(d));
    if (n <= 0) return;
    steps.push({ k: 'gap', dir: d, length: n, offset: pos[d] });
    pos[d] += n;
  };
  const end = (d: Direction) => {
    if (ended[d]) return;
    ended[d] = true;
    steps.push({ k: 'end', dir: d });
  };
  const s = c.script;
  if (s.length >= 3) {
    for (let i = 0; i + 3 <= s.length && steps.length < MAX_STEPS; i += 3) {
      const code = s[i]!;
      const arg = s.readUInt16BE(i + 1);
      switch (code & 7) {
        case OPS.feedC2s:
          feed('c2s', arg || Infinity);
          break;
        case OPS.feedS2c:
          feed('s2c', arg || Infinity);
          break;
        case OPS.gapC2s:
          gap('c2s', arg || 1);
          break;
        case OPS.gapS2c:
          gap('s2c', arg || 1);
          break;
        case OPS.alternate: {
          // the rest of both, taking turns, `arg` bytes at a time (c2s first unless bit 3)
          const n = arg || 1;
          const first: Direction = code & 8 ? 's2c' : 'c2s';
          const second: Direction = first === 'c2s' ? 's2c' : 'c2s';
          while ((left('c2s') > 0 || left('s2c') > 0) && steps.length < MAX_STEPS) {
            feed(first, n);
            feed(second, n);
          }
          break;
        }
        case OPS.endC2s:
          end('c2s');
          break;
        case OPS.endS2c:
          end('s2c');
          break;
        default:
          if (code & 8) {
            feed('s2c', Infinity);
            feed('c2s', Infinity);
          } else {
            feed('c2s', Infinity);
            feed('s2c', Infinity);
          }
      }
    }
  } else {
    // no script: cuts from the streams' hash, turns taken
    const r = new Rng((hashBytes(c.c2s) * 31) ^ hashBytes(c.s2c) ^ 0x2545f491);
    let d: Direction = 'c2s';
    while ((left('c2s') > 0 || left('s2c') > 0) && steps.length < MAX_STEPS) {
      feed(d, r.chance(0.3) ? r.int(1, 8) : r.chance(0.5) ? r.int(1, 300) : r.int(1, 20000));
      if (r.chance(0.6)) d = d === 'c2s' ? 's2c' : 'c2s';
    }
  }
  feed('c2s', Infinity);
  feed('s2c', Infinity);
  end('c2s');
  end('s2c');
  return steps;
}

/** The same steps with every run of feeds of one direction (nothing of the other direction, no gap, between them) joined into one. */
export function joinFeeds(steps: Step[]): Step[] {
  const out: Step[] = [];
  for (const s of steps) {
    const last = out[out.length - 1];
    if (s.k === 'data' && last?.k === 'data' && last.dir === s.dir && last.offset + last.bytes.length === s.offset) {
      out[out.length - 1] = { ...last, bytes: Buffer.concat([last.bytes, s.bytes]) };
    } else out.push(s);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// running and checking

/**
 * What the checks need of a message (not its inflated payload or decoded fields, which a case of
 * compression bombs would keep by the gigabyte): the payload only when not inflated.
 */
export type Rec = Pick<ConversationMessage<null>, 'dir' | 'index' | 'offset' | 'size' | 'wire' | 'raw' | 'name' | 'label' | 'error' | 'header'> & {
  payload: Buffer | null;
  /** Inflated size. */
  inflated: number;
  /** A ping's or pong's data. */
  data?: unknown;
};

function record(m: ConversationMessage<null>): Rec {
  const compressed = m.header?.compressed === true;
  return {
    dir: m.dir,
    index: m.index,
    offset: m.offset,
    size: m.size,
    wire: m.wire,
    raw: m.raw,
    name: m.name,
    label: m.label,
    error: m.error,
    header: m.header,
    payload: compressed ? null : m.payload,
    inflated: compressed ? m.payload.length : 0,
    data: m.name === 'ws_ping' || m.name === 'ws_pong' ? (m.fields as { data?: unknown } | undefined)?.data : undefined,
  };
}

/** The messages each way; `held`: bytes a direction still held when it ended, `before`: messages it had handed out by then. */
type Got = Record<Direction, Rec[]> & { held: Record<Direction, number>; before: Record<Direction, number> };

export function runSteps(proto: Protocol, steps: Step[]): Got {
  const got: Got = { c2s: [], s2c: [], held: { c2s: 0, s2c: 0 }, before: { c2s: 0, s2c: 0 } };
  const fed = { c2s: 0, s2c: 0 };
  const emitted = { c2s: 0, s2c: 0 };
  const conv = new Conversation<null>(
    proto,
    'tcp',
    (m) => {
      got[m.dir].push(record(m));
      emitted[m.dir] += m.size;
    },
    { flow: null },
  );
  for (const s of steps) {
    if (s.k === 'data') {
      fed[s.dir] += s.bytes.length;
      conv.received(s.dir, s.bytes, s.offset, s.offset);
    } else if (s.k === 'gap') conv.gap(s.dir, s.length, s.offset, s.offset);
    else {
      // what the direction still held when it ended
      got.held[s.dir] = fed[s.dir] - emitted[s.dir];
      got.before[s.dir] = got[s.dir].length;
      conv.end(s.dir, 0);
    }
  }
  return got;
}

/** A client direction waiting for the server's answer holds at most MAX_EARLY bytes (then it is raw). */
export function checkHeld(dir: Direction, got: Got): void {
  // the request was the last message before the end: all after it was held
  if (dir !== 'c2s' || got[dir][got.before[dir] - 1]?.name !== 'http_request') return;
  if (got.held[dir] > MAX_EARLY) fail(dir, `held more than MAX_EARLY bytes after its upgrade request, waiting for the server's answer`, [`held ${got.held[dir]} bytes when the direction ended`]);
}

/** What a connection may inflate in all (the decode limits' connectionInflate, which frame transforms are held to). */
export function checkInflateBudget(got: Got): void {
  const total = [...got.c2s, ...got.s2c].reduce((n, m) => n + m.inflated, 0);
  if (total > DEFAULT_DECODE_LIMITS.connectionInflate) {
    const n = [...got.c2s, ...got.s2c].filter((m) => m.inflated > 0).length;
    fail(null, 'permessage-deflate inflated more than the connection decode budget (connectionInflate)', [`${total} bytes inflated in ${n} messages; the budget is ${DEFAULT_DECODE_LIMITS.connectionInflate}`]);
  }
}

/** Whether a direction's messages may come from a boundary search (a gap in it, or no HTTP head at its start): cut-dependent by nature. */
function searched(dir: Direction, stream: Buffer, steps: Step[]): boolean {
  const http = dir === 'c2s' ? /^[A-Z]{3,10} /.test(stream.subarray(0, 11).toString('latin1')) : stream.subarray(0, 5).toString('latin1') === 'HTTP/';
  return !http || steps.some((s) => s.k === 'gap' && s.dir === dir);
}

/** A message in a line: its name, or raw with the reason, or the decode error. */
function what(m: Rec): string {
  if (m.raw !== undefined) return `raw (${m.raw})`;
  const name = m.label ?? m.name ?? 'unnamed';
  return m.error ? `${name} with a decode error (${m.error.message})` : name;
}

/**
 * The first line stays the same across variants of one bug (it makes the signature): no offsets,
 * and not the direction (the same bug both ways is one find); the direction leads the details.
 */
function fail(dir: Direction | null, head: string, detail: string[]): never {
  throw new WsInvariantError([head, ...(dir ? [`direction: ${dir}`] : []), ...detail].join('\n  '));
}

const hex = (b: Buffer, max = 48) => b.subarray(0, max).toString('hex') + (b.length > max ? `... (${b.length} bytes)` : '');

/** Every fed byte in exactly one message, as fed; nothing else. */
export function checkAccounting(dir: Direction, stream: Buffer, steps: Step[], msgs: Rec[]): void {
  // 1: fed, 2: lost in a gap, 0: never came
  const known = new Uint8Array(stream.length);
  let fed = 0;
  for (const s of steps) {
    if (s.dir !== dir || s.k === 'end') continue;
    if (s.k === 'data') {
      known.fill(1, s.offset, s.offset + s.bytes.length);
      fed += s.bytes.length;
    } else known.fill(2, s.offset, s.offset + s.length);
  }
  const owner = new Int32Array(stream.length).fill(-1);
  let emitted = 0;
  msgs.forEach((m, k) => {
    if (m.dir !== dir) fail(dir, `message handed out as ${m.dir}`, []);
    if (m.index !== k) fail(dir, `message indexes not 0, 1, 2...`, [`message ${k} has index ${m.index}`]);
    const wire = m.wire;
    if (m.size !== wire.length) fail(dir, `${what(m)}: size is not wire.length`, [`size ${m.size}, wire ${wire.length}`]);
    emitted += wire.length;
    if (!Number.isInteger(m.offset) || m.offset < 0 || (wire.length > 0 && m.offset >= stream.length)) {
      fail(dir, `${what(m)}: offset outside the stream`, [`offset ${m.offset}, stream ${stream.length} bytes, wire ${hex(wire)}`]);
    }
    // a message's frames with control frames between them (shown before it) are laid out over the
    // bytes not yet emitted, from its offset on: data messages in fragments, and raw ones (a
    // fragmented message that could not be inflated or was cut is raw with no header to say so)
    const spread = (typeof m.header?.fragments === 'number' && m.header.fragments > 1) || m.raw !== undefined;
    let p = m.offset;
    for (let i = 0; i < wire.length; i++, p++) {
      if (spread) while (p < stream.length && owner[p]! >= 0) p++;
      const where = () => [`message #${k} at offset ${m.offset}, ${wire.length} bytes; its byte ${i} at stream offset ${p}`, `wire ${hex(wire)}`];
      if (p >= stream.length) fail(dir, `${what(m)}: wire runs past the end of the stream`, where());
      if (known[p] === 2) fail(dir, `${what(m)}: wire covers bytes lost in a gap`, where());
      if (known[p] === 0) fail(dir, `${what(m)}: wire covers bytes never fed`, where());
      if (owner[p]! >= 0) {
        const o = msgs[owner[p]!]!;
        fail(dir, `bytes emitted twice: in ${what(o)} and again in ${what(m)}`, [...where(), `first in message #${owner[p]} at offset ${o.offset}, ${o.size} bytes`]);
      }
      if (stream[p] !== wire[i]) fail(dir, `${what(m)}: wire is not the bytes fed at its offset`, [...where(), `fed ${hex(stream.subarray(m.offset, m.offset + wire.length))}`]);
      owner[p] = k;
    }
  });
  for (let p = 0; p < stream.length; p++) {
    if (known[p] === 1 && owner[p]! < 0) {
      let e = p;
      while (e < stream.length && known[e] === 1 && owner[e]! < 0) e++;
      const before = msgs.filter((m) => m.offset <= p).pop();
      fail(dir, `bytes fed but never emitted`, [
        `stream offsets ${p}..${e - 1} (${e - p} bytes: ${hex(stream.subarray(p, e))})`,
        `fed ${fed}, emitted ${emitted}; the message before them: ${before ? `${what(before)} at ${before.offset}` : 'none'}`,
      ]);
    }
  }
}

/** An RFC 6455 frame read without judging it (the checker's own reader). */
export interface RawFrame {
  b0: number;
  masked: boolean;
  key: Buffer | null;
  /** Unmasked. */
  payload: Buffer;
  /** How the length was written: 7-bit, 16-bit, 64-bit. */
  form: 7 | 16 | 64;
  size: number;
}

export function readFrame(b: Buffer, at: number): RawFrame | null {
  if (b.length - at < 2) return null;
  const b0 = b[at]!;
  const b1 = b[at + 1]!;
  let p = at + 2;
  let len = b1 & 0x7f;
  let form: 7 | 16 | 64 = 7;
  if (len === 126) {
    if (b.length - p < 2) return null;
    len = b.readUInt16BE(p);
    p += 2;
    form = 16;
  } else if (len === 127) {
    if (b.length - p < 8) return null;
    const v = b.readBigUInt64BE(p);
    if (v > BigInt(b.length)) return null;
    len = Number(v);
    p += 8;
    form = 64;
  }
  const masked = (b1 & 0x80) !== 0;
  let key: Buffer | null = null;
  if (masked) {
    if (b.length - p < 4) return null;
    key = Buffer.from(b.subarray(p, p + 4));
    p += 4;
  }
  if (b.length - p < len) return null;
  const payload = Buffer.from(b.subarray(p, p + len));
  if (key) for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3]!;
  return { b0, masked, key, payload, form, size: p + len - at };
}

/** Uncompressed data messages carry their frames' payloads; pings and pongs theirs. */
export function checkPayloads(dir: Direction, msgs: Rec[]): void {
  for (const m of msgs) {
    if (m.raw !== undefined || !m.header) continue;
    const h = m.header;
    const frames: RawFrame[] = [];
    for (let at = 0; at < m.wire.length; ) {
      const f = readFrame(m.wire, at);
      if (!f) {
        if (h.http !== undefined) break;
        fail(dir, `${what(m)}: its wire is not whole frames`, [`wire ${hex(m.wire)}`]);
      }
      frames.push(f);
      at += f.size;
    }
    if (h.http !== undefined) continue;
    if (h.opcode === 'ping' || h.opcode === 'pong') {
      const data = m.data;
      if (frames.length !== 1 || !Buffer.isBuffer(data) || !data.equals(frames[0]!.payload)) fail(dir, `${what(m)}: data is not the frame's payload unmasked`, [`wire ${hex(m.wire)}`]);
      continue;
    }
    if (h.opcode !== 'binary' && h.opcode !== 'text') continue;
    if (typeof h.fragments === 'number' && h.fragments !== frames.length) fail(dir, `${what(m)}: header says another number of fragments than its wire holds`, [`header ${h.fragments}, wire ${frames.length}`]);
    if (h.compressed) continue;
    const joined = Buffer.concat(frames.map((f) => f.payload));
    if (!m.payload || !joined.equals(m.payload)) fail(dir, `${what(m)}: payload is not its frames' payloads unmasked and joined`, [`payload ${m.payload ? hex(m.payload) : "(none)"}`, `frames ${hex(joined)}`]);
  }
}

function key(m: Rec): string {
  return `${m.offset}+${m.size} ${m.label ?? m.name ?? '?'}${m.error ? ' (decode error)' : ''}`;
}

/**
 * The decoded messages of two runs over the same bytes and events (other cuts) are the same.
 * `search`: the direction needed a boundary search; such failures share one signature.
 */
export function checkCuts(dir: Direction, a: Rec[], b: Rec[], search: boolean): void {
  const ka = a.filter((m) => m.raw === undefined).map(key);
  const kb = b.filter((m) => m.raw === undefined).map(key);
  let i = 0;
  while (i < ka.length && i < kb.length && ka[i] === kb[i]) i++;
  if (i === ka.length && i === kb.length) return;
  // what each run made of the bytes where they part
  const at = Math.min(Number(/^\d+/.exec(ka[i] ?? '')?.[0] ?? Infinity), Number(/^\d+/.exec(kb[i] ?? '')?.[0] ?? Infinity));
  const around = (ms: Rec[]) => ms.filter((m) => m.offset + m.size > at).slice(0, 3).map((m) => `${m.offset}+${m.size} ${what(m)}`).join('; ');
  const cause = (ms: Rec[]) => {
    const r = ms.find((m) => m.raw !== undefined && m.offset + m.size > at);
    return r ? r.raw!.replace(/\d+/g, 'N') : 'no raw';
  };
  const detail = [`as cut: ${around(a)}`, `joined: ${around(b)}`];
  // after the first difference: only the cut run found messages, only the joined one, or both (other ones)
  const how = kb[i] === undefined ? 'more as cut' : ka[i] === undefined ? 'fewer as cut' : 'other as cut';
  if (search) fail(dir, `decoded messages depend on where the bytes were cut, after a boundary search (a gap or a mid-stream join): ${how}`, detail);
  // no boundary search: what the cut run made of the bytes where the runs part names the bug
  fail(dir, `decoded messages depend on where the bytes were cut: as cut, ${cause(a)}`, detail);
}

export function runWsCase(proto: Protocol, data: Buffer, counters?: Record<string, number>): void {
  const c = decodeWsCase(data);
  const steps = planSteps(c);
  const got = runSteps(proto, steps);
  const streams: Record<Direction, Buffer> = { c2s: c.c2s, s2c: c.s2c };
  for (const d of ['c2s', 's2c'] as const) {
    checkAccounting(d, streams[d], steps, got[d]);
    checkPayloads(d, got[d]);
    checkHeld(d, got);
  }
  checkInflateBudget(got);
  const joined = joinFeeds(steps);
  if (joined.length !== steps.length) {
    const ref = runSteps(proto, joined);
    // the cut-dependence of a boundary search is reported after any other direction's
    const order = (['c2s', 's2c'] as const).map((d) => [d, searched(d, streams[d], steps)] as const).sort((x, y) => Number(x[1]) - Number(y[1]));
    for (const [d, search] of order) checkCuts(d, got[d], ref[d], search);
  }
  if (counters) {
    const add = (k: string, n = 1) => (counters[k] = (counters[k] ?? 0) + n);
    for (const d of ['c2s', 's2c'] as const) {
      for (const m of got[d]) {
        if (m.raw !== undefined) add('raw');
        else if (m.error) add('decodeErrors');
        else add('named');
      }
    }
    add('steps', steps.length);
  }
}

// ---------------------------------------------------------------------------------------------
// seeds: sessions made in code

const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, variableMapSize: true });

type Compression = { kind: 'none' } | { kind: 'oneshot'; bits: number } | { kind: 'takeover'; bits: number };

/** permessage-deflate as one side of a session sends it. */
class Compressor {
  private ctx: pako.Deflate | null = null;
  constructor(readonly c: Compression) {}

  compress(b: Buffer): Buffer {
    let out: Buffer;
    if (this.c.kind === 'oneshot') out = deflateRawSync(b, { finishFlush: constants.Z_SYNC_FLUSH, windowBits: this.c.bits });
    else if (this.c.kind === 'takeover') {
      const chunks: Uint8Array[] = [];
      this.ctx ??= new pako.Deflate({ raw: true, windowBits: this.c.bits });
      this.ctx.onData = (x: Uint8Array) => void chunks.push(x);
      this.ctx.push(b, pako.constants.Z_SYNC_FLUSH);
      out = Buffer.concat(chunks);
    } else return b;
    return out.subarray(0, out.length - 4);
  }
}

interface Event {
  dir: Direction;
  bytes: Buffer;
}

interface SessionSpec {
  /** Sec-WebSocket-Extensions of the request (null: none). */
  offer: string | null;
  /** Of the 101 answer (null: none). */
  accept: string | null;
  status?: number;
  c2s: Compression;
  s2c: Compression;
  /** Tiles of the map. */
  mapSize: number;
  /** The map in this many fragments (1: one frame), a ping after the second. */
  mapFragments: number;
  /** The client's report in this many fragments. */
  reportFragments: number;
  moves: number;
  /** Compress only payloads at least this long (as ws's threshold). */
  threshold: number;
  textFrames?: boolean;
}

/** One session's events, both ways, in the order they would pass. */
export function buildSession(seed: number, spec: SessionSpec): Event[] {
  const r = new Rng(seed);
  const ev: Event[] = [];
  const comp: Record<Direction, Compressor> = { c2s: new Compressor(spec.c2s), s2c: new Compressor(spec.s2c) };
  const keyB64 = r.bytes(16).toString('base64');
  const req = [`GET /play HTTP/1.1`, `Host: 127.0.0.1:24080`, `Upgrade: websocket`, `Connection: Upgrade`, `Sec-WebSocket-Key: ${keyB64}`, `Sec-WebSocket-Version: 13`];
  if (spec.offer) req.push(`Sec-WebSocket-Extensions: ${spec.offer}`);
  ev.push({ dir: 'c2s', bytes: Buffer.from(`${req.join('\r\n')}\r\n\r\n`, 'latin1') });
  const status = spec.status ?? 101;
  const res =
    status === 101
      ? [`HTTP/1.1 101 Switching Protocols`, `Upgrade: websocket`, `Connection: Upgrade`, `Sec-WebSocket-Accept: ${acceptFor(keyB64)}`]
      : [`HTTP/1.1 ${status} Not Found`, `Content-Type: text/plain`, `Content-Length: 9`];
  if (status === 101 && spec.accept) res.push(`Sec-WebSocket-Extensions: ${spec.accept}`);
  ev.push({ dir: 's2c', bytes: Buffer.concat([Buffer.from(`${res.join('\r\n')}\r\n\r\n`, 'latin1'), status === 101 ? Buffer.alloc(0) : Buffer.from('not here\n')]) });
  const mask = (d: Direction) => (d === 'c2s' ? r.bytes(4) : undefined);
  const control = (d: Direction, opcode: number, payload: Buffer) => ev.push({ dir: d, bytes: writeWsFrame(opcode, payload, { mask: mask(d) }) });
  const send = (d: Direction, msg: Record<string, unknown>, fragments = 1, between?: () => void) => {
    const body = Buffer.from(packr.pack(msg));
    const compress = comp[d].c.kind !== 'none' && body.length >= spec.threshold;
    const wire = compress ? comp[d].compress(body) : body;
    const opcode = spec.textFrames && r.chance(0.3) ? 1 : 2;
    const n = Math.max(1, Math.min(fragments, wire.length));
    const size = Math.ceil(wire.length / n);
    for (let i = 0; i < n; i++) {
      const piece = wire.subarray(i * size, Math.min(wire.length, (i + 1) * size));
      ev.push({ dir: d, bytes: writeWsFrame(i === 0 ? opcode : 0, piece, { fin: i === n - 1, rsv1: compress && i === 0, mask: mask(d) }) });
      if (i === 1 && between) between();
    }
  };
  if (status !== 101) {
    send('c2s', { t: 'join', room: 'lobby', name: 'ann' });
    return ev;
  }
  const token = `tok-${r.below(1000)}`;
  send('c2s', { t: 'join', room: 'lobby', name: 'ann' });
  send('s2c', { t: 'welcome', player: 1, token, room: 'lobby', players: ['ann', 'bob'] });
  for (let i = 0; i < spec.moves; i++) {
    send('c2s', { t: 'move', seq: i, x: r.next() * 100, y: r.next() * 100, token });
    if (i % 3 === 0) send('s2c', { t: 'state', tick: i, time: 1.5 + i, players: [{ id: 1, x: i, y: i * 2 }] });
  }
  send('c2s', { t: 'chat', text: 'hello '.repeat(20) });
  send('s2c', { t: 'chat', from: 'ann', text: 'hello '.repeat(20) });
  send('c2s', { t: 'map_request', room: 'lobby' });
  const tiles = Buffer.alloc(spec.mapSize);
  for (let i = 0; i < tiles.length; i++) tiles[i] = ((i * 7919) % 251) ^ (i >> 9);
  send('s2c', { t: 'map', room: 'lobby', width: 100, height: Math.ceil(spec.mapSize / 100), tiles }, spec.mapFragments, () => control('s2c', 9, Buffer.from('mid-map')));
  if (spec.mapFragments > 1) control('c2s', 10, Buffer.from('mid-map'));
  const samples = Array.from({ length: 300 }, (_, i) => i * 3);
  send('c2s', { t: 'report', seq: 1, samples }, spec.reportFragments, () => control('c2s', 9, Buffer.alloc(0)));
  if (spec.reportFragments > 1) control('s2c', 10, Buffer.alloc(0));
  send('s2c', { t: 'report_ack', seq: 1, count: samples.length });
  control('c2s', 9, Buffer.from('are you there'));
  control('s2c', 10, Buffer.from('are you there'));
  send('c2s', { t: 'leave' });
  send('s2c', { t: 'bye', reason: 'leave' });
  control('s2c', 8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye')]));
  control('c2s', 8, Buffer.from([0x03, 0xe8]));
  return ev;
}

/** The events as a case: each event fed in one to three pieces, in order; `gaps`: some pieces lost instead. */
export function sessionCase(seed: number, ev: Event[], o: { gaps?: number; skip?: Record<Direction, number>; tiny?: boolean } = {}): Buffer {
  const r = new Rng(seed ^ 0x9e3779b9);
  const streams: Record<Direction, Buffer[]> = { c2s: [], s2c: [] };
  const script: Buffer[] = [];
  const at: Record<Direction, number> = { c2s: 0, s2c: 0 };
  const skip = o.skip ?? { c2s: 0, s2c: 0 };
  for (const e of ev) {
    let b = e.bytes;
    // a capture that starts late: the first bytes of each direction are not in the case at all
    const drop = Math.min(b.length, Math.max(0, skip[e.dir] - at[e.dir]));
    at[e.dir] += b.length;
    b = b.subarray(drop);
    if (!b.length) continue;
    streams[e.dir].push(b);
    let left = b.length;
    while (left > 0) {
      const n = o.tiny ? Math.min(left, r.int(1, 7)) : r.chance(0.6) ? left : Math.min(left, r.int(1, Math.max(1, left - 1)));
      const lose = o.gaps !== undefined && r.chance(o.gaps);
      const code = lose ? (e.dir === 'c2s' ? OPS.gapC2s : OPS.gapS2c) : e.dir === 'c2s' ? OPS.feedC2s : OPS.feedS2c;
      for (let k = n; k > 0; k -= 0xffff) script.push(op(code, Math.min(k, 0xffff)));
      left -= n;
    }
  }
  return encodeWsCase({ c2s: Buffer.concat(streams.c2s), s2c: Buffer.concat(streams.s2c), script: Buffer.concat(script) });
}

export function builtWsSessions(): { name: string; data: Buffer }[] {
  const none: Compression = { kind: 'none' };
  const base: SessionSpec = { offer: null, accept: null, c2s: none, s2c: none, mapSize: 2000, mapFragments: 3, reportFragments: 2, moves: 4, threshold: 32 };
  const pmd = 'permessage-deflate; client_max_window_bits';
  const specs: [string, SessionSpec][] = [
    ['plain-fragments', base],
    ['plain-64bit-length', { ...base, mapSize: 70_000, mapFragments: 1, reportFragments: 1 }],
    ['plain-16bit-fragments', { ...base, mapSize: 20_000, mapFragments: 4, textFrames: true }],
    ['deflate-oneshot', { ...base, offer: pmd, accept: 'permessage-deflate', c2s: { kind: 'oneshot', bits: 15 }, s2c: { kind: 'oneshot', bits: 15 } }],
    ['deflate-takeover', { ...base, offer: pmd, accept: 'permessage-deflate', c2s: { kind: 'takeover', bits: 15 }, s2c: { kind: 'takeover', bits: 15 }, moves: 8 }],
    ['deflate-no-takeover', { ...base, offer: pmd, accept: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover', c2s: { kind: 'oneshot', bits: 15 }, s2c: { kind: 'oneshot', bits: 15 }, mapFragments: 5 }],
    ['deflate-window-10', { ...base, offer: pmd, accept: 'permessage-deflate; server_max_window_bits=10; client_max_window_bits=10', c2s: { kind: 'takeover', bits: 10 }, s2c: { kind: 'takeover', bits: 10 }, mapSize: 30_000 }],
    ['deflate-declined', { ...base, offer: pmd, accept: null }],
    ['deflate-big-map', { ...base, offer: pmd, accept: 'permessage-deflate', c2s: { kind: 'takeover', bits: 15 }, s2c: { kind: 'takeover', bits: 15 }, mapSize: 70_000, mapFragments: 5, threshold: 0 }],
    ['refused-404', { ...base, status: 404 }],
  ];
  const out: { name: string; data: Buffer }[] = [];
  specs.forEach(([name, spec], i) => {
    const ev = buildSession(1000 + i, spec);
    out.push({ name: `built/ws-${name}`, data: sessionCase(2000 + i, ev) });
    if (name === 'plain-fragments' || name === 'deflate-takeover' || name === 'deflate-no-takeover') {
      out.push({ name: `built/ws-${name}-gaps`, data: sessionCase(3000 + i, ev, { gaps: 0.08 }) });
      out.push({ name: `built/ws-${name}-joined`, data: sessionCase(4000 + i, ev, { skip: { c2s: ev[0]!.bytes.length + 5, s2c: ev[1]!.bytes.length + 9 } }) });
    }
    if (name === 'deflate-takeover' || name === 'plain-fragments') out.push({ name: `built/ws-${name}-tiny-cuts`, data: sessionCase(5000 + i, ev, { tiny: true }) });
  });
  // no script: the cuts come from the hash
  const ev = buildSession(77, { ...base, offer: pmd, accept: 'permessage-deflate', c2s: { kind: 'oneshot', bits: 15 }, s2c: { kind: 'takeover', bits: 15 } });
  const dirs = (d: Direction) => Buffer.concat(ev.filter((e) => e.dir === d).map((e) => e.bytes));
  out.push({ name: 'built/ws-hash-cuts', data: encodeWsCase({ c2s: dirs('c2s'), s2c: dirs('s2c'), script: Buffer.alloc(0) }) });
  return out;
}

// ---------------------------------------------------------------------------------------------
// a structure-aware mutator

interface Parsed {
  /** An HTTP head (up to and with its blank line), or empty. */
  head: Buffer;
  frames: RawFrame[];
  /** What follows the last whole frame. */
  tail: Buffer;
}

function parseStream(b: Buffer): Parsed {
  let head: Buffer = Buffer.alloc(0);
  let at = 0;
  if (/^[A-Z]{3,10} |^HTTP\//.test(b.subarray(0, 11).toString('latin1'))) {
    const e = b.indexOf('\r\n\r\n');
    if (e >= 0) {
      head = b.subarray(0, e + 4);
      at = e + 4;
      // a refused answer's body
      if (/^HTTP\/\S+ (?!101)/.test(head.toString('latin1'))) return { head: b, frames: [], tail: Buffer.alloc(0) };
    }
  }
  const frames: RawFrame[] = [];
  while (at < b.length && frames.length < 5000) {
    const f = readFrame(b, at);
    if (!f) break;
    frames.push(f);
    at += f.size;
  }
  return { head, frames, tail: b.subarray(at) };
}

interface FrameOut {
  b0: number;
  key: Buffer | null;
  payload: Buffer;
  /** 0: the shortest; else the length written in this form. */
  form?: 0 | 7 | 16 | 64;
  /** A length that is not the payload's. */
  lie?: number | bigint;
}

function writeFrame(f: FrameOut): Buffer {
  const n = f.payload.length;
  const declared = f.lie ?? n;
  const dn = typeof declared === 'bigint' ? declared : BigInt(Math.max(0, Math.floor(declared)));
  let form = f.form || (dn < 126n ? 7 : dn < 0x10000n ? 16 : 64);
  if (form === 7 && dn >= 126n) form = 16;
  if (form === 16 && dn > 0xffffn) form = 64;
  const len = form === 7 ? Buffer.alloc(0) : Buffer.alloc(form === 16 ? 2 : 8);
  if (form === 16) len.writeUInt16BE(Number(dn));
  else if (form === 64) len.writeBigUInt64BE(dn & 0xffffffffffffffffn);
  const b1 = (f.key ? 0x80 : 0) | (form === 7 ? Number(dn) : form === 16 ? 126 : 127);
  const body = Buffer.from(f.payload);
  if (f.key) for (let i = 0; i < body.length; i++) body[i] ^= f.key[i & 3]!;
  return Buffer.concat([Buffer.from([f.b0, b1]), len, f.key ?? Buffer.alloc(0), body]);
}

const toOut = (f: RawFrame): FrameOut => ({ b0: f.b0, key: f.key, payload: f.payload, form: f.form });

const EXTENSIONS = [
  'permessage-deflate',
  'permessage-deflate; client_no_context_takeover',
  'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  'permessage-deflate; server_max_window_bits=8',
  'permessage-deflate; server_max_window_bits=9; client_max_window_bits=9',
  'permessage-deflate; server_max_window_bits=16',
  'permessage-deflate; server_max_window_bits=0',
  'permessage-deflate; server_max_window_bits="10"',
  'permessage-deflate; server_max_window_bits=99999999999999999999',
  'permessage-deflate; server_max_window_bits',
  'permessage-deflate;;;=',
  'x-webkit-deflate-frame, permessage-deflate',
  'permessage-deflate, permessage-deflate; server_no_context_takeover',
  'PERMESSAGE-DEFLATE',
  '',
  ';',
  '=',
];

const HEAD_LINES = [
  'Sec-WebSocket-Extensions: permessage-deflate',
  'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9',
  'Sec-WebSocket-Key: ',
  'sec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==',
  'Sec-WebSocket-Accept: x',
  ': empty name',
  'no colon here',
  '__proto__: x',
  'constructor: y',
  'X-Long: ' + 'a'.repeat(300),
  'Transfer-Encoding: chunked',
  'Content-Length: 5',
];

function mutateHead(r: Rng, head: Buffer): Buffer {
  let t = head.toString('latin1');
  switch (r.below(8)) {
    case 0:
      if (/sec-websocket-extensions:/i.test(t)) t = t.replace(/(sec-websocket-extensions:)[^\r\n]*/i, `$1 ${r.pick(EXTENSIONS)}`);
      else t = t.replace(/\r\n\r\n$/, `\r\nSec-WebSocket-Extensions: ${r.pick(EXTENSIONS)}\r\n\r\n`);
      break;
    case 1:
      t = t.replace(/sec-websocket-extensions:[^\r\n]*\r\n/i, '');
      break;
    case 2:
      t = t.replace(/^HTTP\/1\.1 \d+/, `HTTP/1.1 ${r.pick(['100', '200', '404', '101', '1010', '-1', 'abc', '101 '])}`);
      break;
    case 3: {
      const lines = t.split('\r\n');
      lines.splice(r.int(1, Math.max(1, lines.length - 2)), 0, r.pick(HEAD_LINES));
      t = lines.join('\r\n');
      break;
    }
    case 4:
      t = t.replace(/\r\n/g, r.chance(0.5) ? '\n' : '\r\n\r\n').replace(/(\r?\n)+$/, '\r\n\r\n');
      break;
    case 5:
      t = t.replace(/^\S+/, r.pick(['GET', 'POST', 'CONNECT', 'OPTIONS', 'get', 'G', 'GETTTTTTTTTTTTT', 'HTTP/1.1', 'PRI']));
      break;
    case 6:
      t = t.slice(0, r.below(t.length));
      break;
    default: {
      const lines = t.split('\r\n');
      const i = r.int(1, Math.max(1, lines.length - 3));
      lines.splice(i, 0, lines[i] ?? '');
      t = lines.join('\r\n');
    }
  }
  return Buffer.from(t, 'latin1');
}

/** A payload worth sending: a message of the game (maybe a hostile one), maybe compressed. */
function somePayload(r: Rng): { payload: Buffer; compressed: boolean } {
  const msgs: unknown[] = [
    { t: 'chat', text: 'x' },
    { t: 'chat', from: 'a', text: 'y'.repeat(r.int(0, 300)) },
    { t: 'move', seq: 2 ** 53, x: NaN, y: -Infinity, token: '' },
    { t: 'map', room: 'r', width: -1, height: 2 ** 31, tiles: Buffer.alloc(r.int(0, 3000), 7) },
    { t: 'welcome', player: 1, token: 't', room: 'r', players: Array.from({ length: r.int(0, 2000) }, (_, i) => i) },
    { t: '__proto__' },
    { t: 'constructor', x: 1 },
    { t: 1 },
    { t: null },
    [1, 2, 3],
    'not a map',
    { t: 'state', tick: 1, time: 1, players: [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]] },
  ];
  let payload: Buffer = Buffer.from(packr.pack(r.pick(msgs)));
  if (r.chance(0.15)) payload = r.bytes(r.int(0, 200));
  const k = r.below(10);
  if (k < 4) return { payload, compressed: false };
  if (k < 8) return { payload: deflateRawSync(payload, { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4), compressed: true };
  // a bomb: small on the wire, large inflated (up to past the 16 MB message limit)
  const size = r.pick([1 << 10, 1 << 20, 16 << 20, (16 << 20) + 1, 20 << 20]);
  return { payload: deflateRawSync(Buffer.alloc(size), { finishFlush: constants.Z_SYNC_FLUSH, level: 9 }).subarray(0, -4), compressed: true };
}

const OPCODES = [0, 1, 2, 3, 7, 8, 9, 10, 11, 15];

/** One change to a direction's frames (null: nothing to change). */
function mutateFrames(r: Rng, p: Parsed, dir: Direction): boolean {
  const fs: FrameOut[] = p.frames.map(toOut);
  const maskFor = () => (dir === 'c2s' ? (r.chance(0.1) ? Buffer.alloc(4) : r.bytes(4)) : null);
  const i = fs.length ? r.below(fs.length) : 0;
  const f = fs[i];
  const k = r.below(16);
  switch (k) {
    case 0: // opcode
      if (!f) return false;
      f.b0 = (f.b0 & 0xf0) | r.pick(OPCODES);
      break;
    case 1: // FIN
      if (!f) return false;
      f.b0 ^= 0x80;
      break;
    case 2: // RSV1, RSV2, RSV3
      if (!f) return false;
      f.b0 ^= r.pick([0x40, 0x40, 0x20, 0x10]);
      break;
    case 3: // masked or not
      if (!f) return false;
      f.key = f.key ? null : r.bytes(4);
      break;
    case 4: // the length in another form (not the shortest)
      if (!f) return false;
      f.form = r.pick([16, 64] as const);
      break;
    case 5: // a length that is not the payload's
      if (!f) return false;
      f.lie = r.pick<number | bigint>([
        f.payload.length + 1,
        Math.max(0, f.payload.length - 1),
        f.payload.length + r.int(2, 40),
        125,
        126,
        127,
        0xffff,
        0x10000,
        16 << 20,
        (16 << 20) + 1,
        2 ** 31,
        2 ** 32,
        2 ** 53 - 1,
        2n ** 63n,
        2n ** 64n - 1n,
        0,
      ]);
      if (r.chance(0.5)) f.form = r.pick([7, 16, 64] as const);
      break;
    case 6: {
      // a data frame in fragments, maybe with a control frame among them
      if (!f || f.payload.length < 2) return false;
      const n = r.int(2, Math.min(6, f.payload.length));
      const parts: FrameOut[] = [];
      let at = 0;
      for (let j = 0; j < n; j++) {
        const e = j === n - 1 ? f.payload.length : r.int(at, f.payload.length);
        parts.push({ b0: j === 0 ? f.b0 & 0x7f : (f.b0 & (j === n - 1 ? 0x80 : 0)) | 0, key: f.key ? maskFor() ?? f.key : null, payload: f.payload.subarray(at, e) });
        at = e;
      }
      if (r.chance(0.5)) parts.splice(r.int(1, parts.length - 1), 0, { b0: 0x80 | r.pick([8, 9, 10]), key: maskFor(), payload: r.bytes(r.pick([0, 1, 2, 5, 125])) });
      fs.splice(i, 1, ...parts);
      break;
    }
    case 7: {
      // a fragmented message (a non-FIN frame and the continuations after it) as one frame
      const s = fs.findIndex((x, j) => j >= i && (x.b0 & 0x80) === 0 && (x.b0 & 0x0f) !== 0 && (x.b0 & 0x0f) < 8);
      if (s < 0) return false;
      let e = s + 1;
      const payloads = [fs[s]!.payload];
      while (e < fs.length && (fs[e]!.b0 & 0x0f) === 0) {
        payloads.push(fs[e]!.payload);
        if (fs[e]!.b0 & 0x80) break;
        e++;
      }
      fs.splice(s, e - s + 1, { b0: fs[s]!.b0 | 0x80, key: fs[s]!.key, payload: Buffer.concat(payloads) });
      break;
    }
    case 8: // a control frame anywhere
      fs.splice(r.below(fs.length + 1), 0, {
        b0: r.chance(0.9) ? 0x80 | r.pick([8, 9, 10]) : r.pick([8, 9, 10]),
        key: maskFor(),
        payload: r.chance(0.2) ? Buffer.from([0x03, 0xe8, 0x62]) : r.bytes(r.pick([0, 1, 2, 3, 124, 125, 126, 200])),
      });
      break;
    case 9: // delete
      if (!f) return false;
      fs.splice(i, r.small(3));
      break;
    case 10: // duplicate
      if (!f) return false;
      fs.splice(r.below(fs.length + 1), 0, ...fs.slice(i, i + r.small(3)).map((x) => ({ ...x })));
      break;
    case 11: {
      // swap two
      if (fs.length < 2) return false;
      const j = r.below(fs.length);
      [fs[i], fs[j]] = [fs[j]!, fs[i]!];
      break;
    }
    case 12: {
      // a new data message (maybe a compression bomb)
      const { payload, compressed } = somePayload(r);
      fs.splice(r.below(fs.length + 1), 0, { b0: 0x80 | (compressed ? 0x40 : 0) | r.pick([1, 2, 2]), key: maskFor(), payload });
      break;
    }
    case 13: // the payload changed
      if (!f || !f.payload.length) return false;
      f.payload = Buffer.from(f.payload);
      for (let n = r.small(4); n > 0; n--) f.payload[r.below(f.payload.length)] ^= 1 << r.below(8);
      break;
    case 14: // the payload cut
      if (!f || !f.payload.length) return false;
      f.payload = f.payload.subarray(0, r.below(f.payload.length));
      break;
    default: // the frame cut in the stream (a truncated last frame)
      if (!f) return false;
      p.tail = Buffer.concat([writeFrame(f).subarray(0, r.below(writeFrame(f).length)), p.tail]);
      fs.splice(i);
  }
  p.frames = [];
  (p as Parsed & { out?: FrameOut[] }).out = fs;
  return true;
}

function serialize(p: Parsed & { out?: FrameOut[] }): Buffer {
  const frames = p.out ?? p.frames.map(toOut);
  return Buffer.concat([p.head, ...frames.map(writeFrame), p.tail]);
}

/** A new script over these streams: cuts, gaps at frame boundaries or inside frames, early ends. */
function newScript(r: Rng, c: WsCase): Buffer {
  const bounds: Record<Direction, number[]> = { c2s: [], s2c: [] };
  for (const d of ['c2s', 's2c'] as const) {
    const p = parseStream(c[d]);
    let at = p.head.length;
    bounds[d].push(at);
    for (const f of p.frames) bounds[d].push((at += f.size));
  }
  const ops: Buffer[] = [];
  const pos: Record<Direction, number> = { c2s: 0, s2c: 0 };
  const len: Record<Direction, number> = { c2s: c.c2s.length, s2c: c.s2c.length };
  const style = r.below(4);
  for (let guard = 0; guard < 2000 && (pos.c2s < len.c2s || pos.s2c < len.s2c); guard++) {
    const d: Direction = pos.c2s >= len.c2s ? 's2c' : pos.s2c >= len.s2c ? 'c2s' : r.chance(0.5) ? 'c2s' : 's2c';
    // to a frame boundary, or a few bytes, or anywhere
    const nextBound = bounds[d].find((b) => b > pos[d]) ?? len[d];
    let n = style === 0 ? r.int(1, 9) : r.chance(0.6) ? nextBound - pos[d] : r.int(1, Math.max(1, Math.min(len[d] - pos[d], r.chance(0.5) ? 16 : 70_000)));
    n = Math.max(1, Math.min(n, len[d] - pos[d], 0xffff));
    const g = style >= 2 && r.chance(style === 3 ? 0.2 : 0.05);
    if (g && r.chance(0.5)) {
      // exactly one frame lost, or a frame's end and the next one's start
      const after = bounds[d].find((b) => b > pos[d] + n) ?? len[d];
      n = Math.max(1, Math.min(0xffff, r.chance(0.5) ? after - pos[d] : n));
    }
    ops.push(op(g ? (d === 'c2s' ? OPS.gapC2s : OPS.gapS2c) : d === 'c2s' ? OPS.feedC2s : OPS.feedS2c, n));
    pos[d] += n;
    if (r.chance(0.01)) ops.push(op(r.chance(0.5) ? OPS.endC2s : OPS.endS2c));
  }
  if (r.chance(0.1)) ops.push(op(OPS.alternate | (r.chance(0.5) ? 8 : 0), r.int(1, 5)));
  return Buffer.concat(ops);
}

/** One to a few structural changes to a case; null when there is nothing to work on. */
export function mutateWs(r: Rng, data: Buffer, other: () => Buffer): Buffer | null {
  let c = decodeWsCase(data);
  if (!c.c2s.length && !c.s2c.length) return null;
  let scriptStale = false;
  for (let n = r.chance(0.6) ? 1 : r.small(4); n > 0; n--) {
    const k = r.below(20);
    if (k < 12) {
      const dir: Direction = r.chance(0.5) ? 'c2s' : 's2c';
      const p = parseStream(c[dir]);
      if (mutateFrames(r, p, dir)) {
        c = { ...c, [dir]: serialize(p) };
        scriptStale = true;
      }
    } else if (k < 14) {
      const dir: Direction = r.chance(0.5) ? 'c2s' : 's2c';
      const p = parseStream(c[dir]);
      if (!p.head.length) continue;
      p.head = mutateHead(r, p.head);
      c = { ...c, [dir]: serialize(p) };
      scriptStale = true;
    } else if (k < 17) {
      c = { ...c, script: newScript(r, c) };
      scriptStale = false;
    } else if (k < 18) {
      // one step of the script changed
      if (c.script.length < 3) continue;
      const s = Buffer.from(c.script);
      const i = r.below(Math.floor(s.length / 3)) * 3;
      if (r.chance(0.5)) s[i] = r.below(16);
      else s.writeUInt16BE(r.pick([0, 1, 2, 3, 13, 14, 126, 127, 0xffff, r.below(0x10000)]), i + 1);
      c = { ...c, script: s };
    } else if (k < 19) {
      // frames of another case spliced in
      const o = decodeWsCase(other());
      const dir: Direction = r.chance(0.5) ? 'c2s' : 's2c';
      const a = parseStream(c[dir]);
      const b = parseStream(o[dir]);
      if (!b.frames.length) continue;
      const s = r.below(b.frames.length);
      const out = [...a.frames.map(toOut)];
      out.splice(r.below(out.length + 1), 0, ...b.frames.slice(s, s + r.small(8)).map(toOut));
      c = { ...c, [dir]: serialize({ ...a, out }) };
      scriptStale = true;
    } else {
      // the late start of a capture: a direction's first bytes gone
      const dir: Direction = r.chance(0.5) ? 'c2s' : 's2c';
      c = { ...c, [dir]: c[dir].subarray(r.below(Math.min(c[dir].length, 400))) };
      scriptStale = true;
    }
  }
  // a script written for other streams would cut them at odd places: often a new one
  if (scriptStale && r.chance(0.6)) c = { ...c, script: newScript(r, c) };
  const out = encodeWsCase(c);
  return out.length > MAX_WS_MUTATED ? null : out;
}
