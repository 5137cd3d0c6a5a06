import { endianness } from 'node:os';
import { GamesniffError } from '../core/errors';
import type { PacketCallback } from '../core/types';

/**
 * Live capture through the `cap` native addon, as patched by
 * src/capture/patches (no immediate mode, 256 KiB snaplen, batched delivery
 * with pcap timestamps and original lengths, pcap_stats).
 *
 * Buffer ownership: cap writes every batch into one shared buffer. The batch
 * is copied once here; packets handed on are views into that copy, which is
 * never reused, so downstream stages may keep references.
 */

interface CapDevice {
  name: string;
  description?: string;
  flags?: string;
  addresses: Array<{ addr?: string }>;
}

interface CapInstance {
  open(device: string, filter: string, bufSize: number, buffer: Buffer, timeoutMs: number): string;
  on(event: 'packet', fn: (used: number, count: number, oversize: number) => void): void;
  close(): boolean;
  stats(): Omit<CaptureDrops, 'oversize'>;
  datalink(): number;
}

interface CapModule {
  Cap: { new (): CapInstance; deviceList(): CapDevice[] };
}

const LE = endianness() === 'LE';

export interface CaptureDrops {
  received: number;
  dropped: number;
  ifDropped: number;
  /** Packets larger than cap's batch buffer, delivered cut (the cut part becomes a gap). */
  oversize: number;
}

function loadCap(): CapModule {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('cap') as CapModule;
  } catch (e) {
    throw new GamesniffError(
      'CAPTURE',
      `live capture needs the "cap" native module, which did not load (${(e as Error).message.split('\n')[0]}). ` +
        'Install the libpcap headers (Debian/Ubuntu: apt-get install libpcap-dev) and run: npm rebuild cap',
    );
  }
}

export function listDevices(): CapDevice[] {
  return loadCap().Cap.deviceList();
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

export class LiveCapture {
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

  start(onPacket: PacketCallback): void {
    const { Cap } = loadCap();
    const cap = new Cap();
    // batch buffer: larger than libpcap's snaplen so any packet fits
    const shared = Buffer.alloc(4 * 1024 * 1024);
    try {
      cap.open(this.device, this.filter, this.opts.bufferSize ?? 64 * 1024 * 1024, shared, this.opts.timeoutMs ?? 50);
    } catch (e) {
      const msg = (e as Error).message;
      if (/EPERM|permission|not permitted/i.test(msg)) throw new GamesniffError('PRIVILEGE', privilegeHint(this.device));
      if (/syntax error|filter/i.test(msg)) {
        throw new GamesniffError('USAGE', `bad capture filter "${this.filter}": ${msg}`);
      }
      throw new GamesniffError('CAPTURE', `cannot capture on ${this.device}: ${msg}`);
    }
    this.cap = cap;
    this.linkType = cap.datalink();
    const linkType = this.linkType;
    cap.on('packet', (used, count, oversize) => {
      this.oversize += oversize;
      const batch = Buffer.from(shared.subarray(0, used)); // the one copy at the boundary
      let off = 0;
      for (let i = 0; i < count; i++) {
        // record headers are in host byte order
        const sec = LE ? batch.readUInt32LE(off) : batch.readUInt32BE(off);
        const usec = LE ? batch.readUInt32LE(off + 4) : batch.readUInt32BE(off + 4);
        const capLen = LE ? batch.readUInt32LE(off + 8) : batch.readUInt32BE(off + 8);
        const origLen = LE ? batch.readUInt32LE(off + 12) : batch.readUInt32BE(off + 12);
        onPacket(linkType, batch.subarray(off + 16, off + 16 + capLen), origLen, sec * 1e6 + usec, 0);
        off += 16 + ((capLen + 3) & ~3);
      }
    });
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
