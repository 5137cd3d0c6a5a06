// Regenerates test/fixtures/tshark-streams.json: for every capture in
// ../shared/captures, tshark's "Follow TCP Stream" (raw) bytes per stream
// direction, as length + sha256. Run: node test/oracle/make-tshark-fixtures.mjs
// (needs tshark). The test suite compares gamesniff's reassembly with it.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? join(import.meta.dirname, '../../../shared/captures');
const out = join(import.meta.dirname, '../fixtures/tshark-streams.json');
const tshark = (args) => {
  try {
    return execFileSync('tshark', args, { encoding: 'latin1', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (e) {
    // tshark exits non-zero on a file cut short, after printing what it read
    if (typeof e.stdout === 'string' && e.stdout !== '') return e.stdout;
    throw e;
  }
};

const result = { tshark: tshark(['-v']).split('\n')[0], files: {} };
for (const name of readdirSync(dir).sort()) {
  if (!/\.(pcap|pcapng)(\.gz)?$/.test(name)) continue;
  const file = join(dir, name);
  let ids;
  try {
    ids = [...new Set(tshark(['-r', file, '-T', 'fields', '-e', 'tcp.stream']).split(/[\n,]/).filter((l) => l !== ''))];
  } catch {
    result.files[name] = { error: 'tshark could not read it' };
    continue;
  }
  const streams = [];
  // many -z follow in one run; batches keep the command line short
  for (let i = 0; i < ids.length; i += 50) {
    const args = ['-r', file, '-q'];
    for (const id of ids.slice(i, i + 50)) args.push('-z', `follow,tcp,raw,${id}`);
    const text = tshark(args);
    for (const block of text.split('===================================================================\n')) {
      const m0 = /^Node 0: (.*)$/m.exec(block);
      const m1 = /^Node 1: (.*)$/m.exec(block);
      const f = /^Filter: tcp\.stream eq (\d+)$/m.exec(block);
      if (!m0 || !m1 || !f) continue;
      // per node: data bytes, and the "[N bytes missing in capture file]" markers tshark puts at gaps
      const parts = [[], []];
      const gaps = [[0, 0], [0, 0]];
      for (const line of block.split('\n')) {
        if (!/^\t?[0-9a-f]+$/.test(line) || line.trim().length % 2 !== 0) continue;
        const node = line.startsWith('\t') ? 1 : 0;
        const bytes = Buffer.from(line.trim(), 'hex');
        const gap = /^\[(\d+) bytes missing in capture file\]\0?$/.exec(bytes.toString('latin1'));
        if (gap) {
          gaps[node][0]++;
          gaps[node][1] += Number(gap[1]);
        } else {
          parts[node].push(bytes);
        }
      }
      const d = parts.map((p) => Buffer.concat(p));
      const sha = (b) => createHash('sha256').update(b).digest('hex');
      streams.push({
        stream: Number(f[1]),
        node0: m0[1],
        node1: m1[1],
        bytes0: d[0].length,
        sha0: sha(d[0]),
        gaps0: gaps[0],
        bytes1: d[1].length,
        sha1: sha(d[1]),
        gaps1: gaps[1],
      });
    }
  }
  result.files[name] = { streams };
  process.stderr.write(`${name}: ${streams.length} streams\n`);
}
writeFileSync(out, JSON.stringify(result, null, 1) + '\n');
