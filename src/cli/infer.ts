import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Command } from 'commander';
import { parsePorts } from '../capture/ports';
import { GamesniffError } from '../core/errors';
import { StreamCollector } from '../infer/collect';
import { writeDraft } from '../infer/draft';
import { infer } from '../infer/infer';
import { reportJson, reportText } from '../infer/report';
import { closeInput } from '../input/open';
import { captureOptions, openCliInput, runInput, type CaptureCliOptions } from './common';
import { LineWriter, print, printJson, say } from './output';

interface InferCliOptions extends CaptureCliOptions {
  out?: string;
  json?: boolean;
  name?: string;
}

/** A protocol name from a file name: letters, digits, _ and - (what the loader accepts). */
function nameFrom(file: string | undefined): string {
  const base = file && file !== '-' ? basename(file).replace(/\.(gz|pcapng|pcap|gsrec|cap)$/gi, '').replace(/\.(pcapng|pcap|gsrec|cap)$/gi, '') : 'draft';
  const clean = base.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^[^A-Za-z]+/, '');
  return clean.slice(0, 40) || 'draft';
}

export function inferCommand(): Command {
  const cmd = new Command('infer')
    .description('propose a protocol description from traffic: framing, message ids, fields, with confidence and evidence; -o writes a draft protocol.yaml, vectors.yaml and the report')
    .option('-o, --out <dir>', 'write the draft there: protocol.yaml, vectors.yaml, report.txt (then: gamesniff new NAME --from-infer DIR)')
    .option('--name <name>', "the draft protocol's name (default: from the file name)")
    .option('--json', 'the report as one JSON object');
  for (const o of captureOptions()) cmd.addOption(o);
  cmd.action(async (o: InferCliOptions) => {
    const name = o.name ?? nameFrom(o.read);
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(name)) throw new GamesniffError('USAGE', `--name ${JSON.stringify(name)}: a protocol name is letters, digits, _ and -, starting with a letter`);
    const ports = parsePorts(o.port);
    // the output directory first: a wrong -o is said before minutes of reading, not after
    if (o.out) {
      try {
        mkdirSync(o.out, { recursive: true });
        accessSync(o.out, constants.W_OK);
      } catch (e) {
        throw new GamesniffError('USAGE', `-o ${o.out}: cannot write the draft there (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    }
    const input = await openCliInput(o);
    const collector = new StreamCollector();
    try {
      await runInput(o, ports, collector, new LineWriter(0, false), input);
    } finally {
      closeInput(input);
    }
    const data = collector.result();
    if (!data.tcp.length && !data.udp.length) throw new GamesniffError('INPUT', `no TCP or UDP payload${ports.set.size ? ` on port ${[...ports.set].slice(0, 5).join(', ')}` : ''} to infer from`);
    const report = infer(data, o.read ?? 'a live capture', { ports: [...ports.set] });
    let draft = null;
    try {
      draft = writeDraft(name, report, data);
    } catch (e) {
      // a draft that does not compile is a bug of inference; the report still stands
      say(`gamesniff: the draft did not compile (a bug in inference; please report it): ${(e as Error).message.split('\n')[0]}`);
    }
    const text = reportText(report, draft);
    if (o.json) printJson(reportJson(report, draft));
    else for (const line of text) print(line);
    if (o.out && draft) {
      try {
        writeFileSync(join(o.out, 'protocol.yaml'), draft.yaml);
        writeFileSync(join(o.out, 'vectors.yaml'), draft.vectors);
        writeFileSync(join(o.out, 'report.txt'), `${text.join('\n')}\n`);
      } catch (e) {
        throw new GamesniffError('INPUT', `-o ${o.out}: cannot write the draft (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      say(`wrote ${join(o.out, 'protocol.yaml')}, vectors.yaml and report.txt; next: gamesniff new ${name} --from-infer ${o.out}  (or gamesniff check ${join(o.out, 'protocol.yaml')})`);
    }
  });
  return cmd;
}
