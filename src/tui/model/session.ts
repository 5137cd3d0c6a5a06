/**
 * The TUI's state, with no terminal code: connections, every message, the filtered view, the
 * selection and follow mode, the focused pane, pause, figures for the status bar. Fed as a
 * MessageSink; commands are plain methods. Renderers (../render.ts) turn it into lines.
 */
import type { Direction, StreamEnd } from '../../core/types';
import { endpointString } from '../../core/types';
import { UdpFlow, type TcpConnection } from '../../flow/connection';
import type { Protocol } from '../../protocol/protocol';
import type { Span } from '../../protocol/runtime';
import type { GapReason } from '../../reassembly/assembler';
import type { Message, MessageSink } from '../../session/messages';
import { compileFilter, type MessageFilter } from './filter';
import { WS_MESSAGES } from '../../framing/websocket';

export type Pane = 'messages' | 'connections' | 'details';

export interface ConnEntry {
  id: number;
  transport: 'tcp' | 'udp';
  client: string;
  server: string;
  state: string;
  bytes: [number, number];
  messages: [number, number];
  gaps: number;
  gapBytes: number;
  firstTs: number;
  lastTs: number;
}

export interface SourceFigures {
  source: string;
  packets: number;
  bytes: number;
  drops: number;
  /** Set while `r` records: the file and its size. */
  recording: { file: string; bytes: number } | null;
  /** False when the input is a file that has been read to its end. */
  live: boolean;
}

export interface SessionModelOptions {
  /** Keep message bytes (body, frame, spans) for this many most recent messages; older ones keep their fields only. */
  keepBytes?: number;
}

export class SessionModel implements MessageSink {
  readonly messages: Message[] = [];
  readonly connections = new Map<number, ConnEntry>();
  /** Indices into `messages` that pass the filter, in order. */
  view: number[] = [];
  filter: MessageFilter | null = null;
  filterError: string | null = null;
  /** Index into `view` of the selected message, -1 when none. */
  selected = -1;
  /** First visible row of the message list. */
  top = 0;
  follow = true;
  paused = false;
  pane: Pane = 'messages';
  /** Selected connection (connections pane), an index into the connection list. */
  connSelected = 0;
  /** Selected field line in the details pane. */
  fieldSelected = 0;
  gaps = 0;
  figures: SourceFigures = { source: '', packets: 0, bytes: 0, drops: 0, recording: null, live: true };
  messagesPerSecond = 0;
  showHelp = false;
  private counted = 0;
  private rateAt = -1;
  private readonly keepBytes: number;
  private bytesDroppedBefore = 0;

  /** The names a filter may use as message names: the protocol's, and its layers' own (WebSocket's). */
  private readonly messageNames: ReadonlySet<string>;

  constructor(
    readonly protocol: Protocol | null,
    opts: SessionModelOptions = {},
  ) {
    this.keepBytes = opts.keepBytes ?? 200_000;
    const names = new Set(protocol?.messages.map((m) => m.def.name) ?? []);
    if (protocol?.tcp?.def.websocket) for (const n of WS_MESSAGES) names.add(n);
    this.messageNames = names;
  }

  // ---- MessageSink ----

  message(m: Message): void {
    const c = this.conn(m.flow, m.ts);
    const d = m.dir === 'c2s' ? 0 : 1;
    c.messages[d]++;
    c.bytes[d] += m.size;
    c.lastTs = m.ts;
    this.messages.push(m);
    this.dropOldBytes();
    if (!this.paused) this.include(this.messages.length - 1);
  }

  open(flow: TcpConnection | UdpFlow, ts: number): void {
    this.conn(flow, ts);
  }

  gap(flow: TcpConnection, _dir: Direction, length: number, _offset: number, ts: number, _reason: GapReason): void {
    const c = this.conn(flow, ts);
    c.gaps++;
    c.gapBytes += length;
    this.gaps++;
  }

  end(flow: TcpConnection, _dir: Direction, _reason: StreamEnd, ts: number): void {
    this.conn(flow, ts).state = flow.state;
  }

  close(flow: TcpConnection | UdpFlow, ts: number): void {
    const c = this.conn(flow, ts);
    c.state = flow instanceof UdpFlow ? 'closed' : flow.state;
    c.lastTs = ts;
  }

  private conn(flow: TcpConnection | UdpFlow, ts: number): ConnEntry {
    let c = this.connections.get(flow.id);
    if (!c) {
      const udp = flow instanceof UdpFlow;
      c = { id: flow.id, transport: udp ? 'udp' : 'tcp', client: endpointString(flow.client), server: endpointString(flow.server), state: udp ? 'open' : flow.state, bytes: [0, 0], messages: [0, 0], gaps: 0, gapBytes: 0, firstTs: ts, lastTs: ts };
      this.connections.set(flow.id, c);
    } else if (!(flow instanceof UdpFlow) && c.state !== 'closed' && c.state !== 'reset') {
      c.state = flow.state;
    }
    return c;
  }

  /** Bounded memory: old messages keep their fields but not their bytes (a recording keeps those). */
  private dropOldBytes(): void {
    const limit = this.messages.length - this.keepBytes;
    for (; this.bytesDroppedBefore < limit; this.bytesDroppedBefore++) {
      const m = this.messages[this.bytesDroppedBefore]!;
      m.payload = EMPTY;
      m.frame = EMPTY;
      m.wire = EMPTY;
      m.spans = undefined;
    }
  }

  bytesDropped(m: Message): boolean {
    return m.payload === EMPTY && m.size > 0;
  }

  private include(i: number): void {
    if (this.filter && !this.filter.test(this.messages[i]!)) return;
    this.view.push(i);
    if (this.follow) this.selected = this.view.length - 1;
  }

  // ---- commands ----

  selectedMessage(): Message | null {
    const i = this.view[this.selected];
    return i === undefined ? null : this.messages[i]!;
  }

  /** Move the selection in the focused pane by `n` rows (negative: up). Moving up in the message list stops following. */
  move(n: number): void {
    if (this.pane === 'connections') {
      this.connSelected = clamp(this.connSelected + n, 0, this.connections.size - 1);
      return;
    }
    if (this.pane === 'details') {
      this.fieldSelected = Math.max(0, this.fieldSelected + n);
      return;
    }
    if (this.view.length === 0) return;
    this.selected = clamp(this.selected + n, 0, this.view.length - 1);
    this.fieldSelected = 0;
    this.follow = this.selected === this.view.length - 1 && n > 0 ? this.follow : false;
  }

  first(): void {
    if (this.pane === 'messages' && this.view.length) {
      this.selected = 0;
      this.follow = false;
    } else this.move(-Infinity);
  }

  last(): void {
    if (this.pane === 'messages' && this.view.length) {
      this.selected = this.view.length - 1;
      this.follow = true;
    } else this.move(Infinity);
  }

  toggleFollow(): void {
    this.follow = !this.follow;
    if (this.follow && this.view.length) this.selected = this.view.length - 1;
  }

  togglePause(): void {
    this.paused = !this.paused;
    if (!this.paused) this.rebuildView();
  }

  nextPane(): void {
    const order: Pane[] = ['messages', 'details', 'connections'];
    this.pane = order[(order.indexOf(this.pane) + 1) % order.length]!;
    // inspecting a message: it stays put while more arrive
    if (this.pane === 'details') this.follow = false;
  }

  /** Set the filter; a bad expression leaves the old one and says why. */
  setFilter(text: string): boolean {
    let f: MessageFilter | null;
    try {
      f = compileFilter(text, this.messageNames);
    } catch (e) {
      const pos = (e as { pos?: number }).pos;
      this.filterError = `filter: ${(e as Error).message}${pos !== undefined ? ` at column ${pos + 1}` : ''}`;
      return false;
    }
    this.filterError = null;
    const keep = this.selectedMessage();
    this.filter = f;
    this.rebuildView(keep);
    return true;
  }

  /** The filter for the connection selected in the connections pane. */
  filterSelectedConnection(): void {
    const c = [...this.connections.values()][this.connSelected];
    if (c) this.setFilter(`conn == ${c.id}${c.transport === 'udp' ? ' && transport == "udp"' : ' && transport == "tcp"'}`);
    this.pane = 'messages';
  }

  private rebuildView(keep: Message | null = this.selectedMessage()): void {
    const f = this.filter;
    const view: number[] = [];
    for (let i = 0; i < this.messages.length; i++) if (!f || f.test(this.messages[i]!)) view.push(i);
    this.view = view;
    if (this.follow || !keep) this.selected = view.length - 1;
    else {
      const at = this.messages.indexOf(keep);
      // The kept message, or the nearest one before it that passes.
      let lo = 0;
      let hi = view.length - 1;
      let best = view.length ? 0 : -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (view[mid]! <= at) {
          best = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      this.selected = best;
    }
  }

  /** Keep the selection inside a list `height` rows high; returns the first visible row. */
  scrollTo(height: number): number {
    if (height <= 0) return this.top;
    if (this.selected < this.top) this.top = Math.max(0, this.selected);
    else if (this.selected >= this.top + height) this.top = this.selected - height + 1;
    this.top = clamp(this.top, 0, Math.max(0, this.view.length - height));
    return this.top;
  }

  /** Once per screen update: messages per second over wall time. */
  tick(nowMs: number): void {
    if (this.rateAt < 0) {
      this.rateAt = nowMs;
      this.counted = this.messages.length;
      return;
    }
    const dt = nowMs - this.rateAt;
    if (dt >= 1000) {
      this.messagesPerSecond = ((this.messages.length - this.counted) * 1000) / dt;
      this.rateAt = nowMs;
      this.counted = this.messages.length;
    }
  }

  /** Spans of the selected message: kept ones, or computed now from its bytes. */
  spansOf(m: Message): Span[] {
    if (m.spans) return m.spans;
    if (!m.name || !this.protocol || this.bytesDropped(m)) return [];
    const t = this.protocol.transport(m.transport);
    m.spans = t ? t.spansFor(m.name, m.payload, undefined, m.dir, m.head, m.header) : [];
    return m.spans;
  }
}

const EMPTY = Buffer.alloc(0);

function clamp(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, v));
}
