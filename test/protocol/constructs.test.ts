import { createCipheriv } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileProtocol, loadProtocol } from '../../src/protocol/protocol';
import { runVectorFile } from '../../src/conversation/vectors';

/** The format's constructs that no shipped protocol uses, each with hand-written vectors run both ways. */
const dir = join(__dirname, '../fixtures/protocols/constructs');
const framedDir = join(__dirname, '../fixtures/protocols/framed');

describe('framing and dispatch constructs (test/fixtures/protocols/framed)', () => {
  const p = loadProtocol(join(framedDir, 'protocol.yaml'));
  for (const r of runVectorFile(p, join(framedDir, 'vectors.yaml'))) {
    it(r.name, () => expect(r.problems).toEqual([]));
  }
});

describe('format constructs (test/fixtures/protocols/constructs)', () => {
  const p = loadProtocol(join(dir, 'protocol.yaml'));
  for (const r of runVectorFile(p, join(dir, 'vectors.yaml'))) {
    it(r.name, () => expect(r.problems).toEqual([]));
  }

  it('encoding refuses an array whose until condition holds too early, or not at the end', () => {
    const t = p.tcp!;
    expect(() => t.encode('metadata', { entries: [{ index: 0xff }], tags: [{ type: 0 }] }, p.newState())).toThrow(/metadata\.entries\[0\]: an element meets the array's until condition before the end/);
    expect(() => t.encode('metadata', { entries: [], tags: [{ type: 1, name: 'x' }] }, p.newState())).toThrow(/the last element must meet the array's until condition/);
  });

  it('bit fields out of range and varints out of range are encode errors naming the field', () => {
    const t = p.tcp!;
    expect(() => t.encode('position', { pos: { x: 2 ** 25, z: 0, y: 0 }, low: { a: 0, b: 0, c: 0 } }, p.newState())).toThrow(/position\.pos: bit field x needs an integer from -33554432 to 33554431/);
    expect(() => t.encode('varints', { a: 2 ** 40, b: 0, c: 0, d: 0, n: [] }, p.newState())).toThrow(/varints\.a: expected a 32-bit integer/);
  });
});

describe('encoding a decoded message again', () => {
  const p = loadProtocol(join(dir, 'protocol.yaml'));
  const t = p.tcp!;
  // a msgpack map16 (de 0001 a1 61 01: msgpackr would write a fixmap), a non-minimal varint (80 00 for 0), padding that is not zeros
  const body = Buffer.from('05 03 616263 0006 de0001a16101 8000 ffee 09'.replace(/ /g, ''), 'hex');
  const decoded = t.decode('c2s', body, p.newState());
  const orig = { name: 'mixed', dir: 'c2s' as const, id: decoded.id, fields: decoded.fields!, body };

  it('unchanged, is the original bytes exactly', () => {
    expect(decoded.error).toBeUndefined();
    expect(t.reencode(orig, structuredClone(decoded.fields!), p.newState()).equals(body)).toBe(true);
    // a fresh encode would not be: it writes minimal forms and zero padding
    expect(t.encode('mixed', decoded.fields, p.newState()).equals(body)).toBe(false);
  });

  it('changed, keeps the bytes of what did not change and recomputes the size of what did', () => {
    const changed = { ...decoded.fields!, text: 'hello', tail: 10 };
    const out = t.reencode(orig, changed, p.newState());
    expect(out.toString('hex')).toBe('0505' + Buffer.from('hello').toString('hex') + '0006de0001a16101' + '8000' + 'ffee' + '0a');
    expect(t.decode('c2s', out, p.newState()).fields).toEqual({ ...changed, n: 5 });
  });

  it('every message of the sample recordings encodes again to its own bytes', async () => {
    const { playRecording } = await import('../../src/recording/player');
    const { MessageDecoder } = await import('../../src/session/messages');
    const tg = loadProtocol('testgame');
    let checked = 0;
    const states = new Map<string, Record<string, unknown>>();
    for (const file of ['testgame-solo.gsrec', 'testgame-duo.gsrec']) {
      await playRecording(join(__dirname, '../../recordings', file), new MessageDecoder(tg, {
        message: (m) => {
          if (!m.name || m.error || m.raw) return;
          const tt = tg.transport(m.transport)!;
          const key = `${file} ${m.flow.id}`;
          const state = states.get(key) ?? tg.newState();
          const again = tt.reencode({ name: m.name, dir: m.dir, id: m.id, head: m.head, fields: m.fields!, body: m.payload }, structuredClone(m.fields!), state);
          expect(again.equals(m.payload), `${file} ${m.name}`).toBe(true);
          // the state moves on as the message says (compression switches on)
          tt.decode(m.dir, m.payload, state);
          states.set(key, state);
          checked++;
        },
      }));
    }
    expect(checked).toBeGreaterThan(200);
  });
});

describe('field transforms (process:): registry transforms on a sized field, keys from the fields before it', () => {
  const text = `protocol: fieldx
state: { k: "" }
tcp:
  framing: { length: u16 }
  id: u8
  messages:
    login:
      id: 1
      fields:
        iv: { type: bytes, length: 16 }
        secret:
          type: string
          prefix: u8
          process: { transform: aes-cbc, key: "0x000102030405060708090a0b0c0d0e0f", iv: iv }
    packed:
      id: 2
      fields:
        key: { type: bytes, length: 2 }
        body:
          fields: { a: u16, b: { type: string, prefix: u8 } }
          prefix: u16
          process: [{ transform: xor, key: key }, { transform: zlib }]
    keyed:
      id: 3
      fields:
        data: { type: bytes, prefix: u8, process: { transform: aes-ctr, key: k, iv: "0x00000000000000000000000000000000" } }
`;
  const p = compileProtocol(text, 'fieldx.yaml');
  const t = p.tcp!;
  const iv = Buffer.alloc(16, 0x11);
  const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');

  it('aes-cbc with the IV from an earlier field: the bytes are what OpenSSL gives, and decode back', () => {
    const body = t.encode('login', { iv, secret: 'hunter2' }, p.newState());
    const c = createCipheriv('aes-128-cbc', key, iv);
    const want = Buffer.concat([c.update('hunter2'), c.final()]);
    expect(body.equals(Buffer.concat([Buffer.from([1]), iv, Buffer.from([want.length]), want]))).toBe(true);
    expect(t.decode('c2s', body, p.newState()).fields).toEqual({ iv, secret: 'hunter2' });
  });

  it('xor with a key from the message, then zlib: decode undoes them in order, encode in reverse', () => {
    const fields = { key: Buffer.from([0x5a, 0xa5]), body: { a: 513, b: 'hello hello hello' } };
    const body = t.encode('packed', fields, p.newState());
    expect(t.decode('c2s', body, p.newState()).fields).toEqual(fields);
  });

  it('a key from the state that is not there: the message fails with the reason, at the field', () => {
    const good = t.encode('keyed', { data: Buffer.from('abc') }, { k: Buffer.alloc(16, 3) });
    expect(t.decode('c2s', good, { k: Buffer.alloc(16, 3) }).fields).toEqual({ data: Buffer.from('abc') });
    const d = t.decode('c2s', good, p.newState());
    expect(d.error).toMatchObject({ path: 'keyed.data' });
    expect(d.error!.message).toMatch(/aes-ctr: key must be bytes/);
  });

  it('a transform that does not work on fields, or an unknown one: file:line:col', () => {
    expect(() => compileProtocol(text.replace('transform: aes-ctr', 'transform: rc4'), 'bad.yaml')).toThrow(/bad\.yaml:\d+:\d+: rc4 cannot be used on a field/);
    expect(() => compileProtocol(text.replace('transform: zlib', 'transform: lz4'), 'bad.yaml')).toThrow(/bad\.yaml:\d+:\d+: unknown transform 'lz4'/);
  });
});

describe('messages of one shape share one decoder', () => {
  // a, b and f have one shape; c, d and e each differ from it in one thing (type, set:, a name)
  const text = `protocol: shapes
tcp:
  framing: { length: u8 }
  id: u8
  messages:
    a: { id: 1, fields: { x: u8 } }
    b: { id: 2, fields: { x: u8 } }
    c: { id: 3, fields: { x: u16be } }
    d: { id: 4, fields: { x: u8 }, set: { last: x } }
    e: { id: 5, fields: { y: u8 } }
    f: { id: 6, fields: { x: u8 } }
`;
  const p = compileProtocol(text, 'shapes.yaml');

  it('one function for a, b and f; its own for each of c, d and e', () => {
    const fast = p.source.fast;
    expect(fast.match(/^function M\d+\(/gm)).toHaveLength(4);
    expect(fast).toMatch(/^const M1 = M0;$/m);
    expect(fast).toMatch(/^const M5 = M0;$/m);
  });

  it('each id still decodes as its own message, both ways, and the route calls the shared decoder once', () => {
    const t = p.tcp!;
    for (const [name, fields, hex] of [
      ['a', { x: 7 }, '0107'],
      ['b', { x: 8 }, '0208'],
      ['c', { x: 0x102 }, '030102'],
      ['d', { x: 9 }, '0409'],
      ['e', { y: 10 }, '050a'],
      ['f', { x: 11 }, '060b'],
    ] as const) {
      const st = p.newState();
      const d = t.decode('c2s', Buffer.from(hex, 'hex'), st);
      expect({ name: d.name, id: d.id, fields: d.fields, error: d.error }).toEqual({ name, id: Number.parseInt(hex.slice(0, 2), 16), fields, error: undefined });
      if (name === 'd') expect(st.last).toBe(9);
      else expect(st.last).toBeUndefined();
      expect(t.encode(name, fields, p.newState()).toString('hex')).toBe(hex);
    }
    const route = String((t as unknown as { c2sRoute: unknown }).c2sRoute);
    expect(route.match(/return M0\(b, c\)/g)).toHaveLength(1);
  });
});
