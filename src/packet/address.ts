/** Text forms of addresses, for display and endpoint names (not the hot path). */
import { isIPv4, isIPv6 } from 'node:net';

export function formatIp(buf: Buffer, off: number, len: number): string {
  if (len === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  return formatIpv6(buf, off);
}

/** RFC 5952: lowercase, leading zeros dropped, the longest run of 2+ zero groups as "::". */
export function formatIpv6(buf: Buffer, off: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(buf.readUInt16BE(off + i * 2));
  // IPv4-mapped ::ffff:a.b.c.d
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatIp(buf, off + 12, 4)}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}

export function formatMac(buf: Buffer, off: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push((buf[off + i] ?? 0).toString(16).padStart(2, '0'));
  return parts.join(':');
}

/** The bytes of a printed IPv4 or IPv6 address (the inverse of formatIp), or null. */
export function parseIp(s: string): Buffer | null {
  if (isIPv4(s)) return Buffer.from(s.split('.').map(Number));
  if (!isIPv6(s)) return null;
  // An IPv4 tail (::ffff:1.2.3.4) is the last two groups.
  const text = s.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a, b, c, d) => `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`);
  const [head, rest] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = rest ? rest.split(':') : [];
  const fill = rest !== undefined ? 8 - h.length - t.length : 0;
  const groups = [...h, ...Array<string>(Math.max(0, fill)).fill('0'), ...t];
  if (groups.length !== 8) return null;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
