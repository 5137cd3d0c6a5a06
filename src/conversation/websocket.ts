/**
 * The WebSocket layer of a conversation (a description's `websocket: true`): per direction, the
 * HTTP upgrade (request and response shown as messages of their own), then RFC 6455 frames —
 * unmasked, fragments reassembled into one message, control frames (ping, pong, close) shown as
 * they come, even between fragments, and permessage-deflate (RFC 7692) inflated as the upgrade
 * negotiated it. What the data messages carry goes on to the description's framing and messages.
 *
 * Encoding runs it backwards: client frames get a fresh mask, payloads are compressed when the
 * upgrade said so, and a recorded 101 answer sent again gets the Sec-WebSocket-Accept the live
 * client's key asks for.
 *
 * A capture that starts after the upgrade finds frame boundaries where a frame header is followed
 * by another; what comes before is raw with the reason. Anything that cannot be a frame (a
 * reserved opcode, a 2^63 length, a control frame over 125 bytes, a bomb) makes the rest of that
 * direction raw with the reason: nothing is made up and nothing waits for bytes that will not come.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Direction } from '../core/types';
import { OP, OP_NAMES, WS_MESSAGES, readWsHeader, unmaskInPlace, writeWsFrame, type WsReadRules } from '../framing/websocket';
import { transformKind } from '../transform/registry';
import type { Transform } from '../transform/types';
import { EncodeError, newCtx, runtime } from '../protocol/runtime';

export { WS_MESSAGES };


/** What differs from session to session in the layer's own messages (replay ignores it): the handshake's nonce, the date, keep-alive payloads. */
export const WS_VOLATILE: readonly [string, string][] = [
  ['http_request', 'headers.sec-websocket-key'],
  // where the client connected: another address when replayed elsewhere
  ['http_request', 'headers.host'],
  ['http_response', 'headers.sec-websocket-accept'],
  ['http_response', 'headers.date'],
  ['ws_ping', 'data'],
  ['ws_pong', 'data'],
];

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_HEAD = 64 * 1024;
/** Bytes a client direction may send before the server's answer is seen (the capture has it later). */
const MAX_EARLY = 1 << 20;
/** A frame found while looking for a boundary is believed up to this size. */
const MAX_SYNC_FRAME = 1 << 20;
const EMPTY = Buffer.alloc(0);

/** The Sec-WebSocket-Accept answering a Sec-WebSocket-Key. */
export function acceptFor(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

export interface DeflateParams {
  takeover: boolean;
  windowBits: number;
}

/** What both directions of one connection share: the upgrade and what it negotiated. */
export class WsHandshake {
  /** http: before the answer; open: 101 seen; refused: another answer; joined: the capture started after the upgrade. */
  state: 'http' | 'open' | 'refused' | 'joined' = 'http';
  key: string | null = null;
  deflate: Record<Direction, DeflateParams> | null = null;
  refused = '';
  /** Directions waiting for the answer. */
  readonly waiting: (() => void)[] = [];

  /** The capture started after the upgrade: a direction waiting for the answer goes on. */
  join(): void {
    this.state = 'joined';
    for (const w of this.waiting.splice(0)) w();
  }

  /** An upgrade request seen (either way it went: received or sent). */
  request(headers: Record<string, string>): void {
    this.key = headers['sec-websocket-key'] ?? null;
  }

  /** The server's answer seen (received or sent). */
  response(status: number, reason: string, headers: Record<string, string>): void {
    if (status === 101) {
      this.state = 'open';
      this.deflate = parseDeflate(headers['sec-websocket-extensions']);
    } else {
      this.state = 'refused';
      this.refused = `the server answered HTTP ${status}${reason ? ` ${reason}` : ''}, not 101 Switching Protocols: no WebSocket on this connection`;
    }
    for (const w of this.waiting.splice(0)) w();
  }
}

/** A fresh Sec-WebSocket-Key (16 random bytes, base64). */
export function newWsKey(): string {
  return randomBytes(16).toString('base64');
}

/** The upgrade request a client sends, as the fields of `http_request`. */
export function upgradeRequest(host: string, path = '/', headers: Record<string, string> = {}): Record<string, unknown> {
  return {
    method: 'GET',
    path,
    version: 'HTTP/1.1',
    headers: {
      host,
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': newWsKey(),
      'sec-websocket-version': '13',
      'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits',
      ...headers,
    },
  };
}

/** A server's answer to an upgrade request (its headers): 101 with the accept, permessage-deflate when offered; else 400. */
export function upgradeAnswer(request: Record<string, string>): Record<string, unknown> {
  const key = request['sec-websocket-key'];
  if (!key || !/websocket/i.test(request.upgrade ?? '')) return { version: 'HTTP/1.1', status: 400, reason: 'Bad Request', headers: { connection: 'close' } };
  const headers: Record<string, string> = { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-accept': acceptFor(key) };
  if (/(^|,)\s*permessage-deflate/.test(request['sec-websocket-extensions'] ?? '')) headers['sec-websocket-extensions'] = 'permessage-deflate';
  return { version: 'HTTP/1.1', status: 101, reason: 'Switching Protocols', headers };
}

/** permessage-deflate as the server accepted it (the first one listed), per direction. */
export function parseDeflate(ext: string | undefined): Record<Direction, DeflateParams> | null {
  if (!ext) return null;
  for (const offer of ext.split(',')) {
    const [name, ...params] = offer.split(';').map((x) => x.trim());
    if (name !== 'permessage-deflate') continue;
    const p = new Map(params.map((x) => {
      const [k, v] = x.split('=').map((y) => y.trim());
      return [k!.toLowerCase(), v?.replace(/^"|"$/g, '')] as const;
    }));
    const bits = (v: string | undefined) => (v && /^\d+$/.test(v) ? Number(v) : 15);
    return {
      c2s: { takeover: !p.has('client_no_context_takeover'), windowBits: bits(p.get('client_max_window_bits')) },
      s2c: { takeover: !p.has('server_no_context_takeover'), windowBits: bits(p.get('server_max_window_bits')) },
    };
  }
  return null;
}

/** An HTTP head: the start line's three parts and the headers (names lower-cased, repeats joined). */
export function parseHttpHead(head: Buffer): { line: [string, string, string]; headers: Record<string, string> } | string {
  const text = head.toString('latin1');
  const lines = text.split('\r\n');
  const m = /^(\S+) (\S+)(?: (.*))?$/.exec(lines[0]!);
  if (!m) return `not an HTTP start line: ${JSON.stringify(lines[0]!.slice(0, 80))}`;
  const headers: Record<string, string> = Object.create(null);
  for (const l of lines.slice(1)) {
    if (!l) continue;
    const i = l.indexOf(':');
    if (i <= 0) return `not an HTTP header line: ${JSON.stringify(l.slice(0, 80))}`;
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
  }
  return { line: [m[1]!, m[2]!, m[3] ?? ''], headers: { ...headers } };
}

export interface WsSink {
  /** One of the layer's own messages (WS_MESSAGES). */
  own(name: string, fields: Record<string, unknown>, wire: Buffer, payload: Buffer, offset: number, ts: number, header: Record<string, unknown>): void;
  /** A data message, whole: `wire` its frames as captured, `payload` what they carry (unmasked, joined, inflated). */
  data(wire: Buffer, payload: Buffer, offset: number, ts: number, header: Record<string, unknown>): void;
  raw(bytes: Buffer, offset: number, ts: number, reason: string): void;
}

interface Fragments {
  opcode: number;
  rsv1: boolean;
  masked: boolean;
  wires: Buffer[];
  payloads: Buffer[];
  size: number;
  offset: number;
  /** Began within a few frames of a boundary found by searching (which may have been a false one). */
  afterSync: boolean;
}

/** One direction of the layer. */
export class WsDirection {
  private chunks: Buffer[] = [];
  private have = 0;
  /** Stream offset of the first byte held. */
  private base = 0;
  /** Bytes to hold before trying again. */
  private need = 1;
  private mode: 'start' | 'http' | 'wait' | 'frames' | 'sync' | 'lost' = 'start';
  private why = '';
  /** Where the boundary search goes on from. */
  private scanFrom = 0;
  private frag: Fragments | null = null;
  /** permessage-deflate of this direction (decode and encode), made when first needed. */
  private deflate: Transform | null = null;
  /** Set when a gap took part of a window shared across messages. */
  private windowLost = '';
  /** A message went out encoded anew while messages share a window: recorded ones cannot follow it as recorded. */
  private diverged = false;
  private closed = false;
  private ts = 0;
  /** Frames read since a boundary was found by searching (a boundary from the start or the upgrade: many). */
  private sinceSync = Infinity;

  constructor(
    readonly dir: Direction,
    readonly shake: WsHandshake,
    private readonly sink: WsSink,
    /** The largest frame and message; what the connection may inflate in all (shared with its other layers). */
    private readonly limits: { frame: number; message: number; budget?: { inflated: number }; connectionInflate?: number },
  ) {}

  // ---- receiving ------------------------------------------------------------------------------

  push(bytes: Buffer, offset: number, ts: number): void {
    if (this.mode === 'lost') return this.sink.raw(bytes, offset, ts, this.why);
    if (!bytes.length) return;
    if (this.have === 0) this.base = offset;
    this.chunks.push(bytes);
    this.have += bytes.length;
    this.ts = ts;
    if (this.have >= this.need) this.run();
  }

  /** The bytes held and not yet in a message (a fragmented message's frames, a frame not whole), taken out; null when not contiguous. */
  takeHeld(): { bytes: Buffer; offset: number } | null {
    const parts: Buffer[] = [];
    let offset = this.base;
    if (this.frag) {
      const f = this.frag;
      const size = f.wires.reduce((n, w) => n + w.length, 0);
      // a control frame came between its fragments: the held bytes are not one run
      if (f.offset + size !== this.base) return null;
      parts.push(...f.wires);
      offset = f.offset;
      this.frag = null;
    }
    if (this.have) parts.push(this.held());
    this.chunks = [];
    this.have = 0;
    return parts.length ? { bytes: Buffer.concat(parts), offset } : null;
  }

  /** `length` bytes lost at `offset`: what was held is raw, and the frame boundaries are looked for again. */
  gap(length: number, offset: number, ts: number): void {
    if (this.mode === 'lost') return;
    const why = `cut by a ${length}-byte gap at stream offset ${offset}`;
    // a gap where the upgrade was: what it negotiated is not known, and the other side must not wait for it
    if (this.shake.state === 'http' && this.dir === 's2c') this.shake.join();
    this.settle();
    this.flushHeld(ts, why);
    if (this.shake.deflate?.[this.dir].takeover) this.windowLost = `permessage-deflate with context takeover: the window was lost in a ${length}-byte gap at stream offset ${offset}`;
    if (this.mode !== 'wait') this.mode = 'sync';
    this.base = offset + length;
  }

  end(ts: number): void {
    if (this.mode === 'lost') return;
    // still looking for a boundary: with no more bytes to come, a frame that would run past the end is not one
    this.settle();
    this.flushHeld(ts, this.mode === 'frames' ? 'the connection ended inside a WebSocket frame' : 'the connection ended here');
  }

  /** No more bytes come before the next ones are lost or the stream ends: decide what is held. */
  private settle(): void {
    for (let guard = 0; this.mode === 'sync' && this.have && guard < 1 << 20; guard++) {
      this.scanFrom = 0;
      this.sync(true);
      if ((this.mode as string) !== 'frames') break;
      this.run();
    }
  }

  private flushHeld(ts: number, why: string): void {
    if (this.frag) {
      const f = this.frag;
      this.frag = null;
      this.sink.raw(Buffer.concat(f.wires), f.offset, ts, `a fragmented message not whole: ${why}`);
    }
    if (this.have) {
      const b = this.held();
      this.sink.raw(b, this.base, ts, why);
      this.consume(b.length);
    }
    this.need = 1;
    this.scanFrom = 0;
  }

  /** Everything held, as one buffer. */
  private held(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.have)];
    return this.chunks[0] ?? EMPTY;
  }

  private consume(n: number): void {
    const b = this.held();
    this.chunks = n < b.length ? [b.subarray(n)] : [];
    this.have -= n;
    this.base += n;
    this.scanFrom = 0;
  }

  /** A frame already taken that makes the rest of the direction raw: it goes first (after a message it interrupted). */
  private loseWith(wire: Buffer, offset: number, why: string): void {
    if (this.frag) {
      const f = this.frag;
      this.frag = null;
      this.sink.raw(Buffer.concat(f.wires), f.offset, this.ts, `a fragmented message not whole: ${why}`);
    }
    this.sink.raw(wire, offset, this.ts, why);
    this.lose(why);
  }

  /** The rest of the direction is raw, with why. */
  private lose(why: string): void {
    this.flushHeld(this.ts, why);
    this.mode = 'lost';
    this.why = why;
  }

  private run(): void {
    for (;;) {
      const before = this.have;
      const mode = this.mode;
      switch (mode) {
        case 'start':
          this.start();
          break;
        case 'http':
          this.http();
          break;
        case 'wait':
          this.waitForAnswer();
          break;
        case 'frames':
          this.frame();
          break;
        case 'sync':
          this.sync();
          break;
        case 'lost':
          return;
      }
      if (this.mode === mode && this.have === before) return;
      if (this.have === 0 && this.mode !== 'start') {
        this.need = 1;
        return;
      }
    }
  }

  private start(): void {
    const b = this.held();
    const looksHttp = this.dir === 'c2s' ? /^[A-Z]{3,10} /.test(b.subarray(0, 11).toString('latin1')) : b.subarray(0, 5).toString('latin1') === 'HTTP/';
    // not enough bytes to tell yet: a method of up to 10 letters and its space, or "HTTP/"
    if (!looksHttp && b.length < (this.dir === 'c2s' ? 11 : 5) && (this.dir === 'c2s' ? /^[A-Z]*$/ : /^H?T?T?P?$/).test(b.toString('latin1'))) {
      this.need = this.have + 1;
      return;
    }
    if (looksHttp) this.mode = 'http';
    else {
      // joined after the upgrade: what it negotiated is not known
      if (this.shake.state === 'http') this.shake.join();
      this.mode = 'sync';
    }
  }

  private http(): void {
    const b = this.held();
    const end = b.indexOf('\r\n\r\n', Math.max(0, this.scanFrom - 3), 'latin1');
    if (end < 0) {
      if (b.length > MAX_HEAD) return this.lose(`an HTTP head of more than ${MAX_HEAD} bytes`);
      this.scanFrom = b.length;
      this.need = this.have + 1;
      return;
    }
    const head = b.subarray(0, end + 4);
    const offset = this.base;
    this.consume(head.length);
    const parsed = parseHttpHead(head.subarray(0, end));
    if (typeof parsed === 'string') {
      this.sink.raw(head, offset, this.ts, parsed);
      return this.lose(`not a WebSocket upgrade: ${parsed}`);
    }
    const [a, b2, c] = parsed.line;
    if (this.dir === 'c2s') {
      this.shake.request(parsed.headers);
      this.sink.own('http_request', { method: a, path: b2, version: c, headers: parsed.headers }, head, head, offset, this.ts, { http: 'request' });
      this.mode = 'wait';
      if (this.shake.state === 'http') {
        this.shake.waiting.push(() => {
          this.need = 1;
          if (this.have) this.run();
        });
      }
      return;
    }
    const status = Number(b2);
    this.shake.response(status, c, parsed.headers);
    this.sink.own('http_response', { version: a, status, reason: c, headers: parsed.headers }, head, head, offset, this.ts, { http: 'response' });
    if (this.shake.state === 'open') this.mode = 'frames';
    else this.lose(this.shake.refused);
  }

  private waitForAnswer(): void {
    if (this.shake.state === 'open' || this.shake.state === 'joined') this.mode = 'frames';
    else if (this.shake.state === 'refused') this.lose(this.shake.refused);
    else if (this.have > MAX_EARLY) this.lose(`more than ${MAX_EARLY} bytes after the upgrade request before the server's answer`);
    else this.need = this.have + 1;
  }

  private rules(sync: boolean): WsReadRules {
    return {
      max: sync ? Math.min(MAX_SYNC_FRAME, this.limits.frame) : this.limits.frame,
      // not knowing what the upgrade negotiated, compressed frames are believed
      rsv1: this.shake.state !== 'open' || this.shake.deflate !== null,
      masked: this.dir === 'c2s',
    };
  }

  private frame(): void {
    const b = this.held();
    const h = readWsHeader(b, 0, b.length, this.rules(false));
    if (h === 'short') {
      this.need = this.have + 1;
      return;
    }
    if (typeof h === 'string') {
      // a boundary found by searching may have been a false one: search on past it
      if (this.sinceSync < 3) {
        if (this.frag) {
          this.sink.raw(Buffer.concat(this.frag.wires), this.frag.offset, this.ts, 'joined mid-stream: frames after a boundary that was not one');
          this.frag = null;
        }
        this.mode = 'sync';
        this.scanFrom = 1;
        return;
      }
      return this.lose(`not a WebSocket frame: ${h}`);
    }
    const size = h.size + h.length;
    if (b.length < size) {
      this.need = size;
      return;
    }
    const wire = b.subarray(0, size);
    const payload = Buffer.from(b.subarray(h.size, size));
    if (h.mask) unmaskInPlace(payload, h.mask);
    const offset = this.base;
    this.consume(size);
    this.need = 1;
    this.sinceSync++;
    if (this.closed) {
      this.sink.raw(wire, offset, this.ts, `a ${OP_NAMES[h.opcode]} frame after this side's close frame`);
      return;
    }
    if (h.opcode >= 8) return this.control(h.opcode, wire, payload, offset);
    if (h.opcode !== OP.continuation) {
      if (this.frag) {
        const why = `a new ${OP_NAMES[h.opcode]} message began before the fragmented ${OP_NAMES[this.frag.opcode]} message ended`;
        if (!this.frag.afterSync) return this.loseWith(wire, offset, why);
        // the fragment began right after a boundary found by searching: that boundary was a false one
        this.sink.raw(Buffer.concat(this.frag.wires), this.frag.offset, this.ts, `joined mid-stream: ${why} (a boundary found by searching that was not one)`);
        this.frag = null;
      }
      const f: Fragments = { opcode: h.opcode, rsv1: h.rsv1, masked: !!h.mask, wires: [wire], payloads: [payload], size: payload.length, offset, afterSync: this.sinceSync <= 3 };
      if (h.fin) return this.message(f);
      this.frag = f;
      return;
    }
    const f = this.frag;
    if (!f) {
      this.sink.raw(wire, offset, this.ts, this.shake.state === 'joined' ? 'a continuation frame of a message that began before the capture' : 'a continuation frame with no message begun');
      return;
    }
    f.wires.push(wire);
    f.payloads.push(payload);
    f.size += payload.length;
    if (f.size > this.limits.message) {
      this.frag = null;
      this.sink.raw(Buffer.concat(f.wires), f.offset, this.ts, `a fragmented message of more than ${this.limits.message} bytes`);
      return this.lose(`a fragmented message of more than ${this.limits.message} bytes`);
    }
    if (h.fin) {
      this.frag = null;
      this.message(f);
    }
  }

  private control(opcode: number, wire: Buffer, payload: Buffer, offset: number): void {
    const name = OP_NAMES[opcode]!;
    if (opcode === OP.close) {
      if (payload.length === 1) {
        this.sink.raw(wire, offset, this.ts, 'a close frame with a 1-byte body (a code takes 2)');
        return;
      }
      this.closed = true;
      const fields = { code: payload.length >= 2 ? payload.readUInt16BE(0) : null, reason: payload.subarray(2).toString('utf8') };
      this.sink.own('ws_close', fields, wire, payload, offset, this.ts, { opcode: name, masked: wire[1]! >= 0x80 });
      return;
    }
    this.sink.own(opcode === OP.ping ? 'ws_ping' : 'ws_pong', { data: payload }, wire, payload, offset, this.ts, { opcode: name, masked: wire[1]! >= 0x80 });
  }

  private message(f: Fragments): void {
    const wire = f.wires.length === 1 ? f.wires[0]! : Buffer.concat(f.wires);
    let payload = f.payloads.length === 1 ? f.payloads[0]! : Buffer.concat(f.payloads, f.size);
    const header = { opcode: OP_NAMES[f.opcode]!, compressed: f.rsv1, fragments: f.wires.length, masked: f.masked };
    if (f.rsv1) {
      if (this.windowLost) {
        this.sink.raw(wire, f.offset, this.ts, this.windowLost);
        return;
      }
      try {
        payload = this.deflater().decode(payload);
        const { budget, connectionInflate } = this.limits;
        if (budget && connectionInflate !== undefined) {
          budget.inflated += payload.length;
          if (budget.inflated > connectionInflate) throw new Error(`this connection has inflated more than its decode budget (${connectionInflate} bytes)`);
        }
      } catch (e) {
        const why = `permessage-deflate: ${(e as Error).message}`;
        if (this.shake.state === 'joined') {
          // compressed against a window from before the capture: later messages may not need it
          this.deflate = null;
          this.sink.raw(wire, f.offset, this.ts, `${why} (the window may hold messages from before the capture started)`);
          return;
        }
        this.sink.raw(wire, f.offset, this.ts, why);
        return this.lose(why);
      }
    }
    this.sink.data(wire, payload, f.offset, this.ts, header);
  }

  /**
   * Looking for a frame boundary (joined after the upgrade, or after a gap): a frame header whose
   * frame is followed by another header. A candidate that cannot be checked yet (its frame or the
   * header after it runs past what is held) holds the search there: a later candidate inside it
   * could be its payload, and believing one would make messages up. So the answer never depends
   * on how the bytes were cut. `final` (the end, or a gap): no more bytes will come, so a frame
   * that runs past them is not a boundary, and one followed by a cut-off header is.
   */
  private sync(final = false): void {
    const b = this.held();
    const rules = this.rules(true);
    for (let i = this.scanFrom; i < b.length; i++) {
      const h = readWsHeader(b, i, b.length, rules);
      if (h === 'short') {
        if (final) continue;
        return this.waitAt(i, this.have + 1);
      }
      // an empty data frame is too weak a sign to believe (00 00 is one), and a control frame
      // too costly to believe wrongly (a made-up close ends the direction): the search starts at data
      if (typeof h === 'string' || h.length === 0 || h.opcode >= 8) continue;
      const end = i + h.size + h.length;
      if (end > b.length) {
        if (final) continue;
        return this.waitAt(i, end + 2);
      }
      const next = end < b.length ? readWsHeader(b, end, b.length, rules) : 'short';
      if (next === 'short') {
        if (!final) return this.waitAt(i, this.have + 1);
      } else if (typeof next === 'string') continue;
      else {
        // and the header after that one too, when there are bytes for it: two chained headers by
        // chance in the middle of a payload are far rarer than one
        const end2 = end + next.size + next.length;
        const third = end2 < b.length ? readWsHeader(b, end2, b.length, rules) : end2 === b.length ? 'short' : 'past';
        if (third === 'past') {
          // the next frame runs past what is held: wait for it; at the end, it is no frame
          if (final) continue;
          return this.waitAt(i, Math.max(end2 + 2, this.have + 1));
        }
        if (third === 'short') {
          // not enough bytes to check it yet: the answer must not depend on where they were cut
          if (!final) return this.waitAt(i, this.have + 1);
        } else if (typeof third === 'string') continue;
      }
      return this.synced(i);
    }
    // nothing yet: show what cannot start a frame, keep a header's worth
    if (b.length > 64 * 1024 || final) {
      const n = final ? b.length : b.length - 14;
      if (n > 0) {
        this.sink.raw(b.subarray(0, n), this.base, this.ts, 'joined mid-stream: no WebSocket frame boundary found in these bytes');
        this.consume(n);
      }
    }
    this.waitAt(Math.max(0, this.have - 14), this.have + 1);
  }

  private waitAt(i: number, need: number): void {
    this.scanFrom = i;
    this.need = Math.max(need, this.have + 1);
  }

  private synced(i: number): void {
    if (i > 0) {
      this.sink.raw(this.held().subarray(0, i), this.base, this.ts, 'joined mid-stream: bytes before the first WebSocket frame boundary found');
      this.consume(i);
    }
    this.mode = 'frames';
    this.need = 1;
    this.sinceSync = 0;
  }

  private deflater(): Transform {
    const d = this.shake.deflate?.[this.dir];
    return (this.deflate ??= transformKind('deflate-sync')!.create({ takeover: d ? d.takeover : true, window_bits: d?.windowBits ?? 15 }, 'frame', { output: this.limits.message }));
  }

  // ---- sending --------------------------------------------------------------------------------

  /** A data message as this side sends it: one frame, masked from the client, compressed when negotiated. */
  encodeData(payload: Buffer, opcode: string = 'binary'): Buffer {
    const op = opcode === 'text' ? OP.text : OP.binary;
    const d = this.shake.deflate?.[this.dir];
    if (d?.takeover) this.diverged = true;
    const body = d ? this.deflater().encode(payload) : payload;
    return writeWsFrame(op, body, { rsv1: !!d, mask: this.dir === 'c2s' });
  }

  /**
   * A recorded data message sent again: its frames as recorded, the window stepped as if encoded
   * here; after a message encoded anew in a shared window, encoded anew too (a recorded one would
   * point into a window the peer does not have).
   */
  resendData(frames: Buffer, payload: Buffer, header: Record<string, unknown>): Buffer {
    const d = this.shake.deflate?.[this.dir];
    if (header.compressed && d?.takeover) {
      if (this.diverged) return this.encodeData(payload, String(header.opcode));
      this.deflater().encode(payload);
    }
    return frames;
  }

  /** One of the layer's own messages, made from its fields. */
  encodeOwn(name: string, fields: Record<string, unknown>): Buffer {
    const mask = this.dir === 'c2s';
    switch (name) {
      case 'ws_ping':
      case 'ws_pong': {
        const data = runtime.toBytes(fields.data ?? '', newCtx({}, false));
        if (data.length > 125) throw new EncodeError(`a ${name} carries at most 125 bytes, not ${data.length}`, `${name}.data`);
        return writeWsFrame(name === 'ws_ping' ? OP.ping : OP.pong, data, { mask });
      }
      case 'ws_close': {
        const reason = Buffer.from(String(fields.reason ?? ''), 'utf8');
        const code = fields.code === null || fields.code === undefined ? null : Number(fields.code);
        if (code !== null && (!Number.isInteger(code) || code < 1000 || code > 4999)) throw new EncodeError(`a close code is 1000 to 4999, not ${String(fields.code)}`, 'ws_close.code');
        if (reason.length > 123) throw new EncodeError(`a close reason takes at most 123 bytes, not ${reason.length}`, 'ws_close.reason');
        this.closed = true;
        return writeWsFrame(OP.close, code === null ? EMPTY : Buffer.concat([Buffer.from([code >> 8, code & 0xff]), reason]), { mask });
      }
      case 'http_request':
      case 'http_response': {
        const headers = { ...((fields.headers as Record<string, string>) ?? {}) };
        const line = name === 'http_request' ? `${fields.method ?? 'GET'} ${fields.path ?? '/'} ${fields.version ?? 'HTTP/1.1'}` : `${fields.version ?? 'HTTP/1.1'} ${fields.status ?? 101} ${fields.reason ?? 'Switching Protocols'}`;
        if (name === 'http_response' && this.shake.key && 'sec-websocket-accept' in headers) headers['sec-websocket-accept'] = acceptFor(this.shake.key);
        const head = Buffer.from(`${line}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`, 'latin1');
        return this.sentHead(head);
      }
    }
    throw new Error(`not a WebSocket layer message: ${name}`);
  }

  /** A recorded message of the layer sent again: as recorded, but a 101 answer accepts the live client's key. */
  resendOwn(wire: Buffer, header: Record<string, unknown>): Buffer {
    if (header.http === undefined) {
      if (header.opcode === 'close') this.closed = true;
      return wire;
    }
    if (header.http === 'response' && this.shake.key) {
      const text = wire.toString('latin1');
      const fixed = text.replace(/(\r\nsec-websocket-accept:[ \t]*)[^\r\n]*/i, (_m, lead: string) => `${lead}${acceptFor(this.shake.key!)}`);
      if (fixed !== text) wire = Buffer.from(fixed, 'latin1');
    }
    return this.sentHead(wire);
  }

  /** An HTTP head this side sends: the handshake learns from it as from one received. */
  private sentHead(head: Buffer): Buffer {
    const end = head.indexOf('\r\n\r\n', 0, 'latin1');
    const parsed = parseHttpHead(end >= 0 ? head.subarray(0, end) : head);
    if (typeof parsed !== 'string') {
      if (this.dir === 'c2s') this.shake.request(parsed.headers);
      else this.shake.response(Number(parsed.line[1]), parsed.line[2], parsed.headers);
    }
    return head;
  }
}
