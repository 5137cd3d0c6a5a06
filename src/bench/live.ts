import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureStarted, cpuTicks, have, TICKS } from './tools';

/**
 * Live capture under a flood on loopback: `tcpdump -w /dev/null` first (at the flood's full
 * rate: that rate is the load for the rest), then `streams --json` and `decode --json` at the
 * same rate, their output read through a pipe (writing it is part of the cost). Per capture:
 * sent, captured, lost, kernel and queue drops, and the CPU seconds of the capturing process over
 * the flood and the time it took to catch up, as % of the flood's duration and as a ratio to
 * tcpdump's. Runs interleaved, medians of RUNS. Then a TCP flood of length-prefixed frames for
 * `decode`: frames sent, decoded, raw (a capture that lost packets and framing that did not
 * resynchronise show up here).
 */

const CLI = join(__dirname, '../cli/main.js');
const UDP_FLOOD = join(__dirname, 'flood.js');
const TCP_FLOOD = join(__dirname, 'tcp-flood.js');
const SECONDS = 3;
const RUNS = Number(process.env.GAMESNIFF_BENCH_LIVE_RUNS ?? 3);
/** GAMESNIFF_BENCH_LIVE=udp or tcp runs only that flood. */
const CASES = (process.env.GAMESNIFF_BENCH_LIVE ?? 'udp,tcp').split(',');
const UDP_PORT = 24999;
const TCP_PORT = 24998;

const fmt = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '-');
const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[(s.length - 1) >> 1]! : NaN;
};

/**
 * A description that decodes the floods: the UDP datagrams (64 × 0x47) on `udpPort` and, with
 * `tcpPort`, the TCP frames (u16le length, 62 × 0x47) there.
 */
export function floodProtocol(udpPort: number, tcpPort?: number): string {
  const tcp = `tcp:
  ports: [${tcpPort}]
  framing: { length: u16le }
  id: u8
  messages:
    frame:
      id: 0x47
      fields:
        a: u32
        b: u16
        rest: { type: bytes, until: end }
`;
  return `protocol: flood
description: the live bench's floods
endian: le
${tcpPort === undefined ? '' : tcp}udp:
  ports: [${udpPort}]
  framing: datagram
  id: u8
  messages:
    flood:
      id: 0x47
      fields:
        a: u32
        b: u16
        rest: { type: bytes, until: end }
`;
}

type Tool = 'tcpdump' | 'streams' | 'decode';

interface Sample {
  sent: number;
  captured: number;
  kernelDrops: number;
  queueDrops: number;
  queuePeakMb: number;
  /** CPU of the capturing process from the flood's start until it caught up, % of the flood's duration. */
  cpuPct: number;
  /** Seconds from the end of the flood until the capture had caught up. */
  lagSec: number;
  /** decode: messages decoded, and raw (frames not decoded, bytes not framed). */
  messages: number;
  raw: number;
}

/** Runs `flood` (a bench script printing what it sent) and resolves with that number. */
function flood(script: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const f = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    f.stdout.on('data', (d: Buffer) => (out += d.toString()));
    f.on('exit', () => resolve(Number(out.trim()) || 0));
  });
}

/** Counts output lines, and among them the messages and the raw ones, as they stream by (chunks split lines anywhere). */
class OutputCounter {
  lines = 0;
  messages = 0;
  raw = 0;
  private tail = '';
  add(d: Buffer): void {
    const text = this.tail + d.toString('latin1');
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; start = nl + 1, nl = text.indexOf('\n', start)) {
      this.lines++;
      const line = text.slice(start, nl);
      if (line.includes('"raw":')) this.raw++;
      else if (line.includes('"name":"')) this.messages++;
    }
    this.tail = text.slice(start);
  }
}

/**
 * Resolves once the process's CPU time stops moving (it has caught up) with the ticks then and
 * when they last moved; null once it is gone. Not before 1.2 s: tcpdump hands its ring over once a
 * second when it is quiet.
 */
async function settled(pid: number, limitSec: number): Promise<{ ticks: number; at: number } | null> {
  const t0 = Date.now();
  let last = cpuTicks(pid);
  let moved = t0;
  while (last !== null && Date.now() - t0 < limitSec * 1000) {
    await sleep(300);
    const now = cpuTicks(pid);
    if (now === null) return null;
    // at most 1 tick in 300 ms: idle but for its timers
    if (now - last <= 1) {
      if (Date.now() - t0 >= 1200) return { ticks: now, at: moved };
    } else moved = Date.now();
    last = now;
  }
  return last === null ? null : { ticks: last, at: Date.now() };
}

async function captureOnce(tool: Tool, dir: string, udp: boolean, rate: number): Promise<Sample> {
  const port = udp ? UDP_PORT : TCP_PORT;
  const proto = udp ? 'udp' : 'tcp';
  const [cmd, args] =
    tool === 'tcpdump'
      ? ['tcpdump', ['-i', 'lo', '-w', '/dev/null', `${proto} port ${port}`]]
      : [process.execPath, [CLI, tool, ...(tool === 'decode' ? ['-p', join(dir, 'protocol.yaml')] : []), '--port', String(port), '--json']];
  const child = spawn(cmd, args as string[], { stdio: ['ignore', 'pipe', 'pipe'] });
  const counter = new OutputCounter();
  child.stdout.on('data', (d: Buffer) => counter.add(d));
  const { ready, closed, stderr } = captureStarted(child);
  const none: Sample = { sent: 0, captured: NaN, kernelDrops: NaN, queueDrops: NaN, queuePeakMb: NaN, cpuPct: NaN, lagSec: NaN, messages: NaN, raw: NaN };
  if (!(await ready)) {
    child.kill('SIGKILL');
    await closed;
    process.stdout.write(`  ${tool}: did not start: ${stderr().trim().split('\n').slice(-2).join(' / ')}\n`);
    return none;
  }
  await sleep(300);
  const t0 = cpuTicks(child.pid!) ?? NaN;
  const sent = await (udp ? flood(UDP_FLOOD, [String(port), String(SECONDS), '50000000', String(rate)]) : flood(TCP_FLOOD, [String(port), String(SECONDS), String(rate)]));
  const floodEnd = Date.now();
  const caughtUp = await settled(child.pid!, 120);
  child.kill('SIGINT');
  await closed;
  if (process.env.GAMESNIFF_BENCH_LIVE_DEBUG) process.stdout.write(`  [${tool}] ${counter.lines} lines; ${stderr().trim().replace(/\n/g, '\n  | ')}\n`);
  const num = (re: RegExp): number => Number(re.exec(stderr())?.[1] ?? NaN);
  const captured =
    tool === 'tcpdump' ? num(/(\d+) packets? captured/) : udp ? num(/(\d+) UDP/) : num(/(\d+) TCP,/);
  return {
    sent,
    captured,
    kernelDrops: tool === 'tcpdump' ? num(/(\d+) packets? dropped by kernel/) : num(/dropped (\d+)/),
    queueDrops: tool === 'tcpdump' ? 0 : (num(/(\d+) packets dropped by the queue/) || 0),
    queuePeakMb: num(/queue peak ([\d.]+) MB/),
    cpuPct: caughtUp ? ((caughtUp.ticks - t0) / TICKS / SECONDS) * 100 : NaN,
    lagSec: caughtUp ? Math.max(0, (caughtUp.at - floodEnd) / 1000) : NaN,
    messages: tool === 'decode' ? counter.messages : NaN,
    raw: tool === 'decode' ? counter.raw : NaN,
  };
}

function medianSample(xs: Sample[]): Sample {
  const m = (k: keyof Sample): number => median(xs.map((x) => x[k]));
  return { sent: m('sent'), captured: m('captured'), kernelDrops: m('kernelDrops'), queueDrops: m('queueDrops'), queuePeakMb: m('queuePeakMb'), cpuPct: m('cpuPct'), lagSec: m('lagSec'), messages: m('messages'), raw: m('raw') };
}

/** CPU µs per packet captured: the flood's rate differs from run to run (the machine is shared), the cost per packet less. */
const usPerPacket = (x: Sample): number => (x.cpuPct / 100) * SECONDS * 1e6 / x.captured;

function row(label: string, xs: Sample[], ref: Sample[] | null): string {
  const s = medianSample(xs);
  const lost = xs.map((x) => x.sent - x.captured);
  const us = median(xs.map(usPerPacket));
  const refUs = ref ? median(ref.map(usPerPacket)) : NaN;
  const refPct = ref ? medianSample(ref).cpuPct : NaN;
  const ratio = ref ? ` (${fmt(s.cpuPct / refPct)}× tcpdump's %; ${fmt(us / refUs)}× its µs a packet)` : '';
  return (
    `  ${label.padEnd(22)} sent ${int(s.sent).padStart(9)}, captured ${int(s.captured).padStart(9)}, lost ${lost.map(int).join('/')}, ` +
    `kernel drops ${int(s.kernelDrops)}` +
    (label.startsWith('tcpdump') ? '' : `, queue drops ${int(s.queueDrops)} (peak ${fmt(s.queuePeakMb)} MB), caught up ${fmt(s.lagSec)} s after`) +
    (Number.isFinite(s.messages) ? `, messages ${int(s.messages)}, raw ${int(s.raw)}` : '') +
    `; CPU ${fmt(s.cpuPct)}%, ${fmt(us, 2)} µs a packet${ratio}\n`
  );
}

export async function liveBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stdout.write('\nlive capture: skipped (needs root or capture capabilities)\n');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'gamesniff-live-'));
  try {
    writeFileSync(join(dir, 'protocol.yaml'), floodProtocol(UDP_PORT, TCP_PORT));
    const tcpdump = have('tcpdump');
    if (CASES.includes('udp')) await udpCase(dir, tcpdump);
    if (CASES.includes('tcp')) await tcpCase(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function udpCase(dir: string, tcpdump: boolean): Promise<void> {
    process.stdout.write(
      `\nlive capture: ${SECONDS} s UDP flood of 64-byte datagrams on 127.0.0.1:${UDP_PORT}, ${RUNS} runs interleaved, medians; ` +
        `lost = sent - captured per run; CPU = the capturing process's, until it caught up, % of ${SECONDS} s\n`,
    );
    if (!tcpdump) process.stdout.write('  tcpdump: not installed (apt-get install tcpdump) - gamesniff floods at full rate, no CPU ratio\n');
    const runs: Record<Tool, Sample[]> = { tcpdump: [], streams: [], decode: [] };
    for (let r = 0; r < RUNS; r++) {
      // tcpdump sets the load: its flood runs at full rate, gamesniff's at the rate it reached
      let rate = 0;
      if (tcpdump) {
        const t = await captureOnce('tcpdump', dir, true, 0);
        runs.tcpdump.push(t);
        rate = Math.round(t.sent / SECONDS);
      }
      runs.streams.push(await captureOnce('streams', dir, true, rate));
      runs.decode.push(await captureOnce('decode', dir, true, rate));
    }
    const ref = tcpdump ? runs.tcpdump : null;
    if (ref) process.stdout.write(row('tcpdump -w /dev/null', runs.tcpdump, null));
    process.stdout.write(row('gamesniff streams', runs.streams, ref));
    process.stdout.write(row('gamesniff decode --json', runs.decode, ref));
}

async function tcpCase(dir: string): Promise<void> {

    process.stdout.write(`live capture, TCP: ${SECONDS} s of 64-byte length-prefixed frames (16 a write) on one connection, full rate, decode --json\n`);
    const tcp: Sample[] = [];
    for (let r = 0; r < Math.min(RUNS, 2); r++) tcp.push(await captureOnce('decode', dir, false, 0));
    for (const t of tcp) {
      process.stdout.write(
        `  frames sent ${int(t.sent)}, decoded ${int(t.messages)} (${fmt((t.messages / t.sent) * 100)}%), raw ${int(t.raw)}; ` +
          `kernel drops ${int(t.kernelDrops)}, queue drops ${int(t.queueDrops)} (peak ${fmt(t.queuePeakMb)} MB); caught up ${fmt(t.lagSec)} s after; CPU ${fmt(t.cpuPct)}%\n`,
      );
    }
}
