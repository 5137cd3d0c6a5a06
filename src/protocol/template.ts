/**
 * A message's fields with a plain value in each (zero, empty, the first enum member or case): a
 * starting point a user edits before sending a message of their own (the proxy UI's `n`).
 */
import type { Direction } from '../core/types';
import type { Field, MapValueKind, ProtocolDef, Ty } from './ir';
import type { Protocol } from './protocol';

const MAX_DEPTH = 8;

export function messageTemplate(protocol: Protocol, name: string, dir?: Direction): Record<string, unknown> | null {
  const ref = protocol.message(name, dir);
  if (!ref) return null;
  if (ref.def.mapFields) return Object.fromEntries(ref.def.mapFields.filter((f) => !f.optional).map((f) => [f.name, mapDefault(f.kind)]));
  return struct(protocol.def, ref.def.fields, 0);
}

function struct(def: ProtocolDef, fields: Field[], depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (!f.hidden && !f.cond) out[f.name] = value(def, f.ty, depth + 1);
  return out;
}

function value(def: ProtocolDef, ty: Ty, depth: number): unknown {
  if (depth > MAX_DEPTH) return null;
  switch (ty.k) {
    case 'int':
      return ty.size === 8 ? 0n : 0;
    case 'varint':
      return ty.width === 64 ? 0n : 0;
    case 'float':
      return 0;
    case 'bool':
      return false;
    case 'enum':
      return ty.def.byName.keys().next().value ?? 0;
    case 'flags':
      return Object.fromEntries(ty.names.map(([n]) => [n, false]));
    case 'bits':
      return Object.fromEntries(ty.parts.map(([n]) => [n, 0]));
    case 'const':
      return ty.value;
    case 'magic':
    case 'pad':
      return undefined;
    case 'str':
      return '';
    case 'bytes':
      return '';
    case 'msgpack':
      return null;
    case 'array':
      return [];
    case 'struct':
      return struct(def, ty.fields, depth);
    case 'ref': {
      const t = def.types.get(ty.name);
      return t ? value(def, t.ty, depth + 1) : null;
    }
    case 'switch':
      return ty.cases[0] ? value(def, ty.cases[0].ty, depth + 1) : ty.dflt ? value(def, ty.dflt, depth + 1) : null;
    case 'window':
      return value(def, ty.inner, depth + 1);
  }
}

function mapDefault(kind: MapValueKind): unknown {
  switch (kind) {
    case 'string':
    case 'bytes':
      return '';
    case 'int':
    case 'float':
      return 0;
    case 'bool':
      return false;
    case 'list':
      return [];
    case 'map':
      return {};
    case 'any':
    case 'nil':
      return null;
  }
}
