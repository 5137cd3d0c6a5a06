import { Command, Option } from 'commander';
import { GamesniffError } from '../core/errors';
import { closeInput } from '../input/open';
import { reportJson, reportLines } from '../replay/report';
import { loadScript, ScriptStream } from '../replay/script';
import { parseHostPort, runReplay, type HostPort } from '../replay/sockets';
import { positiveNumber } from './common';
import { keylogOption, keysFromLog } from './keylog-option';
import { print, printJson, say } from './output';
import { protocolForInput } from './protocol-option';
import { openRecordingArg } from './recording-arg';

interface ReplayCliOptions {
  as: 'client' | 'server';
  target?: string;
  listen?: string;
  udpTarget?: string;
  udpListen?: string;
  protocol?: string;
  speed?: string;
  fast?: boolean;
  timeout: string;
  acceptTimeout: string;
  connectWait: string;
  ignore: string[];
  rewrite: string[];
  json?: boolean;
  keylog?: string;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function replayCommand(): Command {
  return new Command('replay')
    .description('replay one side of a recording against a live peer and report, field by field, where the live game answers differently; exit 1 when it does')
    .argument('<file>', "a .gsrec recording ('-' for standard input)")
    .addOption(new Option('--as <side>', 'the side gamesniff plays').choices(['client', 'server']).makeOptionMandatory())
    .option('--target <host:port>', 'as client: the server to connect to')
    .option('--listen <[host:]port>', 'as server: where to accept the client (host defaults to 127.0.0.1)')
    .option('--udp-target <host:port>', "as client: where UDP flows go (default: the target's host, the recorded UDP port's distance from the TCP port kept)")
    .option('--udp-listen <[host:]port>', 'as server: where to receive UDP (default: as for --udp-target)')
    .option('-p, --protocol <protocol>', 'the protocol (default: the one the recording was made with)')
    .option('--speed <x>', 'pace our messages at x times the recorded speed (default 1: as recorded)')
    .option('--fast', 'no pacing: send each message as soon as the replies before it have come')
    .option('--timeout <ms>', 'wait this long for a recorded reply before calling it missing', '5000')
    .option('--accept-timeout <ms>', 'as server: wait this long for the client to connect', '60000')
    .option('--connect-wait <ms>', 'as client: keep retrying a refused connection this long at the start (a server started a moment before)', '5000')
    .option('--ignore <path>', 'a field not to compare: MESSAGE.PATH, *.PATH or PATH ([] for any index); repeatable; adds to the protocol\'s volatile: lists', collect, [])
    .option(
      '--rewrite <rule>',
      'carry a value the live peer sent into our later messages: MESSAGE.PATH (wherever the recorded value appears) or MESSAGE.PATH:TARGET.PATH[,...]; repeatable',
      collect,
      [],
    )
    .option('--json', 'the report as one JSON object')
    .addOption(keylogOption())
    .action(async (file: string, o: ReplayCliOptions) => {
      if (o.speed && o.fast) throw new GamesniffError('USAGE', '--speed and --fast do not go together');
      const input = await openRecordingArg(file, 'make one with gamesniff record');
      try {
        await replay(input, o);
      } finally {
        closeInput(input);
      }
    });
}

async function replay(input: Awaited<ReturnType<typeof openRecordingArg>>, o: ReplayCliOptions): Promise<void> {
      const file = input.name;
      const protocol = protocolForInput(o.protocol, input);
      if (!protocol) throw new GamesniffError('USAGE', 'replay needs -p PROTOCOL (the recording does not name one)');
      let address: HostPort;
      let udpAddress: HostPort | undefined;
      if (o.as === 'client') {
        if (!o.target || o.listen) throw new GamesniffError('USAGE', '--as client needs --target HOST:PORT (and no --listen)');
        address = parseHostPort(o.target, '--target');
        if (o.udpTarget) udpAddress = parseHostPort(o.udpTarget, '--udp-target');
      } else {
        if (!o.listen || o.target) throw new GamesniffError('USAGE', '--as server needs --listen [HOST:]PORT (and no --target)');
        address = parseHostPort(o.listen, '--listen');
        if (o.udpListen) udpAddress = parseHostPort(o.udpListen, '--udp-listen');
      }
      // the recorded connections' keys: replayed, their key exchanges give the live sessions the same keys
      // as the client, the recording is read as it is replayed (its steps are not all held, the first
      // message goes out at once); the server needs all of it first, to tell which recorded client connected
      const keys = keysFromLog(o.keylog);
      const script = o.as === 'client' ? new ScriptStream(input.recording, protocol, keys) : await loadScript(input.recording, protocol, keys);
      const warn = (read: { warning?: string }): void => void (read.warning && say(`warning: ${read.warning}`));
      if (!(script instanceof ScriptStream)) warn(script.read);
      const report = await runReplay(script, {
        role: o.as,
        speed: o.fast ? null : (positiveNumber('--speed', o.speed) ?? 1),
        timeoutMs: positiveNumber('--timeout', o.timeout)!,
        openTimeoutMs: positiveNumber('--accept-timeout', o.acceptTimeout)!,
        connectWaitMs: positiveNumber('--connect-wait', o.connectWait),
        ignore: o.ignore,
        rewrite: o.rewrite,
        address,
        udpAddress,
        onReady: (tcp, udp) => {
          if (o.as === 'server') say(`replay listening on ${tcp.host}:${tcp.port}${udp ? `, udp ${udp.host}:${udp.port}` : ''}`);
        },
      });
      // (a replay that stopped early left the rest unread)
      if (script instanceof ScriptStream && script.script.complete) warn(script.script.read);
      if (o.json) printJson(reportJson(report));
      else print(reportLines(report, file).join('\n'));
      if (report.error) throw new GamesniffError('FAILED', report.error, 2);
      if (report.divergences.length) throw new GamesniffError('FAILED', `the live ${o.as === 'client' ? 'server' : 'client'} diverged from the recording in ${report.divergences.length} places`, 1);
}
