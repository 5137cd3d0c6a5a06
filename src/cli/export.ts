import { Command } from 'commander';
import { GamesniffError } from '../core/errors';
import { exportPcapng } from '../recording/export';
import { isRecordingFile } from '../recording/reader';

export function exportCommand(): Command {
  return new Command('export')
    .description('write a recording out as a pcapng capture (for Wireshark, tshark, or any pcap tool)')
    .argument('<file>', 'a .gsrec recording')
    .requiredOption('--pcap <out>', 'the pcapng file to write')
    .action(async (file: string, o: { pcap: string }) => {
      if (!isRecordingFile(file)) throw new GamesniffError('INPUT', `${file}: not a gamesniff recording`);
      const r = await exportPcapng(file, o.pcap);
      process.stderr.write(`wrote ${r.packets} packets (${r.connections} TCP connections) to ${o.pcap}\n`);
      if (r.unrepresentable) process.stderr.write(`warning: ${r.unrepresentable} gaps of 2 GiB or more cannot be expressed in TCP sequence numbers; readers of the export will see those streams differently\n`);
      if (r.read.warning) process.stderr.write(`warning: ${r.read.warning}\n`);
    });
}
