/**
 * The TUI's model with a million messages: how long they take to arrive, the heap they hold,
 * and how long drawing a screenful, paging and filtering take (the list is virtual, so drawing
 * should not depend on the count).
 */
import { RecordingPlayer } from '../recording/player';
import { compileProtocol } from '../protocol/protocol';
import { MessageDecoder } from '../session/messages';
import { SessionModel } from '../tui/model/session';
import { renderDetails, renderMessages, renderStatus } from '../tui/render';
import { MOVE_PROTOCOL, moveMessages } from './decode';
import { floodProtocol } from './live';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Protocol } from '../protocol/protocol';
import type { MessageSink } from '../session/messages';
import { PacketRing } from '../tui/model/packets';
import { FlowTable } from '../flow/table';
import { FlowTee } from '../flow/tee';
import { buildIpPacket } from '../packet/build';
import { LINKTYPE } from '../capture/linktypes';
import { PcapWriter } from '../capture/file-writer';
import { parsePorts } from '../capture/ports';
import { closeInput, openInput } from '../input/open';
import { feed } from '../input/feed';
import { captureStarted, have, measure } from './tools';
import { escapeText } from '../core/terminal';

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

export function tuiBench(count = 1_000_000): string[] {
  const protocol = compileProtocol(MOVE_PROTOCOL, 'benchmove.yaml');
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const model = new SessionModel(protocol);
  const player = new RecordingPlayer(new MessageDecoder(protocol, model));
  const stream = moveMessages(count);
  let t0 = process.hrtime.bigint();
  player.record({ t: 'open', c: 0, p: 'tcp', ts: 1, client: ['127.0.0.1', 40000], server: ['127.0.0.1', 24000] });
  for (let o = 0; o < stream.length; o += 65536) player.record({ t: 'data', c: 0, d: 0, ts: 2 + o, o, b: stream.subarray(o, o + 65536) });
  const ingest = ms(t0);
  global.gc?.();
  const heapMb = (process.memoryUsage().heapUsed - heap0) / 1e6;
  const held = model.retained();
  const draw = (): number => {
    const t = process.hrtime.bigint();
    renderMessages(model, 100, 40);
    renderDetails(model, 70, 40, null);
    return ms(t);
  };
  const tail = draw();
  model.first();
  const head = draw();
  t0 = process.hrtime.bigint();
  for (let i = 0; i < 1000; i++) {
    model.move(39);
    renderMessages(model, 100, 40);
  }
  const page = ms(t0) / 1000;
  t0 = process.hrtime.bigint();
  model.setFilter('move.x > 500 && name ~ "mo"');
  const filter = ms(t0);
  // as the screen runs it: a chunk a tick, the longest step is how long a key may wait
  model.chunk = 100_000;
  model.setFilter('move.x > 100 || name ~ "mo"');
  let worst = 0;
  let steps = 0;
  for (let more = true; more; steps++) {
    t0 = process.hrtime.bigint();
    more = model.work();
    worst = Math.max(worst, ms(t0));
  }
  return [
    `tui model: ${model.messages.length} messages in ${ingest.toFixed(0)} ms (${((model.messages.length / ingest) * 1000 / 1e6).toFixed(2)} M msg/s through framing, decoding and the model), heap ${heapMb.toFixed(0)} MB${global.gc ? '' : ' (approximate: run node with --expose-gc)'} (${(heapMb * 1e6 / model.messages.length).toFixed(0)} B a message; ${held.objects} objects held, the newest whole, older ones made again from the spill file, ${(held.spillBytes / 1e6).toFixed(0)} MB on disk, ${(held.spillBytes / model.messages.length).toFixed(0)} B a message), peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
    `  draw a 40-row screen: ${tail.toFixed(2)} ms at the tail, ${head.toFixed(2)} ms at the head; page down + draw: ${page.toFixed(3)} ms; filter over all: ${filter.toFixed(0)} ms at once; in ${steps} steps of 100,000 (as the screen runs it) the longest ${worst.toFixed(0)} ms, the most a key waits`,
  ];
}

/** Loopback TCP connections carrying the bench's move messages, as raw IPv4 packets (LINKTYPE_RAW), both the sustained feed and the capture file. */
class MoveFlood {
  private readonly pool = moveMessages(100_000);
  /** Per connection: where it is in the pool, and its sequence number. */
  private readonly conns: { at: number; seq: number; port: number }[] = [];
  /** Messages in the pool, for converting a rate in messages into bytes. */
  readonly bytesPerMessage = this.pool.length / 100_000;

  constructor(connections: number, private readonly emit: (pkt: Buffer, ts: number) => void) {
    for (let c = 0; c < connections; c++) this.conns.push({ at: 0, seq: 1000, port: 40000 + c });
  }

  open(ts: number): void {
    for (const c of this.conns) {
      this.emit(tcpPacket(c.port, 24000, c.seq - 1, 0, 0x02, EMPTY), ts);
      this.emit(tcpPacket(24000, c.port, 5000, c.seq, 0x12, EMPTY), ts);
      this.emit(tcpPacket(c.port, 24000, c.seq, 5001, 0x10, EMPTY), ts);
    }
  }

  /** About `bytes` bytes of stream, in packets of up to 1400 B, round robin over the connections. */
  send(bytes: number, ts: number): void {
    for (let sent = 0, k = 0; sent < bytes; k++) {
      const c = this.conns[k % this.conns.length]!;
      const n = Math.min(1400, this.pool.length - c.at);
      this.emit(tcpPacket(c.port, 24000, c.seq, 5001, 0x18, this.pool.subarray(c.at, c.at + n)), ts);
      c.seq = (c.seq + n) >>> 0;
      c.at = (c.at + n) % this.pool.length;
      sent += n;
    }
  }
}

const EMPTY = Buffer.alloc(0);
const LOOPBACK = Buffer.from([127, 0, 0, 1]);

function tcpPacket(sport: number, dport: number, seq: number, ack: number, flags: number, payload: Buffer): Buffer {
  const l4 = Buffer.alloc(20 + payload.length);
  l4.writeUInt16BE(sport, 0);
  l4.writeUInt16BE(dport, 2);
  l4.writeUInt32BE(seq >>> 0, 4);
  l4.writeUInt32BE(ack >>> 0, 8);
  l4[12] = 0x50;
  l4[13] = flags;
  l4.writeUInt16BE(65535, 14);
  payload.copy(l4, 20);
  // no checksum: the flow table does not check them (loopback captures carry none either)
  return buildIpPacket({ src: LOOPBACK, dst: LOOPBACK, proto: 6, l4 });
}

/** The TUI as the terminal runs it, minus the terminal: flow table, packet ring, decoder, model, and a screenful drawn 10 times a second. */
function tuiPipeline(protocol: Protocol, keep?: number) {
  const model = new SessionModel(protocol, keep ? { keepBytes: keep } : {});
  const ring = new PacketRing();
  const table = new FlowTable(new FlowTee([new MessageDecoder(protocol, model)]), { serverPorts: new Set([24000]) });
  let drawn = 0;
  const draw = (): void => {
    renderMessages(model, 120, 40);
    const sel = model.selectedMessage();
    renderDetails(model, 80, 40, sel ? ring.behind(sel) : null);
    renderStatus(model, protocol.name);
    model.work();
    drawn++;
  };
  const push = (pkt: Buffer, ts: number): void => {
    ring.push(LINKTYPE.RAW, pkt, ts);
    table.push(LINKTYPE.RAW, pkt, pkt.length, ts);
  };
  return { model, push, draw, drawn: () => drawn };
}

const rssMb = (): number => process.memoryUsage.rss() / 1e6;

/**
 * Row "TUI, 50k msgs/s for 60 s": the pipeline fed in real time at `rate`, RSS sampled each
 * second. In-process (no terminal: blessed's own strings are not counted), the real stages.
 */
export async function tuiSustainedBench(rate = 50_000, seconds = 60, keep?: number): Promise<string> {
  const protocol = compileProtocol(MOVE_PROTOCOL, 'benchmove.yaml');
  const p = tuiPipeline(protocol, keep);
  const flood = new MoveFlood(8, p.push);
  const rss0 = rssMb();
  const samples: number[] = [];
  const t0 = performance.now();
  flood.open(Date.now() * 1000);
  let sentBytes = 0;
  let lastDraw = 0;
  let lastSample = 0;
  for (;;) {
    const now = performance.now() - t0;
    if (now >= seconds * 1000) break;
    const due = (rate * now / 1000) * flood.bytesPerMessage - sentBytes;
    if (due > 0) {
      flood.send(due, Date.now() * 1000);
      sentBytes += due;
    }
    if (now - lastDraw >= 100) {
      p.draw();
      lastDraw = now;
    }
    if (now - lastSample >= 1000) {
      samples.push(rssMb());
      lastSample = now;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const wall = (performance.now() - t0) / 1000;
  const got = p.model.messages.length;
  const max = Math.max(rss0, ...samples);
  const end = rssMb();
  const keeps = got >= rate * wall * 0.97;
  return `tui, ${rate / 1000}k msgs/s for ${seconds} s (in-process: flow table, packet ring, decoder, model, a screenful drawn ${p.drawn()} times; no terminal): ${got.toLocaleString('en')} messages, ${(got / wall / 1000).toFixed(1)}k/s ${keeps ? 'kept up' : 'FELL BEHIND'}; RSS ${rss0.toFixed(0)} -> max ${max.toFixed(0)} -> end ${end.toFixed(0)} MB${keep ? ` (--keep ${keep})` : ''}: ${max < 400 ? 'under' : 'OVER'} the 400 MB goal (${(max / 400).toFixed(2)}×); RSS each 10 s: ${samples.filter((_, i) => i % 10 === 9).map((x) => x.toFixed(0)).join(' ')}`;
}

/**
 * Row "TUI, 155k msgs/s": the most messages a second the pipeline takes (drawing 10 times a
 * second) from a capture file, against what `gamesniff streams` reads from the same file in
 * the same run (a child process: its wall time, start-up included). At any rate up to it, a
 * capture ring in front of the UI loses nothing.
 */
export async function tuiRateBench(messages = 3_000_000): Promise<string> {
  const file = join(tmpdir(), `gamesniff-bench-tui-${messages}.pcap`);
  const protocol = compileProtocol(MOVE_PROTOCOL, 'benchmove.yaml');
  const writer = new PcapWriter(file, LINKTYPE.RAW);
  let ts = 1_700_000_000_000_000;
  const flood = new MoveFlood(8, (pkt, t) => writer.write(pkt, t));
  flood.open(ts);
  const per = 1000 * flood.bytesPerMessage;
  for (let n = 0; n < messages; n += 1000) flood.send(per, (ts += 5000));
  writer.close();
  const cli = join(__dirname, '..', 'cli', 'main.js');
  const streams: number[] = [];
  const model: number[] = [];
  let count = 0;
  for (let round = 0; round < 3; round++) {
    const s = await measure(process.execPath, [cli, 'streams', '-r', file, '--port', '24000'], { stdoutToNull: true });
    streams.push(messages / s.seconds);
    const input = await openInput(file);
    const p = tuiPipeline(protocol);
    let last = performance.now();
    const tee = new FlowTee([new MessageDecoder(protocol, { ...sinkOf(p.model), message: (m) => {
      p.model.message(m);
      if ((p.model.messages.length & 4095) === 0 && performance.now() - last >= 100) {
        p.draw();
        last = performance.now();
      }
    } })]);
    const t0 = performance.now();
    await feed(input, tee, { serverPorts: parsePorts(['24000']) }).run();
    model.push(p.model.messages.length / ((performance.now() - t0) / 1000));
    count = p.model.messages.length;
    closeInput(input);
  }
  unlinkSync(file);
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[1]!;
  const ratio = med(model) / med(streams);
  return `tui, highest rate with 0 drops (in-process from a capture file, ${count.toLocaleString('en')} messages, drawing 10 times a second; medians of 3): ${(med(model) / 1000).toFixed(0)}k msgs/s vs gamesniff streams on the same file ${(med(streams) / 1000).toFixed(0)}k msgs/s: ${ratio.toFixed(2)}× (goal ≥ 1.00×: ${ratio >= 1 ? 'reached' : 'NOT reached'})`;
}

function sinkOf(model: SessionModel): MessageSink {
  return { message: (m) => model.message(m), open: model.open.bind(model), gap: model.gap.bind(model), end: model.end.bind(model), close: model.close.bind(model) };
}

/**
 * The issue's two TUI rows. The real program live (script(1), capture privilege) when it can run
 * here, else the in-process pipeline. GAMESNIFF_BENCH_TUI_SECONDS (default 60) and
 * GAMESNIFF_BENCH_TUI_RATE (default 50000) set the sustained feed; GAMESNIFF_BENCH_TUI_FLOOD_SECONDS
 * (default 30) the full-rate flood.
 */
export async function tuiRows(): Promise<string[]> {
  const seconds = Number(process.env.GAMESNIFF_BENCH_TUI_SECONDS ?? 60);
  const rate = Number(process.env.GAMESNIFF_BENCH_TUI_RATE ?? 50_000);
  const floodSeconds = Number(process.env.GAMESNIFF_BENCH_TUI_FLOOD_SECONDS ?? 30);
  const out: string[] = [];
  const live = await tuiLiveBench(rate, seconds);
  out.push(live);
  if (/skipped|did not start|ended at once/.test(live)) out.push(await tuiSustainedBench(rate, seconds));
  else {
    const ref = await streamsLiveReference(floodSeconds);
    out.push(`  ${ref.line}`);
    const full = await tuiLiveBench(0, floodSeconds);
    const lost = /lost ([\d,]+)/.exec(full)?.[1];
    out.push(full, `  goal, 0 lost at the rate streams holds: ${lost === undefined ? 'not measured' : lost === '0' ? 'reached' : 'NOT reached'} (streams lost ${(ref.sent - ref.captured).toLocaleString('en')} on its flood)`);
  }
  out.push(await tuiRateBench());
  return out;
}


const TUI_LIVE_PORT = 24996;

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * The real program: `gamesniff --port P -p flood.yaml` in a pseudo-terminal (script(1)), live on
 * loopback, under the UDP flood at `rate` for `seconds`; its RSS sampled each second from /proc,
 * and what it says at exit (messages, packets, dropped by the capture) against what was sent.
 */
export async function tuiLiveBench(rate: number, seconds: number, cli = join(__dirname, '..', 'cli', 'main.js'), extra: string[] = []): Promise<string> {
  if (!have('script') || process.platform !== 'linux') return 'tui live: skipped (needs script(1) and /proc: Linux)';
  const dir = mkdtempSync(join(tmpdir(), 'gamesniff-bench-tui-'));
  const yaml = join(dir, 'flood.yaml');
  writeFileSync(yaml, floodProtocol(TUI_LIVE_PORT));
  const cmd = `stty cols 160 rows 45 2>/dev/null; exec ${process.execPath} ${cli} --port ${TUI_LIVE_PORT} -p ${yaml} ${extra.join(' ')}`;
  const ui = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, TERM: 'xterm-256color' } });
  let out = '';
  ui.stdout.on('data', (d: Buffer) => (out = (out + d.toString('latin1')).slice(-4096)));
  const exited = new Promise<void>((r) => ui.on('exit', () => r()));
  try {
    await sleep(1500);
    if (ui.exitCode !== null) return `tui live: the program ended at once: ${escapeText(out.slice(-300))}`;
    const pid = Number(readFileSync(`/proc/${ui.pid}/task/${ui.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
    await sleep(1500);
    const rss0 = rssOf(pid);
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(rssOf(pid)), 1000);
    const sent = await udpFlood(rate, seconds);
    await sleep(2000);
    clearInterval(sampler);
    const end = rssOf(pid);
    ui.stdin.write('q');
    await Promise.race([exited, sleep(10_000)]);
    const said = /gamesniff: (\d+) messages, (\d+) packets, (\d+) dropped by the capture/.exec(out);
    const max = Math.max(rss0, ...samples.filter(Number.isFinite));
    const got = said ? Number(said[1]) : NaN;
    const lost = sent - got;
    return `tui live (the real program in a pty, UDP flood on loopback at ${rate ? `${(rate / 1000).toFixed(0)}k msgs/s` : `its full rate, ${(sent / seconds / 1000).toFixed(0)}k msgs/s,`} for ${seconds} s${extra.length ? `, ${extra.join(' ')}` : ''}): sent ${sent.toLocaleString('en')}, shown ${said ? got.toLocaleString('en') : '? (no exit line)'}${said ? `, lost ${lost.toLocaleString('en')} (${((lost / Math.max(1, sent)) * 100).toFixed(2)}%), ${said[3]} dropped by the capture` : ''}; RSS ${rss0.toFixed(0)} -> max ${max.toFixed(0)} -> end ${end.toFixed(0)} MB: ${max < 400 ? 'under' : 'OVER'} the 400 MB goal (${(max / 400).toFixed(2)}×); RSS each 10 s: ${samples.filter((_, i) => i % 10 === 9).map((x) => x.toFixed(0)).join(' ')}`;
  } finally {
    if (ui.exitCode === null) ui.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** bench/flood.ts to the TUI's port: `rate` datagrams a second (0: as fast as it can) for `seconds`; resolves with how many it sent. */
function udpFlood(rate: number, seconds: number): Promise<number> {
  return new Promise<number>((resolve) => {
    const f = spawn(process.execPath, [join(__dirname, 'flood.js'), String(TUI_LIVE_PORT), String(seconds), String(rate ? Math.ceil(rate * seconds) : 1e9), String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    f.stdout.on('data', (d: Buffer) => (text += d.toString()));
    f.on('exit', () => resolve(Number(text.trim()) || 0));
  });
}

/** The reference for the TUI under the full flood: `gamesniff streams` live on the same flood, in the same run: sent, captured, lost. */
export async function streamsLiveReference(seconds: number, cli = join(__dirname, '..', 'cli', 'main.js')): Promise<{ sent: number; captured: number; line: string }> {
  const child = spawn(process.execPath, [cli, 'streams', '--port', String(TUI_LIVE_PORT)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const { ready, closed, stderr } = captureStarted(child);
  if (!(await ready)) {
    child.kill('SIGKILL');
    await closed;
    return { sent: 0, captured: NaN, line: `streams live: did not start: ${escapeText(stderr().trim().split('\n').slice(-1)[0] ?? '')}` };
  }
  await sleep(300);
  const sent = await udpFlood(0, seconds);
  await sleep(2000);
  child.kill('SIGINT');
  await closed;
  const captured = Number(/(\d+) UDP/.exec(stderr())?.[1] ?? NaN);
  return { sent, captured, line: `streams live on the same flood: sent ${sent.toLocaleString('en')} (${(sent / seconds / 1000).toFixed(0)}k msgs/s), captured ${captured.toLocaleString('en')}, lost ${(sent - captured).toLocaleString('en')}` };
}
