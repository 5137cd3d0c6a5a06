import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/bench/infer-eval';
import { Rng } from '../../src/core/rng';
import { inferDispatch } from '../../src/infer/dispatch';
import { inferFields } from '../../src/infer/fields';
import { cutFrames, inferFraming } from '../../src/infer/framing';
import { gs } from '../helpers/cli';
import { corpusFile, noCorpus } from '../helpers/corpus';
import { existsSync } from 'node:fs';

const frame16 = (body: Buffer): Buffer => Buffer.concat([Buffer.from([body.length & 0xff, body.length >> 8]), body]);

describe('infer: framing', () => {
  it('a u16le length chains through every stream; a stream of random bytes has no framing, with the reason', () => {
    const r = new Rng(7);
    const streams = [1, 2, 3].map((k) => ({ bytes: Buffer.concat(Array.from({ length: 40 }, () => frame16(r.bytes(r.int(1, 60))))), cut: false, label: `#${k} c2s` }));
    const got = inferFraming(streams);
    expect(got.best?.framing).toEqual({ k: 'length', kind: 'u16le', offset: 0, includes: false, adjust: 0 });
    expect(got.best!.confidence).toBeGreaterThan(0.9);
    expect(got.best!.evidence[0]).toMatch(/chains exactly through all 3 streams \(120 frames/);
    expect(cutFrames(streams[0]!, got.best!.framing).frames.length).toBe(40);
    const noise = inferFraming([{ bytes: r.bytes(5000), cut: false, label: '#1 c2s' }]);
    expect(noise.best).toBeNull();
    expect(noise.why.join('\n')).toMatch(/look random/);
  });

  it('a length that stops fitting is a candidate state change, with the entropy before and after', () => {
    const r = new Rng(3);
    const framed = Buffer.concat(Array.from({ length: 30 }, (_, i) => frame16(Buffer.from(`message number ${i} with some text`))));
    const got = inferFraming([{ bytes: Buffer.concat([framed, r.bytes(3000)]), cut: false, label: '#1 s2c' }]);
    expect(got.best).toBeNull();
    expect(got.breaks[0]).toMatchObject({ label: '#1 s2c', at: framed.length, frames: 30 });
    expect(got.breaks[0]!.entropyAfter).toBeGreaterThan(7);
  });

  it('text lines: a delimiter', () => {
    const lines = Buffer.from(Array.from({ length: 20 }, (_, i) => `SAY hello there ${i}\r\n`).join(''));
    expect(inferFraming([{ bytes: lines, cut: false, label: '#1 c2s' }]).best?.framing).toEqual({ k: 'delimiter', delimiter: '\r\n' });
  });
});

describe('infer: dispatch and fields', () => {
  it('the id byte after a head, and fields: a prefixed string, floats, a counter', () => {
    const r = new Rng(11);
    const bodies: Buffer[] = [];
    const samples: { body: Buffer; ts: number }[] = [];
    for (let i = 0; i < 200; i++) {
      const kind = r.pick([1, 2, 3]);
      const head = Buffer.from([r.int(0, 1)]);
      let rest: Buffer;
      if (kind === 1) {
        const name = r.pick(['alice', 'bob', 'carol the brave']);
        const f = Buffer.alloc(12);
        f.writeFloatLE(r.int(-400, 400) / 4, 0);
        f.writeFloatLE(r.int(1, 100) / 2, 4);
        f.writeFloatLE(r.int(-400, 400) / 4, 8);
        const seq = Buffer.alloc(4);
        seq.writeUInt32LE(1000 + samples.length, 0);
        rest = Buffer.concat([Buffer.from([name.length]), Buffer.from(name), f, seq]);
        samples.push({ body: rest, ts: i });
      } else rest = kind === 2 ? r.bytes(4) : Buffer.from([r.int(0, 3)]);
      bodies.push(Buffer.concat([head, Buffer.from([kind]), rest]));
    }
    const d = inferDispatch(bodies);
    expect(d.best).toMatchObject({ at: 1, kind: 'u8' });
    expect([...d.best!.values.keys()].sort()).toEqual([1, 2, 3]);
    const fields = inferFields(samples, { endian: 'le', from: 0, to: 0 });
    expect(fields.map((f) => [f.name, f.kind, f.spec])).toEqual([
      ['text', 'string', { type: 'string', prefix: 'u8' }],
      ['x', 'float', 'f32le'],
      ['y', 'float', 'f32le'],
      ['z', 'float', 'f32le'],
      ['seq', 'counter', 'u32le'],
    ]);
  });

  it('generated descriptions: framing and the id come back (a fixed set of seeds; npm run infer-eval for the full figures)', () => {
    const r = evaluate(25, 100);
    expect(r.framingExact, r.misses.join('\n')).toBeGreaterThanOrEqual(24);
    expect(r.idExact, r.misses.join('\n')).toBeGreaterThanOrEqual(22);
    expect(r.draftsClean, r.misses.join("\n")).toBe(25);
    // every vector a draft wrote passes, and every message has one
    expect(r.vectorsFailing).toBe(0);
    expect(r.vectors).toBe(r.messages);
  });
});

describe('gamesniff infer', () => {
  it('drafts a description from a recording that check accepts, whose vectors pass, and that decodes the input with 0 errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gs-infer-'));
    const r = gs(['infer', '-r', 'recordings/testgame-solo.gsrec', '-o', dir, '--name', 'solo']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^tcp port 24000: framing length u16le$/m);
    expect(r.stdout).toMatch(/the draft decodes the input: (\d+) messages, \1 named, 0 errors, 0 raw/);
    expect(r.stderr).toMatch(/next: gamesniff new solo --from-infer/);
    const yaml = readFileSync(join(dir, 'protocol.yaml'), 'utf8');
    expect(yaml).toMatch(/^protocol: solo$/m);
    expect(yaml).toMatch(/framing: \{ length: u16le \} +# confidence/);
    expect(readFileSync(join(dir, 'report.txt'), 'utf8')).toContain('the draft decodes the input');
    const check = gs(['check', join(dir, 'protocol.yaml')]);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/(\d+) of \1 vectors pass/);
    const decode = gs(['decode', '-p', join(dir, 'protocol.yaml'), '-r', 'recordings/testgame-solo.gsrec']);
    expect(decode.code, decode.stderr).toBe(0);
  });

  it('--json is one object with the framing, the id and the messages; no traffic is exit 2', () => {
    const r = gs(['infer', '-r', 'recordings/echo.gsrec', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { transports: { transport: string; directions: { dir: string; framing: unknown }[] }[]; draft: { check: { errors: number } } };
    expect(j.transports[0]!.transport).toBe('tcp');
    expect(j.transports[0]!.directions.map((d) => d.dir)).toEqual(['c2s', 's2c']);
    expect(j.draft.check.errors).toBe(0);
    const none = gs(['infer', '-r', 'recordings/echo.gsrec', '--port', '9']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no TCP or UDP payload on port 9 to infer from/);
    expect(none.stderr).not.toMatch(/internal error|at /);
  });
});

describe('gamesniff infer on third-party captures', () => {
  const cases: [string, RegExp][] = [
    // Modbus/TCP: a u16be length at offset 4 (here always after a zero protocol id, so u32be at 2 cuts the same frames)
    ['ndpi__modbus.pcap', /^tcp port 502: framing length (u16be at offset 4|u32be at offset 2)$/m],
    // MySQL: a u24le length, then a sequence byte
    ['pcapplusplus__mysql.pcapng', /^tcp port 3306: framing length u24le, adjust \+1$/m],
    // TLS records: type, version, then a u16be length
    ['ndpi__roblox.pcapng', /^tcp port 443: framing length u16be at offset 3$/m],
  ];
  for (const [file, framing] of cases) {
    it.skipIf(noCorpus() || !existsSync(corpusFile(file)))(`${file}: the framing, and a draft that decodes it with 0 errors`, () => {
      const r = gs(['infer', '-r', corpusFile(file)]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(framing);
      expect(r.stdout).toMatch(/the draft decodes the input: (\d+) messages, \1 named, 0 errors/);
    });
  }
});
