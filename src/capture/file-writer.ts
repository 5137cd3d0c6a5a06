import * as fs from 'node:fs';
import { GamesniffError } from '../core/errors';

/**
 * Writers for classic pcap and pcapng (little-endian, microsecond or
 * nanosecond timestamps). Call order: `new XWriter(path, ...)`, `write(...)`
 * for each packet, then `close()`. Output is buffered and written in blocks.
 */
export interface CaptureWriter {
  write(data: Buffer, ts: number, origLen?: number, ifIndex?: number): void;
  close(): void;
}

const FLUSH_AT = 1 << 20;

/** The output file, or standard output for '-'. */
abstract class BufferedFile {
  private readonly fd: number;
  private parts: Buffer[] = [];
  private pending = 0;

  constructor(private readonly path: string) {
    try {
      this.fd = path === '-' ? 1 : fs.openSync(path, 'w');
    } catch (e) {
      throw new GamesniffError('INPUT', `cannot write ${path}: ${(e as Error).message}`);
    }
  }

  protected put(b: Buffer): void {
    this.parts.push(b);
    this.pending += b.length;
    if (this.pending >= FLUSH_AT) this.flush();
  }

  flush(): void {
    if (this.pending === 0) return;
    writeAll(this.fd, Buffer.concat(this.parts, this.pending));
    this.parts = [];
    this.pending = 0;
  }

  close(): void {
    this.flush();
    if (this.path !== '-') fs.closeSync(this.fd);
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Write all of `buf`; a full non-blocking pipe (stdout into `| tshark -r -`) is waited on, not an error. */
function writeAll(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') Atomics.wait(pause, 0, 0, 2);
      else if (code === 'EPIPE') throw new GamesniffError('INPUT', 'the output was closed before the end (a reader that stopped early)');
      else throw e;
    }
  }
}

/** Timestamps the formats can hold: µs since the epoch, from 0 to 2^53 (the year 2255). */
function checkTs(ts: number): void {
  if (!(ts >= 0 && ts < 2 ** 53)) throw new GamesniffError('INPUT', `packet time ${ts} µs is out of range for a capture file (0 to 2^53)`);
}

export class PcapWriter extends BufferedFile implements CaptureWriter {
  private readonly nanos: boolean;

  constructor(path: string, linkType: number, opts: { nanos?: boolean; snapLen?: number } = {}) {
    super(path);
    this.nanos = opts.nanos ?? false;
    const h = Buffer.alloc(24);
    h.writeUInt32LE(this.nanos ? 0xa1b23c4d : 0xa1b2c3d4, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeUInt32LE(opts.snapLen ?? 262144, 16);
    h.writeUInt32LE(linkType, 20);
    this.put(h);
  }

  /** ts in microseconds since the epoch. */
  write(data: Buffer, ts: number, origLen = data.length): void {
    checkTs(ts);
    const h = Buffer.allocUnsafe(16);
    const sec = Math.floor(ts / 1e6);
    const frac = this.nanos ? Math.round((ts - sec * 1e6) * 1e3) : Math.round(ts - sec * 1e6);
    h.writeUInt32LE(sec, 0);
    h.writeUInt32LE(frac, 4);
    h.writeUInt32LE(data.length, 8);
    h.writeUInt32LE(Math.max(origLen, data.length), 12);
    this.put(h);
    this.put(Buffer.from(data));
  }
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** One little-endian pcapng block of `type` around `body`, padded to 4 bytes. */
export function pcapngBlock(type: number, body: Buffer): Buffer {
  const total = 12 + pad4(body.length);
  const b = Buffer.alloc(total);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(total, 4);
  body.copy(b, 8);
  b.writeUInt32LE(total, total - 4);
  return b;
}

export interface PcapngInterface {
  linkType: number;
  snapLen?: number;
  name?: string;
}

export class PcapngWriter extends BufferedFile implements CaptureWriter {
  constructor(path: string, interfaces: PcapngInterface[], opts: { application?: string } = {}) {
    super(path);
    const app = Buffer.from(opts.application ?? 'gamesniff');
    const shbOpts = Buffer.alloc(4 + pad4(app.length) + 4);
    shbOpts.writeUInt16LE(4, 0); // shb_userappl
    shbOpts.writeUInt16LE(app.length, 2);
    app.copy(shbOpts, 4);
    const shb = Buffer.alloc(16);
    shb.writeUInt32LE(0x1a2b3c4d, 0);
    shb.writeUInt16LE(1, 4);
    shb.writeUInt16LE(0, 6);
    shb.writeInt32LE(-1, 8); // section length unknown
    shb.writeInt32LE(-1, 12);
    this.put(pcapngBlock(0x0a0d0d0a, Buffer.concat([shb, shbOpts])));
    for (const itf of interfaces) this.put(this.idb(itf));
  }

  private idb(itf: PcapngInterface): Buffer {
    const opts: Buffer[] = [];
    if (itf.name) {
      const n = Buffer.from(itf.name);
      const o = Buffer.alloc(4 + pad4(n.length));
      o.writeUInt16LE(2, 0); // if_name
      o.writeUInt16LE(n.length, 2);
      n.copy(o, 4);
      opts.push(o);
    }
    const res = Buffer.alloc(8);
    res.writeUInt16LE(9, 0); // if_tsresol: 10^-9
    res.writeUInt16LE(1, 2);
    res[4] = 9;
    opts.push(res, Buffer.alloc(4));
    const head = Buffer.alloc(8);
    head.writeUInt16LE(itf.linkType, 0);
    head.writeUInt32LE(itf.snapLen ?? 262144, 4);
    return pcapngBlock(1, Buffer.concat([head, ...opts]));
  }

  /** ts in microseconds since the epoch; stored with nanosecond resolution. */
  write(data: Buffer, ts: number, origLen = data.length, ifIndex = 0): void {
    checkTs(ts);
    const body = Buffer.alloc(20 + pad4(data.length));
    const ns = BigInt(Math.round(ts * 1000));
    body.writeUInt32LE(ifIndex, 0);
    body.writeUInt32LE(Number(ns >> 32n), 4);
    body.writeUInt32LE(Number(ns & 0xffffffffn), 8);
    body.writeUInt32LE(data.length, 12);
    body.writeUInt32LE(Math.max(origLen, data.length), 16);
    data.copy(body, 20);
    this.put(pcapngBlock(6, body));
  }
}
