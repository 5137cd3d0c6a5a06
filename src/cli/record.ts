import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, Option } from 'commander';
import { GamesniffError } from '../core/errors';
import { closeInput } from '../input/open';
import { RECORDING_EXT } from '../recording/format';
import { Recorder, RecordingWriter } from '../recording/writer';
import { FlowTee } from '../flow/tee';
import { feed } from '../input/feed';
import { MessageDecoder } from '../session/messages';
import { ParquetSink } from '../session/parquet';
import { parquetSummary } from './decode';
import { keylogOption, keysFromLog } from './keylog-option';
import { captureOptions, feedOptions, openCliInput, stopOnSignal, summaryLines, type CaptureCliOptions } from './common';
import { say } from './output';
import { portsWithDefault, protocolOption } from './protocol-option';

interface RecordOptions extends CaptureCliOptions {
  output?: string;
  protocol?: string;
  keylog?: string;
  parquet?: string;
}

/** record --parquet: a file per batch of this many messages, or of what came in this long. */
export const RECORD_PARQUET_ROWS = 10_000;
export const RECORD_PARQUET_MS = 5000;

/** recordings/NAME-YYYYMMDD-HHMMSS.gsrec, from the working directory. */
export function defaultRecordingPath(name: string, now = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return join('recordings', `${name}-${stamp}${RECORDING_EXT}`);
}

export function recordCommand(): Command {
  const cmd = new Command('record')
    .description('record the reassembled streams of a live session (or of a capture file) to a .gsrec recording')
    .addOption(new Option('-o, --output <file>', 'the recording to write (default: recordings/PROTOCOL-DATE-TIME.gsrec)'))
    .option('-p, --protocol <protocol>', 'put this protocol description in the recording (decode, info and replay then need no -p); its ports are the default --port')
    .option('--parquet <dir>', 'with -p: also decode the messages to Parquet in DIR, partitioned by protocol and date, a file per 10,000 messages or 5 s (each whole once it is there: a crash loses the last batch at most)');
  for (const o of captureOptions()) cmd.addOption(o);
  cmd.addOption(keylogOption());
  cmd.action(async (o: RecordOptions) => {
    const protocol = protocolOption(o.protocol);
    const ports = portsWithDefault(o.port, protocol);
    if (o.parquet !== undefined) {
      if (!protocol) throw new GamesniffError('USAGE', '--parquet decodes the messages as they are recorded: give -p PROTOCOL too');
      if (!o.parquet || /\.parquet$/i.test(o.parquet)) throw new GamesniffError('USAGE', `record --parquet takes a directory (a file per batch, each whole after a crash): not ${o.parquet ? `a .parquet file, ${o.parquet}` : 'an empty name'}`);
    }
    const input = await openCliInput(o);
    let sink: ParquetSink | null = null;
    let madeParquetDir = false;
    try {
      if (input?.kind === 'recording') throw new GamesniffError('USAGE', `${input.name} is already a recording`);
      if (!input && !o.process && !o.pid && ports.set.size === 0) throw new GamesniffError('USAGE', 'record needs --port PORT (or -p with a protocol that declares its ports) to know what to capture');
      // the recorder needs the writer, which names the source: it joins before anything is read
      const tee = new FlowTee();
      const f = feed(input, tee, feedOptions(o, ports));
      const out = o.output ?? defaultRecordingPath(protocol?.name ?? 'session');
      try {
        mkdirSync(dirname(out), { recursive: true });
      } catch (e) {
        f.stop();
        throw new GamesniffError('INPUT', `cannot write the recording ${out}: ${(e as Error).message}`);
      }
      const writer = new RecordingWriter(out, {
        protocol: protocol ? { name: protocol.name, hash: protocol.hash, text: protocol.text } : null,
        source: { kind: input ? 'file' : 'live', name: f.name, filter: o.filter, ports: [...ports.set] },
      });
      const recorder = new Recorder(writer, keysFromLog(o.keylog));
      tee.add(recorder);
      if (o.parquet && protocol) {
        madeParquetDir = !existsSync(o.parquet);
        try {
          sink = await ParquetSink.open({ out: o.parquet, layout: 'partitioned', session: out, protocol: protocol.name, batchRows: RECORD_PARQUET_ROWS, flushMs: RECORD_PARQUET_MS });
        } catch (e) {
          f.stop();
          writer.close();
          rmSync(out, { force: true });
          throw e;
        }
        tee.add(new MessageDecoder(protocol, sink, { keys: keysFromLog(o.keylog) }));
      }
      say(`recording to ${out}${o.parquet ? ` and ${o.parquet}` : ''}`);
      const release = stopOnSignal(f);
      let result;
      try {
        result = await f.run();
      } catch (e) {
        // nothing was captured: leave no header-only recording behind
        writer.close();
        if (writer.records === 0) rmSync(out, { force: true });
        throw e;
      } finally {
        release();
      }
      if (result.kind !== 'packets') throw new GamesniffError('USAGE', `${f.name} is already a recording`);
      const src = result.source;
      const st = result.table;
      writer.finish(recorder.lastTs, {
        packets: st.packets,
        connections: st.connections,
        udpFlows: st.udpFlows,
        malformed: st.malformed,
        kernelReceived: src.live?.received ?? 0,
        kernelDropped: src.live?.dropped ?? 0,
      });
      writer.close();
      for (const line of summaryLines(src, st)) say(line);
      say(
        `recorded ${recorder.connections} TCP connections, ${recorder.udpFlows} UDP flows, ${recorder.payloadBytes} bytes of payload, ` +
          `${recorder.gaps} gaps: ${writer.records} records, ${writer.bytes} bytes in ${out}`,
      );
      if (sink) {
        const s = sink;
        sink = null;
        say(parquetSummary(await s.close(), o.parquet!));
      }
    } finally {
      if (sink) {
        // the capture did not start or failed: what was written stays; a directory made for nothing goes
        const s: ParquetSink = sink;
        const rows = s.rows;
        await s.close().catch(() => undefined);
        if (rows === 0 && madeParquetDir) removeEmptyDirs(o.parquet!);
      }
      closeInput(input);
    }
  });
  return cmd;
}

/** DIR and the directories under it, when they hold no file. */
function removeEmptyDirs(dir: string): void {
  try {
    for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) removeEmptyDirs(`${dir}/${d.name}`);
    rmdirSync(dir);
  } catch {
    // not empty, or gone
  }
}
