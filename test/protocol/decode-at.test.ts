/**
 * Transport.decodeAt decodes a frame body in place, inside a larger buffer (a delivered chunk),
 * and must say exactly what decode() says of the same bytes on their own: fields, errors and
 * their offsets, spans, trailing bytes, the state after. Every vector of every shipped and
 * fixture protocol, whole and cut short, and random bodies, at random places in random padding.
 */
import fc from 'fast-check';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DecodedMessage, Protocol } from '../../src/protocol/protocol';
import { loadProtocol } from '../../src/protocol/protocol';
import { hexBytes, loadVectors, type Vector } from '../../src/conversation/vectors';

const ROOT = join(__dirname, '../..');
const DIRS = [...readdirSync(join(ROOT, 'protocols')).map((d) => join(ROOT, 'protocols', d)), ...readdirSync(join(ROOT, 'test/fixtures/protocols')).map((d) => join(ROOT, 'test/fixtures/protocols', d))].filter((d) => existsSync(join(d, 'vectors.yaml')));

function seen(d: DecodedMessage, state: Record<string, unknown>) {
  return { name: d.name, label: d.label, id: d.id, fields: d.fields, head: d.head, frame: d.frame, trailing: d.trailing, error: d.error, spans: d.spans, body: d.body.toString('hex'), state };
}

function both(p: Protocol, v: Vector, body: Buffer, before: Buffer, after: Buffer, spans: boolean) {
  const t = p.transport(v.transport ?? 'tcp')!;
  const dir = v.dir!;
  const s1 = Object.assign(p.newState(), v.state ?? {});
  const s2 = Object.assign(p.newState(), v.state ?? {});
  const alone = t.decode(dir, Buffer.from(body), s1, { spans, frame: v.frame });
  const buf = Buffer.concat([before, body, after]);
  const inPlace = t.decodeAt(dir, buf, before.length, before.length + body.length, s2, { spans, frame: v.frame });
  // the body is the bytes given, whichever way they came
  expect(inPlace.body.toString('hex')).toBe(body.toString('hex'));
  // trailing bytes: where the debug decoder (which makes the spans) ended
  const traced = t.decodeAt(dir, buf, before.length, before.length + body.length, Object.assign(p.newState(), v.state ?? {}), { spans: true, frame: v.frame });
  const whole = traced.spans?.find((x) => x.depth === 1 && x.path === traced.name);
  if (whole && !inPlace.error) expect(body.length - inPlace.trailing).toBe(whole.end);
  return { alone: seen(alone, s1), inPlace: seen(inPlace, s2) };
}

describe('Transport.decodeAt', () => {
  for (const dir of DIRS) {
    const p = loadProtocol(join(dir, 'protocol.yaml'));
    const vectors = loadVectors(join(dir, 'vectors.yaml')).filter((v) => v.hex !== undefined && (v.dir === 'c2s' || v.dir === 's2c') && p.transport(v.transport ?? 'tcp'));
    it(`${dir.slice(ROOT.length + 1)}: every vector, whole and cut short, decodes in place as it does alone`, () => {
      expect(vectors.length).toBeGreaterThan(0);
      fc.assert(
        fc.property(fc.nat(vectors.length - 1), fc.uint8Array({ maxLength: 9 }), fc.uint8Array({ maxLength: 9 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean(), (i, before, after, cut, spans) => {
          const whole = hexBytes(vectors[i]!.hex!);
          const body = cut > 0.7 ? whole : whole.subarray(0, Math.floor(whole.length * cut));
          const { alone, inPlace } = both(p, vectors[i]!, body, Buffer.from(before), Buffer.from(after), spans);
          expect(inPlace).toEqual(alone);
        }),
        { numRuns: 300, seed: 18 },
      );
    });
    it(`${dir.slice(ROOT.length + 1)}: random bodies after a real message's first bytes decode in place as they do alone`, () => {
      fc.assert(
        fc.property(fc.nat(vectors.length - 1), fc.nat(4), fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 5 }), (i, keep, rest, before) => {
          const body = Buffer.concat([hexBytes(vectors[i]!.hex!).subarray(0, keep), Buffer.from(rest)]);
          const { alone, inPlace } = both(p, vectors[i]!, body, Buffer.from(before), Buffer.from([0xff]), false);
          expect(inPlace).toEqual(alone);
        }),
        { numRuns: 300, seed: 7 },
      );
    });
  }
});
