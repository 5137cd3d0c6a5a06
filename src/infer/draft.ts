/**
 * The draft description inference writes: YAML a human goes on from, every guess commented
 * with its evidence, and a vectors.yaml of real messages. The draft is compiled and the input
 * decoded with it before it is written; a message whose guessed fields fail on some sample falls
 * back to bytes, so decoding the input with the draft gives no errors.
 */
import { Conversation } from '../conversation/conversation';
import type { Direction } from '../core/types';
import { compileProtocol, type Protocol } from '../protocol/protocol';
import { FULL, toJsonValue } from '../session/format';
import type { InferInput } from './collect';
import type { Framing } from './framing';
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
  const L: string[] = [`${t.transport}:`, `  ports: [${t.port}]`];
  const best = t.directions.map((d) => d.framing.best).filter(Boolean)[0];
  if (t.transport === 'tcp') {
    const why = best ? `confidence ${best.confidence}: ${best.evidence[0]}` : `no framing found: ${t.directions.flatMap((d) => d.framing.why).join('; ')}`;
    if (t.framing.k === 'websocket') L.push('  websocket: true  # an HTTP upgrade, then WebSocket frames: each data message is one message');
    else L.push(`  framing: ${framingYaml(t.framing)}  # ${comment(why)}`);
  } else L.push('  framing: datagram');
  if (t.idKind) {
    if (t.idAt > 0) L.push('  head:', `    before_id: { type: bytes, length: ${t.idAt} }  # guess: the bytes before the id, the same in every message`);
    const d = t.directions.find((x) => x.dispatch.best)!.dispatch.best!;
    L.push(`  id: ${t.idKind}  # confidence ${d.confidence}: ${comment(d.evidence[0]!)}`);
  }
  L.push('  messages:');
  for (const d of t.directions) {
    for (const m of d.messages) {
      const name = messageName(m, t.idKind, t.transport);
      L.push(`    ${name}:  # ${m.count} seen, ${m.sizes[0] === m.sizes[1] ? `${m.sizes[0]} bytes` : `${m.sizes[0]}-${m.sizes[1]} bytes`}${m.after ? `; ${comment(m.after)}` : ''}`);
      if (m.id !== undefined) L.push(`      id: 0x${m.id.toString(16)}`);
      L.push(`      dir: ${m.dir}`);
      if (fallback.has(`${t.transport}/${name}`)) L.push('      fields:', '        data: { type: bytes, until: end }  # the guessed fields failed on some messages: bytes');
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

interface First {
  dir: Direction;
  transport: 'tcp' | 'udp';
  payload: Buffer;
  fields: Record<string, unknown>;
  head?: Record<string, unknown>;
  name: string;
}

/** Decode the input with a protocol, counting what did not decode. */
export function checkDraft(protocol: Protocol, input: InferInput, ports: number[]): { check: DraftCheck; failing: Set<string>; firsts: Map<string, First> } {
  const check: DraftCheck = { messages: 0, named: 0, errors: 0, raw: 0, problems: [] };
  const failing = new Set<string>();
  const firsts = new Map<string, First>();
  const handler = (m: { transport: 'tcp' | 'udp'; dir: Direction; name?: string; label?: string; fields?: Record<string, unknown>; head?: Record<string, unknown>; error?: { message: string; path: string }; raw?: string; payload: Buffer }): void => {
    check.messages++;
    if (m.raw !== undefined) check.raw++;
    else if (m.error) {
      check.errors++;
      if (m.name) failing.add(`${m.transport}/${m.name}`);
      if (check.problems.length < 20) check.problems.push(`${m.dir} ${m.name ?? '?'}: ${m.error.path} ${m.error.message}`);
    } else if (m.name) {
      check.named++;
      const key = `${m.transport}/${m.name}`;
      if (!firsts.has(key) && m.fields) firsts.set(key, { dir: m.dir, transport: m.transport, payload: m.payload, fields: m.fields, head: m.head, name: m.label ?? m.name });
    }
  };
  if (protocol.tcp) {
    for (const s of input.tcp) {
      if (!ports.includes(s.port)) continue;
      const conv = new Conversation(protocol, 'tcp', handler, { flow: s.conn });
      for (const d of ['c2s', 's2c'] as const) {
        // in delivery order per direction; directions apart (the draft's state is per direction)
        if (s.bytes[d].length) conv.received(d, s.bytes[d], 0, s.times[d][0]?.[1] ?? 0);
      }
      for (const d of ['c2s', 's2c'] as const) if (!s.cut[d]) conv.end(d, 0);
    }
  }
  if (protocol.udp) {
    for (const f of input.udp) {
      if (!ports.includes(f.port)) continue;
      const conv = new Conversation(protocol, 'udp', handler, { flow: f.flow });
      for (const d of f.datagrams) conv.datagram(d.dir, d.bytes, d.ts);
    }
  }
  return { check, failing, firsts };
}

export function writeDraft(name: string, report: InferReport, input: InferInput): Draft {
  const fallback = new Set<string>();
  for (let round = 0; ; round++) {
    const yaml = yamlOf(name, report, fallback);
    const protocol = compileProtocol(yaml, `protocols/${name}/protocol.yaml`);
    const { check, failing, firsts } = checkDraft(protocol, input, report.ports);
    const fresh = [...failing].filter((k) => !fallback.has(k));
    if (fresh.length && round < 4) {
      for (const k of fresh) fallback.add(k);
      continue;
    }
    const vectors = ['# Drafted by gamesniff infer: one real message of each kind, and what the draft decodes it to.', '# Check them (gamesniff check) as you name things; keep the ones that still pass.', 'vectors:'];
    for (const [, v] of firsts) {
      vectors.push(`  - name: ${JSON.stringify(`${v.name} as captured`)}`, `    dir: ${v.dir}`);
      if (v.transport === 'udp') vectors.push('    transport: udp');
      vectors.push(`    hex: "${v.payload.toString('hex')}"`, `    message: ${v.name}`, `    fields: ${JSON.stringify(toJsonValue(v.fields, FULL))}`);
      if (v.head) vectors.push(`    head: ${JSON.stringify(toJsonValue(v.head, FULL))}`);
    }
    if (!firsts.size) vectors[vectors.length - 1] = 'vectors: []';
    return { name, yaml, vectors: `${vectors.join('\n')}\n`, protocol, check, fellBack: [...fallback] };
  }
}

export type { MessageGuess };
