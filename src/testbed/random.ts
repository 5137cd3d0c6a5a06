/** A small seeded generator (mulberry32): the testbed must be reproducible from a seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Positions rounded to what an f32 holds exactly enough to compare after a round trip. */
export function round2(x: number): number {
  return Math.fround(Math.round(x * 4) / 4);
}
