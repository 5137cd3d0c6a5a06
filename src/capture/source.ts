import type { PacketCallback } from '../core/types';
import { readCaptureFile, type CaptureFileStats } from './file-reader';
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
  file?: CaptureFileStats;
  live?: CaptureDrops & { device: string; filter: string };
}

export interface CaptureSource {
  readonly name: string;
  run(onPacket: PacketCallback): Promise<SourceSummary>;
  stop(): void;
}

export function fileSource(path: string): CaptureSource {
  const abort = new AbortController();
  return {
    name: path,
    async run(onPacket) {
      const file = await readCaptureFile(path, onPacket, { signal: abort.signal });
      return { kind: 'file', name: path, file };
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
        try {
          capture.start((lt, data, orig, ts, ifi) => {
            if (stopped) return;
            onPacket(lt, data, orig, ts, ifi);
            if (++seen >= max) stop();
          });
        } catch (e) {
          reject(e);
          return;
        }
        if (opts.durationSec !== undefined) timer = setTimeout(stop, opts.durationSec * 1000);
        opts.onReady?.(capture);
        if (stopped) finish();
      });
    },
  };
}
