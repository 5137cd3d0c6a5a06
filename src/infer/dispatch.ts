/**
 * Dispatch inference: which byte(s) of a frame body name the message. An id has few distinct
 * values, and knowing it tells much about the rest: the frame's size and the bytes around it
 * (information gain, over groups of at least two frames so that a counter, unique per frame,
 * explains nothing).
 */

export type IdKind = 'u8' | 'u16le' | 'u16be' | 'varint';

export interface DispatchGuess {
  /** Where the id is in the body: the bytes before it are a head. */
  at: number;
  kind: IdKind;
  width: number;
  confidence: number;
  /** Distinct values and how often each came. */
  values: Map<number, number>;
  evidence: string[];
}

export interface DispatchResult {
  best: DispatchGuess | null;
  others: DispatchGuess[];
  why: string[];
  /** Every candidate's score (0..1), by `at/kind`: to choose one id for both directions. */
  scores: Map<string, number>;
}

const MAX_FRAMES = 20_000;

function h(counts: Iterable<number>, n: number): number {
  let e = 0;
  for (const c of counts) if (c) e -= (c / n) * Math.log2(c / n);
  return e;
}

function readId(b: Buffer, at: number, kind: IdKind): number | undefined {
  if (kind === 'u8') return at < b.length ? b[at] : undefined;
  if (kind === 'u16le') return at + 2 <= b.length ? b.readUInt16LE(at) : undefined;
  if (kind === 'u16be') return at + 2 <= b.length ? b.readUInt16BE(at) : undefined;
  let v = 0;
  for (let i = 0; i < 3 && at + i < b.length; i++) {
    const x = b[at + i]!;
    v += (x & 0x7f) << (7 * i);
    if (!(x & 0x80)) return i === 0 || x !== 0 ? v : undefined;
  }
  return undefined;
}

/** Conditional entropy H(Y | X) over pairs, counting only groups of X with at least 2 members (singletons count as unexplained). */
function conditional(xs: number[], ys: number[], hy: number): number {
  const groups = new Map<number, Map<number, number>>();
  xs.forEach((x, i) => {
    let g = groups.get(x);
    if (!g) groups.set(x, (g = new Map()));
    g.set(ys[i]!, (g.get(ys[i]!) ?? 0) + 1);
  });
  const n = xs.length;
  let e = 0;
  for (const g of groups.values()) {
    let m = 0;
    for (const c of g.values()) m += c;
    e += m < 2 ? (m / n) * hy : (m / n) * h(g.values(), m);
  }
  return e;
}

/** `exclude`: body bytes known to be something else (the framing's length field, when frames come whole). */
export function inferDispatch(all: Buffer[], exclude: [number, number] | null = null): DispatchResult {
  // a spread sample is as telling as everything, and the work is per frame and candidate
  const bodies = all.length > MAX_FRAMES ? Array.from({ length: MAX_FRAMES }, (_, i) => all[Math.floor((i * all.length) / MAX_FRAMES)]!) : all;
  const res: DispatchResult = { best: null, others: [], why: [], scores: new Map() };
  const n = bodies.length;
  if (n < 4) {
    res.why.push(`only ${n} frame${n === 1 ? '' : 's'}: too few to tell an id from the rest`);
    return res;
  }
  const sizes = bodies.map((b) => b.length);
  const sizeCounts = new Map<number, number>();
  for (const s of sizes) sizeCounts.set(s, (sizeCounts.get(s) ?? 0) + 1);
  const hSize = h(sizeCounts.values(), n);
  const guesses: (DispatchGuess & { score: number })[] = [];
  const kinds: [IdKind, number][] = [['u8', 1], ['u16le', 2], ['u16be', 2], ['varint', 0]];
  for (let at = 0; at < 12; at++) {
    for (const [kind, width] of kinds) {
      if (kind === 'varint' && at > 0) continue;
      const w0 = kind === 'u8' || kind === 'varint' ? 1 : 2;
      if (exclude && at < exclude[1] && at + w0 > exclude[0]) continue;
      const xs: number[] = [];
      let missing = 0;
      for (const b of bodies) {
        const v = readId(b, at, kind);
        if (v === undefined) missing++;
        xs.push(v ?? -1);
      }
      if (missing > n * 0.02) continue;
      const values = new Map<number, number>();
      for (const x of xs) values.set(x, (values.get(x) ?? 0) + 1);
      const k = values.size;
      if (k < 2 || k > Math.max(4, Math.min(256, n / 3))) continue;
      // what the value tells about the frame's size and the 16 bytes after it
      const sizeGain = hSize > 0 ? (hSize - conditional(xs, sizes, hSize)) / hSize : 0;
      let gain = 0;
      let cols = 0;
      const w = kind === 'varint' ? 1 : width;
      for (let q = 0; q < 24; q++) {
        if (q >= at && q < at + w) continue;
        const ys = bodies.map((b) => (q < b.length ? b[q]! : 256));
        const counts = new Map<number, number>();
        for (const y of ys) counts.set(y, (counts.get(y) ?? 0) + 1);
        const hy = h(counts.values(), n);
        if (hy === 0) continue;
        gain += (hy - conditional(xs, ys, hy)) / hy;
        cols++;
      }
      const byteGain = cols ? gain / cols : 0;
      const spread = 1 - (k - 1) / n;
      let score = (hSize > 0 ? 0.6 * sizeGain + 0.4 * byteGain : byteGain) * spread;
      // a position that counts (values in a run, mostly in order) is a sequence, not an id
      const ordered = xs.filter((x, i) => i > 0 && x === xs[i - 1]! + 1).length / n;
      if (ordered > 0.5) score *= 0.2;
      // an earlier position is the simpler description
      score *= 1 - at * 0.04;
      guesses.push({ at, kind, width, confidence: 0, values, evidence: [], score });
      res.scores.set(`${at}/${kind}`, score);
    }
  }
  // two bytes are an id only when they explain clearly more than either byte alone: finer groups
  // always explain a little more, by chance
  const single = new Map(guesses.filter((g) => g.kind === 'u8').map((g) => [g.at, g.score]));
  for (const g of guesses) {
    if (g.kind !== 'u16le' && g.kind !== 'u16be') continue;
    const alone = Math.max(single.get(g.at) ?? 0, single.get(g.at + 1) ?? 0);
    // and when its two bytes vary independently (a flag beside an id: every pair occurs), they are two fields
    const a = new Set<number>();
    const b = new Set<number>();
    const pairs = new Set<number>();
    for (const x of bodies) {
      if (g.at + 2 > x.length) continue;
      a.add(x[g.at]!);
      b.add(x[g.at + 1]!);
      pairs.add(x[g.at]! * 256 + x[g.at + 1]!);
    }
    const independent = a.size >= 2 && b.size >= 2 && pairs.size >= 0.7 * a.size * b.size;
    if (independent) {
      g.score *= 0.3;
      res.scores.set(`${g.at}/${g.kind}`, g.score);
    } else if (g.score < alone * 1.15) {
      g.score *= 0.5;
      res.scores.set(`${g.at}/${g.kind}`, g.score);
    }
  }
  if (!guesses.length) {
    res.why.push(`no byte in the first 8 has between 2 and ${Math.max(4, Math.min(256, Math.floor(n / 3)))} distinct values over ${n} frames`);
    return res;
  }
  guesses.sort((a, b) => b.score - a.score);
  const top = guesses[0]!;
  const next = guesses.find((g) => g.at !== top.at || (g.kind === 'u8') !== (top.kind === 'u8'));
  for (const g of guesses.slice(0, 4)) {
    const margin = next && g === top ? Math.max(0, g.score - next.score) : 0;
    g.confidence = Math.round(Math.min(0.99, g.score * (g === top ? 0.7 + Math.min(0.3, margin * 2) : 0.6)) * 100) / 100;
    const vals = [...g.values.entries()].sort((a, b) => b[1] - a[1]);
    g.evidence.push(
      `${g.kind} at byte ${g.at}: ${g.values.size} distinct values over ${n} frames (${vals.slice(0, 6).map(([v, c]) => `0x${v.toString(16)}×${c}`).join(', ')}${vals.length > 6 ? ', …' : ''})`,
      `it explains ${(g.score * 100).toFixed(0)}% of the variation of the frame size and the bytes around it`,
    );
  }
  res.best = top;
  res.others = guesses.slice(1, 4).filter((g) => g.confidence > 0);
  if (top.score < 0.15) {
    res.why.push(`the best candidate (${top.kind} at byte ${top.at}) explains little (${(top.score * 100).toFixed(0)}%): maybe no id`);
    res.best = null;
    res.others = guesses.slice(0, 4);
  }
  return res;
}

export function idOf(b: Buffer, g: { at: number; kind: IdKind }): number | undefined {
  return readId(b, g.at, g.kind);
}

/** The id's width in a body (a varint's varies). */
export function idWidth(b: Buffer, g: { at: number; kind: IdKind; width: number }): number {
  if (g.kind !== 'varint') return g.width;
  let i = 0;
  while (i < 3 && g.at + i < b.length && b[g.at + i]! & 0x80) i++;
  return i + 1;
}
