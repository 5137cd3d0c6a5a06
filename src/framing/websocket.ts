/**
 * RFC 6455 frames: reading a frame header at an offset, unmasking, writing frames. The layer that
 * follows the upgrade, reassembles fragments and inflates (conversation/websocket.ts) builds on it.
 */
import { randomFillSync } from 'node:crypto';

/** The WebSocket layer's own messages: the upgrade both ways and the control frames (a description cannot use these names). */
export const WS_MESSAGES = ['http_request', 'http_response', 'ws_ping', 'ws_pong', 'ws_close'] as const;

export const OP = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;
export const OP_NAMES: Record<number, string> = { 0: 'continuation', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };

export interface WsFrameHeader {
  fin: boolean;
  /** Per-message compressed (permessage-deflate), on a message's first frame. */
  rsv1: boolean;
  opcode: number;
  /** The 4-byte masking key (client frames), else null. */
  mask: Buffer | null;
  /** Payload length. */
  length: number;
  /** Header size (2 to 14 bytes). */
  size: number;
}

export interface WsReadRules {
  /** The largest payload accepted. */
  max: number;
  /** RSV1 may be set (permessage-deflate negotiated, or not known). */
  rsv1: boolean;
  /** Frames must be masked (true: client to server), must not be (false), or either (null: not known). */
  masked: boolean | null;
}

/** The frame header at b[at..end): 'short' until it is whole; a reason when these bytes cannot be one. */
export function readWsHeader(b: Buffer, at: number, end: number, rules: WsReadRules): WsFrameHeader | 'short' | string {
  if (end - at < 2) return 'short';
  const b0 = b[at]!;
  const b1 = b[at + 1]!;
  const fin = (b0 & 0x80) !== 0;
  const rsv1 = (b0 & 0x40) !== 0;
  const opcode = b0 & 0x0f;
  const masked = (b1 & 0x80) !== 0;
  if (b0 & 0x30) return `reserved bits RSV2/RSV3 set (0x${b0.toString(16).padStart(2, '0')}) with no extension negotiated that uses them`;
  if (!OP_NAMES[opcode]) return `reserved opcode 0x${opcode.toString(16)}`;
  const control = opcode >= 8;
  if (rsv1 && (!rules.rsv1 || control || opcode === OP.continuation)) return control || opcode === OP.continuation ? `RSV1 set on a ${OP_NAMES[opcode]} frame` : 'RSV1 set and permessage-deflate was not negotiated';
  if (rules.masked !== null && masked !== rules.masked) return rules.masked ? 'a client frame that is not masked' : 'a server frame that is masked';
  let length = b1 & 0x7f;
  let p = at + 2;
  if (control && (!fin || length > 125)) return !fin ? `a fragmented ${OP_NAMES[opcode]} frame` : `a ${OP_NAMES[opcode]} frame of ${length > 125 ? 'more than 125' : length} bytes (control frames carry at most 125)`;
  if (length === 126) {
    if (end - p < 2) return 'short';
    length = b.readUInt16BE(p);
    p += 2;
  } else if (length === 127) {
    if (end - p < 8) return 'short';
    const hi = b.readUInt32BE(p);
    const lo = b.readUInt32BE(p + 4);
    if (hi & 0x80000000) return 'a 64-bit length with its top bit set';
    if (hi >= 0x200000) return `a payload of ${hi} * 2^32 bytes`;
    length = hi * 0x100000000 + lo;
    p += 8;
  }
  if (length > rules.max) return `a ${length}-byte frame, over the ${rules.max}-byte limit`;
  let mask: Buffer | null = null;
  if (masked) {
    if (end - p < 4) return 'short';
    mask = Buffer.from(b.subarray(p, p + 4));
    p += 4;
  }
  return { fin, rsv1, opcode, mask, length, size: p - at };
}

/** XOR with the 4-byte mask, the mask's phase starting at `phase` (a payload read in pieces); in place. */
export function unmaskInPlace(data: Buffer, mask: Buffer, phase = 0): void {
  for (let i = 0; i < data.length; i++) data[i] ^= mask[(i + phase) & 3]!;
}

/** One frame on the wire. A client's frames get `mask` (fresh random bytes when `true`). */
export function writeWsFrame(opcode: number, payload: Buffer, opts: { fin?: boolean; rsv1?: boolean; mask?: Buffer | boolean } = {}): Buffer {
  const fin = opts.fin ?? true;
  const mask = opts.mask === true ? randomFillSync(Buffer.alloc(4)) : opts.mask || null;
  const n = payload.length;
  const lenBytes = n < 126 ? 0 : n < 0x10000 ? 2 : 8;
  const size = 2 + lenBytes + (mask ? 4 : 0);
  const out = Buffer.allocUnsafe(size + n);
  out[0] = (fin ? 0x80 : 0) | (opts.rsv1 ? 0x40 : 0) | opcode;
  out[1] = (mask ? 0x80 : 0) | (n < 126 ? n : n < 0x10000 ? 126 : 127);
  if (lenBytes === 2) out.writeUInt16BE(n, 2);
  else if (lenBytes === 8) {
    out.writeUInt32BE(Math.floor(n / 0x100000000), 2);
    out.writeUInt32BE(n >>> 0, 6);
  }
  payload.copy(out, size);
  if (mask) {
    mask.copy(out, size - 4);
    unmaskInPlace(out.subarray(size), mask);
  }
  return out;
}
