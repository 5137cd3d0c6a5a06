/**
 * `npm run bench`, section "proxy": what `gamesniff proxy` costs a game's connection, on loopback,
 * against a plain TCP relay in the same run (the floor: a proxy cannot do better than copying).
 *
 * A testgame client and a mock server (both in this process, from the description) exchange
 * `chat` (c2s) and `chat_msg` (s2c) over each path:
 *   direct; a Node `net` pipe relay in a child process (the floor); socat when installed;
 *   `gamesniff proxy` (bytes pass as they come, decoded for display, stdout discarded);
 *   `gamesniff proxy --script` with a no-op onMessage (message-level passing, nothing re-encoded)
 *   and with one upper-casing the chat text (every chat re-encoded).
 * All paths are set up (and warmed up) first, then measured in turn, round after round while
 * another round fits in BUDGET_SEC (load that comes and goes then falls on all paths alike).
 * Figures per path: throughput (200,000 chats sent back to back in bursts, the server counting;
 * first send to the last one counted; the best round) as a ratio of the relay's, and the round
 * trip of 2,000 sequential chat -> chat_msg exchanges a round, p50 and p99, as added to direct's.
 *
 * GAMESNIFF_BENCH_PROXY_PROF=DIR runs the proxy children with `node --cpu-prof` into DIR.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openClient, serve, type Client } from '../client/open';
import type { Peer } from '../client/peer';
import { Conversation } from '../conversation/conversation';
import type { Protocol } from '../protocol/protocol';

const CLI = join(__dirname, '../cli/main.js');
const MESSAGES = 200_000;
const WARMUP_MESSAGES = 20_000;
const EXCHANGES = 2_000;
const WARMUP_EXCHANGES = 200;
/** Messages sent before yielding to the event loop (the server, in this process, reads meanwhile). */
const BATCH = 256;
const TEXT = 'the quick brown fox jumps over the lazy dog #';

/** A plain relay: each connection piped to the server and back, nothing else. */
const RELAY = `
const net = require('node:net');
const target = Number(process.argv[1]);
const server = net.createServer((c) => {
  const up = net.connect(target, '127.0.0.1');
  c.setNoDelay(true);
  up.setNoDelay(true);
  c.pipe(up);
  up.pipe(c);
  const end = () => { c.destroy(); up.destroy(); };
  for (const s of [c, up]) { s.on('error', end); s.on('close', end); }
});
server.listen(0, '127.0.0.1', () => process.stderr.write('relay 127.0.0.1:' + server.address().port + '\\n'));
`;

const fmt = (n: number, d = 1): string => n.toFixed(d);
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const hr = (): bigint => process.hrtime.bigint();

interface Path {
  label: string;
  /** Start what sits between client and server; its port, and how to end it (what it said on the way out). */
  start?: (serverPort: number) => Promise<{ port: number; stop: () => Promise<string> }>;
  /** A check on the last chat the server got (the script's rewrite). */
  check?: (lastText: string) => string;
  /** What to say from the child's last words. */
  summary?: (stderr: string) => string;
}

/** Children still running, ended on every path out (and when this process exits). */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Start a child, wait for its ready line on stderr (`readyPort` picks the port it listens on). */
function startChild(cmd: string, args: string[], readyPort: RegExp | number): Promise<{ port: number; stop: () => Promise<string> }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  // ended: its stderr read to the end ('close'; a little after 'exit' at most: a forked socat may
  // hold the pipe), or it never started
  const exited = new Promise<void>((r) => {
    const done = (): void => {
      children.delete(child);
      r();
    };
    child.once('close', done);
    child.once('exit', () => setTimeout(done, 500).unref());
    child.once('error', done);
  });
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-16384)));
  const stop = async (): Promise<string> => {
    if (child.exitCode === null && child.signalCode === null) {
      // SIGINT first: the proxy stops, says its summary and (with --cpu-prof) writes its profile
      child.kill('SIGINT');
      await Promise.race([exited, sleep(3000)]);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await Promise.race([exited, sleep(2000)]);
      }
    }
    return stderr;
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearInterval(poll);
      clearTimeout(timer);
      void stop().then((said) => reject(new Error(`${cmd}: ${why}${said.trim() ? `: ${said.trim().split('\n').slice(-3).join(' | ')}` : ''}`)));
    };
    child.once('error', (e) => fail(e.message));
    child.once('exit', (code, signal) => fail(`exited (${signal ?? code}) before it was ready`));
    const timer = setTimeout(() => fail('not ready after 15 s'), 15_000);
    const poll = setInterval(() => {
      const port = typeof readyPort === 'number' ? readyPort : Number(readyPort.exec(stderr)?.[1] ?? 0);
      if (port && !settled) {
        settled = true;
        clearInterval(poll);
        clearTimeout(timer);
        resolve({ port, stop });
      }
    }, 10);
  });
}

/** A port nothing listens on now (socat is told where to listen). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** What the server does with each chat: count it (throughput) or answer it with a chat_msg (latency). */
class Counter {
  protocol!: Protocol;
  replying = false;
  count = 0;
  lastText = '';
  private target = 0;
  private reached: ((at: bigint) => void) | null = null;

  readonly onPeer = (peer: Peer): void => {
    peer.on('chat', (m) => {
      const text = String(m.fields?.text ?? '');
      if (this.replying) {
        peer.send('chat_msg', { from: 1, name: 'bench', text });
        return;
      }
      this.lastText = text;
      if (++this.count === this.target) this.reached?.(hr());
    });
  };

  /** Resolves with the time the `n`th chat from now was counted. */
  expect(n: number): Promise<bigint> {
    this.count = 0;
    this.target = n;
    return new Promise((r) => (this.reached = r));
  }
}

async function exchanges(client: Client, n: number): Promise<number[]> {
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = hr();
    client.send('chat', { text: `ping ${i}` });
    await client.next('chat_msg', 5000);
    t.push(Number(hr() - t0) / 1e3);
  }
  return t;
}

/** Chats encoded ahead, in bursts of BATCH (the load is then what the path carries, not this process's encoder). */
interface Burst {
  bytes: Buffer;
  count: number;
}

function encodeBursts(protocol: Protocol, n: number): Burst[] {
  const conv = new Conversation<null>(protocol, 'tcp', () => undefined, { flow: null });
  const out: Burst[] = [];
  for (let i = 0; i < n; ) {
    const parts: Buffer[] = [];
    for (const end = Math.min(n, i + BATCH); i < end; i++) parts.push(conv.send('c2s', 'chat', { text: TEXT + i }));
    out.push({ bytes: Buffer.concat(parts), count: parts.length });
  }
  return out;
}

/** The bursts back to back; seconds from the first write to the last chat counted at the server. */
async function pipelined(client: Client, counter: Counter, bursts: Burst[]): Promise<number> {
  const n = bursts.reduce((a, b) => a + b.count, 0);
  const done = counter.expect(n);
  const t0 = hr();
  for (const b of bursts) {
    client.sendBytes(b.bytes);
    // the server, in this process, reads meanwhile
    if (client.socket.writableLength > 1 << 20) await new Promise((r) => client.socket.once('drain', r));
    else await new Promise((r) => setImmediate(r));
    if (client.closed) throw new Error(`the connection closed while sending`);
  }
  const limit = 30_000;
  let timer: NodeJS.Timeout | undefined;
  const at = await Promise.race([done, new Promise<null>((r) => (timer = setTimeout(() => r(null), limit)))]);
  clearTimeout(timer);
  if (at === null) throw new Error(`the server counted ${int(counter.count)} of ${int(n)} chats in ${limit / 1000} s`);
  return Number(at - t0) / 1e9;
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** The proxy's closing line, cut to what it passed. */
function proxySummary(stderr: string): string {
  const m = /(\d+) messages passed \((\d+) modified, (\d+) dropped, (\d+) injected\), (\d+) script errors/.exec(stderr);
  if (!m) return `no summary from the proxy (${stderr.trim().split('\n').slice(-1)[0] ?? ''})`;
  const [, passed, modified, , , errors] = m.map(Number) as number[];
  return `${int(passed!)} messages passed at message level, ${int(modified!)} re-encoded, ${errors} script errors`;
}

/** A path set up: what sits in the middle, its client, and what was measured on it. */
interface Live {
  path: Path;
  mid: { port: number; stop: () => Promise<string> } | null;
  client: Client | null;
  rtt: number[];
  rates: number[];
  failed: string;
  said: string;
}

/** Start the middle, connect, warm up (the JIT, the sockets); a failure is kept, not thrown. */
async function setUp(path: Path, serverPort: number, counter: Counter, warmup: Burst[]): Promise<Live> {
  const live: Live = { path, mid: null, client: null, rtt: [], rates: [], failed: '', said: '' };
  try {
    live.mid = path.start ? await path.start(serverPort) : null;
    live.client = await openClient(counter.protocol, { port: live.mid?.port ?? serverPort, udpPort: 0, connectWaitMs: 10_000 });
    counter.replying = true;
    await exchanges(live.client, WARMUP_EXCHANGES);
    counter.replying = false;
    await pipelined(live.client, counter, warmup);
  } catch (e) {
    live.failed = (e as Error).message;
  } finally {
    counter.replying = false;
  }
  return live;
}

async function round(live: Live, counter: Counter, bursts: Burst[]): Promise<void> {
  if (live.failed || !live.client) return;
  try {
    counter.replying = true;
    live.rtt.push(...(await exchanges(live.client, EXCHANGES)));
    counter.replying = false;
    live.rates.push(MESSAGES / (await pipelined(live.client, counter, bursts)));
    const bad = live.path.check?.(counter.lastText);
    if (bad) live.failed = bad;
  } catch (e) {
    live.failed = (e as Error).message;
  } finally {
    counter.replying = false;
  }
}

async function tearDown(live: Live): Promise<void> {
  try {
    if (live.client) await Promise.race([live.client.close(), sleep(2000)]);
  } finally {
    if (live.mid) live.said = await live.mid.stop();
  }
}

/** Rounds go on while another one fits in this (the first always runs). */
const BUDGET_SEC = 50;
const MAX_ROUNDS = 3;

export async function proxyBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gamesniff-bench-proxy-'));
  const noop = join(dir, 'noop.js');
  const upper = join(dir, 'upper.js');
  writeFileSync(noop, 'module.exports = { onMessage() {} };\n');
  writeFileSync(upper, "module.exports = { onMessage(m) { if (m.name === 'chat') m.fields.text = m.fields.text.toUpperCase(); } };\n");
  const prof = process.env.GAMESNIFF_BENCH_PROXY_PROF;
  const nodeArgs = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
  const proxy = (script: string | null) => (serverPort: number) =>
    startChild(
      process.execPath,
      [...nodeArgs, CLI, 'proxy', '--listen', '127.0.0.1:0', '--target', `127.0.0.1:${serverPort}`, '-p', 'testgame', '--no-udp', ...(script ? ['--script', script] : [])],
      /^proxy 127\.0\.0\.1:(\d+)/m,
    );
  const socat = have('socat');
  const paths: Path[] = [
    { label: 'direct' },
    { label: 'node net relay (floor)', start: (s) => startChild(process.execPath, ['-e', RELAY, String(s)], /^relay 127\.0\.0\.1:(\d+)/m) },
    ...(socat
      ? [
          {
            label: 'socat',
            start: async (s: number) => {
              const port = await freePort();
              // nodelay like every other path here (the client, the server, the relay and the proxy set it)
              return startChild('socat', [`TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr,nodelay`, `TCP:127.0.0.1:${s},nodelay`], port);
            },
          },
        ]
      : []),
    { label: 'gamesniff proxy', start: proxy(null), summary: proxySummary },
    { label: 'gamesniff proxy --script no-op', start: proxy(noop), summary: proxySummary },
    {
      label: 'gamesniff proxy --script upper-case',
      start: proxy(upper),
      summary: proxySummary,
      check: (t) => (t === t.toUpperCase() ? '' : `the server got "${t}": the script did not rewrite it`),
    },
  ];

  process.stdout.write(
    `\nproxy: loopback, testgame chat, ${Buffer.byteLength(TEXT) + 6}-${Buffer.byteLength(TEXT) + 11} B frames; each round, on each path in turn: ` +
      `${int(EXCHANGES)} sequential chat -> chat_msg round trips, then ${int(MESSAGES)} chats back to back (encoded ahead, written in bursts of ${BATCH}) that the server counts\n`,
  );
  if (!socat) process.stdout.write('  socat: not installed (apt-get install socat) - the node relay is the only floor\n');
  const t0 = Date.now();
  const counter = new Counter();
  const server = await serve('testgame', { port: 0, udpPort: 0 }, counter.onPeer);
  counter.protocol = server.protocol;
  const lives: Live[] = [];
  let rounds = 0;
  // interrupted: the children go too (a signal to this process alone would leave them running)
  const onSignal = (sig: NodeJS.Signals): void => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const bursts = encodeBursts(server.protocol, MESSAGES);
    const warmup = bursts.slice(0, Math.ceil(WARMUP_MESSAGES / BATCH));
    for (const path of paths) lives.push(await setUp(path, server.port, counter, warmup));
    while (rounds < MAX_ROUNDS) {
      const r0 = Date.now();
      for (const live of lives) await round(live, counter, bursts);
      rounds++;
      const took = Date.now() - r0;
      if (Date.now() - t0 + took > BUDGET_SEC * 1000) break;
    }
  } finally {
    for (const live of lives) await tearDown(live).catch((e: unknown) => (live.failed ||= String(e)));
    await server.close();
    for (const c of children) c.kill('SIGKILL');
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rmSync(dir, { recursive: true, force: true });
  }
  const fig = (label: string): Live | undefined => lives.find((l) => l.path.label === label && l.rates.length && !l.failed);
  const direct = fig('direct');
  const relay = fig('node net relay (floor)');
  const soc = fig('socat');
  const best = (l: Live): number => Math.max(...l.rates);
  for (const l of lives) {
    let line = `  ${(l.path.label + ':').padEnd(36)}`;
    if (l.rates.length) {
      const rtt = [...l.rtt].sort((a, b) => a - b);
      const p50 = pct(rtt, 50);
      const p99 = pct(rtt, 99);
      line += ` ${fmt(best(l) / 1e3, 0).padStart(4)} k msg/s`;
      if (l.rates.length > 1) line += ` (${fmt(Math.min(...l.rates) / 1e3, 0)}-${fmt(best(l) / 1e3, 0)})`;
      if (relay && l !== relay) line += ` = ${fmt(best(l) / best(relay), 2)}x the relay`;
      if (soc && l !== relay && l !== soc) line += ` (${fmt(best(l) / best(soc), 2)}x socat)`;
      line += `; RTT p50 ${fmt(p50, 0)} us, p99 ${fmt(p99, 0)} us`;
      if (direct && l !== direct) {
        const d = [...direct.rtt].sort((a, b) => a - b);
        const sign = (x: number): string => (x >= 0 ? `+${fmt(x, 0)}` : fmt(x, 0));
        line += ` (${sign(p50 - pct(d, 50))} / ${sign(p99 - pct(d, 99))} us over direct)`;
      }
    }
    if (l.failed) line += `${l.rates.length ? ';' : ''} failed: ${l.failed}`;
    process.stdout.write(`${line}\n`);
    if (l.said && l.path.summary) process.stdout.write(`    (${l.path.summary(l.said)})\n`);
  }
  process.stdout.write(
    `  (throughput: the best of ${rounds} round${rounds === 1 ? '' : 's'}; RTT: ${int(rounds * EXCHANGES)} round trips a path; ${fmt((Date.now() - t0) / 1000)} s` +
      `${prof ? `; CPU profiles of the proxy children in ${prof}` : ''})\n`,
  );
}
