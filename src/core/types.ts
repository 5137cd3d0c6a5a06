/** Which way bytes flow, always from the client's point of view. */
export type Direction = 'c2s' | 's2c';

export interface Endpoint {
  addr: string;
  port: number;
}

export function endpointString(e: Endpoint): string {
  return e.addr.includes(':') ? `[${e.addr}]:${e.port}` : `${e.addr}:${e.port}`;
}

/** How one direction of a TCP connection ended. */
export type StreamEnd = 'fin' | 'rst' | 'timeout' | 'open';

/**
 * One captured packet as a source hands it over. `data` may be a view into a
 * larger buffer that the source never reuses; `origLen` is the length on the
 * wire (larger than data.length when the capture truncated it).
 * `ts` is microseconds since the epoch (fractional when the source has ns).
 */
export type PacketCallback = (
  linkType: number,
  data: Buffer,
  origLen: number,
  ts: number,
  ifIndex: number,
) => void;

/**
 * A PacketCallback that is handed the packet where it lies: buf[start, end) of a capture batch or
 * file chunk, with no view made of it (a Buffer per packet was a fifth of live capture's CPU).
 * What the callback keeps beyond the call it views or copies itself.
 */
export type PacketAtCallback = (
  linkType: number,
  buf: Buffer,
  start: number,
  end: number,
  origLen: number,
  ts: number,
  ifIndex: number,
) => void;

/** A PacketAtCallback that gives `onPacket` a view of each packet. */
export function packetViews(onPacket: PacketCallback): PacketAtCallback {
  return (lt, buf, start, end, origLen, ts, ifi) => onPacket(lt, buf.subarray(start, end), origLen, ts, ifi);
}
