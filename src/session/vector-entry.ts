/**
 * A decoded message as a vectors.yaml entry (see conversation/vectors.ts): the frame body it was
 * decoded from as hex, and the fields it decoded to. One home for the TUI's `y` → vector and for
 * `gamesniff vectors add`, and for adding an entry to a vectors.yaml without touching what the
 * file already holds.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { parse, parseDocument } from 'yaml';
import { escapeJson } from '../core/terminal';
import type { Vector } from '../conversation/vectors';
import type { Protocol } from '../protocol/protocol';
import { FULL, toJsonValue } from './format';
import type { Message } from './messages';

/** Why a message cannot be a vector (it did not frame, its id is unknown, it did not decode), or null. */
export function vectorProblem(m: Message): string | null {
  if (m.raw !== undefined) return `it is raw bytes, not a message (${m.raw})`;
  if (!m.name) return m.id !== undefined ? `its id ${m.id} (0x${m.id.toString(16)}) is not in the protocol` : 'it matches no message of the protocol';
  if (m.error) return `it did not decode: error at ${m.error.path || 'frame'} +${m.error.offset}: ${m.error.message}`;
  return null;
}

/** A value as one line of YAML: JSON (YAML reads it), with what YAML may not hold raw (C1 controls, DEL, U+FFFE...) as \u escapes. */
function yamlJson(v: unknown): string {
  return escapeJson(JSON.stringify(toJsonValue(v, FULL))).replace(/[\ufffe\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/** A name as a plain YAML word when it is one, else quoted. */
function yamlWord(s: string): string {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(s) ? s : yamlJson(s);
}

/** The name a vector gets by default: `chat seen [12]`, 12 being the message's number (decode's, the TUI's). */
export function vectorName(m: Message, n: number): string {
  return `${m.label ?? m.name ?? 'raw'} seen [${n}]`;
}

/**
 * The entry, as lines to go under `vectors:` (a list item indented two spaces, ending in a
 * newline). The hex is quoted: YAML reads `1e05` or `110100000048420000484201` as a number. `m` must have decoded (see vectorProblem). Besides the name, dir, hex, message and
 * fields: the frame header's fields (header framing), the head's (a transport head), the
 * transport when it is udp, and the id when the message answers to several and came with
 * another than the first (what encoding writes unless told); `state`: the session state the
 * message was decoded in, when it needs one (see vectorState).
 */
export function vectorEntry(m: Message, name: string, protocol?: Protocol | null, state?: Record<string, unknown> | null): string {
  const label = m.label ?? m.name!;
  const lines = [`  - name: ${yamlJson(name)}`];
  if (m.transport === 'udp') lines.push('    transport: udp');
  if (state && Object.keys(state).length) lines.push(`    state: ${yamlJson(state)}`);
  lines.push(`    dir: ${m.dir}`, `    hex: "${m.payload.toString('hex')}"`, `    message: ${yamlWord(label)}`);
  const def = protocol?.message(label, m.dir)?.def;
  if (m.id !== undefined && def?.ids && def.ids.length > 1 && def.id !== m.id) lines.push(`    id: ${m.id}`);
  if (m.head && Object.keys(m.head).length) lines.push(`    head: ${yamlJson(m.head)}`);
  lines.push(`    fields: ${yamlJson(m.fields ?? {})}`);
  if (m.header) lines.push(`    frame: ${yamlJson(m.header)}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The state a vector of a message may need: the session variables that differ from the
 * protocol's initial values in `state` (the state before the message), those a vector can hold
 * (numbers, text, booleans; not keys as bytes). Null when none differ.
 */
export function vectorState(protocol: Protocol, state: Record<string, unknown> | undefined): Record<string, unknown> | null {
  if (!state) return null;
  const initial = protocol.newState();
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(state)) {
    if (!(k in initial) || isDeepStrictEqual(v, initial[k])) continue;
    if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'bigint') out[k] = v;
  }
  return Object.keys(out).length ? out : null;
}

/** An entry (from vectorEntry) read as the vector runner reads it. */
export function parseEntry(entry: string): Vector {
  return (parse(`vectors:\n${entry}`) as { vectors: Vector[] }).vectors[0]!;
}

/** The list under `vectors:` in a parsed file, or null when there is none. */
function vectorList(doc: unknown): unknown[] | null {
  const v = doc && typeof doc === 'object' ? (doc as { vectors?: unknown }).vectors : undefined;
  return Array.isArray(v) ? v : null;
}

/**
 * Add `entry` (from vectorEntry) to the vectors file `file`, made when missing (with `protocol:
 * NAME`). What the file holds stays as it is, comments and layout included: the entry is
 * appended as text, indented as the list already is, and the result read back to be sure it is
 * the list's new last item; a file where that cannot be (the list is not last, or written
 * inline) has it added through the YAML document, which keeps the comments. Returns the entry's
 * index in the list.
 */
export function appendVector(file: string, entry: string, protocolName: string): number {
  const item = parseEntry(entry);
  if (!existsSync(file)) {
    writeFileSync(file, `# Test vectors for ${protocolName}: gamesniff check ${protocolName} runs them both ways.\nprotocol: ${yamlWord(protocolName)}\nvectors:\n${entry}`);
    return 0;
  }
  const text = readFileSync(file, 'utf8');
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new Error(`${file} does not read as YAML (fix it first): ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) throw new Error(`${file}: expected a mapping with 'vectors:'`);
  const had = doc ? (doc as { vectors?: unknown }).vectors : undefined;
  if (had !== undefined && had !== null && !Array.isArray(had)) throw new Error(`${file}: 'vectors:' is not a list`);
  const count = vectorList(doc)?.length ?? 0;
  const sep = text.length === 0 || text.endsWith('\n') ? '' : '\n';
  const key = had === undefined ? 'vectors:\n' : '';
  for (const indent of [2, 0, 4, 1, 3]) {
    const shifted = entry.replace(/^ {2}/gm, ' '.repeat(indent));
    const suffix = sep + key + shifted;
    let after: unknown;
    try {
      after = parse(text + suffix);
    } catch {
      continue;
    }
    const list = vectorList(after);
    if (list && list.length === count + 1 && isDeepStrictEqual(list[count], item)) {
      appendFileSync(file, suffix);
      return count;
    }
  }
  // the list is not the last thing in the file, or written inline: through the document
  const d = parseDocument(text);
  // the entry as a node of its own text: its quoting and inline fields kept
  const node = (parseDocument(`vectors:\n${entry}`).get('vectors') as { items: unknown[] }).items[0];
  if (had === undefined || had === null) d.set('vectors', d.createNode([node]));
  else d.addIn(['vectors'], node);
  writeFileSync(file, d.toString());
  return count;
}
