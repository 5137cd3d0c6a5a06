import * as fs from 'node:fs';
import { Packr } from 'msgpackr';
import type { Direction, Endpoint, StreamEnd } from '../core/types';
import { GamesniffError } from '../core/errors';
import { toFacts, type FlowListener, type TcpConnection, type UdpFlow } from '../flow/connection';
import type { GapReason } from '../reassembly/assembler';
import { dirBit, FORMAT_NAME, FORMAT_VERSION, type AddrPort, type EventRecord, type RecordedProtocol, type RecordingHeader, type RecordingSource } from './format';

const WRITER_VERSION = (require('../../package.json') as { version: string }).version;

/** Plain msgpack (no msgpackr record extension), so that any msgpack tool can read a recording. */
export const recordPackr = new Packr({ useRecords: false, moreTypes: false });

const BLOCK = 256 * 1024;

export interface RecordingWriterOptions {
  /** The protocol, with its text so that the recording is self-contained. */
  protocol?: RecordedProtocol | null;
  source: RecordingSource;
  /** Longest time a record waits in memory before it reaches the file (ms). */
  flushMs?: number;
}

/**
 * Appends records to a .gsrec file. Records are packed into a block that is written when full and
 * at least every `flushMs`, so a crash loses at most that much; a record is never split across a
 * block boundary in memory, and the reader tolerates a cut at any byte anyway.
 * Call order: constructor (writes the header), `write(record)`..., `finish(ts, stats)`, `close()`.
 */
export class RecordingWriter {
  private readonly fd: number;
  private block = Buffer.allocUnsafe(BLOCK);
  private used = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  bytes = 0;
  records = 0;

  constructor(
    readonly path: string,
    opts: RecordingWriterOptions,
  ) {
    try {
      this.fd = fs.openSync(path, 'w');
    } catch (e) {
      throw new GamesniffError('INPUT', `cannot write the recording ${path}: ${(e as Error).message}`);
    }
    const header: RecordingHeader = {
      format: FORMAT_NAME,
      version: FORMAT_VERSION,
      created: new Date().toISOString(),
      protocol: opts.protocol ?? null,
      source: opts.source,
      writer: WRITER_VERSION,
    };
    this.put(recordPackr.pack(header));
    this.flush();
    const ms = opts.flushMs ?? 200;
    this.timer = setInterval(() => this.flush(), ms);
    this.timer.unref();
  }

  write(r: EventRecord): void {
    if (this.closed) return;
    this.put(recordPackr.pack(r));
    this.records++;
  }

  private put(packed: Buffer): void {
    // msgpackr reuses its output buffer between calls: copy now.
    if (this.used + packed.length > this.block.length) {
      this.flush();
      if (packed.length > this.block.length) {
        fs.writeSync(this.fd, packed);
        this.bytes += packed.length;
        return;
      }
    }
    packed.copy(this.block, this.used);
    this.used += packed.length;
  }

  flush(): void {
    if (this.used === 0 || this.closed) return;
    fs.writeSync(this.fd, this.block, 0, this.used);
    this.bytes += this.used;
    this.used = 0;
  }

  /** The clean-stop marker, with the figures of the capture behind the recording. */
  finish(ts: number, stats: Record<string, number | string>): void {
    this.write({ t: 'finish', ts, stats });
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    fs.closeSync(this.fd);
  }
}

const addr = (e: Endpoint): AddrPort => [e.addr, e.port];

/** A flow listener that writes every stream event to a recording. */
export class Recorder implements FlowListener {
  lastTs = 0;
  connections = 0;
  udpFlows = 0;
  payloadBytes = 0;
  gaps = 0;
  /**
   * Connections with an open record. A recorder started mid-session (the TUI's `r`) opens a
   * connection when it next has an event, and its data starts at the stream offset it had then.
   */
  private readonly opened = new Set<number>();
  /** Datagrams so far per UDP flow and direction (the `o` of their records). */
  private readonly datagrams = new Map<number, [number, number]>();
  /** Key names written per connection. */
  private readonly keysWritten = new Map<number, Set<string>>();

  constructor(
    readonly writer: RecordingWriter,
    /** Keys the traffic does not show (a key log): written into the recording before the data they open. */
    private readonly keys?: (f: TcpConnection | UdpFlow) => Record<string, unknown> | undefined,
  ) {}

  /** A keys record for what the key log knows of `f` and the recording does not have yet. */
  private keysOf(f: TcpConnection | UdpFlow, ts: number): void {
    const known = this.keys?.(f);
    if (!known) return;
    const done = this.keysWritten.get(f.id) ?? new Set<string>();
    const k: Record<string, Buffer> = {};
    for (const [name, v] of Object.entries(known)) if (Buffer.isBuffer(v) && !done.has(name)) k[name] = v;
    const names = Object.keys(k);
    if (!names.length) return;
    for (const n of names) done.add(n);
    this.keysWritten.set(f.id, done);
    this.writer.write({ t: 'keys', c: f.id, ts, k });
  }

  open(c: TcpConnection, ts: number): void {
    if (this.opened.has(c.id)) return;
    this.opened.add(c.id);
    this.connections++;
    this.at(ts);
    const r: EventRecord = { t: 'open', c: c.id, p: 'tcp', ts, client: addr(c.client), server: addr(c.server) };
    if (c.resumes >= 0) r.r = c.resumes;
    this.writer.write(r);
  }

  data(c: TcpConnection, dir: Direction, chunk: Buffer, offset: number, ts: number): void {
    this.open(c, ts);
    this.at(ts);
    if (this.keys) this.keysOf(c, ts);
    this.payloadBytes += chunk.length;
    this.writer.write({ t: 'data', c: c.id, d: dirBit(dir), ts, o: offset, b: chunk });
  }

  gap(c: TcpConnection, dir: Direction, length: number, offset: number, ts: number, reason: GapReason): void {
    this.open(c, ts);
    this.at(ts);
    this.gaps++;
    this.writer.write({ t: 'gap', c: c.id, d: dirBit(dir), ts, o: offset, n: length, why: reason });
  }

  end(c: TcpConnection, dir: Direction, reason: StreamEnd, ts: number): void {
    this.open(c, ts);
    this.at(ts);
    this.writer.write({ t: 'end', c: c.id, d: dirBit(dir), ts, why: reason });
  }

  close(c: TcpConnection, ts: number): void {
    if (!this.opened.delete(c.id)) return;
    this.keysWritten.delete(c.id);
    this.at(ts);
    this.writer.write({ t: 'close', c: c.id, ts, state: c.state, f: toFacts(c) });
  }

  udpOpen(f: UdpFlow, ts: number): void {
    if (this.opened.has(f.id)) return;
    this.opened.add(f.id);
    this.udpFlows++;
    this.at(ts);
    this.writer.write({ t: 'open', c: f.id, p: 'udp', ts, client: addr(f.client), server: addr(f.server) });
  }

  datagram(f: UdpFlow, dir: Direction, payload: Buffer, declaredLen: number, ts: number): void {
    this.udpOpen(f, ts);
    this.at(ts);
    if (this.keys) this.keysOf(f, ts);
    this.payloadBytes += payload.length;
    const d = dirBit(dir);
    let n = this.datagrams.get(f.id);
    if (!n) this.datagrams.set(f.id, (n = [0, 0]));
    const r: EventRecord = { t: 'data', c: f.id, d, ts, o: n[d]++, b: payload };
    if (declaredLen > payload.length) r.n = declaredLen;
    this.writer.write(r);
  }

  udpClose(f: UdpFlow, ts: number): void {
    if (!this.opened.delete(f.id)) return;
    this.keysWritten.delete(f.id);
    this.at(ts);
    this.datagrams.delete(f.id);
    this.writer.write({ t: 'close', c: f.id, ts, state: f.end, f: toFacts(f) });
  }

  private at(ts: number): void {
    if (ts > this.lastTs) this.lastTs = ts;
  }
}
