import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProtocol } from '../../src/protocol/protocol';
import { fieldDiffs, IgnoreList, leafKey, parseRewrite, substitute } from '../../src/replay/match';
import { valueDiffs } from '../../src/protocol/diff';

const p = loadProtocol(join(__dirname, '../fixtures/protocols/constructs/protocol.yaml'));

describe('names used both ways in ignore patterns and rewrite rules', () => {
  it('chat.text covers both directions; s2c.chat.text one', () => {
    const both = new IgnoreList(p, ['chat.text']);
    expect(both.ignored('chat', 'c2s', 'text')).toBe(true);
    expect(both.ignored('chat', 's2c', 'text')).toBe(true);
    const one = new IgnoreList(p, ['s2c.chat.text', '*.from', 'entries[].value']);
    expect(one.ignored('chat', 'c2s', 'text')).toBe(false);
    expect(one.ignored('chat', 's2c', 'text')).toBe(true);
    expect(one.ignored('chat', 'c2s', 'from')).toBe(true);
    expect(one.ignored('metadata', 's2c', 'entries[3].value')).toBe(true);
    expect(one.ignored('metadata', 's2c', 'entries[3].index')).toBe(false);
  });

  it('a rewrite rule names a direction when it needs to', () => {
    expect(parseRewrite('s2c.chat.from:c2s.chat.text', p)).toMatchObject({ message: 'chat', dir: 's2c', path: 'from', targets: [{ message: 'chat', dir: 'c2s', path: 'text' }] });
    expect(() => parseRewrite('nosuch.x', p)).toThrow(/has no message "nosuch"/);
  });

  it('encoding a name used both ways needs the direction', () => {
    const t = p.udp!;
    expect(() => t.encode('chat', { text: 'x' }, p.newState())).toThrow(/'chat' is a message both ways: say which \(c2s\.chat or s2c\.chat\)/);
    expect(t.encode('s2c.chat', { from: 1, text: 'x' }, p.newState()).toString('hex')).toBe('21000101' + '78');
    expect(t.encode('chat', { text: 'x' }, p.newState(), { dir: 'c2s' }).toString('hex')).toBe('200178');
    expect(t.decode('s2c', Buffer.from('21000101' + '78', 'hex'), p.newState())).toMatchObject({ name: 'chat', label: 's2c.chat' });
  });
});

describe('fieldDiffs: what valueDiffs gives against the carried values, without the copies', () => {
  const TOKEN = Buffer.from('00112233', 'hex');
  const LIVE = Buffer.from('aabbccdd', 'hex');
  const carried = new Map<string, unknown>([[leafKey(TOKEN)!, LIVE], [leafKey(7)!, 8]]);
  const cases: [unknown, unknown][] = [
    [{ a: 1, b: { c: [1, 2, 3], d: 'x' } }, { a: 1, b: { c: [1, 2], d: 'y' } }],
    [{ t: LIVE, n: 8, s: [8, 7] }, { t: TOKEN, n: 7, s: [7, 7] }],
    [{ t: TOKEN }, { t: TOKEN }],
    [{ big: 5n, hex: Buffer.from('0a0b', 'hex'), other: 5n }, { big: 5, hex: '0A 0B', other: 'x' }],
    [{ only: 1, gone: undefined }, { missing: { deep: TOKEN }, gone: 2 }],
    [[{ x: 1 }, 2], [{ x: 2 }, [2]]],
    [{ when: new Map([[1, 2]]) }, { when: new Map([[1, 3]]) }],
    [null, { a: 1 }],
  ];
  it('gives the same differences, in the same order, and keeps only what keep() keeps', () => {
    for (const [live, recorded] of cases) {
      const want = valueDiffs(live, substitute(recorded, carried).value);
      expect(fieldDiffs(live, recorded, carried, () => true), JSON.stringify(want.map((d) => d.path))).toEqual(want);
      expect(fieldDiffs(live, recorded, carried, (p) => !p.startsWith('b'))).toEqual(want.filter((d) => !d.path.startsWith('b')));
      expect(fieldDiffs(live, recorded, new Map(), () => true)).toEqual(valueDiffs(live, recorded));
    }
  });
});
