/**
 * Keyed msgpack messages (`msgpack: t`): each message is one msgpack map, and the value at the
 * transport's key names it — `{t: 'move', seq: 3, x: 1.5}` as browser games send them. The map's
 * other keys are the fields: the description lists the ones a message must have and what each
 * holds; keys it does not list are kept as they come (nothing is dropped).
 */
import type { MapField, MapValueKind } from './ir';

/** Whether a decoded msgpack value is of a kind. */
export function isKind(v: unknown, kind: MapValueKind): boolean {
  switch (kind) {
    case 'any':
      return true;
    case 'string':
      return typeof v === 'string';
    case 'int':
      return (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';
    case 'float':
      return typeof v === 'number' || typeof v === 'bigint';
    case 'bool':
      return typeof v === 'boolean';
    case 'bytes':
      return v instanceof Uint8Array;
    case 'list':
      return Array.isArray(v);
    case 'map':
      return isPlainMap(v);
    case 'nil':
      return v === null || v === undefined;
  }
}

export function isPlainMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Map);
}

function kindOf(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an int' : 'a float';
  if (typeof v === 'object') return 'a map';
  return `a ${typeof v}`;
}

/** The first listed key missing or of the wrong kind, as a problem at its path; null when the map fits. */
export function mapProblem(keys: readonly MapField[], v: Record<string, unknown>): { message: string; key: string } | null {
  for (const f of keys) {
    const x = Object.prototype.hasOwnProperty.call(v, f.name) ? v[f.name] : undefined;
    if (x === undefined) {
      if (f.optional) continue;
      return { message: `the map has no key '${f.name}'`, key: f.name };
    }
    if (!isKind(x, f.kind)) return { message: `expected ${f.kind}, found ${kindOf(x)}`, key: f.name };
  }
  return null;
}

/** The fields of a decoded map: every key but the one naming the message, in the map's order. */
export function mapFieldsOf(v: Record<string, unknown>, nameKey: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) if (k !== nameKey) out[k] = v[k];
  return out;
}

/** The map to encode: the naming key first, then the fields in the order given (a decoded message's keeps the game's order). */
export function mapToEncode(nameKey: string, value: string | number, fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { [nameKey]: value };
  for (const k of Object.keys(fields)) if (k !== nameKey && fields[k] !== undefined) out[k] = fields[k];
  return out;
}
