/**
 * The fuzz targets: each takes the bytes of one case and returns normally or throws. Expected
 * outcomes are success, a GamesniffError, and (for protocol text) a ProtocolError; anything else
 * thrown is a crash. They run the same code paths as the CLI. The websocket target (websocket.ts)
 * expects no error at all: a conversation takes any bytes, and its invariants are checked.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaptureParser, readCaptureFile } from '../capture/file-reader';
import { GamesniffError } from '../core/errors';
import { describePacket } from '../packet/describe';
import type { Direction } from '../core/types';
import { FlowTable } from '../flow/table';
import { FlowTee } from '../flow/tee';
import { createFramer } from '../framing/framers';
import { ProtocolError } from '../protocol/load';
import { compileProtocol, loadProtocol, type Protocol, type Transport } from '../protocol/protocol';
import { EncodeError } from '../protocol/runtime';
import { exportPcapng } from '../recording/export';
import { RecordingPlayer } from '../recording/player';
import { openRecording, readRecording } from '../recording/reader';
import { clockTime, messageDetail, messageJson, messageLabel, summarize, toJsonValue } from '../session/format';
import { MessageDecoder, type Message } from '../session/messages';
import { StreamSummary } from '../session/stream-summary';
import { Coverage } from '../session/coverage';
import { Rng } from '../core/rng';
import { hashBytes } from './rng';
import type { TargetName } from './seeds';
import { runWsCase } from './websocket';

export interface TargetContext {
  /** protocols/testgame, compiled once. */
  testgame: Protocol;
  /** protocols/wsgame, compiled once. */
  wsgame: Protocol;
  /** A private directory for temporary files. */
  tmp: string;
  /** Figures a target reports besides pass/crash (summed by the runner). */
  counters: Record<string, number>;
}

/** `tmp`: where temporary files go (default: a new directory, removed by disposeContext). */
export function newContext(root: string, tmp?: string): TargetContext {
  const file = join(root, 'protocols', 'testgame', 'protocol.yaml');
  if (tmp) mkdirSync(tmp, { recursive: true });
  return { testgame: compileProtocol(readFileSync(file, 'utf8'), file), wsgame: loadProtocol('wsgame', root), tmp: tmp ?? mkdtempSync(join(tmpdir(), 'gamesniff-fuzz-')), counters: {} };
}

export function disposeContext(c: TargetContext): void {
  rmSync(c.tmp, { recursive: true, force: true });
}

function count(c: TargetContext, k: string, n = 1): void {
  c.counters[k] = (c.counters[k] ?? 0) + n;
}

/** Is this error one the program may end with (exit 2), rather than a crash? */
export function isExpected(target: TargetName, e: unknown): boolean {
  // a conversation is fed whatever the network carries: nothing it throws is expected
  if (target === 'websocket') return false;
  if (e instanceof GamesniffError) return true;
  if (target === 'protocol' && e instanceof ProtocolError) return true;
  return false;
}

/** What the CLI and TUI do with every message: label, detail, JSON line, clock. */
function formatSink(c: TargetContext, spans: boolean) {
  const coverage = new Coverage();
  return {
    coverage,
    sink: {
      message(m: Message): void {
        coverage.add(m);
        const line = `${clockTime(m.ts)} #${m.flow.id} ${messageLabel(m)} ${messageDetail(m)}`;
        const json = JSON.stringify(messageJson(m, spans));
        count(c, 'messages');
        if (line.length < 0 || json.length < 0) count(c, 'impossible');
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// capture

/** Chunk sizes from the input's hash: the same bytes are always fed the same way. */
function chunker(data: Buffer): () => number {
  const r = new Rng(hashBytes(data) ^ 0x5bd1e995);
  // at most ~2000 pushes: tiny chunks of a big file would only measure copying
  const floor = Math.max(1, Math.ceil(data.length / 2000));
  const mode = r.below(4);
  const fixed = Math.max(floor, r.chance(0.5) ? r.int(1, 64) : r.int(1, 65536));
  return () => (mode === 0 ? data.length || 1 : mode === 1 ? fixed : Math.max(floor, r.chance(0.5) ? r.int(1, 32) : r.int(1, 65536)));
}

/** The flow table's listeners as `streams` and `decode` set them up, on one table. */
function flowPipeline(c: TargetContext, spans: boolean) {
  const { sink, coverage } = formatSink(c, spans);
  const decoder = new MessageDecoder(c.testgame, sink, { spans });
  const summary = new StreamSummary((r) => {
    if (JSON.stringify(r).length < 0) count(c, 'impossible');
  });
  const table = new FlowTable(new FlowTee([summary, decoder]));
  return { table, coverage };
}

/** CaptureParser fed in chunks (the caller keeps what push did not consume), into the flow table. */
export function runCaptureBytes(c: TargetContext, data: Buffer): void {
  const spans = (hashBytes(data) & 1) === 1;
  const { table, coverage } = flowPipeline(c, spans);
  // half the cases also build the packet view the TUI shows for every packet of a message
  const describe = (hashBytes(data) & 2) === 2;
  const parser = new CaptureParser('fuzz-case', (lt, b, start, end, o, ts) => {
    table.pushAt(lt, b, start, end, o, ts);
    if (describe && JSON.stringify(describePacket(lt, b.subarray(start, end))).length < 0) count(c, 'impossible');
  });
  const next = chunker(data);
  let carry: Buffer | null = null;
  let pos = 0;
  while (pos < data.length) {
    const n = Math.min(next(), data.length - pos);
    // a fresh buffer per push, as readCaptureFile does: packets are views into it
    const buf: Buffer = carry ? Buffer.concat([carry, data.subarray(pos, pos + n)]) : Buffer.from(data.subarray(pos, pos + n));
    pos += n;
    const used = parser.push(buf);
    carry = used < buf.length ? buf.subarray(used) : null;
  }
  parser.finish(carry ? carry.length : 0);
  table.finish();
  coverage.report();
  count(c, 'packets', parser.stats.packets);
}

export async function runCapture(c: TargetContext, data: Buffer): Promise<void> {
  if (data[0] === 0x1f && data[1] === 0x8b) {
    // gzip: only readCaptureFile decompresses, as the CLI reads it
    const file = join(c.tmp, 'case.pcap.gz');
    writeFileSync(file, data);
    const { table, coverage } = flowPipeline(c, false);
    await readCaptureFile(file, (lt, d, o, ts) => table.push(lt, d, o, ts));
    table.finish();
    coverage.report();
    return;
  }
  runCaptureBytes(c, data);
}

// ---------------------------------------------------------------------------------------------
// recording

/** Exports larger than this are not read back as captures. */
const MAX_READBACK = 16 << 20;

export async function runRecording(c: TargetContext, data: Buffer): Promise<void> {
  const file = join(c.tmp, 'case.gsrec');
  const out = join(c.tmp, 'case-export.pcapng');
  writeFileSync(file, data);
  let expected: unknown = null;
  // Every step runs even when an earlier one ended with an expected error; the first crash is thrown.
  const step = async (f: () => unknown): Promise<void> => {
    try {
      await f();
    } catch (e) {
      if (!isExpected('recording', e)) throw e;
      expected ??= e;
    }
  };
  await step(async () => {
    // as `decode -r` does: the description the recording holds, else testgame
    const rec = await openRecording(file);
    try {
      let proto = c.testgame;
      const text = (rec.header.protocol as { text?: unknown } | null)?.text;
      if (typeof text === 'string') {
        try {
          proto = compileProtocol(text, `${file}#protocol`);
          count(c, 'embeddedProtocols');
        } catch (e) {
          if (!(e instanceof ProtocolError) && !(e instanceof GamesniffError)) throw e;
        }
      }
      const { sink, coverage } = formatSink(c, false);
      const player = new RecordingPlayer(new MessageDecoder(proto, sink, { spans: (hashBytes(data) & 1) === 1 }));
      await rec.read((r) => player.record(r));
      player.finish();
      coverage.report();
    } finally {
      rec.close();
    }
  });
  await step(async () => {
    const player = new RecordingPlayer(new StreamSummary(() => undefined));
    await readRecording(file, (r) => player.record(r));
    player.finish();
  });
  let exported = false;
  await step(async () => {
    rmSync(out, { force: true });
    await exportPcapng(file, out);
    exported = true;
  });
  // what export writes must read back as a capture, with no error at all
  if (exported && statSync(out).size <= MAX_READBACK) {
    try {
      runCaptureBytes(c, readFileSync(out));
    } catch (e) {
      if (e instanceof GamesniffError) throw new ExportReadbackError(e.message);
      throw e;
    }
  }
  if (expected) throw expected;
}

/** The pcapng that export wrote is not a capture gamesniff reads: a bug, though a GamesniffError. */
export class ExportReadbackError extends Error {
  constructor(message: string) {
    super(`export wrote a capture that does not read back: ${message}`);
    this.name = 'ExportReadbackError';
  }
}

// ---------------------------------------------------------------------------------------------
// protocol

/** A frame body: often the encoding of a message id, then bytes that favour small values. */
function randomBody(r: Rng, t: Transport, ids: number[]): Buffer {
  const parts: Buffer[] = [];
  if (t.def.compression && r.chance(0.5)) parts.push(Buffer.from([r.chance(0.7) ? 0 : r.int(1, 200)]));
  if (t.def.id && ids.length && r.chance(0.9)) {
    const id = r.pick(ids);
    const idc = t.def.id;
    if (idc.k === 'varint') {
      const bytes: number[] = [];
      let v = idc.zigzag ? id * 2 : id;
      do {
        bytes.push((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        v = Math.floor(v / 0x80);
      } while (v > 0);
      parts.push(Buffer.from(bytes));
    } else {
      const b = Buffer.alloc(idc.size);
      for (let i = 0; i < idc.size; i++) {
        const byte = Math.floor(id / 2 ** (8 * i)) & 0xff;
        b[idc.le ? i : idc.size - 1 - i] = byte;
      }
      parts.push(b);
    }
  }
  const n = r.chance(0.8) ? r.int(0, 48) : r.int(0, 600);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = r.chance(0.6) ? r.int(0, 4) : r.chance(0.5) ? r.below(256) : r.pick([0x7f, 0x80, 0xff, 0x61, 0x20]);
  parts.push(b);
  return Buffer.concat(parts);
}

function exercise(c: TargetContext, r: Rng, proto: Protocol, t: Transport): void {
  const ids = t.def.messages.map((m) => m.id).filter((x): x is number => x !== undefined);
  const state = proto.newState();
  const dirs: Direction[] = ['c2s', 's2c'];
  for (let i = 0; i < 24; i++) {
    const dir = r.pick(dirs);
    const body = randomBody(r, t, ids);
    const dm = t.decode(dir, body, state, { spans: r.chance(0.3) });
    count(c, 'frames');
    if (dm.fields) {
      if (summarize(dm.fields).length < 0 || JSON.stringify(toJsonValue(dm.fields)).length < 0) count(c, 'impossible');
    }
    if (!dm.name || dm.error || !dm.fields) continue;
    count(c, 'decoded');
    t.spansFor(dm.name, dm.body, proto.newState());
    let encoded: Buffer;
    try {
      encoded = t.encode(dm.name, dm.fields, proto.newState());
      t.frame(encoded);
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
      count(c, 'encodeErrors');
      continue;
    }
    count(c, 'encoded');
    t.decode(dir, encoded, proto.newState());
  }
  // the framer on a stream of frames, in chunks, with a gap
  if (t.kind === 'tcp') {
    const pieces: Buffer[] = [];
    for (let i = 0; i < 6; i++) {
      const body = randomBody(r, t, ids);
      try {
        pieces.push(r.chance(0.8) ? t.frame(body) : body);
      } catch (e) {
        if (!(e instanceof EncodeError)) throw e;
        pieces.push(body);
      }
    }
    const stream = Buffer.concat(pieces);
    const fstate = proto.newState();
    const framer = createFramer(t.spec, {
      frame: (buf, _s, bs, be, _e, _o, _ts, header) => void t.decode('c2s', buf.subarray(bs, be), fstate, { frame: header }),
      raw: () => undefined,
    });
    let off = 0;
    while (off < stream.length) {
      const n = Math.min(stream.length - off, r.int(1, 64));
      if (r.chance(0.05)) framer.gap(n, off, 0);
      else framer.push(stream.subarray(off, off + n), off, 0);
      off += n;
    }
    framer.end(0);
  }
}

export function runProtocol(c: TargetContext, data: Buffer): void {
  const text = data.toString('utf8');
  const proto = compileProtocol(text, 'fuzz.yaml');
  count(c, 'compiled');
  const r = new Rng(hashBytes(data));
  for (const t of [proto.tcp, proto.udp]) if (t) exercise(c, r, proto, t);
}

export async function runTarget(target: TargetName, c: TargetContext, data: Buffer): Promise<void> {
  switch (target) {
    case 'capture':
      return runCapture(c, data);
    case 'recording':
      return runRecording(c, data);
    case 'protocol':
      return runProtocol(c, data);
    case 'websocket':
      return runWsCase(c.wsgame, data, c.counters);
  }
}

// ---------------------------------------------------------------------------------------------
// crash signatures

export interface ErrorInfo {
  name: string;
  message: string;
  stack: string;
}

export function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof Error) return { name: e.constructor?.name && e.constructor.name !== 'Error' ? e.constructor.name : e.name, message: e.message, stack: e.stack ?? '' };
  return { name: typeof e, message: String(e), stack: '' };
}

/** Stack frames in gamesniff's own code (not the fuzzer, not node_modules, not node internals). */
export function ourFrames(stack: string): string[] {
  const out: string[] = [];
  for (const line of stack.split('\n').slice(1)) {
    const t = line.trim();
    if (/\(eval at |<anonymous>:\d+/.test(t)) {
      // code a protocol file compiled to (new Function): the compiler's output is ours too
      out.push('<code generated from the protocol file>');
      continue;
    }
    const m = /at (?:(.*?) \()?(.*?):(\d+):\d+\)?$/.exec(t);
    if (!m) continue;
    const file = m[2]!.replace(/\\/g, '/');
    if (file.includes('node_modules') || file.startsWith('node:')) continue;
    const rel = /\/((?:src|dist)\/.*)$/.exec(file)?.[1];
    if (!rel || /^(src|dist)\/fuzz\//.test(rel)) continue;
    out.push(`${rel}:${m[3]}${m[1] ? ` (${m[1]})` : ''}`);
  }
  return out;
}

/** Numbers, hex and quoted values stripped: variants of one bug share a signature. */
export function normalizeMessage(msg: string): string {
  return msg
    .split('\n')[0]!
    .replace(/0x[0-9a-f]+/gi, 'N')
    .replace(/-?\d[\d_]*(\.\d+)?(e[+-]?\d+)?/gi, 'N')
    .replace(/"[^"]*"|'[^']*'/g, 'S')
    .slice(0, 200);
}

/**
 * Where a hang or a memory blow-up was: the file of the top frame of the paused stack, skipping
 * compiled protocol code and the runtime helpers it calls (a pause lands anywhere in the loop; the
 * file the loop runs from is what stays the same).
 */
export function resourceWhere(stack: string): string {
  const frames = ourFrames(stack).filter((f) => !f.startsWith('<code generated') && !/^(src|dist)\/(protocol\/runtime|protocol\/expr|core\/)/.test(f));
  return frames.length ? frames[0]!.replace(/:\d+.*$/, '') : 'no frame in gamesniff code';
}

export function signatureOf(e: ErrorInfo): string {
  const frames = ourFrames(e.stack);
  let where = frames[0] ?? 'no frame in gamesniff code';
  // a broken invariant is thrown by the fuzzer's checks: it is named by its message alone
  if (e.name === 'WsInvariantError') where = 'invariant';
  if (/Maximum call stack/.test(e.message) && frames.length) {
    // the top of a deep recursion is anywhere in its cycle: name the cycle by its smallest frame
    where = [...new Set(frames.map((f) => f.replace(/:\d+/, '')))].sort()[0]!;
  }
  return `${e.name}: ${normalizeMessage(e.message)} @ ${where}`;
}
