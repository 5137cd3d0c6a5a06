/**
 * A recording, decoded, as the ordered list of steps a replay walks through: connections opening,
 * messages (with their recorded frame and fields) and stream ends, in capture order.
 */
import type { Direction, Endpoint } from '../core/types';
import { UdpFlow, type TcpConnection } from '../flow/connection';
import type { Protocol, Transport } from '../protocol/protocol';
import type { EventRecord } from '../recording/format';
import { playRecording, RecordingPlayer } from '../recording/player';
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

/**
 * A recorded message as replay keeps it: its bytes, and its fields only when they cannot be
 * decoded again from the payload exactly (Message.redo): a long recording's decoded fields would
 * fill the memory, so they are decoded again each time they are asked for (once per message,
 * mostly). Views are kept as offsets where they lie in the frame.
 */
class RecordedMessage implements ScriptMessage {
  readonly conn: number;
  readonly transport: 'tcp' | 'udp';
  readonly dir: Direction;
  readonly index: number;
  readonly ts: number;
  readonly frame: Buffer;
  readonly header?: Record<string, unknown>;
  readonly unframed: boolean;
  readonly name?: string;
  readonly id?: number;
  readonly head?: Record<string, unknown>;
  readonly raw?: string;
  /** The wire bytes when they are not the frame's (a stream transform). */
  private readonly w: Buffer | null;
  /** The payload when it is not a part of the frame (a frame transform's output), else where it lies in the frame. */
  private readonly p: Buffer | null;
  private readonly ps: number;
  private readonly pl: number;
  private readonly held: Record<string, unknown> | undefined;
  private readonly redo: Transport | null;

  constructor(m: Message, transport: Transport | null) {
    this.conn = m.flow.id;
    this.transport = m.transport;
    this.dir = m.dir;
    this.index = m.index;
    this.ts = m.ts;
    const frame = m.frame;
    this.frame = frame;
    this.header = m.header;
    this.unframed = m.raw !== undefined;
    const wire = m.wire;
    this.w = sameView(wire, frame) ? null : wire;
    const payload = m.payload;
    if (payload.buffer === frame.buffer && payload.byteOffset >= frame.byteOffset && payload.byteOffset + payload.length <= frame.byteOffset + frame.length) {
      this.p = null;
      this.ps = payload.byteOffset - frame.byteOffset;
      this.pl = payload.length;
    } else {
      // an inflated payload is a view into zlib's 16 KiB chunk: a copy keeps only its bytes
      this.p = payload.buffer.byteLength > 2 * payload.length + 1024 ? Buffer.from(payload) : payload;
      this.ps = this.pl = 0;
    }
    this.redo = null;
    this.held = undefined;
    if (m.raw || m.error || !m.name) this.raw = m.raw ?? m.error?.message ?? `unknown message id ${m.id}`;
    else {
      this.name = m.name;
      this.id = m.id;
      this.head = m.head;
      // chill(): true when the fields decode again from the payload alone, exactly
      if (m.chill?.()) this.redo = transport;
      else this.held = m.fields;
    }
  }

  get fields(): Record<string, unknown> | undefined {
    return this.held ?? (this.redo ? this.redo.fieldsFor(this.name!, this.payload, this.dir, this.header) : undefined);
  }

  get payload(): Buffer {
    return this.p ?? this.frame.subarray(this.ps, this.ps + this.pl);
  }

  get wire(): Buffer {
    return this.w ?? this.frame;
  }
}

const sameView = (a: Buffer, b: Buffer): boolean => a === b || (a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length);

export type Step =
  | { kind: 'open'; conn: number; ts: number }
  | { kind: 'message'; m: ScriptMessage }
  | { kind: 'end'; conn: number; dir: Direction; how: 'fin' | 'rst'; ts: number };

export interface ReplayScript {
  protocol: Protocol;
  connections: Map<number, ScriptConnection>;
  /** In capture order. Streamed (streamScript): the steps decoded and not yet taken by the engine, which takes them out. */
  steps: Step[];
  /** Known once the whole recording is read. */
  read: RecordingReadResult;
  /** False while a streamed recording is still being read; absent: the steps are all there. */
  complete?: boolean;
}

type Keys = (flow: TcpConnection | UdpFlow) => Record<string, unknown> | undefined;

/** The decoder that turns a recording's records into `script`'s steps, as they are read. */
function scriptDecoder(script: ReplayScript, keys?: Keys, flows?: Map<number, TcpConnection | UdpFlow>): MessageDecoder {
  const { protocol, connections } = script;
  const add = (f: TcpConnection | UdpFlow, ts: number): void => {
    if (connections.has(f.id)) return;
    const transport = f instanceof UdpFlow ? 'udp' : 'tcp';
    connections.set(f.id, { conn: f.id, transport, client: f.client, server: f.server, gaps: 0, keys: keys?.(f) ?? f.keys });
    flows?.set(f.id, f);
    script.steps.push({ kind: 'open', conn: f.id, ts });
  };
  return new MessageDecoder(protocol, {
    open: add,
    message: (m: Message) => {
      add(m.flow, m.ts);
      // a connection's keys: the key log's, or those the recording holds (a keys record comes before the data it opens)
      const sc = connections.get(m.flow.id)!;
      if (!sc.keys || (!keys && sc.keys !== m.flow.keys)) sc.keys = keys?.(m.flow) ?? m.flow.keys;
      script.steps.push({ kind: 'message', m: new RecordedMessage(m, protocol.transport(m.transport) ?? null) });
    },
    gap: (c) => void (connections.get(c.id)!.gaps += 1),
    end: (c, dir, reason, ts) => {
      if (reason === 'fin' || reason === 'rst') script.steps.push({ kind: 'end', conn: c.id, dir, how: reason, ts });
    },
  }, { keys });
}

const emptyRead = (input: RecordingInput | string): RecordingReadResult => ({ header: typeof input === 'string' ? ({} as RecordingReadResult['header']) : input.header, records: 0, finished: false, fileBytes: 0 });

/** A recording (a path, or one opened with openRecording), decoded with `protocol`, as replay steps. `keys`: a key log's state for a connection. */
export async function loadScript(input: string | RecordingInput, protocol: Protocol, keys?: Keys): Promise<ReplayScript> {
  const script: ReplayScript = { protocol, connections: new Map(), steps: [], read: emptyRead(input) };
  const flows = new Map<number, TcpConnection | UdpFlow>();
  const { read } = await playRecording(input, scriptDecoder(script, keys, flows));
  script.read = read;
  // a connection's keys: the key log's, or those the recording holds (known by the end)
  for (const [id, f] of flows) script.connections.get(id)!.keys = keys?.(f) ?? f.keys;
  return script;
}

/** How many records are decoded at a time, between which the replay's sockets are served. */
const SLICE = 64;

/**
 * A recording read as the replay walks it, so that neither the whole recording's steps are held
 * nor their decoding waits before the first message goes out: records are decoded a slice at a
 * time while `wanted()` says the engine has few steps ahead of it (between slices the event loop
 * serves the sockets), and reading pauses meanwhile. `onSteps` is told after each slice;
 * `poke()` after the engine took steps. `done` settles once the whole recording is read
 * (`script.complete` is true then).
 */
export class ScriptStream {
  readonly script: ReplayScript;
  readonly done: Promise<RecordingReadResult>;
  onSteps: () => void = () => {};
  wanted: () => boolean = () => true;
  private readonly queue: EventRecord[] = [];
  private head = 0;
  private readonly player: RecordingPlayer;
  /** The reader waits on this for the queue to empty. */
  private drained: (() => void) | null = null;
  private pumping = false;

  constructor(input: RecordingInput, protocol: Protocol, keys?: Keys) {
    this.script = { protocol, connections: new Map(), steps: [], read: emptyRead(input), complete: false };
    this.player = new RecordingPlayer(scriptDecoder(this.script, keys));
    this.done = input
      .read((r) => void this.queue.push(r), { ready: () => this.whenDrained() })
      .then((read) => this.finish(read));
  }

  private whenDrained(): Promise<void> {
    this.poke();
    if (this.head >= this.queue.length) return Promise.resolve();
    return new Promise<void>((r) => (this.drained = r));
  }

  /** Decode more when the engine wants it (called after it took steps, and by the reader). */
  poke(): void {
    if (this.pumping || this.head >= this.queue.length || !this.wanted()) return;
    this.pumping = true;
    setImmediate(() => this.pump());
  }

  private pump(): void {
    this.pumping = false;
    const end = Math.min(this.queue.length, this.head + SLICE);
    while (this.head < end) this.player.record(this.queue[this.head++]!);
    if (this.head >= this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      const d = this.drained;
      this.drained = null;
      d?.();
    }
    this.onSteps();
    this.poke();
  }

  private async finish(read: RecordingReadResult): Promise<RecordingReadResult> {
    // what the reader gave last, all of it now
    while (this.head < this.queue.length) this.player.record(this.queue[this.head++]!);
    this.queue.length = 0;
    this.player.finish();
    this.script.read = read;
    this.script.complete = true;
    this.onSteps();
    return read;
  }
}
