import { Command } from 'commander';
import { closeInput } from '../input/open';
import { exportPcapng } from '../recording/export';
import { say } from './output';
import { openRecordingArg } from './recording-arg';

export function exportCommand(): Command {
  return new Command('export')
    .description('write a recording out as a pcapng capture (for Wireshark, tshark, or any pcap tool)')
    .argument('<file>', "a .gsrec recording ('-' for standard input)")
    .requiredOption('--pcap <out>', "the pcapng file to write ('-' for standard output)")
    .action(async (file: string, o: { pcap: string }) => {
      const input = await openRecordingArg(file, 'export writes recordings out as captures');
      try {
        const r = await exportPcapng(input.recording, o.pcap);
        say(`wrote ${r.packets} packets (${r.connections} TCP connections) to ${o.pcap === '-' ? 'standard output' : o.pcap}`);
        if (r.unrepresentable) say(`warning: ${r.unrepresentable} gaps of 2 GiB or more cannot be expressed in TCP sequence numbers; readers of the export will see those streams differently`);
        if (r.skippedConnections) say(`warning: ${r.skippedConnections} connections left out: their endpoints are not IP addresses`);
        if (r.skippedDatagrams) say(`warning: ${r.skippedDatagrams} datagrams left out: larger than an IP packet can hold`);
        if (r.read.warning) say(`warning: ${r.read.warning}`);
      } finally {
        closeInput(input);
      }
    });
}
