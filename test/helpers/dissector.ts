/**
 * The generated Lua dissector against gamesniff: tshark runs the dissector over a capture (PDML
 * out), gamesniff decodes the same capture (--json), and the two are compared message for
 * message, per connection and direction, field by field.
 */
import { spawnSync } from 'node:child_process';
import { Conversation } from '../../src/conversation/conversation';
import type { Direction } from '../../src/core/types';
import type { LuaField } from '../../src/protocol/lua';
import type { EncodeOptions, Protocol } from '../../src/protocol/protocol';
import { gs } from './cli';
import { writeSession, type Write } from './session';

export const hasTshark = spawnSync('sh', ['-c', 'command -v tshark']).status === 0;

export interface PdmlNode {
  name: string;
  show: string;
  showname: string;
  children: PdmlNode[];
}
export interface PdmlPacket {
  number: number;
  protos: PdmlNode[];
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return ENTITIES[e] ?? m;
  });
}

/** tshark's PDML as packets of protocol trees (only what the comparison needs). */
export function parsePdml(xml: string): PdmlPacket[] {
  const packets: PdmlPacket[] = [];
  const stack: PdmlNode[] = [];
  let packet: PdmlPacket | null = null;
  for (const m of xml.matchAll(/<(\/?)(packet|proto|field)\b([^>]*?)(\/?)>/g)) {
    const [, closing, tag, attrs, selfClosing] = m;
    if (tag === 'packet') {
      if (closing) {
        if (packet) packets.push(packet);
        packet = null;
      } else packet = { number: 0, protos: [] };
      continue;
    }
    if (closing) {
      stack.pop();
      continue;
    }
    const a: Record<string, string> = {};
    for (const am of attrs!.matchAll(/([a-z_]+)="([^"]*)"/g)) a[am[1]!] = unescapeXml(am[2]!);
    const node: PdmlNode = { name: a.name ?? '', show: a.show ?? '', showname: a.showname ?? '', children: [] };
    if (stack.length) stack[stack.length - 1]!.children.push(node);
    else if (tag === 'proto' && packet) packet.protos.push(node);
    if (packet && node.name === 'frame.number') packet.number = Number(node.show);
    if (!selfClosing) stack.push(node);
  }
  return packets;
}

function find(node: PdmlNode, name: string): PdmlNode | undefined {
  for (const c of node.children) {
    if (c.name === name) return c;
    const d = find(c, name);
    if (d) return d;
  }
  return undefined;
}
function findAll(node: PdmlNode, name: string, out: PdmlNode[] = []): PdmlNode[] {
  for (const c of node.children) {
    if (c.name === name) out.push(c);
    findAll(c, name, out);
  }
  return out;
}

/** One message as either side shows it. */
export interface Msg {
  /** transport, client port, direction */
  key: string;
  name: string | null;
  /** head.*, frame.* and the fields, flattened in order: [path, value] (array elements share their path). */
  values: [string, unknown][];
  error?: string;
  /** Bytes after the last field. */
  trailing?: number;
  notDecoded: string[];
  compressed?: boolean;
}

/** Run the dissector over a capture: the messages it shows. `protoName` is the Wireshark name the dissector took. */
export function luaMessages(lua: string, capture: string, protoName: string, fields: LuaField[], extra: string[] = []): { messages: Msg[]; stderr: string } {
  const r = spawnSync('tshark', ['-X', `lua_script:${lua}`, '-r', capture, '-T', 'pdml', '-Y', protoName, ...extra], { encoding: 'utf8', maxBuffer: 256 << 20, timeout: 60_000 });
  if (r.status !== 0) throw new Error(`tshark failed (${r.status}): ${r.stderr}`);
  const byAbbrev = new Map(fields.map((f) => [`${protoName}.${f.abbrev}`, f]));
  const out: Msg[] = [];
  for (const pkt of parsePdml(r.stdout)) {
    const tcp = pkt.protos.find((p) => p.name === 'tcp');
    const udp = pkt.protos.find((p) => p.name === 'udp');
    const t = tcp ?? udp!;
    const kind = tcp ? 'tcp' : 'udp';
    const sport = Number(find(t, `${kind}.srcport`)!.show);
    const dport = Number(find(t, `${kind}.dstport`)!.show);
    for (const p of pkt.protos.filter((x) => x.name === protoName)) {
      const dir = find(p, `${protoName}.dir`)?.show ?? '?';
      const msg: Msg = {
        key: `${kind}:${dir === 'c2s' ? sport : dport}:${dir}`,
        name: find(p, `${protoName}.name`)?.show ?? null,
        values: [],
        notDecoded: findAll(p, `${protoName}.not_decoded`).map((n) => n.show),
      };
      const err = find(p, `${protoName}.error`);
      if (err) msg.error = err.show;
      if (find(p, `${protoName}.compressed`)) msg.compressed = true;
      const trailing = find(p, `${protoName}.trailing`);
      if (trailing) msg.trailing = Number(trailing.show);
      const walk = (n: PdmlNode): void => {
        for (const c of n.children) {
          const f = byAbbrev.get(c.name);
          if (f && f.section && c.children.length === 0) {
            const path = f.section === 'head' || f.section === 'frame' ? `${f.section}.${f.path}` : f.path;
            msg.values.push([path, { show: c.show, showname: c.showname }]);
          }
          walk(c);
        }
      };
      walk(p);
      out.push(msg);
    }
  }
  return { messages: out, stderr: r.stderr };
}

function flatten(v: unknown, prefix: string, out: [string, unknown][]): void {
  if (v === null || v === undefined) return;
  if (Array.isArray(v)) {
    for (const x of v) flatten(x, prefix, out);
    return;
  }
  if (typeof v === 'object') {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
    return;
  }
  out.push([prefix, v]);
}

/** gamesniff decode --json over the same input: its messages (raw ones left out, counted). */
export function gamesniffMessages(input: string, protocol: string, extra: string[] = []): { messages: Msg[]; raw: number } {
  const r = gs(['decode', '-r', input, '-p', protocol, '--json', '--full', ...extra], { timeout: 60_000 });
  // 1: some messages did not decode (their errors are compared too)
  if (r.code !== 0 && r.code !== 1) throw new Error(`gamesniff decode failed: ${r.stderr}`);
  const out: Msg[] = [];
  let raw = 0;
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const j = JSON.parse(line) as Record<string, unknown>;
    if (j.raw) {
      raw++;
      continue;
    }
    const values: [string, unknown][] = [];
    flatten(j.frame, 'frame', values);
    flatten(j.head, 'head', values);
    flatten(j.fields, '', values);
    const client = String(j.client);
    const err = j.error as { message: string; path: string; offset: number } | undefined;
    out.push({
      key: `${String(j.transport)}:${client.slice(client.lastIndexOf(':') + 1)}:${String(j.dir)}`,
      name: (j.name as string | null) ?? null,
      values,
      error: err ? `error at ${err.path || 'frame'} +${err.offset}: ${err.message}` : undefined,
      notDecoded: [],
      compressed: j.compressed === true ? true : undefined,
      trailing: typeof j.trailing === 'number' ? j.trailing : undefined,
    });
  }
  return { messages: out, raw };
}

/** Whether tshark's view of a value is gamesniff's value. */
export function sameValue(ours: unknown, theirs: { show: string; showname: string }): boolean {
  const { show, showname } = theirs;
  if (typeof ours === 'boolean') return show === (ours ? '1' : '0');
  if (typeof ours === 'number') {
    const n = Number(show);
    if (Number.isInteger(ours)) return n === ours;
    return Math.abs(n - ours) <= 1e-5 * Math.max(1, Math.abs(ours));
  }
  if (typeof ours === 'string') {
    // a string item ends at a NUL: the dissector shows it as \0
    if (show === ours.replace(/\0/g, '\\0')) return true;
    // bytes: gamesniff's hex, tshark's with colons
    if (/^([0-9a-f]{2}:)*[0-9a-f]{2}$/.test(show) && show.replace(/:/g, '') === ours) return true;
    if (ours === '' && show === '') return true;
    // an enum member: tshark shows the number, and the name in its label
    if (/^-?[0-9]+$/.test(show) && showname.endsWith(`: ${ours} (${show})`)) return true;
  }
  return false;
}

export interface Comparison {
  /** Messages compared, the same on both sides (name, every field, error), shown as not decoded in Lua (name the same). */
  compared: number;
  equal: number;
  notDecoded: number;
  /** Field values compared in the equal messages. */
  values: number;
  /** gamesniff's raw pieces (not whole frames), not compared. */
  raw: number;
  differences: string[];
  reasons: Record<string, number>;
}

/** Message for message per connection and direction; `path` maps gamesniff's field paths to the dissector's (a recursive type's). */
export function compare(ours: Msg[], theirs: Msg[], raw = 0, path: (p: string) => string = (p) => p): Comparison {
  const group = (ms: Msg[]) => {
    const g = new Map<string, Msg[]>();
    for (const m of ms) g.set(m.key, [...(g.get(m.key) ?? []), m]);
    return g;
  };
  const a = group(ours);
  const b = group(theirs);
  const res: Comparison = { compared: 0, equal: 0, notDecoded: 0, values: 0, raw, differences: [], reasons: {} };
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(key) ?? [];
    const y = b.get(key) ?? [];
    let lost = false;
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      const m = x[i]!;
      const l = y[i]!;
      const where = `${key} #${i} ${m.name}`;
      if (l.name === null && l.notDecoded.some((r) => r.endsWith('(from here on, this direction)'))) {
        // the rest of this direction is not decoded in Lua (a cipher switched on): each of gamesniff's messages counts
        for (const r of l.notDecoded) res.reasons[r] = (res.reasons[r] ?? 0) + (x.length - i);
        res.compared += x.length - i;
        res.notDecoded += x.length - i;
        lost = true;
        break;
      }
      res.compared++;
      if (l.name === null && l.notDecoded.length) {
        // a frame Lua could not take apart (a frame transform it cannot undo): gamesniff's message counts
        res.notDecoded++;
        for (const r of l.notDecoded) res.reasons[r] = (res.reasons[r] ?? 0) + 1;
        continue;
      }
      if (m.name !== l.name) {
        res.differences.push(`${where}: name ${m.name} / Lua ${l.name}`);
        continue;
      }
      if (l.notDecoded.length) {
        res.notDecoded++;
        for (const r of l.notDecoded) res.reasons[r] = (res.reasons[r] ?? 0) + 1;
        continue;
      }
      if ((m.error ?? '') !== (l.error ?? '')) {
        res.differences.push(`${where}: error ${m.error} / Lua ${l.error}`);
        continue;
      }
      if ((m.trailing ?? 0) !== (l.trailing ?? 0)) {
        res.differences.push(`${where}: ${m.trailing ?? 0} bytes after the last field / Lua ${l.trailing ?? 0}`);
        continue;
      }
      if (!!m.compressed !== !!l.compressed) {
        res.differences.push(`${where}: compressed ${m.compressed} / Lua ${l.compressed}`);
        continue;
      }
      const bad: string[] = [];
      if (!m.error) {
        if (m.values.length !== l.values.length) bad.push(`${m.values.length} values / Lua ${l.values.length}: ${m.values.map((v) => v[0]).join(',')} / ${l.values.map((v) => v[0]).join(',')}`);
        else
          m.values.forEach(([p, v], j) => {
            const [lp, lv] = l.values[j]!;
            if (path(p) !== lp || !sameValue(v, lv as { show: string; showname: string })) bad.push(`${p}=${JSON.stringify(v)} / Lua ${lp}=${JSON.stringify(lv)}`);
          });
      }
      if (bad.length) res.differences.push(`${where}: ${bad.slice(0, 3).join('; ')}`);
      else {
        res.equal++;
        res.values += m.values.length;
      }
    }
    if (!lost && x.length !== y.length) res.differences.push(`${key}: gamesniff ${x.length} messages, Lua ${y.length}`);
  }
  return res;
}

/** One message of a made-up session: direction, name, fields, encode options (frame header, head, id), and whether it goes over UDP. */
export type Step = [Direction, string, Record<string, unknown>, (EncodeOptions & { udp?: boolean; wire?: Buffer })?];

/**
 * A capture of one TCP connection (and UDP datagrams) carrying these messages as both ends of a
 * game would send them (one state, the layers as the description says). `merge`: a direction's
 * consecutive messages go in one write (several messages in a segment); `mss`: segments of at
 * most that many bytes (messages across segments).
 */
export function sessionCapture(file: string, p: Protocol, steps: Step[], opts: { dport: number; mss?: number; merge?: boolean; state?: Record<string, unknown> }): void {
  const tcp = p.tcp ? new Conversation(p, 'tcp', () => undefined, { flow: null, state: opts.state }) : null;
  const udp = p.udp ? new Conversation(p, 'udp', () => undefined, { flow: null, state: opts.state }) : null;
  const writes: Write[] = [];
  for (const [dir, name, fields, o] of steps) {
    const conv = o?.udp ? udp! : tcp!;
    // `wire`: bytes as they are (a frame that does not decode), the name only says what it is
    const bytes = o?.wire ?? conv.send(dir, name, fields, o ?? {});
    const last = writes[writes.length - 1];
    if (opts.merge && !o?.udp && last && !last.udp && last.dir === dir) last.bytes = Buffer.concat([last.bytes, bytes]);
    else writes.push({ dir, bytes, udp: o?.udp, mss: opts.mss });
  }
  writeSession(file, writes, { dport: opts.dport });
}
