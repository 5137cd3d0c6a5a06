/**
 * Inference over what a capture or recording held: per transport and direction, the framing,
 * the dispatch and each message id's fields, with confidence and evidence; and where a stream's
 * framing breaks, a candidate state change (compression or a cipher switched on).
 */
import type { Direction } from '../core/types';
import type { InferInput } from './collect';
import { cutFrames, describeFraming, entropy, inferFraming, type Framing, type FramingResult, type Stream } from './framing';
import { idOf, idWidth, inferDispatch, type DispatchResult, type IdKind } from './dispatch';
import { inferFields, type FieldGuess, type Sample } from './fields';

export interface MessageGuess {
  dir: Direction;
  /** Undefined when there is no id (one message per direction). */
  id?: number;
  count: number;
  sizes: [number, number];
  fields: FieldGuess[];
  /** A real body of it (after framing, id included), for a vector. */
  sample: Buffer;
  /** Where a body after this message starts to look compressed or encrypted. */
  after?: string;
}

export interface DirectionReport {
  dir: Direction;
  streams: number;
  bytes: number;
  framing: FramingResult;
  frames: number;
  dispatch: DispatchResult;
  messages: MessageGuess[];
}

export interface TransportReport {
  transport: 'tcp' | 'udp';
  port: number;
  /** The server ports its traffic came from. */
  ports: number[];
  /** The framing the draft uses for both directions (one framing per transport). */
  framing: Framing | { k: 'datagram' };
  directions: DirectionReport[];
  /** Where the bodies change character after a message (compression, a cipher). */
  stateChanges: string[];
  /** Head bytes before the id the draft declares, per direction's dispatch (the larger). */
  idAt: number;
  idKind?: 'u8' | 'u16le' | 'u16be' | 'varint';
  endian: 'le' | 'be';
  notes: string[];
}

export interface InferReport {
  source: string;
  ports: number[];
  transports: TransportReport[];
  from: number;
  to: number;
}

export interface InferOptions {
  /** Only these server ports (default: the busiest TCP port and the busiest UDP port). */
  ports?: number[];
}

export function infer(input: InferInput, source: string, opts: InferOptions = {}): InferReport {
  let from = Infinity;
  let to = 0;
  for (const s of input.tcp) for (const d of ['c2s', 's2c'] as const) for (const [, ts] of s.times[d]) (from = Math.min(from, ts)), (to = Math.max(to, ts));
  for (const f of input.udp) for (const d of f.datagrams) (from = Math.min(from, d.ts)), (to = Math.max(to, d.ts));
  const busiest = <T>(items: T[], port: (x: T) => number, size: (x: T) => number): number[] => {
    const by = new Map<number, number>();
    for (const x of items) by.set(port(x), (by.get(port(x)) ?? 0) + size(x));
    return [...by.entries()].sort((a, b) => b[1] - a[1]).slice(0, 1).map(([p]) => p);
  };
  const tcpPorts = opts.ports?.length ? opts.ports : busiest(input.tcp, (s) => s.port, (s) => s.bytes.c2s.length + s.bytes.s2c.length);
  const udpPorts = opts.ports?.length ? opts.ports : busiest(input.udp, (f) => f.port, (f) => f.datagrams.reduce((n, d) => n + d.bytes.length, 0));
  const transports: TransportReport[] = [];
  const tcp = input.tcp.filter((s) => tcpPorts.includes(s.port));
  if (tcp.length) transports.push(inferTcp(tcp, tcpPorts, from, to));
  const udp = input.udp.filter((f) => udpPorts.includes(f.port));
  if (udp.length) transports.push(inferUdp(udp, udpPorts, from, to));
  return { source, ports: [...new Set([...tcpPorts, ...udpPorts])], transports, from: Number.isFinite(from) ? from : 0, to };
}

function frameTimes(times: [number, number][], ends: number[]): number[] {
  // the time of the delivery that completed each frame
  const out: number[] = [];
  let i = 0;
  for (const e of ends) {
    while (i + 1 < times.length && times[i + 1]![0] < e) i++;
    out.push(times[i]?.[1] ?? 0);
  }
  return out;
}

function inferTcp(samples: InferInput['tcp'], ports: number[], from: number, to: number): TransportReport {
  const notes: string[] = [];
  const results: Record<Direction, FramingResult> = { c2s: null as never, s2c: null as never };
  const streams: Record<Direction, Stream[]> = { c2s: [], s2c: [] };
  for (const d of ['c2s', 's2c'] as const) {
    streams[d] = samples.filter((s) => s.bytes[d].length).map((s) => ({ bytes: s.bytes[d], cut: s.cut[d] || s.midstream, label: `#${s.conn} ${d}` }));
    results[d] = inferFraming(streams[d]);
  }
  // one framing for the transport: the directions' best, or the one both accept
  const pick = chooseFraming(results, streams, notes);
  const framing: Framing = pick ?? { k: 'chunk' };
  const endian = framing.k === 'length' && framing.kind.endsWith('be') ? 'be' : 'le';
  // frames to compare: not a stream's deliveries, nor a WebSocket stream whole
  const framed = framing.k !== 'chunk' && framing.k !== 'websocket';
  const dirs: (DirectionReport & { bodies: Sample[] })[] = [];
  for (const d of ['c2s', 's2c'] as const) {
    const bodies: Sample[] = [];
    let frames = 0;
    for (const s of samples) {
      if (!s.bytes[d].length) continue;
      // at most MAX_BODIES frames a direction are looked at (dispatch and fields sample anyway)
      if (bodies.length >= MAX_BODIES) break;
      const cut = cutFrames({ bytes: s.bytes[d], cut: s.cut[d], label: '' }, framing, MAX_BODIES - bodies.length);
      let end = 0;
      const ends = cut.frames.map((f) => (end += f.length + (framing.k === 'delimiter' ? framing.delimiter.length : 0)));
      const ts = frameTimes(s.times[d], ends);
      cut.frames.forEach((f, i) => bodies.push({ body: bodyOf(f, framing), ts: ts[i]! }));
      frames += cut.frames.length;
    }
    bodies.sort((a, b) => a.ts - b.ts);
    dirs.push(directionReport(d, streams[d].length, streams[d].reduce((n, s) => n + s.bytes.length, 0), results[d], frames, bodies, framed, framing));
  }
  if (framing.k === 'websocket') notes.push('WebSocket: the draft has one message a direction over the data messages; decode them with it and infer again over their payloads');
  return finish('tcp', ports, framing, dirs, endian, notes, { endian, from, to }, framed);
}

function inferUdp(flows: InferInput['udp'], ports: number[], from: number, to: number): TransportReport {
  const dirs: (DirectionReport & { bodies: Sample[] })[] = [];
  for (const d of ['c2s', 's2c'] as const) {
    const bodies = flows.flatMap((f) => f.datagrams.filter((x) => x.dir === d).map((x) => ({ body: x.bytes, ts: x.ts }))).slice(0, MAX_BODIES);
    bodies.sort((a, b) => a.ts - b.ts);
    const framing: FramingResult = { best: { framing: { k: 'chunk' }, confidence: 1, streams: flows.length, chained: flows.length, frames: bodies.length, evidence: ['UDP: each datagram is one message'] }, others: [], why: [], breaks: [] };
    dirs.push(directionReport(d, flows.length, bodies.reduce((n, b) => n + b.body.length, 0), framing, bodies.length, bodies, true));
  }
  return finish('udp', ports, { k: 'datagram' }, dirs, 'le', [], { endian: 'le', from, to }, true);
}

function finish(transport: 'tcp' | 'udp', ports: number[], framing: TransportReport['framing'], dirs: (DirectionReport & { bodies: Sample[] })[], endian: 'le' | 'be', notes: string[], ctx: { endian: 'le' | 'be'; from: number; to: number }, framed: boolean): TransportReport {
  // the draft has one id per transport: the reading that explains both directions best, weighed by their frames
  let pick: { at: number; kind: IdKind; width: number } | null = null;
  const withId = dirs.filter((d) => d.dispatch.best);
  if (withId.length) {
    const keys = new Set(dirs.flatMap((d) => [...d.dispatch.scores.keys()]));
    let best = -1;
    for (const k of keys) {
      const [at0, kind0] = k.split('/') as [string, IdKind];
      // every message of both directions must have it
      if (dirs.some((d) => d.bodies.some((s) => idOf(s.body, { at: Number(at0), kind: kind0 }) === undefined))) continue;
      let total = 0;
      let weight = 0;
      for (const d of dirs) {
        if (!d.bodies.length) continue;
        total += (d.dispatch.scores.get(k) ?? 0) * d.bodies.length;
        weight += d.bodies.length;
      }
      const score = total / Math.max(1, weight);
      if (score > best) {
        best = score;
        const [at, kind] = k.split('/') as [string, IdKind];
        pick = { at: Number(at), kind, width: kind === 'u8' || kind === 'varint' ? 1 : 2 };
      }
    }
    if (!pick) notes.push('no id reading is present in every message of both directions: the draft has none');
    else {
    const disagree = withId.filter((d) => d.dispatch.best!.at !== pick!.at || d.dispatch.best!.kind !== pick!.kind);
    if (disagree.length) notes.push(`the directions' own best ids differ (${withId.map((d) => `${d.dir}: ${d.dispatch.best!.kind} at byte ${d.dispatch.best!.at}`).join(', ')}); one id serves both: ${pick!.kind} at byte ${pick!.at}`);
    }
  }
  for (const d of dirs) messagesOf(d, pick, ctx, framed);
  const stateChanges: string[] = [];
  for (const d of dirs) {
    for (const b of d.framing.breaks) stateChanges.push(`${b.label}: the framing breaks after ${b.frames} frames at byte ${b.at}; entropy ${b.entropyBefore} bits a byte before, ${b.entropyAfter} after${b.entropyAfter > 7.2 && b.entropyAfter - b.entropyBefore > 1 ? ' (compression or a cipher switched on there?)' : ''}`);
    for (const m of d.messages) if (m.after) stateChanges.push(m.after);
  }
  const directions: DirectionReport[] = dirs.map(({ bodies: _b, ...d }) => d);
  return { transport, port: ports[0]!, ports, framing, directions, stateChanges, idAt: pick?.at ?? 0, idKind: pick?.kind, endian, notes };
}

/** Whether a framing cuts every whole stream with nothing left over. */
function fits(f: Framing, streams: Stream[]): boolean {
  return streams.every((s) => s.cut || cutFrames(s, f).rest === 0);
}

function chooseFraming(r: Record<Direction, FramingResult>, streams: Record<Direction, Stream[]>, notes: string[]): Framing | null {
  const a = r.c2s.best;
  const b = r.s2c.best;
  if (!a && !b) return null;
  if (!a || !b) return (a ?? b)!.framing;
  // the most confident guess of either direction that cuts the other one's streams too (a
  // direction whose lengths never vary has no length guess of its own)
  const all = [a, b, ...r.c2s.others, ...r.s2c.others].sort((x, y) => y.confidence - x.confidence);
  for (const g of all) if (g.framing.k !== 'websocket' && fits(g.framing, streams.c2s) && fits(g.framing, streams.s2c)) return g.framing;
  const pick = a.confidence >= b.confidence ? a : b;
  notes.push(`the directions are framed differently (c2s: ${describeFraming(a.framing)}; s2c: ${describeFraming(b.framing)}); the draft uses ${describeFraming(pick.framing)}, and the other direction shows raw where it does not fit`);
  return pick.framing;
}

/** What the messages decode: after a length prefix at offset 0 (the framer strips it), else the whole frame. */
export function bodyOf(frame: Buffer, f: Framing): Buffer {
  if (f.k !== 'length' || f.offset > 0) return frame;
  if (f.kind !== 'varint') return frame.subarray(Number(/\d+/.exec(f.kind)![0]) / 8);
  let i = 0;
  while (i < frame.length && frame[i]! & 0x80) i++;
  return frame.subarray(i + 1);
}

function directionReport(dir: Direction, streams: number, bytes: number, framing: FramingResult, frames: number, bodies: Sample[], framed: boolean, used: Framing | null = null): DirectionReport & { bodies: Sample[] } {
  // a frame that comes whole holds the length field: that is no id
  const exclude: [number, number] | null = used?.k === 'length' && used.offset > 0 ? [used.offset, used.offset + (used.kind === 'varint' ? 1 : Number(/\d+/.exec(used.kind)![0]) / 8)] : null;
  const dispatch: DispatchResult = framed ? inferDispatch(bodies.map((b) => b.body), exclude) : { best: null, others: [], why: ['no framing: no frames to compare'], scores: new Map() };
  return { dir, streams, bytes, framing, frames, dispatch, messages: [], bodies };
}

/** Group a direction's bodies by the transport's id (or none) and guess each group's fields. */
function messagesOf(d: DirectionReport & { bodies: Sample[] }, g: { at: number; kind: IdKind; width: number } | null, ctx: { endian: 'le' | 'be'; from: number; to: number }, framed: boolean): void {
  const bodies = d.bodies;
  if (!g) {
    if (bodies.length) d.messages.push(messageGuess(d.dir, undefined, bodies, framed ? inferFields(bodies, ctx) : []));
    return;
  }
  const groups = new Map<number, Sample[]>();
  for (const s of bodies) {
    const id = idOf(s.body, g);
    if (id === undefined) continue;
    let list = groups.get(id);
    if (!list) groups.set(id, (list = []));
    list.push(s);
  }
  for (const [id, list] of [...groups.entries()].sort((x, y) => x[0] - y[0])) {
    const after = list.map((s) => ({ body: s.body.subarray(Math.min(s.body.length, g.at + idWidth(s.body, g))), ts: s.ts }));
    d.messages.push(messageGuess(d.dir, id, list, inferFields(after, ctx)));
  }
  // a body that turns random after some message: compression or a cipher switched on there
  // one pass with running sums (over at most MAX_SCAN bodies of 32+ bytes, each at most 4 KiB read)
  const seq: { id: number | undefined; e: number }[] = [];
  for (const b of bodies) {
    if (b.body.length < 32) continue;
    seq.push({ id: idOf(b.body, g), e: entropy(b.body, 0, Math.min(b.body.length, 4096)) });
    if (seq.length >= MAX_SCAN) break;
  }
  let total = 0;
  for (const x of seq) total += x.e;
  let before = 0;
  for (let i = 1; i < seq.length - 2; i++) {
    before += seq[i - 1]!.e;
    const a = before / i;
    const z = (total - before) / (seq.length - i);
    if (i >= 2 && a < 5.5 && z > 7) {
      const m = d.messages.find((x) => x.id === seq[i - 1]!.id);
      if (m) m.after = `${d.dir}: after message id 0x${(seq[i - 1]!.id ?? 0).toString(16)}, bodies of 32+ bytes go from ${a.toFixed(1)} to ${z.toFixed(1)} bits a byte: compression or a cipher switched on there?`;
      break;
    }
  }
}

const MAX_SCAN = 100_000;
const MAX_BODIES = 200_000;

function messageGuess(dir: Direction, id: number | undefined, list: Sample[], fields: FieldGuess[]): MessageGuess {
  let lo = Infinity;
  let hi = 0;
  for (const s of list) (lo = Math.min(lo, s.body.length)), (hi = Math.max(hi, s.body.length));
  return { dir, id, count: list.length, sizes: [lo, hi], fields, sample: list[0]!.body };
}
