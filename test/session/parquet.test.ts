import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDuckDB } from '../../src/session/duckdb';
import type { Message } from '../../src/session/messages';
import { ParquetSink, type ParquetLayout } from '../../src/session/parquet';

const dir = mkdtempSync(join(tmpdir(), 'gs-parquet-sink-'));
const flow = { id: 3, client: { addr: '10.0.0.1', port: 5000 }, server: { addr: '::1', port: 24000 } };

function msg(i: number, name: string | undefined, fields?: Record<string, unknown>, extra: Partial<Message> = {}): Message {
  return { flow, transport: 'tcp', dir: i % 2 ? 's2c' : 'c2s', index: i, offset: 0, ts: 1_700_000_000_000_000 + i * 1000, size: 10 + i, name, id: name ? 7 : undefined, fields, trailing: 0, compressed: false, ...extra } as unknown as Message;
}

async function write(name: string, messages: Message[], batchRows: number, layout: ParquetLayout = 'file'): Promise<string> {
  const out = join(dir, layout === 'file' ? `${name}.parquet` : `${name}/`);
  const sink = await ParquetSink.open({ out, layout, session: `${name}.gsrec`, protocol: 'test', batchRows });
  for (const m of messages) sink.message(m);
  const r = await sink.close();
  expect(r.rows).toBe(messages.length);
  return out;
}

async function read(sql: string): Promise<Array<Record<string, unknown>>> {
  const db = await openDuckDB('test');
  try {
    const r = await db.connection.runAndReadAll(sql);
    return r.getRowObjectsJS() as Array<Record<string, unknown>>;
  } finally {
    db.close();
  }
}

describe('the Parquet sink', () => {
  it('types each field path from its values, and widens a type that changes from one batch to the next', async () => {
    const ms = [
      msg(0, 'a', { i: 1, f: 1.5, big: 2n ** 63n, s: 'x', b: Buffer.from([0, 255]), ok: true, list: [1, 2], strs: ['p', 'q'], objs: [{ k: 1 }], nested: { deep: { v: -1 } } }),
      msg(1, 'a', { i: 2, f: 2, big: 5n, s: 'y', b: Buffer.alloc(0), ok: false, list: [], strs: [], objs: [], nested: { deep: { v: 2 } } }),
      // the next batch: i becomes a float, s a number (mixed: text), list gets floats
      msg(2, 'a', { i: 2.5, f: NaN, s: 3, list: [0.5], changes: 'late' }),
      msg(3, 'a', { i: 7, s: 'z' }),
    ];
    const out = await write('types', ms, 2);
    const types = Object.fromEntries((await read(`DESCRIBE SELECT * FROM '${out}'`)).map((r) => [r.column_name, r.column_type]));
    expect(types).toMatchObject({
      'a.i': 'DOUBLE',
      'a.f': 'DOUBLE',
      'a.big': 'UBIGINT',
      'a.s': 'VARCHAR',
      'a.b': 'BLOB',
      'a.ok': 'BOOLEAN',
      'a.list': 'DOUBLE[]',
      'a.strs': 'VARCHAR[]',
      'a.objs': 'JSON',
      'a.nested.deep.v': 'BIGINT',
      'a.changes': 'VARCHAR',
    });
    const rows = await read(`SELECT "a.i" AS i, "a.s" AS s, "a.big" AS big, "a.list" AS list, "a.objs" AS objs, "a.b" AS b, "a.nested.deep.v" AS v FROM '${out}' ORDER BY n`);
    expect(rows.map((r) => r.i)).toEqual([1, 2, 2.5, 7]);
    expect(rows.map((r) => r.s)).toEqual(['x', 'y', '3', 'z']);
    expect(rows.map((r) => r.big)).toEqual([2n ** 63n, 5n, null, null]);
    expect(rows.map((r) => r.list)).toEqual([[1, 2], [], [0.5], null]);
    expect(rows.map((r) => r.objs)).toEqual(['[{"k":1}]', '[]', null, null]);
    expect(rows.map((r) => r.v)).toEqual([-1n, 2n, null, null]);
    expect(Buffer.from(rows[0]!.b as Uint8Array)).toEqual(Buffer.from([0, 255]));
  });

  it('keeps names apart that differ only in case, quotes and odd characters, and a map of many keys whole', async () => {
    const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]));
    const ms = [msg(0, 'm', { Key: 1, key: 2, 'q"uote': 'a', 'new\nline': 'b', map: many, '': 'empty' }), msg(1, undefined, undefined, { raw: 'after a gap' } as Partial<Message>)];
    const out = await write('names', ms, 10);
    const rows = await read(`SELECT * FROM '${out}' ORDER BY n`);
    expect(rows[0]).toMatchObject({ 'm.Key': 1n, 'm.key~2': 2n, 'm.q"uote': 'a', 'm.new\nline': 'b', 'm.': 'empty' });
    expect(JSON.parse(rows[0]!['m.map'] as string)).toEqual(many);
    expect(rows[1]).toMatchObject({ name: null, id: null, raw: 'after a gap', 'm.Key': null });
    expect(rows[0]).toMatchObject({ conn: 3n, client: '10.0.0.1:5000', server: '[::1]:24000', transport: 'tcp', dir: 'c2s', session: 'names.gsrec', protocol: 'test' });
  });

  it('strings of many distinct values, NUL inside, in batches of 2048-row chunks and beyond', async () => {
    const ms = Array.from({ length: 5000 }, (_, i) => msg(i, i % 3 ? 'x' : 'y', { s: i % 1000 === 0 ? `nul\0${i}` : `v${i}`, rep: `r${i % 5}`, mid: `m${i % 1000}` }));
    const out = await write('strings', ms, 3000);
    const rows = await read(`SELECT n, name, coalesce("x.s", "y.s") AS s, coalesce("x.rep", "y.rep") AS rep, coalesce("x.mid", "y.mid") AS mid FROM '${out}' ORDER BY n`);
    expect(rows).toHaveLength(5000);
    rows.forEach((r, i) => {
      expect(r.n).toBe(BigInt(i));
      expect(r.name).toBe(i % 3 ? 'x' : 'y');
      expect(r.s).toBe(i % 1000 === 0 ? `nul\0${i}` : `v${i}`);
      expect(r.rep).toBe(`r${i % 5}`);
      expect(r.mid).toBe(`m${i % 1000}`);
    });
  });

  it('no message: a file with the fixed columns and no row; partitioned: a file per batch and UTC day', async () => {
    const empty = await write('empty', [], 10);
    expect(await read(`SELECT count(*) AS n FROM '${empty}'`)).toEqual([{ n: 0n }]);
    const day = 86_400_000_000;
    const ms = [msg(0, 'a', { v: 1 }, { ts: 10 * day - 1 }), msg(1, 'a', { v: 2 }, { ts: 10 * day + 1 })];
    const lake = await write('days', ms, 10, 'partitioned');
    const rows = await read(`SELECT CAST(date AS VARCHAR) AS date, protocol, "a.v" AS v, filename FROM read_parquet('${lake}**/*.parquet', hive_partitioning = true, filename = true) ORDER BY n`);
    expect(rows.map((r) => [r.date, r.protocol, r.v, String(r.filename).replace(lake, '')])).toEqual([
      ['1970-01-10', 'test', 1n, 'protocol=test/date=1970-01-10/days-000000.parquet'],
      ['1970-01-11', 'test', 2n, 'protocol=test/date=1970-01-11/days-000000.parquet'],
    ]);
  });
});
