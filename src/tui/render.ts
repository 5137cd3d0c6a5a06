/**
 * Renderers: model in, lines out (blessed tag markup, content escaped). No terminal code here, so
 * tests snapshot exactly what the screen draws.
 */
import type { PacketView } from '../packet/describe';
import { clockTime, messageDetail, messageLabel, summarize } from '../session/format';
import type { Message } from '../session/messages';
import { KEYMAP } from './model/keymap';
import type { SessionModel } from './model/session';
import { bytesPerRow, hexRows } from './model/hex';
import type { Inspection, Reading } from './model/inspect';

/** Blessed reads {tags}: content braces must be escaped. */
export function esc(s: string): string {
  return s.replace(/[{}]/g, (c) => (c === '{' ? '{open}' : '{close}'));
}

/** Columns a character takes: two for East Asian wide and emoji ranges, else one. */
function columns(cp: number): number {
  return (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) || (cp >= 0x20000 && cp <= 0x3fffd) ? 2 : 1;
}

/** At most `width` columns (a row that wraps would push the list down), cut with … */
export function fit(s: string, width: number): string {
  let cols = 0;
  let i = 0;
  // where to cut, should the rest not fit: what fits with room for the …
  let cut = -1;
  for (const ch of s) {
    const w = columns(ch.codePointAt(0)!);
    if (cut < 0 && cols + w > width - 1) cut = i;
    if (cols + w > width) return s.slice(0, Math.max(0, cut)) + (width > 0 ? '…' : '');
    cols += w;
    i += ch.length;
  }
  return s;
}

/** The string padded with spaces to `width` columns. */
export function padColumns(s: string, width: number): string {
  let cols = 0;
  for (const ch of s) cols += columns(ch.codePointAt(0)!);
  return cols >= width ? s : s + ' '.repeat(width - cols);
}

const inverse = (s: string): string => `{inverse}${s}{/inverse}`;
const underline = (s: string): string => `{underline}${s}{/underline}`;

export function messageRow(m: Message, width: number, time = clockTime(m.ts), marked = false, detail = messageDetail(m, width)): string {
  const arrow = m.dir === 'c2s' ? '->' : '<-';
  const conn = `#${m.flow.id}${m.transport === 'udp' ? 'u' : ''}`;
  return fit(`${marked ? '*' : ''}${time} ${conn.padEnd(4)} ${arrow} ${messageLabel(m)} ${detail}`, width);
}

export function renderMessages(model: SessionModel, width: number, height: number): string[] {
  const rows = Math.max(0, height);
  const top = model.scrollTo(rows);
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const vi = top + r;
    const i = model.view.at(vi);
    if (i === undefined) break;
    const m = model.messages.at(i)!;
    const line = esc(padColumns(messageRow(m, width, model.timeOf(m), model.marks.has(i), model.detailOf(m, width)), width));
    out.push(vi === model.selected ? inverse(line) : line);
  }
  if (out.length === 0) out.push(model.messages.length ? esc(`no message matches the filter: ${model.filter?.text ?? ''}`) : 'waiting for messages…');
  return out;
}

export function renderConnections(model: SessionModel, width: number, height: number): string[] {
  const out: string[] = [];
  const list = model.connectionList();
  const start = Math.max(0, Math.min(model.connSelected - height + 1, list.length - height));
  list.slice(Math.max(0, start), Math.max(0, start) + height).forEach((c, k) => {
    const i = Math.max(0, start) + k;
    const text = fit(
      `#${c.id} ${c.transport} ${c.client} -> ${c.server} ${c.state}  ` +
        `c2s ${c.bytes[0]}B/${c.messages[0]}  s2c ${c.bytes[1]}B/${c.messages[1]}` +
        (c.gaps ? `  gaps ${c.gaps} (${c.gapBytes}B)` : ''),
      width,
    ).padEnd(width);
    out.push(model.pane === 'connections' && i === model.connSelected ? inverse(esc(text)) : esc(text));
  });
  if (out.length === 0) out.push('no connections yet');
  return out;
}

interface FieldLine {
  path: string;
  text: string;
}

/** The decoded fields as an indented tree, one line per field, each with its path. */
export function fieldLines(name: string, fields: unknown): FieldLine[] {
  const out: FieldLine[] = [];
  const walk = (v: unknown, path: string, label: string, depth: number): void => {
    const pad = '  '.repeat(depth);
    if (Array.isArray(v)) {
      out.push({ path, text: `${pad}${label}: [${v.length}]` });
      v.forEach((x, i) => walk(x, `${path}[${i}]`, `[${i}]`, depth + 1));
    } else if (v && typeof v === 'object' && !Buffer.isBuffer(v) && !(v instanceof Uint8Array)) {
      out.push({ path, text: `${pad}${label}:` });
      for (const [k, x] of Object.entries(v)) if (x !== undefined) walk(x, `${path}.${k}`, k, depth + 1);
    } else {
      out.push({ path, text: `${pad}${label}: ${summarize(v, 200)}` });
    }
  };
  out.push({ path: name, text: name });
  if (fields && typeof fields === 'object') for (const [k, x] of Object.entries(fields)) if (x !== undefined) walk(x, `${name}.${k}`, k, 1);
  return out;
}

/**
 * Hex dump with bytes [from, to) shown inverse: 16 bytes a row, 8 or 4 when narrower (a row
 * must not wrap). When the rows do not all fit, they start where the highlighted bytes are.
 * With a byte cursor (the inspector's), the cursor is the inverse byte and [from, to) is underlined.
 */
export function hexDump(b: Buffer, from = -1, to = -1, maxRows = Infinity, width = 80, cursor = -1): string[] {
  // with the inspector below, the few rows there are are all bytes (the cursor's offset says where)
  const withCursor = cursor >= 0;
  return hexRows(b, { per: bytesPerRow(width), from, to, cursor, maxRows, notes: !withCursor, mark: withCursor ? underline : inverse, cursorMark: inverse, esc });
}

/** Fits `width` columns as it is. */
const fits = (s: string, width: number): boolean => fit(s, width) === s;

/**
 * The data inspector's rows: where the cursor is with u8 and s8, then the readings most wanted
 * first, little- and big-endian side by side when both fit the width (in two columns when they
 * can: half the width each when all fit, else as wide as the left ones are), else one a row.
 * Past `maxRows`, the last row names the readings left out.
 */
export function inspectorLines(ins: Inspection, width: number, maxRows = Infinity): string[] {
  const cell = (r: Reading): string => `${r.label.padEnd(5)} ${r.value}`;
  const cells = ins.groups.map((g) => g.map(cell));
  // the little- and big-endian pairs that fit a row: they line up in two columns
  const pairs = cells.filter((c, k) => k > 0 && c.length === 2 && /le$/.test(ins.groups[k]![0]!.label) && fits(`${c[0]} ${c[1]}`, width));
  const half = Math.ceil(width / 2);
  const wide = pairs.every((c) => fits(c[0]!, half - 1) && fits(c[1]!, width - half));
  // the right column: at half the width, or just past the widest left cell that leaves room
  // (numbers: a character is a column)
  const col = wide ? half : Math.max(0, ...pairs.map((c) => c[0]!.length + 1));
  const groups = ins.groups.map((g, k) => {
    const names = [...new Set(g.map((r) => r.label.replace(/(le|be)$/, '')))];
    if (k === 0) return { rows: [fit(`@${ins.at} of ${ins.size}  ${g.map((r) => `${r.label} ${r.value}`).join('  ')}`, width)], names };
    const c = cells[k]!;
    if (c.length === 2 && col > 0 && fits(c[0]!, col - 1) && fits(c[1]!, width - col)) return { rows: [padColumns(c[0]!, col) + c[1]!], names };
    if (c.length === 2 && fits(`${c[0]}  ${c[1]}`, width)) return { rows: [`${c[0]}  ${c[1]}`], names };
    return { rows: c.map((x) => fit(x, width)), names };
  });
  const out: string[] = [];
  for (let k = 0; k < groups.length; k++) {
    const g = groups[k]!;
    const after = groups.slice(k + 1).reduce((n, x) => n + x.rows.length, 0);
    // the first row always; then a group when the rest fits too, or when it leaves a row for "…"
    if (k > 0 && out.length + g.rows.length + after > maxRows && out.length + g.rows.length + 1 > maxRows) {
      const names = groups.slice(k).flatMap((x) => x.names).join(' ');
      const long = `… also ${names}: a taller pane shows them`;
      out.push(fit(fits(long, width) ? long : `… also ${names}`, width));
      break;
    }
    out.push(...g.rows);
  }
  return out.slice(0, Math.max(1, maxRows)).map(esc);
}

export function packetLines(views: PacketView[]): string[] {
  const out: string[] = [];
  for (const p of views) {
    const ip = p.ip;
    const l4 = p.tcp ?? p.udp;
    if (ip) {
      const flags = [ip.dontFragment ? 'DF' : '', ip.moreFragments ? 'MF' : ''].filter(Boolean).join(',') || 'none';
      out.push(esc(`IPv${ip.version} ${ip.src} -> ${ip.dst} total length ${ip.totalLength} id ${ip.id} flags ${flags} fragment offset ${ip.fragmentOffset} ttl ${ip.ttl} protocol ${ip.protocol}`));
    }
    if (p.tcp) out.push(esc(`  TCP ${p.tcp.srcPort} -> ${p.tcp.dstPort} seq ${p.tcp.seq} ack ${p.tcp.ack} [${p.tcp.flags.join(',')}] window ${p.tcp.window} payload ${p.payloadLength}`));
    else if (p.udp) out.push(esc(`  UDP ${p.udp.srcPort} -> ${p.udp.dstPort} length ${p.udp.length}`));
    else if (!l4) out.push('  (no transport header)');
  }
  return out;
}

export function renderDetails(model: SessionModel, width: number, height: number, packets: PacketView[] | null): string[] {
  const m = model.selectedMessage();
  if (!m) return ['no message selected'];
  const head = esc(fit(`#${m.flow.id} ${m.transport} ${m.dir} [${m.index}] ${messageLabel(m)}  ${m.size} bytes at ${clockTime(m.ts)}${m.compressed ? ', compressed' : ''}`, width));
  const out = [`{bold}${head}{/bold}`];
  let from = -1;
  let to = -1;
  if (m.raw) out.push(esc(`raw: ${m.raw}`));
  if (m.error) {
    out.push(esc(`error at ${m.error.path || '(message)'}, byte ${m.error.offset}: ${m.error.message}`));
    from = m.error.offset;
    to = m.error.offset + 1;
  }
  const ins = model.inspection();
  const packetRows = packets?.length ? packets.length * 2 + 1 : 0;
  // The inspector and the rows of bytes around its cursor come first; the fields get what is
  // left (the selected one at least, when the details pane has the keys).
  const fieldLinesOf = m.name && m.fields ? fieldLines(m.name, m.fields) : null;
  let inspector: string[] = [];
  let fieldRoom = Math.max(3, Math.floor((height - 2) / 2));
  let blank = true;
  if (ins) {
    const avail = height - out.length;
    // the cursor's row and the one before it; a third when the pane is tall
    const hexMin = Math.min(avail >= 20 ? 3 : 2, Math.max(1, Math.ceil(m.payload.length / bytesPerRow(width))));
    const fieldMin = fieldLinesOf && model.pane === 'details' ? 1 : 0;
    inspector = inspectorLines(ins, width, Math.max(1, avail - hexMin - fieldMin));
    const rest = avail - inspector.length;
    fieldRoom = fieldLinesOf ? Math.max(fieldMin, Math.min(fieldRoom, rest - hexMin - 1)) : 0;
    blank = rest - fieldRoom - hexMin >= 1;
  }
  if (fieldLinesOf && fieldRoom > 0) {
    const lines = fieldLinesOf;
    const sel = Math.min(model.fieldSelected, lines.length - 1);
    const spans = model.spansOf(m);
    const span = spans.find((s) => s.path === lines[sel]!.path);
    // with the inspector's cursor, the whole message underlined would only hide it
    if (span && !(ins && sel === 0)) {
      from = span.start;
      to = span.end;
    }
    const room = fieldRoom;
    const start = Math.max(0, Math.min(sel - room + 1, lines.length - room));
    lines.slice(start, start + room).forEach((l, k) => {
      const text = esc(fit(l.text, width));
      out.push(model.pane === 'details' && start + k === sel ? inverse(text) : text);
    });
  }
  if (blank) out.push('');
  if (model.bytesDropped(m)) out.push('(bytes dropped from the view to bound memory; a recording keeps them)');
  else {
    const rows = Math.max(1, height - out.length - (ins ? inspector.length : packetRows));
    out.push(...hexDump(m.payload, from, to, rows, width, ins ? ins.at : -1));
  }
  out.push(...inspector);
  if (packets && packets.length) {
    out.push('');
    out.push(...packetLines(packets));
  }
  return out.slice(0, height);
}

export function renderStatus(model: SessionModel, protocolName: string | null): string {
  const f = model.figures;
  // Most wanted first: a narrow terminal cuts the end.
  const parts = [protocolName ? `protocol ${protocolName}` : 'no protocol (raw chunks)', `${model.messages.length} msgs (${model.messagesPerSecond.toFixed(0)}/s)`];
  const filtering = model.filtering();
  if (model.filter) parts.push(`filter: ${esc(model.filter.text)} (${filtering === null ? model.view.length : `filtering ${Math.floor(filtering * 100)}%`})`);
  if (model.filterError) parts.push(`{red-fg}${esc(model.filterError)}{/red-fg}`);
  if (f.recording) parts.push(`{red-fg}REC ${esc(f.recording.file)} ${f.recording.bytes} B{/red-fg}`);
  if (model.paused) parts.push('{yellow-fg}PAUSED{/yellow-fg}');
  else if (model.follow) parts.push('follow');
  if (!f.live) parts.push('end of file');
  parts.push(`gaps ${model.gaps}`, `drops ${f.drops}`, `${f.packets} pkts`, `${f.bytes} B`, esc(f.source));
  return parts.join(' | ') + '  ? help';
}

/** The longest start of `s` that fits `width` columns. */
function head(s: string, width: number): string {
  let cols = 0;
  let i = 0;
  for (const ch of s) {
    const w = columns(ch.codePointAt(0)!);
    if (cols + w > width) break;
    cols += w;
    i += ch.length;
  }
  return s.slice(0, i);
}

/**
 * Words in rows: the first at most `first` columns, the others `next`; the spaces between words
 * kept (a sparkline's blanks are values), a word longer than a row cut into pieces.
 */
function wrapWords(text: string, first: number, next = first): string[] {
  const out: string[] = [];
  let row = '';
  const room = (): number => Math.max(1, out.length ? next : first);
  // each word with the spaces after it
  for (let chunk of text.split(/(?<=\s)(?=\S)/)) {
    if (fits((row + chunk).trimEnd(), room())) {
      row += chunk;
      continue;
    }
    if (row) out.push(row.trimEnd());
    row = '';
    while (!fits(chunk.trimEnd(), room())) {
      const piece = head(chunk, room()) || chunk.slice(0, 1);
      out.push(piece);
      chunk = chunk.slice(piece.length);
    }
    row = chunk;
  }
  if (row.trimEnd() || !out.length) out.push(row.trimEnd());
  return out;
}

/**
 * An overlay's line in rows of `width` columns, broken at spaces, the rows after the first
 * indented past the line's own indent. A YAML comment that does not fit goes on rows of its own
 * under what it comments (the proposed fields stay YAML).
 */
export function wrapLine(line: string, width: number): string[] {
  if (fits(line, width) || width < 16) return [fit(line, width)];
  const indent = /^ */.exec(line)![0].length;
  const hang = ' '.repeat(Math.min(indent + 4, Math.floor(width / 2)));
  const hash = line.indexOf(' # ');
  if (hash > 0 && line.slice(0, hash).trim() && fits(line.slice(0, hash).trimEnd(), width)) {
    const pre = `${' '.repeat(Math.min(indent + 2, Math.floor(width / 2)))}# `;
    return [line.slice(0, hash).trimEnd(), ...wrapWords(line.slice(hash + 3), width - pre.length).map((r) => pre + r)];
  }
  const [firstRow, ...more] = wrapWords(line.slice(indent), width - indent, width - hang.length);
  return [' '.repeat(indent) + firstRow, ...more.map((r) => hang + r)];
}

/** The keys and what they do; at a `width`, each help text wraps under itself (no row wraps). */
export function renderHelp(width = Infinity): string[] {
  const lines = ['{bold}keys{/bold}'];
  for (const b of KEYMAP) {
    const keys = b.keys.join(', ').padEnd(18);
    const [first, ...more] = width === Infinity ? [b.help] : wrapWords(b.help, Math.max(10, width - 19));
    lines.push(esc(`${keys} ${first}`), ...more.map((l) => esc(`${' '.repeat(19)}${l}`)));
  }
  return [...lines, '', esc(fit('mouse: click a message to select it, wheel to scroll', width)), esc(fit('up, down, page up and down scroll; any other key closes', width))];
}

/** Colour tags taken out (NO_COLOR, a monochrome terminal); bold and inverse stay. */
export function monochrome(s: string): string {
  return s.replace(/\{\/?[a-z]+(-[a-z]+)?-(fg|bg)\}/g, '');
}

