import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Conversation, type ConversationMessage } from '../../src/conversation/conversation';
import { hexBytes, loadVectors } from '../../src/conversation/vectors';
import { LineBlock } from '../../src/core/line-block';
import { escapeJson } from '../../src/core/terminal';
import { compileProtocol, loadProtocol, type Protocol } from '../../src/protocol/protocol';
import { DEFAULT_LIMITS, FULL, messageJson, toJsonValue, type OutputLimits } from '../../src/session/format';
import { putMicros } from '../../src/session/json-bytes';
import { fieldWriters, type FieldsWriter } from '../../src/session/json-codegen';
import { jsonString, jsonValue, MessageJsonWriter } from '../../src/session/json-line';
import type { Message } from '../../src/session/messages';

/** What decode --json printed before the writer: the reference every line must equal. */
const reference = (m: Message, n: number, spans: boolean, limits: OutputLimits): string => escapeJson(JSON.stringify({ n, ...messageJson(m, spans, limits) }));

const TINY: OutputLimits = { bytes: 3, chars: 2, elements: 1 };
const LIMITS: [string, OutputLimits][] = [
  ['default', DEFAULT_LIMITS],
  ['full', FULL],
  ['tiny', TINY],
];

/** What a generated serialiser writes, as text (undefined where it writes nothing). */
function text(w: FieldsWriter, v: unknown, l: OutputLimits): string | undefined {
  const B = new LineBlock(() => {}, Infinity, 16);
  return w(v, l, B) ? B.buf.toString('utf8', 0, B.pos) : undefined;
}

/** Lines written into blocks of `size` bytes, as the sink got them. */
function blocks(size: number, write: (B: LineBlock) => void): Buffer {
  const chunks: Buffer[] = [];
  const B = new LineBlock((c) => chunks.push(c), size, size);
  write(B);
  B.flush();
  return Buffer.concat(chunks);
}

const flow = { id: 7, client: { addr: '127.0.0.1', port: 50000 }, server: { addr: '::1', port: 24000 } };

/** Every vector of a description decoded as a Message (spans on), as decode would see it. */
function vectorMessages(protocol: Protocol, file: string): Message[] {
  const out: Message[] = [];
  for (const v of loadVectors(file)) {
    if (!v.dir || v.hex === undefined) continue;
    const kind = v.transport ?? 'tcp';
    if (!protocol.transport(kind)) continue;
    const conv = new Conversation(protocol, kind, (m: ConversationMessage<typeof flow>) => out.push(m as unknown as Message), { flow, spans: true, state: v.state ?? {} });
    conv.frameBody(v.dir, hexBytes(v.hex), v.frame);
  }
  return out;
}

const ROOT = join(__dirname, '../../protocols');
const FIXTURES = join(__dirname, '../fixtures/protocols');
const descriptions = [
  ...readdirSync(ROOT).map((d) => join(ROOT, d)),
  ...readdirSync(FIXTURES).map((d) => join(FIXTURES, d)),
].filter((d) => existsSync(join(d, 'protocol.yaml')) && existsSync(join(d, 'vectors.yaml')));

describe('decode --json lines', () => {
  it('are byte for byte the JSON.stringify lines, for every vector of every description', () => {
    expect(descriptions.length).toBeGreaterThanOrEqual(7);
    let compared = 0;
    for (const dir of descriptions) {
      const protocol = loadProtocol(dir);
      const messages = vectorMessages(protocol, join(dir, 'vectors.yaml'));
      expect(messages.length, dir).toBeGreaterThan(0);
      for (const [, limits] of LIMITS)
        for (const spans of [false, true]) {
          const w = new MessageJsonWriter(protocol, spans, limits);
          messages.forEach((m, n) => {
            expect(w.line(m, n), `${dir} ${m.name}`).toBe(reference(m, n, spans, limits));
            compared++;
          });
        }
    }
    expect(compared).toBeGreaterThan(100);
  });

  it('written into small blocks, are the same bytes, line after line', () => {
    for (const dir of descriptions) {
      const protocol = loadProtocol(dir);
      const messages = vectorMessages(protocol, join(dir, 'vectors.yaml'));
      for (const [name, limits] of LIMITS) {
        const w = new MessageJsonWriter(protocol, true, limits);
        const expected = Buffer.from(messages.map((m, n) => `${reference(m, n, true, limits)}\n`).join(''));
        // blocks smaller than a line: every line moves to a new block as it is written
        for (const size of [7, 100, 65536])
          expect(
            blocks(size, (B) =>
              messages.forEach((m, n) => {
                w.write(m, n, B);
                B.endLine();
              }),
            ).equals(expected),
            `${dir} ${name} ${size}`,
          ).toBe(true);
      }
    }
  });

  it('raw and failed messages, text and flags: the same as JSON.stringify', () => {
    const protocol = loadProtocol(join(ROOT, 'testgame'));
    const w = new MessageJsonWriter(protocol, true, DEFAULT_LIMITS);
    const base = vectorMessages(protocol, join(ROOT, 'testgame/vectors.yaml'))[0];
    // the message with some of its properties replaced (its own getters left in place)
    const like = (o: Partial<Message>): Message => Object.defineProperties(Object.create(base) as Message, Object.fromEntries(Object.entries(o).map(([k, v]) => [k, { value: v }])));
    const variants: Message[] = [
      like({ raw: 'stream ended "inside"\u2028 a frame', fields: undefined, name: undefined, id: undefined }),
      like({ error: { message: 'bad \u001b[31m', path: 'a.b[3]', offset: 4 }, fields: undefined, compressed: true, trailing: 3 }),
      like({ name: 'x"\\y\ud800', dir: 's2c', index: Number.NaN, size: Infinity, ts: 1.5 }),
      like({ flow: { ...flow, id: 8, client: { addr: 'a\u202eb', port: 1 } } as never }),
      // a declared name under other ids (the writer keeps the constant part of the line for the
      // id it saw last), and back; each direction of one connection
      like({ id: 999 }),
      like({ id: 999, dir: 's2c', index: 5 }),
      like({ id: base.id }),
      like({ id: -0 }),
      like({ id: 2.5 }),
      like({ id: 2 ** 60 }),
      like({ id: 'x' as never }),
      like({ id: base.id, dir: 'c2s', index: 6 }),
    ];
    variants.forEach((m, n) => expect(w.line(m, n)).toBe(reference(m, n, true, DEFAULT_LIMITS)));
    // one connection whose ends change between its messages (the table learns which is the server)
    const moving = { ...flow };
    const m = like({ flow: moving as never });
    expect(w.line(m, 0)).toBe(reference(m, 0, true, DEFAULT_LIMITS));
    moving.server = { addr: '10.0.0.9', port: 7777 };
    expect(w.line(m, 1)).toBe(reference(m, 1, true, DEFAULT_LIMITS));
    expect(w.line(m, 2)).toContain('"server":"10.0.0.9:7777"');
  });

  it('timestamps: µs as seconds, as JSON.stringify writes t / 1e6', () => {
    const edges = [0, 1, 9, 10, 999_999, 1_000_000, 1_000_001, 1_700_000_000_000_039, 1_700_000_000_100_000, 2147483647999999, 2147483648e6, 2147483648e6 + 1, 4294967296e6 - 1, 2 ** 53, -1, -1_500_000, 0.5, 1e21, Number.NaN, Infinity];
    const ts = fc.oneof(fc.integer({ min: 0, max: 2147483648e6 + 10 }), fc.nat(), fc.double(), fc.integer({ min: 1_600_000_000_000_000, max: 1_800_000_000_000_000 }), fc.constantFrom(...edges));
    fc.assert(
      fc.property(ts, (t) => {
        const B = new LineBlock(() => {}, Infinity, 4);
        putMicros(B, t);
        expect(B.buf.toString('latin1', 0, B.pos)).toBe(JSON.stringify(t / 1e6));
      }),
      { numRuns: 20000, examples: edges.map((e) => [e]) },
    );
  });
});

/** Values a decoder (or a msgpack payload) can give, hostile ones included. */
const hostileString = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.constantFrom('"', '\\', '\u0000', '\n', '\u001f', '\u007f', '\u0085', '\u009f', '\u200b', '\u2028', '\u2029', '\u202e', '\u2066', '\ufeff', '\ud800', '\udfff', '\ud83d\ude00', 'zoë', '…'),
  fc.array(fc.constantFrom('a', '"', '\\', '\u001b', '\u2028', '\ud800', '\udc00', 'é'), { maxLength: 12 }).map((a) => a.join('')),
);
const leaf = fc.oneof(
  hostileString,
  fc.double(),
  fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 0, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER),
  fc.integer(),
  fc.bigInt({ min: -(1n << 64n), max: 1n << 64n }),
  fc.constantFrom(2n ** 53n - 1n, 2n ** 53n, -(2n ** 53n) + 1n, -(2n ** 53n), 2n ** 64n - 1n),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 12 }),
  fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)),
);
const value = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('v'), { maxLength: 5 }), fc.dictionary(fc.oneof(hostileString, fc.constantFrom('__proto__', '0', '12', 'toJSON')), tie('v'), { maxKeys: 5 })),
})).v;

describe('jsonValue', () => {
  it('is escapeJson(JSON.stringify(toJsonValue(v))) for any value, within any limits', () => {
    const limits = fc.record({ bytes: fc.oneof(fc.nat(16), fc.constant(Infinity)), chars: fc.oneof(fc.nat(16), fc.constant(Infinity)), elements: fc.oneof(fc.nat(4), fc.constant(Infinity)) });
    fc.assert(
      fc.property(value, limits, (v, l) => {
        const expected = JSON.stringify(toJsonValue(v, l));
        expect(jsonValue(v, l)).toBe(expected === undefined ? undefined : escapeJson(expected));
      }),
      { numRuns: 3000 },
    );
  });

  it('jsonString escapes what JSON and the terminal need, and nothing more', () => {
    fc.assert(
      fc.property(hostileString, (s) => {
        expect(jsonString(s)).toBe(escapeJson(JSON.stringify(s)));
      }),
      { numRuns: 3000 },
    );
    expect(jsonString('a\u2028b')).toBe('"a\\u2028b"');
    expect(jsonString('\ud800')).toBe('"\\ud800"');
  });
});

const TYPED = `
protocol: typed
endian: le
tcp:
  framing: { length: u16 }
  id: u8
  messages:
    all:
      id: 1
      fields:
        a: u8
        b: s16
        c: u32
        f: f32
        d: f64
        ok: bool
        name: { type: string, prefix: u8 }
        blob: { type: bytes, prefix: u8 }
        flag: u8
        opt: { type: u16, if: "flag != 0" }
        pts: { array: point, prefix: u8 }
        nested: { fields: { z: u8, _p: { pad: 1 }, w: { type: string, prefix: u8 } } }
types:
  point:
    fields:
      x: s16
      y: s16
`;

describe('generated serialisers', () => {
  const protocol = compileProtocol(TYPED, 'typed.yaml');
  const body = fc.record({
    a: fc.nat(255),
    b: fc.integer({ min: -32768, max: 32767 }),
    c: fc.nat(),
    f: fc.float(),
    d: fc.double(),
    ok: fc.boolean(),
    name: fc.uint8Array({ maxLength: 20 }),
    blob: fc.uint8Array({ maxLength: 20 }),
    flag: fc.nat(1),
    opt: fc.nat(65535),
    pts: fc.array(fc.record({ x: fc.integer({ min: -32768, max: 32767 }), y: fc.integer({ min: -32768, max: 32767 }) }), { maxLength: 4 }),
    z: fc.nat(255),
    w: hostileString,
  });
  const encode = (r: fc.RecordValue<typeof body extends fc.Arbitrary<infer T> ? T : never>): Buffer => {
    const parts: Buffer[] = [Buffer.from([1, r.a]), Buffer.alloc(2), Buffer.alloc(4), Buffer.alloc(4), Buffer.alloc(8)];
    parts[1].writeInt16LE(r.b);
    parts[2].writeUInt32LE(r.c);
    parts[3].writeFloatLE(r.f);
    parts[4].writeDoubleLE(r.d);
    parts.push(Buffer.from([r.ok ? 1 : 0, r.name.length]), Buffer.from(r.name), Buffer.from([r.blob.length]), Buffer.from(r.blob), Buffer.from([r.flag]));
    if (r.flag) parts.push(Buffer.from([r.opt & 0xff, r.opt >> 8]));
    parts.push(Buffer.from([r.pts.length]));
    for (const p of r.pts) {
      const b = Buffer.alloc(4);
      b.writeInt16LE(p.x);
      b.writeInt16LE(p.y, 2);
      parts.push(b);
    }
    const w = Buffer.from(r.w, 'utf8').subarray(0, 255);
    parts.push(Buffer.from([r.z, 0, w.length]), w);
    return Buffer.concat(parts);
  };

  it('write decoded messages exactly as the generic walk, never asking it for a type they know', () => {
    const throwing = (): never => {
      throw new Error('the generic path was asked');
    };
    const typed = fieldWriters(protocol.def, throwing).get('tcp c2s all')!;
    expect(typed).toBeTypeOf('function');
    const t = protocol.tcp!;
    fc.assert(
      fc.property(body, fc.constantFrom(DEFAULT_LIMITS, FULL, TINY), (r, l) => {
        const d = t.decode('c2s', encode(r), protocol.newState());
        expect(d.error).toBeUndefined();
        const expected = escapeJson(JSON.stringify(toJsonValue(d.fields, l)));
        // NaN and infinite floats are the one typed value the generated code hands on
        const finite = Number.isFinite(d.fields!.f) && Number.isFinite(d.fields!.d);
        if (finite) expect(text(typed, d.fields, l)).toBe(expected);
        expect(text(fieldWriters(protocol.def).get('tcp c2s all')!, d.fields, l)).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('are one function for messages of one shape', () => {
    const p = compileProtocol(`protocol: shapes\ntcp:\n  framing: { length: u16be }\n  id: u8\n  messages:\n    a: { id: 1, fields: { x: u8, y: { array: u8, prefix: u8 } } }\n    b: { id: 2, fields: { x: u8, y: { array: u8, prefix: u8 } } }\n    c: { id: 3, fields: { x: u16, z: { type: bytes, until: end } } }\n`, 'shapes.yaml');
    const w = fieldWriters(p.def);
    expect(w.get('tcp c2s a')).toBe(w.get('tcp s2c b'));
    expect(w.get('tcp c2s a')).not.toBe(w.get('tcp c2s c'));
  });

  it('hand a reshaped or mistyped value to the generic walk', () => {
    const w = fieldWriters(protocol.def).get('tcp c2s all')!;
    const odd = [
      { b: 1, a: 2 },
      { a: 'x"\u2028', b: 2n ** 64n, extra: [1, Buffer.from('ab')] },
      { a: 1, b: 2, c: 3, f: Number.NaN, d: -Infinity, ok: 1, name: Buffer.from('n'), blob: 'text', flag: 0, opt: undefined, pts: 'no', nested: [1] },
      { a: 1, b: 2, c: 3, f: -0, d: 1e300, ok: true, name: 's', blob: Buffer.alloc(5), flag: 1, opt: 9, pts: [{ y: 1, x: 2 }, null, { x: 1, y: 2 }], nested: { z: 1, w: 'q' } },
      [1, 2],
      null,
    ];
    for (const v of odd) for (const [, l] of LIMITS) expect(text(w, v, l)).toBe(JSON.stringify(toJsonValue(v, l)) === undefined ? undefined : escapeJson(JSON.stringify(toJsonValue(v, l))));
  });

});
