/**
 * The replay engine, without I/O: events in (`start`, `accepted`, `received`, `peerClosed`,
 * `tick`...), commands out (connect, send, close, set a timer, done). Socket adapters
 * (sockets.ts) carry the commands out and the events in; tests drive it with scripted events.
 *
 * The recording's steps are walked in capture order. Our side's steps (the client's messages when
 * replaying as the client) are carried out; the peer's are expectations. Before each of our steps,
 * every peer step recorded before it must have happened live (or timed out, which is reported):
 * a message is compared field by field, a close is waited for. With a speed, our steps are also
 * paced as recorded. Live messages are matched to the peer's recorded messages in order, per
 * connection.
 */
import { Conversation, type ConversationMessage } from '../conversation/conversation';
import type { Direction } from '../core/types';
import type { ValueDiff } from '../protocol/diff';
import type { Protocol } from '../protocol/protocol';
import { fieldDiffs, hasLeafIn, IgnoreList, leafKey, parseRewrite, sameMessage, substitute, valueAt, withValueAt, type RewriteRule } from './match';
import type { ReplayScript, ScriptConnection, ScriptMessage, Step } from './script';

export type Role = 'client' | 'server';

export type ReplayCommand =
  | { kind: 'connect'; conn: number }
  | { kind: 'send'; conn: number; bytes: Buffer }
  | { kind: 'close'; conn: number; how: 'fin' | 'rst' }
  /** Server role: the live connection known as `from` (a candidate) plays recorded connection `conn` from now on. */
  | { kind: 'adopt'; from: number; conn: number }
  | { kind: 'timer'; at: number }
  | { kind: 'done' };

export type DivergenceKind = 'field' | 'name' | 'missing' | 'unexpected' | 'undecodable' | 'bytes' | 'closed' | 'not-closed' | 'connection';

export interface Divergence {
  kind: DivergenceKind;
  conn: number;
  transport: 'tcp' | 'udp';
  dir: Direction;
  /** The recorded message's index in its connection and direction (the live one's for `unexpected`). */
  index: number;
  /** The recorded message's name. */
  name: string | null;
  /** The live message's name, when one came. */
  liveName?: string | null;
  path?: string;
  /** For `field`: a value, a length (of an array), or a field only one side has. */
  diff?: ValueDiff['kind'];
  recorded?: unknown;
  live?: unknown;
  message: string;
}

export interface ReplayOptions {
  role: Role;
  /** 1 = as recorded, 2 = twice as fast; null = no pacing (only wait for replies). */
  speed: number | null;
  /** How long to wait for the peer's recorded messages before calling them missing (ms). */
  timeoutMs: number;
  /** How long to wait for the peer to open a recorded connection (server role), ms. */
  openTimeoutMs?: number;
  ignore?: string[];
  rewrite?: string[];
}

export interface ReplayReport {
  role: Role;
  connections: number;
  sent: number;
  rewritten: number;
  received: number;
  compared: number;
  divergences: Divergence[];
  /** Set when the replay could not go on (a connection refused...). */
  error?: string;
  recordingGaps: number;
  /** Server role: live connections closed because they did not start as a recorded client (a port scan, a stray client). */
  ignored: string[];
}

/** Server role: a live connection not bound to a recorded one until its first message shows which it is. */
interface Candidate {
  conv: Conversation<null>;
  offset: number;
  bytes: Buffer[];
  verdict: 'wait' | 'match' | 'reject';
  reason: string;
  /** The first message's name, once it matched. */
  name?: string;
}

interface PeerStep {
  at: number;
  step: Step;
  done: boolean;
}

class Conn {
  /** Our side of the live conversation: our messages are sent through it, the peer's received. */
  conv: Conversation<null>;
  /** Stream offset of the next live byte. */
  offset = 0;
  /** The peer's recorded steps on this connection, in order (messages and its close). */
  readonly expected: PeerStep[] = [];
  next = 0;
  liveIndex = 0;
  open = false;
  weClosed = false;
  peerClosed = false;
  openStep: PeerStep | null = null;
  /** The first recorded message on this connection (undefined before one is read). */
  first: ScriptMessage | undefined = undefined;
  /** The keys given to the live conversation (a streamed recording may learn them on the way). */
  keys: Record<string, unknown> | undefined;
  /**
   * Streamed recording: what the live peer did before the recorded steps it matches were read
   * (a message, or its close), handled in order once they are.
   */
  backlog: ({ m: ConversationMessage<null>; now: number } | { how: 'fin' | 'rst'; now: number })[] | null = null;
  constructor(
    readonly rec: ScriptConnection,
    protocol: Protocol,
    onMessage: (c: Conn, m: ConversationMessage<null>) => void,
  ) {
    // a recorded connection's keys are the live one's too: replayed, its key exchange gives the same keys
    this.keys = rec.keys;
    this.conv = new Conversation(protocol, rec.transport, (m) => onMessage(this, m), { flow: null, state: rec.keys });
  }
}

/** Steps behind this many are dropped from the lists that walk them. */
const COMPACT_AT = 1024;

const other = (d: Direction): Direction => (d === 'c2s' ? 's2c' : 'c2s');

export class ReplayEngine {
  private readonly conns = new Map<number, Conn>();
  /** The steps taken from the script so far, in recorded order; those behind the cursor are let go (null). */
  private readonly steps: (Step | null)[] = [];
  private readonly ours: boolean[] = [];
  /** How many of script.steps were taken (a complete script's are left in place). */
  private taken = 0;
  private loadedAll = false;
  /** Connections with a backlog (streamed recordings). */
  private readonly waiting = new Set<Conn>();
  /** Every peer step, in recorded order. */
  private readonly peerSteps: PeerStep[] = [];
  private firstPending = 0;
  private cursor = 0;
  private waitStart: number | null = null;
  private waitingOn: PeerStep | null = null;
  /** Pacing anchor: the wall time at which the step recorded at `anchorTs` happened. */
  private anchorWall = 0;
  private anchorTs: number | null = null;
  private finished = false;
  private readonly ourDir: Direction;
  private readonly ignore: IgnoreList;
  private readonly rules: RewriteRule[];
  /** Recorded value -> live value, for rules without targets. */
  private readonly byValue = new Map<string, unknown>();
  /** "message.path" -> live value, for rules with targets. */
  private readonly byPath = new Map<string, unknown>();
  private readonly udpPeers = new Map<string, number>();
  private readonly candidates = new Map<number, Candidate>();
  /** Candidate ids are negative, apart from recorded connection ids (and from -1, "none"). */
  private nextCandidate = -2;
  /** The time of the event being handled (live messages come out of the conversation inside it). */
  private now = 0;
  readonly report: ReplayReport;

  constructor(
    readonly script: ReplayScript,
    readonly opts: ReplayOptions,
  ) {
    const p = script.protocol;
    this.ourDir = opts.role === 'client' ? 'c2s' : 's2c';
    this.ignore = new IgnoreList(p, opts.ignore ?? []);
    // the protocol's carry: lists first (the same rules --rewrite gives), then the command line's
    const fromFile = p.messages.flatMap((m) =>
      m.def.carry.map((cr) => `${p.label(m)}.${cr.path}${cr.targets.length ? `:${cr.targets.join(',')}` : ''}`),
    );
    this.rules = [...fromFile, ...(opts.rewrite ?? [])].map((r) => parseRewrite(r, p));
    for (const r of this.rules) this.ignore.add(`${r.dir ? `${r.dir}.` : ''}${r.message}.${r.path}`);
    this.report = { role: opts.role, connections: 0, sent: 0, rewritten: 0, received: 0, compared: 0, divergences: [], recordingGaps: 0, ignored: [] };
    // a complete script's connections are all known now, in recorded order
    if (script.complete !== false) for (const c of script.connections.values()) this.conn(c.conn);
    this.extend();
  }

  /** Whether the whole recording is read (a streamed one is read as the replay goes). */
  private get complete(): boolean {
    return this.script.complete !== false;
  }

  /** Streamed recording: steps read and not yet walked past (the reader keeps this bounded). */
  get ahead(): number {
    return this.steps.length - this.cursor + this.script.steps.length - this.taken;
  }

  /** Streamed recording: more steps were read (or the last). */
  more(now: number): ReplayCommand[] {
    if (this.finished) return [];
    this.extend();
    return this.advance(now);
  }

  /** The engine's connection for a recorded one, made when first seen; undefined for a transport the protocol lacks. */
  private conn(id: number): Conn | undefined {
    let c = this.conns.get(id);
    if (c) return c;
    const rec = this.script.connections.get(id);
    if (!rec || !this.script.protocol.transport(rec.transport)) return undefined;
    c = new Conn(rec, this.script.protocol, (conn, m) => this.live(conn, m, this.now));
    this.conns.set(id, c);
    this.report.connections = this.conns.size;
    return c;
  }

  /** Take the steps the script has that the engine does not yet; then what the live peer did ahead of them. */
  private extend(): void {
    const fresh = this.script.steps;
    const took = fresh.length - this.taken;
    for (let i = this.taken; i < fresh.length; i++) this.take(fresh[i]!);
    // a streamed script's steps are the engine's now (it lets them go once walked past)
    if (this.script.complete === false) {
      fresh.length = 0;
      this.taken = 0;
    } else this.taken = fresh.length;
    const completed = this.complete && !this.loadedAll;
    if (completed) {
      this.loadedAll = true;
      for (const c of this.script.connections.values()) this.report.recordingGaps += c.gaps;
    }
    // what waited for steps: again, now that some were read
    if (!this.waiting.size || (took === 0 && !completed)) return;
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const c of waiting) {
      const backlog = c.backlog!;
      c.backlog = null;
      for (const e of backlog) {
        if ('m' in e) this.live(c, e.m, e.now);
        else this.closeOrDefer(c, e.how, e.now);
      }
    }
  }

  private take(s: Step): void {
    const c = this.conn(s.kind === 'message' ? s.m.conn : s.conn);
    if (!c) return;
    if (s.kind === 'message') {
      if (c.first === undefined) c.first = s.m;
      // keys a streamed recording learnt since the connection opened
      if (c.rec.keys !== c.keys) {
        c.keys = c.rec.keys;
        Object.assign(c.conv.state, c.keys);
      }
    }
    const at = this.steps.length;
    this.steps.push(s);
    const ours = this.isOurs(s);
    this.ours.push(ours);
    if (ours) return;
    const ps: PeerStep = { at, step: s, done: false };
    this.peerSteps.push(ps);
    if (s.kind === 'open') c.openStep = ps;
    else c.expected.push(ps);
  }

  /** Keep what the live peer did on `c` until the recorded steps it matches are read. */
  private defer(c: Conn, e: NonNullable<Conn['backlog']>[number]): void {
    (c.backlog ??= []).push(e);
    this.waiting.add(c);
  }

  private isOurs(s: Step): boolean {
    if (s.kind === 'message') return s.m.dir === this.ourDir;
    if (s.kind === 'end') return s.dir === this.ourDir;
    // The client opens connections; as the server, a TCP open is the peer's, and a UDP flow opens
    // with the client's first datagram (a message step of its own).
    return this.opts.role === 'client';
  }

  get done(): boolean {
    return this.finished;
  }

  start(now: number): ReplayCommand[] {
    this.anchorWall = now;
    return this.advance(now);
  }

  tick(now: number): ReplayCommand[] {
    return this.advance(now);
  }

  /**
   * Server role: a client connected. When the recorded client spoke first, the connection is a
   * candidate (a negative id) until its first message arrives: one that starts as the recorded
   * client did takes that client's place (an `adopt` command), anything else (garbage, a port
   * scan, a health check) is closed and takes no place. When the recorded server spoke first, the
   * connection takes the next place at once. -1: no place is left (reported, to be closed).
   */
  accepted(now: number): { conn: number; commands: ReplayCommand[] } {
    const free = this.freeTcp();
    if (free.length === 0) {
      this.diverge({ kind: 'connection', conn: -1, transport: 'tcp', dir: 'c2s', index: 0, name: null, message: 'a connection the recording does not have' });
      return { conn: -1, commands: this.advance(now) };
    }
    if (free.some((c) => this.firstClientMessage(c) !== null)) {
      const id = this.nextCandidate--;
      const cand: Candidate = { offset: 0, bytes: [], verdict: 'wait', reason: '', conv: null as unknown as Conversation<null> };
      cand.conv = new Conversation(this.script.protocol, 'tcp', (m) => this.judge(cand, free, m), { flow: null });
      this.candidates.set(id, cand);
      return { conn: id, commands: [] };
    }
    const c = free[0]!;
    c.open = true;
    this.satisfy(c.openStep!, now);
    return { conn: c.rec.conn, commands: this.advance(now) };
  }

  /** Recorded TCP connections no live client plays yet, in recorded order. */
  private freeTcp(): Conn[] {
    return [...this.conns.values()].filter((c) => c.rec.transport === 'tcp' && !c.open && c.openStep);
  }

  /** The recorded client's first message on `c`, when the client spoke before the server did; else null. */
  private firstClientMessage(c: Conn): ScriptMessage | null {
    const first = c.first;
    return first && first.dir === 'c2s' && first.name ? first : null;
  }

  private judge(cand: Candidate, free: Conn[], dm: ConversationMessage<null>): void {
    if (cand.verdict !== 'wait') return;
    if (dm.raw !== undefined) {
      Object.assign(cand, { verdict: 'reject', reason: `its first bytes do not frame (${dm.raw})` });
      return;
    }
    if (!dm.name || dm.error) {
      Object.assign(cand, { verdict: 'reject', reason: `its first message does not decode (${dm.error?.message ?? `unknown id ${dm.id}`})` });
      return;
    }
    const want = free.map((c) => this.firstClientMessage(c)?.name).filter(Boolean);
    if (want.includes(dm.name)) Object.assign(cand, { verdict: 'match', name: dm.name });
    else Object.assign(cand, { verdict: 'reject', reason: `its first message is ${dm.name}, not ${[...new Set(want)].join(' or ')}` });
  }

  /** Bytes from a candidate connection: once its first message is in, adopt it or close it. */
  private candidateData(id: number, cand: Candidate, bytes: Buffer, now: number): ReplayCommand[] {
    cand.bytes.push(bytes);
    cand.conv.received('c2s', bytes, cand.offset, now);
    cand.offset += bytes.length;
    if (cand.verdict === 'wait') return [];
    this.candidates.delete(id);
    if (cand.verdict === 'reject') {
      this.report.ignored.push(`a connection closed because ${cand.reason}`);
      return [{ kind: 'close', conn: id, how: 'rst' }];
    }
    const c = this.freeTcp().find((x) => this.firstClientMessage(x)?.name === cand.name);
    if (!c) {
      this.report.ignored.push(`a connection closed because it started as a recorded client (${cand.name}) after every such client was played`);
      return [{ kind: 'close', conn: id, how: 'rst' }];
    }
    c.open = true;
    this.satisfy(c.openStep!, now);
    return [{ kind: 'adopt', from: id, conn: c.rec.conn }, ...this.received(c.rec.conn, Buffer.concat(cand.bytes), now)];
  }

  /** Server role: a datagram from `peer` (address:port); UDP flows map to live peers in order of appearance. */
  datagramFrom(peer: string, bytes: Buffer, now: number): { conn: number; commands: ReplayCommand[] } {
    let id = this.udpPeers.get(peer);
    if (id === undefined) {
      const free = [...this.conns.values()].find((c) => c.rec.transport === 'udp' && !c.open);
      if (!free) {
        this.diverge({ kind: 'connection', conn: -1, transport: 'udp', dir: 'c2s', index: 0, name: null, message: `datagrams from ${peer}, a flow the recording does not have` });
        return { conn: -1, commands: this.advance(now) };
      }
      free.open = true;
      if (free.openStep) this.satisfy(free.openStep, now);
      id = free.rec.conn;
      this.udpPeers.set(peer, id);
    }
    return { conn: id, commands: this.received(id, bytes, now) };
  }

  /** Bytes (tcp) or one datagram (udp) from the live peer. */
  received(conn: number, bytes: Buffer, now: number): ReplayCommand[] {
    const cand = this.candidates.get(conn);
    if (cand) return this.candidateData(conn, cand, bytes, now);
    const c = this.conns.get(conn);
    if (!c) return [];
    this.now = now;
    if (c.rec.transport === 'udp') c.conv.datagram(other(this.ourDir), bytes, now);
    else {
      c.conv.received(other(this.ourDir), bytes, c.offset, now);
      c.offset += bytes.length;
    }
    return this.advance(now);
  }

  /** The live peer closed (fin) or reset (rst) the connection. */
  peerClosed(conn: number, how: 'fin' | 'rst', now: number): ReplayCommand[] {
    if (this.candidates.delete(conn)) {
      this.report.ignored.push(`a connection closed (${how}) before it sent a whole first message`);
      return [];
    }
    const c = this.conns.get(conn);
    if (!c || c.peerClosed) return [];
    this.now = now;
    c.conv.end(other(this.ourDir), now);
    c.peerClosed = true;
    this.closeOrDefer(c, how, now);
    return this.advance(now);
  }

  /** Streamed: a close is matched once the recorded end (or the whole recording) is read, after what came before it. */
  private closeOrDefer(c: Conn, how: 'fin' | 'rst', now: number): void {
    if (!this.complete && (c.backlog || !c.expected.some((ps, i) => i >= c.next && !ps.done && ps.step.kind === 'end'))) this.defer(c, { how, now });
    else this.closeMatched(c, how, now);
  }

  /** The live peer's close against the recording: what it had before its end is missing, a close it does not have diverges. */
  private closeMatched(c: Conn, how: 'fin' | 'rst', now: number): void {
    const conn = c.rec.conn;
    let expectedEnd = false;
    for (; c.next < c.expected.length; c.next++) {
      const ps = c.expected[c.next]!;
      if (ps.done) continue;
      const s = ps.step;
      if (s.kind === 'end') {
        expectedEnd = true;
        this.satisfy(ps, now);
        c.next++;
        break;
      }
      if (s.kind === 'message') this.missing(ps, s.m, `the live peer closed the connection (${how}) before it`);
    }
    if (!expectedEnd && !c.weClosed) {
      this.diverge({ kind: 'closed', conn, transport: c.rec.transport, dir: other(this.ourDir), index: c.liveIndex, name: null, message: `the live peer closed the connection (${how}); the recording has it open` });
    }
  }

  /** A connection could not be made: the replay cannot go on. */
  failed(message: string): ReplayCommand[] {
    if (this.finished) return [];
    this.report.error = message;
    this.finished = true;
    return [{ kind: 'done' }];
  }

  private advance(now: number): ReplayCommand[] {
    const out: ReplayCommand[] = [];
    if (this.finished) return out;
    for (;;) {
      if (this.cursor >= this.steps.length) {
        this.extend();
        if (this.cursor >= this.steps.length) break;
      }
      const at = this.cursor;
      if (!this.ours[at]) {
        // a peer step's PeerStep holds it until it happened
        this.steps[at] = null;
        this.cursor++;
        continue;
      }
      if (!this.waitFor(at, now, out)) return out;
      const s = this.steps[at]!;
      const ts = s.kind === 'message' ? s.m.ts : s.ts;
      if (this.opts.speed !== null && this.anchorTs !== null) {
        const due = this.anchorWall + Math.max(0, ts - this.anchorTs) / 1000 / this.opts.speed;
        if (now < due) {
          out.push({ kind: 'timer', at: due });
          return out;
        }
      }
      this.execute(s, out);
      this.anchorWall = now;
      this.anchorTs = ts;
      this.steps[at] = null;
      this.cursor++;
    }
    // streamed: more steps to come
    if (!this.complete) return out;
    if (!this.waitFor(this.steps.length, now, out)) return out;
    for (const c of this.conns.values()) {
      if (c.open && c.rec.transport === 'tcp' && !c.weClosed && !c.peerClosed) {
        c.weClosed = true;
        out.push({ kind: 'close', conn: c.rec.conn, how: 'fin' });
      }
    }
    this.finished = true;
    out.push({ kind: 'done' });
    return out;
  }

  /** True when every peer step recorded before `at` has happened; else asks for a timer, or reports what timed out. */
  private waitFor(at: number, now: number, out: ReplayCommand[]): boolean {
    while (this.firstPending < this.peerSteps.length && this.peerSteps[this.firstPending]!.done) this.firstPending++;
    // let go of what happened (a long recording's steps are not all held)
    if (this.firstPending >= COMPACT_AT && this.firstPending * 2 >= this.peerSteps.length) {
      this.peerSteps.splice(0, this.firstPending);
      this.firstPending = 0;
    }
    const first = this.peerSteps[this.firstPending];
    if (!first || first.at >= at) {
      this.waitStart = null;
      return true;
    }
    // The timeout runs from when this step became the one waited for.
    if (this.waitingOn !== first || this.waitStart === null) {
      this.waitingOn = first;
      this.waitStart = now;
    }
    // A server waits for its client to connect for longer than for a reply.
    const limit = first.step.kind === 'open' ? (this.opts.openTimeoutMs ?? this.opts.timeoutMs) : this.opts.timeoutMs;
    if (now - this.waitStart < limit) {
      out.push({ kind: 'timer', at: this.waitStart + limit });
      return false;
    }
    for (let i = this.firstPending; i < this.peerSteps.length && this.peerSteps[i]!.at < at; i++) {
      const ps = this.peerSteps[i]!;
      if (ps.done) continue;
      const s = ps.step;
      const c = this.conns.get(s.kind === 'message' ? s.m.conn : s.conn)!;
      if (s.kind === 'message') this.missing(ps, s.m, `nothing came within ${this.opts.timeoutMs} ms`);
      else if (s.kind === 'end') {
        ps.done = true;
        this.diverge({ kind: 'not-closed', conn: s.conn, transport: c.rec.transport, dir: s.dir, index: c.liveIndex, name: null, message: `the recording has the peer closing the connection (${s.how}); live, it did not within ${this.opts.timeoutMs} ms` });
      } else {
        ps.done = true;
        this.diverge({ kind: 'connection', conn: s.conn, transport: c.rec.transport, dir: 'c2s', index: 0, name: null, message: `the recorded connection was not made within ${this.opts.openTimeoutMs ?? this.opts.timeoutMs} ms` });
      }
      // Later live messages on this connection are matched after what timed out.
      if (s.kind !== 'open') {
        while (c.next < c.expected.length && c.expected[c.next]!.done) c.next++;
      }
    }
    this.waitStart = null;
    return true;
  }

  private execute(s: Step, out: ReplayCommand[]): void {
    if (s.kind === 'open') {
      const c = this.conns.get(s.conn)!;
      c.open = true;
      out.push({ kind: 'connect', conn: s.conn });
      return;
    }
    if (s.kind === 'end') {
      const c = this.conns.get(s.conn)!;
      if (c.weClosed || c.peerClosed) return;
      c.weClosed = true;
      out.push({ kind: 'close', conn: s.conn, how: s.how });
      return;
    }
    const m = s.m;
    const c = this.conns.get(m.conn)!;
    if (c.peerClosed && c.rec.transport === 'tcp') return;
    let wire: Buffer | null = null;
    // the recorded fields are decoded again (script.ts) only when a rule may change them
    const recorded = m.name && this.mayRewrite(m.name, m.dir) ? m.fields : undefined;
    if (recorded) {
      const fields = this.rewritten(m.name!, m.dir, recorded);
      if (fields !== recorded) {
        // only what the rewrite changed is encoded anew; the rest keeps its recorded bytes
        const t = c.conv.transport;
        const payload = t.reencode({ name: m.name!, dir: m.dir, id: m.id, head: m.head, fields: recorded, body: m.payload, frame: m.header }, fields, c.conv.state);
        wire = c.conv.sendPayload(m.dir, payload, m.header);
        this.report.rewritten++;
      }
    }
    // Recorded bytes go out as recorded, through the conversation, so that its state (a cipher,
    // compression) moves as it does on the peer.
    const bytes = wire ?? (m.unframed ? c.conv.resendBytes(m.dir, m.frame) : c.conv.resend(m.dir, m.frame, m.payload, m.header));
    this.report.sent++;
    out.push({ kind: 'send', conn: m.conn, bytes });
  }

  /** Whether a rule could change this message of ours: a value to carry wherever it appears, or one for a target of this message. */
  private mayRewrite(name: string, dir: Direction): boolean {
    if (this.byValue.size) return true;
    for (const r of this.rules) if (this.byPath.has(r.text) && r.targets.some((tg) => sameMessage(tg, name, dir))) return true;
    return false;
  }

  /** The fields with the rewrite rules applied, or `fields` itself when no rule changed anything. */
  private rewritten(name: string, dir: Direction, fields: Record<string, unknown>): Record<string, unknown> {
    let v: unknown = fields;
    let changed = false;
    if (hasLeafIn(v, this.byValue)) ({ value: v, changed } = substitute(v, this.byValue));
    for (const r of this.rules) {
      for (const tg of r.targets) {
        if (!sameMessage(tg, name, dir)) continue;
        const live = this.byPath.get(r.text);
        const now = valueAt(v, tg.path);
        if (live === undefined || now === undefined) continue;
        const same = leafKey(now);
        if (same !== null && same === leafKey(live)) continue;
        v = withValueAt(v, tg.path, live);
        changed = true;
      }
    }
    return changed ? (v as Record<string, unknown>) : fields;
  }

  /** A message from the live peer: match it to the next recorded one on its connection. */
  private live(c: Conn, m: ConversationMessage<null>, now: number): void {
    if (!this.complete) {
      while (c.next < c.expected.length && c.expected[c.next]!.done) c.next++;
      if (c.backlog || c.next >= c.expected.length) return this.defer(c, { m, now });
    }
    const rawReason = m.raw ?? null;
    const dm = rawReason === null ? m : null;
    const bytes = m.frame;
    this.report.received++;
    const liveIndex = c.liveIndex++;
    const peerDir = other(this.ourDir);
    while (c.next < c.expected.length && c.expected[c.next]!.done) c.next++;
    const ps = c.expected[c.next];
    const liveName = dm?.name ?? null;
    // made only for a divergence (most messages have none)
    const base = (): Pick<Divergence, 'conn' | 'transport' | 'dir'> => ({ conn: c.rec.conn, transport: c.rec.transport, dir: peerDir });
    if (!ps || ps.step.kind !== 'message') {
      this.diverge({ ...base(), kind: 'unexpected', index: liveIndex, name: null, liveName, message: `${liveName ?? `${bytes.length} raw bytes`} came live; the recording has ${ps ? 'the connection closing' : 'nothing more'} here` });
      return;
    }
    c.next++;
    if (c.next >= COMPACT_AT && c.next * 2 >= c.expected.length) {
      c.expected.splice(0, c.next);
      c.next = 0;
    }
    const rec = ps.step.m;
    this.satisfy(ps, now);
    this.report.compared++;
    const d = (): Pick<Divergence, 'conn' | 'transport' | 'dir' | 'index' | 'name' | 'liveName'> => ({ ...base(), index: rec.index, name: rec.name ?? null, liveName });
    if (rec.raw) {
      const same = !dm?.name && bytes.equals(rec.frame ?? rec.wire);
      if (!same) this.diverge({ ...d(), kind: 'bytes', recorded: rec.wire, live: bytes, message: `recorded bytes that did not decode (${rec.raw}); live ${liveName ?? 'bytes'} differ` });
      return;
    }
    if (rawReason || !dm || dm.error || !dm.name) {
      const why = rawReason ?? dm?.error?.message ?? `unknown message id ${dm?.id}`;
      this.diverge({ ...d(), kind: 'undecodable', live: bytes, message: `live bytes do not decode: ${why}${dm?.error?.path ? ` at ${dm.error.path}` : ''}` });
      return;
    }
    if (dm.name !== rec.name) {
      this.diverge({ ...d(), kind: 'name', recorded: rec.name, live: dm.name, message: `recorded ${rec.name}, live ${dm.name}` });
      return;
    }
    const recorded = rec.fields;
    this.capture(rec, recorded, dm.fields ?? {});
    // compared with the carried values where the recorded ones were
    for (const v of fieldDiffs(dm.fields, recorded, this.byValue, (path) => !this.ignore.ignored(rec.name!, rec.dir, path))) {
      this.diverge({ ...d(), kind: 'field', path: `${rec.name}${v.path ? (v.path.startsWith('[') ? '' : '.') + v.path : ''}`, diff: v.kind, recorded: v.expected, live: v.actual, message: fieldMessage(v.kind) });
    }
  }

  /** Rewrite sources: remember what the live peer sent where the recording had another value. */
  private capture(rec: ScriptMessage, recorded: Record<string, unknown> | undefined, live: Record<string, unknown>): void {
    for (const r of this.rules) {
      if (!sameMessage(r, rec.name, rec.dir)) continue;
      const lv = valueAt(live, r.path);
      const rv = valueAt(recorded, r.path);
      if (lv === undefined) continue;
      if (r.targets.length) this.byPath.set(r.text, lv);
      else {
        const k = leafKey(rv);
        if (k !== null) this.byValue.set(k, lv);
      }
    }
  }

  private missing(ps: PeerStep, m: ScriptMessage, why: string): void {
    ps.done = true;
    this.diverge({ kind: 'missing', conn: m.conn, transport: m.transport, dir: m.dir, index: m.index, name: m.name ?? null, message: `recorded ${m.name ?? `${m.wire.length} raw bytes`}; ${why}` });
  }

  private satisfy(ps: PeerStep, now: number): void {
    ps.done = true;
    const s = ps.step;
    const ts = s.kind === 'message' ? s.m.ts : s.ts;
    if (this.anchorTs === null || ts >= this.anchorTs) {
      this.anchorTs = ts;
      this.anchorWall = now;
    }
  }

  private diverge(d: Divergence): void {
    this.report.divergences.push(d);
  }
}

function fieldMessage(kind: string): string {
  switch (kind) {
    case 'length':
      return 'different number of elements';
    case 'extra':
      return 'present live, absent from the recording';
    case 'missing':
      return 'in the recording, absent live';
    default:
      return 'different value';
  }
}
