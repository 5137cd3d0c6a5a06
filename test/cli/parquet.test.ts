import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProtocol } from '../../src/protocol/protocol';
import { GameServer } from '../../src/testbed/game-server';
import { runGameClient } from '../../src/testbed/game-client';
import { CLI, gs, ROOT, startCli } from '../helpers/cli';

/**
 * decode --parquet, query and record --parquet: the Parquet files read back with DuckDB (through
 * `gamesniff query --json`) say what `decode --json` says, message by message and field by field.
 */
const dir = mkdtempSync(join(tmpdir(), 'gs-parquet-'));
const rec = (name: string): string => join(ROOT, 'recordings', `${name}.gsrec`);

interface JsonMessage {
  n: number;
  ts: number;
  conn: number;
  transport: string;
  client: string;
  server: string;
  dir: string;
  name: string | null;
  id: number | null;
  size: number;
  fields?: Record<string, unknown>;
  error?: { message: string; path: string; offset: number };
  raw?: string;
}

function decodeJson(args: string[]): JsonMessage[] {
  const r = gs(['decode', ...args, '--json', '--full']);
  expect([0, 1], r.stderr).toContain(r.code);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonMessage);
}

function query(sql: string, files: string[], extra: string[] = ['--json']): Array<Record<string, unknown>> {
  const r = gs(['query', sql, ...files, ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A message's fields as Parquet columns: NAME.PATH for every leaf (objects flattened, arrays whole). */
function leaves(prefix: string, o: Record<string, unknown>, out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === null) continue;
    if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length <= 64) leaves(`${prefix}.${k}`, v as Record<string, unknown>, out);
    else out[`${prefix}.${k}`] = v;
  }
  return out;
}

/** Every row against its decode --json line: the row's columns, and each field of the message in its column. */
function compareRows(rows: Array<Record<string, unknown>>, msgs: JsonMessage[], session: string): void {
  expect(rows).toHaveLength(msgs.length);
  rows.forEach((row, i) => {
    const m = msgs[i]!;
    const where = `message ${i} (${m.name})`;
    expect(row.session, where).toBe(session);
    expect({ n: row.n, conn: row.conn, transport: row.transport, client: row.client, server: row.server, dir: row.dir, name: row.name, id: row.id, size: row.size }, where).toEqual({
      n: m.n,
      conn: m.conn,
      transport: m.transport,
      client: m.client,
      server: m.server,
      dir: m.dir,
      name: m.name,
      id: m.id,
      size: m.size,
    });
    expect(row.ts_us, where).toBe(Math.round(m.ts * 1e6));
    expect([row.error, row.error_path, row.error_offset], where).toEqual(m.error ? [m.error.message, m.error.path, m.error.offset] : [null, null, null]);
    expect(row.raw, where).toBe(m.raw ?? null);
    const want = m.fields ? leaves(m.name ?? 'fields', m.fields) : {};
    for (const [col, v] of Object.entries(want)) expect(row[col], `${where}: ${col}`).toEqual(v);
    // and the other messages' columns are empty on this row
    for (const [col, v] of Object.entries(row)) if (col.includes('.') && !(col in want)) expect(v, `${where}: ${col}`).toBeNull();
  });
}

const ALL = 'SELECT *, epoch_us(ts) AS ts_us FROM messages ORDER BY n';

/** testgame with one more field in move: every move fails to decode (the frame ends first), at move.extra. */
function brokenTestgame(): string {
  const p = join(dir, 'testgame-broken');
  cpSync(join(ROOT, 'protocols', 'testgame'), p, { recursive: true });
  const file = join(p, 'protocol.yaml');
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(/(    move:\n(?:      .*\n)*?        running: bool\n)/, '$1        extra: u32\n');
  expect(fixed).not.toBe(text);
  writeFileSync(file, fixed);
  return p;
}

describe('decode --parquet', () => {
  it('writes one row per message with the columns and field values decode --json gives (every sample recording)', () => {
    for (const name of ['testgame-duo', 'testgame-solo', 'echo', 'chatroom']) {
      const out = join(dir, `${name}.parquet`);
      const w = gs(['decode', '-r', rec(name), '--parquet', out]);
      expect(w.code, w.stderr).toBe(0);
      expect(w.stdout).toBe('');
      const msgs = decodeJson(['-r', rec(name)]);
      expect(w.stderr).toContain(`parquet: ${msgs.length} messages`);
      compareRows(query(ALL, [out]), msgs, rec(name));
    }
  });

  it('gives each kind of value a column type: integers, floats, strings, bytes, booleans, lists, JSON for arrays of objects', () => {
    const out = join(dir, 'testgame-duo.parquet');
    const types = Object.fromEntries(query('SELECT column_name, column_type FROM (DESCRIBE messages)', [out]).map((r) => [r.column_name, r.column_type]));
    expect(types).toMatchObject({
      session: 'VARCHAR',
      protocol: 'VARCHAR',
      n: 'BIGINT',
      conn: 'BIGINT',
      ts: 'TIMESTAMP',
      name: 'VARCHAR',
      id: 'BIGINT',
      size: 'BIGINT',
      error: 'VARCHAR',
      error_path: 'VARCHAR',
      error_offset: 'BIGINT',
      raw: 'VARCHAR',
      'move.seq': 'BIGINT',
      'move.pos.x': 'DOUBLE',
      'move.running': 'BOOLEAN',
      'login.name': 'VARCHAR',
      'login_ok.token': 'BLOB',
      'hello.features': 'BIGINT[]',
      'hello_ack.server_time': 'BIGINT',
      'snapshot.entities': 'JSON',
      'inventory.items.potion': 'BIGINT',
    });
    // the JSON column is JSON to DuckDB: a path into it
    const [first] = query(`SELECT "snapshot.entities"->>'$[0].kind' AS kind FROM messages WHERE name = 'snapshot' ORDER BY n LIMIT 1`, [out]);
    expect(first!.kind).toBe('player');
  });

  it('says where decoding failed: error, error_path and error_offset as decode --json gives them', () => {
    const proto = brokenTestgame();
    const out = join(dir, 'broken.parquet');
    const w = gs(['decode', '-r', rec('testgame-solo'), '-p', proto, '--parquet', out]);
    expect(w.code, w.stderr).toBe(1); // as decode: exit 1 when a message did not decode, the file written all the same
    expect(w.stderr).toMatch(/did not decode/);
    const msgs = decodeJson(['-r', rec('testgame-solo'), '-p', proto]);
    const failed = msgs.filter((m) => m.error);
    expect(failed.length).toBeGreaterThan(0);
    compareRows(query(ALL, [out]), msgs, rec('testgame-solo'));
    const errs = query(`SELECT error_path, count(*) AS n FROM messages WHERE error IS NOT NULL GROUP BY ALL`, [out]);
    expect(errs).toEqual([{ error_path: failed[0]!.error!.path, n: failed.length }]);
  });

  it('with a directory: partitioned by protocol and date, one session replacing its own files when decoded again', () => {
    const out = join(dir, 'lake') + '/';
    for (const name of ['testgame-duo', 'testgame-solo', 'echo']) expect(gs(['decode', '-r', rec(name), '--parquet', out]).code).toBe(0);
    const again = gs(['decode', '-r', rec('testgame-duo'), '--parquet', out]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/replacing 1 files of an earlier run/);
    const files = readdirSync(out, { recursive: true }).map(String).filter((f) => f.endsWith('.parquet')).sort();
    expect(files.map((f) => f.replace(/date=\d{4}-\d{2}-\d{2}/, 'date=D'))).toEqual([
      'protocol=echo/date=D/echo-000000.parquet',
      'protocol=testgame/date=D/testgame-duo-000000.parquet',
      'protocol=testgame/date=D/testgame-solo-000000.parquet',
    ]);
    const counts = query('SELECT protocol, session, count(*) AS n FROM messages GROUP BY ALL ORDER BY ALL', [out]);
    const n = (name: string): number => decodeJson(['-r', rec(name)]).length;
    expect(counts).toEqual([
      { protocol: 'echo', session: rec('echo'), n: n('echo') },
      { protocol: 'testgame', session: rec('testgame-duo'), n: n('testgame-duo') },
      { protocol: 'testgame', session: rec('testgame-solo'), n: n('testgame-solo') },
    ]);
    // the date partition is the UTC day of the messages
    const [d] = query('SELECT DISTINCT CAST(date AS VARCHAR) AS date, CAST(CAST(ts AS DATE) AS VARCHAR) AS day FROM messages WHERE protocol = \'echo\'', [out]);
    expect(d!.date).toBe(d!.day);
  });

  it('refuses what does not go with it, in one line', () => {
    const r = gs(['decode', '-r', rec('echo'), '--parquet', join(dir, 'x.parquet'), '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^gamesniff: --parquet writes the messages to a file instead of printing them: it does not go with --json$/);
    const d = gs(['decode', '-r', rec('echo'), '--parquet', join(dir, 'no', 'such', 'dir', 'x.parquet')]);
    expect(d.code, d.stderr).toBe(0); // the directories are made
  });
});

describe('gamesniff query', () => {
  const duo = join(dir, 'q-duo.parquet');
  const solo = join(dir, 'q-solo.parquet');
  const broken = join(dir, 'q-broken.parquet');
  beforeAll(() => {
    expect(gs(['decode', '-r', rec('testgame-duo'), '--parquet', duo]).code).toBe(0);
    expect(gs(['decode', '-r', rec('testgame-solo'), '--parquet', solo]).code).toBe(0);
    expect(gs(['decode', '-r', rec('testgame-solo'), '-p', brokenTestgame(), '--parquet', broken]).code).toBe(1);
  });

  it('messages per name per minute', () => {
    const rows = query("SELECT date_trunc('minute', ts) AS minute, name, count(*) AS n FROM messages GROUP BY ALL ORDER BY ALL", [duo]);
    const want = new Map<string, number>();
    for (const m of decodeJson(['-r', rec('testgame-duo')])) {
      const minute = new Date(Math.floor(m.ts / 60) * 60_000).toISOString().replace('T', ' ').slice(0, 19);
      const k = `${minute} ${m.name}`;
      want.set(k, (want.get(k) ?? 0) + 1);
    }
    expect(new Map(rows.map((r) => [`${r.minute} ${r.name}`, r.n]))).toEqual(want);
  });

  it('the position of one player over time', () => {
    const rows = query(`SELECT epoch_us(ts) AS t, "position.pos.x" AS x, "position.pos.y" AS y FROM messages WHERE name = 'position' AND "position.player_id" = 2 ORDER BY ts`, [duo]);
    const want = decodeJson(['-r', rec('testgame-duo')])
      .filter((m) => m.name === 'position' && (m.fields as { player_id: number }).player_id === 2)
      .map((m) => ({ t: Math.round(m.ts * 1e6), x: (m.fields as { pos: { x: number } }).pos.x, y: (m.fields as { pos: { y: number } }).pos.y }));
    expect(want.length).toBeGreaterThan(5);
    expect(rows).toEqual(want);
  });

  it('which sessions had decode errors, over several files', () => {
    const sql = 'SELECT session, count(*) FILTER (WHERE error IS NOT NULL OR raw IS NOT NULL) AS failed FROM messages GROUP BY session HAVING failed > 0';
    const rows = query(sql, [duo, broken]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.session).toBe(rec('testgame-solo'));
    expect(rows[0]!.failed).toBeGreaterThan(0);
    expect(query(sql, [duo, solo])).toEqual([]);
  });

  it('reads files named in the SQL, prints a table (escaped) or CSV', () => {
    const t = gs(['query', `SELECT name, count(*) AS n FROM read_parquet('${duo}') WHERE name LIKE 'hello%' GROUP BY name ORDER BY name`]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toBe('name       n\n---------  -\nhello      2\nhello_ack  2\n');
    expect(t.stderr).toBe('2 rows\n');
    const c = gs(['query', `SELECT 'a,b' AS x, NULL AS y, 'say "hi"' AS z, '\x1b[31m' AS w`, '--csv']);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toBe('x,y,z,w\n"a,b",,"say ""hi""",\\x1b[31m\n');
    const e = gs(['query', `SELECT '\x1b]0;title\x07' AS w`]);
    expect(e.stdout).not.toMatch(/\x1b/);
  });

  it('a bad query is one line and exit 2, never a stack', () => {
    const cases: Array<[string[], RegExp]> = [
      [['query', 'SELEC 1'], /^gamesniff: SQL: .*syntax error at or near "SELEC"$/],
      [['query', 'SELECT * FROM messages'], /^gamesniff: SQL: Catalog Error: Table with name messages does not exist.*\(give the Parquet files after the SQL/],
      [['query', 'SELECT nope FROM messages', duo], /^gamesniff: SQL: Binder Error: .*nope/],
      [['query', "SELECT * FROM read_parquet('/nonexistent/x.parquet')"], /^gamesniff: SQL: IO Error: No files found/],
      [['query', 'SELECT 1', join(dir, 'missing.parquet')], /^gamesniff: .*missing\.parquet: no such file or directory$/],
      [['query', 'SELECT 1', rec('echo')], /^gamesniff: cannot read .*echo\.gsrec: /],
      [['query', 'SELECT 1', '--json', '--csv'], /^gamesniff: --json and --csv are two formats: give one$/],
    ];
    for (const [args, want] of cases) {
      const r = gs(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trim(), args.join(' ')).toMatch(want);
    }
  });

  it('without DuckDB installed: one line saying how to install it, exit 2', () => {
    // a preload that makes @duckdb/* unresolvable, as on a machine where the optional dependency did not install
    const preload = join(dir, 'no-duckdb.js');
    writeFileSync(
      preload,
      `const M = require('module'); const r = M._resolveFilename; M._resolveFilename = function (req, ...a) { if (req.startsWith('@duckdb/')) { const e = new Error("Cannot find module '" + req + "'"); e.code = 'MODULE_NOT_FOUND'; throw e; } return r.call(this, req, ...a); };`,
    );
    for (const args of [['query', 'SELECT 1'], ['decode', '-r', rec('echo'), '--parquet', join(dir, 'nodb.parquet')]]) {
      const r = spawnSync(process.execPath, ['-r', preload, CLI, ...args], { encoding: 'utf8', cwd: ROOT });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/needs DuckDB: DuckDB \(@duckdb\/node-api\) is not installed; install it with `npm install @duckdb\/node-api`/);
    }
    expect(existsSync(join(dir, 'nodb.parquet'))).toBe(false);
    // and decode without --parquet does not need it
    const plain = spawnSync(process.execPath, ['-r', preload, CLI, 'decode', '-r', rec('echo')], { encoding: 'utf8', cwd: ROOT });
    expect(plain.status, plain.stderr).toBe(0);
  });
});

describe('record --parquet', () => {
  it('from a capture file: the same rows as decode --parquet of the recording it makes', () => {
    const pcap = join(dir, 'duo.pcapng');
    expect(gs(['export', rec('testgame-duo'), '--pcap', pcap]).code).toBe(0);
    const out = join(dir, 'rec-from-file.gsrec');
    const lake = join(dir, 'rec-lake');
    const r = gs(['record', '-r', pcap, '-p', 'testgame', '-o', out, '--parquet', lake]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/parquet: \d+ messages/);
    const msgs = decodeJson(['-r', out]);
    compareRows(query(ALL, [lake]), msgs, out);
  });

  it('refuses a .parquet file and a missing -p', () => {
    const a = gs(['record', '-r', rec('echo'), '-p', 'echo', '--parquet', join(dir, 'x.parquet')]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/record --parquet takes a directory/);
    const b = gs(['record', '--port', '24000', '--parquet', join(dir, 'y')]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--parquet decodes the messages as they are recorded: give -p PROTOCOL too/);
  });
});

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('record --parquet, live, killed with SIGKILL', () => {
  const tg = loadProtocol('testgame', ROOT);
  let server: GameServer;
  beforeAll(async () => {
    server = new GameServer(tg, { port: 0, seed: 12 });
    await server.start();
  });
  afterAll(() => server.stop());

  it('leaves batch files that DuckDB reads: every message up to the last batch, as decode of the recording gives them', async () => {
    const out = join(dir, 'killed.gsrec');
    const lake = join(dir, 'killed-lake');
    const recorder = await startCli(['record', '-p', 'testgame', '--port', `${server.port},${server.udpPort}`, '-o', out, '--parquet', lake], 'capturing on');
    // about 7 s of play: a batch is written at 5 s; the rest is in memory when the kill comes
    await runGameClient(tg, { port: server.port, udpPort: server.udpPort, name: 'k', rounds: 70, seed: 7, interval: 100, timeout: 20_000 });
    recorder.child.kill('SIGKILL');
    await recorder.done;
    const files = readdirSync(lake, { recursive: true }).map(String);
    const whole = files.filter((f) => f.endsWith('.parquet'));
    expect(whole.length, files.join(' ')).toBeGreaterThanOrEqual(1);
    const rows = query(ALL, [lake]);
    const msgs = decodeJson(['-r', out]);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(msgs.length);
    compareRows(rows, msgs.slice(0, rows.length), out);
  }, 60_000);
});
