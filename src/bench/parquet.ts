/**
 * Parquet output (decode --parquet): rows/s written and the file's size against JSON lines
 * (decode --json) for the same messages, in-process:
 * 1. 1,000,000 small messages (the decode section's: two f32, a u16, a short string), decoded
 *    once into memory, then written by the Parquet sink and as JSON lines: the writers alone.
 * 2. The benchmark's generated capture (*mixed*), reassembled, framed and decoded with the sink
 *    attached, against the same run with JSON lines and with no output.
 * Each figure is the best of a few runs where a run is short.
 */
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Conversation } from '../conversation/conversation';
import { compileProtocol } from '../protocol/protocol';
import { messageJson } from '../session/format';
import type { Message, MessageSink } from '../session/messages';
import { ParquetSink } from '../session/parquet';
import { CAPTURE_PROTOCOL, MOVE_PROTOCOL, moveMessages } from './decode';

const fmt = (n: number, d = 1): string => n.toFixed(d);
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const seconds = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9;

/** JSON lines to a file, as decode --json writes them (one write per 64 KiB). */
class JsonLines implements MessageSink {
  private parts: string[] = [];
  private size = 0;
  private n = 0;
  private readonly fd: number;
  constructor(readonly file: string) {
    this.fd = openSync(file, 'w');
  }
  message(m: Message): void {
    const line = JSON.stringify({ n: this.n++, ...messageJson(m) });
    this.parts.push(line);
    this.size += line.length + 1;
    if (this.size >= 65536) this.flush();
  }
  private flush(): void {
    if (this.parts.length) writeSync(this.fd, this.parts.join('\n') + '\n');
    this.parts = [];
    this.size = 0;
  }
  close(): number {
    this.flush();
    closeSync(this.fd);
    return statSync(this.file).size;
  }
}

interface Written {
  seconds: number;
  bytes: number;
}

async function writeParquet(dir: string, messages: Message[], name: string): Promise<Written> {
  const out = join(dir, `${name}.parquet`);
  rmSync(out, { force: true });
  const t0 = process.hrtime.bigint();
  const sink = await ParquetSink.open({ out, layout: 'file', session: name, protocol: name });
  for (const m of messages) sink.message(m);
  const r = await sink.close();
  return { seconds: seconds(t0), bytes: r.bytes };
}

function writeJson(dir: string, messages: Message[], name: string): Written {
  const t0 = process.hrtime.bigint();
  const j = new JsonLines(join(dir, `${name}.jsonl`));
  for (const m of messages) j.message(m);
  const bytes = j.close();
  return { seconds: seconds(t0), bytes };
}

const best = async (runs: number, f: () => Promise<Written> | Written): Promise<Written> => {
  let b: Written | null = null;
  for (let i = 0; i < runs; i++) {
    const w = await f();
    if (!b || w.seconds < b.seconds) b = w;
  }
  return b!;
};

function line(label: string, rows: number, w: Written, json?: Written): string {
  const vs = json ? `, ${fmt(json.bytes / w.bytes, 1)}x smaller than JSON lines` : '';
  return `  ${label.padEnd(34)} ${fmt(w.seconds, 2).padStart(6)} s  ${int(rows / w.seconds).padStart(9)} rows/s  ${fmt(w.bytes / 1e6, 1).padStart(7)} MB${vs}\n`;
}

export async function parquetBench(capture: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gamesniff-bench-parquet-'));
  try {
    // 1. the writers alone, on 1,000,000 small decoded messages
    const N = 1_000_000;
    const protocol = compileProtocol(MOVE_PROTOCOL, 'benchmove.yaml');
    const flow = { id: 0, client: { addr: '127.0.0.1', port: 50000 }, server: { addr: '127.0.0.1', port: 24000 } };
    const messages: Message[] = [];
    let ts = Date.UTC(2026, 0, 1) * 1000;
    const conv = new Conversation(protocol, 'tcp', (m) => void messages.push(m as unknown as Message), { flow });
    const buf = moveMessages(N);
    for (let o = 0; o < buf.length; o += 65536) conv.received('c2s', buf.subarray(o, o + 65536), o, (ts += 1000));
    conv.end('c2s', ts);
    process.stdout.write(`\nparquet: ${int(messages.length)} small messages (move: x, y, seq, name), decoded in memory, written by\n`);
    const json = await best(2, () => writeJson(dir, messages, 'small'));
    const pq = await best(2, () => writeParquet(dir, messages, 'small'));
    process.stdout.write(line('JSON lines (decode --json)', messages.length, json));
    process.stdout.write(line('Parquet (decode --parquet, zstd)', messages.length, pq, json));
    messages.length = 0;

    // 2. the generated capture, end to end
    const { readCaptureFile } = await import('../capture/file-reader');
    const { FlowTable } = await import('../flow/table');
    const { MessageDecoder } = await import('../session/messages');
    const size = statSync(capture).size;
    const cp = compileProtocol(CAPTURE_PROTOCOL, 'benchcapture.yaml');
    const run = async (kind: 'none' | 'json' | 'parquet'): Promise<Written & { rows: number }> => {
      let rows = 0;
      const t0 = process.hrtime.bigint();
      const j = kind === 'json' ? new JsonLines(join(dir, 'capture.jsonl')) : null;
      const p = kind === 'parquet' ? await ParquetSink.open({ out: join(dir, 'capture.parquet'), layout: 'file', session: capture, protocol: 'benchcapture' }) : null;
      const decoder = new MessageDecoder(cp, {
        message: (m) => {
          rows++;
          j?.message(m);
          p?.message(m);
        },
      });
      const table = new FlowTable(decoder, { serverPorts: new Set([24000]) });
      await readCaptureFile(capture, (lt, data, orig, t) => table.push(lt, data, orig, t));
      table.finish();
      const bytes = j ? j.close() : p ? (await p.close()).bytes : 0;
      return { seconds: seconds(t0), bytes, rows };
    };
    process.stdout.write(`parquet: capture ${capture} (${fmt(size / 1e6, 0)} MB), reassembled, framed, decoded and written, in-process\n`);
    const none = await run('none');
    const cj = await run('json');
    const cpq = await run('parquet');
    const added = (w: Written): string => `, +${fmt(w.seconds - none.seconds, 2)} s over decoding alone (${int(none.rows / Math.max(w.seconds - none.seconds, 1e-9))} rows/s for the writing)`;
    process.stdout.write(`  decode only                        ${fmt(none.seconds, 2).padStart(6)} s  ${int(none.rows / none.seconds).padStart(9)} rows/s\n`);
    process.stdout.write(line('decode + JSON lines', cj.rows, cj).trimEnd() + added(cj) + '\n');
    process.stdout.write(line('decode + Parquet', cpq.rows, cpq, cj).trimEnd() + added(cpq) + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
