/**
 * The conversation without I/O: scripted byte chunks (split anywhere, gaps anywhere) in, messages
 * out; and send/resend giving the recorded bytes back.
 */
import fc from 'fast-check';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Conversation, type ConversationMessage } from '../../src/conversation/conversation';
import type { Direction } from '../../src/core/types';
import { compileProtocol, loadProtocol } from '../../src/protocol/protocol';
import { playRecording } from '../../src/recording/player';
import { MessageDecoder, type Message } from '../../src/session/messages';
import { ROOT } from '../helpers/cli';

const layered = loadProtocol(join(__dirname, '../fixtures/protocols/layered/protocol.yaml'));
const testgame = loadProtocol('testgame', ROOT);

interface Sent {
  dir: Direction;
  name: string;
  fields: Record<string, unknown>;
  wire: Buffer;
}

/** A session through a sending conversation (both ends' encoders, one state, as both ends of a game keep it). */
function session(p: typeof layered, steps: [Direction, string, Record<string, unknown>, Record<string, unknown>?][], state: Record<string, unknown> = {}): Sent[] {
  const s = new Conversation(p, 'tcp', () => undefined, { flow: null, state });
  return steps.map(([dir, name, fields, frame]) => ({ dir, name, fields, wire: s.send(dir, name, fields, { frame }) }));
}

/** Runs of one direction (messages in a run may share a chunk; a direction change is a causal boundary). */
function runs(sent: Sent[]): { dir: Direction; bytes: Buffer; messages: Sent[] }[] {
  const out: { dir: Direction; bytes: Buffer; messages: Sent[] }[] = [];
  for (const m of sent) {
    const last = out[out.length - 1];
    if (last && last.dir === m.dir) {
      last.bytes = Buffer.concat([last.bytes, m.wire]);
      last.messages.push(m);
    } else out.push({ dir: m.dir, bytes: m.wire, messages: [m] });
  }
  return out;
}

/** Feed the runs cut at pseudo-random points, optionally losing `gap` bytes at `gapAt` of one run. */
function receive(p: typeof layered, sent: Sent[], cuts: number[], opts: { state?: Record<string, unknown>; gap?: { run: number; at: number; length: number } } = {}): ConversationMessage<null>[] {
  const got: ConversationMessage<null>[] = [];
  const r = new Conversation(p, 'tcp', (m) => got.push(m), { flow: null, state: opts.state });
  const offset = { c2s: 0, s2c: 0 };
  let k = 0;
  runs(sent).forEach((run, ri) => {
    let i = 0;
    while (i < run.bytes.length) {
      const g = opts.gap;
      if (g && g.run === ri && i === g.at) {
        r.gap(run.dir, g.length, offset[run.dir], 0);
        offset[run.dir] += g.length;
        i += g.length;
        continue;
      }
      let n = Math.min(cuts[k++ % cuts.length]!, run.bytes.length - i);
      if (g && g.run === ri && i < g.at && i + n > g.at) n = g.at - i;
      r.received(run.dir, run.bytes.subarray(i, i + n), offset[run.dir], 0);
      offset[run.dir] += n;
      i += n;
    }
  });
  for (const d of ['c2s', 's2c'] as const) r.end(d, 0);
  return got;
}

const LAYERED: [Direction, string, Record<string, unknown>, Record<string, unknown>?][] = [
  ['c2s', 'hello', { text: 'hi there' }],
  ['s2c', 'upgrade', { text: 'to frames' }],
  ['c2s', 'key', { key: Buffer.from('0123456789abcdef', 'hex') }, { flags: { masked: false, deflated: false } }],
  // in the same delivery as the key: already under the cipher
  ['c2s', 'chat', { text: 'plain' }, { flags: { masked: false, deflated: false } }],
  ['c2s', 'chat', { text: 'masked' }, { flags: { masked: true, deflated: false }, mask: Buffer.from([0x5a, 0xa5]) }],
  ['s2c', 'chat', { text: 'deflated '.repeat(5) }, { flags: { masked: false, deflated: true } }],
  ['s2c', 'chat', { text: 'deflated and masked '.repeat(3) }, { flags: { masked: true, deflated: true }, mask: Buffer.from([1, 2]) }],
  ['c2s', 'chat', { text: 'deflated '.repeat(5) }, { flags: { masked: false, deflated: true } }],
  ['s2c', 'chat', { text: 'deflated '.repeat(6) }, { flags: { masked: false, deflated: true } }],
  ['c2s', 'chat', { text: 'last' }, { flags: { masked: true, deflated: false }, mask: Buffer.from([9, 9]) }],
];

describe('a conversation with layers (text handshake, framing by state, a stream cipher, a per-frame mask, deflate with takeover)', () => {
  const sent = session(layered, LAYERED);

  it('the sender encrypts after the key and frames after the upgrade', () => {
    expect(sent[0]!.wire.toString()).toBe('Hhi there\n');
    expect(sent[2]!.wire[0]).toBe(0xbe); // the key message itself is in the clear
    expect(sent[3]!.wire[0]).not.toBe(0xbe); // the next frame is not
  });

  it('cut anywhere, every message decodes with its fields and its exact wire bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 12 }), (cuts) => {
        const got = receive(layered, sent, cuts);
        expect(got.map((m) => m.raw ?? m.error?.message ?? m.name)).toEqual(sent.map((s) => s.name));
        got.forEach((m, i) => {
          expect(m.fields).toEqual(sent[i]!.fields);
          expect(m.wire.equals(sent[i]!.wire)).toBe(true);
          expect(m.size).toBe(sent[i]!.wire.length);
        });
        expect(got.filter((m) => m.compressed).length).toBe(4);
      }),
      { numRuns: 150 },
    );
  });

  it('a gap under the cipher: the frames it cuts are raw; rc4 is in step after it, the magic resynchronises, deflate with takeover says its window is lost', () => {
    // c2s run 3 (the key, the plain and the masked chat); lose bytes inside the masked chat
    const run = runs(sent)[2]!;
    const at = run.messages[0]!.wire.length + run.messages[1]!.wire.length + 3;
    const got = receive(layered, sent, [7, 3, 50], { gap: { run: 2, at, length: 4 } });
    const c2s = got.filter((m) => m.dir === 'c2s');
    expect(c2s.slice(0, 3).map((m) => m.name)).toEqual(['hello', 'key', 'chat']);
    expect(c2s.some((m) => m.raw && /gap/.test(m.raw))).toBe(true);
    // the next c2s frame is deflated: the shared window is gone, and it says so
    const deflated = c2s.find((m) => m.error && /window was lost/.test(m.error.message));
    expect(deflated).toBeDefined();
    // the last one is only masked: rc4 and the framer are back in step
    expect(c2s[c2s.length - 1]).toMatchObject({ name: 'chat', fields: { text: 'last' } });
    // the other direction never noticed
    expect(got.filter((m) => m.dir === 's2c').map((m) => m.name)).toEqual(['upgrade', 'chat', 'chat', 'chat']);
  });
});

const SECURE: [Direction, string, Record<string, unknown>][] = [
  ['c2s', 'hello', { version: 3, features: [1] }],
  ['s2c', 'hello_ack', { server_time: 1n, motd: 'm' }],
  ['c2s', 'login', { name: 'n', password: 'p', client: 'c' }],
  ['s2c', 'login_ok', { player_id: 1, token: Buffer.alloc(16, 7), spawn: { x: 1, y: 2 }, stats: [1, 2, 3] }],
  ['s2c', 'key_request', { public_key: Buffer.alloc(32, 1) }],
  ['c2s', 'key_response', { ephemeral: Buffer.alloc(32, 2), sealed: Buffer.alloc(16, 3) }],
  ['s2c', 'set_compression', { threshold: 16 }],
  ['s2c', 'inventory', { items: { potion: 3, sword: 1 } }],
  ['c2s', 'ack_login', { token: Buffer.alloc(16, 7) }],
  ['c2s', 'chat', { text: 'a chat long enough to be compressed, under the cipher' }],
  ['s2c', 'chat_msg', { from: 1, name: 'n', text: 'a chat long enough to be compressed, under the cipher' }],
  ['c2s', 'bye', { reason: 'quit' }],
];

describe('the test game under AES-128-CFB8', () => {
  const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  const sent = session(testgame, SECURE, { session_key: key });

  it('with the key every message decodes, cut anywhere; without it the encrypted part is raw with the reason', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 8 }), (cuts) => {
        const got = receive(testgame, sent, cuts, { state: { session_key: key } });
        expect(got.map((m) => m.name ?? m.raw)).toEqual(sent.map((s) => s.name));
        got.forEach((m, i) => expect(m.wire.equals(sent[i]!.wire)).toBe(true));
      }),
      { numRuns: 60 },
    );
    const blind = receive(testgame, sent, [5, 9]);
    const first = blind.findIndex((m) => m.raw);
    expect(blind.slice(0, first).map((m) => m.name)).toEqual(['hello', 'hello_ack', 'login', 'login_ok', 'key_request', 'key_response']);
    expect(blind.slice(first).every((m) => m.raw && /encrypted from here \(aes-128-cfb8\) with key session_key.*--keylog/.test(m.raw))).toBe(true);
    // raw, the bytes are as captured: nothing is made up, nothing left out
    expect(Buffer.concat(blind.slice(first).filter((m) => m.dir === 'c2s').map((m) => m.wire)).equals(Buffer.concat(sent.slice(8).filter((s) => s.dir === 'c2s').map((s) => s.wire)))).toBe(true);
  });

  it('a gap inside a frame: CFB8 loses the 16 bytes after it, the framer skips the rest of that frame, and the stream decodes again', () => {
    // c2s run of ack_login, chat: lose 3 bytes inside the long chat
    const r = runs(sent);
    const ri = r.findIndex((x) => x.messages.some((m) => m.name === 'chat'));
    const at = r[ri]!.messages[0]!.wire.length + 4;
    const got = receive(testgame, sent, [11], { state: { session_key: key }, gap: { run: ri, at, length: 3 } });
    const c2s = got.filter((m) => m.dir === 'c2s');
    expect(c2s.slice(0, 4).map((m) => m.name)).toEqual(['hello', 'login', 'key_response', 'ack_login']);
    expect(c2s[4]!.raw).toMatch(/frame of \d+ bytes cut by a 3-byte gap/);
    const resync = c2s.filter((m) => /aes-128-cfb8: bytes after a gap that cannot be decrypted/.test(m.raw ?? ''));
    expect(resync.reduce((n, m) => n + m.size, 0)).toBe(16);
    expect(c2s.slice(5 + resync.length, -1).every((m) => m.raw === 'rest of a frame cut by a gap')).toBe(true);
    // 4 + 3 lost + 16 + the rest of the frame: the frame's bytes, none of them decoded, none made up
    expect(c2s.slice(4, -1).reduce((n, m) => n + m.size, 0) + 3).toBe(sent.find((x) => x.name === 'chat')!.wire.length);
    expect(c2s[c2s.length - 1]).toMatchObject({ name: 'bye', fields: { reason: 'quit' } });
  });
});

describe('send and resend give the recorded bytes', () => {
  it('every message of the sample recordings: resend of its frame, and send of its fields, are its wire bytes', async () => {
    let checked = 0;
    for (const file of ['testgame-solo.gsrec', 'testgame-duo.gsrec', 'chatroom.gsrec', 'echo.gsrec']) {
      const byConn = new Map<string, Message[]>();
      await playRecording(join(ROOT, 'recordings', file), new MessageDecoder(null, { message: () => undefined }));
      const protocol = file.startsWith('testgame') ? testgame : loadProtocol(file.replace('.gsrec', ''), ROOT);
      await playRecording(join(ROOT, 'recordings', file), new MessageDecoder(protocol, {
        message: (m) => {
          const k = `${m.transport} ${m.flow.id}`;
          byConn.set(k, [...(byConn.get(k) ?? []), m]);
        },
      }));
      for (const [k, msgs] of byConn) {
        const kind = k.startsWith('udp') ? 'udp' : 'tcp';
        const again = new Conversation(protocol, kind, () => undefined, { flow: null });
        const fresh = new Conversation(protocol, kind, () => undefined, { flow: null });
        for (const m of msgs) {
          expect(m.raw, `${file} ${k} ${m.index}`).toBeUndefined();
          expect(again.resend(m.dir, m.frame, m.payload, m.header).equals(m.wire), `${file} ${k} resend ${m.label}`).toBe(true);
          if (m.name) {
            const bytes = kind === 'udp' ? fresh.send(m.dir, m.label!, m.fields, { head: m.head, id: m.id, frame: m.header }) : fresh.send(m.dir, m.label!, m.fields, { head: m.head, id: m.id, frame: m.header });
            expect(bytes.equals(m.wire), `${file} ${k} send ${m.label}`).toBe(true);
          }
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(300);
  });
});

describe('inner framing: messages that span frames', () => {
  const p = compileProtocol(
    'protocol: inner\ntcp:\n  framing: { length: u8 }\n  inner: { length: u16 }\n  id: u8\n  messages:\n    m: { id: 1, fields: { data: { type: bytes, until: end } } }\n',
    'inner.yaml',
  );
  it('frames of any size carry a stream of messages; each comes out whole', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 600 }), { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: 5 }), (sizes, frameSizes) => {
        const payloads = sizes.map((n, i) => Buffer.alloc(n, i + 1));
        const inner = Buffer.concat(payloads.map((d) => {
          const b = Buffer.alloc(3);
          b.writeUInt16LE(d.length + 1, 0);
          b[2] = 1;
          return Buffer.concat([b, d]);
        }));
        const outer: Buffer[] = [];
        for (let i = 0, k = 0; i < inner.length; k++) {
          const n = Math.min(frameSizes[k % frameSizes.length]!, inner.length - i);
          outer.push(Buffer.from([n]), inner.subarray(i, i + n));
          i += n;
        }
        const got: ConversationMessage<null>[] = [];
        const c = new Conversation(p, 'tcp', (m) => got.push(m), { flow: null });
        const wire = Buffer.concat(outer);
        for (let i = 0; i < wire.length; i += 7) c.received('c2s', wire.subarray(i, i + 7), i, 0);
        expect(got.map((m) => m.raw ?? m.error?.message ?? (m.fields!.data as Buffer).length)).toEqual(sizes);
        // and a message sent goes out as an outer frame holding one inner frame
        const sent = new Conversation(p, 'tcp', () => undefined, { flow: null }).send('c2s', 'm', { data: Buffer.from('hey') });
        expect(sent.toString('hex')).toBe('06' + '0400' + '01' + Buffer.from('hey').toString('hex'));
      }),
      { numRuns: 100 },
    );
  });
});

describe('udp: frame transforms per datagram', () => {
  const p = compileProtocol(
    'protocol: udpx\nudp:\n  framing: datagram\n  frame:\n    - transform: xor\n      key: "0x5a"\n  id: u8\n  messages:\n    ping: { id: 1, fields: { n: u16 } }\n',
    'udpx.yaml',
  );
  it('each datagram is unmasked on its own; send masks', () => {
    const got: ConversationMessage<null>[] = [];
    const c = new Conversation(p, 'udp', (m) => got.push(m), { flow: null });
    const d = new Conversation(p, 'udp', () => undefined, { flow: null }).send('c2s', 'ping', { n: 258 });
    expect(d.toString('hex')).toBe('5b585b'); // 01, then 258 as u16le, each xor 5a
    c.datagram('c2s', d, 0);
    c.datagram('c2s', d, 0);
    expect(got.map((m) => [m.name, m.fields, m.index, m.size])).toEqual([['ping', { n: 258 }, 0, 3], ['ping', { n: 258 }, 1, 3]]);
  });
});
