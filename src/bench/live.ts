import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { have } from './tools';

/**
 * Live capture: a UDP flood on a loopback port for a few seconds, captured by gamesniff and by
 * `tcpdump -i lo`: packets/s captured and packets lost.
 */

const CLI = join(__dirname, '../cli/main.js');
const FLOOD = join(__dirname, 'flood.js');
const fmt = (n: number, d = 1): string => n.toFixed(d);

function floodFor(port: number, seconds: number): Promise<number> {
  return new Promise((resolve) => {
    const f = spawn(process.execPath, [FLOOD, String(port), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    f.stdout.on('data', (d: Buffer) => (out += d.toString()));
    f.on('exit', () => resolve(Number(out.trim()) || 0));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function liveBench(): Promise<void> {
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

