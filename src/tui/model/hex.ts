/**
 * Hex and ASCII rows, the one way the UI shows bytes (the details pane's dump, follow stream):
 * `per` bytes a row, bytes [from, to) painted by `mark`, the byte at `cursor` by `cursorMark`,
 * each ASCII character through `esc`. When the rows do not all fit in `maxRows`, they start
 * where the cursor is, else where the marked bytes are.
 */
export interface HexRowsOptions {
  per: number;
  from?: number;
  to?: number;
  /** A byte cursor (the data inspector's), -1 for none. */
  cursor?: number;
  maxRows?: number;
  /** Lines that say how many bytes are above and below the rows shown (default true); without them every row is bytes. */
  notes?: boolean;
  mark?: (text: string) => string;
  cursorMark?: (text: string) => string;
  esc?: (ch: string) => string;
}

const same = (s: string): string => s;

/** How many bytes a row fits in `width` columns (a row takes 7 + 4 per byte): 16, 8 or 4. */
export function bytesPerRow(width: number): number {
  return width >= 71 ? 16 : width >= 39 ? 8 : 4;
}

export function hexRows(b: Buffer, o: HexRowsOptions): string[] {
  const { per, from = -1, to = -1, cursor = -1, notes = true, mark = same, esc = same } = o;
  const cursorMark = o.cursorMark ?? mark;
  let maxRows = o.maxRows ?? Infinity;
  const out: string[] = [];
  const rows = Math.ceil(b.length / per);
  const anchor = cursor >= 0 ? cursor : from;
  let first = 0;
  if (anchor >= 0 && rows > maxRows) {
    // the anchor's row, and the one before it when there is room (after the line that says what is above)
    const after = notes ? Math.max(1, maxRows - 1) : maxRows;
    first = Math.max(0, Math.min(Math.floor(anchor / per) - (after >= 2 ? 1 : 0), rows - after));
  }
  const before = notes && first > 0 ? 1 : 0;
  if (before) {
    out.push(`… ${first * per} bytes before`);
    maxRows = Math.max(1, maxRows - 1);
  }
  for (let row = first; row * per < b.length && out.length < maxRows + before; row++) {
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
      const paint = i === cursor ? cursorMark : i >= from && i < to ? mark : same;
      hex += paint(h) + ' ';
      ascii += paint(esc(ch));
    }
    out.push(`${at.toString(16).padStart(4, '0')}  ${hex} ${ascii}`);
  }
  const shownTo = Math.min(b.length, (first + out.length - before) * per);
  if (notes && shownTo < b.length) out.push(`… ${b.length - shownTo} more bytes`);
  return out;
}
