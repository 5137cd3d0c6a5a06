/**
 * Hex and ASCII rows, the one way the UI shows bytes (the details pane's dump, follow stream):
 * `per` bytes a row, bytes [from, to) painted by `mark`, each ASCII character through `esc`.
 * When the rows do not all fit in `maxRows`, they start where the marked bytes are.
 */
export interface HexRowsOptions {
  per: number;
  from?: number;
  to?: number;
  maxRows?: number;
  mark?: (text: string) => string;
  esc?: (ch: string) => string;
}

const same = (s: string): string => s;

/** How many bytes a row fits in `width` columns (a row takes 7 + 4 per byte): 16, 8 or 4. */
export function bytesPerRow(width: number): number {
  return width >= 71 ? 16 : width >= 39 ? 8 : 4;
}

export function hexRows(b: Buffer, o: HexRowsOptions): string[] {
  const { per, from = -1, to = -1, mark = same, esc = same } = o;
  let maxRows = o.maxRows ?? Infinity;
  const out: string[] = [];
  const rows = Math.ceil(b.length / per);
  const first = from >= 0 && rows > maxRows ? Math.max(0, Math.min(Math.floor(from / per) - 1, rows - maxRows)) : 0;
  if (first > 0) {
    out.push(`… ${first * per} bytes before`);
    maxRows = Math.max(1, maxRows - 1);
  }
  for (let row = first; row * per < b.length && out.length < maxRows + (first > 0 ? 1 : 0); row++) {
    const at = row * per;
    let hex = '';
    let ascii = '';
    for (let i = at; i < at + per; i++) {
      if (i >= b.length) {
        hex += '   ';
        continue;
      }
      const h = b[i]!.toString(16).padStart(2, '0');
      const ch = b[i]! >= 0x20 && b[i]! < 0x7f ? String.fromCharCode(b[i]!) : '.';
      const on = i >= from && i < to;
      hex += (on ? mark(h) : h) + ' ';
      ascii += on ? mark(esc(ch)) : esc(ch);
    }
    out.push(`${at.toString(16).padStart(4, '0')}  ${hex} ${ascii}`);
  }
  const shownTo = Math.min(b.length, (first + out.length - (first > 0 ? 1 : 0)) * per);
  if (shownTo < b.length) out.push(`… ${b.length - shownTo} more bytes`);
  return out;
}
