/**
 * `npm run bench`, section "replay": `gamesniff replay --fast --as client` against the test game's
 * own client, sending the same session to the same server, on loopback, in the same run.
 *
 * The session: the test game client (`gamesniff testbed client`, name and seed fixed) playing
 * ROUNDS rounds over TCP (no UDP: the client does not wait for UDP replies, replay would), about
 * 111,000 messages both ways. It is recorded once (kept under tmpdir) by a tap relay in this
 * process that writes what it passes as a .gsrec (the bytes are the truth of a recording; no
 * capture privilege needed). Each measurement starts a fresh `gamesniff testbed server` (seed 1,
 * so player ids and replies are those recorded), then runs, as a child process measured for wall
 * time and peak RSS, either the client (the reference) or the replay of the recording. Rounds
 * alternate client, replay; the median of each is printed, with replay/client ratios.
 *
 * GAMESNIFF_BENCH_REPLAY_ROUNDS=N game rounds (default 31,120); GAMESNIFF_BENCH_REPLAY_PROF=DIR runs
 * the replay children with `node --cpu-prof` into DIR.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, renameSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProtocol } from '../protocol/protocol';
import { RecordingWriter } from '../recording/writer';
import { runGameClient } from '../testbed/game-client';
import { GameServer } from '../testbed/game-server';
import { measure, type Run } from './tools';

const ROOT = join(__dirname, '../..');
const CLI = join(ROOT, 'dist/cli/main.js');
const ROUNDS = Number(process.env.GAMESNIFF_BENCH_REPLAY_ROUNDS) || 31_120;
const NAME = 'bench';
const SEED = 7;
const REPEATS = 3;
const LIMIT_SEC = 300;
const RECORDING_VERSION = 1;

const fmt = (n: number, d = 1): string => n.toFixed(d);
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The client's session, recorded by a relay between it and an in-process server; reused between runs. */
async function recording(): Promise<string> {
  const file = join(tmpdir(), `gamesniff-bench-replay-v${RECORDING_VERSION}-${ROUNDS}.gsrec`);
  if (existsSync(file)) return file;
  process.stdout.write(`  recording ${file} ...\n`);
  const tg = loadProtocol('testgame', ROOT);
  const server = new GameServer(tg, { port: 0, udpPort: 0, seed: 1 });
  await server.start();
  const tmp = `${file}.${process.pid}.tmp`;
  const writer = new RecordingWriter(tmp, { source: { kind: 'live', name: 'bench tap relay', ports: [server.port] } });
  const us = (): number => Math.round(performance.timeOrigin * 1000 + performance.now() * 1000);
  let nextConn = 0;
  const relay = net.createServer({ allowHalfOpen: true }, (down) => {
    const c = nextConn++;
    const up = net.connect({ port: server.port, host: '127.0.0.1', allowHalfOpen: true });
    down.setNoDelay(true);
    up.setNoDelay(true);
    writer.write({ t: 'open', c, p: 'tcp', ts: us(), client: [down.remoteAddress ?? '127.0.0.1', down.remotePort ?? 0], server: ['127.0.0.1', server.port] });
    const offset = [0, 0];
    const pass = (from: net.Socket, to: net.Socket, d: 0 | 1): void => {
      from.on('data', (b: Buffer) => {
        writer.write({ t: 'data', c, d, ts: us(), o: offset[d]!, b });
        offset[d]! += b.length;
        to.write(b);
      });
      from.on('end', () => {
        writer.write({ t: 'end', c, d, ts: us(), why: 'fin' });
        to.end();
      });
      from.on('error', () => to.destroy());
    };
    pass(down, up, 0);
    pass(up, down, 1);
    let closed = 0;
    const close = (): void => {
      if (++closed === 2) writer.write({ t: 'close', c, ts: us(), state: 'closed' });
    };
    down.on('close', close);
    up.on('close', close);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
  const port = (relay.address() as net.AddressInfo).port;
  const result = await runGameClient(tg, { port, udpPort: 0, name: NAME, seed: SEED, rounds: ROUNDS });
  await new Promise((r) => setTimeout(r, 200));
  writer.finish(us(), { messages: result.sent + result.received });
  writer.close();
  relay.close();
  await server.stop();
  renameSync(tmp, file);
  process.stdout.write(`  ${int(result.sent + result.received)} messages (${int(result.sent)} sent by the client)\n`);
  return file;
}

/** A fresh test game server in a child process (seed 1); its port, and how to stop it. */
function startServer(): Promise<{ port: number; stop: () => Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'testbed', 'server', '--port', '0', '--udp-port', '0', '--seed', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => void stop().then(() => reject(new Error(`testbed server not ready after 15 s: ${err}`))), 15_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const port = Number(/server on [^:]+:(\d+) tcp/.exec(err)?.[1] ?? 0);
      if (port) {
        clearTimeout(timer);
        resolve({ port, stop });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`testbed server exited (${code}): ${err}`));
    });
  });
}

interface Sample {
  run: Run;
  messages: number;
  /** What went wrong, or what the run said of itself (divergences). */
  note: string;
}

async function clientRun(): Promise<Sample> {
  const srv = await startServer();
  try {
    const run = await measure(process.execPath, [CLI, 'testbed', 'client', '--port', String(srv.port), '--udp-port', '0', '--rounds', String(ROUNDS), '--name', NAME, '--seed', String(SEED)], { limitSec: LIMIT_SEC });
    const m = /(\d+) messages sent, (\d+) received/.exec(run.stderr);
    const messages = m ? Number(m[1]) + Number(m[2]) : 0;
    return { run, messages, note: run.code === 0 && m ? '' : `client failed (exit ${run.code}): ${run.stderr.trim().split('\n').slice(-2).join(' | ')}` };
  } finally {
    await srv.stop();
  }
}

async function replayRun(file: string, round: number): Promise<Sample> {
  const srv = await startServer();
  const prof = process.env.GAMESNIFF_BENCH_REPLAY_PROF;
  const node = prof ? ['--cpu-prof', '--cpu-prof-dir', prof, '--cpu-prof-name', `replay-${round}.cpuprofile`] : [];
  try {
    const run = await measure(process.execPath, [...node, CLI, 'replay', file, '-p', 'testgame', '--as', 'client', '--target', `127.0.0.1:${srv.port}`, '--fast', '--json'], { limitSec: LIMIT_SEC });
    let messages = 0;
    let note = '';
    try {
      const r = JSON.parse(run.stdout) as { sent: number; received: number; divergences: unknown[]; error?: string };
      messages = r.sent + r.received;
      if (r.error) note = `replay error: ${r.error}`;
      else if (r.divergences.length) note = `${int(r.divergences.length)} divergences`;
    } catch {
      note = `replay failed (exit ${run.code}): ${run.stderr.trim().split('\n').slice(-2).join(' | ')}`;
    }
    return { run, messages, note };
  } finally {
    await srv.stop();
  }
}

export async function replayBench(): Promise<void> {
  process.stdout.write(`\nreplay: gamesniff replay --fast against the test game's own client, ${int(ROUNDS)} rounds over TCP, fresh server each run\n`);
  const file = await recording();
  const client: Sample[] = [];
  const replay: Sample[] = [];
  for (let i = 0; i < REPEATS; i++) {
    client.push(await clientRun());
    replay.push(await replayRun(file, i));
  }
  const line = (label: string, xs: Sample[]): { rate: number; rss: number } => {
    const rates = xs.map((x) => x.messages / x.run.seconds);
    const rate = median(rates);
    const rss = median(xs.map((x) => x.run.peakRssMb));
    const notes = [...new Set(xs.map((x) => x.note).filter(Boolean))];
    process.stdout.write(
      `  ${label}: ${int(median(xs.map((x) => x.messages)))} messages, ${int(rate)} msgs/s (runs ${rates.map((r) => int(r)).join(', ')}), ` +
        `peak RSS ${fmt(rss, 0)} MB, CPU ${fmt(median(xs.map((x) => x.run.cpuSeconds)), 2)} s${notes.length ? ` [${notes.join('; ')}]` : ''}\n`,
    );
    return { rate, rss };
  };
  const c = line('test game client      ', client);
  const r = line('gamesniff replay --fast', replay);
  // each replay against the client run just before it (the load of a shared machine comes and goes), and CPU, which load moves less
  const paired = median(replay.map((x, i) => x.messages / x.run.seconds / (client[i]!.messages / client[i]!.run.seconds)));
  const cpu = median(client.map((x) => x.run.cpuSeconds)) / median(replay.map((x) => x.run.cpuSeconds));
  process.stdout.write(
    `  replay / client: speed ${fmt(r.rate / c.rate, 2)}x (median of pairs ${fmt(paired, 2)}x; goal >= 1.0), CPU per message ${fmt(1 / cpu, 2)}x the client's, ` +
      `RSS ${fmt(r.rss / c.rss, 2)}x (${fmt(r.rss, 0)} MB, goal < 120 MB)\n`,
  );
}
