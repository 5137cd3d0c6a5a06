/**
 * The one way in: an input chosen once (a recording, a capture file, or a live device when there
 * is none) fed to a flow listener, through the flow table for packets or the recording player for
 * a recording. Commands parse options and print; every command feeds the same way.
 */
import { buildFilter, type PortSpec } from '../capture/ports';
import { fileSource, liveSource, type CaptureSource, type SourceSummary } from '../capture/source';
import type { CaptureHandle } from '../capture/live';
import type { Ready } from '../core/byte-source';
import { GamesniffError } from '../core/errors';
import type { Direction, PacketCallback, StreamEnd } from '../core/types';
import { UdpFlow, type FlowListener, type TcpConnection } from '../flow/connection';
import type { ProcessPorts } from '../capture/process';
import { FlowTable, type FlowTableStats } from '../flow/table';
import type { GapReason } from '../reassembly/assembler';
import { playRecording, type RecordingPlayer } from '../recording/player';
import type { RecordingReadResult } from '../recording/reader';
import type { Input } from './open';

export interface FeedOptions {
  /** The application's server ports: which side is the server, and what a live capture listens to. */
  serverPorts: PortSpec;
  /** The ports the user named: a capture file is read through them (as BPF), a recording's connections are selected by them. */
  select?: PortSpec;
  /** Extra BPF, and-ed with the ports (live, and capture files); a recording holds streams, not packets, and refuses it. */
  filter?: string;
  /** Live: the device (default: loopback), a time and a packet limit, and a call once packets can flow. */
  iface?: string;
  durationSec?: number;
  count?: number;
  onReady?: (capture: CaptureHandle) => void;
  /**
   * Asked before each batch of packets (live) or each chunk of a file or recording; a promise holds
   * the input back until it settles (the output is congested: a pipe read slowly).
   */
  holdWhile?: Ready;
  /** Live: called after each batch of packets was handed on (write buffered output: it waits at most a batch). */
  afterBatch?: () => void;
  /** Connections idle this long (µs of packet time) are flushed; a later packet resumes them. */
  idleTimeoutUs?: number;
  /**
   * The listener keeps nothing it is handed beyond the call (it copies what it keeps), nor does
   * onPacket: a capture file is then read into one buffer again and again instead of fresh ones.
   */
  transient?: boolean;
  /** Every packet before the flow table gets it (the UI's packet ring). */
  onPacket?: PacketCallback;
  /** Live: the ports of a process (--process, --pid), followed as it opens and closes sockets. */
  follow?: ProcessPorts;
  onPortsChange?: (added: number[], removed: number[]) => void;
}

export type FeedResult =
  | { kind: 'recording'; read: RecordingReadResult; player: RecordingPlayer }
  | { kind: 'packets'; source: SourceSummary; table: FlowTableStats };

export interface Feed {
  /** The recording, the file, or the capture device. */
  readonly name: string;
  readonly kind: 'recording' | 'file' | 'live';
  /** Read it all: resolves when the input ends (or a live capture stops), every stream ended and closed. Once. */
  run(): Promise<FeedResult>;
  /** Stop early: what was read so far is flushed and the result comes as usual. */
  stop(): void;
}

/** Feed `listener` from `input` (null: a live capture). Bad options are thrown here, before anything is read. */
export function feed(input: Input | null, listener: FlowListener, opts: FeedOptions): Feed {
  if (input?.kind === 'recording') {
    if (opts.filter) throw new GamesniffError('USAGE', 'a recording holds streams, not packets: --filter applies to captures (use --port to select connections)');
    const abort = new AbortController();
    const chosen = opts.select?.set.size ? selectPorts(listener, opts.select.set) : listener;
    return {
      name: input.name,
      kind: 'recording',
      run: () => playRecording(input.recording, chosen, { signal: abort.signal, ready: opts.holdWhile }).then(({ read, player }) => ({ kind: 'recording', read, player })),
      stop: () => abort.abort(),
    };
  }
  const source: CaptureSource =
    input?.kind === 'capture'
      ? fileSource(input.bytes, buildFilter(opts.select ?? { set: new Set(), ranges: [] }, opts.filter), { transient: opts.transient, ready: opts.holdWhile, afterChunk: () => table.returnPackets() })
      : liveSource({ iface: opts.iface, ports: opts.serverPorts, filter: opts.filter, durationSec: opts.durationSec, count: opts.count, onReady: opts.onReady, holdWhile: opts.holdWhile, afterBatch: () => (table.returnPackets(), opts.afterBatch?.()) });
  // following a process: every packet is captured, its flows chosen here as its ports come and go
  const follow = input ? undefined : opts.follow;
  // packets are lent to the table until the chunk or batch they came in is done with: it copies
  // only the retained bytes still unacknowledged then
  const table = new FlowTable(follow ? followPorts(listener, follow.ports) : listener, { serverPorts: follow ? follow.ports : opts.serverPorts.set, idleTimeoutUs: opts.idleTimeoutUs, lentPackets: true });
  if (follow) follow.poll(1000, (added, removed) => opts.onPortsChange?.(added, removed));
  const onPacket = opts.onPacket;
  const run = async (): Promise<FeedResult> => {
    const summary = await source.run(
      onPacket
        ? (lt, b, start, end, orig, ts, ifi) => (onPacket(lt, b.subarray(start, end), orig, ts, ifi), table.pushAt(lt, b, start, end, orig, ts))
        : (lt, b, start, end, orig, ts) => table.pushAt(lt, b, start, end, orig, ts),
    );
    table.finish();
    follow?.stop();
    return { kind: 'packets', source: summary, table: table.stats };
  };
  return { name: source.name, kind: input ? 'file' : 'live', run, stop: () => source.stop() };
}

/** Only the flows with a port in `ports` reach `listener`. */
export function selectPorts(listener: FlowListener, ports: ReadonlySet<number>): FlowListener {
  const on = (f: TcpConnection | UdpFlow): boolean => ports.has(f.client.port) || ports.has(f.server.port);
  return {
    open: (c, ts) => on(c) && listener.open?.(c, ts),
    data: (c, d: Direction, chunk: Buffer, off: number, ts: number) => on(c) && listener.data?.(c, d, chunk, off, ts),
    gap: (c, d: Direction, n: number, off: number, ts: number, why: GapReason) => on(c) && listener.gap?.(c, d, n, off, ts, why),
    end: (c, d: Direction, why: StreamEnd, ts: number) => on(c) && listener.end?.(c, d, why, ts),
    close: (c, ts) => on(c) && listener.close?.(c, ts),
    udpOpen: (f, ts) => on(f) && listener.udpOpen?.(f, ts),
    datagram: (f, d: Direction, p: Buffer, n: number, ts: number) => on(f) && listener.datagram?.(f, d, p, n, ts),
    udpClose: (f, ts) => on(f) && listener.udpClose?.(f, ts),
  };
}

/**
 * Only the flows on one of `ports` reach `listener`, with ports that grow while it runs (a
 * process's, polled): a flow is let through from its first event on a port in the set; one seen
 * before its port was known joins then (its open said first, as for a connection joined
 * mid-stream).
 */
export function followPorts(listener: FlowListener, ports: ReadonlySet<number>): FlowListener {
  const passed = new WeakSet<object>();
  const on = (f: TcpConnection | UdpFlow, ts: number): boolean => {
    if (passed.has(f)) return true;
    if (!ports.has(f.client.port) && !ports.has(f.server.port)) return false;
    passed.add(f);
    if (f instanceof UdpFlow) listener.udpOpen?.(f, ts);
    else listener.open?.(f, ts);
    return true;
  };
  return {
    open: (c, ts) => void on(c, ts),
    data: (c, d: Direction, chunk: Buffer, off: number, ts: number) => on(c, ts) && listener.data?.(c, d, chunk, off, ts),
    gap: (c, d: Direction, n: number, off: number, ts: number, why: GapReason) => on(c, ts) && listener.gap?.(c, d, n, off, ts, why),
    end: (c, d: Direction, why: StreamEnd, ts: number) => passed.has(c) && listener.end?.(c, d, why, ts),
    close: (c, ts) => passed.has(c) && listener.close?.(c, ts),
    udpOpen: (f, ts) => void on(f, ts),
    datagram: (f, d: Direction, p: Buffer, n: number, ts: number) => on(f, ts) && listener.datagram?.(f, d, p, n, ts),
    udpClose: (f, ts) => passed.has(f) && listener.udpClose?.(f, ts),
  };
}

