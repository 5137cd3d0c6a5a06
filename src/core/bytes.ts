/** src[s, e) as a Buffer: src itself when that is all of it (a view costs more than the bytes it spans on small frames). */
export function bytesIn(src: Buffer, s: number, e: number): Buffer {
  return s === 0 && e === src.length ? src : src.subarray(s, e);
}

/*
 * Unsigned integers at an offset the caller checked is in bounds, read by index: a fraction of
 * Buffer#readUInt16BE's cost, which checks its arguments on every call (packet decode reads a
 * dozen a packet, the capture reader four a record).
 */
export function u16be(b: Buffer, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

export function u32be(b: Buffer, o: number): number {
  return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

export function u32le(b: Buffer, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;
}
