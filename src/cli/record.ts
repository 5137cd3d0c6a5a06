import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, Option } from 'commander';
import { GamesniffError } from '../core/errors';
import { RECORDING_EXT } from '../recording/format';
import { isRecordingFile } from '../recording/reader';
import { Recorder, RecordingWriter } from '../recording/writer';
import { captureOptions, newFlowTable, openSource, stopOnSignal, summaryLines, type CaptureCliOptions } from './common';
import { portsWithDefault, protocolOption } from './protocol-option';

interface RecordOptions extends CaptureCliOptions {
  output?: string;
  protocol?: string;
}

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
    .option('-p, --protocol <protocol>', "stamp the recording with this protocol (name and hash); its ports are the default --port");
  for (const o of captureOptions()) cmd.addOption(o);
  cmd.action(async (o: RecordOptions) => {
    const protocol = protocolOption(o.protocol);
    const ports = portsWithDefault(o.port, protocol);
    if (o.read && isRecordingFile(o.read)) throw new GamesniffError('USAGE', `${o.read} is already a recording`);
    if (!o.read && ports.set.size === 0) throw new GamesniffError('USAGE', 'record needs --port PORT (or -p with a protocol that declares its ports) to know what to capture');
    const source = openSource(o, ports);
    const out = o.output ?? defaultRecordingPath(protocol?.name ?? 'session');
    mkdirSync(dirname(out), { recursive: true });
    const writer = new RecordingWriter(out, {
      protocol: protocol ? { name: protocol.name, hash: protocol.hash } : null,
      source: { kind: o.read ? 'file' : 'live', name: source.name, filter: o.filter, ports: [...ports.set] },
    });
    const recorder = new Recorder(writer);
    const table = newFlowTable(o, ports, recorder);
    process.stderr.write(`recording to ${out}\n`);
    const release = stopOnSignal(source);
    let src;
    try {
      src = await source.run((lt, data, orig, ts) => table.push(lt, data, orig, ts));
    } catch (e) {
      writer.close();
      throw e;
    } finally {
      release();
    }
    table.finish();
    const st = table.stats;
    writer.finish(recorder.lastTs, {
      packets: st.packets,
      connections: st.connections,
      udpFlows: st.udpFlows,
      malformed: st.malformed,
      kernelReceived: src.live?.received ?? 0,
      kernelDropped: src.live?.dropped ?? 0,
    });
    writer.close();
    for (const line of summaryLines(src, st)) process.stderr.write(line + '\n');
    process.stderr.write(
      `recorded ${recorder.connections} TCP connections, ${recorder.udpFlows} UDP flows, ${recorder.payloadBytes} bytes of payload, ` +
        `${recorder.gaps} gaps: ${writer.records} records, ${writer.bytes} bytes in ${out}\n`,
    );
  });
  return cmd;
}
