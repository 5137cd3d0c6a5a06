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
import type { Message, MessageSink, RedecodeFlow } from '../../session/messages';
import { compileFilter, type MessageFilter } from './filter';
import { diffValues } from '../../protocol/diff';
import { valueAt } from '../../replay/match';
import { Coverage } from '../../session/coverage';
import { clockTime, FULL, messageDetail, summarize, toJsonValue } from '../../session/format';
import { WS_MESSAGES } from '../../framing/websocket';
import { vectorEntry, vectorName, vectorProblem } from '../../session/vector-entry';
import { bytesPerRow, hexRows } from './hex';
import { inspect, type Inspection } from './inspect';
import { inferFields, type Sample } from '../../infer/fields';
import { fieldsYaml, messageName } from '../../infer/draft';
import { readCounter } from '../../framing/counter';
import { EMPTY, MessageLog } from './log';
import { IndexList } from './index-list';

export type Pane = 'messages' | 'connections' | 'details';

/**
 * Messages kept whole in memory by default: many screenfuls. Not more: each holds views of the
 * delivery or capture batch it came in (many times its own size); older ones are made again from
 * the spill file in microseconds.
 */
export const DEFAULT_WINDOW = 2000;

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
  /**
   * Keep this many most recent messages whole in memory (default DEFAULT_WINDOW). Older ones are made
   * again from a spill file when shown, their fields decoded again from their bytes; those whose
   * fields cannot be had that way (they read the state) keep their fields and lose their bytes.
   */
  keepBytes?: number;
}

export class SessionModel implements MessageSink {
  /** Every message: the newest `keepBytes` as objects, the others in a spill file (see MessageLog). */
  messages: MessageLog;
  readonly connections = new Map<number, ConnEntry>();
  /** Indices into `messages` that pass the filter, in order. */
  view = new IndexList(true);
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

  /** The names a filter may use as message names: the protocol's, and its layers' own (WebSocket's). */
  private messageNames: ReadonlySet<string>;

  constructor(
    public protocol: Protocol | null,
    opts: SessionModelOptions = {},
  ) {
    this.keepBytes = opts.keepBytes ?? DEFAULT_WINDOW;
    this.messages = new MessageLog(this.keepBytes);
    this.messageNames = namesOf(protocol);
  }

  /**
   * For a protocol reloaded: each flow whose messages all still have their bytes, as the bytes so
   * far in order (to decode again); the messages of the others, kept as they were decoded.
   */
  redecodeInput(): { flows: RedecodeFlow[]; kept: Message[] } {
    const byFlow = new Map<object, Message[]>();
    for (const m of this.messages) {
      const list = byFlow.get(m.flow);
      if (list) list.push(m);
      else byFlow.set(m.flow, [m]);
    }
    const flows: RedecodeFlow[] = [];
    const kept: Message[] = [];
    for (const [flow, list] of byFlow) {
      if (list.some((m) => this.bytesDropped(m)) || !contiguous(list)) {
        kept.push(...list);
        continue;
      }
      const first = (d: Direction) => list.find((m) => m.dir === d)?.offset ?? 0;
      flows.push({ flow: flow as TcpConnection | UdpFlow, chunks: list.map((m) => ({ dir: m.dir, bytes: m.wire, offset: m.offset, ts: m.ts })), start: { c2s: first('c2s'), s2c: first('s2c') } });
    }
    return { flows, kept };
  }

  /** The messages decoded again with `protocol` (and those kept): the view, marks and selection follow them. Returns what to say. */
  reload(protocol: Protocol, fresh: Message[], kept: Message[]): string {
    const key = (m: Message) => `${m.flow.id}/${m.transport}/${m.dir}/${m.offset}`;
    const sel = this.selectedMessage();
    const selKey = sel ? key(sel) : null;
    const markKeys = new Set([...this.marks].map((i) => key(this.messages.at(i)!)));
    const all = [...fresh, ...kept].sort((a, b) => a.ts - b.ts);
    this.protocol = protocol;
    this.messageNames = namesOf(protocol);
    this.messages.close();
    this.messages = new MessageLog(this.keepBytes);
    for (const m of all) this.messages.push(m);
    this.coverage = new Coverage();
    for (const m of all) this.coverage.add(m);
    this.marks.clear();
    all.forEach((m, i) => markKeys.has(key(m)) && this.marks.add(i));
    let note = '';
    if (this.filter && !this.setFilter(this.filter.text)) {
      note = `; the filter no longer applies (${this.filterError})`;
      this.filter = null;
    }
    const at = selKey ? all.findIndex((m) => key(m) === selKey) : -1;
    this.rebuildView(at);
    const failed = fresh.filter((m) => m.raw !== undefined || m.error).length;
    return `reloaded ${protocol.name}: ${fresh.length} messages decoded again${failed ? `, ${failed} do not decode` : ''}${kept.length ? `, ${kept.length} kept as they were (their bytes left the view, or are not one run)` : ''}${note}`;
  }

  // ---- MessageSink ----

  message(m: Message): void {
    const c = this.conn(m.flow, m.ts);
    const d = m.dir === 'c2s' ? 0 : 1;
    c.messages[d]++;
    c.bytes[d] += m.size;
    c.lastTs = m.ts;
    this.messages.push(m);
    this.coverage.add(m);
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

  /**
   * What the session holds in memory that grows with it: message objects (the window, those held
   * for their fields, those made again lately), and message numbers stored for the view. Neither
   * grows with the number of messages past the window (the spill file does).
   */
  retained(): { objects: number; viewNumbers: number; spillBytes: number } {
    const o = this.messages.objects();
    return { objects: o.window + o.held + o.cached, viewNumbers: this.view.stored, spillBytes: o.spillBytes };
  }

  bytesDropped(m: Message): boolean {
    return m.payload === EMPTY && m.size > 0;
  }

  private include(i: number): void {
    // a filter under way reaches this message too
    if (this.pending) return;
    if (this.filter && !this.filter.test(this.messages.at(i)!)) return;
    this.view.push(i);
    if (this.follow) this.selected = this.view.length - 1;
  }

  // ---- analyst tools: search, marks, diff, go to, export formats, statistics ----

  /** Messages marked with `m` (indices into `messages`). */
  readonly marks = new Set<number>();
  /** The last search, for n and N. */
  search: string | null = null;
  /** What the details pane shows instead of the selected message (a diff, statistics), until a key closes it. */
  overlay: { title: string; lines: string[] } | null = null;
  /** Every message counted by name, direction, size and error (the statistics overlay). */
  coverage = new Coverage();

  /**
   * The connections pane's order: open connections first, the most recently active first, then
   * closed ones likewise, so live traffic is on top however many came and went before.
   */
  connectionList(): ConnEntry[] {
    const open = (c: ConnEntry) => c.state !== 'closed' && c.state !== 'reset';
    return [...this.connections.values()].sort((a, b) => Number(open(b)) - Number(open(a)) || b.lastTs - a.lastTs || a.id - b.id);
  }

  /** How the list shows time: the clock, seconds since the first message, or since the first mark. */
  timeMode: 'clock' | 'first' | 'mark' = 'clock';

  cycleTime(): string {
    this.timeMode = this.timeMode === 'clock' ? 'first' : this.timeMode === 'first' ? 'mark' : 'clock';
    if (this.timeMode === 'mark' && this.marks.size === 0) this.timeMode = 'clock';
    return this.timeMode === 'clock' ? 'time: the clock' : this.timeMode === 'first' ? 'time: seconds since the first message' : 'time: seconds since the first mark';
  }

  /** A message's time as the list shows it. */
  timeOf(m: Message): string {
    if (this.timeMode === 'clock') return clockTime(m.ts);
    const base = this.timeMode === 'first' ? this.messages.at(0)?.ts : this.messages.at(Math.min(...this.marks))?.ts;
    if (base === undefined) return clockTime(m.ts);
    const d = (m.ts - base) / 1e6;
    return `${d >= 0 ? '+' : '-'}${Math.abs(d).toFixed(6)}`;
  }

  /** How follow stream lays the two directions out: one after the other, or side by side (client left, server right). */
  followLayout: 'interleaved' | 'side' = 'interleaved';

  /**
   * Follow stream: one connection's messages in order, both directions, each with its name and
   * its bytes as hex and ASCII, and the gaps between them with their size. Side by side, the
   * server's messages are in a column of their own, `width / 2` to the right.
   */
  followStream(maxLinesPerMessage = 16, width = 160): string {
    const sel = this.selectedMessage();
    if (!sel) return 'no message selected';
    const flow = sel.flow;
    const side = this.followLayout === 'side';
    const half = Math.max(24, Math.floor(width / 2));
    const per = side ? bytesPerRow(half - 6) : 16;
    const lines: string[] = [];
    const next = { c2s: -1, s2c: -1 };
    let bytes = 0;
    const put = (dir: Direction, text: string): void => {
      lines.push(side && dir === 's2c' ? `${' '.repeat(half)}${text}` : text);
    };
    for (let i = 0; i < this.messages.length; i++) {
      // the flow alone first: most messages are another connection's, and need not be made again
      if (this.messages.flowOf(i) !== flow) continue;
      const m = this.messages.peek(i)!;
      const arrow = m.dir === 'c2s' ? '->' : '<-';
      if (m.transport === 'tcp' && next[m.dir] >= 0 && m.offset > next[m.dir]) put(m.dir, `   ${arrow} … gap of ${m.offset - next[m.dir]} bytes (lost by the capture)`);
      if (m.transport === 'tcp') next[m.dir] = m.offset + m.size;
      const mark = i === this.view.at(this.selected) ? '*' : ' ';
      put(m.dir, `${mark}${arrow} [${i}] ${m.label ?? m.name ?? 'raw'} ${m.size} B at ${m.transport === 'tcp' ? `offset ${m.offset}` : `datagram ${m.index}`}${m.raw ? ` (raw: ${m.raw})` : m.error ? ` (error: ${m.error.message})` : ''}`);
      if (this.bytesDropped(m)) put(m.dir, '      (bytes left the view)');
      else for (const d of hexRows(m.wire, { per, maxRows: maxLinesPerMessage })) put(m.dir, `      ${d}`);
      bytes += m.size;
    }
    this.overlay = { title: `stream #${flow.id} ${sel.transport}: ${bytes} bytes${side ? ', client | server' : ''}`, lines };
    return `follow stream #${flow.id}${side ? ', side by side' : ''} (F again: ${side ? 'one after the other' : 'side by side'})`;
  }

  /** Per message label, the field paths the list shows (`o`), instead of every field. */
  readonly columns = new Map<string, string[]>();

  /** `o`: `NAME path path...` sets the list's columns for NAME (`snapshot tick entities.length`); `NAME` alone shows every field again. */
  setColumns(text: string): string {
    const [name, ...paths] = text.trim().split(/[\s,]+/).filter(Boolean);
    if (!name) return 'columns: NAME then the fields to show (snapshot tick entities.length); NAME alone for all';
    if (this.protocol && !this.messageNames.has(name) && !this.messageNames.has(name.replace(/^(c2s|s2c)\./, ''))) return `columns: no message named ${name}`;
    if (!paths.length) {
      this.columns.delete(name);
      return `columns: every field of ${name}`;
    }
    for (const p of paths) if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*$/.test(p)) return `columns: ${p} is not a field path (name.sub, list[0], list.length)`;
    this.columns.set(name, paths);
    return `columns for ${name}: ${paths.join(' ')}`;
  }

  /** The list's text after a message's label: its chosen columns, or every field. */
  detailOf(m: Message, budget: number): string {
    const cols = m.name && !m.raw && !m.error ? (this.columns.get(m.label ?? m.name) ?? this.columns.get(m.name)) : undefined;
    if (!cols) return messageDetail(m, budget);
    const show = (v: unknown): string => (v === undefined ? '-' : v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) ? `{${summarize(v, 60)}}` : summarize(v, 60));
    return cols.map((p) => `${p}=${show(valueAt(m.fields, p))}`).join(' ');
  }

  /** Mark or unmark the selected message. */
  toggleMark(): string {
    const i = this.view.at(this.selected);
    if (i === undefined) return 'no message selected';
    if (this.marks.delete(i)) return `unmarked [${i}]`;
    this.marks.add(i);
    return `marked [${i}] (${this.marks.size} marked; ' jumps between marks, d diffs with the previous mark)`;
  }

  /** The next (or previous) marked message in the view. */
  jumpMark(dir: 1 | -1 = 1): string {
    const at = this.view.at(this.selected) ?? -1;
    const marked = [...this.marks].sort((a, b) => a - b);
    const target = dir > 0 ? (marked.find((i) => i > at) ?? marked[0]) : ([...marked].reverse().find((i) => i < at) ?? marked[marked.length - 1]);
    if (target === undefined) return 'no marks (m marks the selected message)';
    return this.goToIndex(target) ? `mark [${target}]` : `mark [${target}] is not in the filtered view`;
  }

  /** Select message number `i` (its index in the session); false when the filter hides it. */
  goToIndex(i: number): boolean {
    const vi = this.view.indexOf(i);
    if (vi < 0) return false;
    this.selected = vi;
    this.follow = false;
    this.fieldSelected = 0;
    this.pane = 'messages';
    return true;
  }

  /** `:N`: go to message N. */
  goTo(text: string): string {
    const n = Number(text.trim());
    if (!Number.isInteger(n) || n < 0 || n >= this.messages.length) return `go to: a message number from 0 to ${this.messages.length - 1}`;
    return this.goToIndex(n) ? `message [${n}]` : `message [${n}] is hidden by the filter`;
  }

  /**
   * Search the whole view from the selection: a message whose name, fields or bytes hold `query`
   * (text, any case; or hex bytes, `0a 0b` / `0x0a0b`). `dir`: forward (n) or back (N).
   */
  find(given: string | null = null, dir: 1 | -1 = 1): string {
    const query = given ?? this.search;
    if (!query || !query.trim()) return 'search: nothing to look for';
    this.search = query;
    const q = query.trim().toLowerCase();
    const hex = /^(0x)?([0-9a-f]{2}\s*)+$/.test(q) ? q.replace(/^0x/, '').replace(/\s+/g, '') : null;
    const hit = (m: Message): boolean => {
      if (hex && m.wire.toString('hex').includes(hex)) return true;
      const text = `${m.label ?? m.name ?? 'raw'} ${m.fields ? summarize(m.fields, 100_000) : ''} ${m.raw ?? ''}`.toLowerCase();
      return text.includes(q);
    };
    const n = this.view.length;
    const from = this.selected;
    for (let k = 1; k <= n; k++) {
      const vi = (((from + dir * k) % n) + n) % n;
      if (hit(this.messages.peek(this.view.at(vi)!)!)) {
        this.selected = vi;
        this.follow = false;
        this.fieldSelected = 0;
        const wrapped = dir > 0 ? vi <= from : vi >= from;
        return `found "${query}" at [${this.view.at(vi)}]${wrapped ? ' (wrapped around)' : ''}`;
      }
    }
    return `"${query}" is in no message of the view`;
  }

  /** `d`: the selected message against the nearest marked one before it of the same name, field by field and byte by byte. */
  diffWithMark(): string {
    const cur = this.view.at(this.selected);
    if (cur === undefined) return 'no message selected';
    const m = this.messages.at(cur)!;
    const label = m.label ?? m.name;
    const marked = [...this.marks].filter((i) => i !== cur && (this.messages.at(i)!.label ?? this.messages.at(i)!.name) === label).sort((a, b) => Math.abs(cur - a) - Math.abs(cur - b));
    const base = marked[0];
    if (base === undefined) return `no other marked ${label ?? 'raw'} message to diff with (m marks one)`;
    const o = this.messages.at(base)!;
    const lines = [`[${base}] -> [${cur}] ${label ?? 'raw'}`, ''];
    const fields = m.fields && o.fields ? diffValues(m.fields, o.fields) : [];
    lines.push(fields.length ? 'fields:' : 'fields: the same');
    for (const l of fields) lines.push(`  ${l.replace(/: got (.*), expected (.*)$/, ': $2 -> $1')}`);
    lines.push('', byteDiff(o.wire, m.wire));
    this.overlay = { title: 'diff', lines };
    return `diff of [${base}] and [${cur}]`;
  }

  /** The statistics overlay: per name and direction, unknown ids, errors by path; per connection, messages and rate. */
  showStatistics(): void {
    const lines = this.coverage.report();
    lines.push('', 'connections (messages a second, the last 30 seconds of each):');
    // messages per connection and second
    const perSecond = new Map<string, Map<number, number>>();
    for (const m of this.messages) {
      const key = `${m.transport}${m.flow.id}`;
      let b = perSecond.get(key);
      if (!b) perSecond.set(key, (b = new Map()));
      const sec = Math.floor(m.ts / 1e6);
      b.set(sec, (b.get(sec) ?? 0) + 1);
    }
    for (const c of this.connections.values()) {
      const secs = Math.max(1e-6, (c.lastTs - c.firstTs) / 1e6);
      const n = c.messages[0] + c.messages[1];
      const last = Math.floor(c.lastTs / 1e6);
      const counts = Array.from({ length: Math.min(30, last - Math.floor(c.firstTs / 1e6) + 1) }, (_, i) => perSecond.get(`${c.transport}${c.id}`)?.get(last - i) ?? 0).reverse();
      lines.push(`  #${c.id} ${c.transport} ${c.client} -> ${c.server} ${c.state}: ${n} msgs, ${c.bytes[0] + c.bytes[1]} B, ${(n / secs).toFixed(1)} msg/s over ${secs.toFixed(1)} s  ${sparkline(counts)}`);
    }
    this.overlay = { title: 'statistics', lines };
  }

  /** The selected message as text to keep: hex, a C array, base64, a vectors.yaml entry, or JSON. */
  messageAs(format: string): { text: string; ext: string } | string {
    const m = this.selectedMessage();
    if (!m) return 'no message selected';
    if (this.bytesDropped(m)) return 'its bytes were dropped from the view to bound memory (a recording keeps them)';
    const f = format.trim().toLowerCase();
    switch (f) {
      case 'hex':
        return { text: `${m.wire.toString('hex')}\n`, ext: 'hex' };
      case 'c': {
        const rows: string[] = [];
        for (let i = 0; i < m.wire.length; i += 12) rows.push(`  ${[...m.wire.subarray(i, i + 12)].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ')},`);
        const name = (m.name ?? 'raw').replace(/[^A-Za-z0-9_]/g, '_');
        return { text: `/* ${m.dir} ${m.name ?? 'raw'}, ${m.wire.length} bytes on the wire */\nstatic const unsigned char ${name}_${this.view.at(this.selected)}[${m.wire.length}] = {\n${rows.join('\n')}\n};\n`, ext: 'c' };
      }
      case 'base64':
        return { text: `${m.wire.toString('base64')}\n`, ext: 'b64' };
      case 'json':
        return { text: `${JSON.stringify(toJsonValue({ dir: m.dir, name: m.label ?? m.name ?? null, fields: m.fields ?? null, wire: m.wire }, FULL))}\n`, ext: 'json' };
      case 'vector':
        // the frame body the vector runs (hex), and the fields it decodes to: paste under vectors:
        if (vectorProblem(m)) return 'a vector needs a message that decoded';
        return { text: vectorEntry(m, vectorName(m, this.view.at(this.selected)!), this.protocol), ext: 'vector.yaml' };
      case 'fields': {
        // the fields inferred from every message like this one (P shows the same text)
        const p = this.fieldsProposal();
        return typeof p === 'string' ? p : { text: `${p.lines.join('\n')}\n`, ext: 'fields.yaml' };
      }
      default:
        return `save as: hex, c, base64, vector, json or fields (not ${JSON.stringify(format)})`;
    }
  }

  // ---- the data inspector: a byte cursor in the selected message's bytes ----

  /** Whether the details pane shows the inspector (a cursor key opens it, escape closes it). */
  inspecting = false;
  private cursor = 0;
  /**
   * The number of the message the cursor is in: another one selected puts the cursor back at 0.
   * A number, not the object: a message leaving the window is made again as another object.
   */
  private cursorIn = -1;

  /** The byte cursor in the selected message's payload (0 when the selection changed since it moved). */
  byteCursor(): number {
    const at = this.view.at(this.selected) ?? -1;
    if (at !== this.cursorIn) {
      this.cursorIn = at;
      this.cursor = 0;
    }
    return this.cursor;
  }

  /** Move the byte cursor by `n` bytes (opening the inspector); returns what to say. */
  moveCursor(n: number): string {
    const m = this.selectedMessage();
    if (!m) return 'no message selected';
    if (this.bytesDropped(m)) return 'its bytes were dropped from the view to bound memory (a recording keeps them)';
    const at = clamp(this.byteCursor() + n, 0, Math.max(0, m.payload.length - 1));
    this.cursor = at;
    this.inspecting = true;
    // inspecting a message: it stays put while more arrive
    this.follow = false;
    return `inspector at byte ${at} of ${m.payload.length}: [ ] a byte, { } a row, escape closes`;
  }

  closeInspector(): void {
    this.inspecting = false;
  }

  /** The selected message's bytes read at the cursor, while the inspector is open. */
  inspection(): Inspection | null {
    const m = this.selectedMessage();
    if (!this.inspecting || !m || this.bytesDropped(m)) return null;
    return inspect(m.payload, this.byteCursor());
  }

  // ---- fields proposed for a message id, from every message of it (protocol inference) ----

  private proposal: { key: string; result: FieldsProposal | string } | null = null;

  /**
   * The fields `gamesniff infer` would guess for the selected message's kind, from every message
   * of the session with its name and direction (an unknown id: its id and direction), the most
   * recent MAX_PROPOSAL_SAMPLES: YAML to paste into protocol.yaml, each field with its evidence.
   */
  fieldsProposal(): FieldsProposal | string {
    const sel = this.selectedMessage();
    if (!sel) return 'no message selected';
    const key = `${this.view.at(this.selected)}/${this.messages.length}/${this.protocol?.hash ?? ''}`;
    if (this.proposal?.key !== key) this.proposal = { key, result: this.propose(sel) };
    return this.proposal.result;
  }

  private propose(sel: Message): FieldsProposal | string {
    if (sel.raw !== undefined) return `this message is raw bytes (${sel.raw}): there is no message id to gather messages by`;
    const t = this.protocol?.transport(sel.transport);
    if (t?.def.msgpack) return 'msgpack messages are maps: their keys are their fields already';
    const like = (m: Message): boolean =>
      m.transport === sel.transport && m.dir === sel.dir && m.raw === undefined && (sel.name !== undefined ? m.name === sel.name : m.name === undefined && m.id === sel.id);
    // the most recent ones, in time order
    const picked: Message[] = [];
    let total = 0;
    for (let i = this.messages.length - 1; i >= 0; i--) {
      const m = this.messages.peek(i)!;
      if (!like(m) || this.bytesDropped(m)) continue;
      total++;
      if (picked.length < MAX_PROPOSAL_SAMPLES) picked.push(m);
    }
    picked.reverse();
    // where the fields start: after the head and the id
    const headed = !!(t && (t.def.head || t.def.idExpr));
    const whole = !t || (headed && !sel.name);
    const start = (m: Message): number => {
      if (!t || whole) return 0;
      if (headed) {
        const spans = t.spansFor(m.name!, m.payload, undefined, m.dir, m.head, m.header);
        return spans.find((x) => x.path === `${m.name}.id`)?.end ?? spans.find((x) => x.path === 'head')?.end ?? 0;
      }
      return t.def.id ? (readCounter(t.def.id, m.payload, 0)?.next ?? 0) : 0;
    };
    if (!picked.length) return 'its bytes were dropped from the view to bound memory (a recording keeps them)';
    const samples: Sample[] = picked.map((m) => ({ body: m.payload.subarray(Math.min(m.payload.length, start(m))), ts: m.ts }));
    const endian = /^endian:\s*be\b/m.test(this.protocol?.text ?? '') ? 'be' : 'le';
    const fields = inferFields(samples, { endian, from: this.messages.at(0)?.ts ?? 0, to: this.messages.at(this.messages.length - 1)?.ts ?? 0 });
    const sizes = samples.map((s) => s.body.length);
    const lo = Math.min(...sizes);
    const hi = Math.max(...sizes);
    const kind = sel.name !== undefined ? `${sel.dir} ${sel.label ?? sel.name}` : sel.id !== undefined ? `${sel.dir} id 0x${sel.id.toString(16)}` : `${sel.dir} unnamed`;
    const what = whole ? (t ? 'whole payloads (the head before an unknown id has no known width)' : 'whole payloads') : headed ? (t!.def.id ? 'the bytes after the head and the id' : 'the bytes after the head') : t?.def.id ? 'the bytes after the id' : 'whole payloads';
    const lines = [
      `# looked at ${samples.length} ${kind} message${samples.length === 1 ? '' : 's'}${total > samples.length ? ` (the most recent ${samples.length} of ${total})` : ''}: ${what}, ${lo === hi ? `${lo}` : `${lo} to ${hi}`} bytes`,
      '# drafted by inference: every field says why; the guesses want a look',
    ];
    if (sel.name !== undefined) lines.push(...fieldsYaml(fields, ''));
    else {
      const size = t?.def.id?.k === 'int' ? t.def.id.size : 0;
      lines.push(`${messageName({ dir: sel.dir, id: sel.id }, size === 1 ? 'u8' : undefined)}:`);
      if (sel.id !== undefined) lines.push(`  id: 0x${sel.id.toString(16)}`);
      lines.push(`  dir: ${sel.dir}`, ...fieldsYaml(fields, '  '));
    }
    return { title: `fields for ${kind}: ${samples.length} message${samples.length === 1 ? '' : 's'}`, lines, samples: samples.length, total };
  }

  /** `P`: the proposal in the overlay. */
  proposeFields(): string {
    const p = this.fieldsProposal();
    if (typeof p === 'string') return p;
    this.overlay = { title: p.title, lines: p.lines };
    return `${p.title} (y saves and copies it)`;
  }

  // ---- commands ----

  selectedMessage(): Message | null {
    const i = this.view.at(this.selected);
    return i === undefined ? null : this.messages.at(i)!;
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
    this.filter = f;
    this.rebuildView();
    return true;
  }

  /** The filter for the connection selected in the connections pane. */
  filterSelectedConnection(): void {
    const c = this.connectionList()[this.connSelected];
    if (c) this.setFilter(`conn == ${c.id}${c.transport === 'udp' ? ' && transport == "udp"' : ' && transport == "tcp"'}`);
    this.pane = 'messages';
  }

  /**
   * Messages a filter looks at per step before the screen gets to answer keys (0: all at once,
   * as tests and the non-interactive callers want). The screen sets it and calls work() each tick.
   */
  chunk = 0;
  /** A filter under way over the session: the view it is building, and where it stands. */
  private pending: { view: IndexList; next: number; keep: number } | null = null;

  /** `keep`: the number of the message to keep selected (-1: none). */
  private rebuildView(keep: number = this.view.at(this.selected) ?? -1): void {
    this.pending = { view: new IndexList(!this.filter), next: 0, keep };
    this.work();
  }

  /** Go on with a filter under way: a chunk of messages, or all. True while one is still under way. */
  work(): boolean {
    const p = this.pending;
    if (!p) return false;
    const f = this.filter;
    let end = this.chunk > 0 ? Math.min(this.messages.length, p.next + this.chunk) : this.messages.length;
    // a step also ends after 40 ms: old messages' fields are decoded again to be tested
    const deadline = this.chunk > 0 ? performance.now() + 40 : Infinity;
    for (let i = p.next; i < end; i++) {
      if (!f || f.test(this.messages.peek(i)!)) p.view.push(i);
      if ((i & 1023) === 1023 && performance.now() > deadline) end = i + 1;
    }
    p.next = end;
    if (end < this.messages.length) return true;
    this.pending = null;
    const view = p.view;
    const keep = p.keep;
    this.view = view;
    if (this.follow || keep < 0 || keep >= this.messages.length) this.selected = view.length - 1;
    // The kept message, or the nearest one before it that passes.
    else this.selected = Math.max(view.atOrBefore(keep), view.length ? 0 : -1);
    return false;
  }

  /** How far a filter under way has come (0 to 1), or null. */
  filtering(): number | null {
    return this.pending ? this.pending.next / Math.max(1, this.messages.length) : null;
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

/** The most messages a proposal of fields looks at (the most recent). */
export const MAX_PROPOSAL_SAMPLES = 2000;

export interface FieldsProposal {
  title: string;
  /** YAML (comments, then `fields:`, or an unknown id's whole entry). */
  lines: string[];
  samples: number;
  /** Messages of that kind in the session. */
  total: number;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, v));
}

/** Where two byte strings differ: the lengths, the first differing offset, and how many bytes differ. */
export function byteDiff(a: Buffer, b: Buffer): string {
  if (a.equals(b)) return `bytes: the same (${a.length})`;
  let first = -1;
  let count = 0;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] === b[i]) continue;
    if (first < 0) first = i;
    count++;
  }
  const show = (x: Buffer) => x.subarray(first, first + 16).toString('hex');
  return `bytes: ${a.length} -> ${b.length}; ${count} differ, the first at ${first}: ${show(a)} -> ${show(b)}`;
}

function namesOf(protocol: Protocol | null): ReadonlySet<string> {
  const names = new Set(protocol?.messages.map((m) => m.def.name) ?? []);
  if (protocol?.tcp?.def.websocket) for (const n of WS_MESSAGES) names.add(n);
  return names;
}

/**
 * Whether a flow's messages lay its bytes end to end, each direction in offset order: what a
 * fresh decode can be fed. Not so when a message's bytes are not one run (a WebSocket message
 * whose fragments had a ping between them): that flow keeps what it decoded to.
 */
function contiguous(list: readonly Message[]): boolean {
  const end = { c2s: -1, s2c: -1 };
  for (const m of list) {
    if (m.transport === 'udp') continue;
    if (end[m.dir] >= 0 && m.offset < end[m.dir]) return false;
    end[m.dir] = m.offset + m.wire.length;
  }
  return true;
}

/** Counts as bars: ▁ to █ by their share of the largest, a space for none. */
export function sparkline(counts: readonly number[]): string {
  const max = Math.max(1, ...counts);
  return counts.map((n) => (n === 0 ? ' ' : '▁▂▃▄▅▆▇█'[Math.min(7, Math.floor((n / max) * 7.999))]!)).join('');
}

