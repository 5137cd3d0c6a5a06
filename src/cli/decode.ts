import { Command } from 'commander';
import { GamesniffError } from '../core/errors';
import { closeInput } from '../input/open';
import { Coverage } from '../session/coverage';
import { clockTime, DEFAULT_LIMITS, FULL, messageDetail, messageJson, messageLabel } from '../session/format';
import { MessageDecoder, type Message } from '../session/messages';
import { captureOptions, openCliInput, runInput, type CaptureCliOptions } from './common';
import { keylogOption, keysFromLog } from './keylog-option';
import { LineWriter, say } from './output';
import { portsWithDefault, protocolForInput } from './protocol-option';

interface DecodeOptions extends CaptureCliOptions {
  protocol?: string;
  keylog?: string;
  json?: boolean;
  stats?: boolean;
  spans?: boolean;
  full?: boolean;
}

export function messageText(m: Message): string {
  const arrow = m.dir === 'c2s' ? '->' : '<-';
  return `${clockTime(m.ts)} #${m.flow.id}${m.transport === 'udp' ? 'u' : ''} ${arrow} ${messageLabel(m)} ${messageDetail(m)}`;
}

export function decodeCommand(): Command {
  const cmd = new Command('decode')
    .description('decode messages with a protocol description, one per line; exit 1 when any message did not decode')
    .option('-p, --protocol <protocol>', 'a protocol.yaml, its directory, or a name under protocols/ (default for a recording: the description it holds)')
    .option('--json', 'one JSON object a line: ts, conn, client, server, dir, name, id, size, fields (error and hex when it failed)')
    .option('--stats', 'end with a coverage report on stderr: messages per name, unknown ids, undecoded bytes, errors by field path')
    .option('--spans', 'with --json: the byte span of every field')
    .option('--full', 'with --json: every byte, character and element (by default bytes and hex stop at 4 KiB, strings at 64 Ki characters, arrays at 100,000 elements, saying how much more there was)');
  for (const o of captureOptions()) cmd.addOption(o);
  cmd.addOption(keylogOption());
  cmd.action(async (o: DecodeOptions) => {
    if (o.spans && !o.json) throw new GamesniffError('USAGE', '--spans adds the byte spans to the JSON output: give --json too');
    if (o.full && !o.json) throw new GamesniffError('USAGE', '--full lifts the size limits of the JSON output: give --json too (text lines always show a short preview)');
    const input = await openCliInput(o);
    try {
      const protocol = protocolForInput(o.protocol, input);
      if (!protocol) throw new GamesniffError('USAGE', 'decode needs -p PROTOCOL (only a recording made with -p names its own)');
      const ports = portsWithDefault(o.port, protocol);
      const lines = new LineWriter(o.read ? 65536 : 0, !!o.json);
      const coverage = new Coverage();
      const limits = o.full ? FULL : DEFAULT_LIMITS;
      const decoder = new MessageDecoder(protocol, {
        message: (m) => {
          coverage.add(m);
          lines.line(o.json ? JSON.stringify(messageJson(m, o.spans, limits)) : messageText(m));
        },
      }, { spans: !!o.spans, keys: keysFromLog(o.keylog) });
      await runInput(o, ports, decoder, lines, input);
      if (o.stats) for (const line of coverage.report()) say(line);
      if (coverage.failed > 0) throw new GamesniffError('FAILED', `${coverage.failed} of ${coverage.messages} messages did not decode${o.stats ? '' : ' (--stats for details)'}`, 1);
    } finally {
      closeInput(input);
    }
  });
  return cmd;
}
