import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureDecodeBench, decodeBench, printDecodeFigures } from './decode';
import { generateCapture } from './generate';
import { tuiBench } from './tui';

/**
 * `npm run bench`: figures, not pass/fail.
 * 1. Reassembly of a deterministic >= 200 MB capture of game-like loopback
 *    traffic (`gamesniff streams`): MB/s, packets/s, peak RSS; the same for
 *    tcpflow when it is installed, with the ratio.
 * 2. Decode: 1,000,000 small messages by the compiled decoder, binary-parser and a DataView loop;
 *    then reassembly + framing + decoding of the capture of (1), in-process.
 * 2b. The TUI model with 1,000,000 messages: ingest rate, heap, draw/page/filter times.
 * 3. Live capture: a UDP flood on a loopback port for a few seconds, captured
 *    by gamesniff and by `tcpdump -i lo`: packets/s captured and packets lost.
 */

const CLI = join(__dirname, '../cli/main.js');
const FLOOD = join(__dirname, 'flood.js');
const GENERATOR_VERSION = 1;

interface Run {
  seconds: number;
  peakRssMb: number;
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Peak RSS comes from /proc/PID/status VmHWM, read until the process exits. */
function measure(cmd: string, args: string[], opts: { stdoutToNull?: boolean } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', opts.stdoutToNull ? 'ignore' : 'pipe', 'pipe'] });
    let peak = 0;
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]));
      } catch {
        // exited
      }
    }, 20);
    child.on('exit', (code) => {
      clearInterval(poll);
      resolve({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, peakRssMb: peak / 1024, stdout, stderr, code });
    });
  });
}

function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

const fmt = (n: number, d = 1): string => n.toFixed(d);

function capture(name: string, opts: Parameters<typeof generateCapture>[1]): string {
  const file = join(tmpdir(), `gamesniff-bench-v${GENERATOR_VERSION}-${name}.pcap`);
  if (!existsSync(file)) {
    process.stdout.write(`generating ${file} ...\n`);
    const g = generateCapture(file, opts);
    process.stdout.write(`  ${g.packets} packets, ${g.connections} connections, ${fmt(g.payloadBytes / 1e6)} MB of payload\n`);
  }
  return file;
}

async function offline(): Promise<void> {
  // the benchmark capture: 400 game sessions and 100,000 short connections
  const mixed = capture('mixed', { sessionBytes: 200 << 20, sessions: 400, shortConnections: 100_000, seed: 1 });
  await reassembly(mixed);
  // bulk only: 400 sessions, large loopback segments (per-byte cost rather than per-connection)
  await reassembly(capture('bulk', { sessionBytes: 200 << 20, sessions: 400, shortConnections: 0, seed: 5 }));
}

async function reassembly(file: string): Promise<void> {
  const size = statSync(file).size;
  const small = join(mkdtempSync(join(tmpdir(), 'gamesniff-bench-')), 'small.pcap');
  generateCapture(small, { sessionBytes: 4 << 20, sessions: 8, shortConnections: 1000, seed: 2 });

  process.stdout.write(`\nreassembly: ${file} (${fmt(size / 1e6)} MB)\n`);
  const base = await measure(process.execPath, [CLI, 'streams', '-r', small, '--json'], { stdoutToNull: true });
  const gs = await measure(process.execPath, [CLI, 'streams', '-r', file, '--json'], { stdoutToNull: true });
  const packets = Number(/^(\d+) packets/m.exec(gs.stderr)?.[1] ?? 0);
  const connections = Number(/(\d+) TCP connections/.exec(gs.stderr)?.[1] ?? 0);
  if (gs.code !== 0) process.stdout.write(`  gamesniff failed: ${gs.stderr}\n`);
  const gsMbs = size / 1e6 / gs.seconds;
  process.stdout.write(
    `  gamesniff streams: ${fmt(gs.seconds, 2)} s, ${fmt(gsMbs)} MB/s, ${fmt(packets / gs.seconds / 1e3)} k packets/s, ` +
      `${connections} connections, peak RSS ${fmt(gs.peakRssMb)} MB (${fmt(base.peakRssMb)} MB on a ${fmt(statSync(small).size / 1e6)} MB capture)\n`,
  );
  const probe = spawnSync(process.execPath, ['--expose-gc', join(__dirname, 'heap-probe.js'), file], { encoding: 'utf8' });
  const heap = JSON.parse(probe.stdout || '{}') as { maxHeapMb?: number; maxOpen?: number };
  process.stdout.write(
    `  live heap after GC, at most ${fmt(heap.maxHeapMb ?? NaN)} MB over the whole capture; at most ${heap.maxOpen} connections open at once\n`,
  );
  if (have('tcpflow')) {
    const out = mkdtempSync(join(tmpdir(), 'tcpflow-'));
    const tf = await measure('tcpflow', ['-r', file, '-o', out], { stdoutToNull: true });
    rmSync(out, { recursive: true, force: true });
    const tfMbs = size / 1e6 / tf.seconds;
    process.stdout.write(
      `  tcpflow:           ${fmt(tf.seconds, 2)} s, ${fmt(tfMbs)} MB/s, ${fmt(packets / tf.seconds / 1e3)} k packets/s, peak RSS ${fmt(tf.peakRssMb)} MB\n` +
        `  gamesniff / tcpflow speed: ${fmt(gsMbs / tfMbs, 2)}x\n`,
    );
  } else {
    process.stdout.write('  tcpflow: not installed (apt-get install tcpflow) - no comparison\n');
  }
}

function floodFor(port: number, seconds: number): Promise<number> {
  return new Promise((resolve) => {
    const f = spawn(process.execPath, [FLOOD, String(port), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    f.stdout.on('data', (d: Buffer) => (out += d.toString()));
    f.on('exit', () => resolve(Number(out.trim()) || 0));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function live(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stdout.write('\nlive capture: skipped (needs root or capture capabilities)\n');
    return;
  }
  const seconds = 3;
  const port = 24999;
  process.stdout.write(`\nlive capture: ${seconds} s UDP flood of 64-byte datagrams on 127.0.0.1:${port}\n`);

  const gs = spawn(process.execPath, [CLI, 'streams', '--port', String(port), '--duration', String(seconds + 3), '--json'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let gsErr = '';
  gs.stderr.on('data', (d: Buffer) => (gsErr += d.toString()));
  await sleep(1500);
  const sentG = await floodFor(port, seconds);
  await new Promise((r) => gs.on('exit', r));
  const capturedG = Number(/(\d+) UDP/.exec(gsErr)?.[1] ?? 0);
  const droppedG = Number(/dropped (\d+)/.exec(gsErr)?.[1] ?? NaN);
  process.stdout.write(
    `  gamesniff: sent ${sentG} (${fmt(sentG / seconds / 1e3)} k/s), captured ${capturedG}, lost ${sentG - capturedG}, kernel drops ${droppedG}\n`,
  );

  if (!have('tcpdump')) {
    process.stdout.write('  tcpdump: not installed (apt-get install tcpdump) - no comparison\n');
    return;
  }
  const td = spawn('tcpdump', ['-i', 'lo', '-w', '/dev/null', `udp port ${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let tdErr = '';
  td.stderr.on('data', (d: Buffer) => (tdErr += d.toString()));
  await sleep(1500);
  const sentT = await floodFor(port, seconds);
  await sleep(500);
  td.kill('SIGINT');
  await new Promise((r) => td.on('exit', r));
  const capturedT = Number(/(\d+) packets? captured/.exec(tdErr)?.[1] ?? 0);
  const droppedT = Number(/(\d+) packets? dropped by kernel/.exec(tdErr)?.[1] ?? NaN);
  process.stdout.write(
    `  tcpdump:   sent ${sentT} (${fmt(sentT / seconds / 1e3)} k/s), captured ${capturedT}, lost ${sentT - capturedT}, kernel drops ${droppedT}\n`,
  );
}

async function bench(): Promise<void> {
  await offline();
  printDecodeFigures(decodeBench());
  for (const line of tuiBench()) console.log(line);
  await captureDecodeBench(capture('mixed', { sessionBytes: 200 << 20, sessions: 400, shortConnections: 100_000, seed: 1 }));
  await live();
}

void bench();
