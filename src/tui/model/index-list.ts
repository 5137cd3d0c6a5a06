/**
 * The message numbers a view shows, in order: every message (no filter: nothing stored), or those
 * a filter passed, 4 bytes each in chunks of typed arrays (no array of numbers growing with the
 * session, no copy when it grows).
 */
const CHUNK = 1 << 16;

export class IndexList implements Iterable<number> {
  length = 0;
  /** null: every number from 0, nothing stored. */
  private chunks: Uint32Array[] | null;

  /** `all`: the list of every number 0..n-1, pushed in order. */
  constructor(all = false) {
    this.chunks = all ? null : [];
  }

  /** Numbers held in memory (none for the list of every message). */
  get stored(): number {
    return this.chunks === null ? 0 : this.length;
  }

  push(i: number): void {
    if (this.chunks === null) {
      if (i === this.length) {
        this.length++;
        return;
      }
      // a number out of line: store the ones so far
      this.chunks = [];
      const n = this.length;
      this.length = 0;
      for (let k = 0; k < n; k++) this.push(k);
    }
    const c = this.length >>> 16;
    if (c === this.chunks.length) this.chunks.push(new Uint32Array(CHUNK));
    this.chunks[c]![this.length & (CHUNK - 1)] = i;
    this.length++;
  }

  at(k: number): number | undefined {
    if (k < 0 || k >= this.length || !Number.isInteger(k)) return undefined;
    return this.chunks === null ? k : this.chunks[k >>> 16]![k & (CHUNK - 1)];
  }

  /** Where number i is (the list is in order), or -1. */
  indexOf(i: number): number {
    const k = this.atOrBefore(i);
    return k >= 0 && this.at(k) === i ? k : -1;
  }

  /** The position of the last number ≤ i, or -1 (0 when the list is empty: where a selection goes). */
  atOrBefore(i: number): number {
    let lo = 0;
    let hi = this.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.at(mid)! <= i) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  }

  includes(i: number): boolean {
    return this.indexOf(i) >= 0;
  }

  *[Symbol.iterator](): Iterator<number> {
    for (let k = 0; k < this.length; k++) yield this.at(k)!;
  }

  map<T>(f: (i: number, k: number) => T): T[] {
    const out: T[] = [];
    for (let k = 0; k < this.length; k++) out.push(f(this.at(k)!, k));
    return out;
  }

  filter(f: (i: number, k: number) => boolean): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.length; k++) if (f(this.at(k)!, k)) out.push(this.at(k)!);
    return out;
  }

  every(f: (i: number, k: number) => boolean): boolean {
    for (let k = 0; k < this.length; k++) if (!f(this.at(k)!, k)) return false;
    return true;
  }

  some(f: (i: number, k: number) => boolean): boolean {
    return !this.every((i, k) => !f(i, k));
  }
}
