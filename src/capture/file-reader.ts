import { feed, feedReusing, openBytes, paced, type ByteSource, type Ready } from '../core/byte-source';
import { u32be, u32le } from '../core/bytes';
import { GamesniffError } from '../core/errors';
import { packetViews, type PacketAtCallback, type PacketCallback } from '../core/types';
import { isSupportedLinkType, linkTypeName } from './linktypes';

/**
 * Streaming readers for classic pcap and pcapng, in constant memory.
 *
 * Call order: `new CaptureParser(name, onPacket)`, then `push(chunk)` for each
 * chunk of the file in order (push returns how many bytes of the chunk it
 * consumed; the caller keeps the rest and prepends it to the next chunk), then
 * `finish(leftover)`. Packets are handed over where they lie in the chunk
 * (a PacketAtCallback: buf, start, end; `packetViews` makes views of them).
 *
 * The format comes from the magic number, never from the file name.
 */

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;

const BLOCK_IDB = 0x00000001;
const BLOCK_PB = 0x00000002; // obsolete Packet Block
const BLOCK_SPB = 0x00000003;
const BLOCK_ISB = 0x00000005;
const BLOCK_EPB = 0x00000006;

/** A record larger than this is corruption, not a packet (libpcap's own limit is 256 KiB). */
const MAX_RECORD = 64 * 1024 * 1024;

/** Timestamps are µs since the epoch; past this (year 2255) or negative, a timestamp is corruption. */
export const MAX_TS = 2 ** 53;

/** The smallest total length of each pcapng block type that has a fixed part (header and trailer included). */
const MIN_BLOCK: Record<number, number> = { [PCAPNG_SHB]: 28, [BLOCK_IDB]: 20, [BLOCK_PB]: 32, [BLOCK_SPB]: 16, [BLOCK_ISB]: 24, [BLOCK_EPB]: 32 };

export interface CaptureFileStats {
  format: 'pcap' | 'pcapng' | 'unknown';
  packets: number;
  bytes: number;
  /** Packets whose captured length is shorter than their length on the wire. */
  truncatedPackets: number;
  /** Packets on interfaces with a link type we cannot decode, by link type name. */
  unsupportedLinkPackets: Record<string, number>;
  sections: number;
  interfaces: number;
  /** Blocks skipped because their type is unknown (pcapng). */
  skippedBlocks: number;
  /** Drops reported by the capturing tool (pcapng ISB), summed over interfaces. */
  reportedDrops: number;
  /** Blocks or records too short for their type or otherwise unreadable: skipped, reading went on. */
  corruptBlocks: number;
  /** Packets whose timestamp is negative, not a number, or past the year 2255: given the previous packet's time. */
  badTimestamps: number;
  /** A warning when the file ends in the middle of a record. */
  truncatedFile?: string;
  /** Reading was stopped before the end of the file. */
  stopped?: boolean;
}

interface Iface {
  linkType: number;
  snapLen: number;
  /** Units of the timestamp per second. */
  tsUnitsPerSec: number;
  tsOffsetSec: number;
}

type Mode = 'detect' | 'pcap' | 'pcapng';

export class CaptureParser {
  readonly stats: CaptureFileStats = {
    format: 'unknown',
    packets: 0,
    bytes: 0,
    truncatedPackets: 0,
    unsupportedLinkPackets: {},
    sections: 0,
    interfaces: 0,
    skippedBlocks: 0,
    reportedDrops: 0,
    corruptBlocks: 0,
    badTimestamps: 0,
  };
  private mode: Mode = 'detect';
  private lastTs = 0;
  /** Set by halt(): push stops at the next record. */
  private halted = false;
  private le = true;
  private pcapLinkType = 0;
  private pcapTsUnits = 1e6;
  private ifaces: Iface[] = [];
  /** Absolute file offset of the start of the next chunk's consumed part. */
  private fileOffset = 0;

  constructor(
    private readonly name: string,
    private readonly onPacket: PacketAtCallback,
  ) {}

  /** Parse whole records from buf; returns the number of bytes consumed. */
  push(buf: Buffer): number {
    let off = 0;
    if (this.mode === 'detect') {
      const used = this.detect(buf);
      if (used < 0) return 0;
      off = used;
    }
    off = this.mode === 'pcap' ? this.pushPcap(buf, off) : this.pushPcapng(buf, off);
    this.fileOffset += off;
    return off;
  }

  /** Stop handing out packets (a signal): push returns at the next record boundary. */
  halt(): void {
    this.halted = true;
  }

  /** No more data: anything left is a record cut short. */
  finish(leftover: number): void {
    if (this.mode === 'detect') {
      throw new GamesniffError('INPUT', `${this.name}: file too short to be a capture (${leftover} bytes)`);
    }
    if (leftover > 0) {
      this.stats.truncatedFile =
        `${this.name}: file ends in the middle of a record at byte ${this.fileOffset} ` +
        `(${leftover} bytes of an incomplete record ignored); ${this.stats.packets} packets read before it`;
    }
  }

  /** Bytes of file header consumed, or -1 when more data is needed to tell. */
  private detect(buf: Buffer): number {
    if (buf.length < 4) return -1;
    const be = buf.readUInt32BE(0);
    const le = buf.readUInt32LE(0);
    if (be === PCAPNG_SHB) {
      // the SHB itself is parsed as an ordinary block
      this.mode = 'pcapng';
      this.stats.format = 'pcapng';
      return 0;
    }
    if (be === PCAP_MAGIC_US || le === PCAP_MAGIC_US || be === PCAP_MAGIC_NS || le === PCAP_MAGIC_NS) {
      if (buf.length < 24) return -1;
      this.le = le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS;
      this.pcapTsUnits = be === PCAP_MAGIC_NS || le === PCAP_MAGIC_NS ? 1e9 : 1e6;
      const network = this.le ? buf.readUInt32LE(20) : buf.readUInt32BE(20);
      // the upper bits may carry FCS length (pcap spec, "LinkType and additional information")
      this.pcapLinkType = network & 0x0fffffff;
      this.stats.format = 'pcap';
      this.stats.interfaces = 1;
      this.stats.sections = 1;
      if (!isSupportedLinkType(this.pcapLinkType)) {
        throw new GamesniffError(
          'LINKTYPE',
          `${this.name}: unsupported link type ${linkTypeName(this.pcapLinkType)}; ` +
            'gamesniff decodes Ethernet, BSD loopback (NULL/LOOP), Linux SLL/SLL2, PPP and raw IPv4/IPv6',
        );
      }
      this.mode = 'pcap';
      return 24;
    }
    const head = buf.subarray(0, Math.min(8, buf.length)).toString('hex').replace(/(..)/g, '$1 ').trim();
    if (buf[0] === 0x1f && buf[1] === 0x8b) {
      throw new GamesniffError('INPUT', `${this.name}: gzip data inside gzip data; decompress it first`);
    }
    throw new GamesniffError(
      'INPUT',
      `${this.name}: not a pcap or pcapng capture file (it starts with ${head}; ` +
        'expected a1b2c3d4/d4c3b2a1, a1b23c4d/4d3cb2a1 or 0a0d0d0a)',
    );
  }

  private u32(buf: Buffer, off: number): number {
    return this.le ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
  }

  private u16(buf: Buffer, off: number): number {
    return this.le ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
  }

  private pushPcap(buf: Buffer, start: number): number {
    let off = start;
    const len = buf.length;
    const le = this.le;
    const units = this.pcapTsUnits;
    const link = this.pcapLinkType;
    const cb = this.onPacket;
    while (off + 16 <= len && !this.halted) {
      // bytes read by index: Buffer#readUInt32LE was a tenth of the time per packet here
      const sec = le ? u32le(buf, off) : u32be(buf, off);
      const frac = le ? u32le(buf, off + 4) : u32be(buf, off + 4);
      const capLen = le ? u32le(buf, off + 8) : u32be(buf, off + 8);
      const origLen = le ? u32le(buf, off + 12) : u32be(buf, off + 12);
      if (capLen > MAX_RECORD) {
        throw new GamesniffError(
          'INPUT',
          `${this.name}: corrupt pcap record at byte ${this.fileOffset + off}: captured length ${capLen} is not plausible`,
        );
      }
      if (off + 16 + capLen > len) break;
      const ts = this.checkTs(units === 1e6 ? sec * 1e6 + frac : sec * 1e6 + frac / 1e3);
      this.stats.packets++;
      this.stats.bytes += capLen;
      if (capLen < origLen) this.stats.truncatedPackets++;
      cb(link, buf, off + 16, off + 16 + capLen, Math.max(origLen, capLen), ts, 0);
      off += 16 + capLen;
    }
    return off;
  }

  private pushPcapng(buf: Buffer, start: number): number {
    let off = start;
    const len = buf.length;
    while (off + 12 <= len && !this.halted) {
      const beType = buf.readUInt32BE(off);
      if (beType === PCAPNG_SHB) {
        // a new section may switch byte order: read its byte-order magic first
        if (off + 28 > len) break;
        const bomLe = buf.readUInt32LE(off + 8);
        const bomBe = buf.readUInt32BE(off + 8);
        if (bomLe === PCAPNG_BOM) this.le = true;
        else if (bomBe === PCAPNG_BOM) this.le = false;
        else {
          throw new GamesniffError(
            'INPUT',
            `${this.name}: corrupt pcapng section header at byte ${this.fileOffset + off}: bad byte-order magic`,
          );
        }
      }
      const type = this.u32(buf, off);
      const total = this.u32(buf, off + 4);
      if (total < 12 || total % 4 !== 0 || total > MAX_RECORD) {
        throw new GamesniffError(
          'INPUT',
          `${this.name}: corrupt pcapng block at byte ${this.fileOffset + off}: block length ${total} ` +
            '(expected a multiple of 4, at least 12)',
        );
      }
      if (off + total > len) break;
      if (total < (MIN_BLOCK[type] ?? 12)) this.corrupt(type);
      else this.block(type, buf, off, total);
      off += total;
    }
    return off;
  }

  /**
   * A block too short for its type: skipped and counted. An interface block still takes its
   * index (with no usable link type), so that the packets naming later interfaces stay right.
   */
  private corrupt(type: number): void {
    this.stats.corruptBlocks++;
    if (type === BLOCK_IDB) {
      this.ifaces.push({ linkType: -1, snapLen: 0, tsUnitsPerSec: 1e6, tsOffsetSec: 0 });
      this.stats.interfaces++;
    }
  }

  /** A timestamp in range, or the previous packet's (and counted). */
  private checkTs(ts: number): number {
    if (ts >= 0 && ts < MAX_TS) return (this.lastTs = ts);
    this.stats.badTimestamps++;
    return this.lastTs;
  }

  private block(type: number, buf: Buffer, off: number, total: number): void {
    const body = off + 8;
    const bodyEnd = off + total - 4;
    switch (type) {
      case PCAPNG_SHB:
        this.ifaces = [];
        this.stats.sections++;
        return;
      case BLOCK_IDB: {
        const linkType = this.u16(buf, body);
        const snapLen = this.u32(buf, body + 4);
        const iface: Iface = { linkType, snapLen, tsUnitsPerSec: 1e6, tsOffsetSec: 0 };
        this.ifaceOptions(buf, body + 8, bodyEnd, iface);
        this.ifaces.push(iface);
        this.stats.interfaces++;
        return;
      }
      case BLOCK_EPB: {
        const ifIndex = this.u32(buf, body);
        const hi = this.u32(buf, body + 4);
        const lo = this.u32(buf, body + 8);
        const capLen = this.u32(buf, body + 12);
        const origLen = this.u32(buf, body + 16);
        this.packet(buf, body + 20, bodyEnd, ifIndex, hi, lo, capLen, origLen, off);
        return;
      }
      case BLOCK_PB: {
        const ifIndex = this.u16(buf, body);
        const hi = this.u32(buf, body + 4);
        const lo = this.u32(buf, body + 8);
        const capLen = this.u32(buf, body + 12);
        const origLen = this.u32(buf, body + 16);
        this.packet(buf, body + 20, bodyEnd, ifIndex, hi, lo, capLen, origLen, off);
        return;
      }
      case BLOCK_SPB: {
        const origLen = this.u32(buf, body);
        const iface = this.ifaces[0];
        const snap = iface && iface.snapLen > 0 ? iface.snapLen : Infinity;
        const capLen = Math.min(origLen, snap, bodyEnd - (body + 4));
        // SPBs carry no timestamp
        this.packet(buf, body + 4, bodyEnd, 0, -1, 0, capLen, origLen, off);
        return;
      }
      case BLOCK_ISB: {
        const ifdrop = this.findOption(buf, body + 12, bodyEnd, 5, 8);
        if (ifdrop >= 0) this.stats.reportedDrops += this.u32(buf, ifdrop) + this.u32(buf, ifdrop + 4) * 2 ** 32;
        return;
      }
      default:
        // Name Resolution, Decryption Secrets, custom and unknown blocks
        if (type !== 4 && type !== 10) this.stats.skippedBlocks++;
    }
  }

  private packet(
    buf: Buffer,
    dataOff: number,
    bodyEnd: number,
    ifIndex: number,
    hi: number,
    lo: number,
    capLen: number,
    origLen: number,
    blockOff: number,
  ): void {
    const iface = this.ifaces[ifIndex];
    if (!iface) {
      throw new GamesniffError(
        'INPUT',
        `${this.name}: packet block at byte ${this.fileOffset + blockOff} names interface ${ifIndex}, ` +
          `but the section has ${this.ifaces.length}`,
      );
    }
    if (dataOff + capLen > bodyEnd) {
      throw new GamesniffError(
        'INPUT',
        `${this.name}: corrupt packet block at byte ${this.fileOffset + blockOff}: ` +
          `captured length ${capLen} overruns the block`,
      );
    }
    this.stats.packets++;
    this.stats.bytes += capLen;
    if (capLen < origLen) this.stats.truncatedPackets++;
    if (!isSupportedLinkType(iface.linkType)) {
      const n = iface.linkType < 0 ? 'unreadable interface block' : linkTypeName(iface.linkType);
      this.stats.unsupportedLinkPackets[n] = (this.stats.unsupportedLinkPackets[n] ?? 0) + 1;
      return;
    }
    const ts = hi < 0 ? this.lastTs : this.checkTs(((hi * 2 ** 32 + lo) / iface.tsUnitsPerSec + iface.tsOffsetSec) * 1e6);
    this.onPacket(iface.linkType, buf, dataOff, dataOff + capLen, Math.max(origLen, capLen), ts, ifIndex);
  }

  private ifaceOptions(buf: Buffer, off: number, end: number, iface: Iface): void {
    const tsresol = this.findOption(buf, off, end, 9, 1);
    if (tsresol >= 0) {
      const v = buf[tsresol]!;
      iface.tsUnitsPerSec = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** (v & 0x7f);
    }
    const tsoffset = this.findOption(buf, off, end, 14, 8);
    if (tsoffset >= 0) {
      const lo = this.le ? buf.readUInt32LE(tsoffset) : buf.readUInt32BE(tsoffset + 4);
      const hi = this.le ? buf.readInt32LE(tsoffset + 4) : buf.readInt32BE(tsoffset);
      iface.tsOffsetSec = hi * 2 ** 32 + lo;
    }
  }

  /**
   * Offset of the value of option `code` when it holds at least `size` bytes, or -1 (a shorter
   * value is corruption: ignored). Options end at opt_endofopt or the block's end.
   */
  private findOption(buf: Buffer, off: number, end: number, code: number, size: number): number {
    while (off + 4 <= end) {
      const c = this.u16(buf, off);
      const l = this.u16(buf, off + 2);
      if (c === 0) return -1;
      if (off + 4 + l > end) return -1;
      if (c === code) return l >= size ? off + 4 : -1;
      off += 4 + ((l + 3) & ~3);
    }
    return -1;
  }
}


/**
 * Read a pcap or pcapng capture (optionally gzip-compressed; a path, '-' for standard input, or a
 * source already opened) and hand every packet to onPacket. Memory stays constant: one chunk plus
 * one record at a time. Packets are views into fresh chunks, which onPacket may keep; with
 * `transient`, into one buffer read into again and again: onPacket copies what it keeps.
 * `afterChunk` is called once the packets of a chunk were all handed on, before it is reused.
 */
export function readCaptureFile(input: string | ByteSource, onPacket: PacketCallback, opts: ReadCaptureOptions = {}): Promise<CaptureFileStats> {
  return readCaptureFileAt(input, packetViews(onPacket), opts);
}

export interface ReadCaptureOptions {
  signal?: AbortSignal;
  transient?: boolean;
  ready?: Ready;
  afterChunk?: () => void;
}

/** readCaptureFile() handing each packet where it lies in the chunk (or record) read, with no view made of it. */
export async function readCaptureFileAt(input: string | ByteSource, onPacket: PacketAtCallback, opts: ReadCaptureOptions = {}): Promise<CaptureFileStats> {
  const opened = typeof input === 'string' ? await openBytes(input) : input;
  const src = opts.ready ? paced(opened, opts.ready) : opened;
  const parser = new CaptureParser(src.name, onPacket);
  const halt = (): void => parser.halt();
  opts.signal?.addEventListener('abort', halt);
  try {
    const after = opts.afterChunk;
    const push = after
      ? (buf: Buffer) => {
          const used = parser.push(buf);
          after();
          return used;
        }
      : (buf: Buffer) => parser.push(buf);
    const r = await (opts.transient ? feedReusing : feed)(src, push, opts.signal);
    if (r.stopped || opts.signal?.aborted) {
      parser.stats.stopped = true;
      return parser.stats;
    }
    if (src.warning && parser.stats.format === 'unknown') throw new GamesniffError('INPUT', `${src.name}: ${src.warning}`);
    parser.finish(r.leftover);
    if (src.warning) parser.stats.truncatedFile = `${src.name}: ${src.warning}; ${parser.stats.packets} packets read before it`;
  } finally {
    opts.signal?.removeEventListener('abort', halt);
    if (typeof input === 'string') opened.close();
  }
  return parser.stats;
}
