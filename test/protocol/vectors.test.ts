import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProtocol } from '../../src/protocol/protocol';
import { loadVectors, runVector } from '../../src/conversation/vectors';

const ROOT = join(__dirname, '../../protocols');
const names = readdirSync(ROOT).filter((d) => existsSync(join(ROOT, d, 'protocol.yaml')));

describe('shipped protocols', () => {
  it('are testgame, echo, chatroom, modbus and wsgame, each with vectors', () => {
    expect(names.sort()).toEqual(['chatroom', 'echo', 'modbus', 'testgame', 'wsgame']);
    for (const n of names) expect(existsSync(join(ROOT, n, 'vectors.yaml'))).toBe(true);
  });

  for (const name of names) {
    describe(name, () => {
      const protocol = loadProtocol(join(ROOT, name));
      const vectors = loadVectors(join(ROOT, name, 'vectors.yaml'));
      vectors.forEach((v, i) => {
        it(v.name ?? `vector ${i + 1}`, () => {
          expect(runVector(protocol, v, i).problems).toEqual([]);
        });
      });
    });
  }

  it('testgame vectors cover every message', () => {
    const p = loadProtocol('testgame', join(__dirname, '../..'));
    const covered = new Set(loadVectors(join(ROOT, 'testgame/vectors.yaml')).map((v) => v.message));
    const missing = p.messages.map((m) => m.def.name).filter((n) => !covered.has(n));
    expect(missing).toEqual([]);
  });

  it('a vector that is wrong is reported, both ways', () => {
    const p = loadProtocol('testgame', join(__dirname, '../..'));
    const r = runVector(p, { dir: 'c2s', hex: '11 0100 0000803f 00000040 01', message: 'move', fields: { seq: 2, pos: { x: 1, y: 2 }, running: true } }, 0);
    expect(r.problems.join('\n')).toMatch(/decode: seq: got 1, expected 2/);
    expect(r.problems.join('\n')).toMatch(/encode: got 110200/);
  });
});
