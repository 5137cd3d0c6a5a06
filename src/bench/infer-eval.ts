/**
 * How well `infer` recovers framing and the message id: descriptions generated at random (length
 * prefixes of each kind and place, ids at various offsets, strings, floats, counters), traffic
 * encoded from them by a conversation, inference run on it, and the frames and the id compared
 * with the truth. Plus the shipped recordings, whose truth is what their own protocol decoded.
 * `npm run infer-eval [-- --count N --seed S]` prints the rates; nothing here is timed.
 */
import { join } from 'node:path';
import { parse } from 'yaml';
import { runVector, type Vector } from '../conversation/vectors';
import { Conversation } from '../conversation/conversation';
import { Rng } from '../core/rng';
import type { Direction } from '../core/types';
import type { InferInput, TcpSample } from '../infer/collect';
import { StreamCollector } from '../infer/collect';
import { cutFrames, describeFraming, type Framing } from '../infer/framing';
import { bodyOf, infer } from '../infer/infer';
import { writeDraft } from '../infer/draft';
import { compileProtocol, loadProtocol, type Protocol } from '../protocol/protocol';
import { playRecording } from '../recording/player';
import { MessageDecoder } from '../session/messages';

export interface SynthProtocol {
  yaml: string;
  protocol: Protocol;
  /** The truth: where the id is in a frame body, and its type. */
  id: { at: number; kind: 'u8' | 'u16le' | 'u16be' };
  framing: string;
  messages: { name: string; dir: Direction; make: (r: Rng, seq: number) => Record<string, unknown> }[];
  /** The head's fields for one message, when there is a head. */
  head?: (r: Rng) => Record<string, unknown>;
}

const WORDS = ['alpha', 'bob', 'castle', 'dragon', 'ember', 'frost', 'gold', 'hero', 'iron', 'jade', 'knight', 'lava', 'moon', 'north'];

/** A random description with a length prefix and an id, and a way to make each message's fields. */
export function synthProtocol(seed: number): SynthProtocol {
  const r = new Rng(seed);
  const endian = r.pick(['le', 'be'] as const);
  const kind = r.pick(['u8', 'u16le', 'u16be', 'u24be', 'u32le', 'u32be', 'varint'] as const);
  const width = kind === 'varint' ? 0 : Number(/\d+/.exec(kind)![0]) / 8;
  // a length at an offset (a header before it), or counting itself, or with an adjustment
  const style = r.pick(['plain', 'plain', 'plain', 'includes', 'adjust', 'offset'] as const);
  const framingParts = [`length: ${kind}`];
  let offset = 0;
  if (style === 'includes' && kind !== 'varint') framingParts.push('includes_length: true');
  if (style === 'adjust' && kind !== 'varint') framingParts.push(`adjust: ${r.pick([-1, -2, -4])}`);
  if (style === 'offset' && kind !== 'varint') {
    offset = r.pick([2, 4]);
    framingParts.push(`offset: ${offset}`);
  }
  const framing = `{ ${framingParts.join(', ')} }`;
  // with an offset the frame comes whole: the head holds the bytes before the length and the length
  const headLen = style === 'offset' ? offset + width : r.chance(0.25) ? r.pick([1, 2]) : 0;
  const idKind = r.chance(0.8) ? 'u8' : r.pick(['u16le', 'u16be'] as const);
  const head: string[] = [];
  if (style === 'offset') {
    head.push(`    magic: { type: bytes, length: ${offset} }`, `    length: ${kind}`);
  } else if (headLen) head.push(`    flags: ${headLen === 1 ? 'u8' : 'u16'}`);
  const count = r.int(3, 10);
  const ids = new Set<number>();
  while (ids.size < count) ids.add(idKind === 'u8' ? r.int(1, 0x7f) : r.int(1, 0x3ff));
  const msgs: SynthProtocol['messages'] = [];
  const lines = [`protocol: synth${seed}`, `endian: ${endian}`, 'tcp:', '  ports: [24000]', `  framing: ${framing}`];
  if (head.length) lines.push('  head:', ...head);
  lines.push(`  id: ${idKind}`, '  messages:');
  let i = 0;
  for (const id of ids) {
    const name = `m${i++}`;
    const dir = r.pick(['c2s', 's2c'] as const);
    const fields: string[] = [];
    const makers: ((r: Rng, seq: number, o: Record<string, unknown>) => void)[] = [];
    const n = r.int(0, 6);
    for (let f = 0; f < n; f++) {
      const fname = `f${f}`;
      const t = r.pick(['u8', 'u16', 'u32', 'pos', 'string', 'counter', 'magic', 'enum'] as const);
      switch (t) {
        case 'u8':
        case 'u16':
        case 'u32': {
          fields.push(`        ${fname}: ${t}`);
          const max = t === 'u8' ? 255 : t === 'u16' ? 65535 : 2 ** 32 - 1;
          makers.push((rr, _s, o) => (o[fname] = rr.int(0, max)));
          break;
        }
        case 'pos':
          fields.push(`        ${fname}: { fields: { x: f32, y: f32, z: f32 } }`);
          makers.push((rr, _s, o) => (o[fname] = { x: Math.fround(rr.int(-5000, 5000) / 8), y: Math.fround(rr.int(0, 2000) / 4), z: Math.fround(rr.int(-5000, 5000) / 8) }));
          break;
        case 'string': {
          const prefix = r.pick(['u8', 'u16', 'varint']);
          fields.push(`        ${fname}: { type: string, prefix: ${prefix} }`);
          makers.push((rr, _s, o) => (o[fname] = Array.from({ length: rr.int(1, 4) }, () => rr.pick(WORDS)).join(' ')));
          break;
        }
        case 'counter':
          fields.push(`        ${fname}: u32`);
          makers.push((_rr, s, o) => (o[fname] = s));
          break;
        case 'magic':
          fields.push(`        ${fname}: u16`);
          makers.push((_rr, _s, o) => (o[fname] = 0x4747));
          break;
        case 'enum':
          fields.push(`        ${fname}: u8`);
          makers.push((rr, _s, o) => (o[fname] = rr.int(0, 3)));
          break;
      }
    }
    lines.push(`    ${name}:`, `      id: ${id}`, `      dir: ${dir}`, fields.length ? '      fields:' : '      fields: {}', ...fields);
    msgs.push({ name, dir, make: (rr, seq) => {
      const o: Record<string, unknown> = {};
      for (const m of makers) m(rr, seq, o);
      return o;
    } });
  }
  // both directions have something to say
  for (const d of ['c2s', 's2c'] as const) if (!msgs.some((m) => m.dir === d)) msgs[d === 'c2s' ? 0 : msgs.length - 1]!.dir = d;
  const yaml = `${lines.join('\n')}\n`.replace(/(\n {4}(m\d+):\n {6}id: \d+\n {6}dir: )(c2s|s2c)/g, (_all, pre: string, name: string) => `${pre}${msgs.find((m) => m.name === name)!.dir}`);
  const protocol = compileProtocol(yaml, `synth${seed}.yaml`);
  const headMaker = style === 'offset' ? () => ({ magic: Buffer.from('GSNF').subarray(0, offset), length: 0 }) : headLen ? (rr: Rng) => ({ flags: rr.int(0, 1) }) : undefined;
  return { yaml, protocol, id: { at: headLen, kind: idKind }, framing: framing, messages: msgs, head: headMaker };
}

/** Traffic of a synthetic protocol: a few connections of messages both ways; the frame ends per direction are the truth. */
export function synthTraffic(p: SynthProtocol, seed: number): { input: InferInput; ends: Map<string, number[]>; names: Map<string, string[]> } {
  const r = new Rng(seed * 7919 + 1);
  const tcp: TcpSample[] = [];
  const ends = new Map<string, number[]>();
  const names = new Map<string, string[]>();
  const conns = r.int(1, 4);
  let ts = 1_700_000_000_000_000;
  for (let c = 0; c < conns; c++) {
    const conv = new Conversation(p.protocol, 'tcp', () => {}, { flow: c });
    const parts: Record<Direction, Buffer[]> = { c2s: [], s2c: [] };
    const size: Record<Direction, number> = { c2s: 0, s2c: 0 };
    const times: TcpSample['times'] = { c2s: [], s2c: [] };
    const count = r.int(20, 150);
    const seq: Record<Direction, number> = { c2s: r.int(0, 1000), s2c: r.int(0, 1000) };
    for (let i = 0; i < count; i++) {
      const m = r.pick(p.messages);
      const fields = m.make(r, seq[m.dir]++);
      const head = p.head?.(r);
      const wire = conv.send(m.dir, m.name, fields, head ? { head } : {});
      ts += r.int(100, 50_000);
      times[m.dir].push([size[m.dir], ts]);
      parts[m.dir].push(wire);
      size[m.dir] += wire.length;
      const k = `${c}/${m.dir}`;
      ends.set(k, [...(ends.get(k) ?? []), size[m.dir]]);
      names.set(k, [...(names.get(k) ?? []), m.name]);
    }
    tcp.push({ conn: c, port: 24000, bytes: { c2s: Buffer.concat(parts.c2s), s2c: Buffer.concat(parts.s2c) }, cut: { c2s: false, s2c: false }, times, midstream: false });
  }
  return { input: { tcp, udp: [] }, ends, names };
}

export interface EvalResult {
  cases: number;
  framingExact: number;
  idExact: number;
  draftsClean: number;
  /** Vectors the drafts wrote, those of them that fail, and the drafts' messages. */
  vectors: number;
  vectorsFailing: number;
  messages: number;
  misses: string[];
}

/** Whether a framing cuts every stream where the truth does. */
function sameFrames(input: InferInput, f: Framing, ends: Map<string, number[]>): boolean {
  for (const s of input.tcp) {
    for (const d of ['c2s', 's2c'] as const) {
      const truth = ends.get(`${s.conn}/${d}`) ?? [];
      const cut = cutFrames({ bytes: s.bytes[d], cut: false, label: '' }, f);
      let at = 0;
      const got = cut.frames.map((x) => (at += x.length));
      if (cut.rest || got.join() !== truth.join()) return false;
    }
  }
  return true;
}

/** Whether the inferred id groups the messages the way their names do (per direction). */
function sameGroups(input: InferInput, f: Framing, at: number, kind: string, names: Map<string, string[]>): boolean {
  const byId = new Map<string, string>();
  for (const s of input.tcp) {
    for (const d of ['c2s', 's2c'] as const) {
      const cut = cutFrames({ bytes: s.bytes[d], cut: false, label: '' }, f);
      const truth = names.get(`${s.conn}/${d}`) ?? [];
      for (const [i, fr] of cut.frames.entries()) {
        const b = bodyOf(fr, f);
        const v = at + (kind.startsWith('u16') ? 2 : 1) > b.length ? -1 : kind === 'u16le' ? b.readUInt16LE(at) : kind === 'u16be' ? b.readUInt16BE(at) : b[at];
        const key = `${d}/${v}`;
        const name = truth[i]!;
        if (byId.has(key) && byId.get(key) !== name) return false;
        byId.set(key, name);
      }
    }
  }
  // and no two ids for one name
  const seen = new Map<string, string>();
  for (const [k, n] of byId) {
    const d = k.split('/')[0]!;
    if (seen.has(`${d}/${n}`)) return false;
    seen.set(`${d}/${n}`, k);
  }
  return true;
}

export function evaluate(count: number, seed0 = 1): EvalResult {
  const res: EvalResult = { cases: 0, framingExact: 0, idExact: 0, draftsClean: 0, vectors: 0, vectorsFailing: 0, messages: 0, misses: [] };
  for (let s = seed0; s < seed0 + count; s++) {
    const p = synthProtocol(s);
    const { input, ends, names } = synthTraffic(p, s);
    const report = infer(input, `synth${s}`);
    const t = report.transports[0]!;
    res.cases++;
    const f = t.framing as Framing;
    const framed = t.framing.k !== 'datagram' && sameFrames(input, f, ends);
    if (framed) res.framingExact++;
    else res.misses.push(`seed ${s}: framing ${p.framing}, inferred ${t.framing.k === 'datagram' ? 'datagram' : describeFraming(f)}`);
    const idOk = framed && t.idKind !== undefined && sameGroups(input, f, t.idAt, t.idKind, names);
    if (idOk) res.idExact++;
    else if (framed) res.misses.push(`seed ${s}: id ${p.id.kind} at ${p.id.at}, inferred ${t.idKind ?? 'none'} at ${t.idAt}`);
    try {
      const d = writeDraft(`synth${s}`, report, input);
      if (d.check.errors === 0) res.draftsClean++;
      else res.misses.push(`seed ${s}: the draft has ${d.check.errors} errors`);
      // the vectors it wrote pass, and how many of its messages have one
      const vectors = (parse(d.vectors) as { vectors: Vector[] }).vectors;
      const failing = vectors.filter((v, i) => runVector(d.protocol, v, i).problems.length).length;
      res.vectors += vectors.length;
      res.vectorsFailing += failing;
      res.messages += d.protocol.messages.length;
    } catch (e) {
      res.misses.push(`seed ${s}: the draft does not compile: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return res;
}

/** The shipped recordings: the truth is what their own protocol decoded (frame ends per direction). */
export async function evaluateRecordings(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const [file, proto] of [['testgame-solo.gsrec', 'testgame'], ['testgame-duo.gsrec', 'testgame'], ['echo.gsrec', 'echo'], ['chatroom.gsrec', 'chatroom']] as const) {
    const protocol = loadProtocol(proto, root);
    const collector = new StreamCollector();
    const ends = new Map<string, number[]>();
    const tee = new MessageDecoder(protocol, { message: (m) => {
      if (m.transport !== 'tcp') return;
      const k = `${m.flow.id}/${m.dir}`;
      ends.set(k, [...(ends.get(k) ?? []), m.offset + m.size]);
    } });
    await playRecording(join(root, 'recordings', file), { ...fanout(collector, tee) });
    const input = collector.result();
    const report = infer(input, file);
    const t = report.transports.find((x) => x.transport === 'tcp');
    if (!t) continue;
    const ok = t.framing.k !== 'datagram' && sameFrames(input, t.framing as Framing, ends);
    out.push(`${file} (${proto}): framing ${t.framing.k === 'datagram' ? '' : describeFraming(t.framing as Framing)} ${ok ? 'matches' : 'does not match'} the protocol's frames; id ${t.idKind ?? 'none'} at byte ${t.idAt}`);
  }
  return out;
}

function fanout(...ls: object[]): object {
  const names = ['open', 'data', 'gap', 'end', 'close', 'udpOpen', 'datagram', 'udpClose'];
  return Object.fromEntries(names.map((n) => [n, (...a: unknown[]) => { for (const l of ls) (l as Record<string, ((...x: unknown[]) => void) | undefined>)[n]?.(...a); }]));
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const count = Number(args[args.indexOf('--count') + 1]) || 200;
  const seed = args.includes('--seed') ? Number(args[args.indexOf('--seed') + 1]) : 1;
  const r = evaluate(count, seed);
  const pct = (x: number): string => `${((x / r.cases) * 100).toFixed(1)}%`;
  console.log(`infer on ${r.cases} generated descriptions: framing exact ${r.framingExact} (${pct(r.framingExact)}), id exact ${r.idExact} (${pct(r.idExact)}), drafts decoding with 0 errors ${r.draftsClean} (${pct(r.draftsClean)}); ${r.vectors} vectors for ${r.messages} messages, ${r.vectorsFailing} failing`);
  for (const m of r.misses.slice(0, 30)) console.log(`  ${m}`);
  void evaluateRecordings(join(__dirname, '..', '..')).then((lines) => lines.forEach((l) => console.log(l)));
}
