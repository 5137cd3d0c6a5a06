import fc from 'fast-check';
import { createCipheriv } from 'node:crypto';
import { deflateRawSync, deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { argsProblem, transformKind, transformNames, TransformError, type Place, type TransformArgs } from '../../src/transform/registry';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const LIMITS = { output: 1 << 20 };
const make = (name: string, args: TransformArgs, place: Place = 'stream') => {
  const k = transformKind(name)!;
  expect(argsProblem(k, args)).toBeNull();
  return k.create(args, place, LIMITS);
};
/** Decode `wire` cut at `cuts`, with `gap` bytes lost at offset `gapAt` (not given to decode). */
function decodeCut(t: ReturnType<typeof make>, wire: Buffer, cuts: number[]): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts, wire.length]) {
    out.push(t.decode(wire.subarray(at, Math.max(at, c))));
    at = Math.max(at, c);
  }
  return Buffer.concat(out);
}

describe('the transform registry', () => {
  it('lists the transforms a description can name', () => {
    expect(transformNames()).toEqual(['aes-128-cfb8', 'aes-cbc', 'aes-ctr', 'compression', 'deflate', 'deflate-sync', 'rc4', 'xor', 'zlib']);
  });

  it('says what is wrong with arguments (a key of the wrong size, a missing key, not bytes)', () => {
    expect(argsProblem(transformKind('aes-128-cfb8')!, { key: Buffer.alloc(15), iv: Buffer.alloc(16) })).toMatch(/key must be 16 bytes, found 15/);
    expect(argsProblem(transformKind('aes-ctr')!, { iv: Buffer.alloc(16) })).toMatch(/aes-ctr needs key/);
    expect(argsProblem(transformKind('xor')!, { key: 'secret' })).toMatch(/key must be bytes, found "secret"/);
    expect(argsProblem(transformKind('compression')!, { algorithm: 'lz4' })).toMatch(/algorithm must be zlib or deflate/);
  });
});

describe('ciphers, against published vectors', () => {
  it('rc4: RFC 6229 (key 0102030405), and drop skips keystream', () => {
    const ks = make('rc4', { key: hex('0102030405') }).decode(Buffer.alloc(16));
    expect(ks.toString('hex')).toBe('b2396305f03dc027ccc3524a0a1118a8');
    // RFC 6229, offset 16; and drop is the same as reading past that much keystream
    expect(make('rc4', { key: hex('0102030405'), drop: 16 }).decode(Buffer.alloc(16)).toString('hex')).toBe('6982944f18fc82d589c403a47a0d0919');
    const long = make('rc4', { key: hex('0102030405') }).decode(Buffer.alloc(70_016));
    expect(make('rc4', { key: hex('0102030405'), drop: 70_000 }).decode(Buffer.alloc(16)).equals(long.subarray(70_000))).toBe(true);
  });

  it('aes-128-cfb8: NIST SP 800-38A F.3.7', () => {
    const t = make('aes-128-cfb8', { key: hex('2b7e151628aed2a6abf7158809cf4f3c'), iv: hex('000102030405060708090a0b0c0d0e0f') });
    const ct = hex('3b79424c9c0dd436bace9e0ed4586a4f32b9');
    expect(decodeCut(t, ct, [3, 7]).toString('hex')).toBe('6bc1bee22e409f96e93d7e117393172aae2d');
    expect(make('aes-128-cfb8', { key: hex('2b7e151628aed2a6abf7158809cf4f3c'), iv: hex('000102030405060708090a0b0c0d0e0f') }).encode(hex('6bc1bee22e409f96e93d7e117393172aae2d')).equals(ct)).toBe(true);
  });

  it('aes-ctr: NIST SP 800-38A F.5.1', () => {
    const t = make('aes-ctr', { key: hex('2b7e151628aed2a6abf7158809cf4f3c'), iv: hex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff') });
    expect(decodeCut(t, hex('874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff'), [5]).toString('hex')).toBe('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51');
  });

  it('aes-cbc: NIST SP 800-38A F.2.1 without padding; PKCS#7 round trip; a wrong key is a reason, not garbage', () => {
    const key = hex('2b7e151628aed2a6abf7158809cf4f3c');
    const iv = hex('000102030405060708090a0b0c0d0e0f');
    expect(make('aes-cbc', { key, iv, padding: false }, 'frame').decode(hex('7649abac8119b246cee98e9b12e9197d')).toString('hex')).toBe('6bc1bee22e409f96e93d7e117393172a');
    const t = make('aes-cbc', { key, iv }, 'frame');
    const c = t.encode(Buffer.from('hello, frame'));
    expect(c.length).toBe(16);
    expect(t.decode(c).toString()).toBe('hello, frame');
    expect(() => make('aes-cbc', { key: Buffer.alloc(16, 9), iv }, 'frame').decode(c)).toThrow(TransformError);
    expect(() => t.decode(Buffer.alloc(15))).toThrow(/not a whole number of 16-byte blocks/);
  });
});

describe('gaps: a stream cipher says what a gap costs', () => {
  const key = Buffer.alloc(16, 7);
  const iv = Buffer.alloc(16, 3);
  const plain = Buffer.from(Array.from({ length: 300 }, (_, i) => `line ${i}\n`).join(''));
  const cases: [string, TransformArgs, number][] = [
    ['aes-128-cfb8', { key, iv }, 16],
    ['aes-ctr', { key, iv }, 0],
    ['rc4', { key }, 0],
    ['xor', { key: Buffer.from([1, 2, 3]) }, 0],
  ];
  for (const [name, args, lost] of cases) {
    it(`${name}: ${lost ? `the ${lost} bytes after a gap are lost, then in step` : 'in step right after a gap'} (any gap, any cut)`, () => {
      const wire = make(name, args).encode(plain);
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 97 }), (gapAt, gapLen, step) => {
          const at = gapAt % (plain.length - 40);
          const len = Math.min(gapLen, plain.length - at - 20);
          const t = make(name, args);
          const before = decodeCut(t, wire.subarray(0, at), [step]);
          expect(before.equals(plain.subarray(0, at))).toBe(true);
          expect(t.gap(len)).toBe(lost);
          const after = decodeCut(t, wire.subarray(at + len), [step, step * 2]);
          expect(after.subarray(lost).equals(plain.subarray(at + len + lost))).toBe(true);
        }),
        { numRuns: 60 },
      );
    });
  }

  it('a compressed stream cannot go on after a gap; a frame cipher loses its place', () => {
    expect(make('zlib', {}).gap(10)).toMatch(/cannot go on after lost bytes/);
    expect(make('rc4', { key }, 'frame').gap(10)).toMatch(/keystream position was lost/);
  });
});

describe('compression', () => {
  it('zlib and deflate: frames on their own; a stream, cut anywhere, inflates the same', () => {
    const text = Buffer.from('state update '.repeat(200));
    expect(make('zlib', {}, 'frame').decode(deflateSync(text)).equals(text)).toBe(true);
    expect(make('deflate', {}, 'field').decode(deflateRawSync(text)).equals(text)).toBe(true);
    const enc = make('zlib', {});
    const wire = Buffer.concat([enc.encode(text.subarray(0, 1000)), enc.encode(text.subarray(1000))]);
    for (const cut of [1, 2, 50, wire.length - 1]) expect(decodeCut(make('zlib', {}), wire, [cut]).equals(text)).toBe(true);
  });

  it('past the output budget: an error that says so', () => {
    const bomb = deflateSync(Buffer.alloc(4 << 20));
    expect(() => make('zlib', {}, 'frame').decode(bomb)).toThrow(/inflates past the 1 MiB decode budget/);
    expect(() => make('zlib', {}).decode(bomb)).toThrow(/inflates past the 1 MiB decode budget/);
  });

  it('deflate-sync: RFC 7692 7.2.3.2 "Hello" twice with context takeover, and without', () => {
    const t = make('deflate-sync', {}, 'frame');
    expect(t.decode(hex('f248cdc9c90700')).toString()).toBe('Hello');
    expect(t.decode(hex('f2001100')).toString()).toBe('Hello');
    const fresh = make('deflate-sync', { takeover: false }, 'frame');
    expect(fresh.decode(hex('f248cdc9c90700')).toString()).toBe('Hello');
    expect(fresh.decode(hex('f248cdc9c90700')).toString()).toBe('Hello');
    // encode then decode, both ways, many messages sharing the window
    const e = make('deflate-sync', {}, 'frame');
    const d = make('deflate-sync', {}, 'frame');
    for (let i = 0; i < 20; i++) {
      const msg = Buffer.from(`{"tick":${i},"players":["ann","bob"]}`);
      const c = e.encode(msg);
      expect(c.subarray(-4).equals(hex('0000ffff'))).toBe(false);
      expect(d.decode(c).equals(msg)).toBe(true);
    }
    expect(d.gap(1)).toMatch(/window was lost/);
  });

  it('compression: the size prefix (0: not compressed), the threshold, and a size that does not match', () => {
    const len = { k: 'varint', zigzag: false } as const;
    const t = make('compression', { algorithm: 'zlib', length: len, threshold: 64 }, 'frame');
    const small = Buffer.from('tiny');
    const big = Buffer.alloc(300, 0x41);
    expect(t.encode(small).equals(Buffer.concat([Buffer.from([0]), small]))).toBe(true);
    const c = t.encode(big);
    expect(c.subarray(0, 2).equals(Buffer.from([0xac, 0x02]))).toBe(true);
    expect(t.decode(c).equals(big)).toBe(true);
    expect(t.inflated).toBe(true);
    expect(t.decode(t.encode(small)).equals(small)).toBe(true);
    expect(t.inflated).toBe(false);
    expect(() => t.decode(Buffer.concat([Buffer.from([5]), deflateSync(big)]))).toThrow(/decompressed to 300 bytes, header says 5/);
  });
});

describe('xor', () => {
  it('on a stream the key runs on; on a frame it starts again', () => {
    const key = Buffer.from([0xff, 0x00]);
    const s = make('xor', { key });
    expect(Buffer.concat([s.decode(Buffer.from([1])), s.decode(Buffer.from([1, 1]))]).toString('hex')).toBe('fe01fe');
    const f = make('xor', { key }, 'frame');
    expect(Buffer.concat([f.decode(Buffer.from([1])), f.decode(Buffer.from([1, 1]))]).toString('hex')).toBe('fefe01');
  });

  it('matches a cipher built by hand (sanity of the test helpers)', () => {
    const c = createCipheriv('aes-128-ctr', Buffer.alloc(16, 1), Buffer.alloc(16, 2));
    expect(make('aes-ctr', { key: Buffer.alloc(16, 1), iv: Buffer.alloc(16, 2) }).decode(c.update(Buffer.from('abc'))).toString()).toBe('abc');
  });
});
