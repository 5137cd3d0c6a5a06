/**
 * A recording, decoded, as the ordered list of steps a replay walks through: connections opening,
 * messages (with their recorded frame and fields) and stream ends, in capture order.
 */
import type { Direction, Endpoint } from '../core/types';
import { UdpFlow, type TcpConnection } from '../flow/connection';
import type { Protocol } from '../protocol/protocol';
import { playRecording } from '../recording/player';
import type { RecordingInput, RecordingReadResult } from '../recording/reader';
import { MessageDecoder, type Message } from '../session/messages';

export interface ScriptConnection {
  conn: number;
  transport: 'tcp' | 'udp';
  client: Endpoint;
  server: Endpoint;
  /** Recorded gaps: bytes the replay cannot send or expect. */
  gaps: number;
  /** State the recorded connection started with that its traffic does not show (keys from a key log). */
  keys?: Record<string, unknown>;
}

export interface ScriptMessage {
  conn: number;
  transport: 'tcp' | 'udp';
  dir: Direction;
  /** Per connection and direction, from 0 (as `decode` numbers them). */
  index: number;
  ts: number;
  name?: string;
  fields?: Record<string, unknown>;
  /** The frame as recorded, header included, after the stream transforms (a cipher): what replay sends again through them. */
  frame: Buffer;
  /** What the fields were decoded from (after the frame's transforms): to encode a rewrite again. */
  payload: Buffer;
  id?: number;
  head?: Record<string, unknown>;
  header?: Record<string, unknown>;
  /** The bytes as captured. */
  wire: Buffer;
  /** Set when the recorded bytes did not frame or decode: they are replayed and compared as bytes. */
  raw?: string;
  /** The bytes did not even frame: they are sent as bytes, not as a frame. */
  unframed: boolean;
}

export type Step =
  | { kind: 'open'; conn: number; ts: number }
  | { kind: 'message'; m: ScriptMessage }
  | { kind: 'end'; conn: number; dir: Direction; how: 'fin' | 'rst'; ts: number };

export interface ReplayScript {
  protocol: Protocol;
  connections: Map<number, ScriptConnection>;
  steps: Step[];
  read: RecordingReadResult;
}

/** A recording (a path, or one opened with openRecording), decoded with `protocol`, as replay steps. `keys`: a key log's state for a connection. */
export async function loadScript(input: string | RecordingInput, protocol: Protocol, keys?: (flow: TcpConnection | UdpFlow) => Record<string, unknown> | undefined): Promise<ReplayScript> {
  const connections = new Map<number, ScriptConnection>();
  const flows = new Map<number, TcpConnection | UdpFlow>();
  const steps: Step[] = [];
  const add = (f: TcpConnection | UdpFlow, ts: number): void => {
    if (connections.has(f.id)) return;
    const transport = f instanceof UdpFlow ? 'udp' : 'tcp';
    connections.set(f.id, { conn: f.id, transport, client: f.client, server: f.server, gaps: 0 });
    flows.set(f.id, f);
    steps.push({ kind: 'open', conn: f.id, ts });
  };
  const decoder = new MessageDecoder(protocol, {
    open: add,
    message: (m: Message) => {
      add(m.flow, m.ts);
      const sm: ScriptMessage = { conn: m.flow.id, transport: m.transport, dir: m.dir, index: m.index, ts: m.ts, frame: m.frame, payload: m.payload, wire: m.wire, header: m.header, unframed: m.raw !== undefined };
      if (m.raw || m.error || !m.name) sm.raw = m.raw ?? m.error?.message ?? `unknown message id ${m.id}`;
      else {
        sm.name = m.name;
        sm.fields = m.fields;
        sm.id = m.id;
        sm.head = m.head;
      }
      steps.push({ kind: 'message', m: sm });
    },
    gap: (c) => void (connections.get(c.id)!.gaps += 1),
    end: (c, dir, reason, ts) => {
      if (reason === 'fin' || reason === 'rst') steps.push({ kind: 'end', conn: c.id, dir, how: reason, ts });
    },
  }, { keys });
  const { read } = await playRecording(input, decoder);
  // a connection's keys: the key log's, or those the recording holds (known by the end)
  for (const [id, f] of flows) connections.get(id)!.keys = keys?.(f) ?? f.keys;
  return { protocol, connections, steps, read };
}
