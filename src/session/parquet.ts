/**
 * Messages to Parquet, through DuckDB: a message sink that collects rows column by column and
 * hands each batch to DuckDB as column vectors (typed arrays copied straight into its chunks,
 * strings of few distinct values as dictionary codes), which writes it as a Parquet file (zstd).
 * No JSON on the way, except for values that have no column type of their own (arrays of
 * objects, mixed types).
 *
 * One row per message:
 *   session      VARCHAR    the recording, capture file or device the messages came from
 *   protocol     VARCHAR    the protocol's name (in a partitioned directory: the partition's)
 *   n            BIGINT     the message's number, as decode numbers them (from 0)
 *   conn         BIGINT     the connection (or UDP flow) id
 *   client       VARCHAR    address:port
 *   server       VARCHAR    address:port
 *   transport    VARCHAR    tcp or udp
 *   dir          VARCHAR    c2s or s2c
 *   ts           TIMESTAMP  when its last byte was captured (µs, UTC)
 *   name         VARCHAR    the message's name (NULL when it has none: unknown id, raw bytes)
 *   id           BIGINT     the message id
 *   size         BIGINT     its size on the wire
 *   error        VARCHAR    why it did not decode
 *   error_path   VARCHAR    the field path where it failed
 *   error_offset BIGINT     the byte offset where it failed
 *   raw          VARCHAR    why its bytes are not a frame (after a gap, a cut stream)
 * then a column per field path, NAME.PATH (`move.pos.x`: the message's name, then the field path,
 * nested fields flattened with dots; the same names as the UI's filter), filled on that
 * message's rows only. Types come from the values: numbers BIGINT when every value in the batch
 * is an integer and DOUBLE otherwise, 64-bit integers BIGINT (UBIGINT above 2^63), strings
 * VARCHAR, bytes BLOB, booleans BOOLEAN; arrays of numbers, strings or booleans are LISTs
 * (DOUBLE[], BIGINT[], VARCHAR[], BOOLEAN[]); arrays of anything else, and objects of more than 64
 * keys (maps keyed by data), are JSON (bytes as hex, as decode --json writes them); a path whose
 * values mix kinds is VARCHAR (strings as they are, the rest as JSON).
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { GamesniffError } from '../core/errors';
import { endpointString } from '../core/types';
import { duckError, loadDuckDB, openDuckDB, sqlName, sqlString, type DuckDBBindings, type DuckDBConnection } from './duckdb';
import { FULL, toJsonValue } from './format';
import type { Message, MessageSink } from './messages';

/** One file (written as batches, joined at the end), or a directory partitioned by protocol and date (a file per batch and date). */
export type ParquetLayout = 'file' | 'partitioned';

export interface ParquetSinkOptions {
  out: string;
  layout: ParquetLayout;
  /** The `session` column, and (partitioned) the stem of the file names. */
  session: string;
  protocol: string;
  /** Messages per batch (default 100,000). */
  batchRows?: number;
  /** Also write the batch this often, when it has rows (0: only when full). */
  flushMs?: number;
}

export interface ParquetResult {
  rows: number;
  columns: number;
  /** The files written (the one file, or the partitioned directory's new files). */
  files: string[];
  bytes: number;
  /** Files of the same session from an earlier run, replaced (partitioned). */
  replaced: number;
}

/** Whether OUT names a directory to partition into: it ends with a slash or is an existing directory. */
export function parquetLayout(out: string): ParquetLayout {
  if (/[\\/]$/.test(out)) return 'partitioned';
  try {
    return statSync(out).isDirectory() ? 'partitioned' : 'file';
  } catch {
    return 'file';
  }
}

const MAX_FLAT_KEYS = 64;
const MAX_DEPTH = 32;
const CHUNK = 2048; // DuckDB's vector size
const DICT_MAX = 4096;
const DICT_MAX_CHARS = 1 << 18;

// value kinds, as bits
const K_BOOL = 1;
const K_INT = 2;
const K_FLOAT = 4;
const K_BIG = 8;
const K_STR = 16;
const K_BLOB = 32;
const K_LIST = 64;
const K_JSON = 128;

const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const U64_MAX = (1n << 64n) - 1n;

/** A column's values in one batch: dense (a value per row, null for none) or sparse (row numbers and their values). */
class Column {
  rows: number[] = [];
  values: unknown[] = [];
  constructor(
    readonly name: string,
    readonly dense: boolean,
  ) {}
  take(): { rows: number[]; values: unknown[] } {
    const t = { rows: this.rows, values: this.values };
    this.rows = [];
    this.values = [];
    return t;
  }
}

/** A field path's node: its column (when it holds values) and its children. */
interface PathNode {
  path: string;
  column?: Column;
  children?: Map<string, PathNode>;
}

/** How a column of a batch is staged in DuckDB and how it is written out. */
interface Plan {
  name: string;
  dense: boolean;
  rows: number[];
  values: unknown[];
  kind: 'f64' | 'i64' | 'u64' | 'bool' | 'str' | 'blob' | 'list';
  /** The staging table's type. */
  staged: string;
  /** The expression it is written out as, and that expression's type. */
  out: string;
  type: string;
  /** str: values become text first (JSON for what is not a string). */
  text?: 'json' | 'mixed';
  dict?: Map<string, number>;
  /** list: the element kind. */
  elem?: 'f64' | 'bool' | 'str';
}

interface Batch {
  k: number;
  rows: number;
  firstTs: number;
  lastTs: number;
  columns: Plan[];
  days: Set<number>;
}

const INTEGERS = new Set(['n', 'conn', 'id', 'size', 'error_offset']);
const FIXED = ['n', 'conn', 'client', 'server', 'transport', 'dir', 'ts', 'name', 'id', 'size', 'error', 'error_path', 'error_offset', 'raw'] as const;

export class ParquetSink implements MessageSink {
  private readonly fixed: Map<string, Column>;
  /** The fixed columns in FIXED's order. */
  private readonly cols: Column[];
  private readonly roots = new Map<string, PathNode>();
  private readonly fieldColumns: Column[] = [];
  private readonly taken = new Set<string>();
  private readonly ends = new WeakMap<object, [string, string]>();
  private rowsInBatch = 0;
  private rowsTotal = 0;
  private batchNo = 0;
  private readonly days = new Set<number>();
  private firstTs = 0;
  private lastTs = 0;
  /** Batches are staged one after another, and copied out one after another on a second connection: the next batch is staged while the last one is written. */
  private staging: Promise<void> = Promise.resolve();
  private copying: Promise<void> = Promise.resolve();
  private copyConnection: DuckDBConnection | null = null;
  private failure: unknown = null;
  private timer: NodeJS.Timeout | null = null;
  private lastFlush = Date.now();
  private readonly written: string[] = [];
  private readonly batchRows: number;
  private readonly stem: string;
  /** Layout `file`: where DuckDB may spill the table when it outgrows memory (beside the output, removed at the end). */
  private readonly spillDir: string;
  private readonly columnNames = new Set<string>(FIXED);
  private replaced = 0;
  private closed = false;
  /** Layout `file`: the table's columns and their types, once it is made. */
  private allTypes: Map<string, string> | null = null;

  private constructor(
    private readonly o: ParquetSinkOptions,
    private readonly db: { connection: DuckDBConnection; connect(): Promise<DuckDBConnection>; close(): void },
    private readonly b: DuckDBBindings,
  ) {
    this.fixed = new Map(FIXED.map((n) => [n, new Column(n, true)]));
    this.cols = [...this.fixed.values()];
    for (const n of FIXED) this.taken.add(n);
    this.batchRows = o.batchRows ?? 100_000;
    this.stem = fileStem(o.session);
    this.spillDir = join(dirname(o.out), `.${basename(o.out)}.spill-${process.pid}`);
  }

  /** Opens DuckDB and makes the output's directory; GamesniffError (exit 2) when either cannot be. */
  static async open(o: ParquetSinkOptions): Promise<ParquetSink> {
    const { bindings } = loadDuckDB('--parquet');
    let db: { connection: DuckDBConnection; connect(): Promise<DuckDBConnection>; close(): void };
    try {
      db = await openDuckDB('--parquet');
    } catch (e) {
      if (e instanceof GamesniffError) throw e;
      throw new GamesniffError('USAGE', `--parquet: DuckDB did not start: ${duckError(e)}`);
    }
    const sink = new ParquetSink(o, db, bindings);
    sink.copyConnection = await db.connect();
    try {
      if (o.layout === 'file' && existsSync(o.out) && statSync(o.out).isDirectory()) throw new Error(`${o.out} is a directory`);
      if (o.layout === 'partitioned') {
        mkdirSync(o.out, { recursive: true });
        sink.replaced = sink.removeEarlierRun();
      } else {
        mkdirSync(dirname(o.out), { recursive: true });
        await db.connection.run(`SET temp_directory = ${sqlString(sink.spillDir)}`);
      }
    } catch (e) {
      db.close();
      throw new GamesniffError('INPUT', `cannot write Parquet to ${o.out}: ${duckError(e)}`);
    }
    if (o.flushMs) {
      sink.timer = setInterval(() => {
        if (sink.rowsInBatch > 0 && Date.now() - sink.lastFlush >= o.flushMs!) sink.flush();
      }, Math.min(o.flushMs, 1000));
      sink.timer.unref();
    }
    return sink;
  }

  /** Rows handed over so far. */
  get rows(): number {
    return this.rowsTotal;
  }

  message(m: Message): void {
    if (this.closed) return;
    const row = this.rowsInBatch++;
    const f = this.cols;
    let ends = this.ends.get(m.flow);
    if (!ends) {
      ends = [endpointString(m.flow.client), endpointString(m.flow.server)];
      this.ends.set(m.flow, ends);
    }
    f[0]!.values.push(this.rowsTotal++);
    f[1]!.values.push(m.flow.id);
    f[2]!.values.push(ends[0]);
    f[3]!.values.push(ends[1]);
    f[4]!.values.push(m.transport);
    f[5]!.values.push(m.dir);
    f[6]!.values.push(m.ts);
    f[7]!.values.push(m.name ?? null);
    f[8]!.values.push(m.id ?? null);
    f[9]!.values.push(m.size);
    f[10]!.values.push(m.error ? m.error.message : null);
    f[11]!.values.push(m.error ? m.error.path : null);
    f[12]!.values.push(m.error ? m.error.offset : null);
    f[13]!.values.push(m.raw ?? null);
    if (row === 0) this.firstTs = m.ts;
    this.lastTs = m.ts;
    if (this.o.layout === 'partitioned') this.days.add(Math.floor(m.ts / 86_400e6));
    if (m.fields) {
      const prefix = m.name ?? 'fields';
      let root = this.roots.get(prefix);
      if (!root) this.roots.set(prefix, (root = { path: prefix }));
      this.flatten(root, m.fields, row, 0);
    }
    if (this.rowsInBatch >= this.batchRows) this.flush();
  }

  private flatten(node: PathNode, o: Record<string, unknown>, row: number, depth: number): void {
    for (const k in o) {
      const v = o[k];
      if (v === undefined || v === null) continue;
      let child = node.children?.get(k);
      if (!child) {
        child = { path: `${node.path}.${k}` };
        (node.children ??= new Map()).set(k, child);
      }
      if (typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) && depth < MAX_DEPTH && fewKeys(v as object)) {
        this.flatten(child, v as Record<string, unknown>, row, depth + 1);
        continue;
      }
      const c = (child.column ??= this.newColumn(child.path));
      c.rows.push(row);
      c.values.push(v);
    }
  }

  /** A column for a field path; DuckDB's names ignore case, so one that differs from another only in case gets a `~N` suffix. */
  private newColumn(path: string): Column {
    let name = path;
    for (let i = 2; this.columnNames.has(name.toLowerCase()) || this.columnNames.has(name); i++) name = `${path}~${i}`;
    this.columnNames.add(name.toLowerCase());
    const c = new Column(name, false);
    this.fieldColumns.push(c);
    return c;
  }

  /** Hands the rows so far to DuckDB as a batch (written in the background, in order). */
  flush(): void {
    this.lastFlush = Date.now();
    if (this.rowsInBatch === 0) return;
    const batch = this.takeBatch();
    this.staging = this.staging.then(async () => {
      // at most one batch staged ahead of the one being written
      const before = this.copying;
      if (this.failure) return;
      try {
        await this.stage(batch);
      } catch (e) {
        this.failure ??= e;
        return;
      }
      this.copying = before.then(async () => {
        if (this.failure) return;
        try {
          await this.copyOut(batch);
        } catch (e) {
          this.failure ??= e;
        }
      });
      await before;
    });
  }

  private takeBatch(): Batch {
    const columns: Plan[] = [];
    for (const c of [...this.fixed.values(), ...this.fieldColumns]) {
      if (!c.dense && c.rows.length === 0) continue;
      const { rows, values } = c.take();
      columns.push(planFor(c.name, c.dense, rows, values));
    }
    const batch: Batch = { k: this.batchNo++, rows: this.rowsInBatch, firstTs: this.firstTs, lastTs: this.lastTs, columns, days: new Set(this.days) };
    this.rowsInBatch = 0;
    this.days.clear();
    return batch;
  }

  /** Stage the batch in a table: column vectors, a chunk of 2048 rows at a time. */
  private async stage(batch: Batch): Promise<void> {
    const con = this.db.connection;
    const table = `batch_${batch.k}`;
    await con.run(`CREATE TABLE ${table} (${batch.columns.map((c) => `${sqlName(c.name)} ${c.staged}`).join(', ')})`);
    const appender = await con.createAppender(table);
    try {
      const { api } = loadDuckDB('--parquet');
      const types = batch.columns.map((_, j) => appender.columnType(j));
      const chunk = api.DuckDBDataChunk.create(types);
      const cursors = new Int32Array(batch.columns.length);
      for (let s = 0; s < batch.rows; s += CHUNK) {
        const n = Math.min(CHUNK, batch.rows - s);
        this.b.data_chunk_reset(chunk.chunk);
        this.b.data_chunk_set_size(chunk.chunk, n);
        batch.columns.forEach((c, j) => {
          cursors[j] = fillVector(this.b, this.b.data_chunk_get_vector(chunk.chunk, j), c, s, n, cursors[j]!);
        });
        appender.appendDataChunk(chunk);
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }

  /** Copy a staged batch out to Parquet, and drop it. */
  private async copyOut(batch: Batch): Promise<void> {
    const con = this.copyConnection!;
    const table = `batch_${batch.k}`;
    const select = this.selectList(batch.columns);
    if (this.o.layout === 'file') {
      await this.append(con, batch, `SELECT ${select} FROM ${table}`);
    } else {
      const proto = `protocol=${partitionValue(this.o.protocol)}`;
      for (const day of [...batch.days].sort((a, b) => a - b)) {
        const date = new Date(day * 86_400_000).toISOString().slice(0, 10);
        const dir = join(this.o.out, proto, `date=${date}`);
        mkdirSync(dir, { recursive: true });
        const file = join(dir, `${this.stem}-${String(batch.k).padStart(6, '0')}.parquet`);
        const where = batch.days.size > 1 ? ` WHERE ts >= ${day * 86_400e6} AND ts < ${(day + 1) * 86_400e6}` : '';
        await this.copy(`SELECT ${select} FROM ${table}${where}`, file);
        this.written.push(file);
      }
    }
    await con.run(`DROP TABLE ${table}`);
  }

  /**
   * One file: each batch goes into one table (columns added as they come, a column whose type
   * changes from a batch to the next widened: BIGINT and DOUBLE to DOUBLE, lists likewise, any
   * other pair to VARCHAR), which is copied out once at the end.
   */
  private async append(con: DuckDBConnection, batch: Batch, query: string): Promise<void> {
    const types = new Map<string, string>([['session', 'VARCHAR'], ['protocol', 'VARCHAR'], ...batch.columns.map((c) => [c.name, c.type] as [string, string])]);
    if (!this.allTypes) {
      await con.run(`CREATE TABLE all_rows AS ${query}`);
      this.allTypes = types;
      return;
    }
    for (const [name, type] of types) {
      const had = this.allTypes.get(name);
      if (had === undefined) {
        await con.run(`ALTER TABLE all_rows ADD COLUMN ${sqlName(name)} ${type}`);
        this.allTypes.set(name, type);
      } else if (had !== type) {
        const wide = widen(had, type);
        if (wide !== had) {
          await con.run(`ALTER TABLE all_rows ALTER COLUMN ${sqlName(name)} SET DATA TYPE ${wide}`);
          this.allTypes.set(name, wide);
        }
      }
    }
    await con.run(`INSERT INTO all_rows BY NAME ${query}`);
  }

  /** COPY to a hidden name beside the target, then rename: a file under its own name is always whole. */
  private async copy(query: string, file: string): Promise<void> {
    const tmp = join(dirname(file), `.${basename(file)}.tmp`);
    await this.copyConnection!.run(`COPY (${query}) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd)`);
    renameSync(tmp, file);
  }

  private selectList(columns: Plan[]): string {
    const head = [`${sqlString(this.o.session)} AS session`];
    if (this.o.layout === 'file') head.push(`${sqlString(this.o.protocol)} AS protocol`);
    return [...head, ...columns.map((c) => `${c.out} AS ${sqlName(c.name)}`)].join(', ');
  }

  /** Partitioned: the files an earlier run wrote for the same session are removed (a session decoded again replaces itself). */
  private removeEarlierRun(): number {
    const base = join(this.o.out, `protocol=${partitionValue(this.o.protocol)}`);
    if (!existsSync(base)) return 0;
    const mine = new RegExp(`^${this.stem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d{6}\\.parquet$`);
    let n = 0;
    for (const d of readdirSync(base)) {
      if (!d.startsWith('date=')) continue;
      for (const f of readdirSync(join(base, d))) {
        if (!mine.test(f)) continue;
        rmSync(join(base, d, f), { force: true });
        n++;
      }
    }
    return n;
  }

  /** Writes what is left, joins the batches into the one file (layout `file`), closes DuckDB. */
  async close(): Promise<ParquetResult> {
    if (this.timer) clearInterval(this.timer);
    if (!this.closed) this.flush();
    this.closed = true;
    await this.staging;
    await this.copying;
    try {
      if (this.failure) throw this.failure;
      if (this.o.layout === 'file') await this.join();
      const files = this.o.layout === 'file' ? [this.o.out] : this.written;
      const bytes = files.reduce((a, f) => a + statSync(f).size, 0);
      return { rows: this.rowsTotal, columns: FIXED.length + 2 + this.fieldColumns.length, files, bytes, replaced: this.replaced };
    } catch (e) {
      throw new GamesniffError('INPUT', `cannot write Parquet to ${this.o.out}: ${e instanceof Error && !(e instanceof GamesniffError) && /Error/.test(e.message) ? duckError(e) : (e as Error).message}`);
    } finally {
      if (this.o.layout === 'file') rmSync(this.spillDir, { recursive: true, force: true });
      this.db.close();
    }
  }

  /** The one file: the table of every batch, in order (no message: the fixed columns and no row). */
  private async join(): Promise<void> {
    const out = this.o.out;
    mkdirSync(dirname(out), { recursive: true });
    if (!this.allTypes) {
      const cols = FIXED.map((n) => planFor(n, true, [], []));
      await this.copyConnection!.run(`CREATE TABLE empty_batch (${cols.map((c) => `${sqlName(c.name)} ${c.staged}`).join(', ')})`);
      await this.copy(`SELECT ${this.selectList(cols)} FROM empty_batch`, out);
      return;
    }
    await this.copy('SELECT * FROM all_rows', out);
  }
}

/** The type that holds values of both types (for a column whose values differ in kind from one batch to the next). */
function widen(a: string, b: string): string {
  const num = new Set(['BIGINT', 'DOUBLE', 'UBIGINT']);
  if (num.has(a) && num.has(b)) return a === 'UBIGINT' || b === 'UBIGINT' ? (a === 'DOUBLE' || b === 'DOUBLE' ? 'DOUBLE' : 'HUGEINT') : 'DOUBLE';
  if ((a === 'BIGINT[]' && b === 'DOUBLE[]') || (a === 'DOUBLE[]' && b === 'BIGINT[]')) return 'DOUBLE[]';
  if (a === 'HUGEINT' && (b === 'BIGINT' || b === 'UBIGINT')) return a;
  if (a === 'VARCHAR') return a;
  return 'VARCHAR';
}

/** Fewer than MAX_FLAT_KEYS keys: flattened; more is a map keyed by data, kept whole (as JSON). */
function fewKeys(o: object): boolean {
  let n = 0;
  for (const _ in o) if (++n > MAX_FLAT_KEYS) return false;
  return true;
}

/** A session name as a file name's stem: its base name without extension, to safe characters. */
function fileStem(session: string): string {
  const b = basename(session).replace(/\.(gsrec|pcapng|pcap|cap)(\.gz)?$/i, '');
  return b.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '') || 'session';
}

function partitionValue(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_') || '_';
}

function kindOf(v: unknown): number {
  switch (typeof v) {
    case 'boolean':
      return K_BOOL;
    case 'number':
      return Number.isSafeInteger(v) ? K_INT : K_FLOAT;
    case 'bigint':
      return K_BIG;
    case 'string':
      return K_STR;
    case 'object':
      if (v instanceof Uint8Array) return K_BLOB;
      return Array.isArray(v) ? K_LIST : K_JSON;
    default:
      return K_JSON;
  }
}

/** The staging type and the output expression of a column, from its values. */
function planFor(name: string, dense: boolean, rows: number[], values: unknown[]): Plan {
  const base = { name, dense, rows, values };
  const col = sqlName(name);
  if (dense && name === 'ts') return { ...base, kind: 'f64', staged: 'DOUBLE', out: `make_timestamp(CAST(${col} AS BIGINT))`, type: 'TIMESTAMP' };
  // the fixed numeric columns keep their type when a batch has no value (no error, no id)
  if (dense && INTEGERS.has(name)) return { ...base, kind: 'f64', staged: 'DOUBLE', out: `CAST(${col} AS BIGINT)`, type: 'BIGINT' };
  let kinds = 0;
  let elems = 0;
  let bigMin = 0n;
  let bigMax = 0n;
  for (const v of values) {
    if (v === null || v === undefined) continue;
    const k = kindOf(v);
    kinds |= k;
    if (k === K_BIG) {
      const b = v as bigint;
      if (b < bigMin) bigMin = b;
      if (b > bigMax) bigMax = b;
    } else if (k === K_LIST) {
      for (const x of v as unknown[]) {
        const e = x === null || x === undefined ? K_JSON : kindOf(x);
        elems |= e;
      }
    }
  }
  if (kinds === 0 || kinds === K_STR) return strPlan(base, values);
  if (kinds === K_BOOL) return { ...base, kind: 'bool', staged: 'BOOLEAN', out: col, type: 'BOOLEAN' };
  if ((kinds & ~(K_INT | K_FLOAT)) === 0) return { ...base, kind: 'f64', staged: 'DOUBLE', out: kinds === K_INT ? `CAST(${col} AS BIGINT)` : col, type: kinds === K_INT ? 'BIGINT' : 'DOUBLE' };
  if ((kinds & ~(K_INT | K_BIG)) === 0) {
    if (bigMin >= I64_MIN && bigMax <= I64_MAX) return { ...base, kind: 'i64', staged: 'BIGINT', out: col, type: 'BIGINT' };
    if (bigMin >= 0n && bigMax <= U64_MAX) return { ...base, kind: 'u64', staged: 'UBIGINT', out: col, type: 'UBIGINT' };
    return { ...base, kind: 'str', staged: 'VARCHAR', out: col, text: 'mixed', type: 'VARCHAR' };
  }
  if ((kinds & ~(K_INT | K_FLOAT | K_BIG)) === 0) return { ...base, kind: 'f64', staged: 'DOUBLE', out: col, type: 'DOUBLE' };
  if (kinds === K_BLOB) return { ...base, kind: 'blob', staged: 'BLOB', out: col, type: 'BLOB' };
  if (kinds === K_LIST) {
    if (elems === K_BOOL) return { ...base, kind: 'list', elem: 'bool', staged: 'BOOLEAN[]', out: col, type: 'BOOLEAN[]' };
    if (elems === K_STR) return { ...base, kind: 'list', elem: 'str', staged: 'VARCHAR[]', out: col, type: 'VARCHAR[]' };
    if ((elems & ~(K_INT | K_FLOAT)) === 0) return { ...base, kind: 'list', elem: 'f64', staged: 'DOUBLE[]', out: elems & K_FLOAT ? col : `CAST(${col} AS BIGINT[])`, type: elems & K_FLOAT ? 'DOUBLE[]' : 'BIGINT[]' };
  }
  if ((kinds & ~(K_LIST | K_JSON)) === 0) return { ...base, kind: 'str', staged: 'VARCHAR', out: `CAST(${col} AS JSON)`, text: 'json', type: 'JSON' };
  return { ...base, kind: 'str', staged: 'VARCHAR', out: col, text: 'mixed', type: 'VARCHAR' };
}

/** Strings: a dictionary (an ENUM while staged, VARCHAR in the file) when few distinct values repeat. */
function strPlan(base: Pick<Plan, 'name' | 'dense' | 'rows' | 'values'>, values: unknown[]): Plan {
  const col = sqlName(base.name);
  const dict = new Map<string, number>();
  let chars = 0;
  let ok = true;
  for (const v of values) {
    if (typeof v !== 'string' || dict.has(v)) continue;
    chars += v.length;
    if (dict.size >= DICT_MAX || chars > DICT_MAX_CHARS || v.includes('\0')) {
      ok = false;
      break;
    }
    dict.set(v, dict.size);
  }
  if (ok && dict.size > 0 && dict.size * 2 <= values.length) {
    const members = [...dict.keys()].map(sqlString).join(', ');
    return { ...base, kind: 'str', staged: `ENUM(${members})`, out: `CAST(${col} AS VARCHAR)`, dict, type: 'VARCHAR' };
  }
  return { ...base, kind: 'str', staged: 'VARCHAR', out: col, type: 'VARCHAR' };
}

function asText(v: unknown, how: Plan['text']): string {
  if (how === 'mixed' && typeof v === 'string') return v;
  return JSON.stringify(toJsonValue(v, FULL));
}

// scratch buffers, reused chunk after chunk (DuckDB copies out of them at once)
const f64 = new Float64Array(CHUNK);
const i64 = new BigInt64Array(CHUNK);
const u64 = new BigUint64Array(CHUNK);
const u8 = new Uint8Array(CHUNK);
const u16 = new Uint16Array(CHUNK);
const validity = new Uint8Array(CHUNK / 8);
const entries = new BigUint64Array(CHUNK * 2);
let childF64 = new Float64Array(CHUNK);
let childU8 = new Uint8Array(CHUNK);

/**
 * Fills a chunk's vector with rows [s, s+n) of a column; returns where the column's cursor (a
 * sparse column's next value) stands after them.
 */
function fillVector(b: DuckDBBindings, vec: NodeBindingsVector, c: Plan, s: number, n: number, cursor: number): number {
  validity.fill(0);
  let valid = 0;
  const put = (i: number, v: unknown): void => {
    switch (c.kind) {
      case 'f64':
        f64[i] = typeof v === 'bigint' ? Number(v) : (v as number);
        break;
      case 'i64':
        i64[i] = typeof v === 'bigint' ? v : BigInt(v as number);
        break;
      case 'u64':
        u64[i] = typeof v === 'bigint' ? v : BigInt(v as number);
        break;
      case 'bool':
        u8[i] = v ? 1 : 0;
        break;
      case 'str': {
        if (c.dict) {
          const code = c.dict.get(v as string)!;
          if (c.dict.size <= 255) u8[i] = code;
          else u16[i] = code;
          break;
        }
        const t = c.text ? asText(v, c.text) : (v as string);
        if (t.includes('\0')) b.vector_assign_string_element_len(vec, i, Buffer.from(t, 'utf8'));
        else b.vector_assign_string_element(vec, i, t);
        break;
      }
      case 'blob': {
        const u = v as Uint8Array;
        b.vector_assign_string_element_len(vec, i, u);
        break;
      }
      case 'list':
        break;
    }
    validity[i >> 3]! |= 1 << (i & 7);
    valid++;
  };
  let next = cursor;
  const listRows: Array<[number, unknown[]]> = [];
  if (c.dense) {
    for (let i = 0; i < n; i++) {
      const v = c.values[s + i];
      if (v === null || v === undefined) continue;
      if (c.kind === 'list') listRows.push([i, v as unknown[]]);
      put(i, v);
    }
  } else {
    const end = s + n;
    while (next < c.rows.length && c.rows[next]! < end) {
      const i = c.rows[next]! - s;
      const v = c.values[next]!;
      if (c.kind === 'list') listRows.push([i, v as unknown[]]);
      put(i, v);
      next++;
    }
  }
  switch (c.kind) {
    case 'f64':
      b.copy_data_to_vector(vec, 0, f64.buffer, 0, n * 8);
      break;
    case 'i64':
      b.copy_data_to_vector(vec, 0, i64.buffer, 0, n * 8);
      break;
    case 'u64':
      b.copy_data_to_vector(vec, 0, u64.buffer, 0, n * 8);
      break;
    case 'bool':
      b.copy_data_to_vector(vec, 0, u8.buffer, 0, n);
      break;
    case 'str':
      if (c.dict) {
        if (c.dict.size <= 255) b.copy_data_to_vector(vec, 0, u8.buffer, 0, n);
        else b.copy_data_to_vector(vec, 0, u16.buffer, 0, n * 2);
      }
      break;
    case 'list':
      fillList(b, vec, c, listRows, n);
      break;
  }
  if (valid < n) {
    b.vector_ensure_validity_writable(vec);
    b.copy_data_to_vector_validity(vec, 0, validity.buffer, 0, Math.ceil(n / 64) * 8);
  }
  return next;
}

/** A LIST vector: each row's (offset, length) into the child vector, which holds every element of the chunk. */
function fillList(b: DuckDBBindings, vec: NodeBindingsVector, c: Plan, rows: Array<[number, unknown[]]>, n: number): void {
  entries.fill(0n, 0, n * 2);
  let total = 0;
  for (const [i, list] of rows) {
    entries[i * 2] = BigInt(total);
    entries[i * 2 + 1] = BigInt(list.length);
    total += list.length;
  }
  b.copy_data_to_vector(vec, 0, entries.buffer, 0, n * 16);
  b.list_vector_reserve(vec, total);
  b.list_vector_set_size(vec, total);
  if (total === 0) return;
  const child = b.list_vector_get_child(vec);
  if (c.elem === 'str') {
    let at = 0;
    for (const [, list] of rows) {
      for (const x of list) {
        const s = x as string;
        if (s.includes('\0')) b.vector_assign_string_element_len(child, at++, Buffer.from(s, 'utf8'));
        else b.vector_assign_string_element(child, at++, s);
      }
    }
    return;
  }
  if (c.elem === 'bool') {
    if (childU8.length < total) childU8 = new Uint8Array(total * 2);
    let at = 0;
    for (const [, list] of rows) for (const x of list) childU8[at++] = x ? 1 : 0;
    b.copy_data_to_vector(child, 0, childU8.buffer, 0, total);
    return;
  }
  if (childF64.length < total) childF64 = new Float64Array(total * 2);
  let at = 0;
  for (const [, list] of rows) for (const x of list) childF64[at++] = Number(x);
  b.copy_data_to_vector(child, 0, childF64.buffer, 0, total * 8);
}

type NodeBindingsVector = ReturnType<DuckDBBindings['data_chunk_get_vector']>;
