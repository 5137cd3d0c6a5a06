import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HEX_WASM, hexByLoop, hexByWasm, LineBlock, WASM_HEX_FROM } from '../../src/core/line-block';

/** A block of `size` bytes whose sink records each chunk, and a copy of it as it was when handed on. */
function recorded(size: number, flushAt = size) {
  const chunks: Buffer[] = [];
  const copies: Buffer[] = [];
  const B = new LineBlock(
    (c) => {
      chunks.push(c);
      copies.push(Buffer.from(c));
    },
    flushAt,
    size,
  );
  return { B, chunks, copies, all: () => Buffer.concat(chunks).toString('utf8') };
}

describe('LineBlock', () => {
  it('writes integers as String does', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: -2147483647, max: 2147483647 }), fc.constantFrom(0, -0, 9, 10, 99, 100, -1, -10, 2147483647, -2147483647, 1073741824)), (n) => {
        const { B } = recorded(4);
        B.int32(n);
        expect(B.buf.toString('latin1', 0, B.pos)).toBe(String(n));
      }),
      { numRuns: 5000 },
    );
  });

  it('writes six-digit fractions without their trailing zeros', () => {
    for (const [n, s] of [
      [1, '000001'],
      [10, '00001'],
      [100000, '1'],
      [120000, '12'],
      [999999, '999999'],
      [39, '000039'],
    ] as const) {
      const { B } = recorded(4);
      B.micros(n);
      expect(B.buf.toString('latin1', 0, B.pos)).toBe(s);
    }
  });

  it('writes hex as Buffer#toString does, at any offset and length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.nat(5), (bytes, lead) => {
        const { B } = recorded(8);
        B.text('x'.repeat(lead));
        B.hex(bytes, bytes.length);
        expect(B.buf.toString('latin1', lead, B.pos)).toBe(Buffer.from(bytes).toString('hex'));
        const { B: C } = recorded(8);
        C.hex(bytes, bytes.length >> 1);
        expect(C.buf.toString('latin1', 0, C.pos)).toBe(Buffer.from(bytes).subarray(0, bytes.length >> 1).toString('hex'));
      }),
      { numRuns: 2000 },
    );
  });

  it('writes long hex (the WebAssembly path) as Buffer#toString does, whole and in chunks, at any offset', () => {
    expect(hexByWasm).not.toBeNull();
    const src = Buffer.from(Array.from({ length: 40000 }, (_, i) => (i * 7919 + (i >> 8)) & 0xff));
    const lengths = [WASM_HEX_FROM - 1, WASM_HEX_FROM, WASM_HEX_FROM + 1, 255, 16383, 16384, 16385, 32768, 32769, 40000];
    for (const n of lengths)
      for (const from of [0, 1, 15]) {
        const bytes = src.subarray(from, Math.min(src.length, from + n));
        const { B } = recorded(8);
        B.text('xyz');
        B.hex(bytes, bytes.length);
        expect(B.buf.toString('latin1', 3, B.pos), `${n} from ${from}`).toBe(bytes.toString('hex'));
      }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: WASM_HEX_FROM, maxLength: 3000 }), fc.nat(7), fc.nat(2000), (bytes, lead, cut) => {
        const n = Math.max(0, bytes.length - cut);
        const want = Buffer.from(bytes).subarray(0, n).toString('hex');
        for (const hex of [hexByWasm!, (out: Buffer, p: number, b: Uint8Array, k: number) => hexByLoop(new DataView(out.buffer, out.byteOffset, out.length), p, b, k)]) {
          const out = Buffer.alloc(lead + 2 * n + 1, 0x21);
          expect(hex(out, lead, bytes, n)).toBe(lead + 2 * n);
          expect(out.toString('latin1', lead, lead + 2 * n)).toBe(want);
          // nothing written before or after
          expect(out.subarray(0, lead).every((x) => x === 0x21) && out[lead + 2 * n] === 0x21).toBe(true);
        }
      }),
      { numRuns: 300, seed: 18 },
    );
  });

  it("the WebAssembly module's bytes are the text in line-block.ts, assembled", async () => {
    const source = readFileSync(join(__dirname, '../../src/core/line-block.ts'), 'utf8');
    const comment = /\/\*\n \* Hex of longer byte strings[\s\S]*?\n \*\/\n/.exec(source)![0];
    const wat = comment
      .split('\n')
      .map((l) => l.replace(/^ \* ?/, ''))
      .filter((_, i, all) => i >= all.findIndex((l) => l.startsWith('(module')) && i <= all.findLastIndex((l) => l === ')'))
      .join('\n');
    expect(wat.startsWith('(module')).toBe(true);
    const wabt = await (await import('wabt')).default();
    const mod = wabt.parseWat('hex.wat', wat, { simd: true });
    const { buffer } = mod.toBinary({});
    mod.destroy();
    expect(Buffer.from(buffer).toString('base64')).toBe(HEX_WASM);
  });

  it('writes text as UTF-8, short and long, ASCII or not', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 100 }), { maxLength: 6 }), (lines) => {
        const { B, all } = recorded(16);
        for (const l of lines) {
          B.text(l);
          B.endLine();
        }
        B.flush();
        expect(all()).toBe(Buffer.from(lines.map((l) => `${l}\n`).join('')).toString('utf8'));
      }),
      { numRuns: 1000 },
    );
  });

  it('hands on whole lines only, and never writes again into what it handed on', () => {
    const { B, chunks, copies, all } = recorded(16);
    const want: string[] = [];
    for (let i = 0; i < 50; i++) {
      const line = `${i}:${'ab'.repeat(i % 13)}`;
      B.text(`${i}:`);
      const at = B.mark();
      B.text('thrown away, and long enough to move the line to another block');
      B.cut(at);
      B.text('ab'.repeat(i % 13));
      B.endLine();
      want.push(line);
    }
    B.flush();
    expect(all()).toBe(want.map((l) => `${l}\n`).join(''));
    expect(chunks.length).toBeGreaterThan(10);
    chunks.forEach((c, i) => {
      expect(c.equals(copies[i])).toBe(true);
      expect(c[c.length - 1]).toBe(10);
    });
  });

  it('gives the memory back only to a sink done with it, and every line still comes out whole', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ maxLength: 40 }), fc.nat(40)), { minLength: 1, maxLength: 60 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 4, max: 64 }),
        fc.constantFrom(0, 32, 65536),
        (lines, done, size, flushAt) => {
          // each chunk as it was when handed on; the chunks kept (sink not done) must stay as they were
          const seen: string[] = [];
          const kept: { chunk: Buffer; copy: Buffer }[] = [];
          let calls = 0;
          const B = new LineBlock(
            (c) => {
              seen.push(c.toString('utf8'));
              const free = done[calls++ % done.length]!;
              if (!free) kept.push({ chunk: c, copy: Buffer.from(c) });
              return free;
            },
            flushAt,
            size,
          );
          for (const [text, thrown] of lines) {
            B.text(text);
            const at = B.mark();
            B.text('x'.repeat(thrown));
            B.cut(at);
            B.endLine();
          }
          B.flush();
          expect(seen.join('')).toBe(lines.map(([t]) => `${t}\n`).join(''));
          for (const k of kept) expect(k.chunk.equals(k.copy)).toBe(true);
        },
      ),
      { numRuns: 400, seed: 18 },
    );
  });

  it('a sink done with each chunk gets the same block back, flushed line by line or when full', () => {
    for (const flushAt of [0, 65536]) {
      const starts = new Set<string>();
      const out: string[] = [];
      // small blocks come from Buffer's shared pool: a block is where its chunks start in it
      const B = new LineBlock(
        (c) => {
          starts.add(`${c.byteOffset}`);
          out.push(c.toString());
          return true;
        },
        flushAt,
        64,
      );
      for (let i = 0; i < 100; i++) {
        B.text(`line ${i}`);
        B.endLine();
      }
      B.flush();
      expect(out.join('')).toBe(Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join(''));
      expect([...starts]).toHaveLength(1);
    }
  });

  it('a block grown for one huge line is let go of, not kept for the lines after it', () => {
    for (const flushAt of [0, 4096]) {
      const sizes: number[] = [];
      const B = new LineBlock(
        (c) => {
          sizes.push(c.buffer.byteLength);
          return true;
        },
        flushAt,
        4096,
      );
      B.text('a'.repeat(10000));
      B.endLine();
      for (let i = 0; i < 400; i++) {
        B.text(`line ${i}`);
        B.endLine();
      }
      B.flush();
      expect(Math.max(...sizes)).toBeGreaterThan(10000);
      expect(sizes.at(-1)).toBe(4096);
    }
  });

  it('with flushAt 0, hands on every line as it ends', () => {
    const { B, chunks } = recorded(65536, 0);
    B.text('one');
    B.endLine();
    expect(chunks.map(String)).toEqual(['one\n']);
    B.text('two');
    B.flush(); // a line begun is not handed on
    expect(chunks.length).toBe(1);
    B.endLine();
    expect(chunks.map(String)).toEqual(['one\n', 'two\n']);
  });
});
