/** Positions rounded to what an f32 holds exactly enough to compare after a round trip. */
export function round2(x: number): number {
  return Math.fround(Math.round(x * 4) / 4);
}
