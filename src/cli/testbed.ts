import { Command } from 'commander';
import { appendFileSync } from 'node:fs';
import { GamesniffError } from '../core/errors';
import { runGameClient } from '../testbed/game-client';
import { GameServer } from '../testbed/game-server';
import { chatClient, chatServer, echoClient, echoServer } from '../testbed/seeds';
import { runWsGameClient, WS_GAME_PORT, WsGameServer } from '../testbed/ws-game';
import { print, say } from './output';
import { protocolOption } from './protocol-option';

const log = (s: string): void => say(s);

function int(name: string, v: string, min = 0, max = 2 ** 31): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new GamesniffError('USAGE', `${name} must be an integer from ${min} to ${max}, got "${v}"`);
  return n;
}

/** A key log to append to: its directory must exist and the file be writable, said before the game starts. */
function keylogFile(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    appendFileSync(file, '');
  } catch (e) {
    throw new GamesniffError('INPUT', `--keylog ${file}: cannot write: ${(e as Error).message}`);
  }
  return file;
}

/** A message log to append to: its directory must exist and the file be writable, said before the game starts. */
function messageLogFile(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    appendFileSync(file, '');
  } catch (e) {
    throw new GamesniffError('INPUT', `--message-log ${file}: cannot write: ${(e as Error).message}`);
  }
  return file;
}

type Transport = 'tcp' | 'ws';

/**
 * --transport, checked against the options only the other transport has. `given` holds each
 * option's value when it was given (undefined when not).
 */
function transportOf(v: string, given: { tcpOnly: Record<string, unknown>; wsOnly: Record<string, unknown> }): Transport {
  if (v !== 'tcp' && v !== 'ws') throw new GamesniffError('USAGE', `--transport must be tcp or ws, got "${v}"`);
  const [wrong, other] = v === 'ws' ? [given.tcpOnly, 'tcp'] : [given.wsOnly, 'ws'];
  const bad = Object.entries(wrong).filter(([, x]) => x !== undefined && x !== false).map(([k]) => k);
  if (bad.length) throw new GamesniffError('USAGE', `${bad.join(', ')}: only with --transport ${other}`);
  return v;
}

/** -p: the tcp game speaks what it is given (default testgame); the ws game always speaks wsgame. */
function gameProtocol(transport: Transport, protocol: string | undefined): string {
  if (transport === 'tcp') return protocol ?? 'testgame';
  if (protocol !== undefined && protocol !== 'wsgame') throw new GamesniffError('USAGE', `-p ${protocol}: the ws game speaks wsgame, and only that`);
  return 'wsgame';
}

/** Serve until SIGINT/SIGTERM (or --duration). */
async function serveUntilStopped(stop: () => Promise<void>, duration?: string): Promise<void> {
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (duration) setTimeout(resolve, int('--duration', duration, 1) * 1000);
  });
  await stop();
}

export function testbedCommand(): Command {
  const cmd = new Command('testbed').description('the test game pair (protocols/testgame; --transport ws: protocols/wsgame) and the seeds\' echo and chat-room pairs, on 127.0.0.1');

  cmd
    .command('server')
    .description('the test game server: tcp on --port, udp positions on --udp-port; or, with --transport ws, the WebSocket game (protocols/wsgame)')
    .option('--transport <tcp|ws>', 'tcp: the test game; ws: the browser-style WebSocket game', 'tcp')
    .option('--port <port>', 'tcp port (default: 24000, with ws 24080)')
    .option('--udp-port <port>', 'udp port (default: --port + 1; 0 for none; tcp only)')
    .option('--seed <n>', 'world seed: same seed, same inputs, same replies', '1')
    .option('--duration <s>', 'stop after this many seconds (default: until Ctrl-C)')
    .option('-p, --protocol <protocol>', 'protocol description (default: testgame; the ws game speaks wsgame)')
    .option('--secure', 'after login, a key exchange, then both directions encrypted (AES-128-CFB8; tcp only)')
    .option('--keylog <file>', 'append each session\'s key to this file, for gamesniff --keylog (tcp only)')
    .option('--message-log <file>', 'append each message sent or received as a JSON line (ws only)')
    .action(async (o: { transport: string; port?: string; udpPort?: string; seed: string; duration?: string; protocol?: string; secure?: boolean; keylog?: string; messageLog?: string }) => {
      const transport = transportOf(o.transport, { tcpOnly: { '--udp-port': o.udpPort, '--secure': o.secure, '--keylog': o.keylog }, wsOnly: { '--message-log': o.messageLog } });
      const protocol = gameProtocol(transport, o.protocol);
      const seed = int('--seed', o.seed);
      if (transport === 'ws') {
        const server = new WsGameServer({ port: int('--port', o.port ?? String(WS_GAME_PORT), 0, 65535), seed, messageLog: messageLogFile(o.messageLog), log });
        await server.start();
        await serveUntilStopped(() => server.stop(), o.duration);
        return;
      }
      const server = new GameServer(protocolOption(protocol)!, {
        port: int('--port', o.port ?? '24000', 0, 65535),
        udpPort: o.udpPort === undefined ? undefined : int('--udp-port', o.udpPort, 0, 65535),
        seed,
        secure: !!o.secure,
        keylog: keylogFile(o.keylog),
        log,
      });
      await server.start();
      await serveUntilStopped(() => server.stop(), o.duration);
    });

  cmd
    .command('client')
    .description('a test game client: logs in (with ws: joins a room), plays --rounds rounds, leaves; exit 0 when it finished')
    .option('--transport <tcp|ws>', 'tcp: the test game; ws: the browser-style WebSocket game', 'tcp')
    .option('--port <port>', 'server tcp port (default: 24000, with ws 24080)')
    .option('--udp-port <port>', 'server udp port (default: --port + 1; 0 for none; tcp only)')
    .option('--host <host>', 'server address (loopback)', '127.0.0.1')
    .option('--name <name>', 'player name', 'player')
    .option('--room <name>', 'room to join (ws only; default lobby)')
    .option('--rounds <n>', 'rounds to play', '10')
    .option('--seed <n>', 'seed of the moves', '1')
    .option('--interval <ms>', 'pause between rounds', '0')
    .option('-p, --protocol <protocol>', 'protocol description (default: testgame; the ws game speaks wsgame)')
    .option('--secure', 'insist on the key exchange (a --secure server\'s is always answered; tcp only)')
    .option('--keylog <file>', 'append the session key to this file before it is used, for gamesniff --keylog (tcp only)')
    .option('--message-log <file>', 'append each message sent or received as a JSON line (ws only)')
    .action(async (o: { transport: string; port?: string; udpPort?: string; host: string; name: string; room?: string; rounds: string; seed: string; interval: string; protocol?: string; secure?: boolean; keylog?: string; messageLog?: string }) => {
      const transport = transportOf(o.transport, { tcpOnly: { '--udp-port': o.udpPort, '--secure': o.secure, '--keylog': o.keylog }, wsOnly: { '--room': o.room, '--message-log': o.messageLog } });
      const protocol = gameProtocol(transport, o.protocol);
      if (transport === 'ws') {
        await runWsGameClient({
          host: o.host,
          port: int('--port', o.port ?? String(WS_GAME_PORT), 1, 65535),
          room: o.room,
          name: o.name,
          rounds: int('--rounds', o.rounds),
          seed: int('--seed', o.seed),
          interval: int('--interval', o.interval),
          messageLog: messageLogFile(o.messageLog),
          log,
        });
        return;
      }
      try {
        await runGameClient(protocolOption(protocol)!, {
          host: o.host,
          port: int('--port', o.port ?? '24000', 1, 65535),
          udpPort: o.udpPort === undefined ? undefined : int('--udp-port', o.udpPort, 0, 65535),
          name: o.name,
          rounds: int('--rounds', o.rounds),
          seed: int('--seed', o.seed),
          interval: int('--interval', o.interval),
          secure: !!o.secure,
          keylog: keylogFile(o.keylog),
          log,
        });
      } catch (e) {
        if (e instanceof GamesniffError) throw e;
        throw new GamesniffError('FAILED', `client: ${(e as Error).message}`, 1);
      }
    });

  cmd
    .command('echo-server')
    .description("the seeds' TestTcpReceiver: accept on 127.0.0.1:PORT, print what arrives")
    .option('--port <port>', 'port', '24000')
    .option('--once', 'exit after the first connection')
    .action(async (o: { port: string; once?: boolean }) => {
      const srv = await echoServer({ port: int('--port', o.port, 0, 65535), once: o.once, log: print });
      log(`echo server on 127.0.0.1:${(srv.address() as { port: number }).port}`);
      if (o.once) await new Promise<void>((r) => srv.on('close', () => r()));
      else await serveUntilStopped(() => new Promise<void>((r) => srv.close(() => r())));
    });

  cmd
    .command('echo-client')
    .description("the seeds' TestTcpSender: connect, send a few bytes, close")
    .option('--port <port>', 'port', '24000')
    .option('--bytes <hex>', 'bytes to send, in hex', '2c3742')
    .action(async (o: { port: string; bytes: string }) => {
      if (!/^([0-9a-fA-F]{2})+$/.test(o.bytes)) throw new GamesniffError('USAGE', `--bytes must be hex, got "${o.bytes}"`);
      await echoClient({ port: int('--port', o.port, 1, 65535), bytes: Buffer.from(o.bytes, 'hex') });
    });

  cmd
    .command('chat-server')
    .description("the seeds' chat room server: relays \"name\\t: message\" to everyone")
    .option('--port <port>', 'port', '7000')
    .option('--duration <s>', 'stop after this many seconds')
    .action(async (o: { port: string; duration?: string }) => {
      const srv = await chatServer({ port: int('--port', o.port, 0, 65535), log });
      log(`chat server on 127.0.0.1:${(srv.address() as { port: number }).port}`);
      await serveUntilStopped(() => new Promise<void>((r) => srv.close(() => r())), o.duration);
    });

  cmd
    .command('chat-client')
    .description('a chat room user: joins, says each line, exits')
    .option('--port <port>', 'port', '7000')
    .option('--name <name>', 'user name', 'user')
    .option('--say <lines...>', 'lines to say', ['hello'])
    .action(async (o: { port: string; name: string; say: string[] }) => {
      await chatClient({ port: int('--port', o.port, 1, 65535), name: o.name, lines: o.say, log: print });
    });
  return cmd;
}
