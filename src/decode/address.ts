/** Text forms of addresses, for display and endpoint names (not the hot path). */

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
