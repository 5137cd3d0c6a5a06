/** src[s, e) as a Buffer: src itself when that is all of it (a view costs more than the bytes it spans on small frames). */
export function bytesIn(src: Buffer, s: number, e: number): Buffer {
  return s === 0 && e === src.length ? src : src.subarray(s, e);
}
