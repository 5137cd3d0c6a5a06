/**
 * TCP sequence numbers are u32 and wrap. Every comparison goes through
 * seqDiff, which gives the signed distance a - b in (-2^31, 2^31].
 * Never compare raw sequence numbers with < or >.
 */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}
