/**
 * Parquet output (decode --parquet): rows/s written and the file's size against JSON lines
 * (decode --json) for the same messages, in-process:
 * 1. 1,000,000 small messages (the decode section's: two f32, a u16, a short string), framed and
 *    decoded from their bytes with no output, with JSON lines and with the Parquet sink;
 * 2. the same three runs over the benchmark's generated capture (*mixed*): reassembled, framed and
 *    decoded (each message a u8 id and random bytes: what Parquet cannot compress).
 * What the writing costs is a run's time less the run with no output.
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

type Kind = 'none' | 'json' | 'parquet';

/** Where a run's messages go: nowhere, JSON lines, or the Parquet sink; close() gives the bytes written. */
async function sinkFor(kind: Kind, dir: string, name: string): Promise<{ message(m: Message): void; close(): Promise<number> }> {
  if (kind === 'json') {
    const j = new JsonLines(join(dir, `${name}.jsonl`));
    return { message: (m) => j.message(m), close: async () => j.close() };
  }
  if (kind === 'parquet') {
    const out = join(dir, `${name}.parquet`);
    rmSync(out, { force: true });
    const p = await ParquetSink.open({ out, layout: 'file', session: name, protocol: name });
    return { message: (m) => p.message(m), close: async () => (await p.close()).bytes };
  }
  return { message: () => undefined, close: async () => 0 };
}

/** Decoding alone, then with JSON lines, then with Parquet: time, rows/s, size, and what the writing added. */
async function report(run: (kind: Kind) => Promise<Written & { rows: number }>): Promise<void> {
  const none = await run('none');
  const json = await run('json');
  const pq = await run('parquet');
  const added = (w: Written): string => `; the writing ${fmt(w.seconds - none.seconds, 2)} s, ${int(none.rows / Math.max(w.seconds - none.seconds, 1e-9))} rows/s`;
  process.stdout.write(`  decode only                        ${fmt(none.seconds, 2).padStart(6)} s  ${int(none.rows / none.seconds).padStart(9)} rows/s\n`);
  process.stdout.write(line('decode + JSON lines (--json)', json.rows, json).trimEnd() + added(json) + '\n');
  process.stdout.write(line('decode + Parquet (--parquet, zstd)', pq.rows, pq, json).trimEnd() + added(pq) + '\n');
}




function line(label: string, rows: number, w: Written, json?: Written): string {
  const vs = json ? `, ${fmt(json.bytes / w.bytes, 1)}x smaller than JSON lines` : '';
  return `  ${label.padEnd(34)} ${fmt(w.seconds, 2).padStart(6)} s  ${int(rows / w.seconds).padStart(9)} rows/s  ${fmt(w.bytes / 1e6, 1).padStart(7)} MB${vs}\n`;
}

export async function parquetBench(capture: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gamesniff-bench-parquet-'));
  try {
    // 1. 1,000,000 small messages, framed and decoded from their bytes, and written
    const N = 1_000_000;
    const protocol = compileProtocol(MOVE_PROTOCOL, 'benchmove.yaml');
    const buf = moveMessages(N);
    const flow = { id: 0, client: { addr: '127.0.0.1', port: 50000 }, server: { addr: '127.0.0.1', port: 24000 } };
    const small = async (kind: Kind): Promise<Written & { rows: number }> => {
      const t0 = process.hrtime.bigint();
      const s = await sinkFor(kind, dir, 'small');
      let rows = 0;
      let ts = Date.UTC(2026, 0, 1) * 1000;
      const conv = new Conversation(protocol, 'tcp', (m) => {
        rows++;
        s.message(m as unknown as Message);
      }, { flow });
      for (let o = 0; o < buf.length; o += 65536) conv.received('c2s', buf.subarray(o, o + 65536), o, (ts += 1000));
      conv.end('c2s', ts);
      return { seconds: seconds(t0), bytes: await s.close(), rows };
    };
    process.stdout.write(`\nparquet: ${int(N)} small messages (move: x, y, seq, name), framed, decoded and written, in-process\n`);
    await report(small);

    // 2. the generated capture, end to end
    const { readCaptureFile } = await import('../capture/file-reader');
    const { FlowTable } = await import('../flow/table');
    const { MessageDecoder } = await import('../session/messages');
    const size = statSync(capture).size;
    const cp = compileProtocol(CAPTURE_PROTOCOL, 'benchcapture.yaml');
    const whole = async (kind: Kind): Promise<Written & { rows: number }> => {
      const t0 = process.hrtime.bigint();
      const s = await sinkFor(kind, dir, 'capture');
      let rows = 0;
      const decoder = new MessageDecoder(cp, {
        message: (m) => {
          rows++;
          s.message(m);
        },
      });
      const table = new FlowTable(decoder, { serverPorts: new Set([24000]) });
      await readCaptureFile(capture, (lt, data, orig, t) => table.push(lt, data, orig, t));
      table.finish();
      return { seconds: seconds(t0), bytes: await s.close(), rows };
    };
    process.stdout.write(`parquet: capture ${capture} (${fmt(size / 1e6, 0)} MB; each message a u8 id and random bytes), reassembled, framed, decoded and written, in-process\n`);
    await report(whole);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
