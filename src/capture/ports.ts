import { GamesniffError } from '../core/errors';

/** A set of ports given as `24000`, `24000,24001`, `24000-24010`, possibly repeated. */
export interface PortSpec {
  ranges: Array<[number, number]>;
  set: ReadonlySet<number>;
}

export function parsePorts(values: readonly string[]): PortSpec {
  const ranges: Array<[number, number]> = [];
  for (const value of values) {
    for (const part of value.split(',')) {
      const t = part.trim();
      if (t === '') continue;
      const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(t);
      if (!m) throw new GamesniffError('USAGE', `bad port "${t}": expected a number, a list (24000,24001) or a range (24000-24010)`);
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (lo < 1 || hi > 65535 || lo > hi) {
        throw new GamesniffError('USAGE', `bad port range "${t}": ports go from 1 to 65535, low to high`);
      }
      ranges.push([lo, hi]);
    }
  }
  const set = new Set<number>();
  for (const [lo, hi] of ranges) for (let p = lo; p <= hi; p++) set.add(p);
  return { ranges, set };
}

/** The BPF filter for TCP and UDP on these ports, and-ed with the user's own expression. */
export function buildFilter(ports: PortSpec, extra?: string): string {
  const parts: string[] = [];
  if (ports.ranges.length > 0) {
    const terms = ports.ranges.map(([lo, hi]) => (lo === hi ? `port ${lo}` : `portrange ${lo}-${hi}`));
    parts.push(`(tcp or udp) and (${terms.join(' or ')})`);
  }
  if (extra && extra.trim() !== '') parts.push(`(${extra.trim()})`);
  return parts.join(' and ');
}
