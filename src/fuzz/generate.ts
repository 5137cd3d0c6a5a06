/** Making one case for a target: pick a seed, mutate it (or generate a protocol), reproducibly from the Rng. */
import { gzipSync } from 'node:zlib';
import { mutateCapture } from './capture-struct';
import { MAX_INPUT, mutateBytes, mutateRecording, mutateText } from './mutate';
import { generateProtocol } from './protogen';
import { MAX_WS_MUTATED, mutateWs } from './websocket';
import type { Rng } from '../core/rng';
import type { Seed, TargetName } from './seeds';

export interface Case {
  data: Buffer;
  /** Where it came from, for the crash report. */
  origin: string;
}

export function makeCase(r: Rng, target: TargetName, seeds: Seed[]): Case {
  const other = (): Buffer => (seeds.length ? r.pick(seeds).data : Buffer.alloc(0));
  if (target === 'protocol' && (r.chance(0.35) || !seeds.length)) {
    const s = r.u32();
    let text = generateProtocol(s);
    let origin = `generated protocol (fast-check seed ${s})`;
    if (r.chance(0.3)) {
      text = mutateText(r, text, () => other().toString('utf8'));
      origin += ', mutated';
    }
    return { data: Buffer.from(text, 'utf8'), origin };
  }
  if (!seeds.length) return { data: r.bytes(r.small(256)), origin: 'random bytes' };
  const seed = r.pick(seeds);
  if (target === 'protocol') {
    return { data: Buffer.from(mutateText(r, seed.data.toString('utf8'), () => other().toString('utf8')), 'utf8'), origin: `${seed.name}, text mutations` };
  }
  if (target === 'recording' && r.chance(0.45)) {
    const m = mutateRecording(r, seed.data);
    if (m) {
      if (r.chance(0.2)) return { data: mutateBytes(r, m, other), origin: `${seed.name}, record and byte mutations` };
      return { data: m, origin: `${seed.name}, record mutations` };
    }
  }
  if (target === 'websocket') {
    // frames, heads and scripts changed as such; sometimes bytes too
    let b: Buffer | null = r.chance(0.75) ? mutateWs(r, seed.data, other) : null;
    let origin = `${seed.name}, structure mutations`;
    if (!b || r.chance(0.2)) {
      b = mutateBytes(r, b ?? seed.data, other);
      origin = b === seed.data ? `${seed.name}, byte mutations` : `${seed.name}, structure and byte mutations`;
    }
    return { data: b.length > MAX_WS_MUTATED ? b.subarray(0, MAX_WS_MUTATED) : b, origin };
  }
  if (target === 'capture' && r.chance(0.04)) {
    // the gzip path (readCaptureFile decompresses as it reads): a mutated capture, compressed, sometimes cut or damaged
    const inner = r.chance(0.5) ? (mutateCapture(r, seed.data) ?? seed.data) : mutateBytes(r, seed.data, other);
    let z: Buffer = gzipSync(inner.length > MAX_INPUT ? inner.subarray(0, MAX_INPUT) : inner);
    if (r.chance(0.3)) z = z.subarray(0, r.int(2, z.length));
    else if (r.chance(0.3)) z = mutateBytes(r, z, other);
    return { data: z, origin: `${seed.name}, mutated and gzipped` };
  }
  if (target === 'capture' && r.chance(0.5)) {
    let b: Buffer | null = seed.data;
    let n = 0;
    for (let k = r.small(4); k > 0 && b; k--, n++) b = mutateCapture(r, b) ?? (n ? b : null);
    if (b) {
      if (r.chance(0.2)) return { data: mutateBytes(r, b, other), origin: `${seed.name}, structure and byte mutations` };
      return { data: b.length > MAX_INPUT ? b.subarray(0, MAX_INPUT) : b, origin: `${seed.name}, structure mutations` };
    }
  }
  return { data: mutateBytes(r, seed.data, other), origin: `${seed.name}, byte mutations` };
}
