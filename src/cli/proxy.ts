import { Command } from 'commander';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { GamesniffError } from '../core/errors';
import { FlowTee } from '../flow/tee';
import { parseHostPort, type HostPort } from '../client/net';
import { Proxy } from '../proxy/proxy';
import { loadScript } from '../proxy/load-script';
import { Recorder, RecordingWriter } from '../recording/writer';
import { Coverage } from '../session/coverage';
import { MessageDecoder } from '../session/messages';
import { stopOnSignal } from './common';
import { messageText } from './decode';
import { keylogOption, keysFromLog } from './keylog-option';
import { LineWriter, say } from './output';
import { protocolOption } from './protocol-option';
import type { Direction } from '../core/types';
import { escapeJson, escapeText } from '../core/terminal';
import { messageTemplate } from '../protocol/template';
import { DEFAULT_LIMITS, FULL, messageJson, toJsonValue } from '../session/format';
import type { InterceptHooks } from '../tui/screen';
import { runTuiOnSource } from './tui';
import { DEFAULT_WINDOW } from '../tui/model/session';

interface ProxyCliOptions {
  listen: string;
  target?: string;
  protocol?: string;
  udpListen?: string;
  udpTarget?: string;
  udp?: boolean;
  script?: string;
  json?: boolean;
  output?: string;
  keylog?: string;
  duration?: string;
  keep?: string;
}

/** `[HOST:]PORT` (host 127.0.0.1 when left out), or `HOST:PORT` when the host is required. */
export function hostPort(what: string, v: string, hostRequired = false): HostPort {
  if (hostRequired && !v.includes(':')) throw new GamesniffError('USAGE', `${what} "${v}": expected HOST:PORT (e.g. game.example.com:24000)`);
  return parseHostPort(v, what);
}

export function proxyCommand(): Command {
  return new Command('proxy')
    .description('a man-in-the-middle proxy: point the game client here; decode, show, record and script what passes (no root needed)')
    .option('--listen <[host:]port>', 'where the game client connects', '127.0.0.1:24000')
    .option('--target <host:port>', 'the real server')
    .option('-p, --protocol <protocol>', 'decode with this protocol (without it, bytes pass as they come)')
    .option('--udp-listen <[host:]port>', 'UDP: where the client sends datagrams (default: the --listen port + 1, when the protocol has UDP)')
    .option('--udp-target <host:port>', "UDP: the server's address (default: the --target port + 1)")
    .option('--no-udp', 'no UDP proxy even though the protocol has UDP')
    .option('--script <file>', 'hooks run on every connection and message (a .ts or .js module: onConnect, onMessage, onClose)')
    .option('--json', 'one JSON object a line per message instead of the terminal UI')
    .option('-o, --output <file>', 'record what passes to this .gsrec (as record does)')
    .option('--duration <s>', 'stop after this many seconds (default: until Ctrl-C or q)')
    .option('--keep <messages>', 'the UI keeps this many most recent messages whole in memory; older ones are read back from a spill file in the temp directory when shown', String(DEFAULT_WINDOW))
    .addOption(keylogOption())
    .action(async (o: ProxyCliOptions) => {
      if (!o.target) throw new GamesniffError('USAGE', 'give --target HOST:PORT: the real server the proxy connects to');
      const listen = hostPort('--listen', o.listen);
      const target = hostPort('--target', o.target, true);
      const protocol = protocolOption(o.protocol);
      const udp =
        protocol?.udp && o.udp !== false
          ? {
              listen: o.udpListen ? hostPort('--udp-listen', o.udpListen) : { host: listen.host, port: listen.port === 0 ? 0 : listen.port + 1 },
              target: o.udpTarget ? hostPort('--udp-target', o.udpTarget, true) : { host: target.host, port: target.port + 1 },
            }
          : null;
      if ((o.udpListen || o.udpTarget) && !udp) throw new GamesniffError('USAGE', !protocol ? '--udp-listen/--udp-target: give -p PROTOCOL with a udp section' : protocol.udp ? '--udp-listen/--udp-target with --no-udp' : `--udp-listen/--udp-target: protocol ${protocol.name} has no udp section`);
      const duration = o.duration === undefined ? undefined : Number(o.duration);
      if (duration !== undefined && !(duration > 0)) throw new GamesniffError('USAGE', `--duration must be a number of seconds, got "${o.duration}"`);
      const script = o.script ? loadScript(o.script) : null;
      const tui = !o.json && process.stdout.isTTY && process.stdin.isTTY;
      const logLines: string[] = [];
      // the UI can hold and edit messages: they go through the conversations even without a script
      // in the UI, the last lines are kept (and said when it closes): a script that throws on every message cannot fill memory
      const log = (l: string): void => {
        if (!tui) return say(l);
        logLines.push(l);
        if (logLines.length > 50) logLines.shift();
      };
      const proxy = new Proxy({ protocol, listen, target, udp, script, keylog: o.keylog, messageLevel: tui && !!protocol, log });
      const tee = new FlowTee([]);
      let recording: { writer: RecordingWriter; recorder: Recorder } | null = null;
      if (o.output) {
        try {
          mkdirSync(dirname(o.output), { recursive: true });
        } catch (e) {
          throw new GamesniffError('INPUT', `cannot write the recording ${o.output}: ${(e as Error).message}`);
        }
        const writer = new RecordingWriter(o.output, {
          protocol: protocol ? { name: protocol.name, hash: protocol.hash, text: protocol.text } : null,
          source: { kind: 'live', name: `proxy ${listen.host}:${listen.port} -> ${target.host}:${target.port}`, ports: [target.port, ...(udp ? [udp.target.port] : [])] },
        });
        recording = { writer, recorder: new Recorder(writer, keysFromLog(o.keylog)) };
        tee.add(recording.recorder);
      }
      try {
        await proxy.start();
      } catch (e) {
        if (recording) {
          recording.writer.close();
          rmSync(recording.writer.path, { force: true });
        }
        throw e;
      }
      const name = `proxy ${listen.host}:${proxy.port}${udp ? ` (udp ${proxy.udpPort})` : ''} -> ${target.host}:${target.port}${udp ? ` (udp ${udp.target.port})` : ''}`;
      say(`${name}${protocol ? `, protocol ${protocol.name}` : ''}${script ? `, script ${o.script}` : ''}${o.output ? `, recording to ${o.output}` : ''}`);
      const timer = duration ? setTimeout(() => void proxy.stop(), duration * 1000) : null;
      const coverage = new Coverage();
      try {
        if (tui) {
          proxy.attach(tee);
          await runTuiOnSource({ port: [], keep: o.keep, protocol: o.protocol, keylog: o.keylog }, {
            protocol,
            start: (listener) => {
              tee.add(listener);
              return { name, run: () => proxy.done, stop: () => void proxy.stop() };
            },
            intercept: protocol ? interceptHooks(proxy) : undefined,
          });
          await proxy.stop();
        } else {
          // lines leave in batches, at least every 100 ms: printing must not slow what passes
          const lines = new LineWriter(65536, !!o.json);
          const flusher = setInterval(() => lines.flush(), 100);
          flusher.unref();
          proxy.done.then(() => clearInterval(flusher));
          if (protocol) {
            tee.add(
              new MessageDecoder(protocol, {
                message: (m) => {
                  coverage.add(m);
                  lines.line(o.json ? JSON.stringify(messageJson(m, false, DEFAULT_LIMITS)) : messageText(m));
                },
              }, { keys: keysFromLog(o.keylog) }),
            );
          }
          proxy.attach(tee);
          const release = stopOnSignal(proxy);
          try {
            await proxy.done;
          } finally {
            release();
          }
          lines.flush();
        }
      } finally {
        if (timer) clearTimeout(timer);
        // the connections' last events (closes) come as the sockets end
        await new Promise((r) => setTimeout(r, 50));
        if (recording) {
          recording.writer.finish(recording.recorder.lastTs, { connections: proxy.stats.connections });
          recording.writer.close();
        }
      }
      const s = proxy.stats;
      for (const l of tui ? logLines.slice(-20) : []) say(l);
      say(`${name}: ${s.connections} connections, ${s.messages} messages passed (${s.modified} modified, ${s.dropped} dropped, ${s.injected} injected), ${s.scriptErrors} script errors, ${s.refused} refused by the server${s.datagramsDropped ? `, ${s.datagramsDropped} datagrams dropped` : ''}`);
      if (recording) say(`recorded ${recording.recorder.connections} TCP connections, ${recording.recorder.udpFlows} UDP flows to ${o.output}`);
    });
}

const CYCLE: Direction[][] = [['c2s'], ['s2c'], ['c2s', 's2c'], []];

/** The UI's intercept keys on a proxy: hold, send as is or edited (JSON), drop, compose from a template. */
export function interceptHooks(proxy: Proxy): InterceptHooks {
  let at = CYCLE.length - 1;
  const json = (v: unknown): string => escapeJson(JSON.stringify(toJsonValue(v, FULL)));
  const parse = (text: string): Record<string, unknown> | string => {
    try {
      const v = JSON.parse(text) as unknown;
      return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : 'the fields must be a JSON object';
    } catch (e) {
      return `not JSON: ${(e as Error).message}`;
    }
  };
  const spec = (text: string): { dir: Direction; name: string } | string => {
    const m = /^\s*(c2s|s2c)\s+([A-Za-z_][A-Za-z0-9_.]*)\s*$/.exec(text);
    return m ? { dir: m[1] as Direction, name: m[2]! } : 'expected DIR NAME, e.g. c2s chat';
  };
  return {
    cycle() {
      at = (at + 1) % CYCLE.length;
      proxy.setIntercept(CYCLE[at]!);
      return CYCLE[at]!.length ? `holding ${CYCLE[at]!.join(' and ')} messages: a sends, E edits, x drops` : 'intercept off: held messages went on';
    },
    status() {
      const dirs = CYCLE[at]!;
      if (!dirs.length && !proxy.held.length) return '';
      const h = proxy.held[0];
      return `[hold ${dirs.join('+') || 'off'}: ${proxy.held.length} held${h ? `; next #${h.conn} ${h.dir} ${escapeText(h.label)}` : ''}]`;
    },
    oldest() {
      const h = proxy.held[0];
      return h ? { label: `#${h.conn} ${h.dir} ${escapeText(h.label)}`, json: json(h.fields) } : null;
    },
    accept(text) {
      const h = proxy.held[0];
      if (!h) return 'nothing is held';
      if (text === undefined) {
        proxy.decide(h, null);
        return `sent ${escapeText(h.label)} as it was`;
      }
      const f = parse(text);
      if (typeof f === 'string') return `${f}; ${escapeText(h.label)} is still held`;
      proxy.decide(h, f);
      return `sent ${escapeText(h.label)} with your fields`;
    },
    drop() {
      const h = proxy.held[0];
      if (!h) return 'nothing is held';
      proxy.decide(h, 'drop');
      return `dropped ${escapeText(h.label)}`;
    },
    template(text) {
      const sp = spec(text);
      if (typeof sp === 'string') return sp;
      const t = proxy.o.protocol ? messageTemplate(proxy.o.protocol, sp.name, sp.dir) : null;
      return t ? { json: json(t) } : `no ${sp.dir} message ${escapeText(sp.name)}`;
    },
    send(text, fieldsText) {
      const sp = spec(text);
      if (typeof sp === 'string') return sp;
      const f = parse(fieldsText);
      if (typeof f === 'string') return f;
      const why = proxy.inject(null, sp.dir, sp.name, f);
      return why ?? `sent ${sp.dir} ${escapeText(sp.name)}`;
    },
  };
}

