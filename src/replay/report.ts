import { toJsonValue } from '../session/format';
import { showValue } from '../protocol/diff';
import type { Divergence, ReplayReport } from './engine';

/** `#0 s2c [5] snapshot.entities[1].pos.x: recorded 91, live 93`. */
export function divergenceLine(d: Divergence): string {
  const where = `#${d.conn < 0 ? '?' : d.conn}${d.transport === 'udp' ? 'u' : ''} ${d.dir} [${d.index}]`;
  switch (d.kind) {
    case 'field':
      if (d.diff === 'length') return `${where} ${d.path}: recorded ${String(d.recorded)} elements, live ${String(d.live)}`;
      return `${where} ${d.path}: recorded ${show(d.recorded)}, live ${show(d.live)}${d.recorded === undefined || d.live === undefined ? ` (${d.message})` : ''}`;
    case 'name':
      return `${where} ${d.name}: ${d.message}`;
    default:
      return `${where} ${d.name ?? d.liveName ?? ''}${d.name || d.liveName ? ': ' : ''}${d.message}`;
  }
}

function show(v: unknown): string {
  return v === undefined ? 'nothing' : showValue(v);
}

export function reportLines(r: ReplayReport, what: string): string[] {
  const lines = [
    `replay ${what} as ${r.role}: ${r.connections} connections, ${r.sent} messages sent (${r.rewritten} rewritten), ` +
      `${r.received} received, ${r.compared} compared, ${r.divergences.length} divergences`,
  ];
  if (r.recordingGaps) lines.push(`note: the recording has ${r.recordingGaps} gaps; what they held cannot be replayed`);
  for (const why of r.ignored) lines.push(`note: ignored ${why}`);
  for (const d of r.divergences) lines.push(divergenceLine(d));
  if (r.error) lines.push(`error: ${r.error}`);
  else lines.push(r.divergences.length ? 'result: diverged' : 'result: same as recorded');
  return lines;
}

export function reportJson(r: ReplayReport): unknown {
  return {
    result: r.error ? 'error' : r.divergences.length ? 'diverged' : 'same',
    ...r,
    divergences: r.divergences.map((d) => ({ ...d, recorded: toJsonValue(d.recorded), live: toJsonValue(d.live) })),
  };
}
