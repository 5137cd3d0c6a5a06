import { Option } from 'commander';
import { GamesniffError } from '../core/errors';
import { parsePorts, type PortSpec } from '../capture/ports';
import { fileSource, liveSource, type CaptureSource } from '../capture/source';
import type { LiveCapture } from '../capture/live';
import { FlowTable, type FlowTableStats } from '../flow/table';
import type { FlowListener } from '../flow/connection';
import type { SourceSummary } from '../capture/source';
import { isRecordingFile, type RecordingReadResult } from '../recording/reader';
import { playRecording, type RecordingPlayer } from '../recording/player';

/** Options shared by every command that reads packets (-r FILE or live). */
export interface CaptureCliOptions {
  read?: string;
  port: string[];
  iface?: string;
  filter?: string;
  duration?: string;
  count?: string;
  idleTimeout?: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export const captureOptions = (): Option[] => [
  new Option('-r, --read <file>', 'read a pcap or pcapng file (optionally gzip-compressed) instead of capturing'),
  new Option('--port <ports>', 'the application\'s server port(s): 24000, 24000,24001 or 24000-24010; repeatable')
    .argParser(collect)
    .default([]),
  new Option('-i, --iface <device>', 'capture device (default: the loopback device)'),
  new Option('--filter <bpf>', 'extra BPF expression, and-ed with the port filter'),
  new Option('--duration <seconds>', 'live: stop after this many seconds'),
  new Option('--count <packets>', 'live: stop after this many packets'),
  new Option('--idle-timeout <seconds>', 'flush and close connections idle this long (packet time)').default('300'),
];

export function positiveNumber(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new GamesniffError('USAGE', `${name} must be a positive number, got "${v}"`);
  return n;
}

/** -r FILE (a capture or a recording) takes no live-capture options. */
export function checkFileOptions(o: CaptureCliOptions): void {
  if (o.read && (o.iface || o.duration || o.count)) throw new GamesniffError('USAGE', '-r reads a file: -i, --duration and --count are for live capture');
}

/** The capture file or live device the options name; live, `onReady` runs once packets can flow (default: say so on stderr). */
export function openSource(o: CaptureCliOptions, ports: PortSpec, onReady?: (c: LiveCapture) => void): CaptureSource {
  checkFileOptions(o);
  if (o.read) return fileSource(o.read);
  return liveSource({
    iface: o.iface,
    ports,
    filter: o.filter,
    durationSec: positiveNumber('--duration', o.duration),
    count: positiveNumber('--count', o.count),
    onReady: onReady ?? ((c) => process.stderr.write(`capturing on ${c.device} (filter: ${c.filter || 'none'})\n`)),
  });
}

export function portsOf(o: CaptureCliOptions): PortSpec {
  return parsePorts(o.port);
}

/** Stop a live source cleanly on Ctrl-C, so that the summary is still printed. */
export function stopOnSignal(source: CaptureSource): () => void {
  const handler = (): void => source.stop();
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

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
  const f = src.file;
  if (f) {
    const unsup = Object.entries(f.unsupportedLinkPackets);
    if (unsup.length) lines.push(`skipped packets on unsupported link types: ${unsup.map(([t, n]) => `${n} ${t}`).join(', ')}`);
    if (f.skippedBlocks) lines.push(`skipped ${f.skippedBlocks} unknown pcapng blocks`);
    if (f.truncatedFile) lines.push(`warning: ${f.truncatedFile}`);
    if (f.stopped) lines.push(`stopped before the end of ${src.name}: ${f.packets} packets read`);
  }
  const l = src.live;
  if (l) {
    lines.push(
      `capture on ${l.device} (filter: ${l.filter || 'none'}): kernel received ${l.received}, dropped ${l.dropped}` +
        (l.ifDropped ? `, interface dropped ${l.ifDropped}` : '') +
        (l.oversize ? `, ${l.oversize} packets larger than the capture buffer (cut, reported as gaps)` : ''),
    );
  }
  return lines;
}

/** Buffered line output to stdout: one write per 64 KiB rather than per line. */
export class LineWriter {
  private parts: string[] = [];
  private size = 0;

  /** flushAt 0 writes every line at once (live output should not wait). */
  constructor(private readonly flushAt = 65536) {}

  line(text: string): void {
    this.parts.push(text);
    this.size += text.length + 1;
    if (this.size >= this.flushAt) this.flush();
  }

  flush(): void {
    if (this.parts.length === 0) return;
    process.stdout.write(this.parts.join('\n') + '\n');
    this.parts = [];
    this.size = 0;
  }
}

export function newFlowTable(o: CaptureCliOptions, ports: PortSpec, listener: FlowListener): FlowTable {
  return new FlowTable(listener, {
    serverPorts: ports.set,
    idleTimeoutUs: (positiveNumber('--idle-timeout', o.idleTimeout) ?? 300) * 1e6,
  });
}

/**
 * Feed `listener` from the input the options name: a recording (-r FILE.gsrec), a capture file
 * (-r) through the flow table, or a live capture. Then flush the output and print the summary on
 * stderr. Ctrl-C stops a live capture cleanly.
 */
export async function runInput(o: CaptureCliOptions, ports: PortSpec, listener: FlowListener, lines: LineWriter): Promise<void> {
  if (o.read && isRecordingFile(o.read)) {
    checkFileOptions(o);
    const { read, player } = await playRecording(o.read, listener);
    lines.flush();
    for (const line of recordingSummaryLines(o.read, read, player)) process.stderr.write(line + '\n');
    return;
  }
  const source = openSource(o, ports);
  const table = newFlowTable(o, ports, listener);
  const release = stopOnSignal(source);
  const src = await source.run((lt, data, orig, ts) => table.push(lt, data, orig, ts));
  release();
  table.finish();
  lines.flush();
  for (const line of summaryLines(src, table.stats)) process.stderr.write(line + '\n');
}

export function recordingSummaryLines(file: string, read: RecordingReadResult, player: RecordingPlayer): string[] {
  const h = read.header;
  const lines = [
    `recording ${file}: ${player.connections} TCP connections, ${player.udpFlows} UDP flows, ${read.records} records` +
      (h.protocol ? `, protocol ${h.protocol.name}` : ''),
  ];
  if (player.orphans) lines.push(`${player.orphans} records for connections the recording never opened were skipped`);
  if (read.warning) lines.push(`warning: ${read.warning}`);
  return lines;
}
