/**
 * vectors.yaml: hex in, fields out, run both ways (decode the hex and compare the fields; encode
 * the fields and compare the hex). The hex is a frame's body as a framer cuts it: it goes through
 * the frame transforms (compression) and the codec, in a conversation of its own started with the
 * vector's state. Used by the tests and by `gamesniff check`.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Direction } from '../core/types';
import { wrapFrame } from '../framing/spec';
import { diffValues, showValue as show } from '../protocol/diff';
import type { Protocol } from '../protocol/protocol';
import { Conversation, type ConversationMessage } from './conversation';

export interface VectorResult {
  name: string;
  problems: string[];
}

export interface Vector {
  name?: string;
  transport?: 'tcp' | 'udp';
  dir?: Direction;
  state?: Record<string, unknown>;
  hex?: string;
  wire?: string;
  message?: string;
  fields?: unknown;
  state_after?: Record<string, unknown>;
  error?: { message?: string; path?: string; offset?: number };
  /** The transport head's fields (decoded before the id). */
  head?: Record<string, unknown>;
  /** The frame header's fields (header framing): given to the decoder, written by framing. */
  frame?: Record<string, unknown>;
  /** The id to encode, for a message with several. */
  id?: number;
}

export function hexBytes(s: string): Buffer {
  const h = String(s).replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(h)) throw new Error(`not hex: ${s}`);
  return Buffer.from(h, 'hex');
}

export function loadVectors(file: string): Vector[] {
  const doc = parse(readFileSync(file, 'utf8')) as { vectors?: Vector[] };
  if (!doc || !Array.isArray(doc.vectors)) throw new Error(`${file}: expected 'vectors:' with a list`);
  return doc.vectors;
}

export function runVector(protocol: Protocol, v: Vector, index: number): VectorResult {
  const name = v.name ?? `vector ${index + 1}`;
  const problems: string[] = [];
  const kind = v.transport ?? 'tcp';
  const t = protocol.transport(kind);
  if (!t) return { name, problems: [`the protocol has no ${kind} section`] };
  if (v.dir !== 'c2s' && v.dir !== 's2c') return { name, problems: ["needs 'dir: c2s' or 'dir: s2c'"] };
  if (v.hex === undefined) return { name, problems: ["needs 'hex:'"] };
  const bytes = hexBytes(v.hex);
  const conversation = (): { conv: Conversation<null>; out: ConversationMessage<null>[] } => {
    const out: ConversationMessage<null>[] = [];
    return { conv: new Conversation(protocol, kind, (m) => out.push(m), { flow: null, spans: true, state: v.state ?? {} }), out };
  };
  const dec = conversation();
  dec.conv.frameBody(v.dir, bytes, v.frame);
  const d = dec.out[0]!;
  const state = dec.conv.state;

  if (v.error) {
    if (!d.error) problems.push(`decoded as ${d.name} but an error was expected`);
    else {
      if (v.error.message && !d.error.message.includes(v.error.message)) problems.push(`error '${d.error.message}', expected it to mention '${v.error.message}'`);
      if (v.error.path !== undefined && d.error.path !== v.error.path) problems.push(`error at ${d.error.path}, expected ${v.error.path} (${d.error.message})`);
      if (v.error.offset !== undefined && d.error.offset !== v.error.offset) problems.push(`error at offset ${d.error.offset}, expected ${v.error.offset}`);
    }
    return { name, problems };
  }

  if (d.error) problems.push(`decode failed at ${d.error.path || '(frame)'} offset ${d.error.offset}: ${d.error.message}`);
  else {
    if (v.message && d.name !== v.message && d.label !== v.message && `${v.dir}.${d.name}` !== v.message) problems.push(`decoded as ${d.label ?? d.name}, expected ${v.message}`);
    problems.push(...diffValues(d.fields, v.fields ?? {}).map((x) => `decode: ${x}`));
    if (v.head) problems.push(...diffValues(d.head, v.head).map((x) => `decode head: ${x}`));
    if (v.id !== undefined && d.id !== v.id) problems.push(`decoded id ${d.id}, expected ${v.id}`);
    if (d.trailing) problems.push(`decode: ${d.trailing} bytes left undecoded`);
    for (const [k, val] of Object.entries(v.state_after ?? {})) if (state[k] !== val) problems.push(`state ${k} is ${show(state[k])} after decoding, expected ${show(val)}`);
  }
  if (v.message) {
    try {
      const enc = conversation();
      const payload = t.encode(v.message, v.fields ?? {}, enc.conv.state, { dir: v.dir, head: v.head, id: v.id, frame: v.frame });
      const body = enc.conv.encodeBody(v.dir, payload, v.frame);
      if (d.compressed && !d.error) {
        // zlib builds differ in their output; what must match is the content.
        const again = conversation();
        again.conv.frameBody(v.dir, body, v.frame);
        const a = again.out[0]!;
        if (!a.compressed || !a.payload.equals(d.payload)) problems.push(`encode: ${body.toString('hex')} does not decompress to the vector's content`);
      } else if (!body.equals(bytes)) problems.push(`encode: got ${body.toString('hex')}, expected ${bytes.toString('hex')}`);
      if (v.wire !== undefined) {
        const wire = kind === 'udp' ? body : wrapFrame(t.spec, body, v.frame);
        if (!wire.equals(hexBytes(v.wire))) problems.push(`frame: got ${wire.toString('hex')}, expected ${hexBytes(v.wire).toString('hex')}`);
      }
    } catch (e) {
      problems.push(`encode failed: ${(e as Error).message}`);
    }
  }
  return { name, problems };
}

export function runVectorFile(protocol: Protocol, file: string): VectorResult[] {
  return loadVectors(file).map((v, i) => runVector(protocol, v, i));
}
