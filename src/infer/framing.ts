/**
 * Framing inference: which length prefix (width, byte order, varint, offset, adjustment, whether
 * it counts itself), delimiter or fixed size cuts every stream of a direction into frames that
 * chain exactly from its first byte to its last. Candidates are tried on a sample first, then
 * on everything; ones that cut the same frames are one guess, named the simplest way.
 */

import { Rng } from '../core/rng';

export type LengthKind = 'u8' | 'u16le' | 'u16be' | 'u24le' | 'u24be' | 'u32le' | 'u32be' | 'varint';

export type Framing =
  | { k: 'length'; kind: LengthKind; offset: number; includes: boolean; adjust: number }
  | { k: 'delimiter'; delimiter: string }
  | { k: 'fixed'; size: number }
  | { k: 'websocket' }
  | { k: 'chunk' };

export interface Stream {
  bytes: Buffer;
  /** The bytes stop before the stream's end (a budget, a gap, the capture ended): the last frame may be cut. */
  cut: boolean;
  /** Where the stream is from, for the evidence (`#3 c2s`). */
  label: string;
}

export interface FramingGuess {
  framing: Framing;
  /** 0..1: the share of bytes the framing chains through exactly, lowered when the evidence is thin or another guess fits as well. */
  confidence: number;
  streams: number;
  /** Streams the framing chains through to their end. */
  chained: number;
  frames: number;
  evidence: string[];
}

export interface FramingResult {
  best: FramingGuess | null;
  /** Other guesses that fit, best first. */
  others: FramingGuess[];
  /** When nothing fits: why, and where the best partial fit broke. */
  why: string[];
  /** Where a partial fit broke: a candidate state change (compression or a cipher switched on). */
  breaks: { label: string; at: number; frames: number; entropyBefore: number; entropyAfter: number }[];
}

const KINDS: { kind: LengthKind; width: number }[] = [
  { kind: 'u8', width: 1 },
  { kind: 'u16le', width: 2 },
  { kind: 'u16be', width: 2 },
  { kind: 'u24le', width: 3 },
  { kind: 'u24be', width: 3 },
  { kind: 'u32le', width: 4 },
  { kind: 'u32be', width: 4 },
  { kind: 'varint', width: 0 },
];
const MAX_OFFSET = 6;
const MAX_FRAME = 16 << 20;
/** Frame ends compared to tell readings that cut the same frames apart (per stream, 4 streams). */
const SIG_ENDS = 256;
/** Frames looked at to judge whether frames look alike. */
const ALIKE_FRAMES = 4000;
/** Bytes a length reading is followed through, over all streams, before it is taken as chaining. */
const CHECK_BYTES = 2 << 20;

/** A length candidate: frame size = value + total (total folds the offset, the field and the adjustment). */
interface Cand {
  kind: LengthKind;
  width: number;
  offset: number;
  total: number;
}

function readLength(b: Buffer, p: number, kind: LengthKind): [value: number, width: number] | null {
  switch (kind) {
    case 'u8':
      return p < b.length ? [b[p]!, 1] : null;
    case 'u16le':
      return p + 2 <= b.length ? [b.readUInt16LE(p), 2] : null;
    case 'u16be':
      return p + 2 <= b.length ? [b.readUInt16BE(p), 2] : null;
    case 'u24le':
      return p + 3 <= b.length ? [b.readUIntLE(p, 3), 3] : null;
    case 'u24be':
      return p + 3 <= b.length ? [b.readUIntBE(p, 3), 3] : null;
    case 'u32le':
      return p + 4 <= b.length ? [b.readUInt32LE(p), 4] : null;
    case 'u32be':
      return p + 4 <= b.length ? [b.readUInt32BE(p), 4] : null;
    case 'varint': {
      let v = 0;
      for (let i = 0; i < 5 && p + i < b.length; i++) {
        const x = b[p + i]!;
        v += (x & 0x7f) * 2 ** (7 * i);
        if (!(x & 0x80)) return [v, i + 1];
      }
      return null;
    }
  }
}

interface Chain {
  /** Reached the end exactly, or (a cut stream) ran into its cut inside the last frame. */
  ok: boolean;
  frames: number;
  /** Where it stopped when not ok. */
  at: number;
  /** The first `keep` frame ends. */
  ends: number[];
  /** Distinct length values seen (up to 64). */
  values: Set<number>;
  /** Frames with nothing after the length field (a message has at least an id). */
  empty: number;
}

/**
 * Follow a length reading through a stream. Keeps the first `keep` frame ends; gives up (not ok)
 * once more than 2% of 50 or more frames are empty: a reading that cuts frames of nothing is not
 * a length, and following it through megabytes of zeros would cost time and memory for nothing.
 */
function chain(s: Stream, c: Cand, limit = s.bytes.length, keep = 0): Chain {
  const b = s.bytes;
  const end = Math.min(limit, b.length);
  const cut = s.cut || end < b.length;
  let p = 0;
  let frames = 0;
  let empty = 0;
  const values = new Set<number>();
  const ends: number[] = [];
  const min = c.offset + (c.width || 1);
  while (p < end) {
    const r = readLength(b, p + c.offset, c.kind);
    if (!r) return { ok: cut, frames, at: p, ends, values, empty };
    const [v, w] = r;
    const size = v + c.total + (c.kind === 'varint' ? c.offset + w : 0);
    if (size < c.offset + w || size > MAX_FRAME) return { ok: false, frames, at: p, ends, values, empty };
    if (values.size < 64) values.add(v);
    if (p + size > end) return { ok: cut, frames, at: p, ends, values, empty };
    if (size <= min && ++empty > 1 && frames >= 50 && empty > frames * 0.02) return { ok: false, frames, at: p, ends, values, empty };
    p += size;
    frames++;
    if (ends.length < keep) ends.push(p);
  }
  return { ok: true, frames, at: p, ends, values, empty };
}

function candidates(): Cand[] {
  const out: Cand[] = [];
  for (const { kind, width } of KINDS) {
    // a varint length at an offset is not a framing descriptions have
    for (let offset = 0; offset <= (kind === 'varint' ? 0 : MAX_OFFSET); offset++) {
      // frame = value + total; for a varint the field's own width is added per frame
      const lo = kind === 'varint' ? -8 : -8;
      const hi = kind === 'varint' ? 8 : offset + width + 8;
      for (let total = lo; total <= hi; total++) out.push({ kind, width, offset, total });
    }
  }
  return out;
}
const ALL = candidates();

/** How the candidate reads in a description: counting itself or what follows it, and the adjustment. */
function asFraming(c: Cand): Framing & { k: 'length' } {
  if (c.kind === 'varint') return { k: 'length', kind: c.kind, offset: c.offset, includes: false, adjust: c.total };
  const excl = c.total - (c.offset + c.width);
  // the simpler reading: the smaller adjustment
  return Math.abs(c.total) < Math.abs(excl) ? { k: 'length', kind: c.kind, offset: c.offset, includes: true, adjust: c.total } : { k: 'length', kind: c.kind, offset: c.offset, includes: false, adjust: excl };
}

export function describeFraming(f: Framing): string {
  switch (f.k) {
    case 'length':
      return `length ${f.kind}${f.offset ? ` at offset ${f.offset}` : ''}${f.includes ? ', counting the whole frame' : ''}${f.adjust ? `, adjust ${f.adjust > 0 ? '+' : ''}${f.adjust}` : ''}`;
    case 'delimiter':
      return `delimiter ${JSON.stringify(f.delimiter)}`;
    case 'fixed':
      return `fixed ${f.size} bytes`;
    case 'websocket':
      return 'WebSocket (an HTTP upgrade, then frames)';
    case 'chunk':
      return 'none (each delivery one message)';
  }
}

/** Shannon entropy of bytes, bits per byte. */
export function entropy(b: Buffer, from = 0, to = b.length): number {
  const n = to - from;
  if (n <= 0) return 0;
  const counts = new Uint32Array(256);
  for (let i = from; i < to; i++) counts[b[i]!]++;
  let h = 0;
  for (const c of counts) if (c) h -= (c / n) * Math.log2(c / n);
  return h;
}

function isText(b: Buffer): number {
  if (!b.length) return 0;
  let t = 0;
  for (const x of b) if ((x >= 0x20 && x < 0x7f) || x === 0x0a || x === 0x0d || x === 0x09) t++;
  return t / b.length;
}

/** The simplest of candidates that cut the same frames: no adjustment, no offset, the widest field. */
function simplicity(c: Cand): number[] {
  const f = asFraming(c);
  return [Math.abs(f.adjust), f.includes ? 1 : 0, c.offset, -c.width, c.kind.endsWith('be') ? 1 : 0];
}

function lexLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

export function inferFraming(streams: Stream[]): FramingResult {
  const live = streams.filter((s) => s.bytes.length > 0);
  const total = live.reduce((n, s) => n + s.bytes.length, 0);
  const result: FramingResult = { best: null, others: [], why: [], breaks: [] };
  if (!live.length) {
    result.why.push('no bytes in this direction');
    return result;
  }
  const guesses: FramingGuess[] = [];

  // WebSocket: an HTTP upgrade opens the client's stream
  const upgrade = live.filter((s) => /^GET [^\r\n]* HTTP\/1\.1\r\n/.test(s.bytes.subarray(0, 64).toString('latin1')) && /\r\nupgrade:\s*websocket/i.test(s.bytes.subarray(0, 4096).toString('latin1')));
  const upgraded = live.filter((s) => /^HTTP\/1\.1 101 /.test(s.bytes.subarray(0, 16).toString('latin1')));
  if (upgrade.length + upgraded.length >= Math.max(1, live.length * 0.9)) {
    guesses.push({ framing: { k: 'websocket' }, confidence: 0.99, streams: live.length, chained: upgrade.length + upgraded.length, frames: 0, evidence: [`${upgrade.length + upgraded.length} of ${live.length} streams start with an HTTP upgrade to WebSocket (${upgrade.length ? 'GET … Upgrade: websocket' : 'HTTP/1.1 101'})`] });
  }

  // length prefixes: first on a sample (4 KiB of up to 8 streams), then on everything
  const sample = [...live].sort((a, b) => b.bytes.length - a.bytes.length).slice(0, 8);
  const survivors = ALL.filter((c) => sample.every((s) => chain(s, c, 4096).ok));
  const full: { c: Cand; frames: number; values: number; sig: string; chained: number; okBytes: number; minFrames: number; checked: number }[] = [];
  let partial: { c: Cand; frames: number; label: string; at: number; s: Stream } | null = null;
  for (const c of survivors) {
    let frames = 0;
    let empty = 0;
    let chained = 0;
    let okBytes = 0;
    let minFrames = Infinity;
    const values = new Set<number>();
    const sig: string[] = [];
    // at most CHECK_BYTES over the streams, per candidate: enough to tell, and bounded
    let budget = CHECK_BYTES;
    let checked = 0;
    for (const s of live) {
      if (budget <= 0) break;
      checked++;
      const lim = Math.min(s.bytes.length, budget);
      budget -= lim;
      const r = chain(s, c, lim, sig.length < 4 ? SIG_ENDS : 0);
      frames += r.frames;
      empty += r.empty;
      for (const v of r.values) if (values.size < 64) values.add(v);
      if (r.ok) {
        chained++;
        okBytes += lim;
        minFrames = Math.min(minFrames, r.frames);
        if (sig.length < 4) sig.push(r.ends.join(','));
      } else {
        if (!partial || r.frames > partial.frames) partial = { c, frames: r.frames, label: s.label, at: r.at, s };
        break;
      }
    }
    if (chained === checked && empty <= frames * 0.02 && (live.length >= 3 || structured(live, c))) full.push({ c, frames, values: values.size, sig: sig.join('|'), chained, okBytes, minFrames, checked });
  }
  // a length that never varies, or frames of a byte or two, is no evidence of a length
  // frames of a byte or two are no evidence of a length; a length that never varies is (as good as
  // a fixed size) when its frames look alike
  const real = full.filter((x) => x.frames >= x.checked * 2 && x.okBytes / Math.max(1, x.frames) >= 2);
  const groups = new Map<string, (typeof real)[number]>();
  for (const x of real) {
    const g = groups.get(x.sig);
    if (!g || lexLess(simplicity(x.c), simplicity(g.c))) groups.set(x.sig, x);
  }
  // the simplest reading first (no adjustment, no offset: what most games do), then the one whose
  // length says the most (distinct values), then more frames
  const complexity = (c: Cand): number => {
    const f = asFraming(c);
    return (f.adjust ? 1 : 0) + (f.offset ? 1 : 0) + (f.includes ? 0.5 : 0);
  };
  // a reading whose frame ends are a few of another's swallows several frames in one: the finer wins
  const endsOf = (sig: string): number[][] => sig.split('|').map((x) => (x ? x.split(',').map(Number) : []));
  const swallows = (a: string, b: string): boolean => {
    const A = endsOf(a);
    const B = endsOf(b);
    if (A.length !== B.length) return false;
    let fewer = false;
    for (let i = 0; i < A.length; i++) {
      const upto = Math.min(A[i]!.at(-1) ?? 0, B[i]!.at(-1) ?? 0);
      const inB = new Set(B[i]);
      const a = A[i]!.filter((e) => e <= upto);
      if (!a.every((e) => inB.has(e))) return false;
      if (B[i]!.filter((e) => e <= upto).length > a.length) fewer = true;
    }
    return fewer;
  };
  for (const a of [...groups.keys()]) if ([...groups.keys()].some((b) => b !== a && swallows(a, b))) groups.delete(a);
  const alike = new Map([...groups.values()].map((x) => [x, alikeness(live, x.c)]));
  const bucket = (x: (typeof real)[number]): number => Math.round(alike.get(x)! * 10);
  const lengthGuesses = [...groups.values()].filter((x) => x.values > 1 || alike.get(x)! >= 0.4).sort((a, b) => bucket(b) - bucket(a) || complexity(a.c) - complexity(b.c) || b.values - a.values || b.frames - a.frames);
  for (const [i, x] of lengthGuesses.entries()) {
    const thin = Math.min(1, x.frames / 10);
    const rivals = lengthGuesses.length - 1;
    const f = asFraming(x.c);
    guesses.push({
      framing: f,
      confidence: round(thin * (rivals ? (i === 0 ? 0.8 : 0.5) : 0.99)),
      streams: live.length,
      chained: x.chained,
      frames: x.frames,
      evidence: [
        `${describeFraming(f)} chains exactly through ${x.checked === live.length ? `all ${live.length}` : `${x.checked} of ${live.length}`} stream${live.length > 1 ? 's' : ''} (${x.frames} frames, ${x.okBytes} bytes${x.okBytes < total ? ` of ${total} looked at` : ''}${live.some((s) => s.cut) ? '; streams cut short end inside their last frame' : ''})`,
        `${x.values >= 64 ? '64+' : x.values} distinct length values`,
        ...(rivals ? [`${rivals} other length reading${rivals > 1 ? 's' : ''} chain${rivals > 1 ? '' : 's'} too, cutting other frames`] : []),
      ],
    });
  }

  // delimiters
  for (const d of ['\r\n', '\n', '\0']) {
    const delim = Buffer.from(d, 'latin1');
    let frames = 0;
    let ok = 0;
    for (const s of live) {
      let n = 0;
      for (let p = s.bytes.indexOf(delim); p >= 0; p = s.bytes.indexOf(delim, p + delim.length)) n++;
      frames += n;
      const endsWell = s.bytes.subarray(s.bytes.length - delim.length).equals(delim) || s.cut;
      if (n >= 1 && endsWell) ok++;
    }
    if (ok < live.length || frames < live.length * 2) continue;
    const text = live.reduce((t, s) => t + isText(s.bytes) * s.bytes.length, 0) / total;
    if (d === '\n' && guesses.some((g) => g.framing.k === 'delimiter')) continue;
    // lines of text: a delimiter in binary data is chance
    if (text < 0.8) continue;
    const conf = text * Math.min(1, frames / 10);
    guesses.push({ framing: { k: 'delimiter', delimiter: d }, confidence: round(conf), streams: live.length, chained: ok, frames, evidence: [`every stream ends with ${JSON.stringify(d)}; ${frames} frames; ${(text * 100).toFixed(0)}% of the bytes are text`] });
  }

  // fixed size: every stream a whole number of records, and some column constant over them
  for (let size = 2; size <= 512; size++) {
    if (!live.every((s) => s.cut || s.bytes.length % size === 0)) continue;
    const records = live.reduce((n, s) => n + Math.floor(s.bytes.length / size), 0);
    if (records < live.length * 3) break;
    let constant = -1;
    for (let col = 0; col < size && constant < 0; col++) {
      const v = live[0]!.bytes[col];
      if (live.every((s) => {
        for (let p = col; p + size - col <= s.bytes.length; p += size) if (s.bytes[p] !== v) return false;
        return true;
      })) constant = col;
    }
    if (constant < 0) continue;
    guesses.push({ framing: { k: 'fixed', size }, confidence: round(0.6 * Math.min(1, records / 10)), streams: live.length, chained: live.length, frames: records, evidence: [`every stream is a whole number of ${size}-byte records (${records}), byte ${constant} of each the same`] });
    break;
  }

  guesses.sort((a, b) => b.confidence - a.confidence);
  // text lines beat a length that happens to chain through text
  const best = guesses[0] ?? null;
  if (best) {
    result.best = best;
    result.others = guesses.slice(1, 6);
    return result;
  }
  // the longest run any length reading makes through the longest stream, and where it breaks
  // (the bytes change character at some point P: structured, then noise; the reading whose frames
  // end there, looked alike before it, and are the simplest and most numerous)
  {
    const s = sample[0]!;
    const lim = Math.min(s.bytes.length, 1 << 16);
    let at = -1;
    let bestJump = 1.5;
    for (let p = 256; p < lim - 1024; p += 16) {
      const jump = entropy(s.bytes, p, Math.min(lim, p + 4096)) - entropy(s.bytes, Math.max(0, p - 4096), p);
      if (jump > bestJump) {
        bestJump = jump;
        at = p;
      }
    }
    let bestScore = -Infinity;
    if (at >= 0) {
      for (const c of ALL) {
        const r = chain(s, c, lim, 1 << 16);
        const ends = r.ends;
        let k = 0;
        while (k < ends.length && ends[k]! <= at + 16) k++;
        if (k < 3 || Math.abs(ends[k - 1]! - at) > 16) continue;
        const e = ends[k - 1]!;
        let prev = 0;
        let empty = 0;
        const values = new Set<number>();
        for (let i = 0; i < k; i++) {
          if (ends[i]! - prev <= c.offset + (c.width || 1)) empty++;
          values.add(ends[i]! - prev);
          prev = ends[i]!;
        }
        if (empty > k * 0.02 || values.size < 2) continue;
        const score = Math.log2(k) - (simplicity(c)[0]! ? 1 : 0) - (c.offset > 0 ? 1 : 0) - (c.kind === 'varint' ? 0.5 : 0);
        if (score > bestScore && structured([{ bytes: s.bytes.subarray(0, e), cut: false, label: s.label }], c)) {
          bestScore = score;
          partial = { c, frames: k, label: s.label, at: e, s };
        }
      }
    }
  }
  result.why.push(`no length prefix (${KINDS.length} kinds, offsets 0-${MAX_OFFSET}, adjustments -8..+8, counting itself or not), delimiter or fixed size chains through every stream`);
  if (partial) {
    const p = partial as { c: Cand; frames: number; label: string; at: number; s: Stream };
    const f = asFraming(p.c);
    const before = entropy(p.s.bytes, 0, p.at);
    const after = entropy(p.s.bytes, p.at, Math.min(p.s.bytes.length, p.at + 4096));
    // a run through noise is chance, not evidence
    if (before < 7.5) result.why.push(`the longest run: ${describeFraming(f)} chains ${p.frames} frames of ${p.label}, up to byte ${p.at}${after - before > 1 ? ', where the bytes change' : ''} (entropy ${before.toFixed(1)} bits a byte before, ${after.toFixed(1)} after)`);
    if (p.frames >= 3 && after - before > 1) result.breaks.push({ label: p.label, at: p.at, frames: p.frames, entropyBefore: round(before), entropyAfter: round(after) });
  }
  const e = entropy(Buffer.concat(live.map((s) => s.bytes.subarray(0, 65536))));
  if (e > 7.5 && !result.breaks.length) result.why.push(`the bytes look random (entropy ${e.toFixed(2)} bits a byte): encrypted or compressed from the start?`);
  return result;
}

/**
 * Whether the frames a candidate cuts look alike: some byte near the start of their bodies has
 * clearly less entropy than bytes taken anywhere (an id, a version, flags). A length reading
 * that chains through one or two streams of noise by chance cuts frames that do not.
 */
function structured(streams: Stream[], c: Cand): boolean {
  return alikeness(streams, c) >= 0.25;
}

/**
 * How much the frames a candidate cuts look alike at their start: over the first 8 bytes of each
 * frame body, the mean of 1 - (entropy of that byte across frames / entropy of as many bytes
 * taken anywhere). 0 for frames cut at random places, near 1 for frames that start the same way.
 */
function alikeness(streams: Stream[], c: Cand): number {
  const starts: [Buffer, number][] = [];
  for (const s of streams) {
    if (starts.length >= ALIKE_FRAMES) break;
    const r = chain(s, c, s.bytes.length, ALIKE_FRAMES - starts.length);
    let prev = 0;
    for (const e of r.ends) {
      starts.push([s.bytes, prev]);
      prev = e;
    }
  }
  const n = starts.length;
  if (n < 8) return 0;
  const field = c.offset + (c.width || 1);
  const h = (pick: (i: number) => number | undefined): number => {
    const counts = new Map<number, number>();
    let m = 0;
    for (let i = 0; i < n; i++) {
      const v = pick(i);
      if (v === undefined) continue;
      counts.set(v, (counts.get(v) ?? 0) + 1);
      m++;
    }
    let e = 0;
    for (const x of counts.values()) e -= (x / m) * Math.log2(x / m);
    return e;
  };
  // the same number of bytes from places spread at random (not evenly: frames of one size would
  // alias with an even spread): what chance gives
  const all = streams.map((s) => s.bytes);
  const total = all.reduce((t, b) => t + b.length, 0);
  const rng = new Rng(n);
  const starts0: number[] = [];
  let acc = 0;
  for (const b of all) {
    starts0.push(acc);
    acc += b.length;
  }
  const baseline = h(() => {
    const at = rng.below(total);
    let lo = 0;
    let hi = all.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts0[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    return all[lo]![at - starts0[lo]!];
  });
  if (baseline === 0) return 0;
  let sum = 0;
  let best = 0;
  for (let k = 0; k < 8; k++) {
    const hk = h((i) => {
      const [b, p] = starts[i]!;
      const at = c.offset > 0 && k < c.offset ? p + k : p + field + k - (c.offset > 0 ? c.offset : 0);
      return at < b.length ? b[at] : undefined;
    });
    const a = Math.max(0, 1 - hk / baseline);
    sum += a;
    best = Math.max(best, a);
  }
  // the best byte counts most (an id), the others show how much of the start is shared
  return 0.5 * best + 0.5 * (sum / 8);
}

/** Cut a stream into frames with a framing (the chosen one); what does not fit is left over. */
export function cutFrames(s: Stream, f: Framing, max = Infinity): { frames: Buffer[]; rest: number } {
  const frames: Buffer[] = [];
  const b = s.bytes;
  if (f.k === 'length') {
    const width = KINDS.find((k) => k.kind === f.kind)!.width;
    const c: Cand = { kind: f.kind, width, offset: f.offset, total: f.kind === 'varint' ? f.adjust : f.includes ? f.adjust : f.adjust + f.offset + width };
    const r = chain(s, c, b.length, max);
    let p = 0;
    for (const e of r.ends) {
      frames.push(b.subarray(p, e));
      p = e;
    }
    return { frames, rest: b.length - p };
  }
  if (f.k === 'delimiter') {
    const d = Buffer.from(f.delimiter, 'latin1');
    let p = 0;
    for (let at = b.indexOf(d); at >= 0 && frames.length < max; at = b.indexOf(d, p)) {
      frames.push(b.subarray(p, at));
      p = at + d.length;
    }
    return { frames, rest: b.length - p };
  }
  if (f.k === 'fixed') {
    let p = 0;
    for (; p + f.size <= b.length && frames.length < max; p += f.size) frames.push(b.subarray(p, p + f.size));
    return { frames, rest: b.length - p };
  }
  return { frames: b.length ? [b] : [], rest: 0 };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
