import { describe, expect, it } from 'vitest';
import { Coverage, MAX_UNKNOWN_IDS, SAMPLE_BYTES } from '../../src/session/coverage';
import type { Message } from '../../src/session/messages';

/** A message of an id the protocol does not have: no name, the id, its frame body. */
function unknown(id: number | undefined, payload: Buffer, dir: 'c2s' | 's2c' = 'c2s', transport: 'tcp' | 'udp' = 'tcp'): Message {
  return { flow: {}, transport, dir, index: 0, offset: 0, ts: 0, wire: payload, frame: payload, payload, size: payload.length + 2, id, trailing: 0, compressed: false, error: { message: 'unknown id', path: '', offset: 0 } } as unknown as Message;
}

describe('Coverage: the unknown-id table', () => {
  it('per direction, most frequent first, with sizes (the few, or min–max) and the first 16 bytes of one as hex', () => {
    const c = new Coverage();
    for (let i = 0; i < 5; i++) c.add(unknown(0x42, Buffer.from([0x42, i, 0x1b, 0x5b])));
    for (const n of [3, 9, 3]) c.add(unknown(0x99, Buffer.alloc(n, 0x99)));
    for (const n of [20, 30, 40, 50, 60, 70]) c.add(unknown(0x07, Buffer.alloc(n, 7), 's2c'));
    c.add(unknown(undefined, Buffer.from('zz'), 'c2s', 'udp'));
    const t = c.unknownTable();
    expect(t[0]).toMatch(/^unknown ids, most frequent first/);
    expect(t.slice(1).join('\n')).toBe(
      [
        '  tcp c2s: 8 messages, 2 ids',
        '    id                    count  sizes            sample',
        '    0x42 (66)                 5  4                42001b5b',
        '    0x99 (153)                3  3, 9             999999',
        '  tcp s2c: 6 messages, 1 id',
        '    id                    count  sizes            sample',
        `    0x7 (7)                   6  20–70            ${'07'.repeat(SAMPLE_BYTES)}… (20 B)`,
        '  udp c2s: 1 messages, 1 id',
        '    id                    count  sizes            sample',
        '    (none)                    1  2                7a7a',
      ].join('\n'),
    );
    // the report ends with it; info --json keeps its counts and gains the table
    expect(c.report().slice(-t.length)).toEqual(t);
    const json = c.toJSON() as { unknownIds: Record<string, number>; unknown: { id: number | null; count: number; sample: string }[] };
    expect(json.unknownIds).toMatchObject({ 'tcp c2s id 66 (0x42)': 5, 'tcp c2s id 153 (0x99)': 3 });
    expect(json.unknown[0]).toMatchObject({ id: 0x7, count: 6, sample: '07'.repeat(SAMPLE_BYTES) });
  });

  it('memory stays bounded: a copied sample of 16 bytes per id, at most MAX_UNKNOWN_IDS ids, 20 rows a direction', () => {
    const c = new Coverage();
    const big = Buffer.alloc(1 << 20, 1);
    c.add(unknown(1, big));
    const u = [...c.unknown.values()][0]!;
    expect(u.sample.length).toBe(SAMPLE_BYTES);
    expect(u.sample.buffer).not.toBe(big.buffer);
    for (let id = 0; id < MAX_UNKNOWN_IDS + 100; id++) c.add(unknown(id + 2, Buffer.from([id & 0xff])));
    expect(c.unknown.size).toBe(MAX_UNKNOWN_IDS);
    expect(c.unknownOverflow.get('tcp c2s')).toBe(101);
    const t = c.unknownTable();
    expect(t.length).toBeLessThan(30);
    expect(t.join('\n')).toMatch(/… 4076 more ids, 4076 messages\n {4}… 101 messages of ids past the first 4096 distinct ones \(not kept\)$/);
    expect(t[1]).toBe(`  tcp c2s: ${MAX_UNKNOWN_IDS + 101} messages, ${MAX_UNKNOWN_IDS} ids`);
  });

  it('nothing unknown, no table', () => {
    expect(new Coverage().unknownTable()).toEqual([]);
    expect(new Coverage().report()).toEqual(['coverage: 0 messages, 0 decoded, 0 not']);
  });
});
