/**
 * The .gsrec format: a msgpack stream (msgpackr), one object per record, append-only.
 *
 *   header   {format: 'gamesniff-recording', version, created, protocol: {name, hash} | null, source}
 *   open     {t: 'open', c, p: 'tcp'|'udp', ts, client: [addr, port], server: [addr, port]}
 *   data     {t: 'data', c, d: 0|1, ts, o, b}     tcp: o is the stream offset; udp: one datagram,
 *                                                 o its number, n its declared length when cut
 *   gap      {t: 'gap', c, d, ts, o, n, why}     n bytes missing at stream offset o
 *   end      {t: 'end', c, d, ts, why}            one direction ended (fin, rst, timeout, open)
 *   close    {t: 'close', c, ts, state}           the connection or flow is done
 *   finish   {t: 'finish', ts, stats}             written by a clean stop; its absence means the
 *                                                 recording was cut (crash, kill -9)
 *
 * `c` is the connection id, `d` 0 for client to server and 1 for server to client, `ts` packet
 * time in µs. The bytes are the truth; messages are decoded from them when the file is read.
 * FORMAT_VERSION changes only when the records change; the reader migrates older versions.
 */
import type { Direction, StreamEnd } from '../core/types';
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

export interface RecordingHeader {
  format: typeof FORMAT_NAME;
  version: number;
  /** ISO time the recording started (wall clock). */
  created: string;
  protocol: { name: string; hash: string } | null;
  source: RecordingSource;
  /** The gamesniff version that wrote it. */
  writer: string;
}

export type AddrPort = [string, number];

export interface OpenRecord {
  t: 'open';
  c: number;
  p: 'tcp' | 'udp';
  ts: number;
  client: AddrPort;
  server: AddrPort;
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
}
export interface FinishRecord {
  t: 'finish';
  ts: number;
  stats: Record<string, number | string>;
}

export type EventRecord = OpenRecord | DataRecord | GapRecord | EndRecord | CloseRecord | FinishRecord;

export const dirBit = (dir: Direction): 0 | 1 => (dir === 'c2s' ? 0 : 1);
export const bitDir = (d: 0 | 1): Direction => (d === 0 ? 'c2s' : 's2c');

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isAddr = (v: unknown): boolean => Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && isNum(v[1]);
const isDir = (v: unknown): boolean => v === 0 || v === 1;

/** Why a record is not one this version understands, or null when it is well formed. */
export function recordProblem(r: unknown): string | null {
  if (!r || typeof r !== 'object' || Array.isArray(r)) return 'not a record object';
  const x = r as Record<string, unknown>;
  if (!isNum(x.ts)) return 'no timestamp';
  switch (x.t) {
    case 'open':
      return isNum(x.c) && (x.p === 'tcp' || x.p === 'udp') && isAddr(x.client) && isAddr(x.server) ? null : 'malformed open record';
    case 'data':
      return isNum(x.c) && isDir(x.d) && isNum(x.o) && Buffer.isBuffer(x.b) && (x.n === undefined || isNum(x.n)) ? null : 'malformed data record';
    case 'gap':
      return isNum(x.c) && isDir(x.d) && isNum(x.o) && isNum(x.n) && typeof x.why === 'string' ? null : 'malformed gap record';
    case 'end':
      return isNum(x.c) && isDir(x.d) && typeof x.why === 'string' ? null : 'malformed end record';
    case 'close':
      return isNum(x.c) && typeof x.state === 'string' ? null : 'malformed close record';
    case 'finish':
      return x.stats && typeof x.stats === 'object' ? null : 'malformed finish record';
    default:
      return `unknown record type ${JSON.stringify(x.t)}`;
  }
}
