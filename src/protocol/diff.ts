/**
 * Differences between a decoded value and an expected one, field by field, with the path of each
 * (`entities[1].pos.x`). Expected values may come from YAML (hex strings for bytes, numbers for
 * 64-bit integers) or from another decode. Test vectors and replay both report with it.
 */

export interface ValueDiff {
  path: string;
  kind: 'value' | 'length' | 'extra' | 'missing';
  actual: unknown;
  expected: unknown;
}

export function valueDiffs(actual: unknown, expected: unknown, path = '', out: ValueDiff[] = []): ValueDiff[] {
  if (Buffer.isBuffer(actual)) {
    const exp = typeof expected === 'string' ? expected.replace(/\s+/g, '').toLowerCase() : Buffer.isBuffer(expected) ? expected.toString('hex') : expected;
    if (actual.toString('hex') !== exp) out.push({ path, kind: 'value', actual, expected });
    return out;
  }
  if (typeof actual === 'bigint' && (typeof expected === 'number' || typeof expected === 'bigint' || typeof expected === 'string')) {
    let same = false;
    try {
      same = actual === BigInt(expected);
    } catch {
      // not an integer: different
    }
    if (!same) out.push({ path, kind: 'value', actual, expected });
    return out;
  }
  if (Array.isArray(actual) && Array.isArray(expected)) {
    if (actual.length !== expected.length) out.push({ path, kind: 'length', actual: actual.length, expected: expected.length });
    for (let i = 0; i < Math.min(actual.length, expected.length); i++) valueDiffs(actual[i], expected[i], `${path}[${i}]`, out);
    return out;
  }
  if (actual && expected && typeof actual === 'object' && typeof expected === 'object' && !Array.isArray(actual) && !Array.isArray(expected) && !Buffer.isBuffer(expected)) {
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    // A key whose value is undefined is an absent optional field on either side.
    const keys = new Set([...Object.keys(a).filter((k) => a[k] !== undefined), ...Object.keys(e).filter((k) => e[k] !== undefined)]);
    for (const k of keys) {
      const sub = path ? `${path}.${k}` : k;
      if (e[k] === undefined) out.push({ path: sub, kind: 'extra', actual: a[k], expected: undefined });
      else if (a[k] === undefined) out.push({ path: sub, kind: 'missing', actual: undefined, expected: e[k] });
      else valueDiffs(a[k], e[k], sub, out);
    }
    return out;
  }
  if (!(Object.is(actual, expected) || actual === expected)) out.push({ path, kind: 'value', actual, expected });
  return out;
}

export function showValue(v: unknown): string {
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (typeof v === 'bigint') return String(v);
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x)) ?? String(v);
}

/** The same differences as `path: ...` lines. */
export function diffValues(actual: unknown, expected: unknown, path = ''): string[] {
  return valueDiffs(actual, expected, path).map((d) => {
    const at = d.path || '(message)';
    switch (d.kind) {
      case 'length':
        return `${at}: got ${String(d.actual)} elements, expected ${String(d.expected)}`;
      case 'extra':
        return `${at}: got ${showValue(d.actual)}, not expected`;
      case 'missing':
        return `${at}: missing, expected ${showValue(d.expected)}`;
      default:
        return Buffer.isBuffer(d.actual) ? `${at}: got bytes ${d.actual.toString('hex')}, expected ${showValue(d.expected)}` : `${at}: got ${showValue(d.actual)}, expected ${showValue(d.expected)}`;
    }
  });
}
