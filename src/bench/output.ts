/**
 * The cost of `decode --json`'s output (issue 18): the same capture decoded by three child
 * processes, interleaved, medians of GAMESNIFF_BENCH_RUNS runs (default 3):
 *   - `decode --json`, its stdout read through a pipe and counted (writing is part of the cost);
 *   - `decode --quiet --stats`, which decodes the same messages and prints none (decode alone);
 *   - tshark with the Lua dissector `gamesniff export-dissector` makes from the same description,
 *     its decoded fields as JSON (`-T ek -e ...`), on the first PREFIX_PACKETS packets (it is
 *     ~10× slower), gamesniff timed on that prefix too so that the ratio compares the same bytes.
 * Output cost = (json − quiet) / quiet (goal ≤ 1); gamesniff / tshark in messages a second (goal ≥ 20),
 * as timed on the prefix, and without each tool's start-up (its time on a capture with no packet,
 * measured in the same runs): on a prefix of seconds, loading the program weighs on both.
 */
import { closeSync, existsSync, openSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CAPTURE_PROTOCOL } from './decode';
import { have, measure, type Run } from './tools';

const CLI = join(__dirname, '../cli/main.js');
const PREFIX_PACKETS = 20_000;
const fmt = (n: number, d = 1): string => n.toFixed(d);
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Newlines and bytes of a child's stdout, nothing kept. */
function counter(): { lines: number; bytes: number; feed: (d: Buffer) => void } {
  const c = {
    lines: 0,
    bytes: 0,
    feed: (d: Buffer): void => {
      c.bytes += d.length;
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) c.lines++;
    },
  };
  return c;
}

/** tshark -T ek with -e fields: messages are the entries of each packet's `<proto>_name` list. */
function ekCounter(proto: string): { messages: number; feed: (d: Buffer) => void } {
  const key = Buffer.from(`"${proto}_name":[`);
  let tail = Buffer.alloc(0);
  const c = {
    messages: 0,
    feed: (d: Buffer): void => {
      const b = tail.length ? Buffer.concat([tail, d]) : d;
      let at = 0;
      for (let i = b.indexOf(key); i >= 0; i = b.indexOf(key, at)) {
        const end = b.indexOf(0x5d, i + key.length); // ']': names hold no brackets
        if (end < 0) break;
        // one entry, plus one per comma between the quoted names
        c.messages += 1;
        for (let j = b.indexOf(0x2c, i + key.length); j >= 0 && j < end; j = b.indexOf(0x2c, j + 1)) c.messages++;
        at = end + 1;
      }
      tail = Buffer.from(b.subarray(Math.max(at, b.length - 65536)));
    },
  };
  return c;
}

/** The first `packets` packets of a classic pcap file, written once next to it. */
function pcapPrefix(file: string, packets: number): string | null {
  const out = join(tmpdir(), `${file.replace(/^.*\//, '').replace(/\.pcap$/, '')}-first-${packets}.pcap`);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(file).mtimeMs) return out;
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(24);
    readSync(fd, head, 0, 24, 0);
    const magic = head.readUInt32LE(0);
    const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
    if (!le && head.readUInt32BE(0) !== 0xa1b2c3d4 && head.readUInt32BE(0) !== 0xa1b23c4d) return null;
    let pos = 24;
    const rec = Buffer.alloc(16);
    for (let n = 0; n < packets; n++) {
      if (readSync(fd, rec, 0, 16, pos) < 16) break;
      pos += 16 + (le ? rec.readUInt32LE(8) : rec.readUInt32BE(8));
    }
    const bytes = Buffer.alloc(pos);
    readSync(fd, bytes, 0, pos, 0);
    writeFileSync(`${out}.${process.pid}.tmp`, bytes);
    renameSync(`${out}.${process.pid}.tmp`, out);
    return out;
  } finally {
    closeSync(fd);
  }
}

/** decode exits 1 when a message did not decode (the generator's cut-off stream ends): still a whole run. */
function whole(r: Run): boolean {
  return !r.killed && r.signal === null && (r.code === 0 || (r.code === 1 && /did not decode/.test(r.stderr)));
}

interface Rate {
  seconds: number;
  cpu: number;
  messages: number;
  bytes: number;
}

async function gamesniff(protocol: string, capture: string, mode: 'json' | 'quiet'): Promise<Rate> {
  const c = counter();
  const args = [CLI, 'decode', '-p', protocol, '-r', capture, ...(mode === 'json' ? ['--json'] : ['--quiet', '--stats'])];
  const r = await measure(process.execPath, args, { onStdout: c.feed });
  if (!whole(r)) throw new Error(`decode --${mode} failed (${r.code ?? r.signal}): ${r.stderr.slice(-400)}`);
  // quiet prints no message: its count is the coverage report's
  const messages = mode === 'json' ? c.lines : Number(/coverage: (\d+) messages/.exec(r.stderr)?.[1] ?? NaN);
  return { seconds: r.seconds, cpu: r.cpuSeconds, messages, bytes: c.bytes };
}

async function tshark(lua: string, fields: string[], capture: string, proto: string): Promise<Rate> {
  const c = ekCounter(proto);
  const args = ['-X', `lua_script:${lua}`, '-r', capture, '-T', 'ek', ...fields.flatMap((f) => ['-e', f])];
  const r = await measure('tshark', args, { onStdout: c.feed });
  if (r.code !== 0) throw new Error(`tshark failed (${r.code ?? r.signal}): ${r.stderr.slice(-400)}`);
  return { seconds: r.seconds, cpu: r.cpuSeconds, messages: c.messages, bytes: 0 };
}

function med(rs: Rate[]): Rate {
  return { seconds: median(rs.map((r) => r.seconds)), cpu: median(rs.map((r) => r.cpu)), messages: rs[0].messages, bytes: rs[0].bytes };
}

export async function outputBench(capture: string): Promise<void> {
  const runs = Number(process.env.GAMESNIFF_BENCH_RUNS) || 3;
  const dir = join(tmpdir(), `gamesniff-bench-output-${process.pid}`);
  const { mkdirSync, rmSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  try {
    // the capture's server port is 24000: with it in the description, tshark's dissector and
    // gamesniff's flow table both know the server side without further options
    const protocol = join(dir, 'benchcapture.yaml');
    writeFileSync(protocol, CAPTURE_PROTOCOL.replace('tcp:\n', 'tcp:\n  ports: [24000]\n'));
    const size = statSync(capture).size;
    process.stdout.write(`\ndecode --json output cost: ${capture} (${fmt(size / 1e6, 0)} MB), medians of ${runs} interleaved runs\n`);
    const json: Rate[] = [];
    const quiet: Rate[] = [];
    for (let i = 0; i < runs; i++) {
      json.push(await gamesniff(protocol, capture, 'json'));
      quiet.push(await gamesniff(protocol, capture, 'quiet'));
    }
    const j = med(json);
    const q = med(quiet);
    if (j.messages !== q.messages) process.stdout.write(`  (json printed ${int(j.messages)} lines, quiet counted ${int(q.messages)} messages)\n`);
    const row = (name: string, r: Rate, extra: string): void => {
      process.stdout.write(`  ${name.padEnd(34)} ${fmt(r.seconds, 2).padStart(6)} s  ${fmt(r.cpu, 1).padStart(5)} CPU s  ${int(r.messages / r.seconds).padStart(9)} msgs/s  ${extra}\n`);
    };
    row('gamesniff decode --quiet --stats', q, `${int(q.messages)} messages`);
    row('gamesniff decode --json (piped)', j, `${fmt(j.bytes / 1e6, 0)} MB of JSON lines`);
    const cost = (j.seconds - q.seconds) / q.seconds;
    const cpuCost = (j.cpu - q.cpu) / q.cpu;
    process.stdout.write(`  output cost (json − quiet) / quiet: ${fmt(cost, 2)}× wall, ${fmt(cpuCost, 2)}× CPU (goal ≤ 1)\n`);

    if (!have('tshark')) {
      process.stdout.write('  tshark: not installed, no comparison\n');
      return;
    }
    const prefix = pcapPrefix(capture, PREFIX_PACKETS);
    if (!prefix) {
      process.stdout.write('  tshark: the capture is not a classic pcap file, no prefix to compare on\n');
      return;
    }
    const lua = join(dir, 'benchcapture.lua');
    const ex = await measure(process.execPath, [CLI, 'export-dissector', protocol, '-o', lua]);
    if (ex.code !== 0) throw new Error(`export-dissector failed: ${ex.stderr.slice(-400)}`);
    const fields = ['benchcapture.name', 'benchcapture.dir', 'benchcapture.id', ...Array.from({ length: 40 }, (_, i) => `benchcapture.m${i + 1}.payload`)];
    const empty = pcapPrefix(capture, 0)!;
    const ts: Rate[] = [];
    const gp: Rate[] = [];
    const ts0: Rate[] = [];
    const gp0: Rate[] = [];
    for (let i = 0; i < runs; i++) {
      ts.push(await tshark(lua, fields, prefix, 'benchcapture'));
      gp.push(await gamesniff(protocol, prefix, 'json'));
      ts0.push(await tshark(lua, fields, empty, 'benchcapture'));
      gp0.push(await gamesniff(protocol, empty, 'json'));
    }
    const t = med(ts);
    const g = med(gp);
    const t0 = med(ts0);
    const g0 = med(gp0);
    process.stdout.write(`  on the first ${int(PREFIX_PACKETS)} packets (${fmt(statSync(prefix).size / 1e6, 0)} MB): tshark is too slow for the whole capture\n`);
    row('tshark -T ek + Lua dissector', t, `${int(t.messages)} messages decoded`);
    row('gamesniff decode --json (piped)', g, `${int(g.messages)} messages`);
    const speed = g.messages / g.seconds / (t.messages / t.seconds);
    process.stdout.write(`  gamesniff / tshark: ${fmt(speed, 1)}× the messages a second on the prefix (goal ≥ 20); whole capture vs prefix tshark: ${fmt(j.messages / j.seconds / (t.messages / t.seconds), 1)}×\n`);
    // start-up: each tool on a capture with no packet (tshark loads its dissectors and the Lua file)
    const steady = (r: Rate, start: Rate): number => r.messages / Math.max(1e-3, r.seconds - start.seconds);
    process.stdout.write(
      `  start-up (a capture with no packet): tshark ${fmt(t0.seconds, 2)} s, gamesniff ${fmt(g0.seconds, 2)} s; without it, tshark ${int(steady(t, t0))} msgs/s, ` +
        `gamesniff ${int(steady(g, g0))} msgs/s: ${fmt(steady(g, g0) / steady(t, t0), 1)}× (goal ≥ 20)\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
