import { Command } from 'commander';
import { endpointString } from '../core/types';
import { UdpFlow, type TcpConnection } from '../flow/connection';
import { closeInput } from '../input/open';
import { playRecording } from '../recording/player';
import { Coverage } from '../session/coverage';
import { clockTime } from '../session/format';
import { MessageDecoder } from '../session/messages';
import { print, printJson } from './output';
import { protocolForInput } from './protocol-option';
import { openRecordingArg } from './recording-arg';

type RecordingArg = Awaited<ReturnType<typeof openRecordingArg>>;

interface InfoOptions {
  protocol?: string;
  json?: boolean;
}

interface ConnectionInfo {
  conn: number;
  transport: 'tcp' | 'udp';
  client: string;
  server: string;
  start: number;
  end: number;
  bytes: [number, number];
  messages: [number, number];
  gaps: [number, number];
  state: string;
  /** Names of the keys the recording holds for it (from a key log at record time). */
  keys?: string[];
}

export function infoCommand(): Command {
  return new Command('info')
    .description('what a recording holds: source, protocol, duration, connections, bytes, messages per name')
    .argument('<file>', "a .gsrec recording ('-' for standard input)")
    .option('-p, --protocol <protocol>', 'decode with this protocol (default: the one the recording was made with)')
    .option('--json', 'one JSON object')
    .action(async (file: string, o: InfoOptions) => {
      const input = await openRecordingArg(file, 'for capture files, use streams or decode');
      try {
        await info(input, o);
      } finally {
        closeInput(input);
      }
    });
}

async function info(input: RecordingArg, o: InfoOptions): Promise<void> {
      const file = input.name;
      const protocol = protocolForInput(o.protocol, input);
      const conns = new Map<number, ConnectionInfo>();
      const coverage = new Coverage();
      const info = (f: TcpConnection | UdpFlow, transport: 'tcp' | 'udp', ts: number): ConnectionInfo => {
        let c = conns.get(f.id);
        if (!c) {
          c = { conn: f.id, transport, client: endpointString(f.client), server: endpointString(f.server), start: ts, end: ts, bytes: [0, 0], messages: [0, 0], gaps: [0, 0], state: 'open' };
          conns.set(f.id, c);
        }
        return c;
      };
      const decoder = new MessageDecoder(protocol, {
        message: (m) => {
          coverage.add(m);
          info(m.flow, m.transport, m.ts).messages[m.dir === 'c2s' ? 0 : 1]++;
        },
        open: (f, ts) => void info(f, f instanceof UdpFlow ? 'udp' : 'tcp', ts),
        gap: (f, dir, _n, _o, ts) => void info(f, 'tcp', ts).gaps[dir === 'c2s' ? 0 : 1]++,
        close: (f, ts) => {
          const udp = f instanceof UdpFlow;
          const c = info(f, udp ? 'udp' : 'tcp', ts);
          c.end = ts;
          c.state = udp ? f.end : f.state;
          c.bytes = udp ? [f.bytes[0], f.bytes[1]] : [f.c2s.stats.bytes, f.s2c.stats.bytes];
          if (f.keys) c.keys = Object.keys(f.keys);
        },
      });
      const { read, player } = await playRecording(input.recording, decoder);
      const h = read.header;
      const list = [...conns.values()].sort((a, b) => a.conn - b.conn);
      const first = Math.min(...list.map((c) => c.start));
      const last = player.lastTs;
      const total: [number, number] = [0, 0];
      for (const c of list) {
        total[0] += c.bytes[0];
        total[1] += c.bytes[1];
      }
      const protocolNote = !h.protocol ? null : !protocol ? 'not found' : protocol.hash === h.protocol.hash ? 'matches' : `differs from ${protocol.file}`;
      const embedded = h.protocol?.text !== undefined ? 'embedded' : 'by name only';
      if (o.json) {
        printJson({
            file,
            header: { ...h, protocol: h.protocol ? { name: h.protocol.name, hash: h.protocol.hash, embedded: h.protocol.text !== undefined } : null },
            protocolFile: protocolNote,
            decodedWith: protocol?.name ?? null,
            records: read.records,
            complete: read.finished && !read.warning,
            warning: read.warning ?? null,
            start: list.length ? first / 1e6 : null,
            duration: list.length ? (last - first) / 1e6 : 0,
            bytes: { c2s: total[0], s2c: total[1] },
            connections: list,
            coverage: coverage.toJSON(),
          });
        return;
      }
      const out: string[] = [];
      out.push(`${file}: gamesniff recording, format ${h.version}, written by gamesniff ${h.writer ?? '?'} on ${h.created}`);
      out.push(`source: ${h.source.kind} ${h.source.name}${h.source.ports?.length ? ` (ports ${h.source.ports.join(',')})` : ''}`);
      out.push(h.protocol ? `protocol: ${h.protocol.name} (sha256 ${h.protocol.hash.slice(0, 12)}…, ${embedded}; decoded with ${protocol?.file ?? 'nothing'}: ${protocolNote})` : 'protocol: none recorded');
      if (list.length) out.push(`time: ${clockTime(first)} to ${clockTime(last)}, ${((last - first) / 1e6).toFixed(3)} s`);
      out.push(`${player.connections} TCP connections, ${player.udpFlows} UDP flows; payload ${total[0]} bytes client to server, ${total[1]} bytes server to client; ${read.records} records`);
      for (const c of list) {
        out.push(
          `  #${c.conn} ${c.transport} ${c.client} -> ${c.server}  ${((c.end - c.start) / 1e6).toFixed(3)} s  ` +
            `c2s ${c.bytes[0]} B${protocol ? ` ${c.messages[0]} msgs` : ''}  s2c ${c.bytes[1]} B${protocol ? ` ${c.messages[1]} msgs` : ''}` +
            (c.gaps[0] + c.gaps[1] ? `  gaps ${c.gaps[0]}/${c.gaps[1]}` : '') +
            (c.keys ? `  keys ${c.keys.join(',')}` : '') +
            `  ${c.state}`,
        );
      }
      if (protocol) out.push(...coverage.report().map((l, i) => (i === 0 ? `decoded with ${protocol.name}: ${l.replace(/^coverage: /, '')}` : l)));
      if (read.warning) out.push(`warning: ${read.warning}`);
      print(out.join('\n'));
}
