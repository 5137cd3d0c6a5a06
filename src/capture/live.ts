import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GamesniffError } from '../core/errors';
import { packetViews, type PacketAtCallback, type PacketCallback } from '../core/types';
import type { QueueFigures } from './capture-queue';

/**
 * Live capture through gamesniff's own build of the `cap` native addon,
 * patched by src/capture/patches/cap-0.2.1.patch (no immediate mode,
 * 256 KiB snaplen, batched delivery with pcap timestamps and original
 * lengths, pcap_stats, uv handles closed properly, BPF for files) and built
 * into dist/native/cap by src/capture/native/install.js at install time. The
 * `cap` that npm installed is only its source: it is never loaded.
 *
 * Buffer ownership: the addon writes every batch into one shared buffer. The
 * batch is copied once here; packets handed on are views into that copy,
 * which is never reused, so downstream stages may keep references.
 */

interface CapDevice {
  name: string;
  description?: string;
  flags?: string;
  addresses: Array<{ addr?: string }>;
}

interface CapInstance extends EventEmitter {
  open(device: string, filter: string, bufSize: number, buffer: Buffer, timeoutMs: number): string;
  close(): boolean;
  stats(): Omit<CaptureDrops, 'oversize'>;
  datalink(): number;
}

export interface NativeBpfFilter {
  match(packet: Uint8Array, origLen: number): boolean;
  free(): void;
}

export interface NativeCap {
  Cap: new () => CapInstance;
  BpfFilter: new (expression: string, dlt: number, snaplen?: number) => NativeBpfFilter;
  deviceList(): CapDevice[];
  gamesniffPatch: number;
  DLT_RAW: number;
}

/** The patch version this code expects the binding to report (GAMESNIFF_PATCH in the patch). */
export const CAP_PATCH = 4;

// src/capture and dist/capture are both two levels below the package root
const ROOT = resolve(__dirname, '../..');
/** Where install.js builds the binding. */
export const BINDING_PATH = join(ROOT, 'dist/native/cap/build/Release/cap.node');
const INSTALL_SCRIPT = join(ROOT, 'src/capture/native/install.js');
const STATUS_FILE = join(ROOT, 'dist/native/status.json');

export interface CaptureDrops {
  received: number;
  dropped: number;
  ifDropped: number;
  /** Packets larger than cap's batch buffer, delivered cut (the cut part becomes a gap). */
  oversize: number;
}

/** The kernel's counters, and the queue's when the capture runs on a thread of its own (capture-thread.ts). */
export interface CaptureStats extends CaptureDrops {
  queue?: QueueFigures;
}

/** What a running capture tells the code that started it, whichever thread captures. */
export interface CaptureHandle {
  readonly device: string;
  readonly filter: string;
  stats(): CaptureStats;
}

/** Why the last build failed, as install.js recorded it. */
function lastBuildFailure(): string {
  try {
    const st = JSON.parse(readFileSync(STATUS_FILE, 'utf8')) as { ok?: boolean; error?: string; hint?: string };
    if (st.ok === false && st.error) return ` The last build failed: ${st.error}${st.hint ? ` (${st.hint})` : ''}.`;
  } catch {
    // no record
  }
  return '';
}

function bindingError(problem: string): GamesniffError {
  const asPackage = /[\\/]node_modules[\\/]/.test(ROOT);
  return new GamesniffError(
    'CAPTURE',
    `live capture needs gamesniff's patched libpcap binding ${BINDING_PATH}, which ${problem}.${lastBuildFailure()} ` +
      `To fix, build it: node ${JSON.stringify(INSTALL_SCRIPT)}` +
      (asPackage ? ' (or: npm rebuild gamesniff)' : '') +
      '; that needs the libpcap headers and a C++ compiler (Debian/Ubuntu: apt-get install libpcap-dev build-essential). ' +
      'Reading capture files (-r) works without it.',
  );
}

let native: NativeCap | null = null;

/**
 * The patched addon, loaded on first use (never at import: reading files
 * needs no libpcap). Throws GamesniffError('CAPTURE') saying how to build it
 * when it is missing, does not load, or is from another version of the patch.
 */
export function loadNative(): NativeCap {
  if (native) return native;
  if (!existsSync(BINDING_PATH)) throw bindingError('is missing');
  let m: NativeCap;
  try {
    m = require(BINDING_PATH) as NativeCap;
  } catch (e) {
    throw bindingError(`does not load (${(e as Error).message.split('\n')[0]})`);
  }
  if (m.gamesniffPatch !== CAP_PATCH) {
    throw bindingError(`was built from patch ${String(m.gamesniffPatch ?? 'none')}, and this gamesniff needs patch ${CAP_PATCH}`);
  }
  // as cap's lib/Cap.js does: the addon emits through this.emit
  if (!(m.Cap.prototype instanceof EventEmitter)) Object.setPrototypeOf(m.Cap.prototype, EventEmitter.prototype);
  native = m;
  return m;
}

export function listDevices(): CapDevice[] {
  return loadNative().deviceList();
}

/** The device to capture on: the one named, else the loopback device (lo on Linux, lo0 on macOS). */
export function chooseDevice(iface?: string): string {
  const devices = listDevices();
  if (iface) {
    if (!devices.some((d) => d.name === iface)) {
      throw new GamesniffError(
        'USAGE',
        `no capture device "${iface}"; devices: ${devices.map((d) => d.name).join(', ') || '(none visible)'}`,
      );
    }
    return iface;
  }
  const lo = devices.find((d) => d.flags?.includes('PCAP_IF_LOOPBACK'));
  if (!lo) {
    throw new GamesniffError(
      'CAPTURE',
      `no loopback device found among ${devices.map((d) => d.name).join(', ') || '(none visible)'}; name one with -i`,
    );
  }
  return lo.name;
}

export function privilegeHint(device: string): string {
  return (
    `no permission to capture on ${device}. Run as root (sudo), or give node the capture capabilities once: ` +
    `sudo setcap cap_net_raw,cap_net_admin=eip "$(readlink -f "$(command -v node)")"`
  );
}

export interface LiveCaptureOptions {
  device: string;
  filter: string;
  /** Kernel ring size in bytes. */
  bufferSize?: number;
  /** How long libpcap may hold packets before handing them over (ms): bounds display latency. */
  timeoutMs?: number;
}

/** What a failed open means for the user: no privilege, a bad filter, or the device. */
export function openError(device: string, filter: string, msg: string): GamesniffError {
  if (/EPERM|permission|not permitted/i.test(msg)) return new GamesniffError('PRIVILEGE', privilegeHint(device));
  if (/syntax error|filter/i.test(msg)) return new GamesniffError('USAGE', `bad capture filter "${filter}": ${msg}`);
  return new GamesniffError('CAPTURE', `cannot capture on ${device}: ${msg}`);
}

/**
 * The packets of one batch as cap lays them out: per record a 16-byte header of four u32 in host
 * byte order (seconds, microseconds, captured length, original length), the bytes, padding to 4.
 * Packets are handed on where they lie in `batch`. `open()` false stops the walk (the capture was stopped by a
 * packet). The headers are read through a Uint32Array (host order, as written; about half the
 * cost of readUInt32 per packet): `batch` must start 4-byte aligned, as a batch's own memory does.
 */
export function forEachRecord(batch: Buffer, count: number, linkType: number, onPacket: PacketAtCallback, open: () => boolean): void {
  if (batch.byteOffset & 3) batch = Buffer.from(new Uint8Array(batch)); // not expected: copy to memory of its own
  const words = new Uint32Array(batch.buffer, batch.byteOffset, batch.length >>> 2);
  let w = 0;
  for (let i = 0; i < count && open(); i++) {
    const capLen = words[w + 2]!;
    const off = w * 4 + 16;
    onPacket(linkType, batch, off, off + capLen, words[w + 3]!, words[w]! * 1e6 + words[w + 1]!, 0);
    w += 4 + ((capLen + 3) >>> 2);
  }
}

export class LiveCapture implements CaptureHandle {
  readonly device: string;
  readonly filter: string;
  linkType = -1;
  /** Packets cap could not fit whole into its batch buffer (never expected: the buffer is larger than the snaplen). */
  oversize = 0;
  private cap: CapInstance | null = null;
  private lastStats: CaptureDrops = { received: 0, dropped: 0, ifDropped: 0, oversize: 0 };

  constructor(private readonly opts: LiveCaptureOptions) {
    this.device = opts.device;
    this.filter = opts.filter;
  }

  /**
   * Opens the device and delivers packets until stop(). Throws
   * GamesniffError (CAPTURE, PRIVILEGE or USAGE) with nothing left open.
   * Once open, the capture closes itself before any error leaves it: an
   * exception thrown by `onPacket` (rethrown after closing), or a capture
   * error such as the device going away (handed to `onError`, thrown when
   * there is none).
   */
  start(onPacket: PacketCallback, onError?: (e: GamesniffError) => void): void {
    const views = packetViews(onPacket);
    this.startBatches((records, count) => {
      const batch = Buffer.from(records); // the one copy at the boundary
      try {
        forEachRecord(batch, count, this.linkType, views, () => this.cap !== null);
      } catch (e) {
        this.stop();
        throw e;
      }
    }, onError);
  }

  /**
   * As start(), with each batch as cap wrote it: `records` (a view of cap's buffer, valid only
   * during the call: copy what is kept) holds `count` records for forEachRecord. The capture
   * thread hands batches on this way, copied once, to the thread that reads them.
   */
  startBatches(onBatch: (records: Buffer, count: number) => void, onError?: (e: GamesniffError) => void): void {
    if (this.cap) throw new GamesniffError('CAPTURE', `already capturing on ${this.device}`);
    const { Cap } = loadNative(); // checks the binding before anything is opened
    const cap = new Cap();
    // batch buffer: larger than libpcap's snaplen so any packet fits
    const shared = Buffer.alloc(4 * 1024 * 1024);
    try {
      cap.open(this.device, this.filter, this.opts.bufferSize ?? 64 * 1024 * 1024, shared, this.opts.timeoutMs ?? 50);
    } catch (e) {
      cap.close(); // the patched open leaves nothing open when it fails; this is for certainty
      throw openError(this.device, this.filter, (e as Error).message);
    }
    try {
      this.linkType = cap.datalink();
      cap.on('packet', (used: number, count: number, oversize: number) => {
        this.oversize += oversize;
        onBatch(shared.subarray(0, used), count);
      });
      cap.on('error', (e: Error) => {
        this.stop();
        const err = new GamesniffError('CAPTURE', `capture on ${this.device} failed: ${e.message}`);
        if (onError) onError(err);
        else throw err;
      });
    } catch (e) {
      cap.close();
      throw e;
    }
    this.cap = cap;
  }

  /** Kernel counters: packets received by the filter and dropped for lack of buffer space. */
  stats(): CaptureDrops {
    if (this.cap) {
      try {
        this.lastStats = { ...this.cap.stats(), oversize: this.oversize };
      } catch {
        // closed: keep the last figures
      }
    }
    return this.lastStats;
  }

  stop(): void {
    if (!this.cap) return;
    this.stats();
    this.cap.close();
    this.cap = null;
  }
}
