/**
 * The .gsrec format: a msgpack stream (msgpackr), one object per record, append-only.
 *
 *   header   {format: 'gamesniff-recording', version, created, protocol: {name, hash, text} | null, source, writer}
 *            protocol.text is the description itself, so that a recording is self-contained
 *   open     {t: 'open', c, p: 'tcp'|'udp', ts, client: [addr, port], server: [addr, port], r?}
 *            r: the connection this one resumes after idle eviction
 *   data     {t: 'data', c, d: 0|1, ts, o, b}     tcp: o is the stream offset; udp: one datagram,
 *                                                 o its number, n its declared length when cut
 *   gap      {t: 'gap', c, d, ts, o, n, why}     n bytes missing at stream offset o
 *   end      {t: 'end', c, d, ts, why}            one direction ended (fin, rst, timeout, open)
 *   keys     {t: 'keys', c, ts, k}                 state a connection's traffic does not show (a key
 *                                                 log's session keys: name -> bytes), written before
 *                                                 the first data record it is known for
 *   close    {t: 'close', c, ts, state, f?}       the connection or flow is done; f: the stream facts
 *                                                 a capture gave that the records do not (handshake,
 *                                                 packets, duplicates, retransmitted and conflicting
 *                                                 bytes, per direction)
 *   finish   {t: 'finish', ts, stats}             written by a clean stop; its absence means the
 *                                                 recording was cut (crash, kill -9)
 *
 * `c` is the connection id, `d` 0 for client to server and 1 for server to client, `ts` packet
 * time in µs. The bytes are the truth; messages are decoded from them when the file is read.
 * FORMAT_VERSION changes only when the records change incompatibly; the reader migrates older
 * versions. Optional fields (protocol.text, r, f) were added without a change: readers that do not
 * know them ignore them, and files without them read as before.
 */
import type { Direction, StreamEnd } from '../core/types';
import type { StreamFacts } from '../flow/connection';
import type { GapReason } from '../reassembly/assembler';

export const FORMAT_NAME = 'gamesniff-recording';
export const FORMAT_VERSION = 1;
export const RECORDING_EXT = '.gsrec';

export interface RecordingSource {
  kind: 'live' | 'file' | 'recording';
  /** Device or file name. */
  name: string;
  filter?: string;
  /** The server ports given to the flow table. */
  ports?: number[];
}

export interface RecordedProtocol {
  name: string;
  /** sha256 of the description text. */
  hash: string;
  /** The description itself (absent in recordings made before it was embedded). */
  text?: string;
}

export interface RecordingHeader {
  format: typeof FORMAT_NAME;
  version: number;
  /** ISO time the recording started (wall clock). */
  created: string;
  protocol: RecordedProtocol | null;
  source: RecordingSource;
  /** The gamesniff version that wrote it. */
  writer: string;
}

export type { StreamFacts };

export type AddrPort = [string, number];

export interface OpenRecord {
  t: 'open';
  c: number;
  p: 'tcp' | 'udp';
  ts: number;
  client: AddrPort;
  server: AddrPort;
  /** The connection this one resumes after idle eviction. */
  r?: number;
}
export interface DataRecord {
  t: 'data';
  c: number;
  d: 0 | 1;
  ts: number;
  o: number;
  b: Buffer;
  /** UDP: the datagram's declared length, when the capture cut it. */
  n?: number;
}
export interface GapRecord {
  t: 'gap';
  c: number;
  d: 0 | 1;
  ts: number;
  o: number;
  n: number;
  why: GapReason;
}
export interface EndRecord {
  t: 'end';
  c: number;
  d: 0 | 1;
  ts: number;
  why: StreamEnd;
}
export interface CloseRecord {
  t: 'close';
  c: number;
  ts: number;
  state: string;
  f?: StreamFacts;
}
export interface KeysRecord {
  t: 'keys';
  c: number;
  ts: number;
  k: Record<string, Buffer>;
}
export interface FinishRecord {
  t: 'finish';
  ts: number;
  stats: Record<string, number | string>;
}

export type EventRecord = OpenRecord | DataRecord | GapRecord | EndRecord | KeysRecord | CloseRecord | FinishRecord;

export const dirBit = (dir: Direction): 0 | 1 => (dir === 'c2s' ? 0 : 1);
export const bitDir = (d: 0 | 1): Direction => (d === 0 ? 'c2s' : 's2c');

/** Timestamps are µs since the epoch: negative or past 2^53 (the year 2255) is corruption. */
export const MAX_TS = 2 ** 53;

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/** A non-negative safe integer: ids, offsets, lengths. */
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isPort = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;
const isAddr = (v: unknown): boolean => Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && v[0].length <= 64 && isPort(v[1]);
const isDir = (v: unknown): boolean => v === 0 || v === 1;
const pair = (v: unknown, each: (x: unknown) => boolean): boolean => Array.isArray(v) && v.length === 2 && each(v[0]) && each(v[1]);
const STREAM_ENDS = new Set(['fin', 'rst', 'timeout', 'open']);
const GAP_REASONS = new Set(['ack', 'buffer', 'close']);
const STATES = new Set(['handshake', 'open', 'closing', 'closed', 'reset', 'fin', 'rst', 'timeout']);

/** State variable names (as the protocol's are) to bytes, a few of them. */
function keysOk(k: unknown): boolean {
  if (!k || typeof k !== 'object' || Array.isArray(k)) return false;
  const e = Object.entries(k as Record<string, unknown>);
  return e.length > 0 && e.length <= 64 && e.every(([n, v]) => /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(n) && Buffer.isBuffer(v) && v.length <= 4096);
}

function factsOk(f: unknown): boolean {
  if (f === undefined) return true;
  if (!f || typeof f !== 'object') return false;
  const x = f as Record<string, unknown>;
  const bool = (v: unknown) => typeof v === 'boolean';
  return pair(x.syn, bool) && pair(x.midstream, bool) && pair(x.packets, isCount) && pair(x.duplicates, isCount) && pair(x.retransmitted, isCount) && pair(x.conflicts, isCount);
}

/** Why a record is not one this version understands, or null when it is well formed. */
export function recordProblem(r: unknown): string | null {
  if (!r || typeof r !== 'object' || Array.isArray(r)) return 'not a record object';
  const x = r as Record<string, unknown>;
  if (!isNum(x.ts)) return 'no timestamp';
  if (x.ts < 0 || x.ts >= MAX_TS) return `timestamp ${x.ts} out of range`;
  switch (x.t) {
    case 'open':
      return isCount(x.c) && (x.p === 'tcp' || x.p === 'udp') && isAddr(x.client) && isAddr(x.server) && (x.r === undefined || isCount(x.r)) ? null : 'malformed open record';
    case 'data':
      return isCount(x.c) && isDir(x.d) && isCount(x.o) && Buffer.isBuffer(x.b) && (x.n === undefined || isCount(x.n)) ? null : 'malformed data record';
    case 'gap':
      return isCount(x.c) && isDir(x.d) && isCount(x.o) && isCount(x.n) && typeof x.why === 'string' && GAP_REASONS.has(x.why) ? null : 'malformed gap record';
    case 'end':
      return isCount(x.c) && isDir(x.d) && typeof x.why === 'string' && STREAM_ENDS.has(x.why) ? null : 'malformed end record';
    case 'close':
      return isCount(x.c) && typeof x.state === 'string' && STATES.has(x.state) && factsOk(x.f) ? null : 'malformed close record';
    case 'keys':
      return isCount(x.c) && keysOk(x.k) ? null : 'malformed keys record';
    case 'finish':
      return x.stats && typeof x.stats === 'object' && !Array.isArray(x.stats) ? null : 'malformed finish record';
    default:
      return `unknown record type ${JSON.stringify(x.t)}`;
  }
}

/** What is wrong with a header (after migration), or null. Every field is checked, not only the ones a command uses. */
export function headerProblem(h: Record<string, unknown>): string | null {
  if (typeof h.created !== 'string' || h.created.length > 64) return 'created is not a date';
  if (typeof h.writer !== 'string' || h.writer.length > 64) return 'writer is not a version';
  const p = h.protocol;
  if (p !== null) {
    if (!p || typeof p !== 'object' || Array.isArray(p)) return 'protocol is neither null nor {name, hash}';
    const x = p as Record<string, unknown>;
    if (typeof x.name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(x.name)) return 'protocol.name is not a protocol name (letters, digits, _ and -)';
    if (typeof x.hash !== 'string' || !/^[0-9a-f]{64}$/.test(x.hash)) return 'protocol.hash is not a sha256';
    if (x.text !== undefined && typeof x.text !== 'string') return 'protocol.text is not text';
  }
  const s = h.source;
  if (!s || typeof s !== 'object' || Array.isArray(s)) return 'source is missing';
  const x = s as Record<string, unknown>;
  if (x.kind !== 'live' && x.kind !== 'file' && x.kind !== 'recording') return 'source.kind is not live, file or recording';
  if (typeof x.name !== 'string' || x.name.length > 4096) return 'source.name is not a name';
  if (x.filter !== undefined && typeof x.filter !== 'string') return 'source.filter is not a filter';
  if (x.ports !== undefined && !(Array.isArray(x.ports) && x.ports.length <= 65536 && x.ports.every(isPort))) return 'source.ports is not a list of ports';
  return null;
}
