import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, Option } from 'commander';
import { GamesniffError } from '../core/errors';
import { closeInput } from '../input/open';
import { RECORDING_EXT } from '../recording/format';
import { Recorder, RecordingWriter } from '../recording/writer';
import { FlowTee } from '../flow/tee';
import { feed } from '../input/feed';
import { keylogOption, keysFromLog } from './keylog-option';
import { captureOptions, feedOptions, openCliInput, stopOnSignal, summaryLines, type CaptureCliOptions } from './common';
import { say } from './output';
import { portsWithDefault, protocolOption } from './protocol-option';

interface RecordOptions extends CaptureCliOptions {
  output?: string;
  protocol?: string;
  keylog?: string;
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
    .option('-p, --protocol <protocol>', 'put this protocol description in the recording (decode, info and replay then need no -p); its ports are the default --port');
  for (const o of captureOptions()) cmd.addOption(o);
  cmd.addOption(keylogOption());
  cmd.action(async (o: RecordOptions) => {
    const protocol = protocolOption(o.protocol);
    const ports = portsWithDefault(o.port, protocol);
    const input = await openCliInput(o);
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
      say(`recording to ${out}`);
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
    } finally {
      closeInput(input);
    }
  });
  return cmd;
}
