import { existsSync, mkdirSync, readFileSync, statSync, unwatchFile, watchFile } from 'node:fs';
import { dirname } from 'node:path';
import { Command } from 'commander';
import blessed from 'blessed';
import { GamesniffError } from '../core/errors';
import { buildFilter } from '../capture/ports';
import { compileOfflineFilter } from '../capture/bpf';
import { LINKTYPE } from '../capture/linktypes';
import { chooseDevice, LiveCapture, type CaptureHandle } from '../capture/live';
import { FlowTee } from '../flow/tee';
import type { FlowListener, TcpConnection, UdpFlow } from '../flow/connection';
import { closeInput, type Input } from '../input/open';
import { compileProtocol, listProtocols, type Protocol } from '../protocol/protocol';
import { escapeText } from '../core/terminal';
import { Recorder, RecordingWriter } from '../recording/writer';
import { MessageDecoder } from '../session/messages';
import { GameServer } from '../testbed/game-server';
import { runGameClient } from '../testbed/game-client';
import { runWsGameClient, WS_GAME_PORT, WsGameServer } from '../testbed/ws-game';
import { PacketRing } from '../tui/model/packets';
import { DEFAULT_WINDOW, SessionModel } from '../tui/model/session';
import { openScreen, type InterceptHooks } from '../tui/screen';
import { feed } from '../input/feed';
import { feedOptions, fileFilter, openCliInput, positiveNumber, type CaptureCliOptions } from './common';
import { portsWithDefault, protocolForInput, protocolOption } from './protocol-option';
import { keylogOption, keysFromLog } from './keylog-option';
import { defaultRecordingPath } from './record';

export interface TuiOptions extends CaptureCliOptions {
  protocol?: string;
  keep?: string;
  keylog?: string;
}

/** Without -p: a list of protocols/ to pick from (or none: raw chunks). */
async function pickProtocol(): Promise<string | undefined> {
  const names = listProtocols();
  if (names.length === 0) return undefined;
  const screen = blessed.screen({ smartCSR: true, title: 'gamesniff' });
  const items = [...names, '(none: show streams as raw chunks)'];
  const list = blessed.list({ parent: screen, top: 'center', left: 'center', width: 60, height: items.length + 2, border: 'line', label: ' protocol (enter to pick, q for none) ', keys: true, vi: true, mouse: true, items, style: { selected: { inverse: true } } });
  list.focus();
  screen.render();
  const picked = await new Promise<number>((resolve) => {
    list.on('select', (_i: unknown, index: number) => resolve(index));
    screen.key(['q', 'escape', 'C-c'], () => resolve(items.length - 1));
  });
  screen.destroy();
  return names[picked];
}

/** Can we capture live here? Opens the device once and closes it, so a missing privilege is said before any screen. */
function probeCapture(o: TuiOptions): void {
  const capture = new LiveCapture({ device: chooseDevice(o.iface), filter: '' });
  capture.start(() => undefined);
  capture.stop();
}

/** `gamesniff [--port N] [-p PROTOCOL] [-r FILE]`: the terminal UI. Resolves when the user quits. */
export async function runTui(o: TuiOptions): Promise<void> {
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    throw new GamesniffError('USAGE', 'the terminal UI needs a terminal; for output to a pipe or a file, use gamesniff decode or streams');
  }
  if (o.read === '-') throw new GamesniffError('USAGE', 'the terminal UI reads its keys from the terminal: give -r a file, not standard input');
  // everything that can fail is checked before a screen (even the protocol picker) opens
  const input = await openCliInput(o);
  try {
    if (!input) {
      if (o.port.length === 0 && !o.protocol && !o.process && !o.pid) throw new GamesniffError('USAGE', "give --port PORT (the application's server port), --process NAME, -p with a protocol that declares ports, or -r FILE");
      probeCapture(o);
    }
    if (input?.kind === 'capture' && fileFilter(o)) compileOfflineFilter(fileFilter(o), LINKTYPE.ETHERNET);
    await runTuiOn(o, input);
  } finally {
    closeInput(input);
  }
}

/** Traffic that does not come from a capture or a recording (the proxy's): fed to the UI's listener. */
export interface TuiSource {
  protocol: Protocol | null;
  /** The proxy's intercept keys. */
  intercept?: InterceptHooks;
  start(listener: FlowListener): { name: string; run(): Promise<unknown>; stop(): void };
}

/** The terminal UI on a source of its own (the proxy). Resolves when the user quits. */
export async function runTuiOnSource(o: TuiOptions, source: TuiSource): Promise<void> {
  if (!process.stdout.isTTY || !process.stdin.isTTY) throw new GamesniffError('USAGE', 'the terminal UI needs a terminal; give --json (or redirect the output) for lines instead');
  await runTuiOn(o, null, source);
}

async function runTuiOn(o: TuiOptions, input: Input | null, external?: TuiSource): Promise<void> {
  const recordingFile = input?.kind === 'recording';
  const spec = external ? undefined : o.protocol ?? (recordingFile ? undefined : await pickProtocol());
  const protocol: Protocol | null = external ? external.protocol : spec ? protocolOption(spec) : protocolForInput(undefined, input);
  const ports = portsWithDefault(o.port, protocol);
  const model = new SessionModel(protocol, { keepBytes: positiveNumber('--keep', o.keep) });
  const keys = keysFromLog(o.keylog);
  const decoder = new MessageDecoder(protocol, model, { keys });
  const tee = new FlowTee([decoder]);
  const ring = recordingFile || external ? null : new PacketRing();

  let capture: CaptureHandle | null = null;
  let captureOpen: () => void = () => undefined;
  const opened = new Promise<void>((r) => (captureOpen = r));
  let lastTs = 0;
  if (!input && !external && !o.process && !o.pid && ports.set.size === 0) throw new GamesniffError('USAGE', 'give --port PORT (the application\'s server port), -p with a protocol that declares ports, or -r FILE');
  const source = external ? external.start(tee) : feed(input, tee, feedOptions(o, ports, {
    onReady: (c) => {
      capture = c;
      captureOpen();
    },
    onPacket: ring
      ? (lt, data, orig, ts) => {
          ring.push(lt, data, ts);
          model.figures.packets++;
          model.figures.bytes += orig;
          lastTs = ts;
        }
      : undefined,
  }));
  model.figures.source = input || external ? (input?.name ?? source.name) : `${source.name} (${buildFilter(ports, o.filter)})`;
  const running = source.run();
  // A live capture that cannot start (no privilege, no device) fails here, before the screen opens;
  // one that can is open before the screen says it waits for messages (it opens on a thread of its
  // own: a client started on that word must not lose its first packets).
  if (!input) await Promise.race([running, external ? new Promise<void>((r) => setImmediate(r)) : opened]);
  const finished = running.then(() => (model.figures.live = false));

  let recording: { writer: RecordingWriter; recorder: Recorder } | null = null;
  const stopRecording = (): string => {
    if (!recording) return '';
    const { writer, recorder } = recording;
    tee.remove(recorder);
    writer.finish(recorder.lastTs || lastTs, { packets: model.figures.packets });
    writer.close();
    recording = null;
    model.figures.recording = null;
    return `recorded ${writer.records} records to ${writer.path}`;
  };

  await new Promise<void>((resolve, reject) => {
    let screen: ReturnType<typeof openScreen> | null = null;
    let figures: NodeJS.Timeout | null = null;
    const quit = (): void => {
      if (figures) clearInterval(figures);
      if (protocol) unwatchFile(protocol.file);
      stopRecording();
      source.stop();
      screen?.destroy();
      model.messages.close();
      // what the session saw, as tcpdump says at exit (the screen is gone: this stays in the terminal)
      const drops = capture ? `, ${dropsOf(capture)} dropped by the capture` : '';
      process.stderr.write(`gamesniff: ${model.messages.length} messages${ring ? `, ${model.figures.packets} packets` : ''}${drops}\n`);
      resolve();
    };
    finished.catch((e: unknown) => {
      screen?.destroy();
      reject(e);
    });
    screen = openScreen(model, protocol?.name ?? null, ring, {
      toggleRecording: () => {
        if (recording) return stopRecording();
        const file = defaultRecordingPath(protocol?.name ?? 'session');
        try {
          mkdirSync(dirname(file), { recursive: true });
          const writer = new RecordingWriter(file, { protocol: protocol ? { name: protocol.name, hash: protocol.hash, text: protocol.text } : null, source: { kind: recordingFile ? 'recording' : o.read ? 'file' : 'live', name: model.figures.source, ports: [...ports.set] } });
          const recorder = new Recorder(writer, keys);
          const replayed = backfill(model, recorder);
          tee.add(recorder);
          recording = { writer, recorder };
          model.figures.recording = { file, bytes: 0 };
          return `recording to ${file}${replayed ? ` (with the ${replayed} messages so far of the connections still open)` : ''}`;
        } catch (e) {
          return `cannot record: ${(e as Error).message}`;
        }
      },
      quit,
      intercept: external?.intercept,
      reload: protocol && existsSync(protocol.file) ? () => reloadProtocol(model, decoder, protocol.file) : undefined,
    });
    // the protocol author's loop: edit the description, see every message decoded again
    if (protocol && existsSync(protocol.file)) {
      let last = statSync(protocol.file).mtimeMs;
      watchFile(protocol.file, { interval: 500 }, (st) => {
        if (st.mtimeMs === last || !screen) return;
        last = st.mtimeMs;
        screen.notice(reloadProtocol(model, decoder, protocol.file));
      });
      finished.finally(() => unwatchFile(protocol.file)).catch(() => undefined);
    }
    // Figures that change without messages: capture drops, recording size.
    figures = setInterval(() => {
      if (capture) model.figures.drops = dropsOf(capture);
      if (recording && model.figures.recording) model.figures.recording.bytes = recording.writer.bytes;
    }, 500);
    figures.unref();
  });
}

/** Packets lost: by the kernel, and by the capture thread's queue when the UI fell behind. */
function dropsOf(capture: CaptureHandle): number {
  const s = capture.stats();
  return s.dropped + (s.queue?.droppedPackets ?? 0);
}

/**
 * The description read again and every message the view holds decoded again with it (and what
 * arrives next, in step); a broken file leaves everything as it was and says where it broke.
 */
export function reloadProtocol(model: SessionModel, decoder: MessageDecoder, file: string): string {
  let fresh: Protocol;
  try {
    fresh = compileProtocol(readFileSync(file, 'utf8'), file);
  } catch (e) {
    return `not reloaded: ${escapeText((e as Error).message.split('\n')[0]!)}`;
  }
  const { flows, kept } = model.redecodeInput();
  return model.reload(fresh, decoder.redecode(fresh, flows), kept);
}

/** A UDP flow silent this long (µs of packet time) is not written when a recording starts mid-session. */
export const UDP_IDLE_US = 30_000_000;

/**
 * Recording starts mid-session: the connections still open are written from their start, from
 * the messages the view holds, so that the recording decodes from the beginning (a protocol's
 * state, such as compression, depends on it). Returns how many messages were written.
 */
export function backfill(model: SessionModel, recorder: Recorder): number {
  let n = 0;
  // a UDP flow has no close: one silent this long is over, not open
  const now = model.messages.length ? model.messages.at(model.messages.length - 1)!.ts : 0;
  const udpOpen = (f: UdpFlow): boolean => !f.closed && now - f.lastTs < UDP_IDLE_US;
  for (const m of model.messages) {
    const open = m.transport === 'udp' ? udpOpen(m.flow as UdpFlow) : !(m.flow as TcpConnection).closed;
    if (!open || model.bytesDropped(m)) continue;
    // the bytes as captured (a cipher's ciphertext included), where the capture had them
    if (m.transport === 'udp') recorder.datagram(m.flow as UdpFlow, m.dir, m.wire, m.wire.length, m.ts);
    else recorder.data(m.flow as TcpConnection, m.dir, m.wire, m.offset, m.ts);
    n++;
  }
  return n;
}

export function addTuiOptions(cmd: Command): Command {
  return cmd
    .option('-p, --protocol <protocol>', 'decode with this protocol (a name under protocols/ or a path); without it, pick one')
    .option('--keep <messages>', 'keep this many most recent messages whole in memory; older ones are read back from a spill file in the temp directory when shown', String(DEFAULT_WINDOW))
    .addOption(keylogOption());
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('start the test game server and three clients on loopback, and open the terminal UI on them')
    .option('--transport <tcp|ws>', 'tcp: the test game (protocols/testgame); ws: the WebSocket game (protocols/wsgame)', 'tcp')
    .option('--port <port>', 'the test game\'s TCP port (default: 24000, UDP the next one; with ws 24080)')
    .action(async (o: { transport: string; port?: string }) => {
      if (o.transport !== 'tcp' && o.transport !== 'ws') throw new GamesniffError('USAGE', `--transport must be tcp or ws, got "${o.transport}"`);
      const ws = o.transport === 'ws';
      const portText = o.port ?? String(ws ? WS_GAME_PORT : 24000);
      const port = Number(portText);
      if (!Number.isInteger(port) || port < 1 || port > 65534) throw new GamesniffError('USAGE', `--port must be a port number, got "${portText}"`);
      const protocolName = ws ? 'wsgame' : 'testgame';
      const protocol = protocolOption(protocolName)!;
      const server = ws ? new WsGameServer({ port, seed: 1 }) : new GameServer(protocol, { port, seed: 1 });
      try {
        await server.start();
      } catch (e) {
        if (e instanceof GamesniffError) throw e; // listenError: says what and the likely fix
        throw new GamesniffError('INPUT', `cannot start the test game server on 127.0.0.1:${port}: ${(e as Error).message} (is something else on it? try --port)`);
      }
      let stopping = false;
      const players = ['ann', 'ben', 'cat'].map(async (name, i) => {
        // Each player plays a short game, leaves, and comes back, so connections open and close.
        for (let game = 0; !stopping; game++) {
          await new Promise((r) => setTimeout(r, 400 + i * 300));
          if (stopping) break;
          const play = { port, name, seed: 100 * i + game, rounds: 30, interval: 200 + i * 50, timeout: 5000 };
          await (ws ? runWsGameClient(play) : runGameClient(protocol, play)).catch(() => undefined);
        }
      });
      try {
        await runTui({ port: [ws ? String(port) : `${port},${port + 1}`], protocol: protocolName, idleTimeout: '300' });
      } finally {
        stopping = true;
        await server.stop();
        await Promise.race([Promise.all(players), new Promise((r) => setTimeout(r, 1000))]);
      }
    });
}
