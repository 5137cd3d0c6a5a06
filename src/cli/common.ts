import { once } from 'node:events';
import { Option } from 'commander';
import { GamesniffError } from '../core/errors';
import { buildFilter, parsePorts, type PortSpec } from '../capture/ports';
import type { SourceSummary } from '../capture/source';
import type { FlowTableStats } from '../flow/table';
import type { FlowListener } from '../flow/connection';
import { feed, type FeedOptions, type FeedResult } from '../input/feed';
import { ProcessPorts } from '../capture/process';
import { openInput, type Input } from '../input/open';
import type { RecordingPlayer } from '../recording/player';
import type { RecordingReadResult } from '../recording/reader';
import { say, type LineWriter } from './output';

/** Options shared by every command that reads packets (-r FILE or live). */
export interface CaptureCliOptions {
  read?: string;
  port: string[];
  iface?: string;
  filter?: string;
  duration?: string;
  count?: string;
  idleTimeout?: string;
  process?: string;
  pid?: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export const captureOptions = (): Option[] => [
  new Option('-r, --read <file>', "read a capture (pcap, pcapng, gzip-compressed or not) or a recording (.gsrec) instead of capturing; '-' reads standard input"),
  new Option('--port <ports>', "the application's server port(s): 24000, 24000,24001 or 24000-24010; repeatable; with -r, selects those ports too")
    .argParser(collect)
    .default([]),
  new Option('-i, --iface <device>', 'capture device (default: the loopback device)'),
  new Option('--filter <bpf>', 'extra BPF expression, and-ed with the port filter (live, and for capture files with libpcap\'s own semantics)'),
  new Option('--duration <seconds>', 'live: stop after this many seconds'),
  new Option('--count <packets>', 'live: stop after this many packets'),
  new Option('--process <name>', "live: the ports of this running process (its command or argv[0]), followed as it opens and closes sockets (Linux; instead of --port)"),
  new Option('--pid <n>', 'live: the same for one process id'),
  new Option('--idle-timeout <seconds>', 'flush and close connections idle this long (packet time); a later packet resumes them where they stood').default('300'),
];

export function positiveNumber(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new GamesniffError('USAGE', `${name} must be a positive number, got "${v}"`);
  return n;
}

/** -r FILE (a capture or a recording) takes no live-capture options. */
export function checkFileOptions(o: CaptureCliOptions): void {
  if (o.read && (o.iface || o.duration || o.count || o.process || o.pid)) throw new GamesniffError('USAGE', '-r reads a file: -i, --duration, --count, --process and --pid are for live capture');
}

/** --process NAME or --pid N: the process's ports, read now and followed; null without either. */
export function followedProcess(o: CaptureCliOptions): ProcessPorts | null {
  if (!o.process && !o.pid) return null;
  if (o.process && o.pid) throw new GamesniffError('USAGE', 'give --process NAME or --pid N, not both');
  if (o.port.length) throw new GamesniffError('USAGE', '--process and --pid find the ports themselves: leave --port out');
  if (process.platform !== 'linux') throw new GamesniffError('USAGE', '--process and --pid read /proc: Linux only (give --port elsewhere)');
  const pid = o.pid === undefined ? undefined : Number(o.pid);
  if (pid !== undefined && (!Number.isInteger(pid) || pid <= 0)) throw new GamesniffError('USAGE', `--pid must be a process id, got "${o.pid}"`);
  return new ProcessPorts({ name: o.process, pid });
}

/** The -r input, opened once (a pipe can only be read once); null for a live capture. */
export async function openCliInput(o: CaptureCliOptions): Promise<Input | null> {
  checkFileOptions(o);
  return o.read ? openInput(o.read) : null;
}

/**
 * The BPF expression a capture file is read through: the ports given with --port (not a
 * protocol's defaults: a file may hold the game on other ports) and --filter, as live capture
 * builds it.
 */
export function fileFilter(o: CaptureCliOptions): string {
  return buildFilter(parsePorts(o.port), o.filter);
}

/** What feed() needs from the command line: server ports (with the protocol's defaults), the user's own ports and filter, the live limits. */
export function feedOptions(o: CaptureCliOptions, ports: PortSpec, extra: Partial<FeedOptions> = {}): FeedOptions {
  checkFileOptions(o);
  const follow = followedProcess(o);
  if (follow) {
    say(`${follow.label}: ports ${[...follow.ports].sort((a, b) => a - b).join(', ') || '(none yet)'}; followed as it opens and closes sockets`);
    ports = { ranges: [], set: follow.ports };
  }
  return {
    follow: follow ?? undefined,
    onPortsChange: (added, removed) => say(`${follow!.label}: ports now ${[...follow!.ports].sort((a, b) => a - b).join(', ')}${added.length ? ` (+${added.join(', +')})` : ''}${removed.length ? ` (closed: ${removed.join(', ')}, still followed)` : ''}`),
    serverPorts: ports,
    select: parsePorts(o.port),
    filter: o.filter,
    iface: o.iface,
    durationSec: positiveNumber('--duration', o.duration),
    count: positiveNumber('--count', o.count),
    idleTimeoutUs: (positiveNumber('--idle-timeout', o.idleTimeout) ?? 300) * 1e6,
    onReady: (c) => say(`capturing on ${c.device} (filter: ${c.filter || 'none'})`),
    holdWhile: stdoutBacklog,
    ...extra,
  };
}

/**
 * Input waits while stdout has more than 1 MB not yet written (a pipe read slowly), so that output
 * never piles up in memory: live, the capture's queue, bounded and counted, takes the wait; a file
 * is simply read later.
 */
function stdoutBacklog(): Promise<unknown> | null {
  const out = process.stdout;
  return out.writableLength > 1 << 20 && !out.destroyed ? once(out, 'drain') : null;
}

/**
 * Stop a live source (or a file read) cleanly on Ctrl-C, so that the summary is still printed.
 * A second Ctrl-C during the shutdown does not kill the process before the summary: it is said
 * and ignored until `release()`.
 */
export function stopOnSignal(source: { stop(): void }): () => void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) say('stopping: the summary comes next');
    stopping = true;
    source.stop();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);

/** One paragraph for stderr: what was read, what was skipped and why. */
export function summaryLines(src: SourceSummary, st: FlowTableStats): string[] {
  const lines: string[] = [];
  lines.push(
    `${st.packets} packets: ${st.tcpPackets} TCP, ${st.udpPackets} UDP, ${st.icmpPackets} ICMP, ` +
      `${st.arpPackets} ARP, ${st.otherPackets} other; ${st.connections} TCP connections, ${st.udpFlows} UDP flows`,
  );
  if (st.malformed > 0) {
    const why = Object.entries(st.malformedReasons)
      .map(([r, n]) => `${n} ${r}`)
      .join(', ');
    lines.push(`skipped ${st.malformed} malformed packets (${why})`);
  }
  if (st.truncatedPackets > 0) lines.push(`${st.truncatedPackets} packets truncated by the capture (missing bytes reported as gaps)`);
  if (st.loopbackDuplicates > 0) lines.push(`${st.loopbackDuplicates} packets captured twice (loopback) ignored`);
  if (st.ignoredResets > 0) lines.push(`${st.ignoredResets} RST segments outside the stream ignored`);
  if (st.halfOpenDropped > 0) lines.push(`${st.halfOpenDropped} unanswered SYNs dropped over the half-open limit (a SYN flood?): not reported as connections`);
  if (st.resumed > 0) lines.push(`${st.resumed} connections idle past --idle-timeout resumed where they stood (shown as a new connection that resumes the old)`);
  const f = src.file;
  if (f) {
    if (f.filter) lines.push(`filter "${f.filter}": ${f.filtered} of ${f.packets} packets left out`);
    const unsup = Object.entries(f.unsupportedLinkPackets);
    if (unsup.length) lines.push(`skipped packets on unsupported link types: ${unsup.map(([t, n]) => `${n} ${t}`).join(', ')}`);
    if (f.skippedBlocks) lines.push(`skipped ${f.skippedBlocks} unknown pcapng blocks`);
    if (f.corruptBlocks) lines.push(`skipped ${f.corruptBlocks} corrupt blocks (too short for their type)`);
    if (f.badTimestamps) lines.push(`${f.badTimestamps} packets with an impossible timestamp were given the previous packet's time`);
    if (f.truncatedFile) lines.push(`warning: ${f.truncatedFile}`);
    if (f.stopped) lines.push(`stopped before the end of ${src.name}: ${f.packets} packets read`);
  }
  const l = src.live;
  if (l) {
    lines.push(
      `capture on ${l.device} (filter: ${l.filter || 'none'}): kernel received ${l.received}, dropped ${l.dropped}` +
        (l.ifDropped ? `, interface dropped ${l.ifDropped}` : '') +
        (l.oversize ? `, ${l.oversize} packets larger than the capture buffer (cut, reported as gaps)` : '') +
        (l.queue ? `; queue peak ${mb(l.queue.peakBytes)} MB of ${mb(l.queue.limitBytes)} MB` : '') +
        (l.queue?.droppedPackets ? `, ${l.queue.droppedPackets} packets dropped by the queue (the decoding fell more than its bound behind; lost as if the kernel had dropped them)` : '') +
        (l.queue?.unread ? `; stopped twice: ${l.queue.unread} captured packets left unread` : ''),
    );
  }
  return lines;
}

/**
 * Feed `listener` from the input (a recording, a capture file, or live when there is none), then
 * flush the output and print the summary on stderr. Ctrl-C stops cleanly, with the summary.
 */
export async function runInput(o: CaptureCliOptions, ports: PortSpec, listener: FlowListener, lines: LineWriter, input: Input | null, extra: Partial<FeedOptions> = {}): Promise<FeedResult> {
  // live: lines are buffered and written after each batch of packets, not one write each
  const f = feed(input, listener, feedOptions(o, ports, { afterBatch: () => lines.flush(), ...extra }));
  const release = stopOnSignal(f);
  try {
    const result = await f.run();
    lines.flush();
    for (const line of resultLines(f.name, result)) say(line);
    return result;
  } finally {
    release();
  }
}

/** The summary of what a feed read, for stderr. */
export function resultLines(name: string, r: FeedResult): string[] {
  return r.kind === 'recording' ? recordingSummaryLines(name, r.read, r.player) : summaryLines(r.source, r.table);
}

export function recordingSummaryLines(file: string, read: RecordingReadResult, player: RecordingPlayer): string[] {
  const h = read.header;
  const lines = [
    `recording ${file}: ${player.connections} TCP connections, ${player.udpFlows} UDP flows, ${read.records} records` +
      (h.protocol ? `, protocol ${h.protocol.name}` : ''),
  ];
  if (player.orphans) lines.push(`${player.orphans} records for connections the recording never opened (or opened twice) were skipped`);
  if (read.warning) lines.push(`warning: ${read.warning}`);
  return lines;
}
