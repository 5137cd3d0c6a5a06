import { Command } from 'commander';
import { GamesniffError } from '../core/errors';
import { Coverage } from '../session/coverage';
import { clockTime, messageDetail, messageJson, messageLabel } from '../session/format';
import { MessageDecoder, type Message } from '../session/messages';
import { captureOptions, LineWriter, runInput, type CaptureCliOptions } from './common';
import { portsWithDefault, protocolForInput } from './protocol-option';

interface DecodeOptions extends CaptureCliOptions {
  protocol?: string;
  json?: boolean;
  stats?: boolean;
  spans?: boolean;
}

export function messageText(m: Message): string {
  const arrow = m.dir === 'c2s' ? '->' : '<-';
  return `${clockTime(m.ts)} #${m.flow.id}${m.transport === 'udp' ? 'u' : ''} ${arrow} ${messageLabel(m)} ${messageDetail(m)}`;
}

export function decodeCommand(): Command {
  const cmd = new Command('decode')
    .description('decode messages with a protocol description, one per line; exit 1 when any message did not decode')
    .option('-p, --protocol <protocol>', 'a protocol.yaml, its directory, or a name under protocols/ (default for a recording: the one it was made with)')
    .option('--json', 'one JSON object a line: ts, conn, client, server, dir, name, id, size, fields (error and hex when it failed)')
    .option('--stats', 'end with a coverage report on stderr: messages per name, unknown ids, undecoded bytes, errors by field path')
    .option('--spans', 'with --json: the byte span of every field');
  for (const o of captureOptions()) cmd.addOption(o);
  cmd.action(async (o: DecodeOptions) => {
    const protocol = protocolForInput(o.protocol, o.read);
    if (!protocol) throw new GamesniffError('USAGE', 'decode needs -p PROTOCOL (only a recording made with -p names its own)');
    const ports = portsWithDefault(o.port, protocol);
    const lines = new LineWriter(o.read ? 65536 : 0);
    const coverage = new Coverage();
    const decoder = new MessageDecoder(protocol, {
      message: (m) => {
        coverage.add(m);
        lines.line(o.json ? JSON.stringify(messageJson(m, o.spans)) : messageText(m));
      },
    }, { spans: !!o.spans });
    await runInput(o, ports, decoder, lines);
    if (o.stats) for (const line of coverage.report()) process.stderr.write(line + '\n');
    if (coverage.failed > 0) throw new GamesniffError('FAILED', `${coverage.failed} of ${coverage.messages} messages did not decode${o.stats ? '' : ' (--stats for details)'}`, 1);
  });
  return cmd;
}
