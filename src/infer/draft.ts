/**
 * The draft description inference writes: YAML a human goes on from, every guess commented
 * with its evidence, and a vectors.yaml of real messages. The draft is compiled and the input
 * decoded with it before it is written; a message whose guessed fields fail on some sample falls
 * back to bytes, so decoding the input with the draft gives no errors.
 */
import { Conversation } from '../conversation/conversation';
import type { Direction } from '../core/types';
import { compileProtocol, type Protocol } from '../protocol/protocol';
import { parse } from 'yaml';
import { runVector, type Vector } from '../conversation/vectors';
import type { Message } from '../session/messages';
import { vectorEntry } from '../session/vector-entry';
import type { InferInput } from './collect';
import { describeFraming, type Framing } from './framing';
import type { FieldGuess, FieldSpec } from './fields';
import type { InferReport, MessageGuess, TransportReport } from './infer';

export interface Draft {
  name: string;
  yaml: string;
  vectors: string;
  protocol: Protocol;
  /** The input decoded with the draft. */
  check: DraftCheck;
  /** Messages whose guessed fields failed on some sample and became bytes. */
  fellBack: string[];
}

export interface DraftCheck {
  messages: number;
  named: number;
  errors: number;
  /** Bytes framing could not take (a stream cut inside a frame, a direction framed otherwise). */
  raw: number;
  problems: string[];
}

/** A YAML scalar: plain when that reads back the same, else double-quoted (JSON escapes are YAML's). */
function scalar(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const s = String(v);
  return /^[a-z][a-z0-9_]*$/i.test(s) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(s) ? s : JSON.stringify(s);
}

function flow(spec: FieldSpec): string {
  if (typeof spec === 'string') return spec;
  return `{ ${Object.entries(spec).map(([k, v]) => `${k}: ${scalar(v)}`).join(', ')} }`;
}

/** A comment: one line, only what is safe in a YAML comment. */
function comment(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}

function framingYaml(f: Framing | { k: 'datagram' }): string {
  switch (f.k) {
    case 'length': {
      const parts = [`length: ${f.kind}`];
      if (f.offset) parts.push(`offset: ${f.offset}`);
      if (f.includes) parts.push('includes_length: true');
      if (f.adjust) parts.push(`adjust: ${f.adjust}`);
      return `{ ${parts.join(', ')} }`;
    }
    case 'delimiter':
      return `{ delimiter: ${JSON.stringify(f.delimiter)} }`;
    case 'fixed':
      return `{ fixed: ${f.size} }`;
    case 'datagram':
      return 'datagram';
    case 'chunk':
    case 'websocket':
      return 'chunk';
  }
}

/** A message's draft name: its direction and id (`c2s_12`); UDP's start with `udp_` (a name is unique across transports). */
export function messageName(m: { dir: Direction; id?: number }, idKind?: string, transport: 'tcp' | 'udp' = 'tcp'): string {
  const t = transport === 'udp' ? 'udp_' : '';
  if (m.id === undefined) return `${t}${m.dir}_message`;
  const digits = idKind === 'u8' ? 2 : 4;
  return `${t}${m.dir}_${m.id.toString(16).padStart(digits, '0')}`;
}

/** A message's fields as draft YAML lines (each with its evidence as a comment), for protocol.yaml. */
export function fieldsYaml(fields: FieldGuess[], indent: string): string[] {
  if (!fields.length) return [`${indent}fields: {}`];
  const lines = [`${indent}fields:`];
  for (const f of fields) lines.push(`${indent}  ${f.name}: ${flow(f.spec)}${' '.repeat(Math.max(1, 34 - f.name.length - flow(f.spec).length))}# ${f.sure ? '' : 'guess: '}${comment(f.evidence)}`);
  return lines;
}

function transportYaml(t: TransportReport, fallback: Set<string>): string[] {
  const L: string[] = [`${t.transport}:`, `  ports: [${t.ports.join(', ')}]`];
  // the evidence of the framing used (a direction's own best may be another)
  const used = t.framing.k === 'datagram' ? null : describeFraming(t.framing);
  const best = t.directions.flatMap((d) => [d.framing.best, ...d.framing.others]).find((g) => g && describeFraming(g.framing) === used);
  if (t.transport === 'tcp') {
    const why = best ? `confidence ${best.confidence}: ${best.evidence[0]}` : `no framing found: ${[...new Set(t.directions.flatMap((d) => d.framing.why))].join('; ')}`;
    if (t.framing.k === 'websocket') L.push('  websocket: true  # an HTTP upgrade, then WebSocket frames: each data message is one message');
    else L.push(`  framing: ${framingYaml(t.framing)}  # ${comment(why)}`);
  } else L.push('  framing: datagram');
  if (t.idKind) {
    if (t.idAt > 0) L.push('  head:', `    before_id: { type: bytes, length: ${t.idAt} }  # guess: the bytes before the id`);
    const chosen = t.directions.flatMap((x) => [x.dispatch.best, ...x.dispatch.others]).find((g) => g && g.at === t.idAt && g.kind === t.idKind);
    L.push(`  id: ${t.idKind}  # ${chosen ? `confidence ${chosen.confidence}: ${comment(chosen.evidence[0]!)}` : `chosen for both directions at byte ${t.idAt}`}`);
  }
  L.push('  messages:');
  for (const d of t.directions) {
    for (const m of d.messages) {
      const name = messageName(m, t.idKind, t.transport);
      L.push(`    ${name}:  # ${m.count} seen, ${m.sizes[0] === m.sizes[1] ? `${m.sizes[0]} bytes` : `${m.sizes[0]}-${m.sizes[1]} bytes`}${m.after ? `; ${comment(m.after)}` : ''}`);
      if (m.id !== undefined) L.push(`      id: 0x${m.id.toString(16)}`);
      L.push(`      dir: ${m.dir}`);
      if (fallback.has(`${t.transport}/${name}`)) L.push('      fields:', '        data: { type: bytes, until: end }  # the guessed fields failed on some messages: bytes');
      else if (!m.fields.length && m.sizes[1] > 0) L.push('      fields:', '        data: { type: bytes, until: end }  # nothing inferred: the bytes');
      else L.push(...fieldsYaml(m.fields, '      '));
    }
  }
  return L;
}

function yamlOf(name: string, report: InferReport, fallback: Set<string>): string {
  const lines = [
    '# yaml-language-server: $schema=../protocol.schema.json',
    `# Drafted by gamesniff infer from ${comment(report.source)}: what it is sure of and what it guessed`,
    '# is in the comments (and in report.txt). Rename the messages and fields, then: gamesniff check.',
    `protocol: ${name}`,
    `description: ${JSON.stringify(`drafted from ${report.source}`)}`,
    `endian: ${report.transports.find((t) => t.transport === 'tcp')?.endian ?? 'le'}`,
  ];
  for (const t of report.transports) lines.push(...transportYaml(t, fallback));
  return `${lines.join('\n')}\n`;
}

/** Samples kept per message name, to find one that makes a passing vector. */
const SAMPLES = 4;
/** A vector's body at most this long (a chunk of a whole stream would make a vector of megabytes). */
const MAX_VECTOR = 4096;

/** Decode the input with a protocol, counting what did not decode; bytes a message leaves undecoded count as failing. */
export function checkDraft(protocol: Protocol, input: InferInput, ports: { tcp: number[]; udp: number[] }): { check: DraftCheck; failing: Set<string>; samples: Map<string, Message[]> } {
  const check: DraftCheck = { messages: 0, named: 0, errors: 0, raw: 0, problems: [] };
  const failing = new Set<string>();
  const samples = new Map<string, Message[]>();
  const handler = (m: Message): void => {
    check.messages++;
    if (m.raw !== undefined) check.raw++;
    else if (m.error || m.trailing > 0) {
      check.errors++;
      if (m.name) failing.add(`${m.transport}/${m.name}`);
      const why = m.error ? `${m.error.path} ${m.error.message}` : `${m.trailing} bytes left undecoded`;
      if (check.problems.length < 20) check.problems.push(`${m.dir} ${m.name ?? '?'}: ${why}`);
    } else if (m.name) {
      check.named++;
      const key = `${m.transport}/${m.name}`;
      const list = samples.get(key) ?? [];
      if (list.length < SAMPLES && m.payload.length <= MAX_VECTOR) samples.set(key, [...list, m]);
    }
  };
  if (protocol.tcp) {
    for (const s of input.tcp) {
      if (!ports.tcp.includes(s.port)) continue;
      const conv = new Conversation(protocol, 'tcp', handler as (m: unknown) => void, { flow: s.conn });
      for (const d of ['c2s', 's2c'] as const) {
        // as delivered (chunk framing makes a message of each delivery); directions apart
        const t = s.times[d];
        for (let i = 0; i < t.length; i++) {
          const from = t[i]![0];
          const to = i + 1 < t.length ? t[i + 1]![0] : s.bytes[d].length;
          if (to > from) conv.received(d, s.bytes[d].subarray(from, to), from, t[i]![1]);
        }
      }
      for (const d of ['c2s', 's2c'] as const) if (!s.cut[d]) conv.end(d, 0);
    }
  }
  if (protocol.udp) {
    for (const f of input.udp) {
      if (!ports.udp.includes(f.port)) continue;
      const conv = new Conversation(protocol, 'udp', handler as (m: unknown) => void, { flow: f.flow });
      for (const d of f.datagrams) conv.datagram(d.dir, d.bytes, d.ts);
    }
  }
  return { check, failing, samples };
}

/** A vector of each message: the first sample whose entry passes when run (a float -0 or NaN does not encode back the same). */
function vectorsOf(protocol: Protocol, samples: Map<string, Message[]>): string {
  const lines = ['# Drafted by gamesniff infer: one real message of each kind, and what the draft decodes it to.', '# Check them (gamesniff check) as you name things; keep the ones that still pass.'];
  const entries: string[] = [];
  for (const list of samples.values()) {
    for (const m of list) {
      const entry = vectorEntry(m, `${m.label ?? m.name} as captured`, protocol);
      const v = (parse(`vectors:\n${entry}`) as { vectors: Vector[] }).vectors[0]!;
      if (runVector(protocol, v, entries.length).problems.length === 0) {
        entries.push(entry);
        break;
      }
    }
  }
  return entries.length ? `${lines.join('\n')}\nvectors:\n${entries.join('')}` : `${lines.join('\n')}\nvectors: []\n`;
}

export function writeDraft(name: string, report: InferReport, input: InferInput): Draft {
  const fallback = new Set<string>();
  for (let round = 0; ; round++) {
    const yaml = yamlOf(name, report, fallback);
    const protocol = compileProtocol(yaml, `protocols/${name}/protocol.yaml`);
    const ports = { tcp: report.transports.find((t) => t.transport === 'tcp')?.ports ?? [], udp: report.transports.find((t) => t.transport === 'udp')?.ports ?? [] };
    const { check, failing, samples } = checkDraft(protocol, input, ports);
    const fresh = [...failing].filter((k) => !fallback.has(k));
    if (fresh.length && round < 4) {
      for (const k of fresh) fallback.add(k);
      continue;
    }
    return { name, yaml, vectors: vectorsOf(protocol, samples), protocol, check, fellBack: [...fallback] };
  }
}

export type { MessageGuess };
