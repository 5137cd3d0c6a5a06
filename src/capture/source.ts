import type { ByteSource, Ready } from '../core/byte-source';
import type { PacketAtCallback } from '../core/types';
import { compileOfflineFilter, offlineFilter } from './bpf';
import { readCaptureFileAt, type CaptureFileStats } from './file-reader';
import { LINKTYPE } from './linktypes';
import { CaptureThread } from './capture-thread';
import { chooseDevice, type CaptureHandle, type CaptureStats } from './live';
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
  live?: CaptureStats & { device: string; filter: string };
}

export interface CaptureSource {
  readonly name: string;
  run(onPacket: PacketAtCallback): Promise<SourceSummary>;
  stop(): void;
}

/**
 * A capture file (a path, '-', or an opened source) as a packet source. `filter` is a BPF
 * expression applied as a live capture would apply it (libpcap's compiler and semantics);
 * packets it leaves out are counted, not handed on. `transient`: onPacket keeps nothing it is
 * handed beyond the call, so the file is read into one buffer again and again. `afterChunk`: the
 * packets of a chunk were all handed on (before it is reused).
 */
export function fileSource(input: string | ByteSource, filter = '', opts: { transient?: boolean; ready?: Ready; afterChunk?: () => void } = {}): CaptureSource {
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
        cb = (lt, buf, start, end, orig, ts, ifi) => {
          if (match(lt, buf.subarray(start, end), orig)) onPacket(lt, buf, start, end, orig, ts, ifi);
          else filtered++;
        };
      }
      const file = await readCaptureFileAt(input, cb, { signal: abort.signal, transient: opts.transient, ready: opts.ready, afterChunk: opts.afterChunk });
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
  /** Bytes of captured packets that may wait while onPacket is busy (default 256 MiB); past it whole packets are dropped and counted. */
  queueLimitBytes?: number;
  /** Asked before each batch of packets: a promise holds packets back (in the bounded queue) until it settles. */
  holdWhile?: Ready;
  /** Called after each batch of packets was handed on (write buffered output: it waits at most a batch). */
  afterBatch?: () => void;
  /** Called once the capture is open and packets can be sent. */
  onReady?: (capture: CaptureHandle) => void;
}

/**
 * A live capture: the device is read on a thread of its own (capture-thread.ts), so that a slow
 * onPacket delays packets instead of losing them. stop() (or the duration) still hands on every
 * packet captured before it, a second stop() not (they are counted: live.queue.unread); the
 * packet limit and an error stop at once.
 */
export function liveSource(opts: LiveSourceOptions): CaptureSource {
  const device = chooseDevice(opts.iface);
  const capture = new CaptureThread({ device, filter: buildFilter(opts.ports, opts.filter), bufferSize: opts.bufferSize, queueLimitBytes: opts.queueLimitBytes, holdWhile: opts.holdWhile, afterBatch: opts.afterBatch });
  let finish: (() => void) | null = null;
  let stopped = false;
  // stopped twice (a second Ctrl-C): what still waits in the queue is counted and left unread
  const stop = (): void => {
    if (stopped) return capture.discard(true);
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
        let failed = false;
        const summary = (): SourceSummary => ({ kind: 'live', name: device, live: { ...capture.stats(), device, filter: capture.filter } });
        let finishing = false;
        finish = () => {
          if (timer) clearTimeout(timer);
          if (finishing) return;
          finishing = true;
          void capture.stop().then(() => {
            if (!failed) resolve(summary());
          });
        };
        const fail = (e: unknown): void => {
          if (timer) clearTimeout(timer);
          failed = stopped = true;
          capture.discard();
          void capture.stop().then(() => reject(e));
        };
        capture
          .start((lt, buf, start, end, orig, ts, ifi) => {
            onPacket(lt, buf, start, end, orig, ts, ifi);
            if (++seen >= max) {
              capture.discard();
              stop();
            }
          }, fail)
          .then(
            () => {
              if (opts.durationSec !== undefined && !stopped) timer = setTimeout(stop, opts.durationSec * 1000);
              try {
                opts.onReady?.(capture);
              } catch (e) {
                fail(e);
                return;
              }
              if (stopped) finish?.();
            },
            (e) => {
              failed = stopped = true;
              reject(e);
            },
          );
      });
    },
  };
}
