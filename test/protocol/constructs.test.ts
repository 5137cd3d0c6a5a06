import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProtocol } from '../../src/protocol/protocol';
import { runVectorFile } from '../../src/protocol/vectors';

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
