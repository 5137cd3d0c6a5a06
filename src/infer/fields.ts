/**
 * Field inference for one message id: the bodies of its messages (after the id), aligned from
 * their start, read left to right with a cursor per sample (so a string of varying length moves
 * each sample's own cursor). At each point the first reading that holds for every sample wins:
 * a prefixed or terminated string, a length of the rest, floats, a counter, a timestamp, a
 * constant, an integer whose high bytes are zero, an enum-like byte; what nothing explains stays
 * bytes. Each field carries its evidence.
 */

export type FieldSpec = string | Record<string, unknown>;

export interface FieldGuess {
  name: string;
  spec: FieldSpec;
  kind: 'string' | 'length' | 'float' | 'counter' | 'timestamp' | 'constant' | 'integer' | 'enum' | 'flags' | 'bytes' | 'rest';
  /** Where it starts in the first sample's body (after the id). */
  at: number;
  evidence: string;
  /** False for guesses a human should look at (unknown bytes, enum-like bytes). */
  sure: boolean;
}

export interface Sample {
  body: Buffer;
  ts: number;
}

export interface FieldContext {
  endian: 'le' | 'be';
  /** The capture's time span, µs: timestamps are looked for near it. */
  from: number;
  to: number;
}

const MAX_SAMPLES = 2000;
const MAX_FIELDS = 64;

/** Text that reads as words: at least one letter, and no control characters. */
function wordy(b: Buffer): boolean {
  for (const x of b) if ((x >= 0x41 && x <= 0x5a) || (x >= 0x61 && x <= 0x7a) || x >= 0x80) return true;
  return false;
}

function utf8Text(b: Buffer): boolean {
  for (const x of b) if (x < 0x20 && x !== 0x09 && x !== 0x0a && x !== 0x0d) return false;
  if (b.some((x) => x === 0x7f)) return false;
  // valid UTF-8: decoding and encoding again gives the same bytes
  return Buffer.from(b.toString('utf8'), 'utf8').equals(b);
}

function readCounter(b: Buffer, p: number, kind: 'u8' | 'u16le' | 'u16be' | 'varint'): [number, number] | null {
  if (kind === 'u8') return p < b.length ? [b[p]!, 1] : null;
  if (kind === 'u16le') return p + 2 <= b.length ? [b.readUInt16LE(p), 2] : null;
  if (kind === 'u16be') return p + 2 <= b.length ? [b.readUInt16BE(p), 2] : null;
  let v = 0;
  for (let i = 0; i < 4 && p + i < b.length; i++) {
    const x = b[p + i]!;
    v += (x & 0x7f) << (7 * i);
    if (!(x & 0x80)) return [v, i + 1];
  }
  return null;
}

const hex = (b: Buffer): string => b.toString('hex').replace(/(..)(?!$)/g, '$1 ');

export function inferFields(all: Sample[], ctx: FieldContext): FieldGuess[] {
  const samples = all.length > MAX_SAMPLES ? all.slice(0, MAX_SAMPLES) : all;
  const n = samples.length;
  const out: FieldGuess[] = [];
  if (!n) return out;
  if (n < 2) {
    const len = samples[0]!.body.length;
    if (len) out.push({ name: 'data', spec: { type: 'bytes', until: 'end' }, kind: 'rest', at: 0, evidence: `one message only (${len} bytes): nothing to compare it with`, sure: false });
    return out;
  }
  const cur = new Array<number>(n).fill(0);
  const names = new Set<string>();
  const name = (want: string): string => {
    let s = want;
    for (let i = 2; names.has(s); i++) s = `${want}_${i}`;
    names.add(s);
    return s;
  };
  const u16 = ctx.endian === 'le' ? 'u16le' : 'u16be';
  let unknownFrom = -1;
  let unknownLen = 0;
  const flushUnknown = (): void => {
    if (unknownLen > 0) out.push({ name: name(`unknown_${unknownFrom}`), spec: { type: 'bytes', length: unknownLen }, kind: 'bytes', at: unknownFrom, evidence: `${unknownLen} byte${unknownLen > 1 ? 's' : ''} no reading explains`, sure: false });
    unknownLen = 0;
    unknownFrom = -1;
  };
  const left = (i: number): number => samples[i]!.body.length - cur[i]!;
  const at0 = (): number => cur[0]!;

  while (out.length < MAX_FIELDS) {
    let minLeft = Infinity;
    let maxLeft = 0;
    for (let i = 0; i < n; i++) {
      minLeft = Math.min(minLeft, left(i));
      maxLeft = Math.max(maxLeft, left(i));
    }
    if (maxLeft === 0) break;

    // a string with a length prefix, or up to a NUL: the same text in every sample, located two ways
    const texts = (locate: (b: Buffer, at: number) => [start: number, end: number, next: number] | null): { longest: number; total: number; words: number; next: number[] } | null => {
      const out = { longest: 0, total: 0, words: 0, next: [] as number[] };
      for (let i = 0; i < n; i++) {
        const b = samples[i]!.body;
        const r = locate(b, cur[i]!);
        if (!r || r[1] > b.length || !utf8Text(b.subarray(r[0], r[1]))) return null;
        out.longest = Math.max(out.longest, r[1] - r[0]);
        out.total += r[1] - r[0];
        if (wordy(b.subarray(r[0], r[1]))) out.words++;
        out.next.push(r[2]);
      }
      return out;
    };
    let found: FieldGuess | null = null;
    for (const kind of ['u8', u16, 'varint'] as const) {
      const t = texts((b, at) => {
        const r = readCounter(b, at, kind);
        return r ? [at + r[1], at + r[1] + r[0], at + r[1] + r[0]] : null;
      });
      if (t && t.longest >= 3 && t.total >= 2 * n && t.words >= n * 0.5) {
        found = { name: name('text'), spec: { type: 'string', prefix: kind }, kind: 'string', at: at0(), evidence: `a ${kind} length, then UTF-8 text, in all ${n} (up to ${t.longest} bytes)`, sure: true };
        t.next.forEach((e, i) => (cur[i] = e));
        break;
      }
    }
    if (!found) {
      const t = texts((b, at) => {
        // a string of at most 256 bytes (a search to the end from every byte of a big body would be quadratic)
        const z = b.subarray(0, Math.min(b.length, at + 257)).indexOf(0, at);
        return z < 0 ? null : [at, z, z + 1];
      });
      if (t && t.longest >= 3 && t.total >= 3 * n && t.words >= n * 0.8) {
        found = { name: name('text'), spec: { type: 'string', terminator: 0 }, kind: 'string', at: at0(), evidence: `UTF-8 text ending with a NUL in all ${n} (up to ${t.longest} bytes)`, sure: true };
        t.next.forEach((e, i) => (cur[i] = e));
      }
    }
    // a length that counts the rest (varying, so it is not a constant)
    if (!found && maxLeft !== minLeft) {
      for (const kind of ['u8', u16, 'varint'] as const) {
        let ok = true;
        for (let i = 0; i < n && ok; i++) {
          const r = readCounter(samples[i]!.body, cur[i]!, kind);
          if (!r || r[0] !== left(i) - r[1]) ok = false;
        }
        if (ok) {
          found = { name: name('data'), spec: { type: 'bytes', prefix: kind }, kind: 'length', at: at0(), evidence: `a ${kind} that counts the bytes after it to the end, in all ${n}`, sure: true };
          for (let i = 0; i < n; i++) cur[i] = samples[i]!.body.length;
          break;
        }
      }
    }
    if (found) {
      flushUnknown();
      out.push(found);
      continue;
    }
    if (minLeft === 0 || (maxLeft !== minLeft && minLeft < 1)) {
      flushUnknown();
      out.push({ name: name('rest'), spec: { type: 'bytes', until: 'end' }, kind: 'rest', at: at0(), evidence: `the rest: ${minLeft} to ${maxLeft} bytes`, sure: false });
      break;
    }

    const col = (off: number): number[] => samples.map((s, i) => s.body[cur[i]! + off]!);
    const varies = (off: number): boolean => {
      const c = col(off);
      return c.some((x) => x !== c[0]);
    };
    const positional = (): FieldGuess | null => {
      // floats: finite, of a sensible size, not small integers in disguise
      const floats = (off: number): boolean => {
        if (minLeft < off + 4) return false;
        let plausible = 0;
        let nonzero = 0;
        const seen = new Set<number>();
        for (let i = 0; i < n; i++) {
          const b = samples[i]!.body;
          const p = cur[i]! + off;
          const v = ctx.endian === 'le' ? b.readFloatLE(p) : b.readFloatBE(p);
          const u = ctx.endian === 'le' ? b.readUInt32LE(p) : b.readUInt32BE(p);
          // -0 and NaN do not encode back to their bytes (a vector would fail): not a float here
          if (Object.is(v, -0) || Number.isNaN(v)) return false;
          if (Number.isFinite(v) && (v === 0 || (Math.abs(v) >= 1e-4 && Math.abs(v) <= 1e7))) plausible++;
          if (u !== 0) nonzero++;
          if (u !== 0 && u < 1 << 20) return false;
          seen.add(u);
        }
        return plausible >= n * 0.98 && nonzero >= n * 0.5 && seen.size > 1;
      };
      if (floats(0)) {
        let run = 1;
        while (run < 4 && floats(run * 4)) run++;
        const axes = run === 1 ? ['value'] : run === 4 ? ['x', 'y', 'z', 'w'] : ['x', 'y', 'z'].slice(0, run);
        const f = ctx.endian === 'le' ? 'f32le' : 'f32be';
        const fields = axes.map((a, k) => ({ name: name(run === 1 ? `f32_${at0()}` : a), spec: f, kind: 'float' as const, at: at0() + k * 4, evidence: `${run > 1 ? `${run} floats in a row (a position?)` : 'a float'}: finite and of a sensible size in all ${n}`, sure: true }));
        for (let i = 0; i < n; i++) cur[i]! += run * 4;
        return fields.length === 1 ? fields[0]! : (out.push(...fields.slice(0, -1)), fields[fields.length - 1]!);
      }
      // integers: a counter, a timestamp, or one whose high bytes are zero
      for (const pass of ['counted', 'plain'] as const) {
      if (pass === 'plain') {
          // floats a byte or three further on: what comes before them is its own field
          for (let k = 1; k <= 3; k++) {
            if (floats(k) && floats(k + 4)) {
              const spec = k === 1 ? 'u8' : k === 2 ? `u16${ctx.endian}` : { type: 'bytes', length: 3 };
              const at = at0();
              for (let i = 0; i < n; i++) cur[i]! += k;
              return { name: name(`before_${at + k}`), spec, kind: 'bytes', at, evidence: `the ${k} byte${k > 1 ? 's' : ''} before a run of floats`, sure: false };
            }
          }
      }
      for (const width of [4, 2] as const) {
        if (minLeft < width) continue;
        // four bytes whose last two start a run of floats are two bytes and the floats
        if (width === 4 && floats(2) && floats(6)) continue;
        const vals = samples.map((s, i) => (width === 4 ? (ctx.endian === 'le' ? s.body.readUInt32LE(cur[i]!) : s.body.readUInt32BE(cur[i]!)) : ctx.endian === 'le' ? s.body.readUInt16LE(cur[i]!) : s.body.readUInt16BE(cur[i]!)));
        const type = `u${width * 8}${ctx.endian}`;
        const distinct = new Set(vals).size;
        if (distinct < 2) continue;
        // a counter: over time, mostly small steps up
        if (pass === 'counted' && n >= 4) {
          let up = 0;
          for (let i = 1; i < n; i++) {
            const d = vals[i]! - vals[i - 1]!;
            if (d >= 1 && d <= 16) up++;
          }
          if (up >= (n - 1) * 0.8) return { name: name('seq'), spec: type, kind: 'counter', at: at0(), evidence: `${type} that goes up by small steps from message to message (${up} of ${n - 1})`, sure: true };
        }
        if (pass === 'counted' && width === 4) {
          const lo = ctx.from / 1e6 - 86400;
          const hi = ctx.to / 1e6 + 86400;
          if (ctx.from > 0 && vals.every((v) => v >= lo && v <= hi)) return { name: name('time'), spec: type, kind: 'timestamp', at: at0(), evidence: `${type} within a day of the capture's clock in all ${n}: unix time in seconds`, sure: true };
        }
        // high bytes zero (where the byte order puts them) in nearly all
        const high = samples.filter((s, i) => {
          const b = s.body.subarray(cur[i]!, cur[i]! + width);
          const hi = ctx.endian === 'le' ? b.subarray(1) : b.subarray(0, width - 1);
          return hi.every((x) => x === 0);
        }).length;
        if (pass === 'counted') continue;
        const lowVaries = varies(ctx.endian === 'le' ? 0 : width - 1);
        const topZero = samples.every((s, i) => s.body[cur[i]! + (ctx.endian === 'le' ? width - 1 : 0)] === 0);
        if (lowVaries && topZero && high < n && vals.some((v) => v >= 256)) {
          for (let i = 0; i < n; i++) cur[i]! += width;
          return { name: name(`u${width * 8}_${at0() - width}`), spec: type, kind: 'integer', at: at0() - width, evidence: `${type}: ${distinct} values, ${Math.min(...vals)} to ${Math.max(...vals)}, its top byte always zero`, sure: false };
        }
      }
      }
      // a constant run
      if (!varies(0)) {
        let len = 1;
        while (len < minLeft && len < 16 && !varies(len)) len++;
        const bytes = samples[0]!.body.subarray(cur[0]!, cur[0]! + len);
        const spec = len === 1 ? 'u8' : len === 2 ? u16 : len === 4 ? `u32${ctx.endian}` : { type: 'bytes', length: len };
        return { name: name(`const_${at0()}`), spec, kind: 'constant', at: at0(), evidence: `always ${hex(bytes)} (in all ${n})`, sure: n >= 3 };
      }
      // a byte with few values: an enum or flags
      const c = col(0);
      const values = [...new Set(c)].sort((a, b) => a - b);
      if (values.length <= 8 && n >= 8) {
        const bits = values.reduce((o, v) => o | v, 0);
        const flagLike = values.length > 2 && values.every((v) => v === 0 || values.some((w) => w !== v && (w & v) === w) || (v & (v - 1)) === 0) && bits.toString(2).replace(/0/g, '').length <= 4;
        return { name: name(flagLike ? 'flags' : 'kind'), spec: 'u8', kind: flagLike ? 'flags' : 'enum', at: at0(), evidence: `${values.length} values: ${values.map((v) => `0x${v.toString(16)}`).join(', ')}${flagLike ? ` (bits ${bits.toString(2)})` : ''}`, sure: false };
      }
      return null;
    };
    const g = positional();
    if (g) {
      if (g.kind === 'enum' || g.kind === 'flags' || g.kind === 'constant') for (let i = 0; i < n; i++) cur[i]! += specWidth(g.spec);
      else if (g.kind === 'counter' || g.kind === 'timestamp') for (let i = 0; i < n; i++) cur[i]! += specWidth(g.spec);
      flushUnknown();
      out.push(g);
      continue;
    }
    // nothing explains this byte: it joins the unknown run
    if (unknownFrom < 0) unknownFrom = at0();
    unknownLen++;
    for (let i = 0; i < n; i++) cur[i]!++;
  }
  flushUnknown();
  // stopped at the field cap with bytes left: they stay bytes, so every sample decodes whole
  if (out.length >= MAX_FIELDS && samples.some((s, i) => cur[i]! < s.body.length)) out.push({ name: name('rest'), spec: { type: 'bytes', until: 'end' }, kind: 'rest', at: at0(), evidence: `the rest, after ${MAX_FIELDS} fields`, sure: false });
  return out;
}

function specWidth(spec: FieldSpec): number {
  if (typeof spec === 'string') return spec === 'u8' ? 1 : /16/.test(spec) ? 2 : /32/.test(spec) ? 4 : 8;
  return Number(spec.length ?? 0);
}
