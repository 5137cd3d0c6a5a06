import type { ByteSource } from '../core/byte-source';
import type { PacketCallback } from '../core/types';
import { compileOfflineFilter, offlineFilter } from './bpf';
import { readCaptureFile, type CaptureFileStats } from './file-reader';
import { LINKTYPE } from './linktypes';
import { chooseDevice, LiveCapture, type CaptureDrops } from './live';
import { buildFilter, type PortSpec } from './ports';

/**
 * Where packets come from: a capture file or a live device, behind one call.
 * `run(onPacket)` resolves when the file ends, or when a live capture is
 * stopped (by `stop()`, a duration or a packet count).
 */
export interface SourceSummary {
  kind: 'file' | 'live';
  name: string;
  file?: CaptureFileStats & { filter: string; filtered: number };
  live?: CaptureDrops & { device: string; filter: string };
}

export interface CaptureSource {
  readonly name: string;
  run(onPacket: PacketCallback): Promise<SourceSummary>;
  stop(): void;
}

/**
 * A capture file (a path, '-', or an opened source) as a packet source. `filter` is a BPF
 * expression applied as a live capture would apply it (libpcap's compiler and semantics);
 * packets it leaves out are counted, not handed on. `transient`: onPacket keeps nothing it is
 * handed beyond the call, so the file is read into one buffer again and again.
 */
export function fileSource(input: string | ByteSource, filter = '', opts: { transient?: boolean } = {}): CaptureSource {
  const abort = new AbortController();
  const name = typeof input === 'string' ? input : input.name;
  // a bad expression is a usage error before anything is read
  if (filter.trim()) compileOfflineFilter(filter, LINKTYPE.ETHERNET);
  return {
    name,
    async run(onPacket) {
      let filtered = 0;
      let cb = onPacket;
      if (filter.trim()) {
        const match = offlineFilter(filter);
        cb = (lt, data, orig, ts, ifi) => {
          if (match(lt, data, orig)) onPacket(lt, data, orig, ts, ifi);
          else filtered++;
        };
      }
      const file = await readCaptureFile(input, cb, { signal: abort.signal, transient: opts.transient });
      return { kind: 'file', name, file: { ...file, filter, filtered } };
    },
    stop() {
      abort.abort();
    },
  };
}

export interface LiveSourceOptions {
  iface?: string;
  ports: PortSpec;
  filter?: string;
  /** Stop after this many seconds (wall clock: a live capture has no other). */
  durationSec?: number;
  /** Stop after this many packets. */
  count?: number;
  bufferSize?: number;
  /** Called once the capture is open and packets can be sent. */
  onReady?: (capture: LiveCapture) => void;
}

export function liveSource(opts: LiveSourceOptions): CaptureSource {
  const device = chooseDevice(opts.iface);
  const capture = new LiveCapture({ device, filter: buildFilter(opts.ports, opts.filter), bufferSize: opts.bufferSize });
  let finish: (() => void) | null = null;
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    finish?.();
  };
  return {
    name: device,
    stop,
    run(onPacket) {
      return new Promise<SourceSummary>((resolve, reject) => {
        let seen = 0;
        const max = opts.count ?? Infinity;
        let timer: NodeJS.Timeout | null = null;
        finish = () => {
          if (timer) clearTimeout(timer);
          const drops = capture.stats();
          capture.stop();
          resolve({ kind: 'live', name: device, live: { ...drops, device, filter: capture.filter } });
        };
        const fail = (e: unknown): void => {
          if (timer) clearTimeout(timer);
          stopped = true;
          capture.stop();
          reject(e);
        };
        try {
          capture.start(
            (lt, data, orig, ts, ifi) => {
              if (stopped) return;
              onPacket(lt, data, orig, ts, ifi);
              if (++seen >= max) stop();
            },
            // the device went away mid-capture: end with the error, nothing left open
            fail,
          );
        } catch (e) {
          reject(e);
          return;
        }
        if (opts.durationSec !== undefined) timer = setTimeout(stop, opts.durationSec * 1000);
        try {
          opts.onReady?.(capture);
        } catch (e) {
          fail(e);
          return;
        }
        if (stopped) finish();
      });
    },
  };
}
