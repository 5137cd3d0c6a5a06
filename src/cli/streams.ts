import { setFlagsFromString } from 'node:v8';
import { Command } from 'commander';
import { closeInput } from '../input/open';
import { recordJson, StreamSummary, type StreamRecord } from '../session/stream-summary';
import { captureOptions, openCliInput, runInput, type CaptureCliOptions } from './common';
import { LineWriter } from './output';
import { parsePorts } from '../capture/ports';

interface StreamsOptions extends CaptureCliOptions {
  json?: boolean;
  write?: string;
  udp: boolean;
  hash?: boolean;
}

function textLine(r: StreamRecord): string {
  const arrow = r.dir === 'c2s' ? '->' : '<-';
  return (
    `#${r.conn} ${r.proto} ${r.client} ${arrow} ${r.server} ${r.dir} ` +
    `bytes=${r.bytes}${r.sha256 ? ` sha256=${r.sha256}` : ''} gaps=${r.gaps}/${r.gapBytes}B ` +
    `overlapConflicts=${r.overlapConflicts} syn=${r.syn ? 'yes' : 'no'}${r.midstream ? ' midstream' : ''}${r.resumes !== undefined ? ` resumes=#${r.resumes}` : ''} end=${r.end}`
  );
}

export function streamsCommand(): Command {
  const cmd = new Command('streams')
    .description('reassemble every connection and print, per direction: bytes, gaps, overlaps, how it ended (and sha256 with --hash)')
    .option('--json', 'one JSON object a line')
    .option('--hash', "the sha256 of each direction's delivered bytes (hashing every byte is most of the cost of a run)")
    .option('--write <dir>', "write each direction's delivered bytes to a file in DIR")
    .option('--no-udp', 'leave UDP flows out');
  for (const o of captureOptions()) cmd.addOption(o);
  cmd.action(async (o: StreamsOptions) => {
    // The young generation kept at its first size (it grows to 16 MB a half): over 400,000
    // connections RSS stays at 110 MB instead of 160, for no more CPU here. Not for every command:
    // decoding 100,000 connections spent a fifth more CPU collecting it so often.
    setFlagsFromString('--semi-space-growth-factor=1');
    const ports = parsePorts(o.port);
    const input = await openCliInput(o);
    try {
      const lines = new LineWriter(65536, !!o.json); // live: written after each batch of packets (runInput)
      const out = (r: StreamRecord): void => lines.line(o.json ? recordJson(r) : textLine(r));
      const summary = new StreamSummary(out, { writeDir: o.write, udp: o.udp, hash: !!o.hash });
      // the summary copies what it keeps (--write): the file can be read into one buffer
      await runInput(o, ports, summary, lines, input, { transient: true });
    } finally {
      closeInput(input);
    }
  });
  return cmd;
}
